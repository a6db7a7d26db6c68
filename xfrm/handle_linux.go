package xfrm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Handle talks to the XFRM layer of one network namespace. It is safe for
// concurrent use.
type Handle struct {
	nsPath string
	ns     netns.NsHandle

	mu   sync.Mutex // serialises requests on sock
	sock *nl.SocketHandle
}

// Open returns a Handle on the network namespace at nsPath, for example
// /run/netns/NAME or /proc/PID/ns/net. There is no default: the caller
// always names the namespace it means ("/proc/self/ns/net" for its own).
func Open(nsPath string) (*Handle, error) {
	if nsPath == "" {
		return nil, invalid("no network namespace given")
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("xfrm: open network namespace %s: %w", nsPath, err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_XFRM)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("xfrm: netlink socket in %s: %w", nsPath, err)
	}
	return &Handle{nsPath: nsPath, ns: ns, sock: &nl.SocketHandle{Socket: s}}, nil
}

// Namespace returns the path the handle was opened on.
func (h *Handle) Namespace() string { return h.nsPath }

// Close releases the handle's socket and namespace reference.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sock != nil {
		h.sock.Close()
		h.sock = nil
	}
	return h.ns.Close()
}

func (h *Handle) request(msgType int, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(msgType, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: h.sock}
	return req
}

// exec runs one request under ctx: its deadline bounds the send and the
// wait for the kernel's answer (SO_SNDTIMEO and SO_RCVTIMEO on the
// handle's socket, set per request), so that a caller holding a lock
// never waits on netlink longer than it allowed. An answer that arrives
// after the deadline is skipped by the next request (its sequence number
// is not that request's).
func (h *Handle) exec(ctx context.Context, req *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sock == nil {
		return nil, errors.New("xfrm: handle closed")
	}
	// Waiting for the handle may have used up the caller's time.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xfrm: %w", err)
	}
	var tv unix.Timeval // zero: no timeout
	dl, bounded := ctx.Deadline()
	if bounded {
		tv = unix.NsecToTimeval(max(time.Until(dl), time.Millisecond).Nanoseconds())
	}
	if err := h.sock.Socket.SetSendTimeout(&tv); err != nil {
		return nil, fmt.Errorf("xfrm: netlink send timeout: %w", err)
	}
	if err := h.sock.Socket.SetReceiveTimeout(&tv); err != nil {
		return nil, fmt.Errorf("xfrm: netlink receive timeout: %w", err)
	}
	msgs, err := req.Execute(unix.NETLINK_XFRM, resType)
	if err != nil && bounded && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK)) {
		return nil, fmt.Errorf("xfrm: no answer from the kernel in time: %w", context.DeadlineExceeded)
	}
	return msgs, err
}

// kernelErr maps errno values to the package's errors so callers can tell
// "not supported here" (no ESP in this kernel) from bad input.
func kernelErr(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOENT, unix.ESRCH:
			return fmt.Errorf("xfrm: %s: %w (%w)", op, ErrNotFound, err)
		case unix.EPROTONOSUPPORT, unix.ENOSYS:
			return fmt.Errorf("xfrm: %s: %w: %w", op, ErrNotSupported, err)
		}
	}
	return fmt.Errorf("xfrm: %s: %w", op, err)
}

