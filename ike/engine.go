package ike

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Options configure an Engine. Config, Transport and Kernel are required.
type Options struct {
	// Config is copied (Config.Clone): the engine reads only its own copy,
	// so the caller may change or reuse *Config afterwards without racing
	// with negotiations; SetConfig installs a new one.
	Config    *Config
	Transport Transport
	Kernel    xfrm.Installer
	// Clock defaults to SystemClock, Rand to crypto/rand.Reader, Logger to
	// slog.Default().
	Clock  Clock
	Rand   io.Reader
	Logger *slog.Logger
	// OnEvent, when set, is called for every SA event, never with a lock of
	// the engine held, so it may call Status.
	OnEvent func(Event)
}

// Engine negotiates IKE and CHILD SAs (RFC 7296) for the connections of a
// Config and installs the resulting ESP SAs through an xfrm.Installer.
//
// Concurrency: each IKE SA is a state machine guarded by its own mutex,
// which every packet, timer and API call for it takes; the engine's tables
// have their own. Packets and events produced while an SA is locked are
// sent and reported after it is unlocked, so a Transport may deliver
// synchronously (as the tests' in-memory link does) without deadlock.
type Engine struct {
	// cfgp holds the configuration; SetConfig swaps it whole, so readers
	// always see one consistent version.
	cfgp    atomic.Pointer[Config]
	tr      Transport
	kernel  xfrm.Installer
	clock   Clock
	rand    io.Reader
	log     *slog.Logger
	onEvent func(Event)

	retry retransmit

	// routeMu guards routes and polRefs; it is taken under an SA's lock
	// (never the other way round), so the hand-over between a trap and a
	// CHILD_SA's policies is one step.
	// events is the ordered event stream OnEvent receives (events.go).
	events eventStream

	routeMu sync.Mutex
	routes  map[string]xfrm.ChildSA // trap policies per routed connection
	polRefs map[policyKey]int       // installed CHILD_SAs per policy

	mu  sync.Mutex
	sas map[uint64]*ikeSA // every IKE SA by its local SPI
	// inits holds every responder SA by the initiator's SPI and address,
	// so that copies of its IKE_SA_INIT request are recognised for its
	// whole life; nHalfOpen counts those not yet authenticated.
	inits     map[halfOpenKey]*ikeSA
	nHalfOpen int
	order     []*ikeSA           // SAs in creation order, for Status
	uid       uint32             // last IKE_SA unique id
	childUID  uint32             // last CHILD_SA unique id
	reqids    map[string]uint32  // reqid per connection name
	up        map[netip.Addr]int // established IKE SAs per peer address
	lastReq   uint32
	closed    bool
	draining  bool // see Drain
	// upList records every established IKE SA for the uniqueness policy
	// and the duplicate tie-break (unique.go); estSeq numbers them.
	upList []upEntry
	estSeq uint64

	// outs counts the installed outbound states per reqid (deferout.go).
	outs outRegistry

	// halfSrc counts half-open SAs per source address for
	// Config.BlockThreshold, and halfOf says what each counts there;
	// cookies holds the COOKIE secrets; unauthLog limits the lines
	// unauthenticated requests log (dos.go).
	halfSrc   map[netip.Addr]halfOpenSource
	halfOf    map[*ikeSA]halfOpenEntry
	cookies   cookieJar
	unauthLog logLimiter

	counters counters

	// connect holds the keying-tries loops Start runs (connect.go).
	connect connectors

	// dispatch runs Dispatch's per-SA workers (dispatch.go).
	dispatch dispatcher
}

// halfOpenKey identifies a responder IKE SA by what the initiator's
// retransmitted IKE_SA_INIT requests carry.
type halfOpenKey struct {
	remote netip.AddrPort
	spi    uint64
}

// retransmit holds the retransmission schedule (RFC 7296 2.1).
type retransmit struct {
	tries   int
	timeout time.Duration
	base    float64
}

