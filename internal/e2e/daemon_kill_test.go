package e2e

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// TestDaemonKill9 kills moon's daemon with SIGKILL during a continuous ping
// and restarts it: no ICMP may leave in clear, and afterwards each node has
// exactly one SA pair and no orphan; someone else's state and policy
// survive start, kill, restart and stop.
func TestDaemonKill9(t *testing.T) {
	vmtest.Require(t)
	moon, sun := newNodes(t, netip.MustParseAddr("10.21.0.1"), netip.MustParseAddr("10.21.0.2"))
	foreign(t, moon.ns, false)
	sun.start(t)
	moon.start(t)
	moon.waitInstalled(t, 90*time.Second)

	capt, err := capture.Start(moon.ns.Path, moon.iface)
	if err != nil {
		t.Fatal(err)
	}
	ping := moon.ns.Command("ping", "-i", "0.2", "-W", "1", sun.addr.String())
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	pid := moon.pid(t)
	if pid == 0 {
		t.Fatal("no pid")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(2 * time.Second)
	moon.start(t)
	moon.waitInstalled(t, 90*time.Second)
	time.Sleep(2 * time.Second)
	ping.Process.Signal(syscall.SIGINT)
	ping.Wait()
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	checkESPOnly(t, frames, moon.addr, sun.addr, nil)

	deadline := time.Now().Add(20 * time.Second)
	for {
		m, s := ownedStates(t, moon), ownedStates(t, sun)
		if len(m) == 2 && len(s) == 2 {
			break
		}
		if time.Now().After(deadline) {
			ms, _ := moon.ipsec(t, "statusall")
			ss, _ := sun.ipsec(t, "statusall")
			t.Fatalf("after restart moon has %d and sun %d cygnet states, want 2 each\nmoon:\n%s\nsun:\n%s", len(m), len(s), ms, ss)
		}
		time.Sleep(300 * time.Millisecond)
	}
	moon.ipsec(t, "stop")
	st := moon.ns.Run(t, "ip", "xfrm", "state")
	pol := moon.ns.Run(t, "ip", "xfrm", "policy")
	if !strings.Contains(st, "spi 0x00001234") || !strings.Contains(pol, "reqid 7") {
		t.Errorf("foreign state or policy lost:\n%s\n%s", st, pol)
	}
	if c := ownedPolicies(t, moon); c != 0 {
		t.Errorf("moon keeps %d cygnet policies after stop", c)
	}
}
