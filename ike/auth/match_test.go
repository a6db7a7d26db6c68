package auth

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

func TestMatchIdentity(t *testing.T) {
	moon := dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "moon"))
	tests := []struct {
		name     string
		wantType message.IDType
		want     []byte
		idType   message.IDType
		id       []byte
		match    Match
	}{
		{"any", 0, nil, message.IDFQDN, []byte("x"), MatchAny},
		{"DN same", message.IDDERASN1DN, moon, message.IDDERASN1DN, moon, MatchPerfect},
		{"DN other string type and case", message.IDDERASN1DN, moon, message.IDDERASN1DN, dn(t, u(oidC, "ch"), u(oidO, "CYGNET"), u(oidCN, "Moon")), MatchPerfect},
		{"DN CN wildcard", message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "*")), message.IDDERASN1DN, moon, MatchWildcard},
		{"DN wildcard wrong type", message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidOU, "*")), message.IDDERASN1DN, moon, MatchNone},
		{"DN wildcard needs same RDN count", message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidCN, "*")), message.IDDERASN1DN, moon, MatchNone},
		{"DN received * is not a wildcard", message.IDDERASN1DN, moon, message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "*")), MatchNone},
		{"DN differs", message.IDDERASN1DN, moon, message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "sun")), MatchNone},
		{"DN malformed", message.IDDERASN1DN, moon, message.IDDERASN1DN, []byte{0x30}, MatchNone},
		{"FQDN case", message.IDFQDN, []byte("Moon.Example.org"), message.IDFQDN, []byte("moon.example.ORG"), MatchPerfect},
		{"FQDN wildcard", message.IDFQDN, []byte("*.example.org"), message.IDFQDN, []byte("moon.EXAMPLE.org"), MatchWildcard},
		{"FQDN wildcard no match", message.IDFQDN, []byte("*.example.org"), message.IDFQDN, []byte("example.com"), MatchNone},
		{"FQDN wildcard longer than id", message.IDFQDN, []byte("*.example.org"), message.IDFQDN, []byte("org"), MatchNone},
		{"FQDN star", message.IDFQDN, []byte("*"), message.IDFQDN, []byte("anything"), MatchWildcard},
		{"RFC822 wildcard", message.IDRFC822, []byte("*@example.org"), message.IDRFC822, []byte("carol@example.org"), MatchWildcard},
		{"type differs", message.IDFQDN, []byte("moon"), message.IDRFC822, []byte("moon"), MatchNone},
		{"IPv4 same", message.IDIPv4, []byte{192, 0, 2, 1}, message.IDIPv4, []byte{192, 0, 2, 1}, MatchPerfect},
		{"IPv4 other", message.IDIPv4, []byte{192, 0, 2, 1}, message.IDIPv4, []byte{192, 0, 2, 2}, MatchNone},
		{"key ID", message.IDKeyID, []byte{1, 2}, message.IDKeyID, []byte{1, 2}, MatchPerfect},
	}
	for _, tt := range tests {
		if got := MatchIdentity(tt.wantType, tt.want, tt.idType, tt.id); got != tt.match {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.match)
		}
	}
}
