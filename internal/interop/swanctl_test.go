package interop

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	govici "github.com/strongswan/govici/vici"
)

// swanctlBin is Debian's swanctl (package strongswan-swanctl, 5.9.8).
const swanctlBin = "/usr/sbin/swanctl"

// The swanctl.conf conns on moon (cygnet) and the ipsec.conf conns they
// meet on sun (charon): one with a pre-shared key and FQDN IDs, one with
// ECDSA certificates and DN IDs. The IDs tell charon which conn a peer
// wants; both conns carry the same host-to-host traffic, so they run one
// after the other. charon's statusall pads conn names to 12 characters,
// and internal/swan finds a loaded conn by the space before its name:
// sun's names stay shorter.
const (
	swPSK, swPSKChild   = "sw-psk", "sw-psk-child"
	swCert, swCertChild = "sw-cert", "sw-cert-child"
	sunPSK, sunCert     = "host-host", "host-cert"
)

// swanctlConf is moon's swanctl.conf, with the PSK child's rekey_time.
func swanctlConf(moon, sun netip.Addr, childRekey string) string {
	return fmt.Sprintf(`connections {
  %[3]s {
    version = 2
    local_addrs = %[1]v
    remote_addrs = %[2]v
    proposals = aes128gcm16-prfsha256-ecp256
    local {
      auth = psk
      id = moon.strongswan.org
    }
    remote {
      auth = psk
      id = sun.strongswan.org
    }
    children {
      %[4]s {
        mode = transport
        esp_proposals = aes128gcm16
        rekey_time = %[7]s
      }
    }
  }
  %[5]s {
    version = 2
    local_addrs = %[1]v
    remote_addrs = %[2]v
    proposals = aes128gcm16-prfsha256-ecp256
    local {
      auth = pubkey
      certs = moon.pem
      id = "%[8]s"
    }
    remote {
      auth = pubkey
      id = "%[9]s"
      cacerts = ca.pem
    }
    children {
      %[6]s {
        mode = transport
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-moon-sun {
    id-1 = moon.strongswan.org
    id-2 = sun.strongswan.org
    secret = "%[10]s"
  }
}
`, moon, sun, swPSK, swPSKChild, swCert, swCertChild, childRekey, dn("moon"), dn("sun"), psk)
}

// sunIPsecConf is charon's side: both conns auto=add, transport mode.
func sunIPsecConf(moon, sun netip.Addr) string {
	return fmt.Sprintf(`config setup

conn %%default
	ikelifetime=60m
	keylife=20m
	rekeymargin=3m
	keyingtries=1
	mobike=no
	keyexchange=ikev2
	left=%v
	right=%v
	type=transport
	ike=aes128gcm16-prfsha256-ecp256!
	esp=aes128gcm16!
	auto=add

conn %s
	leftid=@sun.strongswan.org
	rightid=@moon.strongswan.org
	authby=secret

conn %s
	leftid="%s"
	rightid="%s"
	leftauth=pubkey
	rightauth=pubkey
	leftcert=sun.pem
`, sun, moon, sunPSK, sunCert, dn("sun"), dn("moon"))
}

// swanctlRun is TestSwanctl in progress: the two nodes, swanctl's
// directory and the socket it drives, and the table of what was checked.
type swanctlRun struct {
	t      *testing.T
	r      *run
	cyg    *cygnetPeer
	sw     *swanPeer
	dir    string // SWANCTL_DIR
	socket string // cygnet's VICI socket
	t0     time.Time
	mu     sync.Mutex
	rows   [][3]string // step, check, result
}

// row records one check for the table; a failed one also fails the test.
func (s *swanctlRun) row(step, check string, ok bool, detail string) {
	s.t.Helper()
	res := "ok"
	if !ok {
		res = "FAIL"
		s.t.Errorf("%s: %s: %s", step, check, detail)
	}
	if detail != "" {
		res += ": " + detail
	}
	s.mu.Lock()
	s.rows = append(s.rows, [3]string{step, check, res})
	s.mu.Unlock()
	s.t.Logf("%5.1fs %s: %s: %s", time.Since(s.t0).Seconds(), step, check, res)
}

