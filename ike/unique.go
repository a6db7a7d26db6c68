package ike

import (
	"bytes"
	"log/slog"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// upEntry is the engine's record of one established IKE SA, with copies of
// the fields the uniqueness policy and the duplicate tie-break compare, so
// that they can be read under Engine.mu without taking the SA's lock.
type upEntry struct {
	sa                *ikeSA
	conn              string
	localID, remoteID Identity
	remote            netip.Addr
	initiator         bool
	// seq orders establishments; the SA's startSeq is the engine's seq
	// when the SA was created, so "established before the other one
	// started" is seq <= other.startSeq.
	seq      uint64
	startSeq uint64
	// initialContact: the peer sent INITIAL_CONTACT in this SA's IKE_AUTH.
	initialContact bool
	// nonceMin is the lower of the SA's two IKE_SA_INIT nonces, which both
	// ends know and order identically.
	nonceMin []byte
	// reauthOf is the SA this one reauthenticates (reauth.go), which
	// deletes it itself.
	reauthOf *ikeSA
}

// recordUp adds an established SA to the engine's list and applies the
// uniqueness policy once sa is unlocked. The caller holds sa's lock.
func (sa *ikeSA) recordUp() {
	sa.recordUpQuiet()
	// Decided after the SA's lock is released: enforcing takes the other
	// SAs' locks one at a time.
	e := sa.e
	sa.fx.after = append(sa.fx.after, func() { e.enforceUnique(sa) })
}

// recordUpQuiet adds sa to the list without applying the policy: an IKE
// SA that replaces a rekeyed one is no new authentication.
func (sa *ikeSA) recordUpQuiet() {
	nmin := sa.ni
	if bytes.Compare(sa.nr, sa.ni) < 0 {
		nmin = sa.nr
	}
	e := sa.e
	e.mu.Lock()
	e.estSeq++
	e.upList = append(e.upList, upEntry{
		sa: sa, conn: sa.connName(), localID: sa.localID, remoteID: sa.remoteID, remote: sa.remote.Addr().Unmap(),
		initiator: sa.initiator, seq: e.estSeq, startSeq: sa.startSeq, initialContact: sa.initialContact,
		nonceMin: nmin, reauthOf: sa.reauthOf,
	})
	e.mu.Unlock()
}

// forgetUp removes sa's entry.
func (e *Engine) forgetUp(sa *ikeSA) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.upList {
		if e.upList[i].sa == sa {
			e.upList = append(e.upList[:i], e.upList[i+1:]...)
			return
		}
	}
}

// hasUpWithIDs reports whether an established IKE SA other than sa
// authenticates the same pair of identities (uniqueids=keep).
func (e *Engine) hasUpWithIDs(sa *ikeSA, local, remote Identity) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.upList {
		if u.sa != sa && u.localID.Equal(local) && u.remoteID.Equal(remote) {
			return true
		}
	}
	return false
}

// duplicateLoser decides which of two IKE SAs of the same connection that
// the two ends initiated at the same time is deleted. No RFC defines this;
// cygnet mirrors RFC 7296 2.8.1's rule for CHILD_SA collisions: the SA
// whose lower nonce is the lowest goes. Both ends know all four nonces and
// reach the same answer, and each deletes the loser itself (a Delete
// exchange, RFC 7296 1.4.1), so the pair converges also when the peer
// applies no tie-break at all (strongSwan keeps both), and the deletes of
// two cygnet ends crossing each other are harmless (RFC 7296 2.25).
func duplicateLoser(a, b *upEntry) *upEntry {
	switch c := bytes.Compare(a.nonceMin, b.nonceMin); {
	case c < 0:
		return a
	case c > 0:
		return b
	}
	// Equal nonces do not happen with honest peers; fall back on the
	// establishment order so the decision is still made.
	if a.seq < b.seq {
		return a
	}
	return b
}

