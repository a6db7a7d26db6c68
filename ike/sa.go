package ike

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// saState is where an IKE SA is in its life.
type saState uint8

const (
	stateInitSent    saState = iota + 1 // initiator: IKE_SA_INIT request sent
	stateAuthSent                       // initiator: IKE_AUTH request sent
	stateInitDone                       // responder: IKE_SA_INIT answered, half-open
	stateEstablished                    // IKE_AUTH completed
	stateDeleting                       // our Delete is on its way
	stateDead                           // destroyed; late packets and timers are ignored
)

// String names states as strongSwan's status output does.
func (s saState) String() string {
	switch s {
	case stateInitSent, stateAuthSent, stateInitDone:
		return "CONNECTING"
	case stateEstablished:
		return "ESTABLISHED"
	case stateDeleting:
		return "DELETING"
	case stateDead:
		return "DESTROYING"
	}
	return "CREATED"
}

// ikeSA is one IKE SA and its CHILD_SAs. Every field is guarded by mu.
type ikeSA struct {
	e    *Engine
	mu   sync.Mutex
	fx   effects // to apply after unlocking
	uid  uint32
	conn *Connection
	// candidates are the connections a responder may still pick in IKE_AUTH
	// (those whose addresses and IKE proposals matched IKE_SA_INIT).
	candidates []*Connection

	initiator  bool
	state      saState
	spiI, spiR uint64
	local      netip.AddrPort
	remote     netip.AddrPort
	initKey    halfOpenKey
	isHalfOpen bool

	// IKE_SA_INIT
	ikeOffer  []message.Proposal // numbered, as sent (initiator)
	group     message.DHGroup
	ke        suite.KeyExchange
	ni, nr    []byte
	cookie    []byte
	retries   int
	initReq   []byte // the IKE_SA_INIT request as sent or received (RFC 7296 2.15)
	initResp  []byte // and the response
	natLocal  bool   // this end is behind a NAT (RFC 7296 2.23)
	natRemote bool   // the peer is
	peerFrag  bool   // the peer announced IKEV2_FRAGMENTATION_SUPPORTED
	// peerHashes and peerCertReqs are what the peer announced for
	// signature authentication (RFC 7427 4, RFC 7296 3.7).
	peerHashes   []message.HashAlgorithm
	peerCertReqs []*message.CertReq

	suite       suite.Suite
	proposal    message.Proposal
	prf         *suite.PRF
	keys        *keymat.IKEKeys
	out, in     suite.SKCipher
	localID     Identity
	remoteID    Identity
	localAuth   AuthClass
	remoteAuth  AuthClass
	established time.Time
	upAddr      netip.Addr // the peer address counted in Engine.up
	reauthAt    time.Time
	rekeyAt     time.Time
	// startSeq is Engine.estSeq when the SA was created; initialContact
	// says the peer sent INITIAL_CONTACT in IKE_AUTH (RFC 7296 2.4).
	startSeq uint64
	// arrived is the creating request's Packet.arrived (responder).
	arrived        uint64
	initialContact bool
	// counted: the SA is in Engine.up and upList (established, or a
	// rekey's successor once adopted).
	counted bool
	// IKE SA rekeying (rekey_ike.go, RFC 7296 1.3.2, 2.18).
	rekeyTimer  Timer
	ikeRekeying *ikeRekey // ours in flight
	ikeCollide  *ikeSA    // the peer's successor made while ours was in flight (RFC 7296 2.8.2)
	rekeyOf     *ikeSA    // the SA this one replaces
	rekeyedTo   *ikeSA    // the SA that replaced this one
	// Reauthentication (reauth.go, RFC 7296 2.8.3): reauthOf is the SA a
	// new one reauthenticates, reauthBy the new SA under way for an old one.
	// reauthing: our reauthentication is under way; reauthEnd is when the
	// SA is deleted if none succeeded; reauthReported: the new SA told the
	// old one how it went.
	reauthOf, reauthBy *ikeSA
	reauthTimer        Timer
	reauthing          bool
	reauthEnd          time.Time
	reauthReported     bool
	// Liveness (dpd.go): the last authenticated message from the peer and
	// the last one sent, for DPD and NAT keepalives.
	lastIn, lastOut     time.Time
	dpdTimer, keepTimer Timer

	// Message IDs (RFC 7296 2.2), window size 1.
	myNext   uint32   // ID of our next request
	pending  *request // our outstanding request
	queue    []func() // requests waiting for the window
	peerNext uint32   // ID we expect on the peer's next request
	lastReq  [32]byte // hash of the peer's last request, to recognise its retransmission
	lastResp [][]byte // our response to it, replayed on retransmission
	// reasm collects the fragments of one message (RFC 7383 2.6),
	// identified by its message ID and direction.
	reasm     *message.Reassembly
	reasmID   uint32
	reasmResp bool

	children []*childSA
	// pendingChild is the CHILD_SA offered in our IKE_AUTH request.
	pendingChild *childSA

	waiters     []chan error
	dead        chan struct{}
	halfTimer   Timer
	closeReason string
}

