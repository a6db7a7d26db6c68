package ike

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// childRekey is our CREATE_CHILD_SA rekey of a CHILD_SA in flight.
type childRekey struct {
	next *childSA // the replacement, its inbound SPI allocated
	ni   []byte
	ke   suite.KeyExchange // nil without PFS
}

// Rekeying limits.
const (
	// maxChildRekeyRetries bounds the rekeys retried after TEMPORARY_FAILURE
	// or INVALID_KE_PAYLOAD before the SA is left to its hard expiry.
	maxChildRekeyRetries = 5
	// rekeyRetryMin and rekeyRetryMax bound the random delay before a
	// rekey answered with TEMPORARY_FAILURE is retried (RFC 7296 2.25).
	rekeyRetryMin = 2 * time.Second
	rekeyRetryMax = 10 * time.Second
)

// randDuration returns a uniformly random duration in [0, d).
func (e *Engine) randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := randInt(e.rand, int64(d))
	if err != nil {
		return 0
	}
	return time.Duration(n)
}

// randInt returns a random value in [0, max); the modulo bias is below
// 2^-30 for the durations it draws (timer jitter, not keys).
func randInt(r io.Reader, max int64) (int64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return int64(beUint64(b[:]) % uint64(max)), nil
}

// childRekeyDelay is when a CHILD_SA installed now is rekeyed and when it
// expires: strongSwan's rekey time, lifetime - margin - random(margin *
// rekeyfuzz / 100), and the lifetime itself.
func (e *Engine) childRekeyDelay(c *Connection) (rekey, expire time.Duration) {
	l := childLimits(c)
	margin := l.HardTime - l.SoftTime
	fuzz := time.Duration(int64(margin) / 100 * int64(max(c.RekeyFuzz, 0)))
	return l.SoftTime - e.randDuration(fuzz+1), l.HardTime
}

// armChildTimers schedules the rekey (rekey=yes) and the expiry of an
// installed CHILD_SA. The kernel enforces the same limits on its own and
// its soft-expire events (KernelEvent) also start a rekey; whichever comes
// first wins.
func (sa *ikeSA) armChildTimers(ch *childSA) {
	c := sa.conn
	if c == nil || !ch.installed {
		return
	}
	sa.stopChildTimers(ch)
	rekey, expire := sa.e.childRekeyDelay(c)
	now := sa.e.clock.Now()
	if c.Rekey {
		ch.rekeyAt = ch.created.Add(rekey)
		ch.rekeyTimer = sa.e.clock.AfterFunc(ch.rekeyAt.Sub(now), func() {
			sa.lock()
			defer sa.unlock()
			sa.childRekeyDue(ch, "lifetime")
		})
	}
	ch.expireAt = ch.created.Add(expire)
	ch.expireTimer = sa.e.clock.AfterFunc(ch.expireAt.Sub(now), func() {
		sa.lock()
		defer sa.unlock()
		sa.childExpired(ch)
	})
	sa.armOutCheck(ch)
}

func (sa *ikeSA) stopChildTimers(ch *childSA) {
	for _, t := range []Timer{ch.rekeyTimer, ch.expireTimer, ch.outTimer} {
		if t != nil {
			t.Stop()
		}
	}
	ch.rekeyTimer, ch.expireTimer, ch.outTimer = nil, nil, nil
}

// hasChild reports whether ch is one of the SA's current CHILD_SAs.
func (sa *ikeSA) hasChild(ch *childSA) bool { return slices.Contains(sa.children, ch) }

// childRekeyDue starts rekeying ch unless it is already being rekeyed or
// replaced.
func (sa *ikeSA) childRekeyDue(ch *childSA, why string) {
	if sa.state != stateEstablished || !sa.hasChild(ch) || ch.replaced || ch.deleting || ch.rekeying != nil {
		return
	}
	if sa.ikeRekeying != nil || sa.rekeyedTo != nil {
		// The IKE SA is being rekeyed (RFC 7296 2.25): try again on the
		// new one.
		ch.rekeyTimer = sa.e.clock.AfterFunc(ikeRekeyRetry, func() {
			sa.lock()
			n := sa.rekeyedTo
			if n == nil {
				sa.childRekeyDue(ch, why)
			}
			sa.unlock()
			if n != nil {
				n.lock()
				n.childRekeyDue(ch, why)
				n.unlock()
			}
		})
		return
	}
	sa.logAt(slog.LevelInfo, "ike: rekeying CHILD_SA", "child_id", ch.uid, "spi_in", fmt.Sprintf("%08x", ch.spiIn), "trigger", why)
	sa.startChildRekey(ch, message.DHNone)
}

