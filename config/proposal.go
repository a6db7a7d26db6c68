package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ProposalKind tells IKE proposals (ike=) from ESP proposals (esp=).
type ProposalKind uint8

// Proposal kinds.
const (
	ProposalIKE ProposalKind = iota + 1
	ProposalESP
)

func (k ProposalKind) String() string {
	if k == ProposalIKE {
		return "ike"
	}
	return "esp"
}

// algToken is one algorithm keyword of strongSwan's proposal syntax
// (RFC 7296 3.3.2 transform types).
type algToken struct {
	typ     message.TransformType
	id      uint16
	keyBits int
}

// algTokens maps the proposal keywords cygnet can represent to transforms.
// The names are strongSwan's; "aes128gcm16" and "aes128gcm128" both name
// the 16-octet ICV (RFC 4106 8, RFC 5282 7).
var algTokens = map[string]algToken{}

func init() {
	encr := func(id message.EncrID, bits int, names ...string) {
		for _, n := range names {
			algTokens[n] = algToken{message.TransformENCR, uint16(id), bits}
		}
	}
	for _, bits := range []int{128, 192, 256} {
		b := fmt.Sprint(bits)
		encr(message.EncrAESCBC, bits, "aes"+b)
		encr(message.EncrAESCTR, bits, "aes"+b+"ctr")
		encr(message.EncrAESGCM8, bits, "aes"+b+"gcm8", "aes"+b+"gcm64")
		encr(message.EncrAESGCM12, bits, "aes"+b+"gcm12", "aes"+b+"gcm96")
		encr(message.EncrAESGCM16, bits, "aes"+b+"gcm16", "aes"+b+"gcm128", "aes"+b+"gcm")
	}
	encr(message.EncrAESCBC, 128, "aes")
	// RFC 7634 2: ChaCha20-Poly1305 has a fixed 256-bit key and no Key
	// Length attribute.
	encr(message.EncrChaCha20Poly1305, 0, "chacha20poly1305")

	integ := func(id message.IntegID, names ...string) {
		for _, n := range names {
			algTokens[n] = algToken{message.TransformINTEG, uint16(id), 0}
		}
	}
	integ(message.IntegHMACSHA196, "sha", "sha1")
	integ(message.IntegHMACSHA2256128, "sha256", "sha2_256")
	integ(message.IntegHMACSHA2384192, "sha384", "sha2_384")
	integ(message.IntegHMACSHA2512256, "sha512", "sha2_512")
	integ(message.IntegAESXCBC96, "aesxcbc")

	prf := func(id message.PRFID, names ...string) {
		for _, n := range names {
			algTokens[n] = algToken{message.TransformPRF, uint16(id), 0}
		}
	}
	prf(message.PRFHMACSHA1, "prfsha1")
	prf(message.PRFHMACSHA2256, "prfsha256")
	prf(message.PRFHMACSHA2384, "prfsha384")
	prf(message.PRFHMACSHA2512, "prfsha512")
	prf(message.PRFAES128XCBC, "prfaesxcbc")

	dh := func(id message.DHGroup, names ...string) {
		for _, n := range names {
			algTokens[n] = algToken{message.TransformKE, uint16(id), 0}
		}
	}
	dh(message.DHNone, "none", "modpnone")
	dh(message.DHMODP2048, "modp2048")
	dh(message.DHMODP3072, "modp3072")
	dh(message.DHMODP4096, "modp4096")
	dh(message.DHECP256, "ecp256")
	dh(message.DHECP384, "ecp384")
	dh(message.DHECP521, "ecp521")
	dh(message.DHCurve25519, "curve25519", "x25519")
	dh(message.DHCurve448, "curve448", "x448")
	dh(message.DHMLKEM512, "mlkem512")
	dh(message.DHMLKEM768, "mlkem768")
	dh(message.DHMLKEM1024, "mlkem1024")

	algTokens["noesn"] = algToken{message.TransformESN, uint16(message.ESNNo), 0}
	algTokens["esn"] = algToken{message.TransformESN, uint16(message.ESNYes), 0}
}

// knownUnsupported are strongSwan proposal keywords that name algorithms
// cygnet does not implement (mostly ones RFC 8221 and RFC 8247 deprecate).
// They are told apart from typing errors in messages.
var knownUnsupported = []string{
	"null", "des", "3des", "blowfish", "blowfish128", "blowfish192", "blowfish256",
	"cast128", "serpent", "serpent128", "serpent192", "serpent256", "twofish",
	"twofish128", "twofish192", "twofish256", "camellia", "camellia128",
	"camellia192", "camellia256", "chacha20poly1305compat",
	"sha1_160", "sha256_96", "sha2_256_96", "md5", "md5_128", "camelliaxcbc",
	"aescmac", "prfmd5", "prfcamelliaxcbc", "prfaescmac", "modpnull", "modp768",
	"modp1024", "modp1536", "modp6144", "modp8192", "ecp192", "ecp224",
	"modp1024s160", "modp2048s224", "modp2048s256", "ecp224bp", "ecp256bp",
	"ecp384bp", "ecp512bp", "ntru112", "ntru128", "ntru192", "ntru256",
	"newhope128",
}

