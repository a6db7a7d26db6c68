package ike

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Config is everything an Engine needs to know about the connections it may
// negotiate and the credentials it may use. The strongSwan configuration
// reader (package config) maps ipsec.conf, ipsec.secrets and strongswan.conf
// onto it; Go programs may build it directly.
type Config struct {
	Connections []Connection
	Credentials Credentials

	// Retransmission of requests (RFC 7296 2.1), named as in strongswan.conf:
	// the n-th retransmission waits Timeout * Base^n; after Tries
	// retransmissions the peer is considered dead. Zero values take
	// strongSwan's defaults (5 tries, 4 s, 1.8).
	RetransmitTries   int
	RetransmitTimeout time.Duration
	RetransmitBase    float64

	// MakeBeforeBreak is strongswan.conf's charon.make_before_break, kept
	// for status and diagnostics: the engine always reauthenticates
	// make-before-break (reauth.go), because strongSwan's break-before-make
	// leaves traffic without policies, in clear, until the new SAs are up.
	MakeBeforeBreak bool

	// UniqueIDs is ipsec.conf's "config setup" uniqueids.
	UniqueIDs UniqueIDPolicy

	// KeepAlive is the NAT-T keepalive interval while behind a NAT (RFC
	// 3948 2.3; strongswan.conf charon.keep_alive). 0 means 20 s, negative
	// disables keepalives.
	KeepAlive time.Duration

	// HalfOpenLimit bounds the responder IKE SAs that have answered
	// IKE_SA_INIT but not yet completed IKE_AUTH (strongswan.conf
	// charon.init_limit_half_open); further IKE_SA_INIT requests are dropped.
	// 0 means cygnet's default of 1000, negative means no limit.
	HalfOpenLimit int
	// CookieThreshold is the number of half-open SAs from which the
	// responder demands a COOKIE (RFC 7296 2.6; charon.cookie_threshold).
	// 0 means strongSwan's default of 10, negative means always.
	CookieThreshold int
	// BlockThreshold is how many half-open SAs one source address may
	// have (strongswan.conf charon.block_threshold); its further
	// IKE_SA_INIT requests are dropped and counted in Counters.Blocked. It
	// is applied after the cookie check and counts only SAs whose request
	// carried a valid cookie, so that requests spoofed from an address
	// cannot block it: a source with this many unverified half-open SAs is
	// asked for a COOKIE instead (RFC 7296 2.6). 0 means strongSwan's
	// default of 5, negative means no per-source limit.
	BlockThreshold int
}

// Mode is the IPsec mode of a CHILD_SA.
type Mode uint8

// Modes. Only transport mode is negotiated by cygnet today; a tunnel-mode
// connection is rejected by the configuration reader rather than silently
// run as transport.
const (
	ModeTransport Mode = iota + 1
	ModeTunnel
	ModePass // strongSwan's type=pass: a bypass policy, no negotiation
	ModeDrop // strongSwan's type=drop: a block policy, no negotiation
)

