package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
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
	// RFC 2451: 3DES has a fixed key and no Key Length attribute.
	encr(message.Encr3DES, 0, "3des")
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
	dh(message.DHMODP1024, "modp1024")
	dh(message.DHMODP1536, "modp1536")
	dh(message.DHMODP2048S256, "modp2048s256")
	dh(message.DHMODP2048, "modp2048")
	dh(message.DHMODP3072, "modp3072")
	dh(message.DHMODP4096, "modp4096")
	dh(message.DHECP256, "ecp256")
	dh(message.DHECP384, "ecp384")
	dh(message.DHECP521, "ecp521")
	dh(message.DHCurve25519, "curve25519", "x25519")
	// Named so that a proposal offering them next to an implemented group
	// loads without them (with a warning) and one that has nothing else is
	// refused with the reason in unimplementedWhy.
	dh(message.DHECP224BP, "ecp224bp")
	dh(message.DHECP256BP, "ecp256bp")
	dh(message.DHECP384BP, "ecp384bp")
	dh(message.DHECP512BP, "ecp512bp")
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
	"null", "des", "blowfish", "blowfish128", "blowfish192", "blowfish256",
	"cast128", "serpent", "serpent128", "serpent192", "serpent256", "twofish",
	"twofish128", "twofish192", "twofish256", "camellia", "camellia128",
	"camellia192", "camellia256", "chacha20poly1305compat",
	"sha1_160", "sha256_96", "sha2_256_96", "md5", "md5_128", "camelliaxcbc",
	"aescmac", "prfmd5", "prfcamelliaxcbc", "prfaescmac", "modpnull", "modp768",
	"modp6144", "modp8192", "ecp192", "ecp224",
	"modp1024s160", "modp2048s224", "ntru112", "ntru128", "ntru192", "ntru256",
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

// unimplementedWhy says why cygnet does not implement a transform that
// strongSwan accepts, where the reason is not just that it is obsolete.
var unimplementedWhy = map[message.Transform]string{}

func init() {
	const bp = "Go's standard library has no Brainpool curves (RFC 6954) and cygnet does not carry elliptic-curve arithmetic of its own, which would have to be constant time; use ecp256, ecp384 or curve25519"
	for _, g := range []message.DHGroup{message.DHECP224BP, message.DHECP256BP, message.DHECP384BP, message.DHECP512BP} {
		unimplementedWhy[suite.KETransform(g)] = bp
	}
}

// weakWhy says why each weak transform cygnet implements only for
// strongSwan compatibility (ike/suite's Insecure ones) is weak. A proposal
// naming one loads with a warning, as strongSwan loads it; cygnet never
// proposes them on its own.
var weakWhy = map[message.Transform]string{
	suite.EncrTransform(message.Encr3DES, 0):      "64-bit blocks collide after about 32 GiB under one key (Sweet32); RFC 8221 and RFC 8247 demote 3DES to SHOULD NOT / MAY",
	suite.IntegTransform(message.IntegHMACSHA196): "SHA-1 based, kept by RFC 8221 and RFC 8247 for legacy peers only",
	suite.PRFTransform(message.PRFHMACSHA1):       "SHA-1 based, kept by RFC 8247 for legacy peers only",
	suite.KETransform(message.DHMODP1024):         "a 1024-bit group is within reach of precomputation attacks (RFC 8247 2.4: SHOULD NOT)",
	suite.KETransform(message.DHMODP1536):         "a 1536-bit group is below the 2048 bits RFC 8247 2.4 asks for",
	suite.KETransform(message.DHMODP2048S256):     "RFC 5114's groups have unexplained parameters and need subgroup checks (RFC 8247 2.4: SHOULD NOT)",
}

// integPRF maps every integrity keyword of strongSwan 5.9.8 to the PRF
// keyword of the same algorithm (proposal.c, integ_prf_map). In an IKE
// proposal without an explicit PRF each integrity algorithm names a PRF,
// also when the cipher is AEAD and the integrity algorithm itself is then
// dropped. HMAC-SHA-256-96 has no PRF counterpart.
var integPRF = map[string]string{
	"sha": "prfsha1", "sha1": "prfsha1", "sha1_160": "prfsha1",
	"sha256": "prfsha256", "sha2_256": "prfsha256",
	"sha384": "prfsha384", "sha2_384": "prfsha384",
	"sha512": "prfsha512", "sha2_512": "prfsha512",
	"md5": "prfmd5", "md5_128": "prfmd5",
	"aesxcbc": "prfaesxcbc", "camelliaxcbc": "prfcamelliaxcbc", "aescmac": "prfaescmac",
	"sha256_96": "", "sha2_256_96": "",
}