func (s *swanctlRun) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n== swanctl %s on cygnet's VICI socket, charon (%s) as peer\n", "5.9.8", peerVersion(kStrongSwan))
	fmt.Fprintf(&b, "| %-22s | %-58s | %s\n", "step", "check", "result")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %-22s | %-58s | %s\n", r[0], r[1], r[2])
	}
	return b.String()
}

func (s *swanctlRun) cmd(args ...string) *exec.Cmd {
	argv := append([]string{swanctlBin}, args...)
	cmd := s.r.moon.ns.Command(append(argv, "--uri", "unix://"+s.socket)...)
	cmd.Env = append(cmd.Env, "SWANCTL_DIR="+s.dir)
	return cmd
}

// swanctl runs swanctl on moon and fails the test if it fails.
func (s *swanctlRun) swanctl(args ...string) string {
	s.t.Helper()
	out, err := s.cmd(args...).CombinedOutput()
	s.t.Logf("$ swanctl %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		s.t.Fatalf("swanctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// expect records whether out matches re.
func (s *swanctlRun) expect(step, what, out, re string) bool {
	s.t.Helper()
	ok := regexp.MustCompile(re).MatchString(out)
	detail := ""
	if !ok {
		detail = fmt.Sprintf("no match for %q in:\n%s", re, out)
	}
	s.row(step, what, ok, detail)
	return ok
}

// saView is one CHILD_SA as swanctl --list-sas or charon's statusall
// shows it, SPIs from the showing node's side.
type saView struct {
	in, out uint32
}

func (v saView) String() string { return fmt.Sprintf("in %08x out %08x", v.in, v.out) }

var (
	listSAsChild = regexp.MustCompile(`^\s+(\S+): #\d+, reqid \d+, (\w+), (\w+)`)
	listSAsIn    = regexp.MustCompile(`^\s+in  ([0-9a-f]{8})`)
	listSAsOut   = regexp.MustCompile(`^\s+out ([0-9a-f]{8})`)
)

// listSAsChildren reads the CHILD_SAs named child in INSTALLED, TRANSPORT
// state from swanctl --list-sas.
func listSAsChildren(out, child string) []saView {
	var views []saView
	var cur *saView
	for _, l := range strings.Split(out, "\n") {
		if m := listSAsChild.FindStringSubmatch(l); m != nil {
			cur = nil
			if m[1] == child && m[2] == "INSTALLED" && m[3] == "TRANSPORT" {
				views = append(views, saView{})
				cur = &views[len(views)-1]
			}
			continue
		}
		if cur == nil {
			continue
		}
		if m := listSAsIn.FindStringSubmatch(l); m != nil {
			fmt.Sscanf(m[1], "%x", &cur.in)
		}
		if m := listSAsOut.FindStringSubmatch(l); m != nil {
			fmt.Sscanf(m[1], "%x", &cur.out)
		}
	}
	return views
}

// charonChildren reads conn's installed transport CHILD_SAs from charon's
// statusall.
func charonChildren(status, conn string) []saView {
	re := regexp.MustCompile(regexp.QuoteMeta(conn) + `\{\d+\}:  INSTALLED, TRANSPORT, reqid \d+, ESP SPIs: ([0-9a-f]{8})_i ([0-9a-f]{8})_o`)
	var views []saView
	for _, m := range re.FindAllStringSubmatch(status, -1) {
		var v saView
		fmt.Sscanf(m[1], "%x", &v.in)
		fmt.Sscanf(m[2], "%x", &v.out)
		views = append(views, v)
	}
	return views
}

// kernelView is a namespace's ESP states as in/out SPIs of local.
func kernelView(ns string, local netip.Addr) (in, out []uint32, err error) {
	st, err := states(ns)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range st {
		switch {
		case s.Dst == local:
			in = append(in, s.SPI)
		case s.Src == local:
			out = append(out, s.SPI)
		}
	}
	return in, out, nil
}

// agree waits until swanctl --list-sas shows exactly one installed
// transport CHILD_SA of child that is not old, cygnet's kernel holds
// exactly its two ESP states and charon's statusall shows the same pair
// mirrored (charon's inbound SPI is cygnet's outbound). It records the
// result and returns the SPIs from moon's side.
func (s *swanctlRun) agree(step, child, sunConn string, old saView) saView {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		listed := s.swanctl("--list-sas")
		views := listSAsChildren(listed, child)
		in, out, err := kernelView(s.r.moon.ns.Path, s.r.moon.addr)
		if err != nil {
			s.t.Fatal(err)
		}
		status := s.sw.c.StatusAll(sunConn)
		peer := charonChildren(status, sunConn)
		var problem string
		switch {
		case len(views) != 1:
			problem = fmt.Sprintf("--list-sas shows %d installed transport CHILD_SAs %s, want 1", len(views), child)
		case views[0] == old:
			problem = fmt.Sprintf("--list-sas still shows the old SPIs %v", old)
		case views[0].in == old.in || views[0].out == old.out:
			problem = fmt.Sprintf("--list-sas shows %v, partly the old %v", views[0], old)
		case !slices.Equal(in, []uint32{views[0].in}) || !slices.Equal(out, []uint32{views[0].out}):
			problem = fmt.Sprintf("--list-sas shows %v, cygnet's kernel has inbound %08x outbound %08x", views[0], in, out)
		case len(peer) != 1 || peer[0].in != views[0].out || peer[0].out != views[0].in:
			problem = fmt.Sprintf("--list-sas shows %v, charon's statusall %s has %v (its in is cygnet's out)", views[0], sunConn, peer)
		}
		if problem == "" {
			s.row(step, "--list-sas SPIs = cygnet's xfrm states = charon's statusall", true,
				fmt.Sprintf("%s %v; charon in %08x out %08x", child, views[0], peer[0].in, peer[0].out))
			return views[0]
		}
		if time.Now().After(deadline) {
			s.row(step, "--list-sas SPIs = cygnet's xfrm states = charon's statusall", false,
				fmt.Sprintf("after 90s: %s\n--list-sas:\n%s\ncharon:\n%s", problem, listed, status))
			s.t.FailNow()
		}
		time.Sleep(time.Second)
	}
}

// espOnly pings sun from moon and sends a TCP stream with a capture on
// moon's link: ICMP and TCP must cross as ESP only, and the two kernels'
// counters of each SA must agree.
func (s *swanctlRun) espOnly(step string) {
	s.t.Helper()
	r := s.r
	capt, err := capture.Start(r.moon.ns.Path, r.moon.iface)
	if err != nil {
		s.t.Fatal(err)
	}
	pingOut, pingErr := r.moon.ns.Output("ping", "-c", "3", "-i", "0.2", "-W", "3", r.sun.addr.String())
	payload := []byte(strings.Repeat("swanctl-"+step+"-probe-", 1500))
	got, terr := tcpTransfer(r.moon.ns.Path, r.sun.ns.Path, r.sun.addr, payload)
	frames, err := capt.Stop()
	if err != nil {
		s.t.Fatal(err)
	}
	sum := summarize(frames, r.moon.addr, r.sun.addr, payload[1000:1032])
	r.capSummary = sum.String()
	icmp := 0
	for _, c := range sum.clear {
		if strings.Contains(c, "ICMP") {
			icmp++
		}
	}
	s.row(step, "ping moon -> sun", pingErr == nil, pingSummary(pingOut))
	s.row(step, "TCP stream moon -> sun", terr == nil && string(got) == string(payload), fmt.Sprintf("%d of %d bytes", len(got), len(payload)))
	s.row(step, "on the wire: 0 cleartext ICMP, nothing in clear, >0 ESP",
		icmp == 0 && len(sum.clear) == 0 && !sum.probeInClear && sum.esp > 0 && sum.espInUDP == 0,
		fmt.Sprintf("%d ESP, %d cleartext ICMP, %d other cleartext, %d IKE", sum.esp, icmp, len(sum.clear)-icmp, sum.ike))
	failed := s.t.Failed()
	r.checkCounters(s.t, step)
	s.row(step, "xfrm counters of each SA agree on both kernels", failed || !s.t.Failed(), "")
}

// pingSummary is ping's "N packets transmitted, M received" line.
func pingSummary(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "packets transmitted") {
			return l
		}
	}
	return strings.TrimSpace(out)
}