// request is our outstanding request and its retransmission state.
type request struct {
	id         uint32
	exchange   message.ExchangeType
	packets    [][]byte
	sent       int // retransmissions so far
	timer      Timer
	onResponse func(m *message.Message, payloads message.Payloads)
	onTimeout  func()
}

func (sa *ikeSA) lock() { sa.mu.Lock() }

// unlock releases the SA and then sends and reports what it decided.
func (sa *ikeSA) unlock() {
	fx := sa.fx
	sa.fx = effects{}
	sa.mu.Unlock()
	sa.e.apply(fx)
}

func (sa *ikeSA) connName() string {
	if sa.conn != nil {
		return sa.conn.Name
	}
	if len(sa.candidates) > 0 {
		return sa.candidates[0].Name
	}
	return ""
}

// logs reports whether the engine logs at level. Calls of logAt whose
// arguments format values (fmt.Sprintf, String, Format) test it first:
// the arguments are evaluated, and allocated, before logAt can return.
func (sa *ikeSA) logs(level slog.Level) bool {
	return sa.e.log.Enabled(context.Background(), level)
}

// logAt logs msg with the SA's identifying attributes when the level is
// enabled (building them costs more than a handshake's other allocations).
func (sa *ikeSA) logAt(level slog.Level, msg string, args ...any) {
	if !sa.e.log.Enabled(context.Background(), level) {
		return
	}
	sa.logger().Log(context.Background(), level, msg, args...)
}

// logger returns the engine logger with the SA's identifying attributes:
// never keys, nonces or shared secrets.
func (sa *ikeSA) logger() *slog.Logger {
	return sa.e.log.With("conn", sa.connName(), "ike_id", sa.uid,
		"local", sa.local.String(), "remote", sa.remote.String(),
		"spi_i", fmt.Sprintf("%016x", sa.spiI), "spi_r", fmt.Sprintf("%016x", sa.spiR))
}

func (sa *ikeSA) localSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) send(data []byte) {
	if sa.state == stateEstablished {
		sa.lastOut = sa.e.clock.Now()
	}
	sa.fx.packets = append(sa.fx.packets, Packet{Local: sa.local, Remote: sa.remote, Data: data})
}

func (sa *ikeSA) event(ev Event) {
	ev.Conn = sa.connName()
	ev.IKEUniqueID = sa.uid
	ev.LocalID, ev.RemoteID = sa.localID, sa.remoteID
	ev.Local, ev.Remote = sa.local, sa.remote
	ev.SPIi, ev.SPIr = sa.spiI, sa.spiR
	ev.Time = sa.e.clock.Now()
	// Queued now, under the SA's lock, so that the events of one SA reach
	// OnEvent in the order its state machine made them; delivered once
	// the lock is released (apply).
	sa.e.queueEvent(ev)
}

// resolve hands the result of an Initiate to its waiters.
func (sa *ikeSA) resolve(err error) {
	sa.reauthReport(sa.state == stateEstablished, err)
	for _, w := range sa.waiters {
		w <- err
	}
	sa.waiters = nil
}

// handle processes one message for this SA (RFC 7296 2.1, 2.2).
func (sa *ikeSA) handle(p Packet, h message.Header) {
	e := sa.e
	if sa.state == stateDead {
		e.counters.unknownSPI.Add(1)
		return
	}
	// The Initiator flag tells the original roles: a message from the peer
	// has it set exactly when the peer is the original initiator.
	if h.IsInitiator() == sa.initiator {
		e.counters.unexpected.Add(1)
		return
	}
	if sa.spiR != 0 && (h.SPIi != sa.spiI || h.SPIr != sa.spiR) && !(h.Exchange == message.IKESAInit && h.SPIr == 0) {
		e.counters.unknownSPI.Add(1)
		return
	}
	if h.IsResponse() {
		sa.handleResponse(p, h)
		return
	}
	sa.handleRequest(p, h)
}