func (m Mode) String() string {
	switch m {
	case ModeTransport:
		return "transport"
	case ModeTunnel:
		return "tunnel"
	case ModePass:
		return "pass"
	case ModeDrop:
		return "drop"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// AutoAction is what happens to a connection when the configuration is
// loaded (ipsec.conf auto=).
type AutoAction uint8

// Auto actions.
const (
	AutoIgnore AutoAction = iota
	AutoAdd
	AutoRoute
	AutoStart
)

func (a AutoAction) String() string {
	switch a {
	case AutoIgnore:
		return "ignore"
	case AutoAdd:
		return "add"
	case AutoRoute:
		return "route"
	case AutoStart:
		return "start"
	}
	return fmt.Sprintf("auto(%d)", uint8(a))
}

// PeerAction is what happens to a connection's SAs when the peer is found
// dead or closes them (ipsec.conf dpdaction=, closeaction=).
type PeerAction uint8

// Peer actions.
const (
	ActionNone PeerAction = iota
	ActionClear
	ActionHold
	ActionRestart
)

func (a PeerAction) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionClear:
		return "clear"
	case ActionHold:
		return "hold"
	case ActionRestart:
		return "restart"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Fragmentation is the IKE fragmentation policy (RFC 7383; ipsec.conf
// fragmentation=).
type Fragmentation uint8

// Fragmentation policies.
const (
	FragmentationYes    Fragmentation = iota // announce, use when the peer does and a message is too big
	FragmentationAccept                      // announce, never send fragments
	FragmentationNo                          // neither announce nor accept (strongSwan accepts unannounced fragments; RFC 7383 2.5 forbids sending them)
	FragmentationForce                       // IKEv1-only in strongSwan (fragment the first message); with IKEv2 the same as yes
)

func (f Fragmentation) String() string {
	switch f {
	case FragmentationYes:
		return "yes"
	case FragmentationAccept:
		return "accept"
	case FragmentationNo:
		return "no"
	case FragmentationForce:
		return "force"
	}
	return fmt.Sprintf("fragmentation(%d)", uint8(f))
}

// UniqueIDPolicy is ipsec.conf's uniqueids= setting: what to do when a peer
// identity authenticates a second IKE_SA.
type UniqueIDPolicy uint8

// Unique ID policies.
const (
	UniqueIDsYes     UniqueIDPolicy = iota // replace the old IKE_SA (strongSwan: same as replace)
	UniqueIDsNo                            // keep both unless the new one carries INITIAL_CONTACT
	UniqueIDsNever                         // keep both, ignore INITIAL_CONTACT
	UniqueIDsReplace                       // always replace the old IKE_SA
	UniqueIDsKeep                          // reject the new IKE_SA
)

func (u UniqueIDPolicy) String() string {
	switch u {
	case UniqueIDsYes:
		return "yes"
	case UniqueIDsNo:
		return "no"
	case UniqueIDsNever:
		return "never"
	case UniqueIDsReplace:
		return "replace"
	case UniqueIDsKeep:
		return "keep"
	}
	return fmt.Sprintf("uniqueids(%d)", uint8(u))
}

// AuthClass is how one end of a connection authenticates (ipsec.conf
// leftauth= / rightauth=, or authby=).
type AuthClass uint8

// Authentication classes.
const (
	AuthPSK    AuthClass = iota + 1 // pre-shared key (authby=secret|psk)
	AuthPubkey                      // certificate or raw public key, RSA or ECDSA (authby=pubkey|rsasig|ecdsasig)
	AuthNever                       // authby=never: the end never authenticates; no negotiation
)

func (a AuthClass) String() string {
	switch a {
	case AuthPSK:
		return "psk"
	case AuthPubkey:
		return "pubkey"
	case AuthNever:
		return "never"
	}
	return fmt.Sprintf("auth(%d)", uint8(a))
}

// Encr is an encryption transform with its key length in bits (the Key
// Length attribute, RFC 7296 3.3.5).
type Encr struct {
	ID      message.EncrID
	KeyBits int
}

// Proposal is one proposal of a connection: every combination of the listed
// transforms is acceptable (RFC 7296 3.3). Slices keep the configured order,
// which is the preference order.
type Proposal struct {
	Encr  []Encr
	Integ []message.IntegID // empty for AEAD ciphers
	PRF   []message.PRFID   // IKE proposals only
	DH    []message.DHGroup // for ESP: PFS groups; empty means no PFS
	ESN   []message.ESNID   // ESP proposals only; empty means ESNNo
}

// TrafficSelector narrows a CHILD_SA to one protocol and port range on one
// side (ipsec.conf leftprotoport / rightprotoport, RFC 7296 3.13.1). Zero
// values mean any.
type TrafficSelector struct {
	Protocol  uint8
	StartPort uint16
	EndPort   uint16 // 0 with StartPort 0 means all ports
}

// Any reports whether the selector admits every protocol and port.
func (t TrafficSelector) Any() bool {
	return t.Protocol == 0 && t.StartPort == 0 && (t.EndPort == 0 || t.EndPort == 65535)
}

// Endpoint describes one side of a connection.
type Endpoint struct {
	// Host is the address as configured ("10.1.0.1", "moon.example.org",
	// "%any", "%defaultroute"); Addr is its resolved value, the zero Addr when
	// it admits any address.
	Host string
	Addr netip.Addr

	// ID is the IKE identity; the zero ID means "use the address".
	ID Identity
	// AnyID, with a zero ID, lets the peer prove any identity its
	// credentials vouch for instead of its address (swanctl.conf's
	// remote.id default, %any).
	AnyID bool

	Auth AuthClass

	// Cert is this end's certificate (leftcert / rightcert). For the local
	// end the matching private key comes from Credentials.
	Cert *x509.Certificate
	// SigKey is a raw public key (leftsigkey / rightsigkey) used instead of a
	// certificate.
	SigKey crypto.PublicKey
	// CA constrains the issuer of the peer's certificate (rightca); nil means
	// any configured CA.
	CA *x509.Certificate

	// Subnets narrow the traffic selectors; empty means the host address
	// itself, which is what transport mode uses.
	Subnets []netip.Prefix
	// ProtoPort narrows the traffic selectors to a protocol and port.
	ProtoPort TrafficSelector

	// Updown is a script run on SA up/down events with strongSwan's PLUTO_*
	// environment; Firewall asks for strongSwan's default updown behaviour.
	Updown   string
	Firewall bool
}

// Connection is one configured connection (an ipsec.conf "conn").
type Connection struct {
	Name string
	Mode Mode
	Auto AutoAction

	Local, Remote Endpoint

	// IKE and ESP proposals in preference order. Strict proposals (a trailing
	// '!' in ipsec.conf) accept nothing else; non-strict ones have cygnet's
	// defaults appended by the config reader, as strongSwan does.
	IKE       []Proposal
	ESP       []Proposal
	IKEStrict bool
	ESPStrict bool

	IKELifetime time.Duration // ikelifetime: IKE_SA rekey/reauth time
	Lifetime    time.Duration // lifetime: CHILD_SA rekey time
	MarginTime  time.Duration // margintime: rekey starts this long before expiry
	RekeyFuzz   int           // rekeyfuzz in percent of MarginTime

	LifeBytes, LifePackets     uint64 // 0 = no limit
	MarginBytes, MarginPackets uint64

	Rekey  bool
	Reauth bool

	// KeyingTries is how many times to try negotiating; 0 means forever
	// (keyingtries=%forever).
	KeyingTries int

	DPDDelay    time.Duration
	DPDTimeout  time.Duration // IKEv1 only in strongSwan; kept to warn about it
	DPDAction   PeerAction
	CloseAction PeerAction

	ForceEncaps   bool
	Fragmentation Fragmentation
	MOBIKE        bool

	// ReplayWindow is the ESP anti-replay window in packets (replay_window=);
	// the kernel accepts 0 to 4096 with ESN state.
	ReplayWindow uint32
	ReqID        uint32
	Mark         uint32
	MarkMask     uint32
	// NoPolicy is ipsec.conf installpolicy=no: the CHILD_SA's states are
	// installed without their policies, which the caller then owns (left
	// to itself, the kernel sends the traffic in clear). The zero value
	// installs them.
	NoPolicy bool
}

// Identity is an IKE identity (RFC 7296 3.5): a type and its raw data as it
// goes on the wire.
type Identity struct {
	Type message.IDType
	Data []byte
}

// IsZero reports whether id is unset (matches any identity when used as a
// remote ID).
func (id Identity) IsZero() bool { return id.Type == 0 && len(id.Data) == 0 }

// Equal reports whether id and o are the same identity.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && string(id.Data) == string(o.Data)
}

// String prints the identity the way strongSwan writes it in status output.
func (id Identity) String() string {
	switch id.Type {
	case 0:
		return "%any"
	case message.IDIPv4, message.IDIPv6:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case message.IDFQDN, message.IDRFC822:
		return string(id.Data)
	case message.IDKeyID:
		return fmt.Sprintf("@#%x", id.Data)
	case message.IDDERASN1DN:
		if s, err := dnString(id.Data); err == nil {
			return s
		}
	}
	return fmt.Sprintf("%v:%x", id.Type, id.Data)
}

// IdentityFromAddr returns the ID_IPV4_ADDR or ID_IPV6_ADDR identity of a.
func IdentityFromAddr(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return Identity{Type: message.IDIPv4, Data: b[:]}
	}
	b := a.As16()
	return Identity{Type: message.IDIPv6, Data: b[:]}
}

// SharedKey is one pre-shared key with the identities it is for (an
// ipsec.secrets PSK line). No identities means any pair.
type SharedKey struct {
	IDs    []Identity
	Secret []byte
	// Source names where the key came from (file:line) for messages; it never
	// contains the secret.
	Source string
}

// Credentials are the secrets and trust anchors an Engine uses.
type Credentials struct {
	SharedKeys  []SharedKey
	PrivateKeys []crypto.Signer
	// Certs are end-entity certificates known locally (ipsec.d/certs); the
	// engine sends the one matching its private key and ID.
	Certs   []*x509.Certificate
	CACerts []*x509.Certificate
	CRLs    []*x509.RevocationList
}

// Clone returns a deep copy of c: no slice or byte of it is shared with c,
// so that the caller may change c while an Engine reads the copy. Parsed
// certificates, CRLs and keys are shared: they are immutable once parsed.
func (c *Config) Clone() *Config {
	n := *c
	n.Connections = cloneSlice(c.Connections, (*Connection).clone)
	n.Credentials = c.Credentials.clone()
	return &n
}

func (c *Connection) clone() Connection {
	n := *c
	n.Local, n.Remote = c.Local.clone(), c.Remote.clone()
	n.IKE = cloneSlice(c.IKE, (*Proposal).clone)
	n.ESP = cloneSlice(c.ESP, (*Proposal).clone)
	return n
}

func (e *Endpoint) clone() Endpoint {
	n := *e
	n.ID = e.ID.clone()
	n.Subnets = slices.Clone(e.Subnets)
	return n
}

func (p *Proposal) clone() Proposal {
	return Proposal{Encr: slices.Clone(p.Encr), Integ: slices.Clone(p.Integ), PRF: slices.Clone(p.PRF),
		DH: slices.Clone(p.DH), ESN: slices.Clone(p.ESN)}
}

func (id *Identity) clone() Identity { return Identity{Type: id.Type, Data: bytes.Clone(id.Data)} }

func (k *SharedKey) clone() SharedKey {
	return SharedKey{IDs: cloneSlice(k.IDs, (*Identity).clone), Secret: bytes.Clone(k.Secret), Source: k.Source}
}

func (c *Credentials) clone() Credentials {
	return Credentials{SharedKeys: cloneSlice(c.SharedKeys, (*SharedKey).clone),
		PrivateKeys: slices.Clone(c.PrivateKeys), Certs: slices.Clone(c.Certs),
		CACerts: slices.Clone(c.CACerts), CRLs: slices.Clone(c.CRLs)}
}

// cloneSlice copies s element by element with clone; nil stays nil.
func cloneSlice[T any](s []T, clone func(*T) T) []T {
	if s == nil {
		return nil
	}
	n := make([]T, len(s))
	for i := range s {
		n[i] = clone(&s[i])
	}
	return n
}
