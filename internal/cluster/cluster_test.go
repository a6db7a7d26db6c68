package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// world is the fake daemons' shared view: which conns each node loaded,
// and with what auto=. A pair is ESTABLISHED when both ends loaded each
// other and at least one routes (the SA comes up on the first packet or
// the agent's up). It also records every rollout-rule violation: a node
// requiring ESP (auto=route) towards a peer that had not loaded the conn
// back at that moment, during enable.
type world struct {
	mu         sync.Mutex
	conns      map[string]map[string]string // node -> peer -> auto
	noESP      map[string]bool
	violations []string
	applies    int
}

func newWorld() *world {
	return &world{conns: map[string]map[string]string{}, noESP: map[string]bool{}}
}

var connRe = regexp.MustCompile(`(?m)^conn cyg-(\S+)$`)
var autoRe = regexp.MustCompile(`(?m)^\tauto=(\S+)$`)

type fakeDaemon struct {
	w       *world
	name    string
	confdir string
}

func (f *fakeDaemon) Apply(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(f.confdir, "ipsec.conf"))
	if err != nil {
		return err
	}
	auto := ""
	if m := autoRe.FindSubmatch(b); m != nil {
		auto = string(m[1])
	}
	m := map[string]string{}
	for _, g := range connRe.FindAllSubmatch(b, -1) {
		m[string(g[1])] = auto
	}
	// A conn's own auto= (a held pair) overrides %default's.
	for _, block := range strings.Split(string(b), "\nconn cyg-")[1:] {
		name, body, _ := strings.Cut(block, "\n")
		if am := autoRe.FindStringSubmatch(body); am != nil {
			m[name] = am[1]
		}
	}
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	f.w.applies++
	old := f.w.conns[f.name]
	for peer, a := range m {
		if a == "route" && old[peer] != "route" {
			if back := f.w.conns[peer][f.name]; back == "" {
				// The peer joining later is allowed: it is blocked, not clear.
				// Only report it for peers that were already routed-to
				// members, which the gated rollout must not produce.
				if _, member := f.w.conns[peer]; member && len(f.w.conns[peer]) > 0 {
					f.w.violations = append(f.w.violations, fmt.Sprintf("%s routes %s before %s loaded the conn back", f.name, peer, peer))
				}
			}
		}
	}
	f.w.conns[f.name] = m
	return nil
}

func (f *fakeDaemon) Up(ctx context.Context, conn string) error { return nil }

func (f *fakeDaemon) Status(ctx context.Context) (map[string]PairStatus, error) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	out := map[string]PairStatus{}
	for peer, a := range f.w.conns[f.name] {
		back := f.w.conns[peer][f.name]
		st := "down"
		switch {
		case back != "" && (a == "route" || back == "route"):
			st = "ESTABLISHED"
		case a == "route":
			st = "routed"
		}
		out[ConnName(peer)] = PairStatus{State: st}
	}
	return out, nil
}

func (f *fakeDaemon) Info(ctx context.Context) (string, string, bool) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	return "fake", "fake 1.0", !f.w.noESP[f.name]
}

type testNode struct {
	name, dir, confdir string
	nc                 NodeConfig
	store              *Store
	cancel             context.CancelFunc
	done               chan error
	kernel             *xfrmtest.Fake
	rounds             *rounds
}

// rounds counts an agent's reconcile rounds, failed and all.
type rounds struct {
	mu           sync.Mutex
	total, fails int
}

func (r *rounds) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if err != nil {
		r.fails++
	}
}

func (r *rounds) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fails
}

type testCluster struct {
	t     *testing.T
	w     *world
	first *testNode
	token string
	join  string // join endpoint host:port
	nodes map[string]*testNode
	etcd  map[string]*embed.Etcd // the nodes' embedded store members
}

// newTestCluster runs init on "n1" (127.0.0.1) with an embedded etcd, the
// join endpoint and n1's agent.
func newTestCluster(t *testing.T, auth string) *testCluster {
	t.Helper()
	return newTestClusterVoters(t, auth, 1)
}

