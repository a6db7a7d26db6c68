package ike

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cygnet-ipsec/cygnet/ike/auth"
	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// localIdentity is the ID this end sends: the configured one, else the
// certificate's subject, else the address (strongSwan's leftid default).
func (sa *ikeSA) localIdentity(c *Connection) Identity {
	switch {
	case !c.Local.ID.IsZero():
		return c.Local.ID
	case c.Local.Cert != nil && c.Local.Auth == AuthPubkey:
		return localCertID(c.Local.Cert)
	}
	return IdentityFromAddr(sa.local.Addr())
}

// expectedRemote is the identity the peer must prove: the configured one,
// else any (AnyID), else its certificate's subject or its address when
// that is fixed; the zero Identity accepts any.
func expectedRemote(c *Connection) Identity {
	switch {
	case !c.Remote.ID.IsZero():
		return c.Remote.ID
	case c.Remote.AnyID:
		return Identity{}
	case c.Remote.Cert != nil && c.Remote.Auth == AuthPubkey:
		return localCertID(c.Remote.Cert)
	case c.Remote.Addr.IsValid():
		return IdentityFromAddr(c.Remote.Addr)
	}
	return Identity{}
}

// idMatches reports whether the peer's identity satisfies a configured
// one, with strongSwan's rules (auth.MatchIdentity: canonical DN
// comparison, case-insensitive FQDN and e-mail, "*" wildcards).
func idMatches(want, got Identity) bool {
	if want.IsZero() {
		return true
	}
	return auth.MatchIdentity(want.Type, want.Data, got.Type, got.Data) >= auth.MatchWildcard
}

// sendAuth sends the initiator's IKE_AUTH request (RFC 7296 1.2) with the
// CHILD_SA proposal of the connection.
func (sa *ikeSA) sendAuth() {
	c := sa.conn
	sa.localID = sa.localIdentity(c)
	sa.localAuth, sa.remoteAuth = c.Local.Auth, c.Remote.Auth
	idi := &message.IDi{IDType: sa.localID.Type, Data: sa.localID.Data}
	ps := []message.Payload{idi}
	if sa.e.config().UniqueIDs != UniqueIDsNever && sa.reauthOf == nil && sa.e.peerUp(sa.remote.Addr(), 0) == 0 {
		// RFC 7296 2.4: with no other IKE SA to this peer, tell it to
		// drop any it still holds from before (a restart), as charon does.
		ps = append(ps, &message.Notify{NotifyType: message.InitialContact})
	}
	certs, err := sa.localCertPayloads(c)
	if err != nil {
		sa.destroy("credentials", err)
		return
	}
	ps = append(ps, certs...)
	if cr := sa.certReq(); cr != nil {
		ps = append(ps, cr)
	}
	if !c.Remote.ID.IsZero() {
		ps = append(ps, &message.IDr{IDType: c.Remote.ID.Type, Data: c.Remote.ID.Data})
	}
	signed := keymat.SignedOctets(sa.prf, sa.initReq, sa.nr, sa.keys.SKpi, idi.RestOfPayload())
	auth, err := sa.buildAuth(c, signed, expectedRemote(c))
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: cannot authenticate", "err", err)
		sa.destroy("credentials", err)
		return
	}
	ps = append(ps, auth)
	ch, err := sa.newChild()
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA not offered", "err", err)
		sa.destroy("kernel", err)
		return
	}
	offer, err := suite.Numbered(message.ProtoESP, spiBytes32(ch.spiIn), espOffer(c))
	if err == nil && len(offer) == 0 {
		err = errors.New("no installable ESP proposal configured")
	}
	if err != nil {
		sa.releaseSPI(ch)
		sa.destroy("esp proposals", fmt.Errorf("ike: conn %s: %w", c.Name, err))
		return
	}
	ch.offer = offer
	ch.tsLocal = selector(sa.local.Addr(), c.Local.ProtoPort)
	ch.tsRemote = selector(sa.remote.Addr(), c.Remote.ProtoPort)
	sa.pendingChild = ch
	ps = append(ps, &message.Notify{NotifyType: message.UseTransportMode},
		&message.SA{Proposals: offer},
		&message.TSi{Selectors: []message.TrafficSelector{ch.tsLocal}},
		&message.TSr{Selectors: []message.TrafficSelector{ch.tsRemote}})
	sa.request(message.IKEAuth, ps, sa.onAuthResponse, func() {
		sa.destroy("peer not responding", fmt.Errorf("ike: conn %s: peer %v not responding to IKE_AUTH", c.Name, sa.remote))
	})
}