func isKnownUnsupported(tok string) bool {
	if slices.Contains(knownUnsupported, tok) {
		return true
	}
	for _, p := range []string{"aes128ccm", "aes192ccm", "aes256ccm", "aes128gmac", "aes192gmac", "aes256gmac", "camellia128", "camellia192", "camellia256"} {
		if strings.HasPrefix(tok, p) {
			return true
		}
	}
	return false
}

// integPRF maps an integrity algorithm to the PRF built from the same hash,
// which strongSwan uses for an IKE proposal that names no PRF.
var integPRF = map[message.IntegID]message.PRFID{
	message.IntegHMACSHA196:     message.PRFHMACSHA1,
	message.IntegHMACSHA2256128: message.PRFHMACSHA2256,
	message.IntegHMACSHA2384192: message.PRFHMACSHA2384,
	message.IntegHMACSHA2512256: message.PRFHMACSHA2512,
	message.IntegAESXCBC96:      message.PRFAES128XCBC,
}

// ParseProposals parses an ike= or esp= value: proposals separated by
// commas, algorithms within a proposal by '-', and an optional trailing '!'
// that makes the list strict (nothing else is accepted). The result keeps
// the written order, which is the preference order.
func ParseProposals(s string, kind ProposalKind) (props []ike.Proposal, strict bool, err error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "!") {
		strict = true
		s = strings.TrimSpace(strings.TrimSuffix(s, "!"))
	}
	if s == "" {
		return nil, strict, fmt.Errorf("config: empty proposal list")
	}
	for _, ps := range strings.Split(s, ",") {
		ps = strings.TrimSpace(ps)
		if ps == "" {
			return nil, strict, fmt.Errorf("config: empty proposal in %q", s)
		}
		p, err := parseProposal(ps, kind)
		if err != nil {
			return nil, strict, err
		}
		props = append(props, p...)
	}
	return props, strict, nil
}

// parseProposal parses one '-'-separated proposal. A proposal that mixes
// AEAD and classic ciphers is rejected as strongSwan 5.9 rejects it.
func parseProposal(s string, kind ProposalKind) ([]ike.Proposal, error) {
	var p ike.Proposal
	for _, tok := range strings.Split(s, "-") {
		lower := strings.ToLower(tok)
		a, ok := algTokens[lower]
		switch {
		case tok == "":
			return nil, fmt.Errorf("config: empty algorithm in proposal %q", s)
		case !ok && isKnownUnsupported(lower):
			return nil, fmt.Errorf("config: algorithm %q in proposal %q is not supported by cygnet", tok, s)
		case !ok:
			return nil, fmt.Errorf("config: unknown algorithm %q in proposal %q", tok, s)
		}
		switch a.typ {
		case message.TransformENCR:
			e := ike.Encr{ID: message.EncrID(a.id), KeyBits: a.keyBits}
			if !slices.Contains(p.Encr, e) {
				p.Encr = append(p.Encr, e)
			}
		case message.TransformINTEG:
			if id := message.IntegID(a.id); !slices.Contains(p.Integ, id) {
				p.Integ = append(p.Integ, id)
			}
		case message.TransformPRF:
			if kind == ProposalESP {
				// strongSwan drops PRFs from ESP proposals; naming one is
				// most likely a copy of an ike= value.
				return nil, fmt.Errorf("config: PRF %q in ESP proposal %q", tok, s)
			}
			if id := message.PRFID(a.id); !slices.Contains(p.PRF, id) {
				p.PRF = append(p.PRF, id)
			}
		case message.TransformKE:
			id := message.DHGroup(a.id)
			if id == message.DHNone && kind == ProposalIKE {
				continue // strongSwan removes "none" from IKE proposals
			}
			if !slices.Contains(p.DH, id) {
				p.DH = append(p.DH, id)
			}
		case message.TransformESN:
			if kind == ProposalIKE {
				return nil, fmt.Errorf("config: %q in IKE proposal %q: ESN applies to ESP only", tok, s)
			}
			if id := message.ESNID(a.id); !slices.Contains(p.ESN, id) {
				p.ESN = append(p.ESN, id)
			}
		}
	}
	if len(p.Encr) == 0 {
		return nil, fmt.Errorf("config: no encryption algorithm in %s proposal %q", kind, s)
	}
	aead, classic := 0, 0
	for _, e := range p.Encr {
		if e.ID.IsAEAD() {
			aead++
		} else {
			classic++
		}
	}
	switch {
	case aead > 0 && classic > 0:
		return nil, fmt.Errorf("config: proposal %q mixes AEAD and classic ciphers; write them as separate proposals", s)
	case aead > 0:
		// RFC 5282 8: no integrity transform with a combined-mode cipher.
		// strongSwan drops one silently; say so instead.
		if len(p.Integ) > 0 {
			return nil, fmt.Errorf("config: integrity algorithm with AEAD cipher in proposal %q", s)
		}
	case len(p.Integ) == 0:
		return nil, fmt.Errorf("config: no integrity algorithm for the classic cipher in proposal %q", s)
	}
	if kind == ProposalIKE {
		if len(p.PRF) == 0 {
			for _, i := range p.Integ {
				if prf, ok := integPRF[i]; ok && !slices.Contains(p.PRF, prf) {
					p.PRF = append(p.PRF, prf)
				}
			}
		}
		if len(p.PRF) == 0 {
			return nil, fmt.Errorf("config: no PRF in IKE proposal %q", s)
		}
		if len(p.DH) == 0 {
			return nil, fmt.Errorf("config: no key exchange method in IKE proposal %q", s)
		}
	}
	return []ike.Proposal{p}, nil
}