// strongSwan's defaults (strongswan.conf charon.retransmit_tries,
// retransmit_timeout, retransmit_base): requests are resent after 4, 7.2,
// 13, 23.3 and 42 s, and the peer is declared dead 75.6 s after the fifth
// retransmission, 165 s after the request was first sent.
const (
	defaultRetransmitTries   = 5
	defaultRetransmitTimeout = 4 * time.Second
	defaultRetransmitBase    = 1.8
)

// Implementation limits, named as strongSwan's settings where they exist.
const (
	// defaultHalfOpenLimit bounds responder IKE SAs that finished
	// IKE_SA_INIT but not IKE_AUTH (charon.init_limit_half_open; strongSwan
	// leaves it unlimited, an unbounded table is a denial-of-service
	// vector, so cygnet caps it).
	defaultHalfOpenLimit = 1000
	// defaultCookieThreshold: above this many half-open SAs the responder
	// asks for a COOKIE (charon.cookie_threshold, RFC 7296 2.6).
	defaultCookieThreshold = 10
	// halfOpenTimeout drops a responder SA that does not complete IKE_AUTH
	// (charon.half_open_timeout).
	halfOpenTimeout = 30 * time.Second
	// maxInitRetries bounds how often an initiator follows COOKIE and
	// INVALID_KE_PAYLOAD answers for one IKE SA, so that a forged answer
	// cannot keep it busy forever.
	maxInitRetries = 5
	// kernelTimeout bounds one call into the kernel.
	kernelTimeout = 30 * time.Second
)

// New returns an engine for opts. It sends nothing until Initiate is called
// or a packet arrives.
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || opts.Transport == nil || opts.Kernel == nil {
		return nil, errors.New("ike: Options need Config, Transport and Kernel")
	}
	e := &Engine{
		tr:      opts.Transport,
		kernel:  opts.Kernel,
		clock:   opts.Clock,
		rand:    opts.Rand,
		log:     opts.Logger,
		onEvent: opts.OnEvent,
		sas:     make(map[uint64]*ikeSA),
		inits:   make(map[halfOpenKey]*ikeSA),
		halfSrc: make(map[netip.Addr]halfOpenSource),
		halfOf:  make(map[*ikeSA]halfOpenEntry),
		reqids:  make(map[string]uint32),
		up:      make(map[netip.Addr]int),
		routes:  make(map[string]xfrm.ChildSA),
		polRefs: make(map[policyKey]int),
	}
	e.events.idle = sync.NewCond(&e.events.mu)
	e.cfgp.Store(opts.Config.Clone())
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.retry = retransmit{tries: e.config().RetransmitTries, timeout: e.config().RetransmitTimeout, base: e.config().RetransmitBase}
	if e.retry.tries <= 0 {
		e.retry.tries = defaultRetransmitTries
	}
	if e.retry.timeout <= 0 {
		e.retry.timeout = defaultRetransmitTimeout
	}
	if e.retry.base < 1 {
		e.retry.base = defaultRetransmitBase
	}
	if err := e.cookies.init(e.rand, e.clock.Now()); err != nil {
		return nil, err
	}
	if err := validateConfig(e.config()); err != nil {
		return nil, err
	}
	return e, nil
}

// conn returns the named connection.
func (e *Engine) conn(name string) *Connection {
	cfg := e.config()
	for i := range cfg.Connections {
		if cfg.Connections[i].Name == name {
			return &cfg.Connections[i]
		}
	}
	return nil
}