// onAuthResponse completes IKE_AUTH as initiator.
func (sa *ikeSA) onAuthResponse(m *message.Message, ps message.Payloads) {
	c := sa.conn
	idr, _ := ps.First(message.PayloadIDr).(*message.IDr)
	auth, _ := ps.First(message.PayloadAUTH).(*message.Auth)
	if idr == nil || auth == nil {
		// Without AUTH the IKE SA failed; an error notification says why.
		reason := "IKE_AUTH response without IDr and AUTH"
		for _, n := range ps.Notifies() {
			if n.NotifyType.IsError() {
				reason = "peer sent " + n.NotifyType.String()
				break
			}
		}
		if ps.Notify(message.AuthenticationFailed) != nil {
			sa.e.counters.authFailures.Add(1)
			sa.logAt(slog.LevelWarn, "ike: authentication failed", "peer", sa.remote.String(), "reason", reason)
			sa.destroy("authentication failed", fmt.Errorf("ike: conn %s: %w: %s", c.Name, ErrAuthFailed, reason))
			return
		}
		sa.logAt(slog.LevelWarn, "ike: IKE_AUTH failed", "reason", reason)
		sa.destroy(reason, fmt.Errorf("ike: conn %s: IKE_AUTH failed: %s", c.Name, reason))
		return
	}
	peerID := Identity{Type: idr.IDType, Data: clone(idr.Data)}
	want := expectedRemote(c)
	var err error
	if !idMatches(want, peerID) {
		err = fmt.Errorf("%w: peer identity %v is not the configured %v", ErrAuthFailed, peerID, want)
	} else {
		signed := keymat.SignedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, idr.RestOfPayload())
		err = sa.verifyAuth(c, peerID, auth, ps, signed)
	}
	if err != nil {
		sa.e.counters.authFailures.Add(1)
		sa.logAt(slog.LevelWarn, "ike: authentication failed", "peer", sa.remote.String(), "remote_id", peerID.String(), "err", err)
		// RFC 7296 2.21.2: tell the responder in a separate INFORMATIONAL.
		if pkts, e2 := sa.encode(message.Header{Exchange: message.Informational, MessageID: sa.myNext}, []message.Payload{&message.Notify{NotifyType: message.AuthenticationFailed}}); e2 == nil {
			for _, p := range pkts {
				sa.send(p)
			}
		}
		sa.destroy("authentication failed", fmt.Errorf("ike: conn %s: %w", c.Name, err))
		return
	}
	sa.remoteID = peerID
	if ps.Notify(message.InitialContact) != nil {
		sa.initialContact = sa.e.config().UniqueIDs != UniqueIDsNever
	}
	sa.establish()
	// The CHILD_SA (RFC 7296 1.2): an error notification means the IKE SA
	// stands without it.
	ch := sa.pendingChild
	sa.pendingChild = nil
	if err := sa.acceptChild(ch, ps); err != nil {
		sa.releaseSPI(ch)
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA failed, IKE_SA kept", "err", err)
		sa.event(Event{Type: EventChildFailed, Reason: err.Error()})
		sa.resolve(fmt.Errorf("ike: conn %s: IKE_SA established but CHILD_SA failed: %w", c.Name, err))
		return
	}
	sa.childUp(ch)
	sa.resolve(nil)
}

