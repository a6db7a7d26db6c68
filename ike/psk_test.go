package ike_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// keys builds shared keys from lines "SELECTORS : NAME" (the name is the
// secret and the source, so that a test names the key it expects).
func keys(t *testing.T, lines ...string) []ike.SharedKey {
	t.Helper()
	var out []ike.SharedKey
	for _, l := range lines {
		sels, name, ok := strings.Cut(" "+l, " : ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		k := ike.SharedKey{Secret: []byte(strings.TrimSpace(name)), Source: strings.TrimSpace(name)}
		for _, s := range strings.Fields(sels) {
			id, err := ike.ParseIdentity(s)
			if err != nil {
				t.Fatal(err)
			}
			k.IDs = append(k.IDs, id)
		}
		out = append(out, k)
	}
	return out
}

// TestLookupPSKRanking holds the PSK choice to strongSwan 5.9's ranking
// (credential_manager get_shared over mem_cred's newest-first secrets,
// identification matches): the remote identity's match first, then the
// local one's, exact (20) over one leading wildcard (19) over %any (1);
// among equals the entry written last; an entry matching neither identity
// does not apply.
func TestLookupPSKRanking(t *testing.T) {
	tests := []struct {
		name          string
		secrets       []string
		local, remote string // "" is an identity not known yet
		want          string // "" when no key applies
		candidates    int    // keys a verification tries
	}{
		{"issue 12: local-only entry loses to the fallback", []string{"10.1.0.1 : a", " : b"}, "10.1.0.1", "10.1.0.2", "b", 2},
		{"issue 12 from the peer: its remote named", []string{"10.1.0.1 : a", " : b"}, "10.1.0.2", "10.1.0.1", "a", 2},
		{"pair beats fallback", []string{"@moon @sun : pair", " : fallback"}, "@moon", "@sun", "pair", 2},
		{"fallback when no selector matches", []string{"@moon @sun : pair", " : fallback"}, "@venus", "@carol", "fallback", 1},
		{"no key applies", []string{"@moon @sun : pair"}, "@venus", "@carol", "", 0},
		{"local match alone applies", []string{"@moon @sun : pair"}, "@moon", "@carol", "pair", 1},
		{"remote match beats local match", []string{"@sun : remote", "@moon : local"}, "@moon", "@sun", "remote", 2},
		{"local match breaks a remote tie", []string{"@moon @sun : both", "@sun : remote"}, "@moon", "@sun", "both", 2},
		{"%any with the local ID vs exact", []string{"@moon %any : any", "@moon @sun : exact"}, "@moon", "@sun", "exact", 2},
		{"%any with the local ID vs fallback", []string{"@moon %any : any", " : fallback"}, "@moon", "@carol", "any", 2},
		{"tie: the entry written last", []string{"@moon @sun : first", "@sun @moon : second"}, "@moon", "@sun", "second", 2},
		{"tie of fallbacks: the last", []string{" : first", " : second"}, "@moon", "@sun", "second", 2},
		{"one wildcard beats %any", []string{" : fallback", "*.example.com : wild"}, "@gw", "@host.example.com", "wild", 2},
		{"exact beats one wildcard", []string{"@host.example.com : exact", "*.example.com : wild"}, "@gw", "@host.example.com", "exact", 2},
		{"wildcard needs a name before the suffix", []string{"*.example.com : wild", " : fallback"}, "@gw", "@example.com", "fallback", 1},
		{"e-mail wildcard", []string{"*@example.com : mail", "carol@example.com : carol"}, "@gw", "dave@Example.COM", "mail", 1},
		{"names ignore case", []string{"@Moon.StrongSwan.org @sun : x"}, "@moon.strongswan.org", "@SUN", "x", 1},
		{"0.0.0.0 is %any", []string{"10.0.0.1 0.0.0.0 : zeros", "10.0.0.1 : only"}, "10.0.0.1", "10.0.0.9", "zeros", 2},
		{"an address does not match a name", []string{"@10.0.0.2 : name", "10.0.0.2 : addr"}, "10.0.0.1", "10.0.0.2", "addr", 1},
		{"remote unknown: only %any matches it", []string{"@sun : sun", " : fallback"}, "@moon", "", "fallback", 1},
		{"IPv6", []string{"2001:db8::1 2001:db8::2 : six", " : fallback"}, "2001:db8::1", "2001:db8::2", "six", 2},
	}
	id := func(s string) ike.Identity {
		if s == "" {
			return ike.Identity{}
		}
		i, err := ike.ParseIdentity(s)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ike.Credentials{SharedKeys: keys(t, tt.secrets...)}
			k, ok := c.LookupPSK(id(tt.local), id(tt.remote))
			switch {
			case tt.want == "" && ok:
				t.Errorf("picked %s, want none", k.Source)
			case tt.want != "" && (!ok || k.Source != tt.want):
				t.Errorf("picked %q (ok %v), want %q", k.Source, ok, tt.want)
			}
			cs := c.PSKCandidates(id(tt.local), id(tt.remote))
			if len(cs) != tt.candidates {
				t.Errorf("%d candidates, want %d", len(cs), tt.candidates)
			}
			if ok && cs[0].Source != k.Source {
				t.Errorf("first candidate %s, lookup %s", cs[0].Source, k.Source)
			}
		})
	}
}

// TestPSKAsymmetricChoice: with the same ipsec.secrets on both nodes
// ("10.0.0.1 : PSK a" then ": PSK b"), node A (10.0.0.1) signs with b and
// node B with a, as strongSwan's ranking has it; each verifies the other
// with every key that applies, so the pair comes up (as two strongSwans
// do), in both directions.
func TestPSKAsymmetricChoice(t *testing.T) {
	for _, fromB := range []bool{false, true} {
		p := newPair(t, func(a, b *ike.Config) {
			for _, cfg := range []*ike.Config{a, b} {
				cfg.Credentials.SharedKeys = []ike.SharedKey{
					{IDs: []ike.Identity{ike.IdentityFromAddr(addrA)}, Secret: []byte("key a, long enough for the test"), Source: "a"},
					{Secret: []byte("key b, long enough for the test"), Source: "b"},
				}
			}
		})
		init := p.a
		if fromB {
			init = p.b
		}
		if err := init.e.Initiate(t.Context(), "ab"); err != nil {
			t.Fatalf("from B %v: %v", fromB, err)
		}
		established(t, p.a)
		established(t, p.b)
	}
	// a key that applies to neither identity is never tried
	p := newPair(t, func(a, b *ike.Config) {
		a.Credentials.SharedKeys = []ike.SharedKey{{IDs: []ike.Identity{ike.IdentityFromAddr(addrA)}, Secret: []byte("the key A signs with, long enough")}}
		b.Credentials.SharedKeys = []ike.SharedKey{
			{IDs: []ike.Identity{ike.IdentityFromAddr(addrB)}, Secret: []byte("key of B for others, long enough")},
			{IDs: []ike.Identity{ike.IdentityFromAddr(netip.MustParseAddr("10.0.0.99"))}, Secret: []byte("the key A signs with, long enough")},
		}
	})
	if err := p.initiate(t); err == nil {
		t.Error("B accepted A's AUTH with a key whose selectors name neither identity")
	}
}
