package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// TestDaemonRoute: with auto=route moon installs trap policies at start and
// negotiates when the first packet to sun hits them (the kernel's ACQUIRE);
// the trapped traffic never leaves in clear, and `ipsec unroute` removes
// the trap.
func TestDaemonRoute(t *testing.T) {
	vmtest.Require(t)
	moon, sun := newNodes(t, netip.MustParseAddr("10.24.0.1"), netip.MustParseAddr("10.24.0.2"))
	conf := readFile(t, moon.dir+"/ipsec.conf")
	writeFile(t, moon.dir+"/ipsec.conf", strings.Replace(conf, "auto=start", "auto=route", 1), 0o644)
	sun.start(t)
	moon.start(t)
	if c := ownedPolicies(t, moon); c != 2 {
		t.Fatalf("moon has %d cygnet policies after start with auto=route, want the 2 trap policies", c)
	}
	if st := ownedStates(t, moon); len(st) != 0 {
		t.Fatalf("auto=route negotiated before any traffic: %d states", len(st))
	}
	capt, err := capture.Start(moon.ns.Path, moon.iface)
	if err != nil {
		t.Fatal(err)
	}
	// The first packets are dropped while the SA is negotiated.
	var out string
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err = moon.ns.Output("ping", "-c", "1", "-W", "2", sun.addr.String())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			st, _ := moon.ipsec(t, "statusall")
			t.Fatalf("ping never passed after the trap fired: %v\n%s\n%s", err, out, st)
		}
	}
	moon.waitInstalled(t, 10*time.Second)
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	checkESPOnly(t, frames, moon.addr, sun.addr, nil)
	if out, code := moon.ipsec(t, "down", "host-host"); code != 0 {
		t.Fatalf("down: %s", out)
	}
	waitFor(t, 10*time.Second, "trap policies back after down", func() bool {
		return ownedPolicies(t, moon) == 2 && len(ownedStates(t, moon)) == 0
	})
	if out, code := moon.ipsec(t, "unroute", "host-host"); code != 0 {
		t.Fatalf("unroute: %d %s", code, out)
	}
	waitFor(t, 10*time.Second, "no cygnet policies after unroute", func() bool { return ownedPolicies(t, moon) == 0 })
}
