package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/bench"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/swan"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// The side-by-side benchmark (issue 14): `cygnet bench ike` sets up N
// IKE_SA + CHILD_SA pairs, one source address per SA, against a responder
// that is in turn the cygnet daemon and strongSwan's charon (Debian's
// 5.9.8), on the same ipsec.conf, ipsec.secrets and strongswan.conf, in the
// same guest, each installing real XFRM states. The responder is pinned to
// one vCPU and the generator to the other; its CPU time (user and system,
// so the kernel's XFRM work done in its syscalls counts) and its RSS are
// read from /proc before and after. It prints; it asserts only that the
// setups completed, never a timing: under emulation only the ratios in one
// run mean anything. CYGNET_BENCH_N sets N (make bench uses more).

// procStat is a process's CPU time (all threads) and resident memory.
type procStat struct {
	cpu time.Duration
	rss int64 // bytes
}

func readProc(t *testing.T, pid int) procStat {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	st := procStat{cpu: time.Duration(utime+stime) * time.Second / hz}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			st.rss = kb << 10
		}
	}
	return st
}

// sbsRow is one run: a responder, a proposal and a cap on handshakes in
// flight.
type sbsRow struct {
	daemon, proposal string
	inflight         int
	res              bench.Result
	cpuPerSA         time.Duration
	rssPerSA         int64
	rssAfter         int64
}

const (
	sbsResp = "10.8.0.2"
	sbsGen  = "10.8.0.1"
	sbsPSK  = "side-by-side benchmark pre-shared key 0123456789"
)

// sbsConf is the responder's ipsec.conf, the same for both daemons.
func sbsConf(ike, esp string) string {
	return fmt.Sprintf(`config setup
	uniqueids=no

conn bench
	left=%s
	right=%%any
	leftid=%s
	authby=secret
	type=transport
	keyexchange=ikev2
	ike=%s!
	esp=%s!
	rekey=no
	auto=add
`, sbsResp, sbsResp, ike, esp)
}

// sbsStrongswanConf is both daemons' strongswan.conf: logging at the same
// (default) level to a file, the DoS limits at their defaults.
func sbsStrongswanConf(log string) string {
	return fmt.Sprintf(`charon {
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 gmp x509 pem pkcs1 pkcs8 pubkey revocation constraints stroke kernel-netlink socket-default updown openssl
  install_routes = no
  filelog {
    charon {
      path = %s
      default = 1
    }
  }
}
`, log)
}

func TestSideBySide(t *testing.T) {
	vmtest.Require(t)
	swan.Require(t)
	n := 60
	if v := os.Getenv("CYGNET_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 250*200 {
			t.Fatalf("CYGNET_BENCH_N=%q", v)
		}
	}
	p := nstest.NewPair(t, netip.MustParseAddr(sbsGen), netip.MustParseAddr(sbsResp))
	gen, resp := p.A, p.B
	// One source address per SA on the generator's side, reached on-link
	// from the responder.
	first := netip.MustParseAddr("10.8.128.1")
	var batch strings.Builder
	a := first
	for range n {
		fmt.Fprintf(&batch, "addr add %s/32 dev %s\n", a, p.IfaceA)
		a = a.Next()
	}
	last := a.Prev()
	batchFile := filepath.Join(t.TempDir(), "addrs")
	writeFile(t, batchFile, batch.String(), 0o644)
	gen.Run(t, "ip", "-batch", batchFile)
	resp.Run(t, "ip", "route", "add", "10.8.128.0/17", "dev", p.IfaceB)

	proposals := []struct{ name, ike, esp string }{
		{"X25519", "aes256gcm16-prfsha256-curve25519", "aes256gcm16"},
		{"ECP-384", "aes256gcm16-prfsha384-ecp384", "aes256gcm16"},
	}
	var rows []sbsRow
	for _, pr := range proposals {
		for _, inflight := range []int{1, 16} {
			for _, daemon := range []string{"charon", "cygnet"} {
				r := sbsRun(t, gen, resp, daemon, pr.ike, pr.esp, n, inflight, first, last)
				r.proposal = pr.name
				rows = append(rows, r)
			}
		}
	}
	t.Log(sbsTable(rows, n))
}

