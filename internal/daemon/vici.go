package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/vici"
	"golang.org/x/sys/unix"
)

// The daemon serves strongSwan's VICI protocol (package vici) on
// charon's socket, so that swanctl, govici and the tools built on them
// drive cygnet as they drive charon. Connections and shared keys loaded
// over VICI live beside those of ipsec.conf and ipsec.secrets, as in
// charon: the engine runs their union, and an `ipsec reload` keeps the
// VICI ones.

// viciVersion is what the version command reports as the strongSwan
// version: tools compare it to decide which commands exist, so it is the
// strongSwan release whose behaviour cygnet follows; "daemon" names cygnet.
const viciVersion = "5.9.8"

// viciState is the VICI side of the daemon.
type viciState struct {
	// mu serialises changes to the configuration made over VICI.
	mu  sync.Mutex
	srv *vici.Server
	// base is the configuration from the files (ipsec.conf, ipsec.secrets)
	// that VICI's is merged into; conns and shared are VICI's, in the
	// order they were loaded.
	baseConns []ike.Connection
	baseCreds ike.Credentials
	conns     []namedViciConn
	shared    []viciShared
	creds     viciCreds
	// seen is each IKE_SA as the last event about it found it, so that
	// the down events describe what went (viciEvent).
	seenMu sync.Mutex
	seen   map[uint32]ike.IKESAStatus
}

type namedViciConn struct {
	name string
	viciConn
}

type viciShared struct {
	id  string
	key ike.SharedKey
}

// viciSocketPath is strongswan.conf's charon.plugins.vici.socket (a
// "unix://" URI) or charon.vici in the pid directory (/var/run).
func viciSocketPath(sw *config.StrongswanConf, piddir string) (string, error) {
	if sw != nil && sw.Root != nil {
		if s, ok := sw.Root.Get("charon.plugins.vici.socket"); ok && s.Value != "" {
			p, ok := strings.CutPrefix(s.Value, "unix://")
			if !ok {
				return "", fmt.Errorf("daemon: %s: charon.plugins.vici.socket = %s: only unix:// sockets are supported", s.Pos, s.Value)
			}
			return p, nil
		}
	}
	return filepath.Join(orDefault(piddir), "charon.vici"), nil
}

// startVICI listens on the VICI socket and serves it for the daemon's
// lifetime; the returned function stops it and waits.
func (d *Daemon) startVICI(ctx context.Context) (stop func(), err error) {
	d.mu.Lock()
	loaded := d.loaded
	d.mu.Unlock()
	path, err := viciSocketPath(loaded.Strongswan, d.opts.PidDir)
	if err != nil {
		return nil, err
	}
	srv, err := vici.Listen(path, d.log)
	if err != nil {
		return nil, err
	}
	d.vici.mu.Lock()
	d.vici.srv = srv
	d.vici.baseConns = loaded.Config.Connections
	d.vici.baseCreds = loaded.Config.Credentials
	d.vici.mu.Unlock()
	d.viciHandlers(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx)
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}

// lockConfig serialises changes to the running configuration: every VICI
// command that changes it, ipsec reload and ipsec rereadsecrets merge the
// files' and VICI's parts and give the engine the result under it, so none
// applies a merge that another change has overtaken (which lost that
// change). It returns the unlock function.
func (d *Daemon) lockConfig() func() {
	d.vici.mu.Lock()
	return d.vici.mu.Unlock
}

// viciMergeLocked adds the VICI connections and credentials to a
// configuration just read from the files (ipsec reload), which becomes
// the new base. The caller holds lockConfig until it has applied loaded.
func (d *Daemon) viciMergeLocked(loaded *config.Loaded) {
	d.vici.baseConns = loaded.Config.Connections
	d.vici.baseCreds = loaded.Config.Credentials
	loaded.Config.Connections, loaded.Config.Credentials = d.vici.merged(d.log)
}