// acceptChild checks the responder's CHILD_SA answer and installs it.
func (sa *ikeSA) acceptChild(ch *childSA, ps message.Payloads) error {
	for _, n := range ps.Notifies() {
		if n.NotifyType == message.NoProposalChosen {
			return fmt.Errorf("peer sent %v: %w", n.NotifyType, ErrNoProposal)
		}
		if n.NotifyType.IsError() {
			return fmt.Errorf("peer sent %v", n.NotifyType)
		}
	}
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	tsi, _ := ps.First(message.PayloadTSi).(*message.TSi)
	tsr, _ := ps.First(message.PayloadTSr).(*message.TSr)
	if sap == nil || tsi == nil || tsr == nil || len(sap.Proposals) != 1 {
		return errors.New("response has no CHILD_SA (SA, TSi, TSr)")
	}
	if ps.Notify(message.UseTransportMode) == nil {
		return errors.New("peer did not accept transport mode")
	}
	st, err := suite.CheckReply(ch.offer, sap.Proposals[0])
	if err != nil {
		return err
	}
	if len(sap.Proposals[0].SPI) != 4 {
		return errors.New("ESP SPI must be 4 octets")
	}
	// The responder may only narrow (RFC 7296 2.9).
	if len(tsi.Selectors) != 1 || len(tsr.Selectors) != 1 {
		return fmt.Errorf("%w: want one selector per side", errTS)
	}
	// Behind a NAT the answer may name addresses from the other side of it
	// (RFC 7296 2.23.1): only protocol and ports are checked then.
	gotI, gotR := sa.natTS(tsi.Selectors, ch.tsLocal.Start)[0], sa.natTS(tsr.Selectors, ch.tsRemote.Start)[0]
	l, ok1 := intersect(gotI, ch.tsLocal)
	r, ok2 := intersect(gotR, ch.tsRemote)
	if !ok1 || !ok2 || !tsEqual(l, gotI) || !tsEqual(r, gotR) {
		return fmt.Errorf("%w: responder chose %v === %v outside %v === %v", errTS, &tsi.Selectors[0], &tsr.Selectors[0], &ch.tsLocal, &ch.tsRemote)
	}
	ch.tsLocal, ch.tsRemote = l, r
	ch.suite, ch.proposal = st, sap.Proposals[0]
	ch.spiOut = beUint32(sap.Proposals[0].SPI)
	if ch.inboundOnly {
		err := sa.installInbound(ch)
		dropPendingOut(ch)
		return err
	}
	return sa.install(ch, true)
}

// establish marks the IKE SA up and reports it.
func (sa *ikeSA) establish() {
	sa.state = stateEstablished
	sa.established = sa.e.clock.Now()
	sa.upAddr = sa.remote.Addr()
	sa.e.peerUp(sa.upAddr, +1)
	sa.counted = true
	sa.recordUp()
	sa.armLiveness()
	if c := sa.conn; c != nil {
		life := c.IKELifetime
		if life == 0 {
			life = 3 * 3600e9 // ipsec.conf ikelifetime default: 3h
		}
		margin := c.MarginTime
		if margin == 0 || margin >= life {
			margin = min(defaultMarginTime, life/2)
		}
		if c.Rekey && c.Reauth {
			sa.scheduleReauth(life, margin)
		} else if c.Rekey {
			sa.rekeyAt = sa.established.Add(life - margin)
			sa.armIKETimer()
		}
	}
	if sa.halfTimer != nil {
		sa.halfTimer.Stop()
		sa.halfTimer = nil
	}
	if sa.isHalfOpen {
		sa.e.mu.Lock()
		sa.e.nHalfOpen--
		sa.e.mu.Unlock()
		sa.isHalfOpen = false
	}
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: IKE_SA established", "local_id", sa.localID.String(), "remote_id", sa.remoteID.String(),
			"proposal", suite.Format(sa.proposal), "auth", sa.remoteAuth.String())
	}
	sa.event(Event{Type: EventIKEUp})
}

