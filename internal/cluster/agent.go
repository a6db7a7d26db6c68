package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Agent reconciles one node with the store: it renders the strongSwan
// files for the desired state, makes the daemon apply them, reports what
// the daemon sees, and moves the rollout's phase on when every live node
// has caught up. When the store is unreachable it changes nothing: the
// last applied files and the kernel's policies stay (fail static).
type Agent struct {
	Dir     string // state dir (identity)
	NC      NodeConfig
	Store   *Store
	Daemon  Daemon
	ConfDir string // where ipsec.conf, ipsec.secrets and ipsec.d/ are written
	// Interval between reconciles without store events (status refresh).
	Interval time.Duration
	Log      *slog.Logger
	// LeaseTTL of the liveness key, seconds.
	LeaseTTL int64
	// Kernel, when set, carries the store's bypass policies (bypass.go).
	Kernel PolicyKernel
	// RoundTimeout bounds one reconcile round (store calls and the
	// daemon's commands); 30 s when zero.
	RoundTimeout time.Duration
	// OnRound, when set, is called after every reconcile round with its
	// error (nil when it succeeded), for observers and tests.
	OnRound func(error)
	// Sysctl, when set, is the root of the node's sysctls (/proc/sys):
	// the agent has the kernel queue, not drop, packets waiting for a
	// pair's first SA while the cluster is enabled (larval.go).
	Sysctl string

	mu      sync.Mutex
	applied bool // the daemon loaded our files at least once
	lastObs Observed
	upAsked map[string]time.Time
	metrics *metrics
	bypass  map[bypassKey]xfrm.Policy // installed store bypass policies
	lastErr string                    // the last reconcile error logged
	conns   []string                  // peers with a conn in the applied files
}

// heldPeers are the peers whose pair must not be routed yet: in a routed
// or enforced phase, those that have not reported a conn back to this
// node (a member that joined a moment ago, or this node being new). The
// cluster-wide rollout has every node load every conn before any routes;
// this applies the same rule to each pair that appears later.
func (a *Agent) heldPeers(ctx context.Context, nodes []Node, d Desired) (map[string]bool, error) {
	if d.Phase != PhaseRouted && d.Phase != PhaseEnforced {
		return nil, nil
	}
	obs, err := a.Store.Observed(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, n := range nodes {
		if n.Name == a.NC.Name {
			continue
		}
		if !slices.Contains(obs[n.Name].Conns, a.NC.Name) {
			held[n.Name] = true
		}
	}
	return held, nil
}

func (a *Agent) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// Run reconciles until ctx ends or the node is removed (ErrRemoved, after
// the node's files were emptied).
func (a *Agent) Run(ctx context.Context) error {
	if a.Interval <= 0 {
		a.Interval = 5 * time.Second
	}
	if a.LeaseTTL <= 0 {
		a.LeaseTTL = 10
	}
	a.upAsked = map[string]time.Time{}
	go a.keepAlive(ctx)
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := a.Store.C.Watch(wctx, prefix, clientv3.WithPrefix())
		tick := time.NewTicker(a.Interval)
		err := a.loop(ctx, wch, tick.C)
		tick.Stop()
		cancel()
		if errors.Is(err, ErrRemoved) {
			return err
		}
	}
	return ctx.Err()
}

func (a *Agent) loop(ctx context.Context, wch clientv3.WatchChan, tick <-chan time.Time) error {
	if err := a.round(ctx); errors.Is(err, ErrRemoved) {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				return fmt.Errorf("cluster: watch ended")
			}
			// Our own status writes come back as events: only the switch,
			// membership and others' status move the rollout.
			self := prefixStatus + a.NC.Name
			interesting := false
			for _, ev := range wr.Events {
				if string(ev.Kv.Key) != self {
					interesting = true
				}
			}
			if !interesting {
				continue
			}
		case <-tick:
		}
		if err := a.round(ctx); errors.Is(err, ErrRemoved) {
			return err
		}
	}
}

