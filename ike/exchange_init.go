package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/cygnet-ipsec/cygnet/ike/auth"
	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// IKE ports (RFC 7296 2, RFC 3948).
const (
	portIKE  = 500
	portNATT = 4500
)

// ikeOffer returns a connection's IKE proposals in wire form, strongSwan's
// defaults when none are configured.
func ikeOffer(c *Connection) []message.Proposal {
	if len(c.IKE) == 0 {
		return slices.Clone(suite.DefaultIKE)
	}
	out := make([]message.Proposal, 0, len(c.IKE))
	for _, p := range c.IKE {
		out = append(out, suite.FromLists(message.ProtoIKE, encrTransforms(p.Encr), p.Integ, p.PRF, p.DH, nil))
	}
	return out
}

func encrTransforms(es []Encr) []message.Transform {
	out := make([]message.Transform, 0, len(es))
	for _, e := range es {
		out = append(out, suite.EncrTransform(e.ID, e.KeyBits))
	}
	return out
}

// natHash is the NAT_DETECTION_*_IP data (RFC 7296 2.23):
// SHA-1(SPIi | SPIr | IP | port).
// The input is assembled in one stack buffer and hashed with sha1.Sum, so
// that the only allocation is the result (a handshake computes eight).
func natHash(spiI, spiR uint64, ap netip.AddrPort) []byte {
	var b [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spiI)
	binary.BigEndian.PutUint64(b[8:], spiR)
	n := 16
	switch a := ap.Addr().Unmap(); {
	case a.Is4():
		a4 := a.As4()
		n += copy(b[n:], a4[:])
	case a.Is6():
		a16 := a.As16()
		n += copy(b[n:], a16[:])
	}
	binary.BigEndian.PutUint16(b[n:], ap.Port())
	sum := sha1.Sum(b[:n+2])
	return append([]byte(nil), sum[:]...)
}

// natNotifies returns our NAT detection notifications for a message from
// local to remote. ForceEncaps sends a source hash that cannot match, so
// the peer sees a NAT and both ends use UDP encapsulation, as strongSwan's
// forceencaps does.
func (sa *ikeSA) natNotifies(spiR uint64) ([]message.Payload, error) {
	src := natHash(sa.spiI, spiR, sa.local)
	if sa.conn != nil && sa.conn.ForceEncaps {
		src = make([]byte, sha1.Size)
		if _, err := io.ReadFull(sa.e.rand, src); err != nil {
			return nil, fmt.Errorf("ike: nat detection: %w", err)
		}
	}
	return []message.Payload{
		&message.Notify{NotifyType: message.NATDetectionSourceIP, Data: src},
		&message.Notify{NotifyType: message.NATDetectionDestinationIP, Data: natHash(sa.spiI, spiR, sa.remote)},
	}, nil
}

// checkNAT evaluates the peer's NAT detection notifications (RFC 7296
// 2.23). spiR is the responder SPI the peer used to compute them. It
// reports whether the peer sent any.
func (sa *ikeSA) checkNAT(ps message.Payloads, spiR uint64) bool {
	var srcs [][]byte
	var dst []byte
	for _, n := range ps.Notifies() {
		switch n.NotifyType {
		case message.NATDetectionSourceIP:
			srcs = append(srcs, n.Data)
		case message.NATDetectionDestinationIP:
			dst = n.Data
		}
	}
	if len(srcs) == 0 || dst == nil {
		return false
	}
	sa.natLocal = !hmac.Equal(dst, natHash(sa.spiI, spiR, sa.local))
	want := natHash(sa.spiI, spiR, sa.remote)
	sa.natRemote = true
	for _, s := range srcs {
		if hmac.Equal(s, want) {
			sa.natRemote = false
		}
	}
	if sa.conn != nil && sa.conn.ForceEncaps {
		sa.natLocal = true
	}
	return true
}

func (sa *ikeSA) natDetected() bool { return sa.natLocal || sa.natRemote }

// startInitiator creates an IKE SA for c and sends its IKE_SA_INIT request.
func (e *Engine) startInitiator(c *Connection) (<-chan error, error) {
	return e.startInitiatorOf(c, nil)
}

