package ike

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// childSA is one CHILD_SA: its negotiated suite and selectors and the pair
// of kernel states. The inbound and outbound halves are kept apart so that
// a later rekey can replace them make-before-break.
type childSA struct {
	uid      uint32
	reqid    uint32
	suite    suite.Suite
	proposal message.Proposal // as accepted, for status output
	spiIn    uint32           // allocated by our kernel
	spiOut   uint32           // the peer's
	tsLocal  message.TrafficSelector
	tsRemote message.TrafficSelector
	// offer is what we proposed as initiator (numbered, with spiIn).
	offer     []message.Proposal
	installed bool
	kernel    xfrm.ChildSA
	created   time.Time
	rekeyAt   time.Time
	expireAt  time.Time

	// ni, nr and gir are the nonces and the PFS shared secret of the
	// CREATE_CHILD_SA exchange that made this SA (RFC 7296 2.17); nil for
	// the CHILD_SA of IKE_AUTH, which uses the IKE SA's nonces. gir is
	// cleared once the keys are installed.
	ni, nr, gir []byte
	// Lifecycle (rekey_child.go).
	rekeying    *childRekey // our rekey of this SA in flight
	replaced    bool        // superseded by a rekey, waiting to be deleted
	deleting    bool        // our Delete for it is on its way
	collide     *childSA    // the peer's replacement, made while ours was in flight (RFC 7296 2.8.1)
	rekeyTimer  Timer
	expireTimer Timer
	retries     int
	// The answering end of an exchange that replaces a CHILD_SA installs
	// the new inbound state at once and the outbound one only once the
	// initiator can receive on it (deferout.go). pendingOut holds the
	// outbound state, keys included, until then; madeBy is the message ID
	// of the peer's request that created this SA, madeInAuth whether that
	// was IKE_AUTH; successor is the SA that replaces this one.
	pendingOut  *xfrm.State
	madeBy      uint32
	madeInAuth  bool
	outTimer    Timer
	successor   *childSA
	outIn       bool // the outbound state is in the kernel (deferout.go)
	inboundOnly bool // the losing end's redundant SA of a rekey collision
}

// Lifetimes when a connection leaves them unset: strongSwan's ipsec.conf
// defaults (lifetime=1h, margintime=9m).
const (
	defaultChildLifetime = time.Hour
	defaultMarginTime    = 9 * time.Minute
	defaultReplayWindow  = 32
)

// espOffer returns a connection's ESP proposals as the CHILD_SA of
// IKE_AUTH is offered and accepted: without KE transforms (RFC 7296 1.2)
// and restricted to what the kernel mapping can install, so that cygnet
// never agrees to a suite it then fails to install.
func espOffer(c *Connection) []message.Proposal { return espProposals(c, false) }

// espProposals is espOffer, with the proposals' KE transforms kept when
// withKE is set (CREATE_CHILD_SA with PFS, RFC 7296 1.3.1).
func espProposals(c *Connection, withKE bool) []message.Proposal {
	var ps []message.Proposal
	if len(c.ESP) == 0 {
		ps = suite.DefaultESP
	} else {
		for _, p := range c.ESP {
			ps = append(ps, suite.FromLists(message.ProtoESP, encrTransforms(p.Encr), p.Integ, nil, p.DH, p.ESN))
		}
	}
	if !withKE {
		ps = suite.WithoutKE(ps)
	}
	var out []message.Proposal
	for _, p := range ps {
		q := message.Proposal{Protocol: p.Protocol}
		var encr, integ int
		for _, t := range p.Transforms {
			switch t.Type {
			case message.TransformENCR:
				if _, err := xfrmEncryption(message.EncrID(t.ID), t.KeyBits); err != nil {
					continue
				}
				encr++
			case message.TransformINTEG:
				if _, err := xfrmIntegrity(message.IntegID(t.ID)); err != nil {
					continue
				}
				if message.IntegID(t.ID) != message.IntegNone {
					integ++
				}
			}
			q.Transforms = append(q.Transforms, t)
		}
		if integ == 0 {
			// Without an integrity algorithm only AEAD ciphers remain
			// usable (RFC 5282 8).
			kept := q.Transforms[:0]
			encr = 0
			for _, t := range q.Transforms {
				if t.Type == message.TransformENCR && !message.EncrID(t.ID).IsAEAD() {
					continue
				}
				if t.Type == message.TransformENCR {
					encr++
				}
				kept = append(kept, t)
			}
			q.Transforms = kept
		}
		if encr == 0 {
			continue
		}
		out = append(out, q)
	}
	return out
}

