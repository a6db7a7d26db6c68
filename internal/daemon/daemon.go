// Package daemon is cygnet's keying daemon: it joins the strongSwan
// configuration reader (package config), the IKEv2 engine (package ike), the
// IKE UDP sockets (ike/udp) and the kernel data path (package xfrm) into the
// process that `ipsec start` runs, and answers the `ipsec` commands on a
// root-only control socket (internal/control).
//
// Unlike strongSwan it fails closed across crashes: at start, policies that
// a previous cygnet left in the kernel are turned into block policies (one
// atomic XFRM_MSG_UPDPOLICY each) until new SAs replace them, so protected
// traffic never leaves in clear; at stop it removes what it installed.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/udp"
	"github.com/cygnet-ipsec/cygnet/internal/control"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Version is printed by `ipsec version` and in statusall.
const Version = "cygnet 0.1 (strongSwan 5.9.8 compatible)"

// Options configure the daemon.
type Options struct {
	// ConfDir holds ipsec.conf, ipsec.secrets, strongswan.conf and
	// ipsec.d; empty finds Debian's or RHEL's layout.
	ConfDir string
	// PidDir holds charon.pid and the control socket (strongSwan's piddir,
	// /var/run).
	PidDir string
	// Netns is the network namespace whose XFRM the daemon manages, by
	// path; empty is the daemon's own (/proc/self/ns/net).
	Netns string
	// Logger overrides the logging strongswan.conf and charondebug
	// configure; Debug raises the stderr level to debug.
	Logger *slog.Logger
	Debug  bool
}

// DefaultPidDir is strongSwan's piddir.
const DefaultPidDir = "/var/run"

// PidFile and CtlFile are the daemon's files in the pid directory.
func PidFile(piddir string) string { return filepath.Join(orDefault(piddir), "charon.pid") }

// CtlFile is the control socket's path.
func CtlFile(piddir string) string { return filepath.Join(orDefault(piddir), "cygnet.ctl") }

func orDefault(piddir string) string {
	if piddir == "" {
		return DefaultPidDir
	}
	return piddir
}

// Daemon is a running keying daemon.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	kernel kernel
	conn   *udp.Conn

	mu     sync.Mutex
	loaded *config.Loaded
	engine *ike.Engine

	// events is the engine's event stream, acted on (updown scripts,
	// firewall rules) one at a time in the engine's order by runEvents;
	// shutdown waits for it to drain.
	events     eventQueue
	eventsDone chan struct{}

	// life ends when the daemon stops (stop cancels it). Every goroutine
	// the daemon starts on its own account (ACQUIREs and reloads, the
	// kernel watch) runs under it and is counted in loops, so that
	// shutdown can wait for them. The keyingtries loops of auto=start
	// conns are the engine's (ike.Engine.Start), ended by its Drain.
	life    context.Context
	stop    context.CancelFunc
	loops   sync.WaitGroup
	stopped chan struct{}

	vici viciState // the VICI socket and what was loaded over it (vici.go)
}

// kernel is what the daemon needs of the XFRM data path: *xfrm.Handle on
// Linux. It is an interface so that tests can run the daemon's lifecycle
// (reload, stop) against an in-memory kernel, without root.
type kernel interface {
	xfrm.Installer
	Policies(ctx context.Context) ([]xfrm.InstalledPolicy, error)
	States(ctx context.Context) ([]xfrm.InstalledState, error)
	Watch(ctx context.Context) (<-chan xfrm.Event, <-chan error, error)
	Flush(ctx context.Context) error
}

// newDaemon returns a daemon for a loaded configuration; Run adds the
// sockets and the engine.
func newDaemon(o Options, log *slog.Logger, k kernel, loaded *config.Loaded) *Daemon {
	d := &Daemon{opts: o, log: log, started: time.Now(), kernel: k, loaded: loaded,
		stopped: make(chan struct{}), eventsDone: make(chan struct{})}
	d.events.init()
	d.life, d.stop = context.WithCancel(context.Background())
	return d
}