func (sa *ikeSA) handleResponse(p Packet, h message.Header) {
	e := sa.e
	req := sa.pending
	if req == nil || h.MessageID != req.id || h.Exchange != req.exchange {
		// A late response to a request already answered, or one we never
		// sent (RFC 7296 2.3: ignore).
		e.counters.unexpected.Add(1)
		return
	}
	var payloads message.Payloads
	m, err := message.DecodeMessage(p.Data)
	if req.exchange == message.IKESAInit {
		if err != nil {
			e.counters.malformed.Add(1)
			return
		}
		payloads = m.Payloads
	} else {
		if err != nil {
			if m == nil || m.Payloads == nil {
				e.counters.malformed.Add(1)
				return
			}
		}
		var complete bool
		payloads, complete, err = sa.open(m)
		if !complete {
			return
		}
		if err != nil {
			var uc *message.UnsupportedCriticalError
			if !errors.As(err, &uc) && !errors.Is(err, message.ErrSyntax) {
				return // counted by open
			}
			// Authenticated but unusable: the request failed.
			sa.pending = nil
			req.timer.Stop()
			sa.logAt(slog.LevelWarn, "ike: malformed response", "exchange", req.exchange.String(), "err", err)
			sa.destroy("malformed response", fmt.Errorf("ike: conn %s: malformed %v response: %w", sa.connName(), req.exchange, err))
			return
		}
	}
	if sa.state == stateEstablished {
		sa.lastIn = e.clock.Now()
		sa.peerProgress(0, true)
	}
	if sa.remote != p.Remote && sa.state != stateInitSent {
		// A response from elsewhere is only accepted when it is
		// authenticated; NAT-T may have moved the peer (RFC 7296 2.23).
		sa.remote = p.Remote
	}
	sa.pending = nil
	if req.timer != nil {
		req.timer.Stop()
	}
	req.onResponse(m, payloads)
	sa.next()
}

func (sa *ikeSA) handleRequest(p Packet, h message.Header) {
	e := sa.e
	if sa.keys == nil {
		e.counters.unexpected.Add(1)
		return
	}
	switch {
	case h.MessageID == sa.peerNext:
	case h.MessageID+1 == sa.peerNext && sa.lastResp != nil:
		// A retransmission of the request we answered last: replay the
		// response without processing it again (RFC 7296 2.1). A whole
		// message qualifies only if identical to the request, so nobody
		// can make us send the response by forging a header; a fragment
		// only if it authenticates (replayFragment).
		m, err := message.DecodeMessage(p.Data)
		if err == nil && m.Fragment() != nil {
			sa.replayFragment(m)
			return
		}
		sum := sha256.Sum256(p.Data)
		if subtle.ConstantTimeCompare(sum[:], sa.lastReq[:]) == 1 {
			sa.replay()
			return
		}
		e.counters.unexpected.Add(1)
		return
	default:
		e.counters.unexpected.Add(1)
		return
	}
	m, err := message.DecodeMessage(p.Data)
	if err != nil {
		e.counters.malformed.Add(1)
		return
	}
	payloads, complete, err := sa.open(m)
	if !complete {
		return
	}
	var uc *message.UnsupportedCriticalError
	switch {
	case err == nil:
	case errors.As(err, &uc):
		// RFC 7296 2.5: an authenticated request with an unsupported
		// critical payload is rejected with UNSUPPORTED_CRITICAL_PAYLOAD.
		sa.logAt(slog.LevelWarn, "ike: unsupported critical payload in request", "payload", uc.Type.String())
		sa.respond(h, p.Data, []message.Payload{uc.Notify()})
		if h.Exchange == message.IKEAuth && sa.state != stateEstablished {
			sa.destroy("unsupported critical payload", nil)
		}
		return
	case errors.Is(err, message.ErrSyntax):
		sa.logAt(slog.LevelWarn, "ike: malformed request", "exchange", h.Exchange.String(), "err", err)
		sa.respond(h, p.Data, []message.Payload{&message.Notify{NotifyType: message.InvalidSyntax}})
		if h.Exchange == message.IKEAuth && sa.state != stateEstablished {
			sa.destroy("malformed IKE_AUTH", nil)
		}
		return
	default:
		return // counted by open
	}
	if sa.state == stateEstablished {
		sa.lastIn = e.clock.Now()
		sa.peerProgress(h.MessageID, false)
	}
	if sa.remote != p.Remote {
		// Authenticated: follow the peer (NAT-T port switch, RFC 7296 2.23).
		sa.remote = p.Remote
	}
	if sa.local != p.Local && p.Local.IsValid() {
		sa.local = p.Local
	}
	switch {
	case h.Exchange == message.IKEAuth && sa.state == stateInitDone && !sa.initiator:
		sa.handleAuthRequest(h, p.Data, payloads)
	case h.Exchange == message.Informational && sa.state >= stateEstablished:
		sa.handleInformational(h, p.Data, payloads)
	case h.Exchange == message.CreateChildSA && sa.state == stateEstablished:
		sa.handleCreateChild(h, p.Data, payloads)
	case h.Exchange == message.CreateChildSA && sa.state == stateDeleting:
		// RFC 7296 2.25: the IKE SA is being deleted.
		sa.respond(h, p.Data, []message.Payload{&message.Notify{NotifyType: message.TemporaryFailure}})
	default:
		e.counters.unexpected.Add(1)
	}
}

