package suite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Info describes one transform cygnet implements: the data table row.
type Info struct {
	Transform message.Transform
	// Name is strongSwan's name for the transform, as printed in
	// "ipsec statusall" and charon's logs (e.g. "AES_GCM_16_256").
	Name string
	// IKE and ESP tell the protocols the transform may be negotiated for.
	IKE, ESP bool
	// Insecure marks transforms kept only to interoperate with old peers;
	// they never appear in cygnet's defaults and must be configured
	// explicitly.
	Insecure bool
}

// Transform constructors, so proposal tables read like strongSwan's
// proposal strings.

// EncrTransform returns an ENCR transform with the given Key Length attribute.
func EncrTransform(id message.EncrID, keyBits int) message.Transform {
	return message.Transform{Type: message.TransformENCR, ID: uint16(id), KeyBits: keyBits}
}

// IntegTransform returns an INTEG transform.
func IntegTransform(id message.IntegID) message.Transform {
	return message.Transform{Type: message.TransformINTEG, ID: uint16(id)}
}

// PRFTransform returns a PRF transform.
func PRFTransform(id message.PRFID) message.Transform {
	return message.Transform{Type: message.TransformPRF, ID: uint16(id)}
}

// KETransform returns a key exchange (D-H) transform.
func KETransform(g message.DHGroup) message.Transform {
	return message.Transform{Type: message.TransformKE, ID: uint16(g)}
}

// ESNTransform returns an extended sequence numbers transform.
func ESNTransform(e message.ESNID) message.Transform {
	return message.Transform{Type: message.TransformESN, ID: uint16(e)}
}

// table is every transform cygnet implements. It says nothing about order:
// see preference. AES-GCM is listed only with the 16-octet ICV: the 8 and 12
// octet variants weaken the integrity bound for no gain (RFC 8247 2.1 makes
// them MAY at best for IKE). AES-CBC takes an INTEG transform; AES-GCM must
// not (RFC 5282 8).
var table = []Info{
	{Transform: EncrTransform(message.EncrAESGCM16, 128), Name: "AES_GCM_16_128", IKE: true, ESP: true},
	{Transform: EncrTransform(message.EncrAESGCM16, 192), Name: "AES_GCM_16_192", IKE: true, ESP: true},
	{Transform: EncrTransform(message.EncrAESGCM16, 256), Name: "AES_GCM_16_256", IKE: true, ESP: true},
	{Transform: EncrTransform(message.EncrAESCBC, 128), Name: "AES_CBC_128", IKE: true, ESP: true},
	{Transform: EncrTransform(message.EncrAESCBC, 192), Name: "AES_CBC_192", IKE: true, ESP: true},
	{Transform: EncrTransform(message.EncrAESCBC, 256), Name: "AES_CBC_256", IKE: true, ESP: true},
	// RFC 8221 5 and RFC 8247 2.1 demote 3DES (64-bit blocks: a birthday
	// collision after about 2^32 blocks, "Sweet32") to SHOULD NOT / MAY;
	// kept for peers that still use strongSwan's 3des.
	{Transform: EncrTransform(message.Encr3DES, 0), Name: "3DES_CBC", IKE: true, ESP: true, Insecure: true},

	// RFC 4868: HMAC-SHA-256/384/512 truncated to half the output.
	{Transform: IntegTransform(message.IntegHMACSHA2256128), Name: "HMAC_SHA2_256_128", IKE: true, ESP: true},
	{Transform: IntegTransform(message.IntegHMACSHA2384192), Name: "HMAC_SHA2_384_192", IKE: true, ESP: true},
	{Transform: IntegTransform(message.IntegHMACSHA2512256), Name: "HMAC_SHA2_512_256", IKE: true, ESP: true},
	// RFC 2404; RFC 8221 and RFC 8247 keep it at MUST- for legacy peers.
	{Transform: IntegTransform(message.IntegHMACSHA196), Name: "HMAC_SHA1_96", IKE: true, ESP: true, Insecure: true},

	{Transform: PRFTransform(message.PRFHMACSHA2256), Name: "PRF_HMAC_SHA2_256", IKE: true},
	{Transform: PRFTransform(message.PRFHMACSHA2384), Name: "PRF_HMAC_SHA2_384", IKE: true},
	{Transform: PRFTransform(message.PRFHMACSHA2512), Name: "PRF_HMAC_SHA2_512", IKE: true},
	// RFC 8247 3.3: PRF_HMAC_SHA1 is MUST- for interoperability only.
	{Transform: PRFTransform(message.PRFHMACSHA1), Name: "PRF_HMAC_SHA1", IKE: true, Insecure: true},

	// Key exchange methods; for ESP they are the PFS groups of
	// CREATE_CHILD_SA (RFC 7296 1.3.1).
	{Transform: KETransform(message.DHMODP2048), Name: "MODP_2048", IKE: true, ESP: true},
	{Transform: KETransform(message.DHMODP3072), Name: "MODP_3072", IKE: true, ESP: true},
	{Transform: KETransform(message.DHMODP4096), Name: "MODP_4096", IKE: true, ESP: true},
	{Transform: KETransform(message.DHECP256), Name: "ECP_256", IKE: true, ESP: true},
	{Transform: KETransform(message.DHECP384), Name: "ECP_384", IKE: true, ESP: true},
	{Transform: KETransform(message.DHECP521), Name: "ECP_521", IKE: true, ESP: true},
	{Transform: KETransform(message.DHCurve25519), Name: "CURVE_25519", IKE: true, ESP: true},
	// Weak or doubtful groups strongSwan 5.9 still accepts (RFC 8247 2.4:
	// 1024-bit MODP SHOULD NOT, 1536-bit not listed any more, RFC 5114's
	// groups SHOULD NOT). Their peer values are validated as strictly as
	// the others' (RFC 6989), they are never in defaults.
	{Transform: KETransform(message.DHMODP1024), Name: "MODP_1024", IKE: true, ESP: true, Insecure: true},
	{Transform: KETransform(message.DHMODP1536), Name: "MODP_1536", IKE: true, ESP: true, Insecure: true},
	{Transform: KETransform(message.DHMODP2048S256), Name: "MODP_2048_256", IKE: true, ESP: true, Insecure: true},
	// Not implemented: the Brainpool curves (groups 27-30, RFC 6954). Go's
	// standard library has no Brainpool arithmetic, and a pure-Go
	// implementation that is constant time (as crypto/internal/nistec is for
	// the NIST curves) is a field and point arithmetic of its own to write,
	// review and keep; no maintained Go library provides one. Brainpool
	// peers are rare, strongSwan offers them only when configured, and a
	// conn that names them is refused at its line with this reason (config).

	{Transform: ESNTransform(message.ESNNo), Name: "NO_EXT_SEQ", ESP: true},
	{Transform: ESNTransform(message.ESNYes), Name: "EXT_SEQ", ESP: true},
}