// goInitiate has the engine bring a connection up in the background,
// retrying per keyingtries (ike.Engine.Start); the engine ends the loop
// when it drains at shutdown.
func (d *Daemon) goInitiate(name string) {
	if err := d.engine.Start(name); err != nil && !errors.Is(err, ike.ErrClosed) {
		d.log.Error("cannot start connection", "conn", name, "err", err)
	}
}

// LoadConfig reads the configuration, printing every diagnostic (with
// file:line) to w. As strongSwan does, a conn with errors is refused and
// the others are loaded (each refusal is printed); errors that concern no
// single conn (syntax, config setup, ipsec.secrets, unreadable files)
// refuse the whole configuration.
func LoadConfig(confdir string, w io.Writer) (*config.Loaded, error) {
	loaded, _, err := loadConfig(confdir, w)
	return loaded, err
}

// loadConfig is LoadConfig that also returns the refused conns.
func loadConfig(confdir string, w io.Writer) (*config.Loaded, []config.Refusal, error) {
	layout, err := config.FindLayout(confdir)
	if err != nil {
		return nil, nil, err
	}
	loaded, diags := config.Load(layout, nil)
	for _, d := range diags {
		if d.Severity != config.Info {
			fmt.Fprintln(w, d.String())
		}
	}
	refused, fatal := loaded.Split(diags)
	if len(fatal) > 0 {
		return nil, nil, fmt.Errorf("daemon: configuration in %s has errors: %w", layout.Dir, fatal.Err())
	}
	for _, r := range refused {
		fmt.Fprintf(w, "%s: error: conn %s refused: not loaded because of the errors above; the other conns are\n", r.Pos, r.Conn)
	}
	return loaded, refused, nil
}

// logRefused reports each refused conn at error level, naming where it is
// written and why.
func logRefused(log *slog.Logger, refused []config.Refusal, kept []string) {
	for _, r := range refused {
		msgs := make([]string, len(r.Errors))
		for i, e := range r.Errors {
			msgs[i] = e.String()
		}
		msg := "conn refused: not loaded because of errors"
		if slices.Contains(kept, r.Conn) {
			msg = "conn refused: its new version has errors; the running version stays"
		}
		log.Error(msg, "conn", r.Conn, "at", r.Pos.String(), "errors", strings.Join(msgs, "; "))
	}
}

// Run runs the daemon until ctx is done or a stop command arrives. It
// returns after removing its SAs and policies from the kernel.
func Run(ctx context.Context, o Options) error {
	lock, err := lockPID(PidFile(o.PidDir))
	if err != nil {
		return err
	}
	defer lock.release()

	loaded, refused, err := loadConfig(o.ConfDir, os.Stderr)
	if err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		var closer io.Closer
		log, closer, err = NewLogger(loaded.Strongswan, loaded.IPsec.Setup.CharonDebug, os.Stderr, o.Debug)
		if err != nil {
			return err
		}
		defer closer.Close()
	}
	logRefused(log, refused, nil)
	nsPath := o.Netns
	if nsPath == "" {
		nsPath = "/proc/self/ns/net"
	}
	kernel, err := xfrm.Open(nsPath)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer kernel.Close()

	d := newDaemon(o, log, kernel, loaded)
	held, err := d.failClosed(ctx)
	if err != nil {
		return err
	}
	d.probeKernel(ctx)

	sw := loaded.Strongswan
	port, natPort := uint16(500), uint16(4500)
	if sw != nil {
		port, natPort = sw.Port, sw.PortNATT
	}
	var conn *udp.Conn
	err = xfrm.InNamespace(nsPath, func() (err error) {
		conn, err = udp.Listen(udp.Config{Port: port, NATPort: natPort})
		return err
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.conn = conn
	defer conn.Close()

	// Host names in left=/right= are resolved once here, before the engine
	// owns the configuration; a name that does not resolve leaves its conn
	// unable to initiate, which Initiate reports.
	d.resolve(ctx, loaded)
	// charon.keep_alive is in loaded.Config (config.Load), on reload too.
	eng, err := ike.New(ike.Options{Config: &loaded.Config, Transport: conn, Kernel: kernel, Logger: log, OnEvent: d.onEvent})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.setEngine(eng)

	ctl, err := control.Listen(CtlFile(o.PidDir), d.handle)
	if err != nil {
		eng.Close()
		d.events.close()
		<-d.eventsDone
		return err
	}
	stopVICI, err := d.startVICI(d.life)
	if err != nil {
		ctl.Close()
		eng.Close()
		d.events.close()
		<-d.eventsDone
		return err
	}
	// The caller's ctx ending stops the daemon as `ipsec stop` does; from
	// here on everything runs for the daemon's lifetime.
	defer context.AfterFunc(ctx, d.stop)()
	ctx = d.life
	serveDone := make(chan struct{})
	go func() {
		ctl.Serve(ctx)
		close(serveDone)
	}()
	go conn.Serve(eng.Dispatch)
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		d.watchKernel(ctx)
	}()

	log.Info("cygnet daemon started", "version", Version, "config", loaded.Layout.Dir,
		"connections", len(loaded.Config.Connections), "refused", config.RefusedNames(refused), "port", port, "nat_port", natPort)
	d.startConns(ctx, held)

	<-ctx.Done()
	log.Info("cygnet daemon stopping")
	ctl.Close()
	stopVICI()
	d.shutdown()
	// Let in-flight commands (the `ipsec stop` that stopped us) write
	// their result before the process exits.
	select {
	case <-serveDone:
	case <-time.After(5 * time.Second):
	}
	return nil
}

