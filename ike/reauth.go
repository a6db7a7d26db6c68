package ike

import (
	"fmt"
	"log/slog"
	"time"
)

// Reauthentication (ipsec.conf reauth=yes, RFC 7296 2.8.3): instead of
// rekeying the IKE SA with CREATE_CHILD_SA, the end whose timer fires first
// negotiates a whole new IKE SA (IKE_SA_INIT and IKE_AUTH, authenticating
// both ends again) with the connection's CHILD_SA, and deletes the old IKE
// SA only once the new one is up. The new CHILD_SA has the connection's
// reqid, so the policies the old one used stay in the kernel while both
// exist (xfrm removes a reqid's policies with its last state): there is no
// instant without policies, and the kernel sends on the newest outbound
// state as soon as it is installed.
//
// cygnet always reauthenticates make-before-break, whatever
// charon.make_before_break says: strongSwan's break-before-make default
// deletes the SAs and their policies first, so traffic leaves in clear until
// the new SAs are up.

const (
	// reauthRetry is the pause before another reauthentication attempt
	// after one failed, while the old IKE SA has time left.
	reauthRetry = 10 * time.Second
)

// scheduleReauth sets the reauthentication time of a newly established
// IKE SA: ikelifetime - margintime - random(rekeyfuzz% of margintime) for
// the original initiator, as for CHILD_SA rekeys, and half the margin
// later for the original responder. The SA's hard end, if
// reauthentication keeps failing, is ikelifetime after establishment.
func (sa *ikeSA) scheduleReauth(life, margin time.Duration) {
	c := sa.conn
	fuzz := time.Duration(int64(margin) / 100 * int64(max(c.RekeyFuzz, 0)))
	// From the engine's random source, so seeded tests replay exactly.
	at := life - margin - sa.e.randDuration(fuzz+1)
	if !sa.initiator {
		// The original responder waits half the margin longer (and half
		// the fuzz): with the same settings on both ends the initiator
		// reauthenticates first, and both doing it at once (each end's
		// new SA answered by the other, one of them then deleted) stays
		// the exception, for when the initiator's attempt is late.
		at = life - margin/2 - sa.e.randDuration(fuzz/2+1)
	}
	if at < margin/2 {
		at = margin / 2
	}
	sa.reauthAt = sa.established.Add(at)
	sa.reauthEnd = sa.established.Add(life)
	sa.armReauth(sa.reauthAt)
}

func (sa *ikeSA) armReauth(at time.Time) {
	if sa.reauthTimer != nil {
		sa.reauthTimer.Stop()
	}
	sa.reauthTimer = sa.e.clock.AfterFunc(max(at.Sub(sa.e.clock.Now()), 0), func() {
		sa.lock()
		defer sa.unlock()
		sa.reauthDue()
	})
}

// reauthDue starts a reauthentication, or deletes the SA when its
// lifetime is over without one having succeeded.
func (sa *ikeSA) reauthDue() {
	if sa.state != stateEstablished || sa.rekeyedTo != nil || sa.reauthBy != nil {
		return
	}
	now := sa.e.clock.Now()
	if !sa.reauthEnd.IsZero() && !now.Before(sa.reauthEnd) {
		// An attempt still under way goes on and may bring the
		// connection back; this SA's lifetime is over either way.
		sa.startDelete("IKE_SA lifetime expired without reauthentication")
		return
	}
	if sa.reauthing {
		return
	}
	if sa.busy() {
		// Let our own exchange finish first; a CHILD_SA rekey under way
		// would otherwise be cut off by the old SA's delete.
		sa.armReauth(now.Add(ikeRekeyRetry))
		return
	}
	sa.reauthing = true
	if !sa.reauthEnd.IsZero() {
		sa.armReauth(sa.reauthEnd) // the hard end, unless reauthFailed re-arms sooner
	}
	sa.logAt(slog.LevelInfo, "ike: reauthenticating IKE_SA")
	e := sa.e
	sa.fx.after = append(sa.fx.after, func() { e.startReauth(sa) })
}