// childExpired handles a CHILD_SA reaching its hard lifetime: it is gone
// from the kernel, so it is deleted (RFC 7296 1.4.1) unless a rekey
// already replaced it.
func (sa *ikeSA) childExpired(ch *childSA) {
	if sa.state == stateDead || !sa.hasChild(ch) || ch.deleting {
		return
	}
	if ch.replaced {
		// The peer did not delete the old SA after our rekey; do it now.
		sa.deleteChild(ch, "expired after rekey")
		return
	}
	sa.logAt(slog.LevelInfo, "ike: CHILD_SA expired", "child_id", ch.uid)
	sa.deleteChild(ch, "hard lifetime reached")
}

// startChildRekey sends CREATE_CHILD_SA with REKEY_SA for ch (RFC 7296
// 1.3.3). group, when not DHNone, is the key exchange the peer asked for
// with INVALID_KE_PAYLOAD.
func (sa *ikeSA) startChildRekey(ch *childSA, group message.DHGroup) {
	c := sa.conn
	next, err := sa.newChild()
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA rekey not started", "child_id", ch.uid, "err", err)
		return
	}
	offer, err := suite.Numbered(message.ProtoESP, spiBytes32(next.spiIn), espProposals(c, true))
	if err != nil || len(offer) == 0 {
		sa.releaseSPI(next)
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA rekey not started: no ESP proposal", "child_id", ch.uid)
		return
	}
	r := &childRekey{next: next, ni: make([]byte, keymat.NonceLen)}
	if _, err := io.ReadFull(sa.e.rand, r.ni); err != nil {
		sa.releaseSPI(next)
		return
	}
	if groups := suite.Groups(offer); len(groups) > 0 {
		// PFS (RFC 7296 1.3.1): the KE payload is for the first group
		// offered, or the one the peer asked for.
		g := groups[0]
		if group != message.DHNone && slices.Contains(groups, group) {
			g = group
		}
		if r.ke, err = suite.NewKeyExchange(g, sa.e.rand); err != nil {
			sa.releaseSPI(next)
			sa.logAt(slog.LevelWarn, "ike: CHILD_SA rekey not started", "err", err)
			return
		}
	}
	next.offer, next.tsLocal, next.tsRemote = offer, ch.tsLocal, ch.tsRemote
	ch.rekeying = r
	ps := []message.Payload{
		&message.Notify{Protocol: message.ProtoESP, SPI: spiBytes32(ch.spiIn), NotifyType: message.RekeySA},
		&message.Notify{NotifyType: message.UseTransportMode},
		&message.SA{Proposals: offer},
		&message.Nonce{Data: r.ni},
	}
	if r.ke != nil {
		ps = append(ps, &message.KE{Group: r.ke.Group(), Data: r.ke.Public()})
	}
	ps = append(ps, &message.TSi{Selectors: []message.TrafficSelector{ch.tsLocal}},
		&message.TSr{Selectors: []message.TrafficSelector{ch.tsRemote}})
	sa.request(message.CreateChildSA, ps, func(_ *message.Message, ps message.Payloads) { sa.onChildRekeyResponse(ch, r, ps) }, func() {
		sa.destroy("peer not responding", fmt.Errorf("ike: conn %s: peer %v not responding to CREATE_CHILD_SA", sa.connName(), sa.remote))
	})
}