// enforceUnique applies Config.UniqueIDs (RFC 7296 2.4) and the
// simultaneous-initiation tie-break after sa was established, with
// strongSwan's meanings: yes and replace delete the older IKE SAs of the
// same pair of identities, no only when the new one came with
// INITIAL_CONTACT, never keeps them all (keep refuses the new one in
// IKE_AUTH). It runs with no SA lock held.
func (e *Engine) enforceUnique(sa *ikeSA) {
	policy := e.config().UniqueIDs
	type action struct {
		sa     *ikeSA
		silent bool // the peer restarted: remove locally
		reason string
		// delay: delete once the peer's retransmissions of IKE_AUTH would
		// be over (retransmit.span), so that it has our response, and the
		// new CHILD_SA, before the old one goes.
		delay bool
	}
	var acts []action
	e.mu.Lock()
	var n *upEntry
	for i := range e.upList {
		if e.upList[i].sa == sa {
			n = &e.upList[i]
		}
	}
	if n == nil {
		e.mu.Unlock()
		return // gone already
	}
	for i := range e.upList {
		o := &e.upList[i]
		if o.sa == sa || o.sa == n.reauthOf || !o.localID.Equal(n.localID) || !o.remoteID.Equal(n.remoteID) {
			continue
		}
		sameConn := o.conn == n.conn && o.remote == n.remote
		switch {
		case n.initialContact && policy != UniqueIDsNever && o.seq <= n.startSeq:
			// RFC 7296 2.4: the peer says this is its only IKE SA with
			// us, so every SA established before this one started is a
			// leftover of a restart.
			acts = append(acts, action{o.sa, true, "peer sent INITIAL_CONTACT", false})
		case sameConn && o.initiator != n.initiator && o.seq > n.startSeq:
			// Both negotiations were under way at the same time: the two
			// ends initiated at once. An SA that was up before this one
			// started is not a duplicate but the one a reauthentication
			// replaces (reauth.go), handled by the cases below and by the
			// reauthenticating end's own Delete.
			l := duplicateLoser(o, n)
			acts = append(acts, action{l.sa, false, "duplicate of a simultaneously initiated IKE_SA", false})
		case (policy == UniqueIDsYes || policy == UniqueIDsReplace) && o.conn == n.conn:
			// strongSwan: "replace" is "yes", a new IKE SA for the same
			// identities replaces the old ones. Only within a connection:
			// strongSwan would carry a second connection's CHILD_SA in the
			// same IKE SA, cygnet negotiates an IKE SA per connection, and
			// replacing across them would make the two flap.
			// When we answered the new SA, the peer may not have our
			// IKE_AUTH response yet (it is lost, say) and still sends on
			// the old CHILD_SA: the old SA goes once the peer's
			// retransmissions would be over, or earlier by the peer's own
			// Delete (a reauthentication, reauth.go).
			acts = append(acts, action{o.sa, false, "replaced by a new IKE_SA (uniqueids=" + policy.String() + ")", !n.initiator})
		}
	}
	e.mu.Unlock()
	for _, a := range acts {
		if a.delay {
			e.replaceLater(a.sa, sa, a.reason)
			continue
		}
		a.sa.lock()
		if a.sa.state == stateEstablished {
			if a.silent {
				a.sa.dropForRestart(a.reason)
			} else {
				a.sa.startDelete(a.reason)
			}
		}
		a.sa.unlock()
	}
}

// replaceLater deletes old once its replacement n has shown that the peer
// holds it (its deferred outbound states are installed, deferout.go) or the
// peer's retransmissions are over: an n the peer never completed (it gave
// up on our IKE_AUTH answer) must not take the working old SA with it. The
// check repeats every retransmission span while both stand.
func (e *Engine) replaceLater(old, n *ikeSA, reason string) {
	e.clock.AfterFunc(e.retry.span(), func() {
		n.lock()
		alive := n.state == stateEstablished
		waiting := false
		for _, ch := range n.children {
			waiting = waiting || ch.pendingOut != nil
		}
		n.unlock()
		if !alive {
			return
		}
		if waiting {
			e.replaceLater(old, n, reason)
			return
		}
		old.lock()
		defer old.unlock()
		if old.state == stateEstablished {
			old.startDelete(reason)
		}
	})
}

// dropForRestart removes an IKE SA whose peer restarted (RFC 7296 2.4):
// its kernel state goes at once and no answer is awaited. A single Delete
// is still sent, unretransmitted: a restarted peer drops it as for an
// unknown SPI, while a peer that does hold the SA (its INITIAL_CONTACT
// raced with this SA's setup on a reordering path) deletes it too.
func (sa *ikeSA) dropForRestart(reason string) {
	sa.logAt(slog.LevelInfo, "ike: removing IKE_SA of a restarted peer", "remote_id", sa.remoteID.String(), "reason", reason)
	if pkts, err := sa.encode(message.Header{Exchange: message.Informational, MessageID: sa.myNext}, []message.Payload{&message.Delete{Protocol: message.ProtoIKE}}); err == nil {
		for _, p := range pkts {
			sa.send(p)
		}
	}
	sa.destroy(reason, nil)
}