// handleAuthRequest authenticates the initiator and answers IKE_AUTH as
// responder (RFC 7296 1.2, 2.15).
func (sa *ikeSA) handleAuthRequest(h message.Header, raw []byte, ps message.Payloads) {
	e := sa.e
	idi, _ := ps.First(message.PayloadIDi).(*message.IDi)
	auth, _ := ps.First(message.PayloadAUTH).(*message.Auth)
	fail := func(reason string, err error) {
		e.counters.authFailures.Add(1)
		sa.logAt(slog.LevelWarn, "ike: authentication failed", "peer", sa.remote.String(), "reason", reason, "err", err)
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.AuthenticationFailed}})
		sa.destroy("authentication failed", nil)
	}
	if idi == nil || auth == nil {
		fail("IKE_AUTH without IDi and AUTH (EAP is not supported)", ErrAuthFailed)
		return
	}
	peerID := Identity{Type: idi.IDType, Data: clone(idi.Data)}
	if ps.Notify(message.InitialContact) != nil {
		// Acted upon once the SA is up (unique.go, RFC 7296 2.4).
		sa.initialContact = e.config().UniqueIDs != UniqueIDsNever
		sa.logAt(slog.LevelInfo, "ike: peer sent INITIAL_CONTACT", "remote_id", peerID.String())
	}
	var wantLocal Identity
	if idr, ok := ps.First(message.PayloadIDr).(*message.IDr); ok {
		wantLocal = Identity{Type: idr.IDType, Data: idr.Data}
	}
	// Pick the connection by the peer's identity among those IKE_SA_INIT
	// admitted (strongSwan re-selects its peer config the same way).
	var conn *Connection
	for _, c := range sa.candidates {
		if !idMatches(expectedRemote(c), peerID) {
			continue
		}
		if !wantLocal.IsZero() && !idMatches(wantLocal, sa.localIdentity(c)) {
			continue
		}
		conn = c
		break
	}
	if conn == nil {
		reason := fmt.Sprintf("no connection matches peer identity %v", peerID)
		if !wantLocal.IsZero() {
			reason += fmt.Sprintf(" which asked for %v", wantLocal)
		}
		fail(reason, ErrAuthFailed)
		return
	}
	sa.conn = conn
	sa.addCertReqs(ps)
	sa.localID = sa.localIdentity(conn)
	sa.localAuth, sa.remoteAuth = conn.Local.Auth, conn.Remote.Auth
	signed := keymat.SignedOctets(sa.prf, sa.initReq, sa.nr, sa.keys.SKpi, idi.RestOfPayload())
	if err := sa.verifyAuth(conn, peerID, auth, ps, signed); err != nil {
		fail("peer's AUTH does not verify", err)
		return
	}
	sa.remoteID = peerID
	if e.config().UniqueIDs == UniqueIDsKeep && e.hasUpWithIDs(sa, sa.localID, peerID) {
		// uniqueids=keep: the IKE SA established first stays, the new
		// one is refused (strongSwan answers the same way).
		sa.logAt(slog.LevelInfo, "ike: refusing a second IKE_SA for the same identities (uniqueids=keep)", "remote_id", peerID.String())
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.AuthenticationFailed}})
		sa.destroy("uniqueids=keep", nil)
		return
	}
	idr := &message.IDr{IDType: sa.localID.Type, Data: sa.localID.Data}
	out := []message.Payload{idr}
	certs, err := sa.localCertPayloads(conn)
	if err != nil {
		sa.logAt(slog.LevelError, "ike: cannot send our certificate", "err", err)
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.AuthenticationFailed}})
		sa.destroy("credentials", nil)
		return
	}
	out = append(out, certs...)
	mySigned := keymat.SignedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, idr.RestOfPayload())
	myAuth, err := sa.buildAuth(conn, mySigned, peerID)
	if err != nil {
		sa.logAt(slog.LevelError, "ike: cannot authenticate ourselves", "err", err)
		sa.respond(h, raw, []message.Payload{&message.Notify{NotifyType: message.AuthenticationFailed}})
		sa.destroy("credentials", nil)
		return
	}
	out = append(out, myAuth)
	sa.establish()
	childPayloads, ch, err := sa.respondChild(ps)
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: CHILD_SA failed, IKE_SA kept", "err", err)
		sa.event(Event{Type: EventChildFailed, Reason: err.Error()})
	}
	out = append(out, childPayloads...)
	sa.respond(h, raw, out)
	if ch != nil {
		sa.childUp(ch)
	}
}