// reqidFor returns the reqid of a connection: the configured one, or one
// assigned from the ownership range the first time it is needed and kept
// for the engine's life, so that all CHILD_SAs of a connection share their
// policies as strongSwan's do.
func (e *Engine) reqidFor(c *Connection) uint32 {
	if c.ReqID != 0 {
		return c.ReqID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.reqids[c.Name]; ok {
		return r
	}
	for {
		e.lastReq++
		r := xfrm.ReqIDMin + e.lastReq - 1
		if r > xfrm.ReqIDMax {
			e.lastReq = 0
			continue
		}
		taken := false
		cfg := e.config()
		for i := range cfg.Connections {
			if cfg.Connections[i].ReqID == r {
				taken = true
			}
		}
		for _, v := range e.reqids {
			if v == r {
				taken = true
			}
		}
		if !taken {
			e.reqids[c.Name] = r
			return r
		}
	}
}

// newSPI draws a fresh, unused, non-zero IKE SPI. The caller holds e.mu.
func (e *Engine) newSPILocked() (uint64, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(e.rand, b[:]); err != nil {
			return 0, fmt.Errorf("ike: spi: %w", err)
		}
		spi := beUint64(b[:])
		if spi != 0 && e.sas[spi] == nil {
			return spi, nil
		}
	}
}

// register adds sa to the tables under a fresh SPI, which it returns.
func (e *Engine) register(sa *ikeSA) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrClosed
	}
	spi, err := e.newSPILocked()
	if err != nil {
		return 0, err
	}
	e.uid++
	sa.uid = e.uid
	sa.startSeq = e.estSeq
	if sa.arrived != 0 && sa.arrived-1 < sa.startSeq {
		// Its request waited in Dispatch's queue while other SAs came up.
		sa.startSeq = sa.arrived - 1
	}
	e.sas[spi] = sa
	e.order = append(e.order, sa)
	return spi, nil
}

// unregister removes sa from every table.
func (e *Engine) unregister(sa *ikeSA, spi uint64, ho halfOpenKey, wasHalfOpen bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sas[spi] == sa {
		delete(e.sas, spi)
	}
	if e.inits[ho] == sa {
		delete(e.inits, ho)
		if wasHalfOpen {
			e.nHalfOpen--
		}
	}
	e.releaseSourceLocked(sa)
	for i, x := range e.order {
		if x == sa {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
}

func (e *Engine) nextChildUID() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.childUID++
	return e.childUID
}

func (e *Engine) lookup(spi uint64) *ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sas[spi]
}

func (e *Engine) snapshot() []*ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*ikeSA(nil), e.order...)
}

// effects are what an SA decided while locked: packets to send and events
// to report once the lock is released.
type effects struct {
	packets []Packet
	// after runs last, with no SA locked: work that takes other SAs'
	// locks (the uniqueness policy). before runs first, also with no SA
	// locked: kernel work on other SAs that must be done before the peer
	// hears our answer (deferout.go).
	after, before []func()
}

func (e *Engine) apply(fx effects) {
	for _, f := range fx.before {
		f()
	}
	for _, p := range fx.packets {
		if err := e.tr.Send(p); err != nil {
			e.log.Debug("ike: send failed", "local", p.Local, "remote", p.Remote, "err", err)
		}
	}
	e.deliverEvents()
	for _, f := range fx.after {
		f()
	}
}

// HandlePacket processes one IKE message from the network. It never blocks
// on the network and never panics on malformed input: anything that is not
// a valid, expected, authenticated message is dropped and counted (RFC 7296
// 2.21), except the unauthenticated IKE_SA_INIT answers RFC 7296 allows.
func (e *Engine) HandlePacket(p Packet) {
	e.counters.received.Add(1)
	h, err := message.DecodeHeader(p.Data)
	if err != nil {
		e.counters.malformed.Add(1)
		var ve *message.VersionError
		if errors.As(err, &ve) && ve.Major > 2 && h.Exchange == message.IKESAInit && !h.IsResponse() && h.SPIr == 0 {
			// RFC 7296 2.5: name the highest version we speak (the
			// header says 2.0); no state is created.
			e.stateless(p, h, &message.Notify{NotifyType: message.InvalidMajorVersion})
		}
		return
	}
	if h.Exchange == message.IKESAInit && !h.IsResponse() && h.SPIr == 0 {
		e.handleInitRequest(p, h)
		return
	}
	// The SPI this end chose: the responder's for messages the original
	// initiator sends, the initiator's for the others (RFC 7296 2.6).
	spi := h.SPIi
	if h.IsInitiator() {
		spi = h.SPIr
	}
	sa := e.lookup(spi)
	if sa == nil {
		e.counters.unknownSPI.Add(1)
		return
	}
	sa.lock()
	wasHalfOpen := sa.isHalfOpen
	sa.handle(p, h)
	if wasHalfOpen && !sa.isHalfOpen {
		// IKE_AUTH completed: the SA no longer counts against its
		// source's half-open share.
		e.halfOpenDone(sa)
	}
	sa.unlock()
}