// round runs Reconcile and logs its failures: each new error once, and
// when rounds succeed again.
func (a *Agent) round(ctx context.Context) error {
	err := a.Reconcile(ctx)
	if a.OnRound != nil {
		a.OnRound(err)
	}
	msg := ""
	if err != nil && !errors.Is(err, ErrRemoved) && ctx.Err() == nil {
		msg = err.Error()
	}
	if msg != a.lastErr {
		if msg != "" {
			a.log().Error("cluster: reconcile failed", "err", err)
		} else {
			a.log().Info("cluster: reconcile works again")
		}
		a.lastErr = msg
	}
	return err
}

// keepAlive holds the node's liveness key on a lease; it re-creates it
// after the store comes back.
func (a *Agent) keepAlive(ctx context.Context) {
	for ctx.Err() == nil {
		// Bounded calls: a call on a black-holed connection must not hold
		// the node's liveness hostage.
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := a.Store.C.Grant(gctx, a.LeaseTTL)
		if err == nil {
			_, err = a.Store.C.Put(gctx, prefixAlive+a.NC.Name, time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(l.ID))
		}
		cancel()
		if err == nil {
			var ch <-chan *clientv3.LeaseKeepAliveResponse
			ch, err = a.Store.C.KeepAlive(ctx, l.ID)
			if err == nil {
				for range ch {
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Reconcile runs one round. Errors reading the store leave everything as
// it is.
func (a *Agent) Reconcile(ctx context.Context) error {
	limit := a.RoundTimeout
	if limit <= 0 {
		limit = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d, rev, err := a.Store.Desired(ctx)
	if err != nil {
		a.count("store_errors")
		return err
	}
	nodes, err := a.Store.Nodes(ctx)
	if err != nil {
		a.count("store_errors")
		return err
	}
	var self *Node
	for i := range nodes {
		if nodes[i].Name == a.NC.Name {
			self = &nodes[i]
		}
	}
	if self == nil {
		// Removed: stop protecting and requiring; nothing of ours stays.
		a.log().Warn("cluster: this node was removed; clearing its conns", "node", a.NC.Name)
		off := Desired{State: "off", Phase: PhaseOff, Auth: d.Auth}
		if err := a.apply(ctx, Render(Node{Name: a.NC.Name, Addr: a.NC.Advertise}, nil, off, "", "", "")); err != nil {
			return err
		}
		if err := a.syncBypass(ctx, nil); err != nil {
			a.log().Error("cluster: removing the store bypass", "err", err)
		}
		if err := a.queueLarval(false); err != nil {
			a.log().Error("cluster: larval queueing", "err", err)
		}
		return ErrRemoved
	}
	a.tendStore(ctx)
	held, err := a.heldPeers(ctx, nodes, d)
	if err != nil {
		a.count("store_errors")
		return err
	}
	files, err := a.render(*self, nodes, d, held)
	if err != nil {
		return err
	}
	// The store's bypass goes in before any SA can exist between members
	// and out only once none can (the files of phase off are loaded).
	if d.Phase != PhaseOff {
		if err := a.syncBypass(ctx, a.wantBypass(nodes, d)); err != nil {
			a.log().Error("cluster: store bypass", "err", err)
			a.count("kernel_errors")
		}
		if err := a.queueLarval(true); err != nil {
			a.log().Error("cluster: larval queueing", "err", err)
			a.count("kernel_errors")
		}
	}
	if err := a.apply(ctx, files); err != nil {
		a.report(ctx, d, err)
		return err
	}
	var conns []string
	if d.Phase != PhaseOff {
		for _, n := range nodes {
			if n.Name != a.NC.Name {
				conns = append(conns, n.Name)
			}
		}
		slices.Sort(conns)
	}
	a.mu.Lock()
	a.conns = conns
	a.mu.Unlock()
	if d.Phase == PhaseOff {
		if err := a.syncBypass(ctx, nil); err != nil {
			a.log().Error("cluster: removing the store bypass", "err", err)
			a.count("kernel_errors")
		}
		if err := a.queueLarval(false); err != nil {
			a.log().Error("cluster: larval queueing", "err", err)
			a.count("kernel_errors")
		}
	}
	// One statusall per round: both the SAs to bring up and the report
	// come from it.
	st, stErr := a.Daemon.Status(ctx)
	if stErr == nil && (d.Phase == PhaseRouted || d.Phase == PhaseEnforced) {
		a.bringUp(ctx, nodes, held, st)
	}
	a.reportStatus(ctx, d, nil, st, stErr)
	return a.advance(ctx, d, rev, nodes)
}

func (a *Agent) render(self Node, nodes []Node, d Desired, held map[string]bool) (Files, error) {
	if d.Auth == "psk" {
		return RenderHeld(self, nodes, d, held, "", "", ""), nil
	}
	p := Paths{a.Dir}
	var bs [3][]byte
	for i, path := range []string{p.CACert(), p.Cert(), p.Key()} {
		b, err := os.ReadFile(path)
		if err != nil {
			return Files{}, fmt.Errorf("cluster: %w", err)
		}
		bs[i] = b
	}
	return RenderHeld(self, nodes, d, held, string(bs[0]), string(bs[1]), string(bs[2])), nil
}

// apply writes the files that differ and has the daemon load them. The
// secrets and credentials go first, so a conn never loads without them.
func (a *Agent) apply(ctx context.Context, f Files) error {
	changed := false
	write := func(rel, content string, mode os.FileMode) error {
		path := filepath.Join(a.ConfDir, rel)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, []byte(content)) {
			return nil
		}
		changed = true
		return writeFile(path, []byte(content), mode)
	}
	for rel, c := range f.Creds {
		mode := os.FileMode(0o644)
		if rel == credKey {
			mode = 0o600
		}
		if err := write(rel, c, mode); err != nil {
			return err
		}
	}
	if err := write("ipsec.secrets", f.IpsecSecrets, 0o600); err != nil {
		return err
	}
	if err := write("ipsec.conf", f.IpsecConf, 0o644); err != nil {
		return err
	}
	a.mu.Lock()
	first := !a.applied
	a.mu.Unlock()
	if !changed && !first {
		return nil
	}
	start := time.Now()
	if err := a.Daemon.Apply(ctx); err != nil {
		a.count("apply_errors")
		return err
	}
	a.log().Info("cluster: files applied", "conns", strings.Count(f.IpsecConf, "\nconn cyg-"), "took", time.Since(start).Round(time.Millisecond))
	a.mu.Lock()
	a.applied = true
	a.mu.Unlock()
	a.count("applies")
	return nil
}

// bringUp initiates the pairs that have no SA yet, from the end with the
// smaller name only, so a pair is not keyed twice at once.
func (a *Agent) bringUp(ctx context.Context, nodes []Node, held map[string]bool, st map[string]PairStatus) {
	for _, n := range nodes {
		// A held pair comes up once routed: an SA negotiated before
		// would be torn down by the conn's change to auto=route.
		if n.Name <= a.NC.Name || held[n.Name] {
			continue
		}
		c := ConnName(n.Name)
		if st[c].State == "ESTABLISHED" || st[c].State == "connecting" {
			continue
		}
		if t, ok := a.upAsked[c]; ok && time.Since(t) < 10*time.Second {
			continue
		}
		a.upAsked[c] = time.Now()
		go func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = a.Daemon.Up(uctx, c)
		}()
	}
}

// report publishes this node's view.
func (a *Agent) report(ctx context.Context, d Desired, applyErr error) {
	st, err := a.Daemon.Status(ctx)
	a.reportStatus(ctx, d, applyErr, st, err)
}

// reportStatus publishes this node's view from a status already read.
func (a *Agent) reportStatus(ctx context.Context, d Desired, applyErr error, st map[string]PairStatus, stErr error) {
	kind, version, esp := a.Daemon.Info(ctx)
	o := Observed{Daemon: kind, Version: version, ESP: esp, At: time.Now().UTC(), Pairs: map[string]PairStatus{}}
	a.mu.Lock()
	o.Conns = a.conns
	a.mu.Unlock()
	if applyErr == nil {
		o.Generation, o.Phase = d.Generation, d.Phase
	} else {
		a.mu.Lock()
		o.Generation, o.Phase = a.lastObs.Generation, a.lastObs.Phase
		a.mu.Unlock()
		o.Error = applyErr.Error()
	}
	if stErr == nil {
		for conn, ps := range st {
			if peer, ok := strings.CutPrefix(conn, ConnName("")); ok && peer != "" {
				o.Pairs[peer] = ps
			}
		}
	} else if o.Error == "" {
		o.Error = stErr.Error()
	}
	a.mu.Lock()
	a.lastObs = o
	a.mu.Unlock()
	a.observe(o)
	if err := a.Store.PutObserved(ctx, a.NC.Name, o); err != nil {
		a.count("store_errors")
	}
}

// advance moves the rollout to its next phase when every live member has
// applied the current one (and, for enforced, every pair among them is
// ESTABLISHED on both ends). Any agent may do it; the compare-and-swap on
// the switch's revision makes exactly one succeed.
func (a *Agent) advance(ctx context.Context, d Desired, rev int64, nodes []Node) error {
	next := map[string]string{PhaseLoaded: PhaseRouted, PhaseRouted: PhaseEnforced, PhaseUnrouted: PhaseOff}[d.Phase]
	if next == "" {
		return nil
	}
	alive, err := a.Store.Alive(ctx)
	if err != nil {
		return err
	}
	obs, err := a.Store.Observed(ctx)
	if err != nil {
		return err
	}
	if !Ready(d, nodes, alive, obs) {
		return nil
	}
	d.Phase = next
	d.At = time.Now().UTC()
	if err := a.Store.CASDesired(ctx, rev, d); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	a.log().Info("cluster: rollout phase", "generation", d.Generation, "phase", next)
	return nil
}

// Ready reports whether every live member applied d's phase (and, in
// routed, every pair among live members is ESTABLISHED at both ends).
func Ready(d Desired, nodes []Node, alive map[string]bool, obs map[string]Observed) bool {
	live := []string{}
	for _, n := range nodes {
		if alive[n.Name] {
			live = append(live, n.Name)
		}
	}
	if len(live) == 0 {
		return false
	}
	for _, n := range live {
		o, ok := obs[n]
		if !ok || o.Generation != d.Generation || o.Phase != d.Phase || o.Error != "" {
			return false
		}
		if d.Phase == PhaseRouted {
			for _, p := range live {
				if p != n && o.Pairs[p].State != "ESTABLISHED" {
					return false
				}
			}
		}
	}
	return true
}

// tendStore promotes the store's learners that have caught up (on the
// leader)
// and keeps node.json's endpoints up to date with the store's voters, so
// that a restart reaches the store even when the first node is gone.
func (a *Agent) tendStore(ctx context.Context) {
	if a.NC.Embedded && a.Store.leads(ctx, (&url.URL{Scheme: "https", Host: hostPort(a.NC.Advertise, a.NC.ClientPort)}).String()) {
		names, err := a.Store.promoteLearners(ctx)
		if err != nil {
			a.log().Warn("cluster: promoting store learners", "err", err)
		}
		for _, n := range names {
			a.log().Info("cluster: store member promoted to voter", "node", n)
		}
	}
	if a.NC.EtcdCA != "" || a.NC.EtcdCert != "" || a.Dir == "" {
		return // an external store's endpoints are the operator's
	}
	// The client learns the voters' URLs from the membership (a learner
	// counts once promoted).
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := a.Store.syncEndpoints(sctx)
	cancel()
	if err != nil {
		return
	}
	eps := slices.Clone(a.Store.C.Endpoints())
	slices.Sort(eps)
	old := slices.Clone(a.NC.Endpoints)
	slices.Sort(old)
	if len(eps) == 0 || slices.Equal(eps, old) {
		return
	}
	a.NC.Endpoints = eps
	if err := saveNodeConfig(a.Dir, a.NC); err != nil {
		a.log().Warn("cluster: saving the store's endpoints", "err", err)
		return
	}
	a.log().Info("cluster: store endpoints", "endpoints", eps)
}