// onChildRekeyResponse completes our rekey of old (RFC 7296 1.3.3) and
// resolves a collision with the peer's rekey of it (RFC 7296 2.8.1).
func (sa *ikeSA) onChildRekeyResponse(old *childSA, r *childRekey, ps message.Payloads) {
	old.rekeying = nil
	next := r.next
	fail := func(reason string) {
		sa.releaseSPI(next)
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA rekey failed", "child_id", old.uid, "reason", reason)
	}
	if sa.state != stateEstablished {
		fail("IKE_SA going down")
		return
	}
	var errN *message.Notify
	for _, n := range ps.Notifies() {
		if n.NotifyType.IsError() {
			errN = n
			break
		}
	}
	if errN != nil {
		fail("peer sent " + errN.NotifyType.String())
		switch {
		case old.collide != nil:
			// The peer rekeyed old itself (its request crossed ours and it
			// had finished first): its replacement stands, it deletes old.
			old.replaced = true
			old.collide = nil
			sa.stopChildTimers(old)
		case !sa.hasChild(old) || old.deleting:
		case errN.NotifyType == message.ChildSANotFound:
			// The peer has no such SA: ours is useless (RFC 7296 2.25.1).
			sa.takeChild(old)
			sa.removeChild(old, "peer does not know it")
		case errN.NotifyType == message.InvalidKEPayload && old.retries < maxChildRekeyRetries:
			old.retries++
			g, err := message.DecodeInvalidKEData(errN.Data)
			if err == nil {
				sa.startChildRekey(old, g)
			}
		case errN.NotifyType == message.TemporaryFailure && old.retries < maxChildRekeyRetries:
			// RFC 7296 2.25: retry after a short random delay.
			old.retries++
			d := rekeyRetryMin + sa.e.randDuration(rekeyRetryMax-rekeyRetryMin)
			old.rekeyTimer = sa.e.clock.AfterFunc(d, func() {
				sa.lock()
				defer sa.unlock()
				sa.childRekeyDue(old, "retry")
			})
		}
		return
	}
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	if np == nil || sap == nil || len(sap.Proposals) != 1 || keymat.CheckNonce(sa.prf, np.Data) != nil {
		fail("response lacks SA or Nonce")
		return
	}
	st, err := suite.CheckReply(next.offer, sap.Proposals[0])
	if err != nil {
		fail(err.Error())
		return
	}
	if st.KE != message.DHNone {
		kep, _ := ps.First(message.PayloadKE).(*message.KE)
		if r.ke == nil || kep == nil || kep.Group != r.ke.Group() || st.KE != r.ke.Group() {
			fail("key exchange does not match the offer")
			return
		}
		gir, err := r.ke.SharedSecret(kep.Data)
		if err != nil {
			fail(err.Error())
			return
		}
		next.gir = gir
	}
	next.ni, next.nr = r.ni, bytes.Clone(np.Data)
	if p := old.collide; p != nil && sa.hasChild(old) && lowestNonceIn(r.ni, next.nr, p.ni, p.nr) {
		// We lose the collision (decided below): next is redundant and
		// must never carry traffic, the peer never sends on it either.
		next.inboundOnly = true
	}
	if err := sa.acceptChild(next, ps); err != nil {
		clear(next.gir)
		fail(err.Error())
		return
	}
	sa.children = append(sa.children, next)
	sa.rekeyed(old, next)
	if !sa.hasChild(old) {
		// The peer deleted old meanwhile (RFC 7296 2.25.1): next is all.
		return
	}
	if p := old.collide; p != nil {
		// RFC 7296 2.8.1: both ends rekeyed old. The SA created with the
		// lowest of the four nonces is redundant and deleted by the end
		// that created it; the other end deletes old.
		old.collide = nil
		if lowestNonceIn(r.ni, next.nr, p.ni, p.nr) {
			sa.logAt(slog.LevelInfo, "ike: CHILD_SA rekey collision lost", "child_id", old.uid)
			old.replaced = true
			sa.stopChildTimers(old)
			next.replaced = true
			sa.deleteChild(next, "redundant after a rekey collision")
			return
		}
		sa.logAt(slog.LevelInfo, "ike: CHILD_SA rekey collision won", "child_id", old.uid)
		// The peer deletes its redundant replacement, which never sends.
		p.replaced = true
		sa.stopChildTimers(p)
		dropPendingOut(p)
	}
	old.replaced = true
	sa.deleteChild(old, "rekeyed")
}

// lowestNonceIn reports whether the lowest of the four nonces is one of
// the first pair (a, b) (RFC 7296 2.8.1).
func lowestNonceIn(a, b, c, d []byte) bool {
	ours := a
	if bytes.Compare(b, ours) < 0 {
		ours = b
	}
	theirs := c
	if bytes.Compare(d, theirs) < 0 {
		theirs = d
	}
	return bytes.Compare(ours, theirs) < 0
}