// startInitiatorOf is startInitiator for a new IKE SA that reauthenticates
// old (nil for a plain initiation).
func (e *Engine) startInitiatorOf(c *Connection, old *ikeSA) (<-chan error, error) {
	sa := &ikeSA{
		e: e, conn: c, initiator: true, state: stateInitSent, dead: make(chan struct{}),
		local:    netip.AddrPortFrom(c.Local.Addr, portIKE),
		remote:   netip.AddrPortFrom(c.Remote.Addr, portIKE),
		reauthOf: old,
	}
	if old != nil {
		// The peer may be a responder-only conn's %any: reauthenticate
		// with the addresses the old SA uses.
		old.lock()
		sa.local = netip.AddrPortFrom(old.local.Addr(), portIKE)
		sa.remote = netip.AddrPortFrom(old.remote.Addr(), portIKE)
		old.unlock()
	}
	offer, err := suite.Numbered(message.ProtoIKE, nil, ikeOffer(c))
	if err != nil {
		return nil, fmt.Errorf("ike: conn %s: %w", c.Name, err)
	}
	groups := suite.Groups(offer)
	if len(groups) == 0 {
		return nil, fmt.Errorf("ike: conn %s: no supported key exchange method in the IKE proposals", c.Name)
	}
	sa.ikeOffer, sa.group = offer, groups[0]
	sa.ni = make([]byte, keymat.NonceLen)
	if _, err := io.ReadFull(e.rand, sa.ni); err != nil {
		return nil, fmt.Errorf("ike: nonce: %w", err)
	}
	spi, err := e.register(sa)
	if err != nil {
		return nil, err
	}
	wait := make(chan error, 1)
	sa.lock()
	defer sa.unlock()
	sa.spiI = spi
	sa.waiters = append(sa.waiters, wait)
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: initiating IKE_SA", "proposals", suite.FormatList(offer))
	}
	sa.sendInit()
	return wait, nil
}

// sendInit (re)sends the IKE_SA_INIT request with the current group and
// cookie (RFC 7296 1.2, 2.6).
func (sa *ikeSA) sendInit() {
	ke, err := suite.NewKeyExchange(sa.group, sa.e.rand)
	if err != nil {
		sa.destroy("key exchange", fmt.Errorf("ike: conn %s: %w", sa.connName(), err))
		return
	}
	sa.ke = ke
	var ps []message.Payload
	if sa.cookie != nil {
		// RFC 7296 2.6: the cookie comes first.
		ps = append(ps, &message.Notify{NotifyType: message.Cookie, Data: sa.cookie})
	}
	ps = append(ps, &message.SA{Proposals: sa.ikeOffer}, &message.KE{Group: sa.group, Data: ke.Public()}, &message.Nonce{Data: sa.ni})
	nat, err := sa.natNotifies(0)
	if err != nil {
		sa.destroy("rand", err)
		return
	}
	ps = append(ps, nat...)
	ps = append(ps, sa.capabilityNotifies()...)
	m := &message.Message{Header: message.Header{SPIi: sa.spiI, Exchange: message.IKESAInit, Flags: message.FlagInitiator}, Payloads: ps}
	raw, err := m.Encode()
	if err != nil {
		sa.destroy("encode", fmt.Errorf("ike: conn %s: %w", sa.connName(), err))
		return
	}
	sa.initReq = raw
	sa.myNext = 1
	sa.sendRequest(&request{id: 0, exchange: message.IKESAInit, packets: [][]byte{raw}, onResponse: sa.onInitResponse,
		onTimeout: func() {
			sa.destroy("peer not responding", fmt.Errorf("ike: conn %s: peer %v not responding to IKE_SA_INIT", sa.connName(), sa.remote))
		}})
}

// capabilityNotifies are the status notifications of IKE_SA_INIT:
// fragmentation support (RFC 7383 2.3) and signature hash algorithms (RFC
// 7427 4: SHA2-256/384/512 and Identity for Ed25519; never SHA-1), in
// strongSwan's order.
func (sa *ikeSA) capabilityNotifies() []message.Payload {
	var ps []message.Payload
	if sa.conn == nil || sa.conn.Fragmentation != FragmentationNo {
		ps = append(ps, &message.Notify{NotifyType: message.IKEv2FragmentationSupported})
	}
	ps = append(ps, &message.Notify{NotifyType: message.SignatureHashAlgorithms, Data: message.EncodeHashAlgorithms(auth.SupportedHashes())})
	return ps
}

