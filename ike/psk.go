package ike

import (
	"bytes"
	"slices"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// How well an identity matches an ipsec.secrets selector. The values are
// strongSwan's (its id_match_t), so that rankings compare as in charon:
// an exact identity, then a selector with one leading wildcard, then %any.
const (
	idMatchNone        = 0
	idMatchAny         = 1
	idMatchOneWildcard = 19
	idMatchPerfect     = 20
)

// selectorIsAny reports whether a selector stands for any identity: %any
// (no identity), and the spellings strongSwan reads as %any: 0.0.0.0, ::
// and *.
func selectorIsAny(sel Identity) bool {
	switch sel.Type {
	case 0:
		return true
	case message.IDIPv4, message.IDIPv6:
		return len(sel.Data) > 0 && !slices.ContainsFunc(sel.Data, func(b byte) bool { return b != 0 })
	case message.IDFQDN, message.IDRFC822:
		return string(sel.Data) == "*"
	}
	return false
}

// matchSelector scores an identity against one selector. Names (FQDN,
// e-mail) compare without regard to case, and a selector that starts with
// '*' matches every name ending in the rest ("*.example.com",
// "*@example.com"). Other identities must be equal. The identity a lookup
// does not know yet (the zero Identity) matches only %any.
func matchSelector(id, sel Identity) int {
	if selectorIsAny(sel) {
		return idMatchAny
	}
	if id.IsZero() || id.Type != sel.Type {
		return idMatchNone
	}
	switch id.Type {
	case message.IDFQDN, message.IDRFC822:
		if bytes.EqualFold(id.Data, sel.Data) {
			return idMatchPerfect
		}
		if len(sel.Data) > 1 && sel.Data[0] == '*' && len(id.Data) >= len(sel.Data) &&
			bytes.EqualFold(id.Data[len(id.Data)-(len(sel.Data)-1):], sel.Data[1:]) {
			return idMatchOneWildcard
		}
		return idMatchNone
	}
	if bytes.Equal(id.Data, sel.Data) {
		return idMatchPerfect
	}
	return idMatchNone
}

// matchKey scores an identity against a key's selectors: the best of them.
// A key without selectors is for any pair (%any).
func matchKey(k *SharedKey, id Identity) int {
	if len(k.IDs) == 0 {
		return idMatchAny
	}
	best := idMatchNone
	for _, sel := range k.IDs {
		best = max(best, matchSelector(id, sel))
	}
	return best
}

// PSKCandidates returns the pre-shared keys that apply to a pair of
// identities, best first, ranked as strongSwan 5.9 ranks ipsec.secrets:
// a key applies when a selector matches the local or the remote identity;
// the better remote match ranks first, then the better local match, and
// among equals the key written last (strongSwan keeps its secrets newest
// first). So with "10.1.0.1 : PSK a" followed by ": PSK b", the node
// 10.1.0.1 uses b towards any peer: b matches the peer as %any, a not at
// all.
func (c *Credentials) PSKCandidates(local, remote Identity) []SharedKey {
	type cand struct {
		i, local, remote int
	}
	var cs []cand
	for i := range c.SharedKeys {
		k := &c.SharedKeys[i]
		l, r := matchKey(k, local), matchKey(k, remote)
		if l == idMatchNone && r == idMatchNone {
			continue
		}
		cs = append(cs, cand{i, l, r})
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.remote != b.remote:
			return b.remote - a.remote
		case a.local != b.local:
			return b.local - a.local
		}
		return b.i - a.i
	})
	out := make([]SharedKey, len(cs))
	for j, x := range cs {
		out[j] = c.SharedKeys[x.i]
	}
	return out
}

// LookupPSK returns the pre-shared key this end authenticates with towards
// a pair of identities: the first of PSKCandidates. ok is false when no key
// applies. `cygnet config check` names the same key.
func (c *Credentials) LookupPSK(local, remote Identity) (key SharedKey, ok bool) {
	cs := c.PSKCandidates(local, remote)
	if len(cs) == 0 {
		return SharedKey{}, false
	}
	return cs[0], true
}