// rekeyed reports next as old's successor.
func (sa *ikeSA) rekeyed(old, next *childSA) {
	sa.logAt(slog.LevelInfo, "ike: CHILD_SA rekeyed", "child_id", next.uid, "old_child_id", old.uid,
		"spi_in", fmt.Sprintf("%08x", next.spiIn), "spi_out", fmt.Sprintf("%08x", next.spiOut),
		"old_spi_in", fmt.Sprintf("%08x", old.spiIn), "proposal", suite.FormatStatus(next.proposal))
	sa.event(Event{Type: EventChildRekeyed, ChildUniqueID: next.uid, SPIIn: next.spiIn, SPIOut: next.spiOut, ReqID: next.reqid,
		Reason: fmt.Sprintf("replaces CHILD_SA %d (SPIs %08x/%08x)", old.uid, old.spiIn, old.spiOut)})
	sa.armChildTimers(next)
}

// deleteChild deletes one CHILD_SA with an INFORMATIONAL exchange (RFC
// 7296 1.4.1). Its kernel state stays until the peer answers, so that
// traffic the peer still sends on it arrives (make-before-break).
func (sa *ikeSA) deleteChild(ch *childSA, reason string) {
	if ch.deleting {
		return
	}
	ch.deleting = true
	sa.stopChildTimers(ch)
	sa.retireOutbound(ch)
	done := func() {
		if sa.takeChild(ch) {
			sa.removeChild(ch, reason)
		}
	}
	sa.request(message.Informational, []message.Payload{&message.Delete{Protocol: message.ProtoESP, SPISize: 4, SPIs: [][]byte{spiBytes32(ch.spiIn)}}},
		func(*message.Message, message.Payloads) { done() },
		func() {
			done()
			sa.destroy("peer not responding", fmt.Errorf("ike: conn %s: peer %v not responding to a CHILD_SA delete", sa.connName(), sa.remote))
		})
}

// takeChild removes ch from the SA's list and reports whether it was there.
func (sa *ikeSA) takeChild(ch *childSA) bool {
	for i, x := range sa.children {
		if x == ch {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			return true
		}
	}
	return false
}

// childBySPI finds a CHILD_SA by either of its SPIs.
func (sa *ikeSA) childBySPI(spi uint32) *childSA {
	for _, ch := range sa.children {
		if ch.spiOut == spi || ch.spiIn == spi {
			return ch
		}
	}
	return nil
}

