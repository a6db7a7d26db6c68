package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Ownership range of request IDs; see the package documentation.
const (
	ReqIDMin uint32 = 0xc9000001
	ReqIDMax uint32 = 0xc9ffffff
)

// Owned reports whether reqid marks an object installed by cygnet.
func Owned(reqid uint32) bool { return reqid >= ReqIDMin && reqid <= ReqIDMax }

// Encryption is an ESP encryption (or combined-mode) algorithm.
type Encryption uint8

// Encryption algorithms. AES-GCM keys are the AES key followed by the 4-byte
// salt (RFC 4106 8.1), i.e. 20 or 36 bytes.
const (
	AESGCM16_128 Encryption = iota + 1 // rfc4106(gcm(aes)), 16-byte ICV, 20-byte key material
	AESGCM16_256                       // rfc4106(gcm(aes)), 16-byte ICV, 36-byte key material
	AESCBC128                          // cbc(aes), needs an Integrity algorithm
	AESCBC256                          // cbc(aes), needs an Integrity algorithm
	// TripleDESCBC is 3DES (RFC 2451), kept for strongSwan's esp=3des; it
	// needs an Integrity algorithm and a 24-byte key.
	TripleDESCBC // cbc(des3_ede)
)

func (e Encryption) String() string {
	switch e {
	case AESGCM16_128:
		return "AES_GCM_16_128"
	case AESGCM16_256:
		return "AES_GCM_16_256"
	case AESCBC128:
		return "AES_CBC_128"
	case AESCBC256:
		return "AES_CBC_256"
	case TripleDESCBC:
		return "3DES_CBC"
	}
	return fmt.Sprintf("encryption(%d)", uint8(e))
}

// AEAD reports whether e carries its own integrity check.
func (e Encryption) AEAD() bool { return e == AESGCM16_128 || e == AESGCM16_256 }

// KeyLen is the length of the key material e needs, salt included.
func (e Encryption) KeyLen() int {
	switch e {
	case AESGCM16_128:
		return 16 + 4
	case AESGCM16_256:
		return 32 + 4
	case AESCBC128:
		return 16
	case AESCBC256:
		return 32
	case TripleDESCBC:
		return 24
	}
	return 0
}

// kernelName is the crypto API name the kernel knows e by.
func (e Encryption) kernelName() string {
	if e.AEAD() {
		return "rfc4106(gcm(aes))"
	}
	if e == TripleDESCBC {
		return "cbc(des3_ede)"
	}
	return "cbc(aes)"
}

// Integrity is an ESP integrity algorithm (RFC 4868, RFC 2404), used with
// the CBC ciphers.
type Integrity uint8

// Integrity algorithms.
const (
	IntegNone Integrity = iota
	HMACSHA256_128
	HMACSHA384_192
	HMACSHA512_256
	// HMACSHA1_96 is HMAC-SHA-1 truncated to 96 bits (RFC 2404), kept for
	// strongSwan's esp=...-sha1.
	HMACSHA1_96
)

func (i Integrity) String() string {
	switch i {
	case IntegNone:
		return "NONE"
	case HMACSHA256_128:
		return "HMAC_SHA2_256_128"
	case HMACSHA384_192:
		return "HMAC_SHA2_384_192"
	case HMACSHA512_256:
		return "HMAC_SHA2_512_256"
	case HMACSHA1_96:
		return "HMAC_SHA1_96"
	}
	return fmt.Sprintf("integrity(%d)", uint8(i))
}

// KeyLen is the key length of i in bytes.
func (i Integrity) KeyLen() int {
	switch i {
	case HMACSHA256_128:
		return 32
	case HMACSHA384_192:
		return 48
	case HMACSHA512_256:
		return 64
	case HMACSHA1_96:
		return 20
	}
	return 0
}

func (i Integrity) truncBits() int {
	switch i {
	case HMACSHA256_128:
		return 128
	case HMACSHA384_192:
		return 192
	case HMACSHA512_256:
		return 256
	case HMACSHA1_96:
		return 96
	}
	return 0
}

func (i Integrity) kernelName() string {
	switch i {
	case HMACSHA256_128:
		return "hmac(sha256)"
	case HMACSHA384_192:
		return "hmac(sha384)"
	case HMACSHA512_256:
		return "hmac(sha512)"
	case HMACSHA1_96:
		return "hmac(sha1)"
	}
	return ""
}

