package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/cluster"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// TestClusterHA is the HA store on a real kernel: `init --voters 3` on n1,
// n2 and n3 join and run the store's other members, the cluster is
// enabled, then n1 dies for good (its agent, and with it its store
// member, is killed). The survivors still hold the store's quorum:
// disable from n2 goes through to off on both, and the dead node is
// removed from n3, after which the status is clean again.
func TestClusterHA(t *testing.T) {
	vmtest.Require(t)
	l := newLAN(t)
	for i := 1; i <= 3; i++ {
		l.add(i)
	}
	n1, n2, n3 := l.nodes[0], l.nodes[1], l.nodes[2]
	out, code := n1.cluster(t, "init", "--advertise", n1.addr.String(), "--name", "n1", "--voters", "3", "--no-start")
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
	for _, n := range []*cnode{n2, n3} {
		waitFor(t, 120*time.Second, n.name+" join", func() bool {
			out, code := n.cluster(t, "join", "--token", token, "--advertise", n.addr.String(), "--name", n.name, "--no-start", server)
			if code == 0 && !strings.Contains(out, "store's voters") {
				t.Fatalf("%s joined a --voters 3 cluster without a store member:\n%s", n.name, out)
			}
			return code == 0
		})
		n.startAgent(t)
	}
	waitStatus(t, n1, 180*time.Second, "three nodes, off", func(r cluster.Report, code int) bool { return code == 0 && len(r.Nodes) == 3 })

	if out, code := n3.cluster(t, "enable"); code != 0 {
		t.Fatalf("enable: %s", out)
	}
	start := time.Now()
	waitStatus(t, n2, 300*time.Second, "enforced", func(r cluster.Report, code int) bool {
		return code == 0 && r.Desired.Phase == cluster.PhaseEnforced
	})
	t.Logf("enable -> 3 pairs enforced: %v (qemu TCG)", time.Since(start).Round(time.Millisecond))

	// n1 dies: the first node, holder of the CA key and of a store member.
	n1.kill9Agent()
	if pid := n1.pid(t); pid != 0 {
		n1.ipsec(t, "stop")
	}
	start = time.Now()
	var out2 string
	waitFor(t, 120*time.Second, "disable from n2 with n1 dead", func() bool {
		var code int
		out2, code = n2.cluster(t, "disable")
		return code == 0
	})
	t.Logf("disable accepted with n1 dead after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out2))
	waitStatus(t, n2, 300*time.Second, "off among the survivors", func(r cluster.Report, _ int) bool {
		if r.Desired.Phase != cluster.PhaseOff {
			return false
		}
		for _, nr := range r.Nodes {
			if nr.Name != "n1" && (!nr.Alive || nr.Phase != cluster.PhaseOff) {
				return false
			}
		}
		return true
	})
	for _, n := range []*cnode{n2, n3} {
		waitFor(t, 60*time.Second, n.name+" kernel state gone", func() bool {
			return len(ownedStates(t, &n.node)) == 0 && ownedPolicies(t, &n.node) == 0 && passPolicies(t, &n.node) == 0
		})
	}
	if out, code := n3.cluster(t, "remove", "n1"); code != 0 {
		t.Fatalf("remove the dead first node: %s", out)
	}
	r := waitStatus(t, n2, 120*time.Second, "two nodes, off, clean", func(r cluster.Report, code int) bool {
		return code == 0 && len(r.Nodes) == 2
	})
	t.Logf("after n1's removal: %d nodes, ok %v", len(r.Nodes), r.OK)
}