// viciMergeCredsLocked adds the VICI credentials to those just read from
// the files (ipsec rereadsecrets), which become the new base. The caller
// holds lockConfig until it has applied them.
func (d *Daemon) viciMergeCredsLocked(creds *ike.Credentials) {
	d.vici.baseCreds = *creds
	_, *creds = d.vici.merged(d.log)
}

// merged is the base configuration with VICI's added. A VICI connection
// whose name ipsec.conf now uses too is left out (the file wins, as
// load-conn refuses such a name).
func (v *viciState) merged(log interface{ Warn(string, ...any) }) ([]ike.Connection, ike.Credentials) {
	conns := slices.Clone(v.baseConns)
	for _, c := range v.conns {
		if slices.ContainsFunc(v.baseConns, func(b ike.Connection) bool { return b.Name == c.name }) {
			log.Warn("vici: connection shadowed by ipsec.conf's of the same name", "conn", c.name)
			continue
		}
		conns = append(conns, c.conn)
	}
	creds := v.baseCreds
	creds.SharedKeys = slices.Clone(creds.SharedKeys)
	for _, s := range v.shared {
		creds.SharedKeys = append(creds.SharedKeys, s.key)
	}
	v.creds.addTo(&creds)
	return conns, creds
}

// viciApply gives the engine the merged configuration. The caller holds
// d.vici.mu.
func (d *Daemon) viciApply() error {
	d.mu.Lock()
	next := *d.loaded
	d.mu.Unlock()
	next.Config.Connections, next.Config.Credentials = d.vici.merged(d.log)
	if err := d.engine.SetConfig(&next.Config); err != nil {
		return err
	}
	d.mu.Lock()
	d.loaded = &next
	d.mu.Unlock()
	return nil
}

func fail(format string, args ...any) *vici.Message {
	return vici.NewMessage().Set("success", "no").Set("errmsg", fmt.Sprintf(format, args...))
}

func ok() *vici.Message { return vici.NewMessage().Set("success", "yes") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// viciHandlers installs the commands and events.
func (d *Daemon) viciHandlers(s *vici.Server) {
	s.RegisterEvents("list-sa", "list-conn", "control-log", "log", "ike-updown", "child-updown",
		"ike-rekey", "child-rekey", "list-policy", "list-cert", "list-authority")
	s.Handle("version", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		var u unix.Utsname
		unix.Uname(&u)
		machine := unix.ByteSliceToString(u.Machine[:])
		if machine == "" {
			machine = runtime.GOARCH
		}
		return vici.NewMessage().Set("daemon", "cygnet").Set("version", viciVersion).
			Set("sysname", unix.ByteSliceToString(u.Sysname[:])).
			Set("release", unix.ByteSliceToString(u.Release[:])).Set("machine", machine)
	})
	s.Handle("stats", func(context.Context, *vici.Stream, *vici.Message) *vici.Message { return d.viciStats() })
	s.Handle("reload-settings", func(ctx context.Context, _ *vici.Stream, _ *vici.Message) *vici.Message {
		return d.viciReloadSettings()
	})
	s.Handle("list-sas", d.viciListSAs)
	s.Handle("list-conns", d.viciListConns)
	s.Handle("get-conns", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		d.vici.mu.Lock()
		defer d.vici.mu.Unlock()
		var names []string
		for _, c := range d.vici.conns {
			names = append(names, c.name)
		}
		return vici.NewMessage().SetList("conns", names)
	})
	s.Handle("load-conn", d.viciLoadConn)
	s.Handle("unload-conn", d.viciUnloadConn)
	s.Handle("load-shared", d.viciLoadShared)
	s.Handle("unload-shared", d.viciUnloadShared)
	s.Handle("get-shared", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		d.vici.mu.Lock()
		defer d.vici.mu.Unlock()
		var ids []string
		for _, k := range d.vici.shared {
			ids = append(ids, k.id)
		}
		return vici.NewMessage().SetList("keys", ids)
	})
	s.Handle("initiate", d.viciInitiate)
	s.Handle("terminate", d.viciTerminate)
	s.Handle("install", func(ctx context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
		name, err := d.viciConnOfChild(req.Get("child"), req.Get("ike"))
		if err != nil {
			return fail("%v", err)
		}
		if err := d.route(ctx, name); err != nil {
			return fail("installing policy '%s' failed: %v", req.Get("child"), err)
		}
		return ok()
	})
	s.Handle("uninstall", func(ctx context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
		name, err := d.viciConnOfChild(req.Get("child"), req.Get("ike"))
		if err != nil {
			return fail("%v", err)
		}
		if err := d.unroute(ctx, name); err != nil {
			return fail("policy '%s' not found", req.Get("child"))
		}
		return ok()
	})
	// What swanctl --load-all asks besides connections and secrets: cygnet
	// has no VICI-loaded authorities or pools, so the lists are empty.
	s.Handle("get-authorities", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		return vici.NewMessage().SetList("authorities", nil)
	})
	s.Handle("get-pools", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		return vici.NewMessage()
	})
	d.viciCredHandlers(s)
}