// onInitResponse handles the IKE_SA_INIT response as initiator.
func (sa *ikeSA) onInitResponse(m *message.Message, ps message.Payloads) {
	fail := func(reason string, err error) { sa.destroy(reason, fmt.Errorf("ike: conn %s: %w", sa.connName(), err)) }
	if n := ps.Notify(message.Cookie); n != nil {
		// RFC 7296 2.6: resend the request with the cookie.
		if sa.retries >= maxInitRetries || len(n.Data) < 1 || len(n.Data) > 64 {
			fail("cookie", errors.New("responder keeps asking for cookies"))
			return
		}
		sa.retries++
		sa.cookie = bytes.Clone(n.Data)
		sa.logAt(slog.LevelInfo, "ike: responder asked for a cookie, retrying")
		sa.sendInit()
		return
	}
	if n := ps.Notify(message.InvalidKEPayload); n != nil {
		// RFC 7296 1.2: retry with the group the responder wants, if we
		// offered it.
		g, err := message.DecodeInvalidKEData(n.Data)
		if err != nil || g == sa.group || !slices.Contains(suite.Groups(sa.ikeOffer), g) || sa.retries >= maxInitRetries {
			fail("invalid KE", fmt.Errorf("responder asks for key exchange method %v, which we did not offer or already used", g))
			return
		}
		sa.retries++
		sa.logAt(slog.LevelInfo, "ike: responder asked for another key exchange method, retrying", "group", g.String(), "was", sa.group.String())
		sa.group = g
		sa.sendInit()
		return
	}
	for _, n := range ps.Notifies() {
		if n.NotifyType.IsError() {
			if n.NotifyType == message.NoProposalChosen {
				sa.logAt(slog.LevelWarn, "ike: peer accepted none of our IKE proposals (NO_PROPOSAL_CHOSEN)", "offered", suite.FormatList(sa.ikeOffer))
			} else {
				sa.logAt(slog.LevelWarn, "ike: IKE_SA_INIT refused", "notify", n.NotifyType.String())
			}
			if n.NotifyType == message.NoProposalChosen {
				fail("refused", fmt.Errorf("peer refused IKE_SA_INIT: %v: %w", n.NotifyType, ErrNoProposal))
			} else {
				fail("refused", fmt.Errorf("peer refused IKE_SA_INIT: %v", n.NotifyType))
			}
			return
		}
	}
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	kep, _ := ps.First(message.PayloadKE).(*message.KE)
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	if sap == nil || kep == nil || np == nil || len(sap.Proposals) != 1 || m.Header.SPIr == 0 {
		fail("invalid response", errors.New("invalid IKE_SA_INIT response: SA, KE and Nonce with one proposal required"))
		return
	}
	st, err := suite.CheckReply(sa.ikeOffer, sap.Proposals[0])
	if err != nil {
		sa.logAt(slog.LevelWarn, "ike: unacceptable IKE proposal in response", "err", err)
		fail("bad proposal", err)
		return
	}
	if st.KE != sa.group || kep.Group != sa.group {
		fail("bad KE", fmt.Errorf("responder chose key exchange %v/%v, we sent %v", st.KE, kep.Group, sa.group))
		return
	}
	prf, err := st.NewPRF()
	if err != nil {
		fail("prf", err)
		return
	}
	if err := keymat.CheckNonce(prf, np.Data); err != nil {
		fail("bad nonce", err)
		return
	}
	gir, err := sa.ke.SharedSecret(kep.Data)
	if err != nil {
		fail("bad KE data", err)
		return
	}
	sa.spiR = m.Header.SPIr
	sa.nr = bytes.Clone(np.Data)
	sa.initResp = m.Raw
	if err := sa.deriveIKE(st, sap.Proposals[0], prf, gir); err != nil {
		fail("keys", err)
		return
	}
	sa.checkNAT(ps, sa.spiR)
	sa.peerFrag = ps.Notify(message.IKEv2FragmentationSupported) != nil
	sa.peerCapabilities(ps)
	if sa.natDetected() && sa.remote.Port() == portIKE {
		// RFC 7296 2.23: with a NAT in the path the initiator moves to
		// port 4500 for IKE_AUTH; without one charon stays on 500.
		sa.local = netip.AddrPortFrom(sa.local.Addr(), portNATT)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), portNATT)
	}
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: IKE_SA_INIT done", "proposal", suite.Format(sa.proposal), "nat_local", sa.natLocal, "nat_remote", sa.natRemote)
	}
	sa.state = stateAuthSent
	sa.sendAuth()
}