func family(a netip.Addr) uint16 {
	if a.Unmap().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func putAddr(x *nl.XfrmAddress, a netip.Addr) {
	*x = nl.XfrmAddress{}
	if !a.IsValid() {
		return
	}
	a = a.Unmap()
	copy(x[:], a.AsSlice())
}

func getAddr(x *nl.XfrmAddress, fam uint16) netip.Addr {
	if fam == unix.AF_INET {
		return netip.AddrFrom4([4]byte(x[:4]))
	}
	return netip.AddrFrom16([16]byte(x[:16]))
}

func putSelector(sel *nl.XfrmSelector, s Selector) {
	*sel = nl.XfrmSelector{}
	if !s.Src.IsValid() {
		return
	}
	putAddr(&sel.Saddr, s.Src)
	putAddr(&sel.Daddr, s.Dst)
	sel.Family = family(s.Src)
	bits := uint8(s.Src.Unmap().BitLen())
	sel.PrefixlenS, sel.PrefixlenD = bits, bits
	sel.Proto = s.Proto
	if s.SrcPort != 0 {
		sel.Sport, sel.SportMask = nl.Swap16(s.SrcPort), 0xffff
	}
	if s.DstPort != 0 {
		sel.Dport, sel.DportMask = nl.Swap16(s.DstPort), 0xffff
	}
}

func getSelector(sel *nl.XfrmSelector) Selector {
	if sel.Family == 0 {
		return Selector{}
	}
	return Selector{
		Src:     getAddr(&sel.Saddr, sel.Family),
		Dst:     getAddr(&sel.Daddr, sel.Family),
		Proto:   sel.Proto,
		SrcPort: nl.Swap16(sel.Sport),
		DstPort: nl.Swap16(sel.Dport),
	}
}

// AllocSPI asks the kernel for an unused SPI for ESP from src to dst. The
// kernel creates a larval state holding it until InstallState fills it in.
func (h *Handle) AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error) {
	if !src.IsValid() || !dst.IsValid() {
		return 0, invalid("allocspi: missing address")
	}
	if src.Unmap().Is4() != dst.Unmap().Is4() {
		return 0, invalid("allocspi: mixed address families %v and %v", src, dst)
	}
	if !Owned(reqid) {
		return 0, invalid("allocspi: reqid 0x%08x outside cygnet's range", reqid)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	msg := &nl.XfrmUserSpiInfo{}
	info := &msg.XfrmUsersaInfo
	info.Family = family(dst)
	putAddr(&info.Id.Daddr, dst)
	putAddr(&info.Saddr, src)
	info.Id.Proto = unix.IPPROTO_ESP
	info.Mode = 0 // transport
	info.Reqid = reqid
	// SPIs 1-255 are reserved by IANA (RFC 4303 2.1).
	msg.Min, msg.Max = 0x100, 0xffffffff
	req := h.request(nl.XFRM_MSG_ALLOCSPI, 0)
	req.AddData(msg)
	msgs, err := h.exec(ctx, req, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return 0, kernelErr(fmt.Sprintf("allocspi %v->%v", src, dst), err)
	}
	if len(msgs) == 0 || len(msgs[0]) < nl.SizeofXfrmUsersaInfo {
		return 0, fmt.Errorf("xfrm: allocspi %v->%v: short reply", src, dst)
	}
	got := nl.DeserializeXfrmUsersaInfo(msgs[0])
	return nl.Swap32(got.Id.Spi), nil
}

// InstallState installs s: inbound states fill in the larval state left by
// AllocSPI (XFRM_MSG_UPDSA), outbound ones are added (XFRM_MSG_NEWSA).
func (h *Handle) InstallState(ctx context.Context, s *State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	typ, flags := nl.XFRM_MSG_NEWSA, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK
	if s.Dir == In {
		typ, flags = nl.XFRM_MSG_UPDSA, unix.NLM_F_ACK
	}
	req := h.request(typ, flags)
	h.stateMessage(req, s)
	if _, err := h.exec(ctx, req, 0); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("xfrm: install %v: no SPI allocated for it (inbound SPIs come from AllocSPI): %w", s, err)
		}
		return kernelErr("install "+s.String(), err)
	}
	return nil
}

// UpdateState replaces an installed state, e.g. to follow a NAT mapping
// change with new encapsulation ports.
func (h *Handle) UpdateState(ctx context.Context, s *State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	req := h.request(nl.XFRM_MSG_UPDSA, unix.NLM_F_ACK)
	h.stateMessage(req, s)
	if _, err := h.exec(ctx, req, 0); err != nil {
		return kernelErr("update "+s.String(), err)
	}
	return nil
}

const xfrmInf = ^uint64(0)

func limit(v uint64) uint64 {
	if v == 0 {
		return xfrmInf
	}
	return v
}