// startReauth negotiates the IKE SA that replaces old. It runs with no
// lock held; the new SA reports back through reauthResult.
func (e *Engine) startReauth(old *ikeSA) {
	old.lock()
	c := e.conn(old.connName())
	ok := old.state == stateEstablished
	since := old.established
	old.unlock()
	if !ok {
		return
	}
	if e.peerReauthenticating(old, since) {
		// The peer's own new IKE SA for the connection is being
		// negotiated or just came up: starting ours too would make two
		// that the ends then have to tell apart. Look again later; the
		// peer deletes old once its SA is up.
		old.lock()
		old.reauthing = false
		old.logAt(slog.LevelInfo, "ike: the peer is reauthenticating, waiting")
		old.armReauth(e.clock.Now().Add(reauthRetry))
		old.unlock()
		return
	}
	if c == nil {
		old.lock()
		old.reauthing = false
		old.logAt(slog.LevelInfo, "ike: connection removed, IKE_SA not reauthenticated")
		old.unlock()
		return
	}
	if _, err := e.startInitiatorOf(c, old); err != nil {
		old.lock()
		old.reauthFailed(err)
		old.unlock()
	}
}

// peerReauthenticating reports whether the peer started an IKE SA for
// old's connection after old came up (a responder SA, half-open or
// established), which is what its reauthentication looks like from here.
// It takes one SA lock at a time.
func (e *Engine) peerReauthenticating(old *ikeSA, since time.Time) bool {
	for _, sa := range e.snapshot() {
		if sa == old {
			continue
		}
		sa.lock()
		found := !sa.initiator && sa.connName() == old.conn.Name && sa.state != stateDead && sa.state != stateDeleting &&
			sa.remote.Addr().Unmap() == old.remote.Addr().Unmap() && (sa.established.IsZero() || sa.established.After(since))
		sa.unlock()
		if found {
			return true
		}
	}
	return false
}

// reauthReport tells the SA this one reauthenticates how it went, once:
// established says the new IKE SA is up (its CHILD_SA may have failed).
// The caller holds n's lock; old is locked after n is released.
func (n *ikeSA) reauthReport(established bool, err error) {
	old := n.reauthOf
	if old == nil || n.reauthReported {
		return
	}
	n.reauthReported = true
	n.fx.after = append(n.fx.after, func() {
		// n may have been deleted since as the loser of a simultaneous
		// initiation (unique.go runs first): the peer reauthenticated at
		// the same time, and its new IKE SA replaces old.
		n.lock()
		alive := n.state == stateEstablished
		n.unlock()
		old.lock()
		defer old.unlock()
		switch {
		case established && alive:
			old.reauthDone(n)
		case established:
			old.reauthSuperseded()
		default:
			old.reauthFailed(err)
		}
	})
}

// reauthDone deletes the old IKE SA now that n replaces it.
func (sa *ikeSA) reauthDone(n *ikeSA) {
	sa.reauthing = false
	sa.reauthBy = n
	sa.logAt(slog.LevelInfo, "ike: IKE_SA reauthenticated", "new_ike_id", n.uid)
	sa.startDelete(fmt.Sprintf("reauthenticated by IKE_SA %d", n.uid))
}

// reauthSuperseded: our new IKE SA lost to the one the peer made by
// reauthenticating at the same time. The peer deletes the old SA once its
// new one is up; should it not, the old SA ends at its lifetime.
func (sa *ikeSA) reauthSuperseded() {
	sa.reauthing = false
	if sa.state != stateEstablished {
		return
	}
	sa.logAt(slog.LevelInfo, "ike: the peer's simultaneous reauthentication replaces this IKE_SA")
	if !sa.reauthEnd.IsZero() {
		sa.armReauth(sa.reauthEnd)
	}
}

// reauthFailed schedules another attempt while the old SA has time left,
// and its deletion at the end of its lifetime otherwise.
func (sa *ikeSA) reauthFailed(err error) {
	sa.reauthing = false
	if sa.state != stateEstablished {
		return
	}
	next := sa.e.clock.Now().Add(reauthRetry)
	if !sa.reauthEnd.IsZero() && next.After(sa.reauthEnd) {
		next = sa.reauthEnd
	}
	sa.logAt(slog.LevelWarn, "ike: reauthentication failed, IKE_SA kept", "err", err, "retry_at", next.UTC().Format(time.RFC3339))
	sa.armReauth(next)
}