// gone waits until neither kernel holds an ESP state or a policy between
// the two hosts, swanctl --list-sas shows no SA of conn and charon shows
// no SA at all.
func (s *swanctlRun) gone(step, conn, sunConn string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var problems []string
		for _, n := range []*node{s.r.moon, s.r.sun} {
			st, err := states(n.ns.Path)
			if err != nil {
				s.t.Fatal(err)
			}
			if len(st) > 0 {
				problems = append(problems, fmt.Sprintf("%s's kernel keeps %d ESP states", n.name, len(st)))
			}
			pols, err := policiesBetween(n.ns.Path, s.r.moon.addr, s.r.sun.addr)
			if err != nil {
				s.t.Fatal(err)
			}
			if len(pols) > 0 {
				problems = append(problems, fmt.Sprintf("%s's kernel keeps policies: %s", n.name, strings.Join(pols, "; ")))
			}
		}
		listed := s.swanctl("--list-sas")
		if strings.Contains(listed, conn+":") {
			problems = append(problems, "--list-sas still shows "+conn+":\n"+listed)
		}
		status := s.sw.c.Status()
		if !strings.Contains(status, "Security Associations (0 up, 0 connecting)") || strings.Contains(status, sunConn+"{") {
			problems = append(problems, "charon still has SAs:\n"+status)
		}
		if len(problems) == 0 {
			s.row(step, "no ESP state or policy left in either kernel, both daemons down", true, "")
			return
		}
		if time.Now().After(deadline) {
			s.row(step, "no ESP state or policy left in either kernel, both daemons down", false, strings.Join(problems, "\n"))
			return
		}
		time.Sleep(time.Second)
	}
}

