package ike

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// ikeRekey is our rekey of an IKE SA in flight (RFC 7296 1.3.2).
type ikeRekey struct {
	next *ikeSA // the new SA, registered under its SPI, not yet usable
	ni   []byte
	ke   suite.KeyExchange
}

// ikeRekeyRetry is how long a rekey of the IKE SA waits for the SA's
// other exchanges to finish, or after TEMPORARY_FAILURE (RFC 7296 2.25).
const ikeRekeyRetry = 5 * time.Second

// armIKETimer schedules the IKE SA's rekey at rekeyAt (rekey=yes and
// reauth=no; reauth=yes is reauth.go's).
func (sa *ikeSA) armIKETimer() {
	if sa.rekeyTimer != nil {
		sa.rekeyTimer.Stop()
		sa.rekeyTimer = nil
	}
	if sa.rekeyAt.IsZero() {
		return
	}
	sa.rekeyTimer = sa.e.clock.AfterFunc(sa.rekeyAt.Sub(sa.e.clock.Now()), func() {
		sa.lock()
		defer sa.unlock()
		sa.ikeRekeyDue()
	})
}

// busy reports whether an exchange of ours or a CHILD_SA rekey or delete
// is under way; an IKE rekey waits for them (RFC 7296 2.25).
func (sa *ikeSA) busy() bool {
	if sa.pending != nil || len(sa.queue) > 0 {
		return true
	}
	for _, ch := range sa.children {
		if ch.rekeying != nil || ch.deleting {
			return true
		}
	}
	return false
}

func (sa *ikeSA) ikeRekeyDue() {
	if sa.state != stateEstablished || sa.rekeyedTo != nil || sa.ikeRekeying != nil {
		return
	}
	if sa.busy() {
		sa.rekeyAt = sa.e.clock.Now().Add(ikeRekeyRetry)
		sa.armIKETimer()
		return
	}
	sa.startIKERekey()
}

// startIKERekey sends CREATE_CHILD_SA with the IKE proposals, a new SPI,
// nonce and key exchange (RFC 7296 1.3.2).
func (sa *ikeSA) startIKERekey() {
	c := sa.conn
	e := sa.e
	offer := ikeOffer(c)
	groups := suite.Groups(offer)
	if len(groups) == 0 {
		return
	}
	g := groups[0]
	if slices.Contains(groups, sa.suite.KE) {
		g = sa.suite.KE // what the peer accepted before: no INVALID_KE round
	}
	ke, err := suite.NewKeyExchange(g, e.rand)
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: IKE_SA rekey not started", "err", err)
		return
	}
	r := &ikeRekey{ni: make([]byte, keymat.NonceLen), ke: ke}
	if _, err := io.ReadFull(e.rand, r.ni); err != nil {
		return
	}
	next, err := sa.newSuccessor(true)
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: IKE_SA rekey not started", "err", err)
		return
	}
	r.next = next
	numbered, err := suite.Numbered(message.ProtoIKE, putUint64(next.spiI), offer)
	if err != nil {
		next.destroyQuiet()
		return
	}
	next.ikeOffer = numbered
	sa.ikeRekeying = r
	sa.logAt(slog.LevelInfo, "ike: rekeying IKE_SA")
	ps := []message.Payload{&message.SA{Proposals: numbered}, &message.Nonce{Data: r.ni}, &message.KE{Group: g, Data: ke.Public()}}
	sa.request(message.CreateChildSA, ps, func(_ *message.Message, ps message.Payloads) { sa.onIKERekeyResponse(r, ps) }, func() {
		sa.ikeRekeying = nil
		next.destroyQuiet()
		sa.destroy("peer not responding", fmt.Errorf("ike: conn %s: peer %v not responding to the IKE_SA rekey", sa.connName(), sa.remote))
	})
}

// newSuccessor creates, registered but not yet established, the IKE SA
// that replaces sa; initiator says whether this end initiates the rekey
// (and so becomes the new SA's original initiator, RFC 7296 3.1).
func (sa *ikeSA) newSuccessor(initiator bool) (*ikeSA, error) {
	n := &ikeSA{
		e: sa.e, conn: sa.conn, initiator: initiator, state: stateInitDone, dead: make(chan struct{}),
		local: sa.local, remote: sa.remote, natLocal: sa.natLocal, natRemote: sa.natRemote, peerFrag: sa.peerFrag,
		peerHashes: sa.peerHashes, localID: sa.localID, remoteID: sa.remoteID, localAuth: sa.localAuth, remoteAuth: sa.remoteAuth,
		rekeyOf: sa,
	}
	spi, err := sa.e.register(n)
	if err != nil {
		return nil, err
	}
	// Registered, n is in the engine's list that Status locks and reads:
	// its fields change under its own lock from here on.
	n.mu.Lock()
	if initiator {
		n.spiI = spi
	} else {
		n.spiR = spi
	}
	n.mu.Unlock()
	return n, nil
}

// destroyQuiet drops a successor that never came up.
func (n *ikeSA) destroyQuiet() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == stateDead {
		return
	}
	n.state = stateDead
	if n.keys != nil {
		n.keys.Clear()
	}
	n.e.unregister(n, n.localSPI(), halfOpenKey{}, false)
	close(n.dead)
}

