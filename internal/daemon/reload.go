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
// added ones started per their auto= setting. A configuration with errors
// is refused whole and the running one stays in force.
func (d *Daemon) cmdReload(ctx context.Context, out io.Writer) int {
	loaded, err := LoadConfig(d.opts.ConfDir, out)
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	d.resolve(ctx, loaded)
	d.viciMerge(loaded) // connections and keys loaded over VICI stay
	d.mu.Lock()
	old := d.loaded
	d.mu.Unlock()
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
	// SetConfig deletes the SAs of removed conns and their traps.
	if err := d.engine.SetConfig(&loaded.Config); err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	d.mu.Lock()
	d.loaded = loaded
	d.mu.Unlock()
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
	return 0
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
	d.viciMergeCreds(&loaded.Config.Credentials) // keys loaded over VICI stay
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