func (h *Handle) stateMessage(req *nl.NetlinkRequest, s *State) {
	info := &nl.XfrmUsersaInfo{}
	info.Family = family(s.Dst)
	putAddr(&info.Id.Daddr, s.Dst)
	putAddr(&info.Saddr, s.Src)
	info.Id.Spi = nl.Swap32(s.SPI)
	info.Id.Proto = unix.IPPROTO_ESP
	info.Mode = 0 // XFRM_MODE_TRANSPORT
	info.Reqid = s.ReqID
	putSelector(&info.Sel, s.Selector)
	info.Lft = nl.XfrmLifetimeCfg{
		SoftByteLimit:         limit(s.Limits.SoftBytes),
		HardByteLimit:         limit(s.Limits.HardBytes),
		SoftPacketLimit:       limit(s.Limits.SoftPackets),
		HardPacketLimit:       limit(s.Limits.HardPackets),
		SoftAddExpiresSeconds: uint64(s.Limits.SoftTime.Seconds()),
		HardAddExpiresSeconds: uint64(s.Limits.HardTime.Seconds()),
	}
	// The legacy uint8 replay_window field caps the window at 255 and the
	// kernel at 32: the window always goes in XFRMA_REPLAY_ESN_VAL, which
	// requires the legacy field to be 0.
	info.ReplayWindow = 0
	if s.ESN {
		info.Flags |= nl.XFRM_STATE_ESN
	}
	req.AddData(info)

	if s.Encryption.AEAD() {
		a := &nl.XfrmAlgoAEAD{AlgKeyLen: uint32(len(s.EncKey) * 8), AlgICVLen: 128, AlgKey: s.EncKey}
		copy(a.AlgName[:], s.Encryption.kernelName())
		req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_AEAD, a.Serialize()))
	} else {
		c := &nl.XfrmAlgo{AlgKeyLen: uint32(len(s.EncKey) * 8), AlgKey: s.EncKey}
		copy(c.AlgName[:], s.Encryption.kernelName())
		req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_CRYPT, c.Serialize()))
		a := &nl.XfrmAlgoAuth{AlgKeyLen: uint32(len(s.IntegKey) * 8), AlgTruncLen: uint32(s.Integrity.truncBits()), AlgKey: s.IntegKey}
		copy(a.AlgName[:], s.Integrity.kernelName())
		req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_AUTH_TRUNC, a.Serialize()))
	}
	if s.ReplayWindow != 0 || s.ESN {
		win := s.ReplayWindow
		if win == 0 {
			// The kernel refuses an ESN state with a zero window unless it
			// carries a direction attribute (XFRMA_SA_DIR, Linux 6.10+);
			// the window of an outbound SA is never consulted.
			win = 32
		}
		r := &nl.XfrmReplayStateEsn{ReplayWindow: win, BmpLen: (win + 31) / 32}
		// The kernel wants room for the bitmap after the header.
		b := append(r.Serialize(), make([]byte, 4*r.BmpLen)...)
		req.AddData(nl.NewRtAttr(nl.XFRMA_REPLAY_ESN_VAL, b))
	}
	if s.Encap != nil {
		e := &nl.XfrmEncapTmpl{EncapType: 2, // UDP_ENCAP_ESPINUDP (RFC 3948)
			EncapSport: nl.Swap16(s.Encap.SrcPort), EncapDport: nl.Swap16(s.Encap.DstPort)}
		req.AddData(nl.NewRtAttr(nl.XFRMA_ENCAP, e.Serialize()))
	}
}

// DeleteState removes the ESP state id.
func (h *Handle) DeleteState(ctx context.Context, id StateID) error {
	if !id.Dst.IsValid() || id.SPI == 0 {
		return invalid("delete state: missing destination or spi")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := &nl.XfrmUsersaId{Spi: nl.Swap32(id.SPI), Family: family(id.Dst), Proto: unix.IPPROTO_ESP}
	putAddr(&msg.Daddr, id.Dst)
	req := h.request(nl.XFRM_MSG_DELSA, unix.NLM_F_ACK)
	req.AddData(msg)
	if _, err := h.exec(ctx, req, 0); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		return kernelErr(fmt.Sprintf("delete state spi 0x%08x dst %v", id.SPI, id.Dst), err)
	}
	return nil
}

func policyDir(d Direction) uint8 {
	if d == In {
		return 0 // XFRM_POLICY_IN
	}
	return 1 // XFRM_POLICY_OUT
}