// sbsRun starts one responder, runs the generator against it and stops it.
func sbsRun(t *testing.T, gen, resp *nstest.NS, daemon, ike, esp string, n, inflight int, first, last netip.Addr) sbsRow {
	t.Helper()
	row := sbsRow{daemon: daemon, inflight: inflight}
	logPath := filepath.Join(t.TempDir(), daemon+".log")
	var pid int
	var stop func()
	switch daemon {
	case "charon":
		c := swan.Start(t, resp, swan.Files{IPsecConf: sbsConf(ike, esp), IPsecSecrets: `: PSK "` + sbsPSK + `"` + "\n",
			StrongswanConf: sbsStrongswanConf(logPath)})
		out, err := c.Run("cat", "/run/charon.pid")
		if err != nil {
			t.Fatalf("charon's pid: %v %s", err, out)
		}
		pid, _ = strconv.Atoi(strings.TrimSpace(out))
		stop = func() { c.Run("ipsec", "stop") }
	case "cygnet":
		nd := &node{name: "resp", ns: resp, dir: t.TempDir(), piddir: t.TempDir()}
		writeFile(t, filepath.Join(nd.dir, "ipsec.conf"), sbsConf(ike, esp), 0o644)
		writeFile(t, filepath.Join(nd.dir, "ipsec.secrets"), `: PSK "`+sbsPSK+`"`+"\n", 0o600)
		writeFile(t, filepath.Join(nd.dir, "strongswan.conf"), sbsStrongswanConf(logPath), 0o644)
		nd.start(t)
		pid = nd.pid(t)
		stop = func() {
			nd.ipsec(t, "stop")
			if p := nd.pid(t); p != 0 {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
	defer stop()
	if pid == 0 {
		t.Fatalf("%s: no pid", daemon)
	}
	// The responder on vCPU 1, every thread; the generator on vCPU 0.
	if out, err := resp.Output("taskset", "-a", "-p", "-c", "1", strconv.Itoa(pid)); err != nil {
		t.Fatalf("taskset %s: %v %s", daemon, err, out)
	}
	before := readProc(t, pid)
	cmd := gen.Command("taskset", "-c", "0", cygnetBin(t), "bench", "ike", "--sources", first.String()+"-"+last.String(),
		"-n", strconv.Itoa(n), "--inflight", strconv.Itoa(inflight), "--psk", sbsPSK, "--ike", ike, "--esp", esp,
		"--delete=false", "--json", sbsResp)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench against %s: %v\n%s%s", daemon, err, out, stderr.String())
	}
	if err := json.Unmarshal(out, &row.res); err != nil {
		t.Fatalf("bench report: %v\n%s", err, out)
	}
	after := readProc(t, pid)
	if row.res.Completed != n {
		t.Fatalf("%s: %d of %d setups completed (failures %v %v); log:\n%s", daemon, row.res.Completed, n, row.res.Failures, row.res.Examples, tailFile(logPath, 30))
	}
	row.cpuPerSA = (after.cpu - before.cpu) / time.Duration(n)
	row.rssPerSA = (after.rss - before.rss) / int64(n)
	row.rssAfter = after.rss
	return row
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sbsTable prints the rows and, for each proposal and in-flight cap, the
// ratios cygnet/charon.
func sbsTable(rows []sbsRow, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "side by side, %d IKE_SA+CHILD_SA setups per run, responder pinned to vCPU 1 (qemu TCG: only ratios mean anything)\n", n)
	fmt.Fprintf(&b, "  %-8s %-7s %8s %10s %9s %9s %13s %12s %12s\n", "proposal", "daemon", "inflight", "setups/s", "p50 ms", "p99 ms", "CPU/SA ms", "RSS/SA B", "RSS after")
	type key struct {
		proposal string
		inflight int
	}
	by := map[key]map[string]sbsRow{}
	var order []key
	for _, r := range rows {
		k := key{r.proposal, r.inflight}
		if by[k] == nil {
			by[k] = map[string]sbsRow{}
			order = append(order, k)
		}
		by[k][r.daemon] = r
		fmt.Fprintf(&b, "  %-8s %-7s %8d %10.1f %9.1f %9.1f %13.2f %12d %12d\n", r.proposal, r.daemon, r.inflight,
			r.res.SetupsPerS, r.res.LatencyMS.P50, r.res.LatencyMS.P99, float64(r.cpuPerSA)/1e6, r.rssPerSA, r.rssAfter)
	}
	b.WriteString("  ratios cygnet/charon:\n")
	for _, k := range order {
		c, s := by[k]["cygnet"], by[k]["charon"]
		ratio := func(x, y float64) string {
			if y == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", x/y)
		}
		fmt.Fprintf(&b, "  %-8s inflight %2d: setups/s %s, p99 %s, CPU/SA %s, RSS/SA %s\n", k.proposal, k.inflight,
			ratio(c.res.SetupsPerS, s.res.SetupsPerS), ratio(c.res.LatencyMS.P99, s.res.LatencyMS.P99),
			ratio(float64(c.cpuPerSA), float64(s.cpuPerSA)), ratio(float64(c.rssPerSA), float64(s.rssPerSA)))
	}
	return b.String()
}