// replay resends the cached response to the peer's last request.
func (sa *ikeSA) replay() {
	for _, pkt := range sa.lastResp {
		sa.send(pkt)
	}
	sa.e.counters.replayed.Add(1)
}

// replayFragment handles a fragment of the peer's last request. The
// fragments of a retransmission need not match what we hashed (the peer
// may have re-fragmented for a smaller path MTU, RFC 7383 2.5.1), so
// fragment 1 alone triggers the replay, and the others are dropped, lest
// one retransmission draw the response once per fragment (RFC 7383
// 2.6.1). Fragment 1 must authenticate first: its header is easily
// forged, and answering it would let anyone who saw the SPIs reflect
// our (possibly large) response at the peer. Without negotiated
// fragmentation SKF is not accepted at all (RFC 7383 2.5).
func (sa *ikeSA) replayFragment(m *message.Message) {
	e := sa.e
	f := m.Fragment()
	if !sa.fragmentsAccepted() || sa.in == nil || f.Number != 1 {
		e.counters.unexpected.Add(1)
		return
	}
	if _, err := sa.in.Open(nil, m.AssociatedData(), f.Data); err != nil {
		e.counters.authFailed.Add(1)
		return
	}
	sa.replay()
}

// fragmentsAccepted reports whether RFC 7383 fragmentation was negotiated:
// the peer announced IKEV2_FRAGMENTATION_SUPPORTED and so did we, which we
// do unless the connection says fragmentation=no (capabilityNotifies; a
// responder announces before it knows the connection, and a connection
// found later with fragmentation=no still refuses fragments). RFC 7383
// 2.5 lets a peer send fragments only when both announced.
func (sa *ikeSA) fragmentsAccepted() bool {
	return sa.peerFrag && (sa.conn == nil || sa.conn.Fragmentation != FragmentationNo)
}

// open authenticates and decrypts a protected message, reassembling
// fragments (RFC 7383). complete is false while fragments are missing or
// when the message was dropped; err is then nil. Integrity failures are
// counted and dropped (RFC 7296 2.21.1); err is only returned for an
// authenticated message whose content does not parse.
func (sa *ikeSA) open(m *message.Message) (message.Payloads, bool, error) {
	e := sa.e
	if sa.in == nil {
		e.counters.unexpected.Add(1)
		return nil, false, nil
	}
	if enc := m.Encrypted(); enc != nil {
		pt, err := sa.in.Open(nil, m.AssociatedData(), enc.Data)
		if err != nil {
			e.counters.authFailed.Add(1)
			return nil, false, nil
		}
		ps, err := message.DecodePayloads(enc.FirstInner, pt)
		return ps, true, err
	}
	if f := m.Fragment(); f != nil {
		if !sa.fragmentsAccepted() {
			e.counters.unexpected.Add(1)
			return nil, false, nil
		}
		pt, err := sa.in.Open(nil, m.AssociatedData(), f.Data)
		if err != nil {
			e.counters.authFailed.Add(1)
			return nil, false, nil
		}
		if sa.reasm == nil || sa.reasmID != m.Header.MessageID || m.Header.IsResponse() != sa.reasmResp {
			sa.reasm = &message.Reassembly{}
			sa.reasmID, sa.reasmResp = m.Header.MessageID, m.Header.IsResponse()
		}
		done, err := sa.reasm.Add(f, pt)
		if err != nil {
			e.counters.unexpected.Add(1)
			return nil, false, nil
		}
		if !done {
			return nil, false, nil
		}
		ps, err := sa.reasm.Payloads()
		sa.reasm = nil
		return ps, true, err
	}
	e.counters.unexpected.Add(1)
	return nil, false, nil
}