// InstallPolicy adds p or replaces the policy with the same selector and
// direction (XFRM_MSG_UPDPOLICY), so re-installing is idempotent and a
// block policy can be turned into a protect policy without a gap.
func (h *Handle) InstallPolicy(ctx context.Context, p *Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	info := &nl.XfrmUserpolicyInfo{}
	putSelector(&info.Sel, p.Selector)
	info.Lft = nl.XfrmLifetimeCfg{SoftByteLimit: xfrmInf, HardByteLimit: xfrmInf, SoftPacketLimit: xfrmInf, HardPacketLimit: xfrmInf}
	info.Priority = p.Priority
	info.Dir = policyDir(p.Dir)
	if p.Action == Block {
		info.Action = 1 // XFRM_POLICY_BLOCK
	}
	req := h.request(nl.XFRM_MSG_UPDPOLICY, unix.NLM_F_CREATE|unix.NLM_F_ACK)
	req.AddData(info)
	if p.Action == Pass {
		// XFRM_POLICY_ALLOW without a template: the traffic goes as is.
		if _, err := h.exec(ctx, req, 0); err != nil {
			return kernelErr("install "+p.String(), err)
		}
		return nil
	}
	// The template requires ESP in transport mode with our reqid; on a block
	// policy it only marks ownership.
	t := &nl.XfrmUserTmpl{}
	t.XfrmId.Proto = unix.IPPROTO_ESP
	t.Family = family(p.Selector.Src)
	putAddr(&t.XfrmId.Daddr, p.Selector.Dst)
	putAddr(&t.Saddr, p.Selector.Src)
	t.Reqid = p.ReqID
	t.Mode = 0
	t.Aalgos, t.Ealgos, t.Calgos = ^uint32(0), ^uint32(0), ^uint32(0)
	req.AddData(nl.NewRtAttr(nl.XFRMA_TMPL, t.Serialize()))
	if _, err := h.exec(ctx, req, 0); err != nil {
		return kernelErr("install "+p.String(), err)
	}
	return nil
}

// DeletePolicy removes the policy with p's selector and direction.
func (h *Handle) DeletePolicy(ctx context.Context, p *Policy) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := &nl.XfrmUserpolicyId{Dir: policyDir(p.Dir)}
	putSelector(&id.Sel, p.Selector)
	req := h.request(nl.XFRM_MSG_DELPOLICY, unix.NLM_F_ACK)
	req.AddData(id)
	if _, err := h.exec(ctx, req, 0); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil
		}
		return kernelErr("delete "+p.String(), err)
	}
	return nil
}

// InstallChildSA installs the inbound state first (so the peer's packets
// are accepted as soon as it may send), then the outbound state, then the
// policies. On any failure everything this call installed is removed again:
// no half-installed pair is left behind.
func (h *Handle) InstallChildSA(ctx context.Context, c *ChildSA) error {
	return InstallChildSA(ctx, h, c)
}