// Limits are an SA's lifetime limits. Zero means unlimited. The kernel sends
// a soft EXPIRE event at the soft limits and removes the SA (with a hard
// EXPIRE) at the hard ones.
type Limits struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
	SoftTime, HardTime       time.Duration // since installation
}

// Encap is the UDP encapsulation of an SA for NAT traversal (RFC 3948).
type Encap struct {
	SrcPort, DstPort uint16
}

// Direction of an SA or policy relative to this host.
type Direction uint8

// Directions.
const (
	In Direction = iota + 1
	Out
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// State is one ESP transport-mode SA.
type State struct {
	Src, Dst netip.Addr
	SPI      uint32
	ReqID    uint32
	Dir      Direction

	Encryption Encryption
	Integrity  Integrity
	// EncKey is the encryption key material (salt included for AES-GCM);
	// IntegKey the integrity key. Both are secret: String never prints them.
	EncKey   []byte
	IntegKey []byte

	// ReplayWindow is the anti-replay window in packets, 0 (none, for
	// outbound SAs) or 32 to 4096 for inbound ones. ESN enables 64-bit
	// sequence numbers (RFC 4303 2.2.1).
	ReplayWindow uint32
	ESN          bool

	Limits Limits
	Encap  *Encap

	// Selector narrows the state to a protocol and ports like its policy.
	Selector Selector
}

// StateID identifies a state in the kernel.
type StateID struct {
	Dst netip.Addr
	SPI uint32
}

// ID returns the state's identifier.
func (s *State) ID() StateID { return StateID{Dst: s.Dst, SPI: s.SPI} }

func (s *State) String() string {
	return fmt.Sprintf("esp spi 0x%08x %v->%v reqid 0x%08x %v", s.SPI, s.Src, s.Dst, s.ReqID, s.Encryption)
}

// Selector selects traffic between two hosts, optionally narrowed to an IP
// protocol and ports (0 = any).
type Selector struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// PolicyAction is what a policy does with matching traffic.
type PolicyAction uint8

// Policy actions.
const (
	Protect PolicyAction = iota // require ESP with the policy's reqid
	Block                       // drop (fail closed while SAs are absent)
	// Pass lets matching traffic through without IPsec (no template, no
	// reqid): a bypass for traffic that must not depend on SAs, at a
	// priority that wins over the IPsec policies.
	Pass
)

// Policy is one XFRM policy for transport-mode ESP between two hosts.
type Policy struct {
	Dir      Direction
	Selector Selector
	Action   PolicyAction
	ReqID    uint32
	Priority uint32
}

func (p *Policy) String() string {
	a := "protect"
	switch p.Action {
	case Block:
		a = "block"
	case Pass:
		a = "pass"
	}
	return fmt.Sprintf("policy %v %v->%v proto %d %s reqid 0x%08x", p.Dir, p.Selector.Src, p.Selector.Dst, p.Selector.Proto, a, p.ReqID)
}

// ChildSA is a CHILD_SA as installed: an inbound and an outbound state and
// the two policies steering traffic between Local and Remote through them.
type ChildSA struct {
	ReqID         uint32
	Local, Remote netip.Addr
	// Proto, LocalPort and RemotePort narrow the policies (0 = any).
	Proto                 uint8
	LocalPort, RemotePort uint16

	In, Out State
	// Priority of the policies; 0 picks DefaultPriority for the selector.
	Priority uint32
	// NoPolicies installs the states only (ipsec.conf installpolicy=no).
	NoPolicies bool
}

// Policies returns the in and out policies of c.
func (c *ChildSA) Policies() [2]Policy {
	out := Selector{Src: c.Local, Dst: c.Remote, Proto: c.Proto, SrcPort: c.LocalPort, DstPort: c.RemotePort}
	in := Selector{Src: c.Remote, Dst: c.Local, Proto: c.Proto, SrcPort: c.RemotePort, DstPort: c.LocalPort}
	prio := c.Priority
	if prio == 0 {
		prio = DefaultPriority(out)
	}
	return [2]Policy{
		{Dir: Out, Selector: out, Action: Protect, ReqID: c.ReqID, Priority: prio},
		{Dir: In, Selector: in, Action: Protect, ReqID: c.ReqID, Priority: prio},
	}
}

// DefaultPriority gives narrower selectors a higher precedence (a lower
// number), as the kernel picks the matching policy with the lowest priority
// value: a protocol/port policy must win over the host-pair one.
func DefaultPriority(s Selector) uint32 {
	p := uint32(10000)
	if s.Proto != 0 {
		p -= 1000
	}
	if s.SrcPort != 0 {
		p -= 100
	}
	if s.DstPort != 0 {
		p -= 100
	}
	return p
}

// Validation errors, matchable with errors.Is.
var (
	ErrInvalid      = errors.New("xfrm: invalid argument")
	ErrNotSupported = errors.New("xfrm: not supported by this kernel")
	ErrNotFound     = errors.New("xfrm: not found")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Validate checks a state before it is sent to the kernel, so that bad
// input is reported with a clear message rather than a bare EINVAL.
func (s *State) Validate() error {
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return invalid("spi 0x%08x: missing address", s.SPI)
	}
	if s.Src.Unmap().Is4() != s.Dst.Unmap().Is4() {
		return invalid("spi 0x%08x: mixed address families %v and %v", s.SPI, s.Src, s.Dst)
	}
	if s.SPI == 0 {
		return invalid("%v->%v: spi 0 is reserved (RFC 4303 2.1)", s.Src, s.Dst)
	}
	if s.SPI < 256 {
		return invalid("%v->%v: spi 0x%08x is in the IANA-reserved range 1-255 (RFC 4303 2.1)", s.Src, s.Dst, s.SPI)
	}
	if s.Dir != In && s.Dir != Out {
		return invalid("spi 0x%08x: direction must be In or Out", s.SPI)
	}
	switch s.Encryption {
	case AESGCM16_128, AESGCM16_256:
		if s.Integrity != IntegNone {
			return invalid("spi 0x%08x: %v is an AEAD and takes no integrity algorithm, got %v", s.SPI, s.Encryption, s.Integrity)
		}
	case AESCBC128, AESCBC256, TripleDESCBC:
		if s.Integrity == IntegNone || s.Integrity.KeyLen() == 0 {
			return invalid("spi 0x%08x: %v needs an integrity algorithm", s.SPI, s.Encryption)
		}
		if len(s.IntegKey) != s.Integrity.KeyLen() {
			return invalid("spi 0x%08x: %v key is %d bytes, want %d", s.SPI, s.Integrity, len(s.IntegKey), s.Integrity.KeyLen())
		}
	default:
		return invalid("spi 0x%08x: unknown encryption algorithm %d", s.SPI, uint8(s.Encryption))
	}
	if len(s.EncKey) != s.Encryption.KeyLen() {
		return invalid("spi 0x%08x: %v key material is %d bytes, want %d", s.SPI, s.Encryption, len(s.EncKey), s.Encryption.KeyLen())
	}
	if s.ReplayWindow != 0 && (s.ReplayWindow < 32 || s.ReplayWindow > 4096) {
		return invalid("spi 0x%08x: replay window %d outside 32..4096", s.SPI, s.ReplayWindow)
	}
	if s.ESN && s.ReplayWindow == 0 && s.Dir == In {
		return invalid("spi 0x%08x: ESN needs a replay window on inbound SAs", s.SPI)
	}
	if !Owned(s.ReqID) {
		return invalid("spi 0x%08x: reqid 0x%08x outside cygnet's range 0x%08x-0x%08x", s.SPI, s.ReqID, ReqIDMin, ReqIDMax)
	}
	if err := s.Selector.validate(); err != nil {
		return fmt.Errorf("spi 0x%08x: %w", s.SPI, err)
	}
	return nil
}

func (s Selector) validate() error {
	if !s.Src.IsValid() && !s.Dst.IsValid() {
		return nil
	}
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return invalid("selector needs both addresses")
	}
	if s.Src.Unmap().Is4() != s.Dst.Unmap().Is4() {
		return invalid("selector mixes address families %v and %v", s.Src, s.Dst)
	}
	if (s.SrcPort != 0 || s.DstPort != 0) && s.Proto != 6 && s.Proto != 17 && s.Proto != 132 {
		return invalid("ports need protocol tcp, udp or sctp, got %d", s.Proto)
	}
	return nil
}