// failClosed turns the protect policies a previous cygnet left behind into
// block policies and removes its stale states (their keys died with it). It
// returns the remote addresses whose traffic is now held, so that their
// connections are negotiated again even when auto=add.
func (d *Daemon) failClosed(ctx context.Context) (map[netip.Addr]bool, error) {
	pols, err := d.kernel.Policies(ctx)
	if err != nil {
		return nil, fmt.Errorf("daemon: reading kernel policies: %w", err)
	}
	held := map[netip.Addr]bool{}
	for _, p := range pols {
		if !xfrm.Owned(p.ReqID) || p.Action == xfrm.Block {
			continue
		}
		blk := p.Policy
		blk.Action = xfrm.Block
		if err := d.kernel.InstallPolicy(ctx, &blk); err != nil {
			return nil, fmt.Errorf("daemon: holding %v: %w", &p.Policy, err)
		}
		if p.Dir == xfrm.Out {
			held[p.Selector.Dst] = true
		}
	}
	states, err := d.kernel.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("daemon: reading kernel states: %w", err)
	}
	for _, s := range states {
		if xfrm.Owned(s.ReqID) {
			if err := d.kernel.DeleteState(ctx, s.ID()); err != nil {
				return nil, err
			}
		}
	}
	if len(held) > 0 {
		d.log.Warn("found SAs of a previous cygnet: holding their traffic (block policies) until renegotiated", "peers", len(held))
	}
	return held, nil
}

// probeKernel installs and removes one AES-GCM ESP state per address
// family on loopback. The first install makes the kernel load esp4/esp6 and
// instantiate rfc4106(gcm(aes)), which runs the crypto self-tests: done
// here, that cost is not paid inside the first negotiation (under
// emulation it exceeds the peer's retransmission timeout). A kernel without
// ESP or GCM is reported plainly at start.
func (d *Daemon) probeKernel(ctx context.Context) {
	for _, lo := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
		spi, err := d.kernel.AllocSPI(ctx, lo, lo, xfrm.ReqIDMax)
		if err != nil {
			d.log.Warn("kernel cannot allocate ESP SPIs; SAs will fail", "family", familyName(lo), "err", err)
			continue
		}
		s := xfrm.State{Src: lo, Dst: lo, SPI: spi, ReqID: xfrm.ReqIDMax, Dir: xfrm.In,
			Encryption: xfrm.AESGCM16_256, EncKey: make([]byte, 36), ReplayWindow: 32}
		start := time.Now()
		if err := d.kernel.InstallState(ctx, &s); err != nil {
			d.log.Warn("kernel cannot install ESP AES-GCM SAs (needs esp4/esp6 and rfc4106(gcm(aes))); SAs will fail",
				"family", familyName(lo), "err", err)
		} else {
			d.log.Debug("kernel ESP AES-GCM ready", "family", familyName(lo), "took", time.Since(start))
		}
		d.kernel.DeleteState(ctx, s.ID())
	}
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// startConns initiates auto=start connections and those whose traffic a
// previous daemon's policies now hold, and installs trap policies for
// auto=route. Block policies of connections that are no longer configured
// are removed.
func (d *Daemon) startConns(ctx context.Context, held map[netip.Addr]bool) {
	cfg := &d.loaded.Config
	wanted := map[netip.Addr]bool{}
	for i := range cfg.Connections {
		c := &cfg.Connections[i]
		wanted[c.Remote.Addr] = true
		switch {
		case c.Auto == ike.AutoStart || held[c.Remote.Addr] && c.Auto != ike.AutoIgnore:
			d.goInitiate(c.Name)
		case c.Auto == ike.AutoRoute:
			if err := d.route(ctx, c.Name); err != nil {
				d.log.Error("route failed", "conn", c.Name, "err", err)
			}
		}
	}
	for peer := range held {
		if !wanted[peer] {
			d.unhold(ctx, peer)
		}
	}
}