// DeleteChildSA removes c's states, and its policies when no other
// installed state shares its reqid.
func (h *Handle) DeleteChildSA(ctx context.Context, c *ChildSA) error {
	var errs []error
	for _, id := range []StateID{c.Out.ID(), c.In.ID()} {
		if err := h.DeleteState(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	states, err := h.States(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, s := range states {
		// A rekeyed sibling still uses the policies. An ACQUIRE's larval
		// state (SPI 0, made by the kernel when a packet met the policy
		// between the state's removal and now) is no sibling: counting
		// it left a removed conn's policies holding its traffic forever.
		if s.ReqID == c.ReqID && s.SPI != 0 {
			return errors.Join(errs...)
		}
	}
	if !c.NoPolicies {
		for _, p := range c.Policies() {
			if err := h.DeletePolicy(ctx, &p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// States lists every ESP state in the namespace (cygnet's and others');
// filter with Owned(s.ReqID).
func (h *Handle) States(ctx context.Context) ([]InstalledState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := h.request(nl.XFRM_MSG_GETSA, unix.NLM_F_DUMP)
	req.AddData(&nl.XfrmUsersaInfo{})
	msgs, err := h.exec(ctx, req, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return nil, kernelErr("list states", err)
	}
	var out []InstalledState
	for _, m := range msgs {
		s, err := parseState(m)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseState(m []byte) (InstalledState, error) {
	var s InstalledState
	if len(m) < nl.SizeofXfrmUsersaInfo {
		return s, errors.New("xfrm: short state message")
	}
	info := nl.DeserializeXfrmUsersaInfo(m)
	s.Src = getAddr(&info.Saddr, info.Family)
	s.Dst = getAddr(&info.Id.Daddr, info.Family)
	s.SPI = nl.Swap32(info.Id.Spi)
	s.ReqID = info.Reqid
	s.ReplayWindow = uint32(info.ReplayWindow)
	s.ESN = info.Flags&nl.XFRM_STATE_ESN != 0
	s.Selector = getSelector(&info.Sel)
	s.Bytes, s.Packets = info.Curlft.Bytes, info.Curlft.Packets
	s.AddTime, s.UseTime = info.Curlft.AddTime, info.Curlft.UseTime
	s.ReplayErrors, s.IntegrityErrors, s.ReplayWindowErrors = info.Stats.Replay, info.Stats.IntegrityFailed, info.Stats.ReplayWindow
	s.Limits = Limits{
		SoftBytes: unlimit(info.Lft.SoftByteLimit), HardBytes: unlimit(info.Lft.HardByteLimit),
		SoftPackets: unlimit(info.Lft.SoftPacketLimit), HardPackets: unlimit(info.Lft.HardPacketLimit),
	}
	s.Limits.SoftTime = secs(info.Lft.SoftAddExpiresSeconds)
	s.Limits.HardTime = secs(info.Lft.HardAddExpiresSeconds)
	attrs, err := parseAttrs(m[nl.SizeofXfrmUsersaInfo:])
	if err != nil {
		return s, fmt.Errorf("xfrm: state spi 0x%08x: %w", s.SPI, err)
	}
	s.Larval = true
	for _, a := range attrs {
		v := a.Value
		switch a.Type {
		case nl.XFRMA_ALG_AEAD:
			s.Larval = false
			if len(v) >= 72 {
				keyBits := binary.NativeEndian.Uint32(v[64:68])
				if keyBits == 160 {
					s.Encryption = AESGCM16_128
				} else if keyBits == 288 {
					s.Encryption = AESGCM16_256
				}
			}
		case nl.XFRMA_ALG_CRYPT:
			s.Larval = false
			if len(v) >= 68 {
				switch binary.NativeEndian.Uint32(v[64:68]) {
				case 128:
					s.Encryption = AESCBC128
				case 256:
					s.Encryption = AESCBC256
				case 192:
					if algName(v[:64]) == TripleDESCBC.kernelName() {
						s.Encryption = TripleDESCBC
					}
				}
			}
		case nl.XFRMA_ALG_AUTH_TRUNC:
			if len(v) >= 72 {
				switch binary.NativeEndian.Uint32(v[68:72]) {
				case 128:
					s.Integrity = HMACSHA256_128
				case 192:
					s.Integrity = HMACSHA384_192
				case 256:
					s.Integrity = HMACSHA512_256
				case 96:
					if algName(v[:64]) == HMACSHA1_96.kernelName() {
						s.Integrity = HMACSHA1_96
					}
				}
			}
		case nl.XFRMA_REPLAY_ESN_VAL:
			if len(v) >= 24 {
				s.ReplayWindow = binary.NativeEndian.Uint32(v[20:24])
			}
		case nl.XFRMA_ENCAP:
			if len(v) >= nl.SizeofXfrmEncapTmpl {
				e := nl.DeserializeXfrmEncapTmpl(v)
				s.Encap = &Encap{SrcPort: nl.Swap16(e.EncapSport), DstPort: nl.Swap16(e.EncapDport)}
			}
		case nl.XFRMA_LASTUSED:
			if len(v) >= 8 {
				s.LastUsed = binary.NativeEndian.Uint64(v)
			}
		}
	}
	return s, nil
}

// algName returns the NUL-terminated algorithm name of an xfrm_algo.
func algName(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func unlimit(v uint64) uint64 {
	if v == xfrmInf {
		return 0
	}
	return v
}

// Policies lists every policy of the main type in the namespace,
// cygnet's and others'; filter with Owned(p.ReqID). Socket policies are
// not part of the database and are not listed.
func (h *Handle) Policies(ctx context.Context) ([]InstalledPolicy, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := h.request(nl.XFRM_MSG_GETPOLICY, unix.NLM_F_DUMP)
	req.AddData(&nl.XfrmUserpolicyInfo{})
	msgs, err := h.exec(ctx, req, nl.XFRM_MSG_NEWPOLICY)
	if err != nil {
		return nil, kernelErr("list policies", err)
	}
	var out []InstalledPolicy
	for _, m := range msgs {
		if len(m) < nl.SizeofXfrmUserpolicyInfo {
			return nil, errors.New("xfrm: short policy message")
		}
		info := nl.DeserializeXfrmUserpolicyInfo(m)
		var p InstalledPolicy
		p.Selector = getSelector(&info.Sel)
		p.Priority = info.Priority
		p.Index = info.Index
		switch info.Dir {
		case 0:
			p.Dir = In
		case 1:
			p.Dir = Out
		default:
			p.Dir = Direction(info.Dir + 1) // fwd: never ours, kept distinct
		}
		if info.Action == 1 {
			p.Action = Block
		}
		attrs, err := parseAttrs(m[nl.SizeofXfrmUserpolicyInfo:])
		if err != nil {
			return nil, fmt.Errorf("xfrm: policy index %d: %w", info.Index, err)
		}
		for _, a := range attrs {
			if a.Type != nl.XFRMA_TMPL {
				continue
			}
			for v := a.Value; len(v) >= nl.SizeofXfrmUserTmpl; v = v[nl.SizeofXfrmUserTmpl:] {
				t := nl.DeserializeXfrmUserTmpl(v)
				if p.Templates == 0 {
					p.ReqID = t.Reqid
				}
				p.Templates++
			}
		}
		// A template-less allow policy in the database is a pass policy;
		// socket policies (listed with their own directions) are not.
		if info.Action == 0 && p.Templates == 0 && (p.Dir == In || p.Dir == Out) {
			p.Action = Pass
		}
		out = append(out, p)
	}
	return out, nil
}

// Reconcile removes every cygnet-owned state and policy not part of
// desired and installs the desired ones that are missing. Objects of other
// owners are never touched. Desired inbound states must have been
// allocated in this kernel's lifetime (their larval or full state exists)
// or be re-created with NEWSA: Reconcile installs missing inbound states
// with NEWSA, which the kernel accepts for a free SPI.
func (h *Handle) Reconcile(ctx context.Context, desired []ChildSA) error {
	states, err := h.States(ctx)
	if err != nil {
		return err
	}
	policies, err := h.Policies(ctx)
	if err != nil {
		return err
	}
	wantState := map[StateID]bool{}
	type polKey struct {
		dir Direction
		sel Selector
	}
	wantPol := map[polKey]bool{}
	for i := range desired {
		c := &desired[i]
		if err := c.Validate(); err != nil {
			return err
		}
		wantState[c.In.ID()] = true
		wantState[c.Out.ID()] = true
		if !c.NoPolicies {
			for _, p := range c.Policies() {
				wantPol[polKey{p.Dir, p.Selector}] = true
			}
		}
	}
	var errs []error
	have := map[StateID]bool{}
	for _, s := range states {
		if !Owned(s.ReqID) {
			continue
		}
		if wantState[s.ID()] && !s.Larval {
			have[s.ID()] = true
			continue
		}
		if err := h.DeleteState(ctx, s.ID()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range policies {
		if !Owned(p.ReqID) || wantPol[polKey{p.Dir, p.Selector}] {
			continue
		}
		if err := h.DeletePolicy(ctx, &p.Policy); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range desired {
		c := &desired[i]
		for _, s := range []*State{&c.In, &c.Out} {
			if have[s.ID()] {
				continue
			}
			add := *s
			add.Dir = Out // NEWSA: the larval state, if any, was removed above
			if err := h.InstallState(ctx, &add); err != nil {
				errs = append(errs, err)
			}
		}
		if !c.NoPolicies {
			for _, p := range c.Policies() {
				if err := h.InstallPolicy(ctx, &p); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Flush removes every state and policy cygnet owns in the namespace (at
// daemon stop), leaving everyone else's.
func (h *Handle) Flush(ctx context.Context) error {
	return h.Reconcile(ctx, nil)
}

// inNamespace runs fn on a locked OS thread switched into the handle's
// namespace, for operations that are per-namespace but not netlink
// (sockets, /proc/thread-self/net).
func (h *Handle) inNamespace(fn func() error) error {
	return InNamespace(h.nsPath, fn)
}

// InNamespace runs fn on an OS thread inside the network namespace at
// nsPath. The thread is discarded afterwards if it cannot be switched back.
func InNamespace(nsPath string, fn func() error) error {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("xfrm: open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("xfrm: current namespace: %w", err)
			return // thread stays locked and exits with the goroutine
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("xfrm: enter namespace %s: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func secs(v uint64) time.Duration { return time.Duration(v) * time.Second }