// preference is cygnet's own order, best first, used by Preferred. Reasons:
//   - AEAD before ENCR+INTEG: one primitive, one key, no MAC-then-decrypt
//     ordering to get wrong, and AES-GCM is hardware accelerated and
//     mandatory for ESP (RFC 8221 5).
//   - 256-bit keys before 128 before 192: the cost difference is small
//     with AES-NI; 192 is last because almost nobody asks for it.
//   - PRF_HMAC_SHA2_384 before 256 and 512: it matches the ECP_384 / AES-256
//     security level and is what the design's reference deployment uses;
//     SHA-1 is last and insecure.
//   - Curve25519 and ECP_384 before ECP_256, ECP_521 then the MODP groups:
//     elliptic curves are far cheaper at equal strength and their peer
//     checks are exact; MODP_2048 (112-bit strength) is the last strong
//     one, the insecure MODP_2048_256, MODP_1536 and MODP_1024 follow.
//   - 3DES and HMAC-SHA1-96 after every AES and SHA-2 transform.
//   - NO_EXT_SEQ before EXT_SEQ matches strongSwan's default.
var preference = []message.Transform{
	EncrTransform(message.EncrAESGCM16, 256),
	EncrTransform(message.EncrAESGCM16, 128),
	EncrTransform(message.EncrAESGCM16, 192),
	EncrTransform(message.EncrAESCBC, 256),
	EncrTransform(message.EncrAESCBC, 128),
	EncrTransform(message.EncrAESCBC, 192),
	EncrTransform(message.Encr3DES, 0),
	IntegTransform(message.IntegHMACSHA2256128),
	IntegTransform(message.IntegHMACSHA2384192),
	IntegTransform(message.IntegHMACSHA2512256),
	IntegTransform(message.IntegHMACSHA196),
	PRFTransform(message.PRFHMACSHA2384),
	PRFTransform(message.PRFHMACSHA2256),
	PRFTransform(message.PRFHMACSHA2512),
	PRFTransform(message.PRFHMACSHA1),
	KETransform(message.DHCurve25519),
	KETransform(message.DHECP384),
	KETransform(message.DHECP256),
	KETransform(message.DHECP521),
	KETransform(message.DHMODP3072),
	KETransform(message.DHMODP4096),
	KETransform(message.DHMODP2048),
	KETransform(message.DHMODP2048S256),
	KETransform(message.DHMODP1536),
	KETransform(message.DHMODP1024),
	ESNTransform(message.ESNNo),
	ESNTransform(message.ESNYes),
}

// Lookup returns the table row of t; ok is false when cygnet does not
// implement t.
func Lookup(t message.Transform) (info Info, ok bool) {
	for _, in := range table {
		if in.Transform == t {
			return in, true
		}
	}
	return Info{}, false
}

// Supported reports whether cygnet implements t for protocol proto.
func Supported(proto message.ProtocolID, t message.Transform) bool {
	in, ok := Lookup(t)
	if !ok {
		return false
	}
	switch proto {
	case message.ProtoIKE:
		return in.IKE
	case message.ProtoESP:
		return in.ESP
	}
	return false
}

// Table returns a copy of the data table of supported transforms.
func Table() []Info {
	return append([]Info(nil), table...)
}

