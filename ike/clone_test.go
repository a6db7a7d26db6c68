package ike_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// cloneFixture is a Config with every slice and byte field set.
func cloneFixture() *ike.Config {
	id := func(s string) ike.Identity { return ike.Identity{Type: message.IDFQDN, Data: []byte(s)} }
	ep := func(a, name string) ike.Endpoint {
		return ike.Endpoint{Host: a, Addr: netip.MustParseAddr(a), ID: id(name), Auth: ike.AuthPSK,
			Subnets: []netip.Prefix{netip.MustParsePrefix(a + "/32")}}
	}
	prop := func() ike.Proposal {
		return ike.Proposal{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
			Integ: []message.IntegID{message.IntegHMACSHA2256128}, PRF: []message.PRFID{message.PRFHMACSHA2256},
			DH: []message.DHGroup{message.DHCurve25519}, ESN: []message.ESNID{message.ESNNo}}
	}
	return &ike.Config{
		Connections: []ike.Connection{{Name: "ab", Mode: ike.ModeTransport,
			Local: ep("10.0.0.1", "a"), Remote: ep("10.0.0.2", "b"),
			IKE: []ike.Proposal{prop()}, ESP: []ike.Proposal{prop()}}},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{IDs: []ike.Identity{id("a")}, Secret: []byte("secret")}}},
	}
}

// TestConfigCloneSharesNothing: changing every slice and byte of a Config
// after Clone leaves the clone as it was, which is what lets the engine own
// its configuration while the daemon reloads (issue 13).
func TestConfigCloneSharesNothing(t *testing.T) {
	orig := cloneFixture()
	c := orig.Clone()
	conn := &orig.Connections[0]
	for _, e := range []*ike.Endpoint{&conn.Local, &conn.Remote} {
		e.ID.Data[0] = 'X'
		e.Subnets[0] = netip.MustParsePrefix("192.0.2.0/24")
	}
	for _, p := range []*ike.Proposal{&conn.IKE[0], &conn.ESP[0]} {
		p.Encr[0].KeyBits, p.Integ[0], p.PRF[0], p.DH[0], p.ESN[0] = 128, 0, 0, 0, 0
	}
	conn.Name = "changed"
	k := &orig.Credentials.SharedKeys[0]
	k.Secret[0], k.IDs[0].Data[0] = 'X', 'X'
	if want := cloneFixture(); !reflect.DeepEqual(c, want) {
		t.Errorf("clone changed with the original:\n got %+v\nwant %+v", c, want)
	}
}
