package ike

import (
	"context"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// config returns the configuration in force.
func (e *Engine) config() *Config { return e.cfgp.Load() }

// validateConfig checks what New and SetConfig require of a configuration.
func validateConfig(cfg *Config) error {
	seen := map[string]bool{}
	for i := range cfg.Connections {
		c := &cfg.Connections[i]
		if c.Name == "" {
			return fmt.Errorf("ike: connection %d has no name", i)
		}
		if seen[c.Name] {
			return fmt.Errorf("ike: two connections named %q", c.Name)
		}
		seen[c.Name] = true
		if c.ReqID != 0 && !xfrm.Owned(c.ReqID) {
			return fmt.Errorf("ike: conn %s: reqid %#x outside cygnet's range %#x-%#x", c.Name, c.ReqID, xfrm.ReqIDMin, xfrm.ReqIDMax)
		}
	}
	return nil
}

// SetConfig replaces the engine's connections and credentials, as
// `ipsec update`, `reload` and `rereadsecrets` do. IKE SAs whose
// connection keeps its name are rebound to the new definition and keep
// running (their negotiated keys and proposals do not change; the caller
// terminates connections whose definition changed before calling, if it
// wants them renegotiated). IKE SAs of connections that are gone are
// deleted, telling the peer. Retransmission settings keep the values New
// took. The engine keeps a copy of cfg (Config.Clone), so the caller may
// go on changing *cfg without racing with negotiations.
func (e *Engine) SetConfig(cfg *Config) error {
	if cfg == nil {
		return fmt.Errorf("ike: SetConfig: nil configuration")
	}
	// Validated and stored as a copy, so that what is checked is what
	// runs, whatever the caller does with cfg later.
	cfg = cfg.Clone()
	if err := validateConfig(cfg); err != nil {
		return err
	}
	e.cfgp.Store(cfg)
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.conn != nil {
			if c := e.conn(sa.conn.Name); c != nil {
				sa.conn = c
			} else if sa.state != stateDeleting {
				sa.startDelete("connection removed from the configuration")
			}
		}
		for i, cand := range sa.candidates {
			if c := e.conn(cand.Name); c != nil {
				sa.candidates[i] = c
			}
		}
		sa.unlock()
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	e.refreshRoutes(ctx)
	return nil
}

// PurgeIKE deletes every established IKE SA that has no CHILD_SA, as
// strongSwan's `ipsec purgeike` does, and returns how many it deleted.
func (e *Engine) PurgeIKE(ctx context.Context) int {
	var dead []<-chan struct{}
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.state == stateEstablished && len(sa.children) == 0 {
			sa.startDelete("purged: no CHILD_SA")
			dead = append(dead, sa.dead)
		}
		sa.unlock()
	}
	for _, d := range dead {
		select {
		case <-d:
		case <-ctx.Done():
			return len(dead)
		}
	}
	return len(dead)
}
