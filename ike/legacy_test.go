package ike_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestHandshakeLegacySuites negotiates, end to end between two engines, the
// weak suites strongSwan 5.9.8 still accepts, from the ike=/esp= strings a
// strongSwan configuration carries (parsed by config as the daemon does):
// IKE and ESP keys must agree on both sides, the kernel gets
// cbc(des3_ede)/hmac(sha1), and the status prints strongSwan's names.
// With esp= naming a group, the CHILD_SA rekey runs a MODP exchange (PFS).
func TestHandshakeLegacySuites(t *testing.T) {
	for _, c := range []struct {
		ike, esp       string
		wantIKE        string
		wantESP        string
		xenc           xfrm.Encryption
		xinteg         xfrm.Integrity
		pfsRekey       bool
		wantRekeyedESP string
	}{
		{"3des-sha1-modp2048!", "3des-sha1!", "3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048", "3DES_CBC/HMAC_SHA1_96", xfrm.TripleDESCBC, xfrm.HMACSHA1_96, false, ""},
		{"aes128-sha1-modp1024!", "aes128-sha1-modp1024!", "AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", "AES_CBC_128/HMAC_SHA1_96", xfrm.AESCBC128, xfrm.HMACSHA1_96, true, "AES_CBC_128/HMAC_SHA1_96/MODP_1024"},
		{"aes256gcm16-sha256-modp1536!", "3des-sha256-modp1536!", "AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP_1536", "3DES_CBC/HMAC_SHA2_256_128", xfrm.TripleDESCBC, xfrm.HMACSHA256_128, true, "3DES_CBC/HMAC_SHA2_256_128/MODP_1536"},
		{"aes256-sha256-modp2048s256!", "aes256gcm16-modp2048s256-noesn!", "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048_256", "AES_GCM_16_256", xfrm.AESGCM16_256, xfrm.IntegNone, true, "AES_GCM_16_256/MODP_2048_256"},
	} {
		t.Run(c.ike+"/"+c.esp, func(t *testing.T) {
			ikeProps, ikeStrict, err := config.ParseProposals(c.ike, config.ProposalIKE)
			if err != nil || !ikeStrict {
				t.Fatal(err)
			}
			espProps, espStrict, err := config.ParseProposals(c.esp, config.ProposalESP)
			if err != nil || !espStrict {
				t.Fatal(err)
			}
			p := newPair(t, func(a, b *ike.Config) {
				for _, cfg := range []*ike.Config{a, b} {
					conn := &cfg.Connections[0]
					conn.IKE, conn.ESP = ikeProps, espProps
				}
				rekeyConn(&a.Connections[0], true)
				rekeyConn(&b.Connections[0], false)
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*side{p.a, p.b} {
				sa := established(t, s)
				if sa.Proposal != c.wantIKE {
					t.Errorf("IKE proposal %q, want %q", sa.Proposal, c.wantIKE)
				}
				if len(sa.Children) != 1 || sa.Children[0].Proposal != c.wantESP {
					t.Fatalf("children %+v, want one with %q", sa.Children, c.wantESP)
				}
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			for _, s := range p.a.kernel.States() {
				if s.Encryption != c.xenc || s.Integrity != c.xinteg {
					t.Errorf("kernel state %v / %v, want %v / %v", s.Encryption, s.Integrity, c.xenc, c.xinteg)
				}
			}
			if c.xenc == xfrm.TripleDESCBC && !strings.Contains(strings.Join(p.a.kernel.Render(), "\n"), "enc cbc(des3_ede)") {
				t.Errorf("kernel:\n%s", strings.Join(p.a.kernel.Render(), "\n"))
			}
			if !c.pfsRekey {
				return
			}
			oldIn := spisOf(p.a, xfrm.In)
			p.clk.Advance(51*time.Minute + time.Second)
			checkRekeyed(t, p, oldIn)
			if got := established(t, p.a).Children[0].Proposal; got != c.wantRekeyedESP {
				t.Errorf("rekeyed CHILD_SA %q, want %q", got, c.wantRekeyedESP)
			}
		})
	}
}

// A peer that offers only a weak group is refused by a conn that does not
// name it: strong defaults stay as they were.
func TestHandshakeLegacyNotByDefault(t *testing.T) {
	ikeProps, _, err := config.ParseProposals("3des-sha1-modp1024!", config.ProposalIKE)
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].IKE = ikeProps
		b.Connections[0].IKE = config.DefaultIKEProposals()
	})
	if err := p.initiate(t); err == nil {
		t.Fatal("a default conn accepted 3DES/SHA1/MODP_1024")
	}
	if len(p.b.kernel.States()) != 0 {
		t.Error("states installed")
	}
}