// respondChild negotiates the CHILD_SA of IKE_AUTH as responder. On
// failure it returns the error notification to send instead (RFC 7296
// 1.2: NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE; strongSwan also answers a
// kernel failure with NO_PROPOSAL_CHOSEN).
func (sa *ikeSA) respondChild(ps message.Payloads) ([]message.Payload, *childSA, error) {
	c := sa.conn
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	tsi, _ := ps.First(message.PayloadTSi).(*message.TSi)
	tsr, _ := ps.First(message.PayloadTSr).(*message.TSr)
	if sap == nil && tsi == nil && tsr == nil {
		return nil, nil, errors.New("peer requested no CHILD_SA")
	}
	refuse := func(n message.NotifyType, err error) ([]message.Payload, *childSA, error) {
		if n == message.NoProposalChosen {
			sa.e.counters.noProposal.Add(1)
		}
		return []message.Payload{&message.Notify{NotifyType: n}}, nil, err
	}
	if sap == nil || tsi == nil || tsr == nil {
		return refuse(message.InvalidSyntax, errors.New("CHILD_SA request lacks SA, TSi or TSr"))
	}
	if ps.Notify(message.UseTransportMode) == nil {
		return refuse(message.NoProposalChosen, fmt.Errorf("ike: conn %s: peer requested tunnel mode, the connection is transport", c.Name))
	}
	chosen, err := suite.Select(espOffer(c), sap.Proposals, suite.IgnoreKE())
	if err != nil {
		return refuse(message.NoProposalChosen, fmt.Errorf("ike: conn %s: ESP: %w", c.Name, err))
	}
	st, err := suite.FromProposal(chosen)
	if err != nil || len(chosen.SPI) != 4 {
		return refuse(message.NoProposalChosen, fmt.Errorf("ike: conn %s: ESP: unusable proposal %s", c.Name, suite.Format(chosen)))
	}
	// RFC 7296 2.9: TSi describes the initiator's side, our remote.
	remoteTS, ok1 := narrow(sa.natTS(tsi.Selectors, sa.remote.Addr()), selector(sa.remote.Addr(), c.Remote.ProtoPort))
	localTS, ok2 := narrow(sa.natTS(tsr.Selectors, sa.local.Addr()), selector(sa.local.Addr(), c.Local.ProtoPort))
	if !ok1 || !ok2 {
		return refuse(message.TSUnacceptable, fmt.Errorf("%w: conn %s: peer proposed %v === %v", errTS, c.Name, tsList(tsi.Selectors), tsList(tsr.Selectors)))
	}
	ch, err := sa.newChild()
	if err != nil {
		return refuse(message.NoProposalChosen, err)
	}
	ch.suite, ch.spiOut, ch.tsLocal, ch.tsRemote = st, beUint32(chosen.SPI), localTS, remoteTS
	chosen.SPI = spiBytes32(ch.spiIn)
	ch.proposal = chosen
	if sa.e.outs.count(ch.reqid) > 0 {
		// Another CHILD_SA of the connection carries the traffic (this is
		// a reauthentication, or a restarted peer's new SA): keep sending
		// on it until the initiator can receive on this one (deferout.go).
		err = sa.installInbound(ch)
	} else {
		err = sa.install(ch, false)
	}
	if err != nil {
		sa.releaseSPI(ch)
		return refuse(message.NoProposalChosen, err)
	}
	return []message.Payload{
		&message.Notify{NotifyType: message.UseTransportMode},
		&message.SA{Proposals: []message.Proposal{chosen}},
		&message.TSi{Selectors: []message.TrafficSelector{replyTS(sa, remoteTS, tsi.Selectors)}},
		&message.TSr{Selectors: []message.TrafficSelector{replyTS(sa, localTS, tsr.Selectors)}},
	}, ch, nil
}

func tsList(ts []message.TrafficSelector) string {
	s := ""
	for i := range ts {
		if i > 0 {
			s += " "
		}
		s += ts[i].String()
	}
	return s
}
