package ike

import "log/slog"

// What dpdaction=hold and closeaction= do, as strongSwan applies them: hold
// installs the connection's trap policies when its CHILD_SAs go (the peer
// died, or deleted them), restart negotiates them again. closeaction
// applies only when the peer deletes on its own account: not to SAs a rekey
// replaced, nor to those this end was deleting itself.

// liveChildren reports whether the SA has a CHILD_SA that no rekey
// replaced: strongSwan applies dpdaction and closeaction per CHILD_SA, so an
// IKE SA without one has nothing to hold or restart.
func (sa *ikeSA) liveChildren() bool {
	for _, ch := range sa.children {
		if !ch.replaced {
			return true
		}
	}
	return false
}

// holdConn routes the SA's connection before its CHILD_SAs go: called with
// the SA locked, ahead of removing them, so that their policies stay in
// the kernel as the trap (deleteChildKernel keeps a routed connection's
// policies). A connection without fixed addresses has no trap to install.
func (sa *ikeSA) holdConn(why string) {
	c := sa.conn
	if c == nil || sa.e.isClosed() || sa.e.isDraining() {
		return
	}
	if !c.Local.Addr.IsValid() || !c.Remote.Addr.IsValid() {
		sa.logAt(slog.LevelWarn, "ike: cannot hold the traffic of a connection without fixed addresses", "action", why)
		return
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if err := sa.e.Route(ctx, c.Name); err != nil {
		sa.logAt(slog.LevelError, "ike: installing trap policies", "action", why, "err", err)
		return
	}
	sa.logAt(slog.LevelInfo, "ike: connection routed, its traffic held until renegotiated", "action", why)
}

// closeAction applies closeaction when the peer deletes a CHILD_SA or the
// IKE SA itself (had tells whether a CHILD_SA that no rekey replaced goes
// with it): hold routes the connection at once (with the SA locked,
// before the CHILD_SAs go); restart, once the SA's lock is released,
// negotiates again unless an SA of the connection is up with CHILD_SAs or
// being initiated.
func (sa *ikeSA) closeAction(why string, had bool) {
	c := sa.conn
	if c == nil || !had {
		return
	}
	switch c.CloseAction {
	case ActionHold:
		sa.holdConn("closeaction=hold, " + why)
	case ActionRestart:
		e, name := sa.e, c.Name
		sa.logAt(slog.LevelInfo, "ike: closeaction=restart", "reason", why)
		sa.fx.after = append(sa.fx.after, func() { e.reestablish(name) })
	}
}

// reestablish initiates a connection again, without waiting for the
// result, unless one of its IKE SAs is up with CHILD_SAs or is being
// initiated (a peer that reauthenticated has already replaced the SA it
// deleted). Called with no SA locked.
func (e *Engine) reestablish(name string) {
	if e.isDraining() || e.isClosed() {
		return
	}
	c := e.conn(name)
	if c == nil || !c.Local.Addr.IsValid() || !c.Remote.Addr.IsValid() {
		return
	}
	for _, sa := range e.snapshot() {
		sa.lock()
		busy := sa.conn != nil && sa.conn.Name == name &&
			(sa.state == stateEstablished && sa.liveChildren() ||
				sa.initiator && (sa.state == stateInitSent || sa.state == stateAuthSent))
		sa.unlock()
		if busy {
			return
		}
	}
	e.restart(name)
}