// unhold removes block policies towards a peer no connection names.
func (d *Daemon) unhold(ctx context.Context, peer netip.Addr) {
	pols, err := d.kernel.Policies(ctx)
	if err != nil {
		return
	}
	for _, p := range pols {
		if xfrm.Owned(p.ReqID) && p.Action == xfrm.Block && (p.Selector.Dst == peer || p.Selector.Src == peer) {
			d.kernel.DeletePolicy(ctx, &p.Policy)
		}
	}
}

func (d *Daemon) connByName(name string) *ike.Connection {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.loaded.Config.Connections {
		if d.loaded.Config.Connections[i].Name == name {
			return &d.loaded.Config.Connections[i]
		}
	}
	return nil
}

// route installs trap policies for a connection: protect policies without
// states, so the kernel raises ACQUIRE on the first packet and the daemon
// negotiates (ipsec.conf auto=route).
func (d *Daemon) route(ctx context.Context, name string) error {
	if d.connByName(name) == nil {
		return fmt.Errorf("no config named '%s'", name)
	}
	return d.engine.Route(ctx, name)
}

func (d *Daemon) unroute(ctx context.Context, name string) error {
	if d.connByName(name) == nil || !d.engine.Routed(name) {
		return fmt.Errorf("configuration '%s' not found", name)
	}
	return d.engine.Unroute(ctx, name)
}

// kernelReconcileEvery is how often the engine's CHILD_SAs are checked
// against the kernel's states, for the notifications that never arrived.
const kernelReconcileEvery = time.Minute