// newTestClusterVoters is newTestCluster with a store of that many voters.
func newTestClusterVoters(t *testing.T, auth string, voters int) *testCluster {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	tc := &testCluster{t: t, w: newWorld(), nodes: map[string]*testNode{}, etcd: map[string]*embed.Etcd{}}
	dir := filepath.Join(base, "n1")
	cp, pp, jp := freePort(t), freePort(t), freePort(t)
	tok, err := Init(ctx, dir, "n1", "127.0.0.1", cp, pp, jp, auth, voters)
	if err != nil {
		t.Fatal(err)
	}
	tc.token = tok
	nc, err := LoadNodeConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := StartEmbedded(ctx, dir, nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEtcd(e) })
	tc.etcd["n1"] = e
	n := tc.startAgent("n1", dir, nc)
	jctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	js := &JoinServer{Dir: dir, Store: n.store, NC: nc}
	go js.ListenJoin(jctx)
	tc.join = hostPort("127.0.0.1", jp)
	waitFor(t, "join endpoint", func() bool {
		c, err := net.Dial("tcp", tc.join)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	tc.first = n
	return tc
}

func (tc *testCluster) startAgent(name, dir string, nc NodeConfig) *testNode {
	tc.t.Helper()
	st, err := Connect(context.Background(), dir, nc)
	if err != nil {
		tc.t.Fatal(err)
	}
	n := &testNode{name: name, dir: dir, confdir: filepath.Join(dir, "etc"), nc: nc, store: st, done: make(chan error, 1),
		kernel: &xfrmtest.Fake{}, rounds: &rounds{}}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	a := &Agent{Dir: dir, NC: nc, Store: st, Daemon: &fakeDaemon{w: tc.w, name: name, confdir: n.confdir},
		ConfDir: n.confdir, Interval: 200 * time.Millisecond, LeaseTTL: 2, Kernel: n.kernel, OnRound: n.rounds.add,
		RoundTimeout: 2 * time.Second,
		Log:          slog.New(slog.NewTextHandler(testLogOut(), nil))}
	a.Log = a.Log.With("node", name)
	go func() { n.done <- a.Run(ctx) }()
	tc.t.Cleanup(func() {
		cancel()
		<-n.done
		st.C.Close()
	})
	tc.nodes[name] = n
	return n
}

func (tc *testCluster) joinNode(name, ip string) *testNode {
	tc.t.Helper()
	dir := filepath.Join(tc.t.TempDir(), name)
	nc, err := JoinPorts(context.Background(), dir, tc.token, name, ip, tc.join, freePort(tc.t), freePort(tc.t))
	if err != nil {
		tc.t.Fatal(err)
	}
	if nc.Embedded {
		// A voter: its member starts as the learner the join added.
		e, err := StartEmbedded(context.Background(), dir, nc)
		if err != nil {
			tc.t.Fatal(err)
		}
		tc.t.Cleanup(func() { closeEtcd(e) })
		tc.etcd[name] = e
	}
	return tc.startAgent(name, dir, nc)
}

// waitFor waits for a condition that the agents' events make true; the
// bound is only there to fail a broken build rather than hang it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tc *testCluster) report() Report {
	r, err := tc.first.store.BuildReport(context.Background())
	if err != nil {
		tc.t.Fatal(err)
	}
	return r
}

func (tc *testCluster) waitOK(what string) Report {
	tc.t.Helper()
	var r Report
	waitFor(tc.t, what, func() bool { r = tc.report(); return r.OK })
	return r
}