// handleCreateChild answers CREATE_CHILD_SA (RFC 7296 1.3). Rekeying a
// CHILD_SA (REKEY_SA) is supported; additional CHILD_SAs and IKE SA
// rekeying are refused so that the peer keeps the IKE SA.
func (sa *ikeSA) handleCreateChild(h message.Header, raw []byte, ps message.Payloads) {
	if sap, _ := ps.First(message.PayloadSA).(*message.SA); sap != nil && len(sap.Proposals) > 0 && sap.Proposals[0].Protocol == message.ProtoIKE {
		sa.handleIKERekey(h, raw, ps)
		return
	}
	rk := ps.Notify(message.RekeySA)
	if rk == nil || rk.Protocol != message.ProtoESP {
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.NoAdditionalSAs}})
		return
	}
	notify := func(t message.NotifyType, data []byte) {
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: t, Data: data}})
	}
	var old *childSA
	if len(rk.SPI) == 4 {
		old = sa.childBySPI(beUint32(rk.SPI))
	}
	switch {
	case old == nil:
		// RFC 7296 2.25.1: it was deleted meanwhile, or never existed.
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.ChildSANotFound, Protocol: message.ProtoESP, SPI: rk.SPI}})
		return
	case old.replaced || old.deleting || sa.ikeRekeying != nil:
		// RFC 7296 2.25: we already rekeyed or are deleting it.
		notify(message.TemporaryFailure, nil)
		return
	}
	c := sa.conn
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	tsi, _ := ps.First(message.PayloadTSi).(*message.TSi)
	tsr, _ := ps.First(message.PayloadTSr).(*message.TSr)
	if sap == nil || np == nil || tsi == nil || tsr == nil || keymat.CheckNonce(sa.prf, np.Data) != nil {
		notify(message.InvalidSyntax, nil)
		return
	}
	if ps.Notify(message.UseTransportMode) == nil {
		notify(message.NoProposalChosen, nil)
		return
	}
	chosen, err := suite.Select(espProposals(c, true), sap.Proposals)
	if err != nil {
		sa.e.counters.noProposal.Add(1)
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA rekey refused", "err", err)
		notify(message.NoProposalChosen, nil)
		return
	}
	st, err := suite.FromProposal(chosen)
	if err != nil || len(chosen.SPI) != 4 {
		notify(message.NoProposalChosen, nil)
		return
	}
	var pub, gir []byte
	if st.KE != message.DHNone {
		kep, _ := ps.First(message.PayloadKE).(*message.KE)
		if kep == nil || kep.Group != st.KE {
			sa.e.counters.invalidKE.Add(1)
			notify(message.InvalidKEPayload, message.InvalidKEData(st.KE))
			return
		}
		if pub, gir, err = suite.Respond(st.KE, kep.Data, sa.e.rand); err != nil {
			notify(message.InvalidSyntax, nil)
			return
		}
	}
	remoteTS, ok1 := narrow(sa.natTS(tsi.Selectors, old.tsRemote.Start), old.tsRemote)
	localTS, ok2 := narrow(sa.natTS(tsr.Selectors, old.tsLocal.Start), old.tsLocal)
	if !ok1 || !ok2 {
		clear(gir)
		notify(message.TSUnacceptable, nil)
		return
	}
	next, err := sa.newChild()
	if err != nil {
		clear(gir)
		notify(message.NoProposalChosen, nil)
		return
	}
	next.suite, next.spiOut, next.tsLocal, next.tsRemote = st, beUint32(chosen.SPI), localTS, remoteTS
	next.ni, next.gir = bytes.Clone(np.Data), gir
	next.nr = make([]byte, keymat.NonceLen)
	if _, err := io.ReadFull(sa.e.rand, next.nr); err != nil {
		sa.releaseSPI(next)
		notify(message.NoProposalChosen, nil)
		return
	}
	chosen.SPI = spiBytes32(next.spiIn)
	next.proposal = chosen
	// The initiator sends on the new SA only once it has our answer (RFC
	// 7296 2.8), and can receive on it only from then on: the inbound
	// state goes in now, the outbound one when the initiator deletes old.
	if err := sa.installInbound(next); err != nil {
		sa.releaseSPI(next)
		sa.logAt(slog.LevelError, "ike: installing rekeyed CHILD_SA", "err", err)
		notify(message.NoProposalChosen, nil)
		return
	}
	out := []message.Payload{&message.Notify{NotifyType: message.UseTransportMode}, &message.SA{Proposals: []message.Proposal{chosen}}, &message.Nonce{Data: next.nr}}
	if pub != nil {
		out = append(out, &message.KE{Group: st.KE, Data: pub})
	}
	out = append(out, &message.TSi{Selectors: []message.TrafficSelector{remoteTS}}, &message.TSr{Selectors: []message.TrafficSelector{localTS}})
	sa.respond(h, raw, out)
	sa.children = append(sa.children, next)
	sa.rekeyed(old, next)
	if old.rekeying != nil {
		// RFC 7296 2.8.1: our own rekey of old is in flight; which of the
		// two replacements stays is decided when its answer arrives.
		// Either way old is replaced.
		old.collide = next
	}
	// The peer deletes old once it has our answer (or we do, winning a
	// collision).
	old.successor = next
	old.replaced = true
	sa.stopChildTimers(old)
}

// childExpire handles a kernel expire event for the state (spi, dst).
func (e *Engine) childExpire(spi uint32, dst netip.Addr, hard bool) {
	dst = dst.Unmap()
	for _, sa := range e.snapshot() {
		sa.lock()
		for _, ch := range sa.children {
			if (ch.spiIn == spi && sa.local.Addr().Unmap() == dst) || (ch.spiOut == spi && sa.remote.Addr().Unmap() == dst) {
				if hard {
					sa.childExpired(ch)
				} else if sa.conn != nil && sa.conn.Rekey {
					sa.childRekeyDue(ch, "kernel soft expire")
				}
				break
			}
		}
		sa.unlock()
	}
}
