package daemon

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
)

// cmdReload re-reads every configuration file and applies it (`ipsec
// update`, `reload`, `rereadall`). Connections that did not change keep
// their SAs and SPIs; changed ones are renegotiated, removed ones deleted,
// added ones started per their auto= setting. A conn with errors is
// refused and the others are applied; when the refused conn is running,
// its running version stays in force (as if the file still held it).
// Errors that concern no single conn refuse the configuration whole and
// the running one stays. The exit code is 1 when anything was refused.
func (d *Daemon) cmdReload(ctx context.Context, out io.Writer) int {
	loaded, refused, err := loadConfig(d.opts.ConfDir, out)
	if err != nil {
		fmt.Fprintln(out, err)
		d.log.Error("configuration refused, the running one stays", "err", err)
		return 1
	}
	d.mu.Lock()
	old := d.loaded
	d.mu.Unlock()
	kept := keepRunning(old, loaded, refused)
	logRefused(d.log, refused, kept)
	d.resolve(ctx, loaded)
	added, removed, changed := config.Changes(old.IPsec, loaded.IPsec)
	// Only conns the engine runs count: auto=ignore and invalid conns are
	// not in Config.Connections.
	inEngine := func(cfg *ike.Config, name string) bool {
		return slices.ContainsFunc(cfg.Connections, func(c ike.Connection) bool { return c.Name == name })
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range changed {
		if inEngine(&old.Config, name) {
			d.engine.Terminate(tctx, name)
		}
	}
	// Connections and keys loaded over VICI stay: merged and applied
	// under lockConfig, so that a VICI change made meanwhile is neither
	// lost nor undone. SetConfig deletes the SAs of removed conns and
	// their traps.
	unlock := d.lockConfig()
	d.viciMergeLocked(loaded)
	if err := d.engine.SetConfig(&loaded.Config); err != nil {
		unlock()
		fmt.Fprintln(out, err)
		return 1
	}
	d.mu.Lock()
	d.loaded = loaded
	d.mu.Unlock()
	unlock()
	start := append(append([]string(nil), added...), changed...)
	for _, name := range start {
		c := d.connByName(name)
		if c == nil {
			continue
		}
		if c.Auto != ike.AutoRoute && d.engine.Routed(name) {
			// Changed from auto=route: the trap goes.
			d.engine.Unroute(ctx, name)
		}
		switch c.Auto {
		case ike.AutoStart:
			// Not under ctx, which ends with the reload command: the
			// loop lives as long as the daemon, and no longer.
			d.goInitiate(name)
		case ike.AutoRoute:
			if err := d.route(ctx, name); err != nil {
				fmt.Fprintf(out, "conn %s: route: %v\n", name, err)
			}
		}
	}
	d.log.Info("configuration reloaded", "added", added, "removed", removed, "changed", changed)
	fmt.Fprintf(out, "%d conn(s) added, %d removed, %d changed\n", len(added), len(removed), len(changed))
	if len(refused) == 0 {
		return 0
	}
	for _, name := range config.RefusedNames(refused) {
		if slices.Contains(kept, name) {
			fmt.Fprintf(out, "conn %s refused: its running version stays\n", name)
		} else {
			fmt.Fprintf(out, "conn %s refused: not loaded\n", name)
		}
	}
	return 1
}

// keepRunning puts the running version of each refused conn that old
// runs into cur, in place of the broken one: in cur's connections (at the
// conn's place in the file) and in cur.IPsec, so that Changes sees the conn
// unchanged and the next reload compares with what runs. It returns the
// names of the conns kept.
func keepRunning(old, cur *config.Loaded, refused []config.Refusal) []string {
	if len(refused) == 0 || old == nil || old.IPsec == nil {
		return nil
	}
	isRefused := map[string]bool{}
	for _, r := range refused {
		isRefused[r.Conn] = true
	}
	running := map[string]int{}
	for i, c := range old.Conns {
		running[c.Name] = i
	}
	loadedAt := map[*config.Conn]int{}
	for i, c := range cur.Conns {
		loadedAt[c] = i
	}
	var kept []string
	var conns []ike.Connection
	var from []*config.Conn
	ipsecConns := slices.Clone(cur.IPsec.Conns)
	for i, c := range cur.IPsec.Conns {
		if j, ok := loadedAt[c]; ok {
			conns = append(conns, cur.Config.Connections[j])
			from = append(from, c)
			continue
		}
		j, ok := running[c.Name]
		if c.Valid || !isRefused[c.Name] || !ok {
			continue
		}
		oc := old.Config.Connections[j]
		conns = append(conns, oc)
		from = append(from, old.Conns[j])
		ipsecConns[i] = old.Conns[j]
		kept = append(kept, c.Name)
		for _, ep := range []*ike.Endpoint{&oc.Local, &oc.Remote} {
			if ep.Cert != nil && !slices.ContainsFunc(cur.Config.Credentials.Certs, ep.Cert.Equal) {
				cur.Config.Credentials.Certs = append(cur.Config.Credentials.Certs, ep.Cert)
			}
		}
	}
	if len(kept) == 0 {
		return nil
	}
	ipsec := *cur.IPsec
	ipsec.Conns = ipsecConns
	cur.IPsec = &ipsec
	cur.Config.Connections, cur.Conns = conns, from
	return kept
}

// cmdRereadSecrets reloads ipsec.secrets and the ipsec.d credentials only;
// connections and SAs stay as they are.
func (d *Daemon) cmdRereadSecrets(ctx context.Context, out io.Writer) int {
	loaded, err := LoadConfig(d.opts.ConfDir, out)
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	// The running configuration is replaced, never written in place:
	// connByName's callers and status hold pointers into the old one
	// without the lock. The engine keeps its own copy (SetConfig clones).
	unlock := d.lockConfig()
	defer unlock()
	d.viciMergeCredsLocked(&loaded.Config.Credentials) // keys loaded over VICI stay
	d.mu.Lock()
	next := *d.loaded
	next.Config.Credentials = loaded.Config.Credentials
	cfg := &next.Config
	err = d.engine.SetConfig(cfg)
	if err == nil {
		d.loaded = &next
	}
	d.mu.Unlock()
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	d.log.Info("secrets reloaded", "shared_keys", len(cfg.Credentials.SharedKeys), "private_keys", len(cfg.Credentials.PrivateKeys))
	return 0
}

// resolve fills in the addresses of name-based endpoints before the
// engine takes the configuration.
func (d *Daemon) resolve(ctx context.Context, loaded *config.Loaded) {
	for i := range loaded.Config.Connections {
		c := &loaded.Config.Connections[i]
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := config.ResolveEndpoints(rctx, nil, c); err != nil {
			d.log.Warn("cannot resolve conn endpoints", "conn", c.Name, "err", err)
		}
		cancel()
	}
}