// completeSuccessor derives the new SA's keys (RFC 7296 2.18) and makes it
// the established IKE SA. The caller holds sa's lock; n is not yet
// reachable by anyone else's lock holder except through HandlePacket,
// which is why its fields are set under its own lock.
func (sa *ikeSA) completeSuccessor(n *ikeSA, st suite.Suite, chosen message.Proposal, gir, ni, nr []byte) error {
	prf, err := st.NewPRF()
	if err != nil {
		return err
	}
	keys, err := keymat.RekeyIKE(sa.prf, sa.keys.SKd, st, gir, ni, nr, putUint64(n.spiI), putUint64(n.spiR))
	clear(gir)
	if err != nil {
		return err
	}
	out, in, err := keys.Ciphers(st, n.initiator, sa.e.rand)
	if err != nil {
		keys.Clear()
		return err
	}
	n.mu.Lock()
	n.suite, n.proposal, n.prf, n.keys, n.out, n.in = st, chosen, prf, keys, out, in
	n.ni, n.nr = ni, nr
	n.state = stateEstablished
	n.established = sa.e.clock.Now()
	n.upAddr = n.remote.Addr()
	// A successor that the collision rules leave to the peer to delete is
	// deleted by us if the peer's Delete never comes (it got lost, or the
	// peer's view diverged), so that no IKE SA without CHILD_SAs lingers.
	n.halfTimer = sa.e.clock.AfterFunc(successorTimeout, func() {
		n.lock()
		defer n.unlock()
		if n.state == stateEstablished && !n.counted {
			n.startDelete("rekey successor never taken over")
		}
	})
	n.mu.Unlock()
	return nil
}

// successorTimeout outlasts the peer's whole retransmission schedule
// (165 s with strongSwan's defaults).
const successorTimeout = 3 * time.Minute

// adopt moves sa's CHILD_SAs to n, which becomes the live IKE SA, and
// reports the rekey (RFC 7296 2.18: the CHILD_SAs belong to the new SA).
// It reports false, moving nothing, when n is no longer usable (the peer
// deleted it meanwhile).
func (sa *ikeSA) adopt(n *ikeSA) bool {
	n.mu.Lock()
	if n.state != stateEstablished || sa.state == stateDead {
		n.mu.Unlock()
		return false
	}
	if n.halfTimer != nil {
		n.halfTimer.Stop()
		n.halfTimer = nil
	}
	n.children = sa.children
	for _, ch := range n.children {
		n.armChildTimers(ch)
	}
	c := n.conn
	if c != nil && c.Rekey && !c.Reauth {
		n.rekeyAt = n.established.Add(ikeRekeyTime(c))
		n.armIKETimer()
	}
	n.e.peerUp(n.upAddr, +1)
	n.armLiveness()
	n.counted = true
	n.recordUpQuiet()
	n.logAt(slog.LevelInfo, "ike: IKE_SA rekeyed", "old_spi_i", fmt.Sprintf("%016x", sa.spiI), "old_spi_r", fmt.Sprintf("%016x", sa.spiR),
		"proposal", suite.Format(n.proposal))
	n.event(Event{Type: EventIKERekeyed, Reason: fmt.Sprintf("replaces IKE_SA %d (%016x_%016x)", sa.uid, sa.spiI, sa.spiR)})
	fx := n.fx
	n.fx = effects{}
	n.mu.Unlock()
	sa.fx.packets = append(sa.fx.packets, fx.packets...)
	sa.fx.before = append(sa.fx.before, fx.before...)
	// The children's timers were re-armed on n above.
	sa.children = nil
	sa.rekeyedTo = n
	sa.stopLiveness()
	if sa.rekeyTimer != nil {
		sa.rekeyTimer.Stop()
	}
	return true
}

// ikeRekeyTime is an IKE SA's rekey time: ikelifetime less the margin.
func ikeRekeyTime(c *Connection) time.Duration {
	life := c.IKELifetime
	if life == 0 {
		life = 3 * time.Hour
	}
	margin := c.MarginTime
	if margin == 0 || margin >= life {
		margin = min(defaultMarginTime, life/2)
	}
	return life - margin
}