// xfrmEncryption maps a negotiated ESP cipher to the kernel's.
func xfrmEncryption(id message.EncrID, bits int) (xfrm.Encryption, error) {
	switch {
	case id == message.EncrAESGCM16 && bits == 128:
		return xfrm.AESGCM16_128, nil
	case id == message.EncrAESGCM16 && bits == 256:
		return xfrm.AESGCM16_256, nil
	case id == message.EncrAESCBC && bits == 128:
		return xfrm.AESCBC128, nil
	case id == message.EncrAESCBC && bits == 256:
		return xfrm.AESCBC256, nil
	case id == message.Encr3DES && bits == 0:
		return xfrm.TripleDESCBC, nil
	}
	return 0, fmt.Errorf("ike: ESP cipher %v/%d not installable", id, bits)
}

func xfrmIntegrity(id message.IntegID) (xfrm.Integrity, error) {
	switch id {
	case message.IntegNone:
		return xfrm.IntegNone, nil
	case message.IntegHMACSHA2256128:
		return xfrm.HMACSHA256_128, nil
	case message.IntegHMACSHA2384192:
		return xfrm.HMACSHA384_192, nil
	case message.IntegHMACSHA2512256:
		return xfrm.HMACSHA512_256, nil
	case message.IntegHMACSHA196:
		return xfrm.HMACSHA1_96, nil
	}
	return 0, fmt.Errorf("ike: ESP integrity %v not installable", id)
}

// selector returns the traffic selector of one host of a transport-mode
// CHILD_SA (RFC 7296 3.13.1), narrowed by the configured protocol/port.
func selector(addr netip.Addr, pp TrafficSelector) message.TrafficSelector {
	addr = addr.Unmap()
	ts := message.TrafficSelector{Type: message.TSIPv4AddrRange, IPProtocol: pp.Protocol, Start: addr, End: addr, StartPort: 0, EndPort: 65535}
	if addr.Is6() {
		ts.Type = message.TSIPv6AddrRange
	}
	if pp.StartPort != 0 || pp.EndPort != 0 {
		ts.StartPort, ts.EndPort = pp.StartPort, pp.EndPort
		if ts.EndPort < ts.StartPort {
			ts.EndPort = ts.StartPort
		}
	}
	return ts
}

// intersect narrows two selectors to what both admit (RFC 7296 2.9).
func intersect(a, b message.TrafficSelector) (message.TrafficSelector, bool) {
	if a.Type != b.Type || (a.Type != message.TSIPv4AddrRange && a.Type != message.TSIPv6AddrRange) {
		return message.TrafficSelector{}, false
	}
	r := a
	switch {
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	case b.IPProtocol != 0 && b.IPProtocol != a.IPProtocol:
		return message.TrafficSelector{}, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		return message.TrafficSelector{}, false
	}
	r.Start, r.End = a.Start, a.End
	if b.Start.Compare(r.Start) > 0 {
		r.Start = b.Start
	}
	if b.End.Compare(r.End) < 0 {
		r.End = b.End
	}
	if r.Start.Compare(r.End) > 0 {
		return message.TrafficSelector{}, false
	}
	return r, true
}

// narrow picks, from the peer's selectors, the first that intersects ours.
func narrow(peer []message.TrafficSelector, ours message.TrafficSelector) (message.TrafficSelector, bool) {
	for _, ts := range peer {
		if r, ok := intersect(ts, ours); ok {
			return r, true
		}
	}
	return message.TrafficSelector{}, false
}

// errTS reports traffic selectors that cannot be narrowed.
var errTS = errors.New("ike: traffic selectors unacceptable")