// Validate checks a policy.
func (p *Policy) Validate() error {
	if err := p.Selector.validate(); err != nil {
		return err
	}
	if !p.Selector.Src.IsValid() {
		return invalid("policy without addresses")
	}
	if p.Dir != In && p.Dir != Out {
		return invalid("policy direction must be In or Out")
	}
	if p.Action == Pass {
		if p.ReqID != 0 {
			return invalid("pass policy with reqid 0x%08x", p.ReqID)
		}
		return nil
	}
	if !Owned(p.ReqID) {
		return invalid("policy reqid 0x%08x outside cygnet's range", p.ReqID)
	}
	return nil
}

// Validate checks the whole CHILD_SA: both states and that they belong to
// the same host pair, reqid and selector.
func (c *ChildSA) Validate() error {
	if !c.Local.IsValid() || !c.Remote.IsValid() {
		return invalid("child sa reqid 0x%08x: missing address", c.ReqID)
	}
	if c.Local.Unmap().Is4() != c.Remote.Unmap().Is4() {
		return invalid("child sa reqid 0x%08x: mixed address families %v and %v", c.ReqID, c.Local, c.Remote)
	}
	if c.In.Dir != In || c.Out.Dir != Out {
		return invalid("child sa reqid 0x%08x: In and Out states must have directions In and Out", c.ReqID)
	}
	if c.In.Src != c.Remote || c.In.Dst != c.Local || c.Out.Src != c.Local || c.Out.Dst != c.Remote {
		return invalid("child sa reqid 0x%08x: state addresses do not match %v<->%v", c.ReqID, c.Local, c.Remote)
	}
	if c.In.ReqID != c.ReqID || c.Out.ReqID != c.ReqID {
		return invalid("child sa reqid 0x%08x: states carry another reqid", c.ReqID)
	}
	if err := c.In.Validate(); err != nil {
		return err
	}
	if err := c.Out.Validate(); err != nil {
		return err
	}
	for _, p := range c.Policies() {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Installer is what the IKE engine needs from the kernel. *Handle
// implements it on a real kernel; xfrmtest.Fake records what would be
// installed.
type Installer interface {
	// AllocSPI reserves an inbound SPI for SAs from src to dst (dst is this
	// host).
	AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error)
	// InstallState adds an outbound state or fills in an inbound one whose
	// SPI came from AllocSPI.
	InstallState(ctx context.Context, s *State) error
	// DeleteState removes a state (including a larval one). Deleting a state
	// that is already gone is not an error.
	DeleteState(ctx context.Context, id StateID) error
	// InstallPolicy adds or replaces a policy.
	InstallPolicy(ctx context.Context, p *Policy) error
	// DeletePolicy removes a policy; a missing policy is not an error.
	DeletePolicy(ctx context.Context, p *Policy) error
	// InstallChildSA installs both states and both policies, or nothing.
	InstallChildSA(ctx context.Context, c *ChildSA) error
	// DeleteChildSA removes the states of c and, unless another installed
	// CHILD_SA shares its reqid, its policies.
	DeleteChildSA(ctx context.Context, c *ChildSA) error
	// Reconcile makes cygnet's objects in the kernel exactly the desired
	// CHILD_SAs, touching nothing it does not own.
	Reconcile(ctx context.Context, desired []ChildSA) error
}

// The types below are what a Linux Handle reads back or offers beyond
// Installer. They are declared here, not in the _linux files, so that the
// IKE engine, which type-asserts its Installer for the optional
// interfaces, builds on every GOOS.

// InstalledState is a state as read back from the kernel, with counters.
type InstalledState struct {
	State
	Bytes, Packets uint64
	// AddTime is when the state was installed, UseTime when it first
	// carried a packet and LastUsed when it last did (0 = never), in Unix
	// seconds.
	AddTime, UseTime, LastUsed                        uint64
	ReplayErrors, IntegrityErrors, ReplayWindowErrors uint32
	// Larval is true for a state created by AllocSPI and not filled in.
	Larval bool
}

// InstalledPolicy is a policy as read back from the kernel.
type InstalledPolicy struct {
	Policy
	Index uint32
	// Templates is the number of templates; Foreign policies may have none.
	Templates int
}

// EncapUpdater is implemented by installers that can change the UDP
// encapsulation of an installed state in place, which following a NAT
// mapping change (RFC 3948; the kernel's MAPPING event) needs.
type EncapUpdater interface {
	// UpdateEncap gives the installed state s.ID() the encapsulation
	// s.Encap. s describes the state as installed except for its keys,
	// which the installer keeps; the state is not replaced, so its SPI,
	// sequence numbers, replay window and counters carry on.
	UpdateEncap(ctx context.Context, s *State) error
}

// UsageReader is implemented by installers that can tell how many
// packets an installed state has carried: the engine waits for the peer's
// first packet on a new inbound state before it sends on the new outbound
// one, when nothing else tells it that the peer has the new SA.
type UsageReader interface {
	StatePackets(ctx context.Context, id StateID) (uint64, error)
}
