package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/cluster"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/swan"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// swanNode is a cluster member that still runs strongSwan: charon and its
// starter in a private mount namespace whose /etc is the system's with a
// private writable layer on top, so the agent writes /etc/ipsec.conf,
// /etc/ipsec.secrets and /etc/ipsec.d/ exactly as on a real strongSwan host
// and charon reads them from there.
type swanNode struct {
	*cnode
	holder *exec.Cmd
	clog   string // charon's filelog (outside the private /etc)
	ipsecB string // strongSwan's ipsec script
}

// addSwan makes node i (10.9.0.i) on the LAN with charon running on empty
// files, as a freshly installed strongSwan host has.
func (l *lan) addSwan(i int) *swanNode {
	t := l.t
	swan.Require(t)
	ipsecB := "/usr/sbin/ipsec"
	if _, err := os.Stat(ipsecB); err != nil {
		t.Fatalf("strongSwan's ipsec script: %v", err)
	}
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
	s := &swanNode{
		cnode:  &cnode{node: node{name: name, ns: ns, addr: addr, iface: "eth0", dir: t.TempDir(), piddir: t.TempDir()}, state: t.TempDir()},
		ipsecB: ipsecB,
	}
	s.alog = filepath.Join(s.piddir, "agent.log")
	s.clog = filepath.Join(s.piddir, "charon.log")
	stage := t.TempDir()
	writeFile(t, filepath.Join(stage, "ipsec.conf"), "config setup\n", 0o644)
	writeFile(t, filepath.Join(stage, "ipsec.secrets"), "", 0o600)
	writeFile(t, filepath.Join(stage, "strongswan.conf"), swan.DefaultStrongswanConf(s.clog), 0o644)
	// The holder owns the mount namespace: a tmpfs for the writable layer
	// (an overlay's upper dir cannot be on the guest's root overlay), /etc
	// as an overlay on the system's (a copy if overlay is refused), and a
	// private /run for the starter's and charon's pid files and socket.
	layer := t.TempDir()
	script := strings.Join([]string{
		"set -e",
		"mount -t tmpfs cygetc " + layer,
		"mkdir " + layer + "/upper " + layer + "/work " + layer + "/copy",
		"if ! mount -t overlay cygetc -o lowerdir=/etc,upperdir=" + layer + "/upper,workdir=" + layer + "/work /etc; then cp -a /etc/. " + layer + "/copy && mount --bind " + layer + "/copy /etc; fi",
		"cp " + stage + "/ipsec.conf " + stage + "/ipsec.secrets " + stage + "/strongswan.conf /etc/",
		"chmod 600 /etc/ipsec.secrets",
		"mkdir -p /etc/ipsec.d/cacerts /etc/ipsec.d/certs /etc/ipsec.d/private",
		"rm -f /etc/ipsec.d/cacerts/* /etc/ipsec.d/certs/* /etc/ipsec.d/private/*",
		"mount -t tmpfs run /run",
		"mkdir -p /run/strongswan",
		"touch /run/cygnet-holder-ready",
		"exec sleep 100000",
	}, "\n")
	s.holder = ns.Command("sh", "-c", script)
	hlog := filepath.Join(s.piddir, "holder.log")
	f, err := os.Create(hlog)
	if err != nil {
		t.Fatal(err)
	}
	s.holder.Stdout, s.holder.Stderr = f, f
	if err := s.holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	done := make(chan struct{})
	go func() { s.holder.Wait(); close(done) }()
	waitFor(t, 60*time.Second, name+"'s mount namespace", func() bool {
		select {
		case <-done:
			b, _ := os.ReadFile(hlog)
			t.Fatalf("%s: the mount namespace's holder exited: %s", name, b)
		default:
		}
		_, err := s.run("test", "-e", "/run/cygnet-holder-ready")
		return err == nil
	})
	if b, _ := os.ReadFile(hlog); len(b) > 0 {
		t.Logf("%s: holder: %s", name, b)
	}
	capt, err := capture.Start(ns.Path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	s.capt = capt
	if out, err := s.run(ipsecB, "start"); err != nil {
		t.Fatalf("%s: ipsec start: %v\n%s", name, err, out)
	}
	waitFor(t, 120*time.Second, name+"'s charon answering", func() bool {
		out, err := s.run(ipsecB, "statusall")
		return err == nil && strings.Contains(out, "Status of IKE charon daemon")
	})
	t.Cleanup(func() {
		s.stopAgent()
		s.run(ipsecB, "stop")
		s.holder.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(s.alog)
			c, _ := os.ReadFile(s.clog)
			t.Logf("%s agent log:\n%s\ncharon log tail:\n%s", s.name, b, tail(string(c), 150))
		}
	})
	l.nodes = append(l.nodes, s.cnode)
	return s
}