// encode builds a protected message with the SA's outbound keys, as
// fragments when the peer supports them and it would exceed the fragment
// size (RFC 7383 2.5.1).
func (sa *ikeSA) encode(h message.Header, inner []message.Payload) ([][]byte, error) {
	h.SPIi, h.SPIr = sa.spiI, sa.spiR
	if sa.initiator {
		h.Flags |= message.FlagInitiator
	}
	m := &message.Message{Header: h}
	out, err := m.EncodeEncrypted(inner, sa.out)
	if err != nil {
		return nil, fmt.Errorf("ike: encode %v: %w", h.Exchange, err)
	}
	if sa.peerFrag && sa.conn != nil && (sa.conn.Fragmentation == FragmentationYes || sa.conn.Fragmentation == FragmentationForce) && len(out) > fragmentSize {
		return m.EncodeFragments(inner, fragmentSize, sa.out)
	}
	return [][]byte{out}, nil
}

// fragmentSize is the largest IKE message sent unfragmented once
// fragmentation is negotiated: strongSwan's charon.fragment_size default.
const fragmentSize = 1280

// respond answers the peer's current request and caches the answer for
// its retransmissions.
func (sa *ikeSA) respond(h message.Header, raw []byte, inner []message.Payload) {
	rh := message.Header{Exchange: h.Exchange, Flags: message.FlagResponse, MessageID: h.MessageID}
	pkts, err := sa.encode(rh, inner)
	if err != nil {
		sa.logAt(slog.LevelError, "ike: cannot build response", "err", err)
		return
	}
	sa.peerNext = h.MessageID + 1
	sa.lastReq = sha256.Sum256(raw)
	sa.lastResp = pkts
	for _, pkt := range pkts {
		sa.send(pkt)
	}
}

// request sends a protected request when the window allows (RFC 7296
// 2.3, window size 1), queueing it otherwise.
func (sa *ikeSA) request(exchange message.ExchangeType, inner []message.Payload, onResponse func(*message.Message, message.Payloads), onTimeout func()) {
	if sa.pending != nil {
		sa.queue = append(sa.queue, func() { sa.request(exchange, inner, onResponse, onTimeout) })
		return
	}
	pkts, err := sa.encode(message.Header{Exchange: exchange, MessageID: sa.myNext}, inner)
	if err != nil {
		sa.logAt(slog.LevelError, "ike: cannot build request", "err", err)
		onTimeout()
		return
	}
	sa.sendRequest(&request{id: sa.myNext, exchange: exchange, packets: pkts, onResponse: onResponse, onTimeout: onTimeout})
	sa.myNext++
}

// sendRequest transmits req and arms its retransmission timer.
func (sa *ikeSA) sendRequest(req *request) {
	sa.pending = req
	for _, pkt := range req.packets {
		sa.send(pkt)
	}
	sa.armRetransmit(req)
}

func (sa *ikeSA) armRetransmit(req *request) {
	r := sa.e.retry
	d := time.Duration(float64(r.timeout) * math.Pow(r.base, float64(req.sent)))
	req.timer = sa.e.clock.AfterFunc(d, func() {
		sa.lock()
		defer sa.unlock()
		if sa.pending != req || sa.state == stateDead {
			return
		}
		if req.sent >= r.tries {
			sa.pending = nil
			sa.logAt(slog.LevelWarn, "ike: giving up after retransmissions", "exchange", req.exchange.String(), "message_id", req.id, "retransmits", req.sent)
			if sa.state == stateEstablished && sa.rekeyedTo == nil {
				// The peer is dead, whatever the exchange: dpdaction
				// decides what follows (RFC 7296 2.4).
				sa.peerDead()
				return
			}
			req.onTimeout()
			return
		}
		req.sent++
		sa.e.counters.retransmits.Add(1)
		sa.logAt(slog.LevelInfo, "ike: retransmit", "exchange", req.exchange.String(), "message_id", req.id, "try", req.sent)
		for _, pkt := range req.packets {
			sa.send(pkt)
		}
		sa.armRetransmit(req)
	})
}