// policiesBetween lists the namespace's XFRM policies whose selector joins
// a and b.
func policiesBetween(ns string, a, b netip.Addr) ([]string, error) {
	h, err := xfrm.Open(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	pols, err := h.Policies(context.Background())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pols {
		src, dst := p.Selector.Src, p.Selector.Dst
		if (src == a && dst == b) || (src == b && dst == a) {
			out = append(out, p.Policy.String())
		}
	}
	return out, nil
}

// monitor is `swanctl --monitor-sa` running on moon for the whole test.
// swanctl writes through stdio, which buffers a pipe: stdbuf makes it
// line-buffered, so each event can be waited for as it comes.
//
// swanctl 5.9.8 registers for ike-updown and child-updown only. Its
// human output prints an SA from the event's child-sas section, which
// charon's ike-updown, like cygnet's, does not have: only the child-updown
// events show there. With --raw it prints every event with its name.
type monitor struct {
	name string
	mu   sync.Mutex
	text strings.Builder
	cmd  *exec.Cmd
}

func (s *swanctlRun) startMonitor(extra ...string) *monitor {
	s.t.Helper()
	m := &monitor{name: strings.Join(append([]string{"--monitor-sa"}, extra...), " ")}
	argv := append([]string{"stdbuf", "-oL", "-eL", swanctlBin, "--monitor-sa"}, extra...)
	argv = append(argv, "--uri", "unix://"+s.socket)
	m.cmd = s.r.moon.ns.Command(argv...)
	m.cmd.Env = append(m.cmd.Env, "SWANCTL_DIR="+s.dir)
	pipe, err := m.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			m.mu.Lock()
			m.text.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
		}
	}()
	s.t.Cleanup(func() {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		<-done
		s.t.Logf("swanctl %s printed:\n%s", m.name, m.String())
	})
	return m
}