// command is argv in the node's network and mount namespaces.
func (s *swanNode) command(argv ...string) *exec.Cmd {
	args := append([]string{"-t", fmt.Sprint(s.holder.Process.Pid), "-m", "-n", "-r", "-w", "--"}, argv...)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = os.Environ()
	return cmd
}

func (s *swanNode) run(argv ...string) (string, error) {
	out, err := s.command(argv...).CombinedOutput()
	return string(out), err
}

// startAgent runs the cluster agent where charon's files are: confdir
// /etc of the node's mount namespace, strongSwan's own ipsec script.
func (s *swanNode) startAgent(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(s.alog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.command(cygnetBin(t), "cluster", "agent", "--state-dir", s.state, "--confdir", "/etc", "--ipsec", s.ipsecB, "--metrics", "")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.agent = cmd
}

// xfrm is `ip xfrm state` and `ip xfrm policy` in the node's namespace,
// all of which is charon's (the node runs nothing else): its SPD entries
// ("dir in/out/fwd") and its IKE sockets' bypass policies ("socket").
func (s *swanNode) xfrm(t *testing.T) (states, policies string) {
	t.Helper()
	st, err := s.run("ip", "xfrm", "state")
	if err != nil {
		t.Fatalf("ip xfrm state: %v %s", err, st)
	}
	pol, err := s.run("ip", "xfrm", "policy")
	if err != nil {
		t.Fatalf("ip xfrm policy: %v %s", err, pol)
	}
	return strings.TrimSpace(st), strings.TrimSpace(pol)
}

// espFrames counts the ESP packets between members in frames since the
// moment since gives for their pair.
func espFrames(frames []capture.Frame, since func(a, b netip.Addr) (time.Time, bool)) int {
	n := 0
	for _, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok || ip.Protocol != layers.IPProtocolESP {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		if from, ok := since(src, dst); ok && !f.Time.Before(from) {
			n++
		}
	}
	return n
}

// pingOK is one short ping from a to b that gets its answers.
func pingOK(a *cnode, b netip.Addr) bool {
	return a.ns.Command("ping", "-q", "-c", "2", "-i", "0.3", "-W", "3", b.String()).Run() == nil
}

// TestClusterMixed is a cluster in the middle of a migration: n2 still runs
// strongSwan's charon, driven by the same agent through strongSwan's ipsec
// command and the same rendered files (ECDSA certificates under ipsec.d);
// n1, n3 and n4 run cygnet. Enable (from the strongSwan node) brings every
// pair up ESP-only, with pings crossing every pair; disable (from a cygnet
// node) leaves no SA and no policy anywhere.
func TestClusterMixed(t *testing.T) {
	vmtest.Require(t)
	swan.Require(t)
	l := newLAN(t)
	n1 := l.add(1)
	n2 := l.addSwan(2)
	n3 := l.add(3)
	n4 := l.add(4)
	cygnets := []*cnode{n1, n3, n4}

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
	if token == "" {
		t.Fatalf("init printed no token:\n%s", out)
	}
	n1.startAgent(t)
	server := n1.addr.String() + ":2381"
	join := func(n *cnode) {
		waitFor(t, 60*time.Second, n.name+" join", func() bool {
			_, code := n.cluster(t, "join", "--token", token, "--advertise", n.addr.String(), "--name", n.name, "--no-start", server)
			return code == 0
		})
	}
	join(n2.cnode)
	n2.startAgent(t)
	for _, n := range []*cnode{n3, n4} {
		join(n)
		n.startAgent(t)
	}
	daemonKinds := func(r cluster.Report) bool {
		if len(r.Nodes) != 4 {
			return false
		}
		for _, nr := range r.Nodes {
			want := "cygnet"
			if nr.Name == n2.name {
				want = "strongswan"
			}
			if nr.Daemon != want || !nr.Alive {
				return false
			}
		}
		return true
	}
	r := waitStatus(t, n1, 120*time.Second, "four nodes, off, n2 on strongSwan", func(r cluster.Report, code int) bool { return code == 0 && daemonKinds(r) })
	for _, nr := range r.Nodes {
		t.Logf("%s: daemon %s (%s), esp %v", nr.Name, nr.Daemon, nr.Version, nr.ESP)
	}

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

	// Enable from the strongSwan node.
	p.mark("in clear, before enable")
	time.Sleep(2 * time.Second) // a baseline for the table, not a wait for anything
	p.mark("enable (on the strongSwan node), until enforced")
	start := time.Now()
	if out, code := n2.cluster(t, "enable"); code != 0 {
		t.Fatalf("enable on n2: %s", out)
	}
	allUp := func(r cluster.Report) bool {
		if len(r.Pairs) != 6 {
			return false
		}
		for _, pr := range r.Pairs {
			if pr.StateAB != "ESTABLISHED" || pr.StateBA != "ESTABLISHED" || !pr.AsWanted {
				return false
			}
		}
		return true
	}
	r = waitStatus(t, n1, 300*time.Second, "all pairs ESTABLISHED and enforced", func(r cluster.Report, code int) bool {
		return code == 0 && r.Desired.Phase == cluster.PhaseEnforced && daemonKinds(r) && allUp(r)
	})
	enforced := time.Now()
	p.mark("enforced")
	t.Logf("enable (on the strongSwan node) -> all %d pairs ESTABLISHED and enforced: %v (qemu TCG)", len(r.Pairs), enforced.Sub(start).Round(time.Millisecond))
	out, _ = n3.cluster(t, "status")
	t.Logf("cygnet cluster status on n3:\n%s", out)

	// charon's own view: an IKE_SA and a CHILD_SA to each of the three.
	sa, err := n2.run(n2.ipsecB, "statusall")
	if err != nil {
		t.Fatalf("n2: ipsec statusall: %v\n%s", err, sa)
	}
	for _, peer := range cygnets {
		if st := cluster.ParseStatus(sa)[cluster.ConnName(peer.name)]; st.State != "ESTABLISHED" {
			t.Errorf("charon on n2: %s is %q, want ESTABLISHED", cluster.ConnName(peer.name), st.State)
		}
	}
	if t.Failed() {
		t.Fatalf("charon's statusall:\n%s", sa)
	}
	// Traffic crosses every pair (through ESP: the policies require it).
	for _, a := range l.nodes {
		for _, b := range l.nodes {
			if a != b {
				waitFor(t, 60*time.Second, fmt.Sprintf("ping %s -> %s while enforced", a.name, b.name), func() bool { return pingOK(a, b.addr) })
			}
		}
	}

	// Not one packet between members in clear since enforcement, on any
	// node's link, the strongSwan node's included.
	p.stop()
	p.report(t)
	since := func(a, b netip.Addr) (time.Time, bool) { return enforced, members[a] && members[b] }
	for _, n := range l.nodes {
		frames, err := n.capt.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if n == n1 {
			before, _ := clearAfter(frames, func(a, b netip.Addr) (time.Time, bool) { return time.Time{}, members[a] && members[b] })
			if before == 0 {
				t.Errorf("n1: no cleartext seen even before enable: the capture or the detector is broken")
			}
			t.Logf("n1: %d packets between members in clear before enable (the pings, as expected)", before)
		}
		c, first := clearAfter(frames, since)
		esp := espFrames(frames, since)
		t.Logf("%s: %d frames captured; after enforcement %d ESP and %d in clear between members", n.name, len(frames), esp, c)
		if esp == 0 {
			t.Errorf("%s: no ESP seen after enforcement: the pings did not cross, or not protected", n.name)
		}
		if c != 0 {
			t.Errorf("%s: %d packets in clear after enforcement, first %s", n.name, c, first)
		}
	}

	// Disable from a cygnet node: no cygnet-owned kernel state on the
	// cygnet nodes, no SA and no policy on charon's, traffic in clear.
	start = time.Now()
	if out, code := n3.cluster(t, "disable"); code != 0 {
		t.Fatalf("disable: %s", out)
	}
	waitStatus(t, n1, 300*time.Second, "off", func(r cluster.Report, code int) bool { return code == 0 && r.Desired.Phase == cluster.PhaseOff })
	t.Logf("disable -> off on every node: %v", time.Since(start).Round(time.Millisecond))
	for _, n := range cygnets {
		waitFor(t, 60*time.Second, n.name+" kernel state gone", func() bool {
			return len(ownedStates(t, &n.node)) == 0 && ownedPolicies(t, &n.node) == 0
		})
	}
	var states, pols, last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		states, pols = n2.xfrm(t)
		last, _ = n2.run(n2.ipsecB, "statusall")
		// charon's IKE sockets keep their per-socket bypass policies
		// ("socket in/out"): those are not SPD entries; none of "dir" may stay.
		if states == "" && !strings.Contains(pols, "dir ") && strings.Contains(last, "Security Associations (0 up, 0 connecting)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n2: charon's state left after disable:\nip xfrm state:\n%s\nip xfrm policy:\n%s\nstatusall:\n%s", states, pols, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, a := range l.nodes {
		for _, b := range l.nodes {
			if a != b {
				waitFor(t, 60*time.Second, fmt.Sprintf("ping %s -> %s after disable", a.name, b.name), func() bool { return pingOK(a, b.addr) })
			}
		}
	}
}