// deriveIKE computes the IKE SA's keys and SK ciphers (RFC 7296 2.14).
func (sa *ikeSA) deriveIKE(st suite.Suite, chosen message.Proposal, prf *suite.PRF, gir []byte) error {
	keys, err := keymat.NewIKE(st, gir, sa.ni, sa.nr, putUint64(sa.spiI), putUint64(sa.spiR))
	clear(gir)
	if err != nil {
		return err
	}
	out, in, err := keys.Ciphers(st, sa.initiator, sa.e.rand)
	if err != nil {
		keys.Clear()
		return err
	}
	sa.suite, sa.proposal, sa.prf, sa.keys, sa.out, sa.in = st, chosen, prf, keys, out, in
	sa.ke = nil
	return nil
}

// stateless sends an unprotected answer to an IKE_SA_INIT request without
// creating state (RFC 7296 1.2, 2.6, 2.21.1).
func (e *Engine) stateless(p Packet, h message.Header, n *message.Notify) {
	m := &message.Message{Header: message.Header{SPIi: h.SPIi, Exchange: message.IKESAInit, Flags: message.FlagResponse}, Payloads: []message.Payload{n}}
	raw, err := m.Encode()
	if err != nil {
		return
	}
	e.apply(effects{packets: []Packet{{Local: p.Local, Remote: p.Remote, Data: raw}}})
}

// candidates returns the connections a responder may use for a request
// between local and remote, most specific first.
func (e *Engine) candidates(local, remote netip.Addr) []*Connection {
	local, remote = local.Unmap(), remote.Unmap()
	var exact, wild []*Connection
	cfg := e.config()
	for i := range cfg.Connections {
		c := &cfg.Connections[i]
		if c.Mode != ModeTransport || c.Local.Auth == AuthNever || c.Remote.Auth == AuthNever || c.Auto == AutoIgnore {
			continue
		}
		if c.Local.Addr.IsValid() && c.Local.Addr.Unmap() != local && local.IsValid() {
			continue
		}
		if c.Remote.Addr.IsValid() && c.Remote.Addr.Unmap() != remote {
			continue
		}
		if c.Remote.Addr.IsValid() {
			exact = append(exact, c)
		} else {
			wild = append(wild, c)
		}
	}
	return append(exact, wild...)
}