// Preferred returns the transforms of type typ cygnet implements for proto,
// best first (see the preference order's comment). Insecure transforms are
// left out unless insecure is true.
func Preferred(proto message.ProtocolID, typ message.TransformType, insecure bool) []message.Transform {
	var out []message.Transform
	for _, t := range preference {
		if t.Type != typ || !Supported(proto, t) {
			continue
		}
		if in, _ := Lookup(t); in.Insecure && !insecure {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Name returns strongSwan's name for t, also for transforms cygnet does not
// implement, so logs about a peer's offer stay readable.
func Name(t message.Transform) string {
	if in, ok := Lookup(t); ok {
		return in.Name
	}
	var name string
	switch t.Type {
	case message.TransformENCR:
		name = strings.TrimPrefix(message.EncrID(t.ID).String(), "ENCR_")
	case message.TransformINTEG:
		name = strings.TrimPrefix(message.IntegID(t.ID).String(), "AUTH_")
	case message.TransformPRF:
		name = message.PRFID(t.ID).String()
	case message.TransformKE:
		name = message.DHGroup(t.ID).String()
	case message.TransformESN:
		name = message.ESNID(t.ID).String()
	default:
		// strongSwan prints UNKNOWN_<type>_<id> for what it cannot name.
		name = "UNKNOWN_" + strconv.Itoa(int(t.Type)) + "_" + strconv.Itoa(int(t.ID))
	}
	if t.KeyBits != 0 {
		name += "_" + strconv.Itoa(t.KeyBits)
	}
	return name
}

// formatOrder is the order strongSwan prints transform types in.
var formatOrder = []message.TransformType{
	message.TransformENCR,
	message.TransformINTEG,
	message.TransformPRF,
	message.TransformKE,
	message.TransformESN,
}

// Format prints a proposal as strongSwan does, transform types in the order
// ENCR/INTEG/PRF/KE/ESN and each type's transforms in proposal order, e.g.
// "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384" or
// "AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ". This is the text after
// "IKE proposal:" in "ipsec statusall". INTEG NONE is not printed.
// Transforms of unknown types are printed last.
func Format(p message.Proposal) string {
	var b strings.Builder
	add := func(t message.Transform) {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(Name(t))
	}
	for _, typ := range formatOrder {
		for _, t := range p.Transforms {
			if t.Type != typ || (typ == message.TransformINTEG && t.ID == uint16(message.IntegNone)) {
				continue
			}
			add(t)
		}
	}
	for _, t := range p.Transforms {
		if t.Type < message.TransformENCR || t.Type > message.TransformESN {
			add(t)
		}
	}
	return b.String()
}

// FormatList prints proposals with Format, separated by ", ".
func FormatList(ps []message.Proposal) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = Format(p)
	}
	return strings.Join(s, ", ")
}

// FormatStatus prints a chosen proposal the way "ipsec statusall" shows it:
// for IKE as Format; for a CHILD_SA the cipher, then "/" integrity and
// "/" PFS group when present, and "/ESN" when extended sequence numbers are
// in use, e.g. "AES_GCM_16_256" or "AES_CBC_128/HMAC_SHA2_256_128/ECP_256".
func FormatStatus(p message.Proposal) string {
	if p.Protocol == message.ProtoIKE {
		return Format(p)
	}
	var parts []string
	for _, typ := range formatOrder {
		for _, t := range p.Transforms {
			if t.Type != typ {
				continue
			}
			switch {
			case typ == message.TransformINTEG && t.ID == uint16(message.IntegNone),
				typ == message.TransformKE && t.ID == uint16(message.DHNone),
				typ == message.TransformESN && t.ID == uint16(message.ESNNo):
				continue
			case typ == message.TransformESN:
				parts = append(parts, "ESN")
			default:
				parts = append(parts, Name(t))
			}
		}
	}
	return strings.Join(parts, "/")
}

// NewProposal builds a wire proposal from transforms, keeping their order
// (which is the preference order the peer will honour when it is the
// responder). number is the Proposal Num (RFC 7296 3.3.1: the first is 1).
// spi is copied.
func NewProposal(number uint8, proto message.ProtocolID, spi []byte, ts ...message.Transform) message.Proposal {
	p := message.Proposal{Number: number, Protocol: proto, Transforms: append([]message.Transform(nil), ts...)}
	if len(spi) > 0 {
		p.SPI = append([]byte(nil), spi...)
	}
	return p
}

// Numbered returns copies of ps numbered 1, 2, ... with the given protocol
// and SPI, ready to be put in an SA payload (RFC 7296 3.3.1). The Proposal
// Num field is one octet, so more than 255 proposals are an error.
func Numbered(proto message.ProtocolID, spi []byte, ps []message.Proposal) ([]message.Proposal, error) {
	if len(ps) > 255 {
		return nil, fmt.Errorf("suite: %d proposals, an SA payload holds at most 255", len(ps))
	}
	out := make([]message.Proposal, len(ps))
	for i, p := range ps {
		out[i] = NewProposal(uint8(i+1), proto, spi, p.Transforms...)
	}
	return out, nil
}