// FormatProposal writes p in strongSwan's proposal syntax, one token per
// transform, so that ParseProposals gives p back.
func FormatProposal(p ike.Proposal) string {
	var toks []string
	for _, e := range p.Encr {
		toks = append(toks, tokenFor(message.TransformENCR, uint16(e.ID), e.KeyBits))
	}
	for _, i := range p.Integ {
		toks = append(toks, tokenFor(message.TransformINTEG, uint16(i), 0))
	}
	for _, f := range p.PRF {
		toks = append(toks, tokenFor(message.TransformPRF, uint16(f), 0))
	}
	for _, g := range p.DH {
		toks = append(toks, tokenFor(message.TransformKE, uint16(g), 0))
	}
	for _, e := range p.ESN {
		toks = append(toks, tokenFor(message.TransformESN, uint16(e), 0))
	}
	return strings.Join(toks, "-")
}

// canonicalTokens is the token written for each transform, the first of
// strongSwan's names in its documentation.
var canonicalTokens = []string{
	"aes128", "aes192", "aes256", "aes128ctr", "aes192ctr", "aes256ctr",
	"aes128gcm8", "aes192gcm8", "aes256gcm8", "aes128gcm12", "aes192gcm12", "aes256gcm12",
	"aes128gcm16", "aes192gcm16", "aes256gcm16", "chacha20poly1305",
	"sha1", "sha256", "sha384", "sha512", "aesxcbc",
	"prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfaesxcbc",
	"none", "modp2048", "modp3072", "modp4096", "ecp256", "ecp384", "ecp521",
	"curve25519", "curve448", "mlkem512", "mlkem768", "mlkem1024",
	"noesn", "esn",
}

func tokenFor(t message.TransformType, id uint16, bits int) string {
	for _, n := range canonicalTokens {
		if a := algTokens[n]; a.typ == t && a.id == id && a.keyBits == bits {
			return n
		}
	}
	return fmt.Sprintf("%v_%d_%d", t, id, bits) // not parseable: only for transforms cygnet cannot name
}

// DefaultIKEProposals are appended to non-strict ike= lists and used when
// ike= is not set: AEAD only, strongest first (RFC 8247 3.2, 3.3). The
// preference order is AES-256-GCM before AES-128-GCM; ECP-384 and X25519
// before ECP-256, matching the suites in the strongSwan examples users copy.
func DefaultIKEProposals() []ike.Proposal {
	return []ike.Proposal{{
		Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}, {ID: message.EncrAESGCM16, KeyBits: 128}},
		PRF:  []message.PRFID{message.PRFHMACSHA2384, message.PRFHMACSHA2256, message.PRFHMACSHA2512},
		DH:   []message.DHGroup{message.DHECP384, message.DHCurve25519, message.DHECP256, message.DHMODP3072, message.DHMODP2048},
	}}
}

// DefaultESPProposals are appended to non-strict esp= lists and used when
// esp= is not set: AES-GCM with a 16-octet ICV (RFC 8221 5), no PFS and no
// ESN, as strongSwan's own default ESP proposal.
func DefaultESPProposals() []ike.Proposal {
	return []ike.Proposal{{
		Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}, {ID: message.EncrAESGCM16, KeyBits: 128}},
		ESN:  []message.ESNID{message.ESNNo},
	}}
}