func (d *Daemon) viciStats() *vici.Message {
	st := d.engine.Status()
	halfOpen := 0
	for _, sa := range st.IKESAs {
		if sa.State == "CONNECTING" {
			halfOpen++
		}
	}
	prio := func() *vici.Message {
		return vici.NewMessage().Set("critical", "0").Set("high", "0").Set("medium", "0").Set("low", "0")
	}
	n := strconv.Itoa(runtime.GOMAXPROCS(0))
	// cygnet's own figures, after charon's: swanctl --stats prints the
	// keys it knows, --raw and library clients see these too.
	counters := vici.NewMessage()
	for _, kv := range countersView(st.Counters).pairs() {
		counters.Set(kv[0], kv[1])
	}
	return vici.NewMessage().
		SetSection("uptime", vici.NewMessage().Set("running", deltaString(time.Since(d.started))).
			Set("since", d.started.Format("Jan 02 15:04:05 2006"))).
		SetSection("workers", vici.NewMessage().Set("total", n).Set("idle", n).SetSection("active", prio())).
		SetSection("queues", prio()).
		Set("scheduled", "0").
		SetSection("ikesas", vici.NewMessage().Set("total", strconv.Itoa(len(st.IKESAs))).
			Set("half-open", strconv.Itoa(halfOpen))).
		SetList("plugins", []string{"vici", "kernel-netlink", "socket-default", "updown"}).
		SetSection("counters", counters)
}

// viciReloadSettings re-reads strongswan.conf and applies its global
// settings (retransmission, DoS limits); connections and secrets stay.
func (d *Daemon) viciReloadSettings() *vici.Message {
	var out strings.Builder
	loaded, err := LoadConfig(d.opts.ConfDir, &out)
	if err != nil {
		return fail("%v", err)
	}
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	d.mu.Lock()
	next := *d.loaded
	d.mu.Unlock()
	conns, creds := next.Config.Connections, next.Config.Credentials
	next.Config = loaded.Config
	next.Config.Connections, next.Config.Credentials = conns, creds
	if sw := loaded.Strongswan; sw != nil && sw.KeepAlive != 0 {
		next.Config.KeepAlive = sw.KeepAlive
	}
	next.Strongswan = loaded.Strongswan
	if err := d.engine.SetConfig(&next.Config); err != nil {
		return fail("%v", err)
	}
	d.mu.Lock()
	d.loaded = &next
	d.mu.Unlock()
	return ok()
}

