package auth

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Match is how well an identity matches a configured one, ranked as
// strongSwan ranks them so the engine can pick the best connection.
type Match uint8

// Match qualities, worst to best.
const (
	MatchNone     Match = iota // no match
	MatchAny                   // the configuration accepts any identity (%any)
	MatchWildcard              // matched through a wildcard
	MatchPerfect               // the same identity
)

func (m Match) String() string {
	switch m {
	case MatchNone:
		return "none"
	case MatchAny:
		return "any"
	case MatchWildcard:
		return "wildcard"
	case MatchPerfect:
		return "perfect"
	}
	return "match(" + strconv.Itoa(int(m)) + ")"
}

// MatchIdentity reports how well the identity the peer sent (idType,
// idData) matches a configured remote ID (wantType, wantData; type 0 is
// %any), with strongSwan's rules:
//
//   - ID_DER_ASN1_DN: the names are compared canonically (see EqualDN);
//     an attribute value of "*" in the configured name matches any value
//     of that attribute, but the number and order of RDNs must agree
//     (rightid="C=CH, O=Cygnet, CN=*").
//   - ID_FQDN and ID_RFC822_ADDR: compared case-insensitively; a configured
//     value starting with "*" matches any identity ending with the rest
//     ("*.example.org", "*@example.org"), and "*" alone matches any
//     identity of that type.
//   - Other types: octet-equal.
//
// Identities of different types never match.
func MatchIdentity(wantType message.IDType, wantData []byte, idType message.IDType, idData []byte) Match {
	if wantType == 0 && len(wantData) == 0 {
		return MatchAny
	}
	if wantType != idType {
		return MatchNone
	}
	switch wantType {
	case message.IDDERASN1DN:
		return matchDN(wantData, idData)
	case message.IDFQDN, message.IDRFC822:
		want, got := string(wantData), string(idData)
		switch {
		case want == "*":
			return MatchWildcard
		case strings.HasPrefix(want, "*"):
			suffix := want[1:]
			if len(got) >= len(suffix) && strings.EqualFold(got[len(got)-len(suffix):], suffix) {
				return MatchWildcard
			}
			return MatchNone
		case strings.EqualFold(want, got):
			return MatchPerfect
		}
		return MatchNone
	}
	if bytes.Equal(wantData, idData) {
		return MatchPerfect
	}
	return MatchNone
}

// matchDN compares a configured DN (possibly with "*" values) with a
// received one.
func matchDN(pattern, dn []byte) Match {
	p, err := decodeDN(pattern, true)
	if err != nil {
		return MatchNone
	}
	d, err := decodeDN(dn, true)
	if err != nil || len(p) != len(d) {
		return MatchNone
	}
	wild := false
	for i := range p {
		if len(p[i]) != len(d[i]) {
			return MatchNone
		}
		if slices.Equal(p[i], d[i]) {
			continue
		}
		// Wildcards only make sense in single-valued RDNs, which is all
		// strongSwan's DN syntax can write.
		if len(p[i]) == 1 && p[i][0].value == "*" && p[i][0].oid == d[i][0].oid {
			wild = true
			continue
		}
		return MatchNone
	}
	if wild {
		return MatchWildcard
	}
	return MatchPerfect
}
