package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// While a pair's trap policies wait for their first SA, the kernel drops
// what matches them unless net.core.xfrm_larval_drop is 0, in which case
// it queues those packets on the policy (up to 100, for up to a minute)
// and sends them once the SA is installed. The rollout routes every pair
// before its SAs exist, so the agent turns queueing on while the cluster
// is enabled: the first packets of a pair are delayed by its handshake,
// not lost. The node's own value is kept in the state dir and put back
// when the cluster is disabled or the node removed.

const larvalDrop = "net/core/xfrm_larval_drop"

func (p Paths) larvalSaved() string { return filepath.Join(p.Dir, "xfrm_larval_drop.saved") }

// queueLarval turns queueing on (on) or gives the node its own setting
// back (!on). It does nothing without a Sysctl root.
func (a *Agent) queueLarval(on bool) error {
	if a.Sysctl == "" {
		return nil
	}
	path := filepath.Join(a.Sysctl, larvalDrop)
	saved := Paths{a.Dir}.larvalSaved()
	if !on {
		orig, err := os.ReadFile(saved)
		if errors.Is(err, os.ErrNotExist) {
			return nil // never changed
		}
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			return fmt.Errorf("cluster: restoring %s: %w", larvalDrop, err)
		}
		return os.Remove(saved)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if string(bytes.TrimSpace(cur)) == "0" {
		return nil
	}
	if _, err := os.Stat(saved); errors.Is(err, os.ErrNotExist) {
		// Saved once: a later round (or a restart) must not save our own 0.
		if err := os.WriteFile(saved, cur, 0o600); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	if err := os.WriteFile(path, []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("cluster: setting %s: %w", larvalDrop, err)
	}
	return nil
}