func (d *Daemon) viciLoadConn(ctx context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	ents := req.Entries()
	if len(ents) != 1 || ents[0].Kind != vici.KindSection {
		return fail("load-conn takes one connection section")
	}
	name := ents[0].Key
	d.mu.Lock()
	rw := uint32(32)
	if d.loaded.Strongswan != nil {
		rw = d.loaded.Strongswan.ReplayWindow
	}
	d.mu.Unlock()
	vc, err := parseVICIConn(name, ents[0].Section, rw)
	if err != nil {
		return fail("connection '%s': %v", name, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = config.ResolveEndpoints(rctx, nil, &vc.conn)
	cancel()
	if err != nil {
		d.log.Warn("vici: cannot resolve conn endpoints", "conn", name, "err", err)
	}
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	if slices.ContainsFunc(d.vici.baseConns, func(c ike.Connection) bool { return c.Name == name }) {
		return fail("connection '%s' is defined in ipsec.conf", name)
	}
	i := slices.IndexFunc(d.vici.conns, func(c namedViciConn) bool { return c.name == name })
	if i >= 0 && d.vici.conns[i].raw.String() == vc.raw.String() {
		// swanctl --load-conns sends every conn each time: an unchanged
		// one keeps its SAs.
		return ok()
	}
	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	defer tcancel()
	if i >= 0 {
		// As charon's vici plugin: a changed conn replaces the old one
		// and only the old start action is undone. A conn that started
		// its SAs itself (start_action = start) has them deleted, to be
		// started again below; others keep theirs (swanctl --load-conns
		// after editing, e.g., rekey_time leaves the tunnel up), a trap
		// being removed below when the new conn has none.
		if d.vici.conns[i].conn.Auto == ike.AutoStart {
			d.engine.Terminate(tctx, name)
		}
		d.vici.conns[i] = namedViciConn{name, vc}
	} else {
		d.vici.conns = append(d.vici.conns, namedViciConn{name, vc})
	}
	if err := d.viciApply(); err != nil {
		if i < 0 {
			d.vici.conns = d.vici.conns[:len(d.vici.conns)-1]
		}
		return fail("connection '%s': %v", name, err)
	}
	if vc.conn.Auto != ike.AutoRoute && d.engine.Routed(name) {
		d.engine.Unroute(tctx, name)
	}
	switch vc.conn.Auto {
	case ike.AutoStart:
		d.goInitiate(name)
	case ike.AutoRoute:
		if err := d.route(tctx, name); err != nil {
			return fail("connection '%s': installing trap failed: %v", name, err)
		}
	}
	d.log.Info("vici: connection loaded", "conn", name, "child", vc.child)
	return ok()
}

func (d *Daemon) viciUnloadConn(ctx context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	name := req.Get("name")
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	i := slices.IndexFunc(d.vici.conns, func(c namedViciConn) bool { return c.name == name })
	if i < 0 {
		return fail("connection '%s' not found", name)
	}
	old := d.vici.conns[i]
	// Its SAs are deleted (telling the peer) before the answer; SetConfig
	// then removes the trap and anything that came up meanwhile.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	d.engine.Terminate(tctx, name)
	cancel()
	d.vici.conns = slices.Delete(d.vici.conns, i, i+1)
	if err := d.viciApply(); err != nil {
		d.vici.conns = slices.Insert(d.vici.conns, i, old)
		return fail("%v", err)
	}
	d.log.Info("vici: connection unloaded", "conn", name)
	return ok()
}

func (d *Daemon) viciLoadShared(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	switch t := req.Get("type"); strings.ToUpper(t) {
	case "IKE":
	default:
		return fail("type: %q secrets are not supported, only IKE", t)
	}
	data := req.Get("data")
	if data == "" {
		return fail("data: missing")
	}
	id := req.Get("id")
	key := ike.SharedKey{Secret: []byte(data), Source: "vici " + id}
	for _, o := range req.List("owners") {
		ident, err := ike.ParseIdentity(o)
		if err != nil {
			return fail("owners: %v", err)
		}
		if !ident.IsZero() {
			key.IDs = append(key.IDs, ident)
		}
	}
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	prev := slices.Clone(d.vici.shared)
	if i := slices.IndexFunc(d.vici.shared, func(s viciShared) bool { return id != "" && s.id == id }); i >= 0 {
		d.vici.shared[i].key = key
	} else {
		d.vici.shared = append(d.vici.shared, viciShared{id, key})
	}
	if err := d.viciApply(); err != nil {
		d.vici.shared = prev
		return fail("%v", err)
	}
	return ok()
}

func (d *Daemon) viciUnloadShared(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	id := req.Get("id")
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	i := slices.IndexFunc(d.vici.shared, func(s viciShared) bool { return s.id == id })
	if i < 0 {
		return fail("shared key '%s' not found", id)
	}
	prev := slices.Clone(d.vici.shared)
	d.vici.shared = slices.Delete(d.vici.shared, i, i+1)
	if err := d.viciApply(); err != nil {
		d.vici.shared = prev
		return fail("%v", err)
	}
	return ok()
}

// viciConnOfChild finds the engine connection of a CHILD_SA config name
// (optionally under an IKE config name). An ipsec.conf conn's CHILD_SA
// is named after it, as in charon.
func (d *Daemon) viciConnOfChild(child, ikeName string) (string, error) {
	if child == "" && ikeName == "" {
		return "", fmt.Errorf("missing configuration name")
	}
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	for _, c := range d.vici.conns {
		if (child == "" || c.child == child) && (ikeName == "" || c.name == ikeName) {
			return c.name, nil
		}
	}
	for _, c := range d.vici.baseConns {
		if (child == "" || c.Name == child) && (ikeName == "" || c.Name == ikeName) {
			return c.Name, nil
		}
	}
	if child == "" {
		return "", fmt.Errorf("IKE_SA config '%s' not found", ikeName)
	}
	return "", fmt.Errorf("CHILD_SA config '%s' not found", child)
}

// viciChildName is the CHILD_SA config name of an engine connection.
func (d *Daemon) viciChildName(conn string) string {
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	for _, c := range d.vici.conns {
		if c.name == conn {
			return c.child
		}
	}
	return conn
}

// controlLog streams one control-log event to the caller.
func controlLog(st *vici.Stream, group, conn string, uid uint32, format string, args ...any) {
	m := vici.NewMessage().Set("group", group).Set("level", "1")
	if conn != "" {
		m.Set("ikesa-name", conn).Set("ikesa-uniqueid", strconv.FormatUint(uint64(uid), 10))
	}
	st.Emit("control-log", m.Set("msg", fmt.Sprintf(format, args...)))
}

// viciTimeout reads a command's timeout in milliseconds (swanctl sends
// its -t seconds times 1000): 0 waits for the result, -1 returns at once.
func viciTimeout(req *vici.Message, def time.Duration) (time.Duration, bool, error) {
	v := req.Get("timeout")
	if v == "" {
		return def, false, nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("timeout: %q is not a number", v)
	case n < 0:
		return 0, true, nil
	case n == 0:
		return def, false, nil
	}
	return time.Duration(n) * time.Millisecond, false, nil
}

func (d *Daemon) viciInitiate(ctx context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	child := req.Get("child")
	name, err := d.viciConnOfChild(child, req.Get("ike"))
	if err != nil {
		return fail("%v", err)
	}
	if child == "" {
		child = d.viciChildName(name)
	}
	timeout, async, err := viciTimeout(req, 5*time.Minute)
	if err != nil {
		return fail("%v", err)
	}
	c := d.connByName(name)
	if c == nil {
		return fail("CHILD_SA config '%s' not found", child)
	}
	controlLog(st, "CFG", name, 0, "initiating IKE_SA %s to %s", name, c.Remote.Host)
	if async {
		d.goInitiate(name)
		return ok()
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := d.engine.Initiate(ictx, name); err != nil {
		controlLog(st, "IKE", name, 0, "%v", err)
		if ictx.Err() != nil && ctx.Err() == nil {
			return fail("initiating '%s' timed out", child)
		}
		return fail("establishing CHILD_SA '%s' failed", child)
	}
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == name && sa.State == "ESTABLISHED" {
			controlLog(st, "IKE", name, sa.UniqueID, "IKE_SA %s[%d] established between %v[%s]...%v[%s]",
				name, sa.UniqueID, sa.Local.Addr(), sa.LocalID, sa.Remote.Addr(), sa.RemoteID)
			for _, ch := range sa.Children {
				controlLog(st, "CHD", name, sa.UniqueID, "CHILD_SA %s{%d} established with SPIs %08x_i %08x_o",
					child, ch.UniqueID, ch.SPIIn, ch.SPIOut)
			}
		}
	}
	return ok()
}

// viciTerminate deletes, as charon does, a CHILD_SA by unique id
// (child-id) or every CHILD_SA of a config (child, leaving the IKE_SA up),
// or an IKE_SA by unique id (ike-id) or every IKE_SA of a config (ike).
func (d *Daemon) viciTerminate(ctx context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	// charon's keys are ike-id and child-id; the underscore spelling is
	// accepted too.
	parseID := func(keys ...string) (uint32, error) {
		for _, k := range keys {
			if v := req.Get(k); v != "" {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return 0, fmt.Errorf("%s: %q is not a unique id", k, v)
				}
				return uint32(n), nil
			}
		}
		return 0, nil
	}
	ikeID, err := parseID("ike-id", "ike_id")
	if err != nil {
		return fail("%v", err)
	}
	childID, err := parseID("child-id", "child_id")
	if err != nil {
		return fail("%v", err)
	}
	timeout, async, err := viciTimeout(req, 30*time.Second)
	if err != nil {
		return fail("%v", err)
	}
	var name, what string
	var uid uint32
	matches := 0
	var run func(context.Context) error
	status := d.engine.Status().IKESAs
	switch child := req.Get("child"); {
	case childID != 0:
		for _, sa := range status {
			for _, ch := range sa.Children {
				if ch.UniqueID == childID {
					name, uid, matches = sa.Conn, sa.UniqueID, 1
				}
			}
		}
		what = fmt.Sprintf("CHILD_SA %s{%d}", d.viciChildName(name), childID)
		run = func(c context.Context) error { _, err := d.engine.TerminateChild(c, "", childID); return err }
	case ikeID != 0:
		for _, sa := range status {
			if sa.UniqueID == ikeID {
				name, uid, matches = sa.Conn, ikeID, 1
			}
		}
		what = fmt.Sprintf("IKE_SA %s[%d]", name, ikeID)
		run = func(c context.Context) error { _, err := d.engine.TerminateIKE(c, ikeID); return err }
	case child != "":
		if name, err = d.viciConnOfChild(child, req.Get("ike")); err != nil {
			return fail("%v", err)
		}
		for _, sa := range status {
			if sa.Conn == name {
				matches += len(sa.Children)
				uid = sa.UniqueID
			}
		}
		what = "CHILD_SA " + child
		run = func(c context.Context) error { _, err := d.engine.TerminateChild(c, name, 0); return err }
	default:
		if name, err = d.viciConnOfChild("", req.Get("ike")); err != nil {
			return fail("%v", err)
		}
		for _, sa := range status {
			if sa.Conn == name {
				matches++
				uid = sa.UniqueID
			}
		}
		what = "IKE_SA " + name
		run = func(c context.Context) error { return d.engine.Terminate(c, name) }
	}
	if matches == 0 {
		return fail("no matching SAs to terminate found")
	}
	controlLog(st, "IKE", name, uid, "deleting %s", what)
	if async {
		go func() {
			tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			run(tctx)
		}()
		return ok().Set("matches", strconv.Itoa(matches))
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := run(tctx); err != nil {
		controlLog(st, "IKE", name, uid, "%v", err)
		return fail("terminating %s failed: %v", what, err).Set("matches", strconv.Itoa(matches)).Set("terminated", "0")
	}
	controlLog(st, "IKE", name, uid, "%s deleted", what)
	return ok().Set("matches", strconv.Itoa(matches)).Set("terminated", strconv.Itoa(matches))
}

func (d *Daemon) ikeUp(name string) bool {
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == name {
			return true
		}
	}
	return false
}
