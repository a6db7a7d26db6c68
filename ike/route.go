package ike

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Trap policies (ipsec.conf auto=route, `ipsec route`): the engine owns
// them, so that the hand-over between a routed connection's trap and its
// CHILD_SAs happens in one place, under the SA's lock, with no window in
// which the kernel has no policy for the traffic (RFC 4301 section 4.4.1:
// the SPD must always decide). A trap policy is the CHILD_SA's protect
// policy without states: the kernel holds matching packets and raises an
// ACQUIRE, which the caller answers with Initiate.

// trapFor describes a connection's trap policies. They carry the reqid
// every CHILD_SA of the connection gets, so a CHILD_SA's policies replace
// the trap in place and the trap replaces them back.
func (e *Engine) trapFor(c *Connection) xfrm.ChildSA {
	return xfrm.ChildSA{ReqID: e.reqidFor(c), Local: c.Local.Addr, Remote: c.Remote.Addr,
		Proto: c.Local.ProtoPort.Protocol, LocalPort: c.Local.ProtoPort.StartPort, RemotePort: c.Remote.ProtoPort.StartPort}
}

// Route installs the trap policies of a connection and keeps them for as
// long as it is routed: when one of its CHILD_SAs goes, its states go and
// its policies stay as the trap. Routing a routed connection again updates
// its trap to the connection's current configuration.
func (e *Engine) Route(ctx context.Context, name string) error {
	if e.isClosed() {
		return ErrClosed
	}
	c := e.conn(name)
	if c == nil {
		return fmt.Errorf("%w %q", ErrNoConnection, name)
	}
	trap := e.trapFor(c)
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	return e.installTrap(ctx, name, trap)
}

// installTrap installs trap and records it as name's, removing name's
// previous trap policies that trap does not replace. Called with routeMu.
func (e *Engine) installTrap(ctx context.Context, name string, trap xfrm.ChildSA) error {
	for _, p := range trap.Policies() {
		if err := e.kernel.InstallPolicy(ctx, &p); err != nil {
			return fmt.Errorf("ike: conn %s: installing trap policy: %w", name, err)
		}
	}
	old, had := e.routes[name]
	e.routes[name] = trap
	if had {
		e.dropTrap(ctx, name, old, trap)
	}
	return nil
}

// dropTrap deletes old's policies that keep does not install again and
// that no installed CHILD_SA uses. Called with routeMu.
func (e *Engine) dropTrap(ctx context.Context, name string, old, keep xfrm.ChildSA) {
	kept := keep.Policies()
	for _, p := range old.Policies() {
		k := policyKey{p.Dir, p.Selector}
		if (keep.ReqID != 0 && (k == keyOf(kept[0]) || k == keyOf(kept[1]))) || e.polRefs[k] > 0 {
			continue
		}
		if err := e.kernel.DeletePolicy(ctx, &p); err != nil {
			e.log.Error("ike: removing trap policy", "conn", name, "err", err)
		}
	}
}

// policyKey names one kernel policy: its direction and selector.
type policyKey struct {
	dir xfrm.Direction
	sel xfrm.Selector
}

func keyOf(p xfrm.Policy) policyKey { return policyKey{p.Dir, p.Selector} }

// childInstalled counts the policies of a CHILD_SA just installed.
func (e *Engine) childInstalled(k *xfrm.ChildSA) {
	if k.NoPolicies {
		return
	}
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	for _, p := range k.Policies() {
		e.polRefs[keyOf(p)]++
	}
}

// deleteChildKernel removes an installed CHILD_SA from the kernel. When its
// connection is routed and its policies are the trap's, only its states
// go: the policies stay as the trap, so the traffic is never without one.
func (e *Engine) deleteChildKernel(ctx context.Context, k *xfrm.ChildSA, conn *Connection) error {
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	if !k.NoPolicies {
		for _, p := range k.Policies() {
			key := keyOf(p)
			if e.polRefs[key]--; e.polRefs[key] <= 0 {
				delete(e.polRefs, key)
			}
		}
	}
	var trap xfrm.ChildSA
	routed := false
	if conn != nil && !e.isClosed() {
		trap, routed = e.routes[conn.Name]
	}
	if !routed || k.NoPolicies {
		return e.kernel.DeleteChildSA(ctx, k)
	}
	if trap.Policies() == k.Policies() {
		states := *k
		states.NoPolicies = true
		return e.kernel.DeleteChildSA(ctx, &states)
	}
	// The CHILD_SA narrowed the trap's selectors: its own policies go,
	// the trap's (other kernel objects) stay; they are installed again in
	// case the CHILD_SA's replaced one of them.
	err := e.kernel.DeleteChildSA(ctx, k)
	for _, p := range trap.Policies() {
		if ierr := e.kernel.InstallPolicy(ctx, &p); ierr != nil {
			err = errors.Join(err, ierr)
		}
	}
	return err
}

// Unroute removes a connection's trap. Its installed CHILD_SAs keep their
// policies (as with strongSwan's `ipsec unroute`); when they go, the
// traffic is no longer held.
func (e *Engine) Unroute(ctx context.Context, name string) error {
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	old, had := e.routes[name]
	if !had {
		return fmt.Errorf("%w %q routed", ErrNoConnection, name)
	}
	delete(e.routes, name)
	e.dropTrap(ctx, name, old, xfrm.ChildSA{})
	return nil
}

// Routed reports whether a connection has its trap installed.
func (e *Engine) Routed(name string) bool {
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	_, ok := e.routes[name]
	return ok
}

// RoutedNames returns the routed connections, sorted.
func (e *Engine) RoutedNames() []string {
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	names := make([]string, 0, len(e.routes))
	for n := range e.routes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// refreshRoutes follows a configuration change: the traps of connections
// that are gone are removed, those of changed connections updated.
func (e *Engine) refreshRoutes(ctx context.Context) {
	want := map[string]xfrm.ChildSA{}
	for _, name := range e.RoutedNames() {
		if c := e.conn(name); c != nil {
			want[name] = e.trapFor(c)
		}
	}
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	for name, old := range e.routes {
		trap, ok := want[name]
		if !ok {
			delete(e.routes, name)
			e.dropTrap(ctx, name, old, xfrm.ChildSA{})
			continue
		}
		if trap.Policies() != old.Policies() {
			if err := e.installTrap(ctx, name, trap); err != nil {
				e.log.Error("ike: updating trap policies", "conn", name, "err", err)
			}
		}
	}
}

// removeTraps deletes every trap policy no CHILD_SA uses, at Close.
func (e *Engine) removeTraps(ctx context.Context) {
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	for name, old := range e.routes {
		delete(e.routes, name)
		e.dropTrap(ctx, name, old, xfrm.ChildSA{})
	}
}