// proposalNote is something a proposal does that is worth a diagnostic
// without refusing it: an algorithm dropped as strongSwan drops it, or one
// cygnet does not implement left out next to one it does.
type proposalNote struct {
	sev Severity
	msg string
}

// ParseProposals parses an ike= or esp= value: proposals separated by
// commas, algorithms within a proposal by '-', and an optional trailing '!'
// that makes the list strict (nothing else is accepted). The result keeps
// the written order, which is the preference order.
//
// The rules are strongSwan 5.9.8's (proposal_create_from_string and
// check_proposal): in an IKE proposal that names no PRF, every integrity
// algorithm names the PRF of the same algorithm (sha256 gives prfsha256,
// aesxcbc prfaesxcbc); with AEAD ciphers integrity algorithms are then
// dropped, in IKE and ESP proposals alike; "none" is dropped from IKE
// proposals; AEAD and classic ciphers in one proposal are refused.
// cygnet differs where strongSwan would weaken security or do something
// cygnet cannot: a PRF in an ESP proposal, a classic ESP cipher without
// integrity algorithm and an algorithm the engine does not implement are
// refused, except that an unimplemented algorithm with an implemented
// alternative of the same type is left out (with a warning from Interpret).
func ParseProposals(s string, kind ProposalKind) (props []ike.Proposal, strict bool, err error) {
	props, strict, _, err = parseProposals(s, kind)
	return props, strict, err
}

func parseProposals(s string, kind ProposalKind) (props []ike.Proposal, strict bool, notes []proposalNote, err error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "!") {
		strict = true
		s = strings.TrimSpace(strings.TrimSuffix(s, "!"))
	}
	if s == "" {
		return nil, strict, nil, fmt.Errorf("config: empty proposal list")
	}
	for _, ps := range strings.Split(s, ",") {
		ps = strings.TrimSpace(ps)
		if ps == "" {
			return nil, strict, nil, fmt.Errorf("config: empty proposal in %q", s)
		}
		p, n, err := parseProposal(ps, kind)
		if err != nil {
			return nil, strict, nil, err
		}
		props = append(props, p)
		notes = append(notes, n...)
	}
	return props, strict, notes, nil
}

