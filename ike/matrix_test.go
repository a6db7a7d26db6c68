package ike_test

import (
	"crypto"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// TestHandshakeAuthMatrix runs every authentication method (PSK, ECDSA and
// RSA certificates, raw public keys) with every supported key exchange
// group and every supported cipher, checking each time that the CHILD_SA
// keys installed on the two sides cross-match.
func TestHandshakeAuthMatrix(t *testing.T) {
	ecdsa, rsa := newPKI(t, authtest.ECDSAP256), newPKI(t, authtest.RSA2048)
	ka, kb := authtest.Must(authtest.NewKey(authtest.ECDSAP384)), authtest.Must(authtest.NewKey(authtest.ECDSAP384))
	rawKeys := func(a, b *ike.Config) {
		for _, x := range []struct {
			cfg        *ike.Config
			mine, peer crypto.Signer
			me, them   string
		}{{a, ka, kb, "sun", "moon"}, {b, kb, ka, "moon", "sun"}} {
			c := &x.cfg.Connections[0]
			c.Local = ike.Endpoint{Addr: c.Local.Addr, Auth: ike.AuthPubkey, SigKey: x.mine.Public(),
				ID: ike.Identity{Type: message.IDFQDN, Data: []byte(x.me + ".example.org")}}
			c.Remote = ike.Endpoint{Addr: c.Remote.Addr, Auth: ike.AuthPubkey, SigKey: x.peer.Public(),
				ID: ike.Identity{Type: message.IDFQDN, Data: []byte(x.them + ".example.org")}}
			x.cfg.Credentials = ike.Credentials{PrivateKeys: []crypto.Signer{x.mine}}
		}
	}
	auths := []struct {
		name string
		set  func(a, b *ike.Config)
	}{
		{"psk", func(a, b *ike.Config) {}},
		{"ecdsa-cert", ecdsa.useCerts},
		{"rsa-cert", rsa.useCerts},
		{"raw-key", rawKeys},
	}
	type suite struct {
		name  string
		encr  message.EncrID
		bits  int
		integ message.IntegID
		prf   message.PRFID
		group message.DHGroup
	}
	var suites []suite
	for _, g := range []message.DHGroup{message.DHMODP2048, message.DHECP256, message.DHECP384, message.DHECP521, message.DHCurve25519} {
		suites = append(suites, suite{g.String(), message.EncrAESGCM16, 256, 0, message.PRFHMACSHA2384, g})
	}
	for _, c := range []suite{
		{"gcm128", message.EncrAESGCM16, 128, 0, message.PRFHMACSHA2256, 0},
		{"cbc128-sha256", message.EncrAESCBC, 128, message.IntegHMACSHA2256128, message.PRFHMACSHA2256, 0},
		{"cbc256-sha384", message.EncrAESCBC, 256, message.IntegHMACSHA2384192, message.PRFHMACSHA2384, 0},
		{"cbc256-sha512", message.EncrAESCBC, 256, message.IntegHMACSHA2512256, message.PRFHMACSHA2512, 0},
	} {
		c.group = message.DHCurve25519
		suites = append(suites, c)
	}
	for _, au := range auths {
		for _, s := range suites {
			t.Run(au.name+"/"+s.name, func(t *testing.T) {
				p := newPair(t, func(a, b *ike.Config) {
					au.set(a, b)
					for _, cfg := range []*ike.Config{a, b} {
						conn := &cfg.Connections[0]
						var integ []message.IntegID
						if s.integ != 0 {
							integ = []message.IntegID{s.integ}
						}
						conn.IKE = []ike.Proposal{{Encr: []ike.Encr{{ID: s.encr, KeyBits: s.bits}}, Integ: integ,
							PRF: []message.PRFID{s.prf}, DH: []message.DHGroup{s.group}}}
						conn.ESP = []ike.Proposal{{Encr: []ike.Encr{{ID: s.encr, KeyBits: s.bits}}, Integ: integ}}
					}
				})
				if err := p.initiate(t); err != nil {
					t.Fatal(err)
				}
				checkCrossMatch(t, p.a.kernel, p.b.kernel)
			})
		}
	}
}
