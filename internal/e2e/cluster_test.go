package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/cluster"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// cnode is a cluster member: a namespace on the shared LAN running the
// cygnet daemon and the cluster agent, with its own confdir and state dir.
type cnode struct {
	node
	state string
	agent *exec.Cmd
	alog  string
	capt  *capture.Capture
}

type lan struct {
	t      *testing.T
	bridge *nstest.NS
	nodes  []*cnode
}

func newLAN(t *testing.T) *lan {
	l := &lan{t: t, bridge: nstest.New(t)}
	l.bridge.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	l.bridge.Run(t, "ip", "link", "set", "br0", "up")
	return l
}

// add makes node i (10.9.0.i) on the LAN, its daemon started with empty
// files, as a freshly installed node has.
func (l *lan) add(i int) *cnode {
	t := l.t
	ns := nstest.New(t)
	name := fmt.Sprintf("n%d", i)
	port := "p" + name
	if out, err := exec.Command("ip", "link", "add", "eth0", "netns", ns.Name, "type", "veth", "peer", "name", port, "netns", l.bridge.Name).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	l.bridge.Run(t, "ip", "link", "set", port, "master", "br0", "up")
	addr := netip.MustParseAddr(fmt.Sprintf("10.9.0.%d", i))
	ns.Run(t, "ip", "addr", "add", addr.String()+"/24", "dev", "eth0")
	ns.Run(t, "ip", "link", "set", "eth0", "up")
	n := &cnode{node: node{name: name, ns: ns, addr: addr, iface: "eth0", dir: t.TempDir(), piddir: t.TempDir()}, state: t.TempDir()}
	n.alog = filepath.Join(n.piddir, "agent.log")
	writeFile(t, filepath.Join(n.dir, "ipsec.conf"), "config setup\n", 0o644)
	writeFile(t, filepath.Join(n.dir, "ipsec.secrets"), "", 0o600)
	capt, err := capture.Start(ns.Path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	n.capt = capt
	n.start(t)
	t.Cleanup(func() {
		n.stopAgent()
		n.ipsec(t, "stop")
		if pid := n.pid(t); pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(n.alog)
			t.Logf("%s agent log:\n%s\ndaemon log tail:\n%s", n.name, b, tail(n.log(), 40))
		}
	})
	l.nodes = append(l.nodes, n)
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (n *cnode) cluster(t *testing.T, args ...string) (string, int) {
	t.Helper()
	argv := append([]string{"env", "CYGNET_CONFDIR=" + n.dir, "CYGNET_PIDDIR=" + n.piddir, cygnetBin(t), "cluster"}, args[0])
	argv = append(argv, "--state-dir", n.state)
	argv = append(argv, args[1:]...)
	out, err := n.ns.Command(argv...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: cluster %v: %v", n.name, args, err)
	}
	return string(out), code
}

func (n *cnode) startAgent(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(n.alog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ipsec := filepath.Join(filepath.Dir(cygnetBin(t)), "ipsec")
	cmd := n.ns.Command("env", "CYGNET_CONFDIR="+n.dir, "CYGNET_PIDDIR="+n.piddir, cygnetBin(t), "cluster", "agent",
		"--state-dir", n.state, "--confdir", n.dir, "--ipsec", ipsec, "--metrics", "")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	n.agent = cmd
}

func (n *cnode) stopAgent() {
	if n.agent != nil && n.agent.Process != nil {
		n.agent.Process.Signal(syscall.SIGTERM)
		n.agent.Wait()
		n.agent = nil
	}
}

func (n *cnode) kill9Agent() {
	if n.agent != nil && n.agent.Process != nil {
		n.agent.Process.Kill()
		n.agent.Wait()
		n.agent = nil
	}
}

// status runs `cygnet cluster status --json` on n.
func (n *cnode) status(t *testing.T) (cluster.Report, int) {
	t.Helper()
	out, code := n.cluster(t, "status", "--json")
	var r cluster.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, -1
	}
	return r, code
}

// pinger keeps a ping running from every node to every other, so every
// rollout step is crossed by traffic.
// clearAfter counts the packets between cluster members that crossed n's
// link in clear (not ESP, not IKE, not ARP) once their pair was enforced:
// since(src, dst) gives that moment, false for a pair not checked.
func clearAfter(frames []capture.Frame, since func(a, b netip.Addr) (time.Time, bool)) (int, string) {
	c, first, _ := clearAndESP(frames, func(a, b netip.Addr, at time.Time) bool {
		from, ok := since(a, b)
		return ok && !at.Before(from)
	})
	return c, first
}

// storePorts are the cluster store's TCP ports (etcd client and peer, the
// join endpoint), which bypass IPsec as TLS.
var storePorts = map[uint16]bool{cluster.DefaultClientPort: true, cluster.DefaultPeerPort: true, cluster.DefaultJoinPort: true}

// clearAndESP is clearAfter that also counts the ESP packets it saw;
// protected(src, dst, at) says whether the pair must be protected then.
func clearAndESP(frames []capture.Frame, protected func(a, b netip.Addr, at time.Time) bool) (int, string, int) {
	count, first, esp := 0, "", 0
	for _, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		if !protected(src, dst, f.Time) {
			continue
		}
		switch ip.Protocol {
		case layers.IPProtocolESP:
			esp++
			continue
		case layers.IPProtocolUDP:
			if u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); u != nil && (u.DstPort == 500 || u.DstPort == 4500 || u.SrcPort == 500 || u.SrcPort == 4500) {
				continue
			}
		case layers.IPProtocolTCP:
			// The store's own TLS bypasses IPsec by design (the agents'
			// pass policies); it must be TLS, so no store key may show
			// in it.
			if tc, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); tc != nil && (storePorts[uint16(tc.SrcPort)] || storePorts[uint16(tc.DstPort)]) {
				if !bytes.Contains(tc.Payload, []byte("/cygnet/")) {
					continue
				}
				count++
				if first == "" {
					first = fmt.Sprintf("store traffic in plaintext %v->%v", src, dst)
				}
				continue
			}
		}
		count++
		if first == "" {
			first = fmt.Sprintf("%v %v->%v", ip.Protocol, src, dst)
		}
	}
	return count, first, esp
}