// Initiate starts the named connection as initiator and waits until its
// CHILD_SA is installed, the negotiation fails (the error says why) or ctx
// is done. If the connection already has an established IKE SA with an
// installed CHILD_SA it returns nil at once. When the IKE SA is established
// but the CHILD_SA fails, the IKE SA is kept (as RFC 7296 1.2 and strongSwan
// do) and the error reports the CHILD_SA failure.
func (e *Engine) Initiate(ctx context.Context, name string) error {
	if e.isDraining() {
		return fmt.Errorf("ike: conn %s: %w (stopping)", name, ErrClosed)
	}
	c := e.conn(name)
	if c == nil {
		return fmt.Errorf("%w %q", ErrNoConnection, name)
	}
	if c.Mode != ModeTransport {
		return fmt.Errorf("ike: conn %s: mode %v cannot be initiated, only transport", name, c.Mode)
	}
	if !c.Remote.Addr.IsValid() || !c.Local.Addr.IsValid() {
		return fmt.Errorf("ike: conn %s: initiating needs resolved local and remote addresses", name)
	}
	var wait <-chan error
	for _, sa := range e.snapshot() {
		sa.lock()
		up := sa.conn == c && sa.state == stateEstablished && len(sa.children) > 0
		if !up && wait == nil && sa.conn == c && sa.initiator && sa.reauthOf == nil &&
			(sa.state == stateInitSent || sa.state == stateAuthSent) {
			// Already being initiated (a trap, closeaction=restart, an
			// earlier `ipsec up`): wait for that one, as charon does,
			// rather than negotiating a second IKE SA.
			w := make(chan error, 1)
			sa.waiters = append(sa.waiters, w)
			wait = w
		}
		sa.unlock()
		if up {
			return nil
		}
	}
	if wait == nil {
		var err error
		if wait, err = e.startInitiator(c); err != nil {
			return err
		}
	}
	// The negotiation goes on when ctx ends: it completes or fails on its
	// own (retransmission gives up), as `ipsec up` leaves it running.
	select {
	case err := <-wait:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ike: conn %s: %w", name, ctx.Err())
	}
}

// Terminate deletes every IKE SA of the named connection, with its
// CHILD_SAs, sending INFORMATIONAL Delete requests to the peer (RFC 7296
// 1.4.1), and waits until they are gone or ctx is done. Kernel state is
// removed even when the peer does not answer.
func (e *Engine) Terminate(ctx context.Context, name string) error {
	c := e.conn(name)
	if c == nil {
		return fmt.Errorf("ike: no connection %q", name)
	}
	var dead []<-chan struct{}
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.conn == c {
			sa.startDelete("terminated locally")
			dead = append(dead, sa.dead)
		}
		sa.unlock()
	}
	for _, d := range dead {
		select {
		case <-d:
		case <-ctx.Done():
			return fmt.Errorf("ike: conn %s: terminate: %w", name, ctx.Err())
		}
	}
	return nil
}

// Close destroys every SA without telling peers, removing their kernel
// state and the trap policies of routed connections, and makes the engine
// refuse new work.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	// The keying loops end first: a retry must not set up an SA behind
	// the destruction below; so do the packets being handled.
	e.stopConnecting()
	e.stopDispatch()
	for _, sa := range e.snapshot() {
		sa.lock()
		sa.destroy("engine closed", ErrClosed)
		sa.unlock()
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	e.removeTraps(ctx)
	e.drainEvents()
	return nil
}