// parseProposal parses one '-'-separated proposal.
func parseProposal(s string, kind ProposalKind) (ike.Proposal, []proposalNote, error) {
	var (
		p      ike.Proposal
		notes  []proposalNote
		integs []string // integrity keywords as written, lower case
	)
	for _, tok := range strings.Split(s, "-") {
		lower := strings.ToLower(tok)
		a, ok := algTokens[lower]
		_, isInteg := integPRF[lower]
		if isInteg && !slices.Contains(integs, lower) {
			// also the integrity algorithms cygnet cannot represent: with
			// an AEAD cipher they are dropped or only name the PRF
			integs = append(integs, lower)
		}
		switch {
		case tok == "":
			return p, nil, fmt.Errorf("config: empty algorithm in proposal %q", s)
		case !ok && isInteg:
			continue // judged below, once the cipher is known
		case !ok && isKnownUnsupported(lower):
			return p, nil, fmt.Errorf("config: algorithm %q in proposal %q is not supported by cygnet", tok, s)
		case !ok:
			return p, nil, fmt.Errorf("config: unknown algorithm %q in proposal %q", tok, s)
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
				return p, nil, fmt.Errorf("config: PRF %q in ESP proposal %q: PRFs belong in ike= proposals", tok, s)
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
				return p, nil, fmt.Errorf("config: %q in IKE proposal %q: ESN applies to ESP only", tok, s)
			}
			if id := message.ESNID(a.id); !slices.Contains(p.ESN, id) {
				p.ESN = append(p.ESN, id)
			}
		}
	}
	if len(p.Encr) == 0 {
		return p, nil, fmt.Errorf("config: no encryption algorithm in %s proposal %q", kind, s)
	}
	var aead, classic []string
	for _, e := range p.Encr {
		if e.ID.IsAEAD() {
			aead = append(aead, tokenFor(message.TransformENCR, uint16(e.ID), e.KeyBits))
		} else {
			classic = append(classic, tokenFor(message.TransformENCR, uint16(e.ID), e.KeyBits))
		}
	}
	if len(aead) > 0 && len(classic) > 0 {
		return p, nil, fmt.Errorf("config: proposal %q mixes AEAD (%s) and classic (%s) ciphers, which strongSwan refuses as well; write them as separate proposals separated by a comma",
			s, strings.Join(aead, ", "), strings.Join(classic, ", "))
	}

	// the PRF an integrity keyword names, when the proposal names none
	prfFrom := map[message.PRFID]string{} // derived PRF -> integrity keyword
	var missingPRF []string               // "md5 gives prfmd5" for PRFs cygnet cannot represent
	if kind == ProposalIKE && len(p.PRF) == 0 {
		for _, in := range integs {
			name := integPRF[in]
			if name == "" {
				missingPRF = append(missingPRF, fmt.Sprintf("%s has no PRF counterpart", in))
				continue
			}
			a, ok := algTokens[name]
			if !ok {
				missingPRF = append(missingPRF, fmt.Sprintf("%s gives %s, which cygnet does not implement", in, name))
				continue
			}
			if id := message.PRFID(a.id); !slices.Contains(p.PRF, id) {
				p.PRF = append(p.PRF, id)
				prfFrom[id] = in
			}
		}
	}

	if len(aead) > 0 {
		// RFC 5282 8: no integrity transform with a combined-mode cipher;
		// strongSwan removes them.
		if len(integs) > 0 && (kind == ProposalESP || len(prfFrom) == 0 && len(missingPRF) == 0) {
			notes = append(notes, proposalNote{Info, fmt.Sprintf("integrity algorithm %s dropped from proposal %q: an AEAD cipher takes none (RFC 5282 8), as strongSwan drops it",
				strings.Join(integs, ", "), s)})
		}
		p.Integ = nil
	} else {
		for _, in := range integs {
			if _, ok := algTokens[in]; !ok {
				return p, nil, fmt.Errorf("config: algorithm %q in proposal %q is not supported by cygnet", in, s)
			}
		}
		if len(p.Integ) == 0 {
			return p, nil, fmt.Errorf("config: no integrity algorithm for the classic cipher in proposal %q", s)
		}
	}
	if kind == ProposalIKE {
		switch {
		case len(p.PRF) == 0 && len(missingPRF) > 0:
			return p, nil, fmt.Errorf("config: no PRF in IKE proposal %q: without one strongSwan takes the PRF from the integrity algorithm, and %s; add an explicit PRF such as prfsha256",
				s, strings.Join(missingPRF, ", "))
		case len(p.PRF) == 0:
			return p, nil, fmt.Errorf("config: no PRF in IKE proposal %q", s)
		case len(missingPRF) > 0:
			notes = append(notes, proposalNote{Warning, fmt.Sprintf("proposal %q: strongSwan would also propose the PRF of each integrity algorithm, but %s, so it is left out",
				s, strings.Join(missingPRF, ", "))})
		}
		if len(p.DH) == 0 {
			return p, nil, fmt.Errorf("config: no key exchange method in IKE proposal %q", s)
		}
	}
	n, err := keepImplemented(&p, kind, s, prfFrom)
	if err != nil {
		return p, nil, err
	}
	notes = append(notes, n...)
	if w := weakNote(p, kind, s); w != "" {
		notes = append(notes, proposalNote{Warning, w})
	}
	return p, notes, nil
}

// weakNote names the weak transforms p keeps, with the reason for each,
// or returns "".
func weakNote(p ike.Proposal, kind ProposalKind, s string) string {
	var ts []message.Transform
	for _, e := range p.Encr {
		ts = append(ts, suite.EncrTransform(e.ID, e.KeyBits))
	}
	for _, i := range p.Integ {
		ts = append(ts, suite.IntegTransform(i))
	}
	for _, f := range p.PRF {
		ts = append(ts, suite.PRFTransform(f))
	}
	for _, g := range p.DH {
		ts = append(ts, suite.KETransform(g))
	}
	var weak []string
	for _, t := range ts {
		if why, ok := weakWhy[t]; ok {
			weak = append(weak, fmt.Sprintf("%s (%s: %s)", tokenFor(t.Type, t.ID, t.KeyBits), suite.Name(t), why))
		}
	}
	if len(weak) == 0 {
		return ""
	}
	return fmt.Sprintf("%s proposal %q uses weak algorithms, accepted as strongSwan accepts them but never proposed by cygnet on its own: %s",
		kind, s, strings.Join(weak, "; "))
}