func waitStatus(t *testing.T, n *cnode, timeout time.Duration, what string, ok func(cluster.Report, int) bool) cluster.Report {
	t.Helper()
	var r cluster.Report
	var code int
	deadline := time.Now().Add(timeout)
	for {
		r, code = n.status(t)
		if ok(r, code) {
			return r
		}
		if time.Now().After(deadline) {
			out, _ := n.cluster(t, "status")
			t.Fatalf("timed out waiting for %s; status:\n%s", what, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestCluster is the operator's path on a real kernel: four nodes form a
// cluster, enable, a fifth joins, a node is removed, an agent and a daemon
// are killed, disable. Pings cross every pair throughout; once a pair is
// reported enforced, not one of its packets may leave in clear.
func TestCluster(t *testing.T) {
	vmtest.Require(t)
	l := newLAN(t)
	for i := 1; i <= 4; i++ {
		l.add(i)
	}
	n1 := l.nodes[0]
	out, code := n1.cluster(t, "init", "--advertise", n1.addr.String(), "--name", "n1", "--no-start")
	if code != 0 {
		t.Fatalf("init: %s", out)
	}
	var token string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "cyg1.") {
			token = strings.TrimSpace(line)
		}
	}
	n1.startAgent(t)
	server := n1.addr.String() + ":2381"
	join := func(n *cnode) {
		waitFor(t, 60*time.Second, n.name+" join", func() bool {
			_, code := n.cluster(t, "join", "--token", token, "--advertise", n.addr.String(), "--name", n.name, "--no-start", server)
			return code == 0
		})
		n.startAgent(t)
	}
	for _, n := range l.nodes[1:] {
		join(n)
	}
	waitStatus(t, n1, 120*time.Second, "four nodes, off", func(r cluster.Report, code int) bool { return code == 0 && len(r.Nodes) == 4 })

	var p pinger
	defer p.stop()
	members := map[netip.Addr]bool{}
	for _, a := range l.nodes {
		members[a.addr] = true
		for _, b := range l.nodes {
			if a != b {
				p.start(t, a, b.addr)
			}
		}
	}

	// Enable from another node than the first.
	p.mark("in clear, before enable")
	time.Sleep(2 * time.Second) // a baseline for the table, not a wait for anything
	p.mark("enable, until every pair enforced")
	start := time.Now()
	if out, code := l.nodes[2].cluster(t, "enable"); code != 0 {
		t.Fatalf("enable: %s", out)
	}
	r := waitStatus(t, n1, 300*time.Second, "all pairs encrypted", func(r cluster.Report, code int) bool { return code == 0 && r.Desired.Phase == cluster.PhaseEnforced })
	enforced := time.Now()
	p.mark("enforced")
	t.Logf("enable -> all %d pairs ESTABLISHED and enforced: %v (qemu TCG)", len(r.Pairs), enforced.Sub(start).Round(time.Millisecond))
	out, _ = n1.cluster(t, "status")
	t.Logf("cygnet cluster status on n1:\n%s", out)
	// The store bypasses IPsec: 4 pass policies per peer and store port;
	// packets waiting for a pair's first SA are queued, not dropped.
	for _, n := range l.nodes {
		if v, err := n.ns.Output("cat", "/proc/sys/net/core/xfrm_larval_drop"); err != nil || strings.TrimSpace(v) != "0" {
			t.Errorf("%s: xfrm_larval_drop %q while enforced (%v), want 0", n.name, v, err)
		}
		if got, want := passPolicies(t, &n.node), 4*3*(len(l.nodes)-1); got != want {
			t.Errorf("%s: %d store bypass policies, want %d", n.name, got, want)
		}
	}

	// A fifth node joins the enabled cluster.
	n5 := l.add(5)
	members[n5.addr] = true
	p.mark("n5 joins, until its 4 pairs are up")
	start = time.Now()
	join(n5)
	for _, a := range l.nodes[:4] {
		p.start(t, a, n5.addr)
		p.start(t, n5, a.addr)
	}
	r = waitStatus(t, n1, 300*time.Second, "n5 encrypted to all", func(r cluster.Report, code int) bool { return code == 0 && len(r.Pairs) == 10 })
	n5Up := time.Now()
	t.Logf("join of n5 -> its 4 pairs ESTABLISHED: %v (qemu TCG)", time.Since(start).Round(time.Millisecond))

	// kill -9 an agent and a daemon; both come back; nothing in clear.
	p.mark("kill -9 n2's agent and n3's daemon, until recovered")
	l.nodes[1].kill9Agent()
	if pid := l.nodes[2].pid(t); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	l.nodes[2].start(t)
	l.nodes[1].startAgent(t)
	waitStatus(t, n1, 300*time.Second, "recovered after kill -9", func(r cluster.Report, code int) bool { return code == 0 })

	// The store goes away (n1's agent runs the embedded etcd): every node
	// keeps what it applied. n2 then restarts as after a reboot, daemon
	// and agent, while the store is still down: its daemon brings its SAs
	// back from the files on disk alone.
	p.mark("store down, n2 restarted, until its SAs are back")
	n1.kill9Agent()
	n2 := l.nodes[1]
	n2.kill9Agent()
	if pid := n2.pid(t); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	storeDown := time.Now()
	n2.start(t)
	n2.startAgent(t)
	waitFor(t, 300*time.Second, "n2's four SAs back while the store is down", func() bool {
		out, _ := n2.ipsec(t, "statusall")
		up := 0
		for _, ps := range cluster.ParseStatus(out) {
			if ps.State == "ESTABLISHED" {
				up++
			}
		}
		return up == 4
	})
	t.Logf("store down; n2 restarted (daemon kill -9, agent kill -9) -> its 4 SAs back without the store: %v (qemu TCG)", time.Since(storeDown).Round(time.Millisecond))
	p.mark("store back, until every pair as desired")
	n1.startAgent(t)
	waitStatus(t, n5, 300*time.Second, "the store back, every pair as desired", func(r cluster.Report, code int) bool { return code == 0 })
	t.Logf("store down to every pair reported as desired again: %v", time.Since(storeDown).Round(time.Millisecond))

	// Remove n4 (as if dead: its agent is stopped first).
	p.mark("n4 removed (pings to and from n4 stopped)")
	p.stopInvolving(l.nodes[3])
	l.nodes[3].kill9Agent()
	n4Removed := time.Now()
	if out, code := l.nodes[4].cluster(t, "remove", "n4"); code != 0 {
		t.Fatalf("remove: %s", out)
	}
	r = waitStatus(t, n1, 300*time.Second, "n4 gone", func(r cluster.Report, code int) bool { return code == 0 && len(r.Pairs) == 6 })
	for _, n := range []*cnode{l.nodes[0], l.nodes[1], l.nodes[2], n5} {
		if s, _ := n.ipsec(t, "statusall"); strings.Contains(s, "cyg-n4") {
			t.Fatalf("%s still has n4's conn:\n%s", n.name, s)
		}
	}

	// Nothing in clear on any pair since it was enforced (n5's pairs since
	// they were reported up; n4's pairs are not checked after its removal
	// began, when its agent stopped).
	p.mark("four members, enforced")
	n4 := l.nodes[3].addr
	protected := func(a, b netip.Addr, at time.Time) bool {
		if !members[a] || !members[b] {
			return false
		}
		if (a == n4 || b == n4) && !at.Before(n4Removed) {
			return false // removed: its pairs go back to clear, as they should
		}
		from := enforced
		if a == n5.addr || b == n5.addr {
			from = n5Up
		}
		return !at.Before(from)
	}
	for _, n := range l.nodes {
		frames, err := n.capt.Stop()
		if err != nil {
			t.Fatal(err)
		}
		kept := frames
		// The detector itself: before enable the same pings crossed in
		// clear, and it must see them.
		if n == n1 {
			before, _, _ := clearAndESP(kept, func(a, b netip.Addr, _ time.Time) bool { return members[a] && members[b] })
			if before == 0 {
				t.Errorf("n1: no cleartext seen even before enable: the capture or the detector is broken")
			}
			t.Logf("n1: %d packets between members in clear before enable (the pings, as expected)", before)
		}
		c, first, esp := clearAndESP(kept, protected)
		t.Logf("%s: %d frames captured; after enforcement %d ESP and %d in clear between members", n.name, len(frames), esp, c)
		if esp == 0 {
			t.Errorf("%s: no ESP seen after enforcement: the pings did not cross, or not protected", n.name)
		}
		if c != 0 {
			t.Errorf("%s: %d packets in clear after enforcement, first %s", n.name, c, first)
		}
	}

	// Disable: back to clear, no kernel state of cygnet's left.
	p.mark("disable, until off")
	if out, code := n5.cluster(t, "disable"); code != 0 {
		t.Fatalf("disable: %s", out)
	}
	waitStatus(t, n1, 300*time.Second, "off", func(r cluster.Report, code int) bool { return code == 0 && r.Desired.Phase == cluster.PhaseOff })
	p.mark("off, in clear")
	time.Sleep(2 * time.Second) // the tail of the table
	p.stop()
	p.report(t)
	for _, n := range []*cnode{l.nodes[0], l.nodes[1], l.nodes[2], n5} {
		gone := func() bool {
			return len(ownedStates(t, &n.node)) == 0 && ownedPolicies(t, &n.node) == 0 && passPolicies(t, &n.node) == 0
		}
		deadline := time.Now().Add(60 * time.Second)
		for !gone() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if !gone() {
			t.Errorf("%s: cygnet's kernel state still there 60 s after disable", n.name)
			n.dumpKernel(t)
		}
		// The agent queued larval packets while enabled; the kernel's
		// default is back.
		if v, err := n.ns.Output("cat", "/proc/sys/net/core/xfrm_larval_drop"); err != nil || strings.TrimSpace(v) != "1" {
			t.Errorf("%s: xfrm_larval_drop %q after disable (%v), want the default 1 back", n.name, v, err)
		}
	}
}

// passPolicies counts the cluster agent's store bypass policies in n's
// kernel.
func passPolicies(t *testing.T, n *node) int {
	t.Helper()
	// The agent's: TCP at its priority (the kernel may hold other
	// template-less policies).
	return countPolicies(t, n, func(p xfrm.InstalledPolicy) bool {
		return p.Action == xfrm.Pass && p.Priority == 1000 && p.Selector.Proto == 6
	})
}

// dumpKernel logs what a node's kernel, daemon and agent hold, for a
// failure that is about leftover state.
func (n *cnode) dumpKernel(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{{"ip", "xfrm", "state"}, {"ip", "xfrm", "policy"}} {
		out, _ := n.ns.Command(args...).CombinedOutput()
		t.Logf("%s: %v:\n%s", n.name, args, out)
	}
	st, _ := n.ipsec(t, "statusall")
	t.Logf("%s: statusall:\n%s", n.name, st)
	lg := n.log()
	if len(lg) > 20000 {
		lg = lg[len(lg)-20000:]
	}
	t.Logf("%s: daemon log (tail):\n%s", n.name, lg)
	ab, _ := os.ReadFile(n.alog)
	if len(ab) > 8000 {
		ab = ab[len(ab)-8000:]
	}
	t.Logf("%s: agent log (tail):\n%s", n.name, ab)
}