// onIKERekeyResponse completes our IKE rekey and resolves a collision with
// the peer's (RFC 7296 2.8.2).
func (sa *ikeSA) onIKERekeyResponse(r *ikeRekey, ps message.Payloads) {
	sa.ikeRekeying = nil
	n := r.next
	collide := sa.ikeCollide
	sa.ikeCollide = nil
	fail := func(reason string) {
		n.destroyQuiet()
		sa.logAt(slog.LevelWarn, "ike: IKE_SA rekey failed", "reason", reason)
		if collide != nil && sa.state == stateEstablished && sa.adopt(collide) {
			// The peer's rekey stands; it deletes this SA.
			return
		}
		if sa.state == stateEstablished {
			sa.rekeyAt = sa.e.clock.Now().Add(ikeRekeyRetry)
			sa.armIKETimer()
		}
	}
	if sa.state != stateEstablished {
		fail("IKE_SA going down")
		return
	}
	for _, x := range ps.Notifies() {
		if x.NotifyType.IsError() {
			fail("peer sent " + x.NotifyType.String())
			return
		}
	}
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	kep, _ := ps.First(message.PayloadKE).(*message.KE)
	if sap == nil || np == nil || kep == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 8 || keymat.CheckNonce(sa.prf, np.Data) != nil {
		fail("response lacks SA, Nonce or KE")
		return
	}
	st, err := suite.CheckReply(n.ikeOffer, sap.Proposals[0])
	if err != nil || st.KE != r.ke.Group() || kep.Group != st.KE {
		fail("unacceptable proposal")
		return
	}
	gir, err := r.ke.SharedSecret(kep.Data)
	if err != nil {
		fail(err.Error())
		return
	}
	spiR := beUint64(sap.Proposals[0].SPI)
	n.mu.Lock()
	n.spiR = spiR
	n.mu.Unlock()
	if spiR == 0 {
		fail("zero SPI")
		return
	}
	if err := sa.completeSuccessor(n, st, sap.Proposals[0], gir, r.ni, bytes.Clone(np.Data)); err != nil {
		fail(err.Error())
		return
	}
	if collide != nil && lowestNonceIn(r.ni, np.Data, collide.ni, collide.nr) && sa.adopt(collide) {
		// RFC 7296 2.8.2: our new SA holds the lowest nonce, we delete it
		// (it never carries a CHILD_SA) and the peer deletes the old one.
		// (Had the peer deleted its successor already, it lost, and ours
		// stands below.)
		sa.logAt(slog.LevelInfo, "ike: IKE_SA rekey collision lost")
		n.mu.Lock()
		n.startDelete("redundant after an IKE_SA rekey collision")
		fx := n.fx
		n.fx = effects{}
		n.mu.Unlock()
		sa.fx.packets = append(sa.fx.packets, fx.packets...)
		sa.fx.before = append(sa.fx.before, fx.before...)
		return
	}
	if collide != nil {
		sa.logAt(slog.LevelInfo, "ike: IKE_SA rekey collision won")
		// The peer deletes its new SA (our collide), which stays empty.
	}
	if !sa.adopt(n) {
		n.destroyQuiet()
		return
	}
	sa.startDelete("rekeyed")
}

// handleIKERekey answers the peer's rekey of this IKE SA (RFC 7296 1.3.2).
func (sa *ikeSA) handleIKERekey(h message.Header, raw []byte, ps message.Payloads) {
	notify := func(t message.NotifyType, data []byte) {
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: t, Data: data}})
	}
	if sa.rekeyedTo != nil || (sa.busy() && sa.ikeRekeying == nil) {
		// RFC 7296 2.25: rekeyed already, or a CHILD_SA exchange of ours
		// is under way.
		notify(message.TemporaryFailure, nil)
		return
	}
	c := sa.conn
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	kep, _ := ps.First(message.PayloadKE).(*message.KE)
	if np == nil || kep == nil || keymat.CheckNonce(sa.prf, np.Data) != nil {
		notify(message.InvalidSyntax, nil)
		return
	}
	chosen, err := suite.Select(ikeOffer(c), sap.Proposals)
	if err != nil || len(chosen.SPI) != 8 || beUint64(chosen.SPI) == 0 {
		sa.e.counters.noProposal.Add(1)
		notify(message.NoProposalChosen, nil)
		return
	}
	st, err := suite.FromProposal(chosen)
	if err != nil {
		notify(message.NoProposalChosen, nil)
		return
	}
	if kep.Group != st.KE {
		sa.e.counters.invalidKE.Add(1)
		notify(message.InvalidKEPayload, message.InvalidKEData(st.KE))
		return
	}
	pub, gir, err := suite.Respond(st.KE, kep.Data, sa.e.rand)
	if err != nil {
		notify(message.InvalidSyntax, nil)
		return
	}
	nr := make([]byte, keymat.NonceLen)
	if _, err := io.ReadFull(sa.e.rand, nr); err != nil {
		return
	}
	n, err := sa.newSuccessor(false)
	if err != nil {
		clear(gir)
		notify(message.NoProposalChosen, nil)
		return
	}
	n.mu.Lock()
	n.spiI = beUint64(chosen.SPI)
	spiR := n.spiR
	n.mu.Unlock()
	chosen.SPI = putUint64(spiR)
	if err := sa.completeSuccessor(n, st, chosen, gir, bytes.Clone(np.Data), nr); err != nil {
		n.destroyQuiet()
		notify(message.NoProposalChosen, nil)
		return
	}
	sa.respond(h, raw, []message.Payload{&message.SA{Proposals: []message.Proposal{chosen}}, &message.Nonce{Data: nr}, &message.KE{Group: st.KE, Data: pub}})
	if sa.ikeRekeying != nil {
		// RFC 7296 2.8.2: both ends rekey; decided when our answer comes.
		sa.ikeCollide = n
		return
	}
	// The peer deletes this SA once it has our answer.
	if !sa.adopt(n) {
		n.destroyQuiet()
	}
}