// watchKernel follows the kernel's XFRM events for the daemon's lifetime:
// when the subscription fails it is opened again (with back-off), and the
// engine's SAs are checked against the kernel's states after every
// reopening and once a minute, so that a lost event (a full socket
// buffer, a state deleted by hand) is recovered rather than left as an SA
// that says INSTALLED and carries nothing.
func (d *Daemon) watchKernel(ctx context.Context) {
	tick := time.NewTicker(kernelReconcileEvery)
	defer tick.Stop()
	first := true
	for attempt := 1; ctx.Err() == nil; attempt++ {
		events, errc, err := d.kernel.Watch(ctx)
		if err != nil {
			d.log.Error("kernel events unavailable", "err", err)
		} else {
			if !first {
				// What happened while nobody listened is found now.
				d.reconcileKernel(ctx)
			}
			first = false
			if d.followKernel(ctx, events, errc, tick.C) {
				attempt = 0 // it worked for a while: the next failure starts the back-off again
			}
		}
		t := time.NewTimer(ike.Backoff(attempt, rand.Int64N))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// reconcileKernel has the engine recover CHILD_SAs whose states the
// kernel no longer holds.
func (d *Daemon) reconcileKernel(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := d.engine.ReconcileStates(rctx, d.kernel.States)
	if err != nil {
		d.log.Error("kernel reconcile", "err", err)
	} else if n > 0 {
		d.log.Warn("kernel reconcile: CHILD_SAs recovered whose states were gone", "count", n)
	}
}

// followKernel handles one subscription's events until it fails (false
// when it failed at once) or ctx ends.
func (d *Daemon) followKernel(ctx context.Context, events <-chan xfrm.Event, errc <-chan error, tick <-chan time.Time) bool {
	handled := false
	for {
		select {
		case <-tick:
			d.reconcileKernel(ctx)
			continue
		case ev, ok := <-events:
			if !ok {
				return handled
			}
			handled = true
			if ev.Type == xfrm.EventSoftExpire || ev.Type == xfrm.EventHardExpire || ev.Type == xfrm.EventMapping {
				// Byte and packet limits (and the time limits behind the
				// engine's own timers) reach the engine as rekey or
				// removal triggers; a NAT mapping change moves the
				// peer's port.
				d.engine.KernelEvent(ev)
				continue
			}
			if ev.Type != xfrm.EventAcquire {
				continue
			}
			var name string
			for _, n := range d.engine.RoutedNames() {
				if c := d.connByName(n); c != nil && c.Remote.Addr == ev.Dst {
					name = n
				}
			}
			if name != "" {
				d.goInitiate(name)
			}
		case err := <-errc:
			d.log.Error("kernel events lost: subscribing again", "err", err)
			return handled
		case <-ctx.Done():
			return handled
		}
	}
}

// shutdown ends the daemon's goroutines, deletes every SA (telling peers,
// briefly) and removes every object cygnet owns from the kernel.
func (d *Daemon) shutdown() {
	// Cancelled under mu, so that goInitiate starts no loop after this;
	// the loops end before the SAs are deleted, or a retry could set one
	// up again behind Terminate.
	d.mu.Lock()
	d.stop()
	d.mu.Unlock()
	// No new IKE SA from here on, in either direction.
	d.engine.Drain()
	d.loops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.mu.Lock()
	loaded := d.loaded
	d.mu.Unlock()
	var wg sync.WaitGroup
	for i := range loaded.Config.Connections {
		name := loaded.Config.Connections[i].Name
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.engine.Terminate(ctx, name)
		}()
	}
	wg.Wait()
	d.engine.Close()
	// The down scripts of the SAs just deleted run before the process
	// exits, in order, and nothing of the daemon's touches the kernel
	// after the Flush.
	d.events.close()
	<-d.eventsDone
	if err := d.kernel.Flush(context.Background()); err != nil {
		d.log.Error("removing kernel state", "err", err)
	}
	close(d.stopped)
}

// setEngine makes eng the daemon's engine and starts acting on its
// events.
func (d *Daemon) setEngine(eng *ike.Engine) {
	d.engine = eng
	go func() {
		defer close(d.eventsDone)
		d.runEvents()
	}()
}

// onEvent queues an engine event for runEvents. The engine must not wait
// for scripts, so this only queues.
func (d *Daemon) onEvent(ev ike.Event) {
	d.events.push(ev)
}

// runEvents runs the updown script and firewall rules of CHILD_SA events,
// in the order the engine reported them, until the queue is closed and
// drained. (The engine itself turns a routed conn's policies back into
// its trap when a CHILD_SA goes; nothing here touches policies.)
func (d *Daemon) runEvents() {
	for {
		ev, ok := d.events.pop()
		if !ok {
			return
		}
		d.runUpdown(ev)
		d.viciEvent(ev)
	}
}

// eventQueue is an unbounded FIFO of engine events: push never blocks
// (the engine calls it), pop waits for the next event and reports false
// once the queue is closed and empty.
type eventQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	q      []ike.Event
	closed bool
}

func (q *eventQueue) init() { q.cond = sync.NewCond(&q.mu) }

func (q *eventQueue) push(ev ike.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.q = append(q.q, ev)
	q.cond.Signal()
}

func (q *eventQueue) pop() (ike.Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.q) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.q) == 0 {
		return ike.Event{}, false
	}
	ev := q.q[0]
	q.q[0] = ike.Event{}
	q.q = q.q[1:]
	return ev, true
}

// close makes pop report the end once the queued events are taken.
func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}