// waitRegistered waits until swanctl has registered for its events:
// --monitor-sa registers for each (the daemon confirms every one) and only
// then blocks in sigwaitinfo for SIGINT, which /proc shows as the main
// thread's wait channel (or, on amd64, as its current system call,
// rt_sigtimedwait, 128).
func (s *swanctlRun) waitRegistered(m *monitor) {
	s.t.Helper()
	pid := m.cmd.Process.Pid
	proc := func(f string) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		return strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		comm, wchan, sys := proc("comm"), proc("wchan"), strings.Fields(proc("syscall"))
		if comm == "swanctl" && (strings.Contains(wchan, "sigtimedwait") || runtime.GOARCH == "amd64" && len(sys) > 0 && sys[0] == "128") {
			s.row("6 --monitor-sa", "swanctl "+m.name+" registered, waiting for events", true, "wchan "+wchan)
			return
		}
		if time.Now().After(deadline) {
			s.row("6 --monitor-sa", "swanctl "+m.name+" registered, waiting for events", false,
				fmt.Sprintf("after 30s pid %d is %q in %q (syscall %v); it printed:\n%s", pid, comm, wchan, sys, m.String()))
			s.t.FailNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *monitor) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.text.String()
}

// mark is where the next step's events start.
func (m *monitor) mark() int { return len(m.String()) }