// Drain makes the engine take on no new IKE SA: Initiate fails with
// ErrClosed and IKE_SA_INIT requests are dropped unanswered, while the SAs
// it has go on (their deletes, rekeys and DPD run) until Terminate or
// Close. A daemon that is stopping calls it first: a peer that
// reconnects at once must not be answered by a process about to exit (it
// would then retransmit its IKE_AUTH into the void); unanswered, it
// retransmits its IKE_SA_INIT, which the next daemon answers. It also
// ends the keying loops Start runs, and waits for them.
func (e *Engine) Drain() {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
	e.stopConnecting()
}

func (e *Engine) isDraining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining || e.closed
}

// isClosed reports whether Close was called.
func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// counters of dropped and handled messages; see Counters.
type counters struct {
	received, malformed, unknownSPI, authFailed, unexpected, replayed,
	retransmits, halfOpenRejected, cookiesSent, invalidKE, noProposal, authFailures,
	blocked, oversized, dispatchDropped atomic.Uint64
}

// Counters are cumulative message counts of an Engine, exported in Status
// so that operators see attacks and misconfigurations.
type Counters struct {
	Received uint64 // every message handed to HandlePacket
	// Dropped without reply or state change:
	Malformed  uint64 // not parseable as an IKE message (truncated, garbage)
	UnknownSPI uint64 // for an IKE SA that does not exist
	BadICV     uint64 // failed integrity check or decryption (RFC 7296 2.21.1)
	Unexpected uint64 // wrong message ID, role or exchange for the SA's state, stale responses
	// Blocked: IKE_SA_INIT requests dropped because their source address
	// already has Config.BlockThreshold half-open SAs (strongswan.conf
	// charon.block_threshold; charon logs "peer too aggressive").
	Blocked uint64
	// Oversized: IKE_SA_INIT requests dropped for exceeding 10000 bytes
	// (charon.max_packet's default), which bounds a half-open SA's memory.
	Oversized uint64
	// Overrun: messages Dispatch dropped because their IKE SA already had
	// a full backlog or too many SAs were being handled at once, or
	// because the engine was closed.
	Overrun uint64
	// Answered:
	Replayed         uint64 // retransmitted requests answered from the response cache (RFC 7296 2.1)
	Retransmits      uint64 // requests this end retransmitted
	HalfOpenRejected uint64 // IKE_SA_INIT requests dropped because Config.HalfOpenLimit SAs are half-open
	CookiesSent      uint64 // COOKIE challenges sent (RFC 7296 2.6)
	InvalidKE        uint64 // INVALID_KE_PAYLOAD sent
	NoProposal       uint64 // NO_PROPOSAL_CHOSEN sent
	AuthFailures     uint64 // peers that failed authentication
}

func (c *counters) snapshot() Counters {
	return Counters{
		Received: c.received.Load(), Malformed: c.malformed.Load(), UnknownSPI: c.unknownSPI.Load(),
		BadICV: c.authFailed.Load(), Unexpected: c.unexpected.Load(), Replayed: c.replayed.Load(),
		Retransmits: c.retransmits.Load(), HalfOpenRejected: c.halfOpenRejected.Load(),
		CookiesSent: c.cookiesSent.Load(), InvalidKE: c.invalidKE.Load(), NoProposal: c.noProposal.Load(),
		AuthFailures: c.authFailures.Load(), Blocked: c.blocked.Load(), Oversized: c.oversized.Load(),
		Overrun: c.dispatchDropped.Load(),
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b[:8] {
		v = v<<8 | uint64(x)
	}
	return v
}

func putUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func spiBytes32(v uint32) []byte {
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// peerUp counts established IKE SAs with a peer address (delta +1/-1) and
// returns how many there were before.
func (e *Engine) peerUp(a netip.Addr, delta int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	a = a.Unmap()
	n := e.up[a]
	if n+delta <= 0 {
		delete(e.up, a)
	} else {
		e.up[a] = n + delta
	}
	return n
}