// next starts the first queued request once the window is free.
func (sa *ikeSA) next() {
	if sa.pending != nil || len(sa.queue) == 0 || sa.state == stateDead {
		return
	}
	f := sa.queue[0]
	sa.queue = sa.queue[1:]
	f()
}

// startDelete deletes the IKE SA: with an INFORMATIONAL Delete when it is
// established (RFC 7296 1.4.1), at once otherwise.
func (sa *ikeSA) startDelete(reason string) {
	switch sa.state {
	case stateDead, stateDeleting:
		return
	case stateEstablished:
	default:
		sa.destroy(reason, fmt.Errorf("ike: conn %s: %s", sa.connName(), reason))
		return
	}
	sa.state = stateDeleting
	sa.logAt(slog.LevelInfo, "ike: deleting IKE_SA", "reason", reason)
	for _, ch := range sa.children {
		sa.retireOutbound(ch)
	}
	done := func(*message.Message, message.Payloads) { sa.destroy(reason, nil) }
	sa.request(message.Informational, []message.Payload{&message.Delete{Protocol: message.ProtoIKE}}, done, func() { sa.destroy(reason+", peer did not confirm", nil) })
}

// destroy ends the SA: its CHILD_SAs leave the kernel, its timers stop,
// waiters get err (or a generic error), and it leaves the engine's tables.
func (sa *ikeSA) destroy(reason string, err error) {
	if sa.state == stateDead {
		return
	}
	wasUp := sa.state == stateEstablished || sa.state == stateDeleting
	sa.state = stateDead
	sa.closeReason = reason
	if sa.pending != nil && sa.pending.timer != nil {
		sa.pending.timer.Stop()
	}
	sa.pending = nil
	sa.queue = nil
	if sa.halfTimer != nil {
		sa.halfTimer.Stop()
	}
	if sa.rekeyTimer != nil {
		sa.rekeyTimer.Stop()
	}
	if sa.reauthTimer != nil {
		sa.reauthTimer.Stop()
	}
	sa.stopLiveness()
	if r := sa.ikeRekeying; r != nil {
		sa.ikeRekeying = nil
		r.next.destroyQuiet()
	}
	if n := sa.ikeCollide; n != nil {
		// The peer's successor was never adopted: it goes with this SA.
		sa.ikeCollide = nil
		n.mu.Lock()
		n.destroy(reason, nil)
		fx := n.fx
		n.fx = effects{}
		n.mu.Unlock()
		sa.fx.packets = append(sa.fx.packets, fx.packets...)
		sa.fx.before = append(sa.fx.before, fx.before...)
	}
	for _, c := range sa.children {
		sa.removeChild(c, reason)
	}
	sa.children = nil
	if c := sa.pendingChild; c != nil {
		sa.releaseSPI(c)
		sa.pendingChild = nil
	}
	if sa.keys != nil {
		sa.keys.Clear()
	}
	sa.e.unregister(sa, sa.localSPI(), sa.initKey, sa.isHalfOpen)
	wasCounted := sa.counted
	if wasCounted {
		sa.e.forgetUp(sa)
		sa.e.peerUp(sa.upAddr, -1)
		sa.counted = false
	}
	if wasUp && (sa.rekeyedTo != nil || !wasCounted) {
		// Replaced by a rekey, or a rekey's redundant successor: the IKE
		// SA as the daemon sees it goes on (EventIKERekeyed).
		sa.logAt(slog.LevelInfo, "ike: IKE_SA removed after rekey", "reason", reason)
	} else if wasUp {
		if sa.logs(slog.LevelInfo) {
			sa.logAt(slog.LevelInfo, "ike: IKE_SA deleted", "local_id", sa.localID.String(), "remote_id", sa.remoteID.String(), "reason", reason)
		}
		sa.event(Event{Type: EventIKEDown, Reason: reason})
	} else if sa.initiator {
		sa.logAt(slog.LevelInfo, "ike: IKE_SA failed", "reason", reason)
	}
	if err == nil {
		err = fmt.Errorf("ike: conn %s: IKE_SA closed: %s", sa.connName(), reason)
	}
	sa.resolve(err)
	close(sa.dead)
}

func kernelCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), kernelTimeout)
}