// waitMonitor waits until every expression matches what the monitor printed
// after from, in order, and records the result.
func (s *swanctlRun) waitMonitor(m *monitor, step string, from int, exprs ...string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		text := m.String()[from:]
		rest, missing := text, ""
		for _, e := range exprs {
			loc := regexp.MustCompile(e).FindStringIndex(rest)
			if loc == nil {
				missing = e
				break
			}
			rest = rest[loc[1]:]
		}
		if missing == "" {
			s.row(step, m.name+": "+strings.Join(exprs, " ... "), true, "")
			return
		}
		if time.Now().After(deadline) {
			s.row(step, m.name+": "+strings.Join(exprs, " ... "), false,
				fmt.Sprintf("after 60s no %q in what it printed since the step began:\n%s", missing, text))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSwanctl is issue 15's acceptance: Debian's swanctl drives cygnet's
// daemon over its VICI socket as a swanctl user drives charon, against
// strongSwan's charon (ipsec.conf, auto=add) on a kernel with ESP. Steps:
// --load-all of a swanctl.conf with a PSK and a certificate conn,
// --list-conns, --initiate, --list-sas SPIs against cygnet's kernel and
// charon's statusall, ping and TCP as ESP only on the wire, --monitor-sa
// (human and --raw) recording the up and down events, a VICI subscriber
// the child-rekey event (swanctl 5.9.8 cannot monitor it), --rekey to new
// SPIs, a changed swanctl.conf applied by --load-conns with the SA kept,
// --terminate leaving no state or policy in either kernel, and the same
// for the certificate conn. It prints a table of what it checked.
func TestSwanctl(t *testing.T) {
	vmtest.Require(t)
	_, err := os.Stat(swanctlBin)
	vmtest.RequireInstalled(t, func() error {
		if err != nil {
			return fmt.Errorf("%s not installed (Debian package strongswan-swanctl): %w", swanctlBin, err)
		}
		return nil
	}())
	loadCreds(t)
	moonAddr, sunAddr := netip.MustParseAddr("10.70.0.1"), netip.MustParseAddr("10.70.0.2")
	// Made first, so that the folder is removed after the cleanups below
	// that read logs from it.
	t.TempDir()
	p := nstest.NewPair(t, moonAddr, sunAddr)
	s := &swanctlRun{t: t, cyg: &cygnetPeer{}, sw: &swanPeer{}, dir: t.TempDir(), t0: time.Now()}
	s.r = &run{c: &tcase{name: "swanctl", moon: kCygnet, sun: kStrongSwan, auth: authPSK},
		moon: &node{name: "moon", ns: p.A, addr: moonAddr, iface: p.IfaceA, peer: s.cyg},
		sun:  &node{name: "sun", ns: p.B, addr: sunAddr, iface: p.IfaceB, peer: s.sw},
	}
	t.Cleanup(func() { fmt.Print(s.table()) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("=== moon (cygnet) log:\n%s", s.cyg.log())
			t.Logf("=== last capture on moon's link: %s", s.r.capSummary)
		}
	})

	// sun: charon with both conns, auto=add.
	cr := credsByKey[authECDSA]
	sunFiles, err := cr.sun.IPsecD("sun")
	if err != nil {
		t.Fatal(err)
	}
	s.sw.start(t, p.B, nodeConf{
		ipsecConf: sunIPsecConf(moonAddr, sunAddr),
		secrets:   fmt.Sprintf("@moon.strongswan.org @sun.strongswan.org : PSK \"%s\"\n%s\n", psk, cr.sun.SecretsLine("sun")),
		ipsecD:    sunFiles,
	})
	// moon: cygnet with no ipsec.conf conn; everything comes over VICI.
	s.cyg.start(t, p.A, nodeConf{ipsecConf: "config setup\n"})
	s.socket = filepath.Join(s.cyg.piddir, "charon.vici")
	key, err := authtest.LegacyKeyPEM(cr.moon.Key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"swanctl.conf":   []byte(swanctlConf(moonAddr, sunAddr, "1h")),
		"x509ca/ca.pem":  authtest.CertPEM(cr.ca.Cert),
		"x509/moon.pem":  authtest.CertPEM(cr.moon.Cert),
		"ecdsa/moon.key": key,
	}
	writeFiles(t, s.dir, files)
	// The other folders swanctl reads credentials from, empty.
	for _, sub := range []string{"x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa",
		"bliss", "pkcs8", "pkcs12", "conf.d"} {
		if err := os.MkdirAll(filepath.Join(s.dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The socket answers once the daemon serves VICI.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.cmd("--version", "--daemon").CombinedOutput()
		if err == nil {
			s.row("0 daemon", "swanctl --version --daemon answers on "+s.socket, regexp.MustCompile(`strongSwan 5\.9\.8 cygnet`).Match(out),
				strings.TrimSpace(string(out)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cygnet's VICI socket %s does not answer after 30s: %v\n%s", s.socket, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// 1. --load-all.
	out := s.swanctl("--load-all", "--noprompt")
	s.expect("1 --load-all", "PSK secret loaded", out, `loaded ike secret 'ike-moon-sun'`)
	s.expect("1 --load-all", "CA certificate loaded", out, `loaded certificate from '.*x509ca/ca\.pem'`)
	s.expect("1 --load-all", "moon's certificate loaded", out, `loaded certificate from '.*x509/moon\.pem'`)
	s.expect("1 --load-all", "moon's ECDSA key loaded", out, `loaded ecdsa key from '.*ecdsa/moon\.key'`)
	s.expect("1 --load-all", "both conns loaded", out, `successfully loaded 2 connections, 0 unloaded`)

	// 2. --list-conns.
	out = s.swanctl("--list-conns")
	s.expect("2 --list-conns", swPSK+": IKEv2, child "+swPSKChild+": TRANSPORT", out,
		`(?m)^`+swPSK+`: IKEv2(?s:.*)\n  `+swPSKChild+`: TRANSPORT, rekeying every 3600s`)
	s.expect("2 --list-conns", swPSK+" authenticates with pre-shared keys", out,
		`local pre-shared key authentication:\n\s+id: moon\.strongswan\.org`)
	s.expect("2 --list-conns", swCert+": IKEv2, child "+swCertChild+": TRANSPORT", out,
		`(?m)^`+swCert+`: IKEv2(?s:.*)\n  `+swCertChild+`: TRANSPORT`)
	s.expect("2 --list-conns", swCert+" authenticates with moon's certificate", out,
		`certs: +C=CH, O=Cygnet, CN=moon\.strongswan\.org`)

	// 6 (set up before the steps it watches). --monitor-sa, as users read
	// it and --raw, from here on. govici subscribes to the rekey events,
	// which swanctl 5.9.8 does not monitor (acknowledged, so registered
	// when Subscribe returns).
	mon, raw := s.startMonitor(), s.startMonitor("--raw")
	s.waitRegistered(mon)
	s.waitRegistered(raw)
	sess, err := govici.NewSession(govici.WithSocketPath(s.socket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	rekeys := make(chan govici.Event, 100)
	sess.NotifyEvents(rekeys)
	if err := sess.Subscribe("child-rekey", "ike-rekey"); err != nil {
		t.Fatal(err)
	}

	// 3. --initiate --child.
	from, fromRaw := mon.mark(), raw.mark()
	out = s.swanctl("--initiate", "--child", swPSKChild)
	s.expect("3 --initiate", "--initiate --child "+swPSKChild, out, `initiate completed successfully`)
	s.waitMonitor(raw, "3 --initiate", fromRaw, `ike-updown event \{\s*up=yes\s*`+swPSK+` \{`, `state=ESTABLISHED`)
	s.waitMonitor(raw, "3 --initiate", fromRaw, `child-updown event \{\s*up=yes\s*`+swPSK+` \{`, `child-sas \{\s*`+swPSKChild+`-\d+ \{`, `state=INSTALLED`)
	s.waitMonitor(mon, "3 --initiate", from, swPSK+`: #\d+, ESTABLISHED, IKEv2`, `\n  `+swPSKChild+`: #\d+, reqid \d+, INSTALLED, TRANSPORT`)

	// 4. --list-sas against both kernels and charon.
	out = s.swanctl("--list-sas")
	s.expect("4 --list-sas", swPSK+" ESTABLISHED, "+swPSKChild+" INSTALLED, TRANSPORT", out,
		`(?m)^`+swPSK+`: #\d+, ESTABLISHED, IKEv2(?s:.*)\n  `+swPSKChild+`: #\d+, reqid \d+, INSTALLED, TRANSPORT, ESP:AES_GCM_16-128`)
	first := s.agree("4 --list-sas", swPSKChild, sunPSK, saView{})

	// 5. Traffic.
	s.espOnly("5 traffic")

	// 7. --rekey --child: new SPIs everywhere, still ESP only.
	out = s.swanctl("--rekey", "--child", swPSKChild)
	s.expect("7 --rekey", "--rekey --child "+swPSKChild, out, `rekey completed successfully`)
	second := s.agree("7 --rekey", swPSKChild, sunPSK, first)
	s.waitRekeyEvent(rekeys, "7 --rekey", first, second)
	s.espOnly("7 traffic after rekey")

	// 8. A changed swanctl.conf: --load-conns applies it; the SA, whose
	// conn has no start_action, stays up as with charon.
	writeFiles(t, s.dir, map[string][]byte{"swanctl.conf": []byte(swanctlConf(moonAddr, sunAddr, "50m"))})
	out = s.swanctl("--load-conns")
	s.expect("8 --load-conns", "changed "+swPSK+" reloaded", out, `(?s)loaded connection '`+swPSK+`'.*successfully loaded 2 connections, 0 unloaded`)
	out = s.swanctl("--list-conns")
	s.expect("8 --load-conns", "--list-conns shows rekey_time = 50m", out, `\n  `+swPSKChild+`: TRANSPORT, rekeying every 3000s`)
	kept := s.agree("8 --load-conns", swPSKChild, sunPSK, first)
	s.row("8 --load-conns", "the CHILD_SA stays up with its SPIs (no start_action to undo)", kept == second,
		fmt.Sprintf("before %v, after %v", second, kept))

	// 9. --terminate --ike: nothing left anywhere.
	from, fromRaw = mon.mark(), raw.mark()
	out = s.swanctl("--terminate", "--ike", swPSK)
	s.expect("9 --terminate", "--terminate --ike "+swPSK, out, `terminate completed successfully`)
	s.gone("9 --terminate", swPSK, sunPSK)
	s.waitMonitor(raw, "9 --terminate", fromRaw, `child-updown event \{\s*`+swPSK+` \{`, `child-sas \{\s*`+swPSKChild+`-\d+ \{`, `state=DELETING`)
	s.waitMonitor(raw, "9 --terminate", fromRaw, `ike-updown event \{\s*`+swPSK+` \{`, `state=DELETING`)
	s.waitMonitor(mon, "9 --terminate", from, swPSK+`: #\d+, DELETING, IKEv2`,
		fmt.Sprintf(`\n  %s: #\d+, reqid \d+, DELETING, TRANSPORT(?:.*\n)+?\s+in  %08x,`, swPSKChild, second.in))

	// 10. The certificate conn: up, agreed, ESP only, down.
	out = s.swanctl("--initiate", "--child", swCertChild)
	s.expect("10 certificates", "--initiate --child "+swCertChild, out, `initiate completed successfully`)
	out = s.swanctl("--list-sas")
	s.expect("10 certificates", swCert+" ESTABLISHED with sun's DN, "+swCertChild+" INSTALLED, TRANSPORT", out,
		`(?m)^`+swCert+`: #\d+, ESTABLISHED, IKEv2(?s:.*)remote +'C=CH, O=Cygnet, CN=sun\.strongswan\.org'(?s:.*)\n  `+swCertChild+`: #\d+, reqid \d+, INSTALLED, TRANSPORT`)
	s.agree("10 certificates", swCertChild, sunCert, saView{})
	s.expect("10 certificates", "charon's "+sunCert+" is up with both DNs", s.sw.c.Status(sunCert),
		regexp.QuoteMeta(sunCert)+`\[\d+\]: ESTABLISHED .*`+regexp.QuoteMeta(sunAddr.String()+"["+dn("sun")+"]..."+moonAddr.String()+"["+dn("moon")+"]"))
	s.espOnly("10 traffic")
	out = s.swanctl("--terminate", "--ike", swCert)
	s.expect("10 certificates", "--terminate --ike "+swCert, out, `terminate completed successfully`)
	s.gone("10 certificates", swCert, sunCert)
}

// waitRekeyEvent waits for the child-rekey event of the PSK conn that
// names old as the rekeyed CHILD_SA and next as its successor.
func (s *swanctlRun) waitRekeyEvent(events <-chan govici.Event, step string, old, next saView) {
	s.t.Helper()
	what := "VICI child-rekey event: old and new SPIs"
	timeout := time.After(60 * time.Second)
	var seen []string
	for {
		select {
		case ev := <-events:
			if ev.Name != "child-rekey" {
				seen = append(seen, ev.Name)
				continue
			}
			o, n := rekeySPIs(ev.Message)
			seen = append(seen, fmt.Sprintf("child-rekey old %v new %v", o, n))
			if o == old && n == next {
				s.row(step, what, true, fmt.Sprintf("old %v, new %v", o, n))
				return
			}
		case <-timeout:
			s.row(step, what, false, fmt.Sprintf("after 60s no child-rekey from %v to %v; events: %v", old, next, seen))
			return
		}
	}
}

// rekeySPIs reads {sw-psk: {child-sas: {sw-psk-child: {old: {…}, new: {…}}}}}.
func rekeySPIs(m *govici.Message) (old, next saView) {
	sec := func(m *govici.Message, key string) *govici.Message {
		if m == nil {
			return nil
		}
		v, _ := m.Get(key).(*govici.Message)
		return v
	}
	spis := func(m *govici.Message) saView {
		var v saView
		if m == nil {
			return v
		}
		in, _ := m.Get("spi-in").(string)
		out, _ := m.Get("spi-out").(string)
		fmt.Sscanf(in, "%x", &v.in)
		fmt.Sscanf(out, "%x", &v.out)
		return v
	}
	c := sec(sec(sec(m, swPSK), "child-sas"), swPSKChild)
	return spis(sec(c, "old")), spis(sec(c, "new"))
}