// keepImplemented removes from p the transforms the engine does not
// implement (ike/suite's table), so that nothing is proposed that cygnet
// could not complete if the peer chose it. A transform type left without
// any algorithm is an error, the others are reported as warnings.
func keepImplemented(p *ike.Proposal, kind ProposalKind, s string, prfFrom map[message.PRFID]string) ([]proposalNote, error) {
	proto := message.ProtoIKE
	if kind == ProposalESP {
		proto = message.ProtoESP
	}
	var notes []proposalNote
	check := func(what string, ts []message.Transform, origin func(message.Transform) string) (keep []bool, err error) {
		var dropped []string
		kept := 0
		for _, t := range ts {
			ok := suite.Supported(proto, t) || t.Type == message.TransformKE && t.ID == uint16(message.DHNone)
			keep = append(keep, ok)
			if ok {
				kept++
				continue
			}
			d := fmt.Sprintf("%s (%s)", tokenFor(t.Type, t.ID, t.KeyBits), suite.Name(t))
			if o := origin(t); o != "" {
				d += ", " + o
			}
			if w := unimplementedWhy[t]; w != "" {
				d += ": " + w
			}
			dropped = append(dropped, d)
		}
		switch {
		case len(dropped) == 0:
		case kept == 0:
			return nil, fmt.Errorf("config: %s proposal %q: cygnet does not implement the %s %s, and the proposal names no other",
				kind, s, what, strings.Join(dropped, "; "))
		default:
			notes = append(notes, proposalNote{Warning, fmt.Sprintf("%s proposal %q: cygnet does not implement the %s %s, which is left out (strongSwan would propose it)",
				kind, s, what, strings.Join(dropped, "; "))})
		}
		return keep, nil
	}
	none := func(message.Transform) string { return "" }
	var encr []message.Transform
	for _, e := range p.Encr {
		encr = append(encr, suite.EncrTransform(e.ID, e.KeyBits))
	}
	keep, err := check("encryption algorithm", encr, none)
	if err != nil {
		return nil, err
	}
	p.Encr = filter(p.Encr, keep)
	if len(p.Integ) > 0 {
		var ts []message.Transform
		for _, i := range p.Integ {
			ts = append(ts, suite.IntegTransform(i))
		}
		if keep, err = check("integrity algorithm", ts, none); err != nil {
			return nil, err
		}
		p.Integ = filter(p.Integ, keep)
	}
	if len(p.PRF) > 0 {
		var ts []message.Transform
		for _, f := range p.PRF {
			ts = append(ts, suite.PRFTransform(f))
		}
		origin := func(t message.Transform) string {
			if in := prfFrom[message.PRFID(t.ID)]; in != "" {
				return fmt.Sprintf("the PRF strongSwan takes from the integrity algorithm %s when no PRF is given", in)
			}
			return ""
		}
		if keep, err = check("PRF", ts, origin); err != nil {
			return nil, err
		}
		p.PRF = filter(p.PRF, keep)
	}
	if len(p.DH) > 0 {
		var ts []message.Transform
		for _, g := range p.DH {
			ts = append(ts, suite.KETransform(g))
		}
		if keep, err = check("key exchange method", ts, none); err != nil {
			return nil, err
		}
		p.DH = filter(p.DH, keep)
	}
	return notes, nil
}

func filter[T any](xs []T, keep []bool) []T {
	var out []T
	for i, x := range xs {
		if keep[i] {
			out = append(out, x)
		}
	}
	return out
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
	"aes128gcm16", "aes192gcm16", "aes256gcm16", "chacha20poly1305", "3des",
	"sha1", "sha256", "sha384", "sha512", "aesxcbc",
	"prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfaesxcbc",
	"none", "modp1024", "modp1536", "modp2048s256", "modp2048", "modp3072", "modp4096",
	"ecp256", "ecp384", "ecp521", "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp",
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