// tsPort turns a narrowed port range into the single port an xfrm
// selector holds (0 = any).
func tsPort(ts message.TrafficSelector) (uint16, error) {
	switch {
	case ts.StartPort == 0 && ts.EndPort == 65535:
		return 0, nil
	case ts.StartPort == ts.EndPort:
		return ts.StartPort, nil
	}
	return 0, fmt.Errorf("%w: port range %d-%d cannot be installed", errTS, ts.StartPort, ts.EndPort)
}

// newChild prepares a CHILD_SA of the SA's connection with an inbound SPI
// from the kernel (never a random one).
func (sa *ikeSA) newChild() (*childSA, error) {
	c := sa.conn
	ch := &childSA{uid: sa.e.nextChildUID(), reqid: sa.e.reqidFor(c)}
	ctx, cancel := kernelCtx()
	defer cancel()
	spi, err := sa.e.kernel.AllocSPI(ctx, sa.remote.Addr().Unmap(), sa.local.Addr().Unmap(), ch.reqid)
	if err != nil {
		return nil, fmt.Errorf("ike: conn %s: allocating an inbound SPI: %w", c.Name, err)
	}
	ch.spiIn = spi
	return ch, nil
}

// releaseSPI removes the larval state of a CHILD_SA that was not installed.
func (sa *ikeSA) releaseSPI(ch *childSA) {
	if ch.installed || ch.spiIn == 0 {
		return
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if err := sa.e.kernel.DeleteState(ctx, xfrm.StateID{Dst: sa.local.Addr().Unmap(), SPI: ch.spiIn}); err != nil {
		// The kernel expires larval states on its own (xfrm_acq_expires).
		sa.logAt(slog.LevelDebug, "ike: releasing an unused SPI", "spi_in", fmt.Sprintf("%08x", ch.spiIn), "err", err)
	}
}

// install derives the CHILD_SA keys from the IKE SA (RFC 7296 2.17) and
// installs the pair. initiator is whether this end initiated the exchange
// that created it.
func (sa *ikeSA) install(ch *childSA, initiator bool) error {
	return sa.installChild(ch, initiator, false)
}

// installInbound is install for the responder of a CHILD_SA rekey: only
// the inbound state goes into the kernel now (the policies are the
// replaced SA's, same reqid). Linux sends on the newest outbound state,
// and the initiator can receive on the new SA only once it has our
// answer; so the outbound state waits for installOutbound.
func (sa *ikeSA) installInbound(ch *childSA) error {
	return sa.installChild(ch, false, true)
}

func (sa *ikeSA) installChild(ch *childSA, initiator, deferOut bool) error {
	c := sa.conn
	enc, err := xfrmEncryption(ch.suite.Encr, ch.suite.EncrKeyBits)
	if err != nil {
		return err
	}
	integ, err := xfrmIntegrity(ch.suite.Integ)
	if err != nil {
		return err
	}
	lport, err := tsPort(ch.tsLocal)
	if err != nil {
		return err
	}
	rport, err := tsPort(ch.tsRemote)
	if err != nil {
		return err
	}
	proto := ch.tsLocal.IPProtocol
	ni, nr := sa.ni, sa.nr
	if ch.ni != nil {
		ni, nr = ch.ni, ch.nr
	}
	keys, err := keymat.DeriveChild(sa.prf, sa.keys.SKd, ch.suite, ch.gir, ni, nr)
	clear(ch.gir)
	ch.gir = nil
	if err != nil {
		return err
	}
	defer keys.Clear()
	inEnc, inInt, outEnc, outInt := keys.EncrI, keys.IntegI, keys.EncrR, keys.IntegR
	if initiator {
		inEnc, inInt, outEnc, outInt = keys.EncrR, keys.IntegR, keys.EncrI, keys.IntegI
	}
	local, remote := sa.local.Addr().Unmap(), sa.remote.Addr().Unmap()
	window := c.ReplayWindow
	if window == 0 {
		window = defaultReplayWindow
	}
	lim := childLimits(c)
	sel := xfrm.Selector{Src: local, Dst: remote, Proto: proto, SrcPort: lport, DstPort: rport}
	var encap *xfrm.Encap
	if sa.natDetected() {
		encap = &xfrm.Encap{SrcPort: sa.local.Port(), DstPort: sa.remote.Port()}
	}
	esn := ch.suite.ESN == message.ESNYes
	k := xfrm.ChildSA{
		ReqID: ch.reqid, Local: local, Remote: remote, Proto: proto, LocalPort: lport, RemotePort: rport,
		NoPolicies: c.NoPolicy,
		In: xfrm.State{Src: remote, Dst: local, SPI: ch.spiIn, ReqID: ch.reqid, Dir: xfrm.In,
			Encryption: enc, Integrity: integ, EncKey: clone(inEnc), IntegKey: clone(inInt),
			ReplayWindow: window, ESN: esn, Limits: lim, Encap: reverse(encap),
			Selector: xfrm.Selector{Src: remote, Dst: local, Proto: proto, SrcPort: rport, DstPort: lport}},
		Out: xfrm.State{Src: local, Dst: remote, SPI: ch.spiOut, ReqID: ch.reqid, Dir: xfrm.Out,
			Encryption: enc, Integrity: integ, EncKey: clone(outEnc), IntegKey: clone(outInt),
			ESN: esn, Limits: lim, Encap: encap, Selector: sel},
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if deferOut {
		if err := sa.e.kernel.InstallState(ctx, &k.In); err != nil {
			clearKeys(&k.In)
			clearKeys(&k.Out)
			return fmt.Errorf("ike: conn %s: installing CHILD_SA inbound state: %w", c.Name, err)
		}
		out := k.Out
		ch.pendingOut = &out
		ch.madeBy, ch.madeInAuth = sa.peerNext, sa.state != stateEstablished
	} else if err := sa.e.kernel.InstallChildSA(ctx, &k); err != nil {
		clearKeys(&k.In)
		clearKeys(&k.Out)
		return fmt.Errorf("ike: conn %s: installing CHILD_SA: %w", c.Name, err)
	}
	// The Installer owns the key copies it was given; the engine keeps
	// none (DeleteChildSA needs only SPIs, addresses and selectors), but
	// for a deferred outbound state until it is installed.
	k.In.EncKey, k.In.IntegKey, k.Out.EncKey, k.Out.IntegKey = nil, nil, nil, nil
	ch.kernel = k
	ch.installed = true
	sa.e.childInstalled(&ch.kernel)
	if !deferOut {
		sa.outInstalled(ch)
	}
	now := sa.e.clock.Now()
	ch.created = now
	if lim.SoftTime > 0 {
		ch.rekeyAt = now.Add(lim.SoftTime)
	}
	if lim.HardTime > 0 {
		ch.expireAt = now.Add(lim.HardTime)
	}
	return nil
}

// installOutbound puts a deferred outbound state into the kernel, after
// which Linux sends on it.
func (sa *ikeSA) installOutbound(ch *childSA, why string) {
	out := ch.pendingOut
	if out == nil {
		return
	}
	ch.pendingOut = nil
	if ch.outTimer != nil {
		ch.outTimer.Stop()
		ch.outTimer = nil
	}
	defer clearKeys(out)
	if !ch.installed || ch.replaced || ch.deleting {
		return // superseded or on its way out: it never sends
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if err := sa.e.kernel.InstallState(ctx, out); err != nil {
		sa.logAt(slog.LevelError, "ike: installing the outbound state of a rekeyed CHILD_SA", "child_id", ch.uid, "spi_out", fmt.Sprintf("%08x", ch.spiOut), "err", err)
		return
	}
	sa.outInstalled(ch)
	sa.logAt(slog.LevelDebug, "ike: rekeyed CHILD_SA now sends", "child_id", ch.uid, "spi_out", fmt.Sprintf("%08x", ch.spiOut), "reason", why)
}

// dropPendingOut forgets a deferred outbound state that will never be
// installed.
func dropPendingOut(ch *childSA) {
	if ch.pendingOut != nil {
		clearKeys(ch.pendingOut)
		ch.pendingOut = nil
	}
	if ch.outTimer != nil {
		ch.outTimer.Stop()
		ch.outTimer = nil
	}
}

func clearKeys(s *xfrm.State) {
	clear(s.EncKey)
	clear(s.IntegKey)
}

func reverse(e *xfrm.Encap) *xfrm.Encap {
	if e == nil {
		return nil
	}
	return &xfrm.Encap{SrcPort: e.DstPort, DstPort: e.SrcPort}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// childLimits maps ipsec.conf's lifetime, margintime and byte/packet
// limits onto kernel limits: the hard limit is the lifetime, the soft one
// (where rekeying starts) the lifetime less the margin, as strongSwan
// computes them (without its random fuzz, which belongs to rekeying).
func childLimits(c *Connection) xfrm.Limits {
	life, margin := c.Lifetime, c.MarginTime
	if life == 0 {
		life = defaultChildLifetime
	}
	if margin == 0 || margin >= life {
		margin = min(defaultMarginTime, life/2)
	}
	l := xfrm.Limits{HardTime: life, SoftTime: life - margin}
	if c.LifeBytes > 0 {
		l.HardBytes = c.LifeBytes
		l.SoftBytes = c.LifeBytes - min(c.MarginBytes, c.LifeBytes/2)
	}
	if c.LifePackets > 0 {
		l.HardPackets = c.LifePackets
		l.SoftPackets = c.LifePackets - min(c.MarginPackets, c.LifePackets/2)
	}
	return l
}

// childUp records an installed CHILD_SA and reports it.
func (sa *ikeSA) childUp(ch *childSA) {
	sa.children = append(sa.children, ch)
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: CHILD_SA established", "child_id", ch.uid, "reqid", fmt.Sprintf("%#x", ch.reqid),
			"spi_in", fmt.Sprintf("%08x", ch.spiIn), "spi_out", fmt.Sprintf("%08x", ch.spiOut),
			"proposal", suite.FormatStatus(ch.proposal), "ts_local", tsString(ch.tsLocal), "ts_remote", tsString(ch.tsRemote),
			"local_id", sa.localID.String(), "remote_id", sa.remoteID.String())
	}
	sa.event(Event{Type: EventChildUp, ChildUniqueID: ch.uid, SPIIn: ch.spiIn, SPIOut: ch.spiOut, ReqID: ch.reqid})
	sa.armChildTimers(ch)
}

// removeChild takes a CHILD_SA out of the kernel and reports it down.
func (sa *ikeSA) removeChild(ch *childSA, reason string) {
	sa.stopChildTimers(ch)
	dropPendingOut(ch)
	if !ch.installed {
		sa.releaseSPI(ch)
		return
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if err := sa.e.deleteChildKernel(ctx, &ch.kernel, sa.conn); err != nil {
		sa.logAt(slog.LevelError, "ike: removing CHILD_SA from the kernel", "child_id", ch.uid, "err", err)
	}
	ch.installed = false
	sa.outRemoved(ch)
	if ch.replaced {
		// Superseded by a rekey: EventChildRekeyed reported the change,
		// and the CHILD_SA as the daemon sees it (updown, traps) stays up.
		sa.logAt(slog.LevelInfo, "ike: rekeyed CHILD_SA removed", "child_id", ch.uid, "spi_in", fmt.Sprintf("%08x", ch.spiIn), "spi_out", fmt.Sprintf("%08x", ch.spiOut), "reason", reason)
		return
	}
	if sa.logs(slog.LevelInfo) {
		sa.logAt(slog.LevelInfo, "ike: CHILD_SA deleted", "child_id", ch.uid, "spi_in", fmt.Sprintf("%08x", ch.spiIn), "spi_out", fmt.Sprintf("%08x", ch.spiOut),
			"local_id", sa.localID.String(), "remote_id", sa.remoteID.String(), "reason", reason)
	}
	sa.event(Event{Type: EventChildDown, ChildUniqueID: ch.uid, SPIIn: ch.spiIn, SPIOut: ch.spiOut, ReqID: ch.reqid, Reason: reason})
}

// tsEqual compares two address-range selectors.
func tsEqual(a, b message.TrafficSelector) bool {
	return a.Type == b.Type && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort &&
		a.EndPort == b.EndPort && a.Start == b.Start && a.End == b.End
}