// handleInitRequest answers an IKE_SA_INIT request as responder.
func (e *Engine) handleInitRequest(p Packet, h message.Header) {
	if h.MessageID != 0 || !h.IsInitiator() || h.SPIi == 0 {
		e.counters.unexpected.Add(1)
		return
	}
	if len(p.Data) > maxInitRequest {
		e.counters.oversized.Add(1)
		return
	}
	key := halfOpenKey{remote: p.Remote, spi: h.SPIi}
	e.mu.Lock()
	old := e.inits[key]
	closed := e.closed || e.draining
	e.mu.Unlock()
	if closed {
		e.counters.unexpected.Add(1)
		return
	}
	if old != nil {
		old.lock()
		if bytes.Equal(old.initReq, p.Data) && old.state == stateInitDone {
			old.send(old.initResp)
			e.counters.replayed.Add(1)
		} else {
			e.counters.unexpected.Add(1)
		}
		old.unlock()
		return
	}
	m, err := message.DecodeMessage(p.Data)
	if err != nil {
		var uc *message.UnsupportedCriticalError
		if errors.As(err, &uc) {
			e.stateless(p, h, uc.Notify())
			return
		}
		e.counters.malformed.Add(1)
		return
	}
	ps := m.Payloads
	sap, _ := ps.First(message.PayloadSA).(*message.SA)
	kep, _ := ps.First(message.PayloadKE).(*message.KE)
	np, _ := ps.First(message.PayloadNonce).(*message.Nonce)
	if sap == nil || kep == nil || np == nil || keymat.CheckNonce(nil, np.Data) != nil {
		e.counters.malformed.Add(1)
		return
	}
	var cookie []byte
	if first, _ := firstPayload(ps).(*message.Notify); first != nil && first.NotifyType == message.Cookie {
		// RFC 7296 2.6: a returned cookie is the first payload.
		cookie = first.Data
	}
	verdict := e.admitInit(p, h, np.Data, cookie)
	if verdict == initDropped {
		return
	}
	conns := e.candidates(p.Local.Addr(), p.Remote.Addr())
	if len(conns) == 0 {
		e.logUnauth(slog.LevelWarn, "ike: no connection for IKE_SA_INIT, sending NO_PROPOSAL_CHOSEN", "local", p.Local.String(), "remote", p.Remote.String())
		e.counters.noProposal.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.NoProposalChosen})
		return
	}
	var chosen message.Proposal
	var conn *Connection
	var firstErr error
	var matching []*Connection
	for _, c := range conns {
		pr, err := suite.Select(ikeOffer(c), sap.Proposals)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if conn == nil {
			conn, chosen = c, pr
		}
		matching = append(matching, c)
	}
	if conn == nil {
		e.logUnauth(slog.LevelWarn, "ike: no acceptable IKE proposal, sending NO_PROPOSAL_CHOSEN", "conn", conns[0].Name, "remote", p.Remote.String(), "err", firstErr.Error())
		e.counters.noProposal.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.NoProposalChosen})
		return
	}
	st, err := suite.FromProposal(chosen)
	if err != nil {
		e.counters.noProposal.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.NoProposalChosen})
		return
	}
	if kep.Group != st.KE {
		// RFC 7296 1.2: name the group we want; keep no state.
		e.logUnauth(slog.LevelInfo, "ike: peer sent KE for another group, sending INVALID_KE_PAYLOAD", "conn", conn.Name, "remote", p.Remote.String(), "got", kep.Group.String(), "want", st.KE.String())
		e.counters.invalidKE.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.InvalidKEPayload, Data: message.InvalidKEData(st.KE)})
		return
	}
	prf, err := st.NewPRF()
	if err != nil || keymat.CheckNonce(prf, np.Data) != nil {
		e.counters.malformed.Add(1)
		return
	}
	pub, gir, err := suite.Respond(st.KE, kep.Data, e.rand)
	if err != nil {
		// RFC 7296 3.4: a bad public value is a syntax error.
		e.counters.malformed.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.InvalidSyntax})
		return
	}
	sa := &ikeSA{
		e: e, conn: conn, candidates: matching, state: stateInitDone, dead: make(chan struct{}),
		local: p.Local, remote: p.Remote, spiI: h.SPIi, initKey: key,
		ni: bytes.Clone(np.Data), initReq: m.Raw, peerNext: 1, arrived: p.arrived,
	}
	sa.nr = make([]byte, keymat.NonceLen)
	if _, err := io.ReadFull(e.rand, sa.nr); err != nil {
		return
	}
	spi, err := e.register(sa)
	if err != nil {
		return
	}
	sa.lock()
	defer sa.unlock()
	sa.spiR = spi
	if !e.addHalfOpen(sa, key, verdict == initVerified) {
		sa.destroy("not admitted", nil)
		return
	}
	if err := sa.deriveIKE(st, chosen, prf, gir); err != nil {
		sa.destroy("keys", nil)
		return
	}
	sa.checkNAT(ps, 0)
	sa.peerFrag = ps.Notify(message.IKEv2FragmentationSupported) != nil
	sa.peerCapabilities(ps)
	out := []message.Payload{&message.SA{Proposals: []message.Proposal{chosen}}, &message.KE{Group: st.KE, Data: pub}, &message.Nonce{Data: sa.nr}}
	nat, err := sa.natNotifies(sa.spiR)
	if err != nil {
		sa.destroy("rand", nil)
		return
	}
	out = append(out, nat...)
	out = append(out, sa.capabilityNotifies()...)
	if certReq := sa.certReq(); certReq != nil {
		out = append(out, certReq)
	}
	resp := &message.Message{Header: message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: message.IKESAInit, Flags: message.FlagResponse}, Payloads: out}
	raw, err := resp.Encode()
	if err != nil {
		sa.destroy("encode", nil)
		return
	}
	sa.initResp = raw
	sa.send(raw)
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: IKE_SA_INIT answered", "proposal", suite.Format(chosen), "nat_local", sa.natLocal, "nat_remote", sa.natRemote)
	}
	sa.halfTimer = e.clock.AfterFunc(halfOpenTimeout, func() {
		sa.lock()
		defer sa.unlock()
		if sa.state == stateInitDone {
			sa.logAt(slog.LevelInfo, "ike: half-open IKE_SA timed out")
			sa.destroy("half-open timeout", nil)
		}
	})
}

// firstPayload returns the first payload of a chain, or nil.
func firstPayload(ps message.Payloads) message.Payload {
	if len(ps) == 0 {
		return nil
	}
	return ps[0]
}