func TestRollout(t *testing.T) {
	tc := newTestCluster(t, "pubkey")
	tc.joinNode("n2", "127.0.0.2")
	tc.joinNode("n3", "127.0.0.3")
	r := tc.waitOK("three nodes off")
	if len(r.Pairs) != 3 || r.Desired.State != "off" {
		t.Fatalf("report: %+v", r)
	}
	ctx := context.Background()
	d, err := tc.first.store.SetSwitch(ctx, true, "n2")
	if err != nil || d.Phase != PhaseLoaded {
		t.Fatalf("enable: %+v %v", d, err)
	}
	r = tc.waitOK("enforced")
	if r.Desired.Phase != PhaseEnforced {
		t.Fatalf("phase %s", r.Desired.Phase)
	}
	for _, p := range r.Pairs {
		if p.StateAB != "ESTABLISHED" || p.StateBA != "ESTABLISHED" {
			t.Fatalf("pair %+v", p)
		}
	}
	for _, n := range tc.nodes {
		checkBypass(t, n, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"})
	}
	// The rendered files are strongSwan files cygnet's own loader takes
	// without an error, with a conn per peer.
	for _, n := range tc.nodes {
		l, ds := config.Load(config.LayoutAt(n.confdir), nil)
		if ds.HasErrors() {
			t.Fatalf("%s: rendered files do not load: %v", n.name, ds.Errors())
		}
		if len(l.Config.Connections) != 2 {
			t.Fatalf("%s: %d conns loaded, want 2", n.name, len(l.Config.Connections))
		}
	}
	// A fourth node joins the enabled cluster: every member gets its conn.
	start := time.Now()
	tc.joinNode("n4", "127.0.0.4")
	r = tc.waitOK("n4 encrypted to all")
	t.Logf("join to all pairs of n4 ESTABLISHED (fake daemon): %v", time.Since(start))
	if len(r.Pairs) != 6 {
		t.Fatalf("%d pairs", len(r.Pairs))
	}
	// Removal: the others drop its conn; the removed agent clears its own.
	if err := tc.first.store.RemoveNode(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if err := <-tc.nodes["n3"].done; !errors.Is(err, ErrRemoved) {
		t.Fatalf("n3 agent: %v", err)
	}
	tc.nodes["n3"].done <- ErrRemoved // for the cleanup
	r = tc.waitOK("after removal")
	if len(r.Pairs) != 3 {
		t.Fatalf("%d pairs after removal", len(r.Pairs))
	}
	b, _ := os.ReadFile(filepath.Join(tc.nodes["n3"].confdir, "ipsec.conf"))
	if strings.Contains(string(b), "conn cyg-") {
		t.Fatalf("removed node keeps conns:\n%s", b)
	}
	for _, n := range []string{"n1", "n2", "n4"} {
		b, _ := os.ReadFile(filepath.Join(tc.nodes[n].confdir, "ipsec.conf"))
		if strings.Contains(string(b), "cyg-n3") {
			t.Fatalf("%s still has a conn to n3", n)
		}
		checkBypass(t, tc.nodes[n], []string{"127.0.0.1", "127.0.0.2", "127.0.0.4"})
	}
	checkBypass(t, tc.nodes["n3"], nil)
	// Disable: back to no conns anywhere.
	if _, err := tc.first.store.SetSwitch(ctx, false, "n1"); err != nil {
		t.Fatal(err)
	}
	r = tc.waitOK("off")
	if r.Desired.Phase != PhaseOff {
		t.Fatalf("phase %s", r.Desired.Phase)
	}
	tc.w.mu.Lock()
	defer tc.w.mu.Unlock()
	for _, n := range []string{"n1", "n2", "n4"} {
		if len(tc.w.conns[n]) != 0 {
			t.Fatalf("%s keeps conns after disable: %v", n, tc.w.conns[n])
		}
		checkBypass(t, tc.nodes[n], nil)
	}
	if len(tc.w.violations) != 0 {
		t.Fatalf("rollout order broken: %v", tc.w.violations)
	}
}

func TestConcurrentSwitch(t *testing.T) {
	tc := newTestCluster(t, "psk")
	ctx := context.Background()
	st := tc.first.store
	d, rev, err := st.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes read the same state and write different decisions: one
	// wins, the other is told.
	on, off := d, d
	on.State, on.Generation, on.Phase = "on", d.Generation+1, PhaseLoaded
	off.State, off.Generation, off.Phase = "off", d.Generation+1, PhaseOff
	errs := make(chan error, 2)
	go func() { errs <- st.CASDesired(ctx, rev, on) }()
	go func() { errs <- st.CASDesired(ctx, rev, off) }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("want exactly one winner: %v / %v", e1, e2)
	}
	if !errors.Is(e1, ErrConflict) && !errors.Is(e2, ErrConflict) {
		t.Fatalf("loser not told of the conflict: %v / %v", e1, e2)
	}
}

func TestTokens(t *testing.T) {
	tc := newTestCluster(t, "pubkey")
	ctx := context.Background()
	st := tc.first.store
	nodesBefore := func() int {
		ns, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(ns)
	}
	ca, err := readCert(Paths{tc.first.dir}.CACert())
	if err != nil {
		t.Fatal(err)
	}
	single, err := st.CreateToken(ctx, CAHash(ca), time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	short, err := st.CreateToken(ctx, CAHash(ca), time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := ParseToken(tc.token)
	wrongCA := "cyg1." + tk.ID + "." + tk.Secret + "." + CAHash(other.Cert)
	wrongSecret := "cyg1." + tk.ID + ".aaaaaaaa." + tk.CAHash
	if _, err := Join(ctx, filepath.Join(t.TempDir(), "a"), single, "a", "127.0.0.5", tc.join); err != nil {
		t.Fatalf("single-use token, first use: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // let the 1 s token expire: its expiry is the thing under test
	n := nodesBefore()
	for _, c := range []struct{ name, token, want string }{
		{"reused", single, "no uses left"},
		{"expired", short, "expired"},
		{"wrong CA", wrongCA, "not signed by the CA the token pins"},
		{"wrong secret", wrongSecret, "wrong secret"},
		{"garbage", "hello", "malformed"},
	} {
		dir := filepath.Join(t.TempDir(), "x")
		_, err := Join(ctx, dir, c.token, "x", "127.0.0.6", tc.join)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "node.json")); err == nil {
			t.Errorf("%s: node.json written", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, "node.key")); err == nil {
			t.Errorf("%s: key written for a refused join", c.name)
		}
	}
	if got := nodesBefore(); got != n {
		t.Fatalf("refused joins wrote nodes: %d -> %d", n, got)
	}
	// A duplicate name is refused too.
	if _, err := Join(ctx, filepath.Join(t.TempDir(), "a2"), tc.token, "a", "127.0.0.7", tc.join); err == nil || !strings.Contains(err.Error(), "already a member") {
		t.Fatalf("duplicate name: %v", err)
	}
}

func TestParseStatus(t *testing.T) {
	out := `Security Associations (2 up, 0 connecting):
      cyg-n2[3]: ESTABLISHED 5 seconds ago, 10.0.0.1[n1]...10.0.0.2[n2]
      cyg-n2{1}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: c1a2b3c4_i c5d6e7f8_o
      cyg-n2{1}:   AES_GCM_16_256, 840 bytes_i (10 pkts, 1s ago), 420 bytes_o (5 pkts, 1s ago), rekeying in 50 minutes
      cyg-n3[4]: CONNECTING, 10.0.0.1[%any]...10.0.0.3[%any]
      cyg-n4{2}:  ROUTED, TRANSPORT, reqid 2
`
	m := ParseStatus(out)
	if m["cyg-n2"].State != "ESTABLISHED" || m["cyg-n2"].BytesIn != 840 || m["cyg-n2"].BytesOut != 420 || m["cyg-n2"].SPIs != "c1a2b3c4_i c5d6e7f8_o" || m["cyg-n2"].SAAge != "5 seconds" {
		t.Errorf("n2: %+v", m["cyg-n2"])
	}
	if m["cyg-n3"].State != "connecting" {
		t.Errorf("n3: %+v", m["cyg-n3"])
	}
	if m["cyg-n4"].State != "routed" {
		t.Errorf("n4: %+v", m["cyg-n4"])
	}
}

func TestBackupRestore(t *testing.T) {
	tc := newTestCluster(t, "psk")
	ctx := context.Background()
	st := tc.first.store
	if _, err := st.SetSwitch(ctx, true, "n1"); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := st.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	// Lose the setting (as a restore of an old store would), then restore.
	if _, err := st.SetSwitch(ctx, false, "n1"); err != nil {
		t.Fatal(err)
	}
	before, _, _ := st.Desired(ctx)
	if err := st.Restore(ctx, strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	d, _, err := st.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "on" || d.Generation <= before.Generation || d.Phase != PhaseLoaded {
		t.Fatalf("restored %+v (before %+v)", d, before)
	}
	if err := st.Restore(ctx, strings.NewReader(`{"format":"x"}`)); err == nil {
		t.Fatal("bad backup accepted")
	}
}

// checkBypass asserts that n's kernel holds exactly the store's pass
// policies towards the other members (none when members is nil): four per
// peer and store port, all TCP, at the bypass priority.
func checkBypass(t *testing.T, n *testNode, members []string) {
	t.Helper()
	a := &Agent{NC: n.nc}
	ports := a.storePorts()
	want := 0
	for _, m := range members {
		if m != n.nc.Advertise {
			want += 4 * len(ports)
		}
	}
	pols := n.kernel.Policies()
	if len(pols) != want {
		t.Fatalf("%s: %d bypass policies, want %d (members %v, ports %v):\n%s", n.name, len(pols), want, members, ports, strings.Join(n.kernel.Render(), "\n"))
	}
	for _, p := range pols {
		peer := p.Selector.Dst
		if p.Dir == xfrm.In {
			peer = p.Selector.Src
		}
		if p.Action != xfrm.Pass || p.Priority != bypassPriority || p.Selector.Proto != 6 || !slices.Contains(members, peer.String()) {
			t.Errorf("%s: unexpected policy %v (priority %d)", n.name, &p, p.Priority)
		}
		port := p.Selector.SrcPort + p.Selector.DstPort
		if !slices.Contains(ports, port) {
			t.Errorf("%s: policy %v on port %d, not a store port %v", n.name, &p, port, ports)
		}
	}
}

// TestHAStore: with --voters 3 the second and third nodes to join run
// store members (learners, then promoted by the agents), the fourth is a
// client; every node learns the voters' endpoints. The first node then
// dies for good: the switch still works from another node, and the dead
// node (and its store member) can be removed, after which the rollout
// completes among the survivors.
func TestHAStore(t *testing.T) {
	t0 := time.Now()
	tc := newTestClusterVoters(t, "psk", 3)
	ctx := context.Background()
	// Two nodes race for one single-use token, each of which would become
	// a voter: one is admitted, the other refused, and the store's
	// membership holds the winner's learner only.
	ca, err := readCert(Paths{tc.first.dir}.CACert())
	if err != nil {
		t.Fatal(err)
	}
	single, err := tc.first.store.CreateToken(ctx, CAHash(ca), time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		name, dir string
		nc        NodeConfig
		err       error
	}
	results := make(chan result, 2)
	for _, c := range []struct{ name, ip string }{{"n2", "127.0.0.2"}, {"n2b", "127.0.0.12"}} {
		go func() {
			dir := filepath.Join(t.TempDir(), c.name)
			nc, err := JoinPorts(ctx, dir, single, c.name, c.ip, tc.join, freePort(t), freePort(t))
			results <- result{c.name, dir, nc, err}
		}()
	}
	var won result
	for range 2 {
		r := <-results
		switch {
		case r.err == nil && won.name == "":
			won = r
		case r.err == nil:
			t.Fatalf("both joins with a single-use token admitted (%s, %s)", won.name, r.name)
		case !strings.Contains(r.err.Error(), "no uses left"):
			t.Errorf("%s: refused with %v, want no uses left", r.name, r.err)
		}
	}
	if won.name == "" {
		t.Fatal("no join admitted")
	}
	if m, err := tc.first.store.C.MemberList(ctx); err != nil || len(m.Members) != 2 {
		t.Fatalf("store members after the race: %v %v, want n1 and %s's learner", m, err, won.name)
	}
	e, err := StartEmbedded(ctx, won.dir, won.nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEtcd(e) })
	tc.etcd[won.name] = e
	n2 := tc.startAgent(won.name, won.dir, won.nc)
	tc.joinNode("n3", "127.0.0.3")
	n4 := tc.joinNode("n4", "127.0.0.4")
	if !n2.nc.Embedded || !tc.nodes["n3"].nc.Embedded || n4.nc.Embedded {
		t.Fatalf("voters: %s %v n3 %v n4 %v, want true true false", won.name, n2.nc.Embedded, tc.nodes["n3"].nc.Embedded, n4.nc.Embedded)
	}
	waitFor(t, "three voting store members", func() bool {
		r, err := tc.first.store.C.MemberList(ctx)
		if err != nil || len(r.Members) != 3 {
			return false
		}
		for _, m := range r.Members {
			if m.IsLearner {
				return false
			}
		}
		return true
	})
	for _, name := range []string{won.name, "n3", "n4"} {
		dir := tc.nodes[name].dir
		waitFor(t, name+" knows the three voters", func() bool {
			nc, err := LoadNodeConfig(dir)
			return err == nil && len(nc.Endpoints) == 3
		})
	}
	tc.waitOK("four nodes off")
	t.Logf("%v: 3 voters and a client, all knowing the voters", time.Since(t0).Round(time.Millisecond))

	// n1 dies: its agent and its store member stop.
	tc.nodes["n1"].cancel()
	closeEtcd(tc.etcd["n1"])
	st := n2.store
	if _, err := st.SetSwitch(ctx, true, "n2"); err != nil {
		t.Fatalf("enable with the first node dead: %v", err)
	}
	t.Logf("%v: enabled with n1 dead", time.Since(t0).Round(time.Millisecond))
	if err := st.RemoveMember(ctx, "n1", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	var r Report
	waitFor(t, "the survivors enforced", func() bool {
		var err error
		r, err = st.BuildReport(ctx)
		return err == nil && r.OK && r.Desired.Phase == PhaseEnforced
	})
	t.Logf("%v: survivors enforced", time.Since(t0).Round(time.Millisecond))
	if len(r.Pairs) != 3 {
		t.Fatalf("%d pairs among the survivors, want 3: %+v", len(r.Pairs), r.Pairs)
	}
	m, err := st.C.MemberList(ctx)
	if err != nil || len(m.Members) != 2 {
		t.Fatalf("store members after removing n1: %v %v", m, err)
	}
	// The last two voters cannot lose one more: the only member is kept.
	if err := (&Store{C: st.C}).RemoveMember(ctx, "nobody", "192.0.2.9"); err != nil {
		t.Errorf("removing a non-member: %v", err)
	}
}

var closed sync.Map

// closeEtcd stops an embedded member once (embed.Etcd.Close panics when
// called twice).
func closeEtcd(e *embed.Etcd) {
	if _, done := closed.LoadOrStore(e, true); !done {
		e.Close()
	}
}

// TestExternalEtcd: a cluster kept in an etcd the operator runs, reached
// with the operator's own CA and per-node client certificates. init takes
// the store's endpoints and credentials, refuses an etcd that already
// holds a cluster, a joiner without credentials is refused before
// anything is written, and the rollout runs as with the embedded store.
func TestExternalEtcd(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	ca, err := NewCA("operator etcd CA")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(base, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	issue := func(name, ip string) (certFile, keyFile string) {
		k, csrDER, err := NewCSR(name)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(csrDER)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.Sign(csr, name, net.ParseIP(ip))
		if err != nil {
			t.Fatal(err)
		}
		kb, err := keyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".crt", certPEM(c)), write(name+".key", kb)
	}
	caFile := write("etcd-ca.crt", certPEM(ca.Cert))
	srvCert, srvKey := issue("etcd", "127.0.0.1")
	cfg := embed.NewConfig()
	cfg.Name = "operator-etcd"
	cfg.Dir = filepath.Join(base, "etcd-data")
	cu := url.URL{Scheme: "https", Host: hostPort("127.0.0.1", freePort(t))}
	pu := url.URL{Scheme: "http", Host: hostPort("127.0.0.1", freePort(t))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(base, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEtcd(e) })
	<-e.Server.ReadyNotify()

	c1, k1 := issue("n1", "127.0.0.1")
	dir1 := filepath.Join(base, "n1")
	o := InitOptions{Name: "n1", Advertise: "127.0.0.1", ClientPort: freePort(t), PeerPort: freePort(t), JoinPort: freePort(t),
		Auth: "psk", Voters: 1, EtcdEndpoints: []string{cu.String()}, EtcdCA: caFile, EtcdCert: c1, EtcdKey: k1}
	tok, err := InitWith(ctx, dir1, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InitWith(ctx, filepath.Join(base, "other"), o); err == nil || !strings.Contains(err.Error(), "already holds a cygnet cluster") {
		t.Fatalf("second init on the same etcd: %v", err)
	}
	nc1, err := LoadNodeConfig(dir1)
	if err != nil {
		t.Fatal(err)
	}
	if nc1.Embedded || nc1.EtcdCA == "" || len(nc1.Endpoints) != 1 || nc1.Endpoints[0] != cu.String() {
		t.Fatalf("node.json of an external-etcd init: %+v", nc1)
	}
	tc := &testCluster{t: t, w: newWorld(), nodes: map[string]*testNode{}, etcd: map[string]*embed.Etcd{}, token: tok}
	tc.first = tc.startAgent("n1", dir1, nc1)
	jctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go (&JoinServer{Dir: dir1, Store: tc.first.store, NC: nc1}).ListenJoin(jctx)
	tc.join = hostPort("127.0.0.1", o.JoinPort)
	waitFor(t, "join endpoint", func() bool {
		c, err := net.Dial("tcp", tc.join)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	dir2 := filepath.Join(base, "n2")
	if _, err := Join(ctx, dir2, tok, "n2", "127.0.0.2", tc.join); err == nil || !strings.Contains(err.Error(), "--etcd-ca") {
		t.Fatalf("join without etcd credentials: %v", err)
	}
	if nodes, _ := tc.first.store.Nodes(ctx); len(nodes) != 1 {
		t.Fatalf("a refused join wrote a node: %+v", nodes)
	}
	c2, k2 := issue("n2", "127.0.0.2")
	nc2, err := JoinWith(ctx, dir2, tok, tc.join, JoinOptions{Name: "n2", Advertise: "127.0.0.2", EtcdCA: caFile, EtcdCert: c2, EtcdKey: k2})
	if err != nil {
		t.Fatal(err)
	}
	if nc2.Embedded || nc2.EtcdCert == "" || nc2.Endpoints[0] != cu.String() {
		t.Fatalf("joiner's node.json: %+v", nc2)
	}
	tc.startAgent("n2", dir2, nc2)
	tc.waitOK("two nodes off")
	if _, err := tc.first.store.SetSwitch(ctx, true, "n2"); err != nil {
		t.Fatal(err)
	}
	r := tc.waitOK("enforced on the external store")
	if r.Desired.Phase != PhaseEnforced || len(r.Pairs) != 1 {
		t.Fatalf("report: %+v", r)
	}
}

// TestStoreDownDuringRollout stops the store at several moments of enable
// and of disable (right after the switch, and a little into the rollout,
// so that it goes down in different phases). While it is down, the agents
// change nothing (fail static: waited for by counting their failed rounds,
// not by sleeping); once it is back, the rollout completes in order.
func TestStoreDownDuringRollout(t *testing.T) {
	tc := newTestCluster(t, "psk")
	tc.joinNode("n2", "127.0.0.2")
	tc.joinNode("n3", "127.0.0.3")
	tc.waitOK("three nodes off")
	ctx := context.Background()
	first := tc.first
	applies := func() int {
		tc.w.mu.Lock()
		defer tc.w.mu.Unlock()
		return tc.w.applies
	}
	// waitFails waits until every agent has failed n more rounds.
	waitFails := func(n int) {
		base := map[string]int{}
		for name, nd := range tc.nodes {
			base[name] = nd.rounds.failed()
		}
		waitFor(t, fmt.Sprintf("%d failed rounds on every agent", n), func() bool {
			for name, nd := range tc.nodes {
				if nd.rounds.failed() < base[name]+n {
					return false
				}
			}
			return true
		})
	}
	on := true
	for i, delay := range []time.Duration{0, 0, 300 * time.Millisecond, 300 * time.Millisecond} {
		if _, err := first.store.SetSwitch(ctx, on, "n1"); err != nil {
			t.Fatalf("step %d: switch: %v", i, err)
		}
		time.Sleep(delay) // where in the rollout the store dies; any moment must do
		closeEtcd(tc.etcd["n1"])
		// A round that read the store before it went down may still
		// apply; after two failed rounds each, nothing may change.
		waitFails(1)
		before := applies()
		waitFails(2)
		if after := applies(); after != before {
			t.Fatalf("step %d: %d applies while the store was down", i, after-before)
		}
		e, err := StartEmbedded(ctx, first.dir, first.nc)
		if err != nil {
			t.Fatalf("step %d: store restart: %v", i, err)
		}
		tc.etcd["n1"] = e
		t.Cleanup(func() { closeEtcd(e) })
		want := PhaseEnforced
		if !on {
			want = PhaseOff
		}
		waitFor(t, fmt.Sprintf("step %d: rollout to %s after the store came back", i, want), func() bool {
			r := tc.report()
			return r.OK && r.Desired.Phase == want
		})
		on = !on
	}
	tc.w.mu.Lock()
	defer tc.w.mu.Unlock()
	if len(tc.w.violations) != 0 {
		t.Fatalf("rollout order broken: %v", tc.w.violations)
	}
}

// testLogOut is where the agents log: nowhere, or stderr with
// CYGNET_TEST_LOG=1 when a test needs reading.
func testLogOut() io.Writer {
	if os.Getenv("CYGNET_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}
