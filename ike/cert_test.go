package ike_test

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// pki is a CA with one certificate per side.
type pki struct {
	ca        *authtest.Credential
	sun, moon *authtest.Credential // a and b
}

func newPKI(t testing.TB, k authtest.KeyType) *pki {
	t.Helper()
	ca, err := authtest.NewCA(authtest.Options{Subject: pkix.Name{CommonName: "cygnet test CA"}, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string, addr netip.Addr) *authtest.Credential {
		c, err := ca.Issue(authtest.Options{
			Subject:  pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: name},
			DNSNames: []string{name + ".example.org"}, IPAddresses: []netip.Addr{addr}, Key: k,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return &pki{ca: ca, sun: issue("sun", addrA), moon: issue("moon", addrB)}
}

// useCerts configures both sides for certificate authentication.
func (p *pki) useCerts(a, b *ike.Config) {
	for _, x := range []struct {
		cfg        *ike.Config
		mine, peer *authtest.Credential
	}{{a, p.sun, p.moon}, {b, p.moon, p.sun}} {
		c := &x.cfg.Connections[0]
		c.Local.Auth, c.Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
		c.Local.Cert = x.mine.Cert
		c.Remote.ID = ike.Identity{Type: message.IDDERASN1DN, Data: x.peer.Cert.RawSubject}
		x.cfg.Credentials = ike.Credentials{
			PrivateKeys: []crypto.Signer{x.mine.Key},
			CACerts:     []*x509.Certificate{p.ca.Cert},
		}
	}
}

func TestHandshakeCertificates(t *testing.T) {
	for _, k := range []authtest.KeyType{authtest.ECDSAP256, authtest.ECDSAP384, authtest.RSA2048} {
		t.Run(k.String(), func(t *testing.T) {
			pk := newPKI(t, k)
			p := newPair(t, pk.useCerts)
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			sa, sb := established(t, p.a), established(t, p.b)
			if sa.RemoteID.String() != "C=CH, O=Cygnet, CN=moon" || sb.RemoteID.String() != "C=CH, O=Cygnet, CN=sun" {
				t.Errorf("IDs %v / %v", sa.RemoteID, sb.RemoteID)
			}
			if sa.RemoteAuth != ike.AuthPubkey {
				t.Errorf("auth %v", sa.RemoteAuth)
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			// The responder asks for certificates from our CA in its
			// IKE_SA_INIT response (RFC 7296 3.7).
			sawCertReq := false
			for _, pk := range p.link.sentFrom(addrB) {
				m, err := message.DecodeMessage(pk.Data)
				if err == nil && m.Header.Exchange == message.IKESAInit && m.Payloads.First(message.PayloadCERTREQ) != nil {
					sawCertReq = true
				}
			}
			if !sawCertReq {
				t.Error("no CERTREQ in the IKE_SA_INIT response")
			}
		})
	}
}

func TestCertificateFailures(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(pk *pki, a, b *ike.Config)
		wantLog string // in the responder's log
	}{
		{"wrong remote id", func(pk *pki, a, b *ike.Config) {
			a.Connections[0].Remote.ID = ike.Identity{Type: message.IDFQDN, Data: []byte("venus.example.org")}
		}, "asked for venus.example.org"},
		{"unknown CA", func(pk *pki, a, b *ike.Config) {
			other := newPKI(t, authtest.ECDSAP256)
			b.Credentials.CACerts = []*x509.Certificate{other.ca.Cert}
		}, "unknown authority"},
		{"revoked", func(pk *pki, a, b *ike.Config) {
			now := time.Now()
			crl, err := pk.ca.CRL([]*x509.Certificate{pk.sun.Cert}, now.Add(-time.Hour), now.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			b.Credentials.CRLs = []*x509.RevocationList{crl}
		}, "revoked by CA"},
		{"peer uses psk", func(pk *pki, a, b *ike.Config) {
			c := &a.Connections[0]
			c.Local.Auth = ike.AuthPSK
			c.Local.ID = ike.Identity{Type: message.IDDERASN1DN, Data: pk.sun.Cert.RawSubject}
			a.Credentials.SharedKeys = []ike.SharedKey{{Secret: psk}}
		}, "expects a signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pk := newPKI(t, authtest.ECDSAP256)
			p := newPair(t, func(a, b *ike.Config) {
				pk.useCerts(a, b)
				c.mutate(pk, a, b)
			})
			err := p.initiate(t)
			if err == nil || !strings.Contains(err.Error(), "authentication failed") {
				t.Fatalf("Initiate: %v, want authentication failed", err)
			}
			for _, s := range []*side{p.a, p.b} {
				if len(s.kernel.States()) != 0 || s.kernel.Larval() != 0 {
					t.Errorf("kernel not clean: %v", s.kernel.Render())
				}
			}
			if log := p.b.log.String(); !strings.Contains(log, c.wantLog) {
				t.Errorf("responder log lacks %q:\n%s", c.wantLog, log)
			}
		})
	}
}

func TestRawPublicKeys(t *testing.T) {
	for _, k := range []authtest.KeyType{authtest.ECDSAP256, authtest.RSA2048} {
		t.Run(k.String(), func(t *testing.T) {
			ka, kb := authtest.Must(authtest.NewKey(k)), authtest.Must(authtest.NewKey(k))
			p := newPair(t, func(a, b *ike.Config) {
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
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			if got := established(t, p.b).RemoteID.String(); got != "sun.example.org" {
				t.Errorf("remote ID %q", got)
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		ka, kb, kc := authtest.Must(authtest.NewKey(authtest.ECDSAP256)), authtest.Must(authtest.NewKey(authtest.ECDSAP256)), authtest.Must(authtest.NewKey(authtest.ECDSAP256))
		p := newPair(t, func(a, b *ike.Config) {
			a.Connections[0].Local.Auth, a.Connections[0].Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
			a.Connections[0].Local.SigKey, a.Connections[0].Remote.SigKey = ka.Public(), kb.Public()
			a.Credentials.PrivateKeys = []crypto.Signer{ka}
			b.Connections[0].Local.Auth, b.Connections[0].Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
			b.Connections[0].Local.SigKey, b.Connections[0].Remote.SigKey = kb.Public(), kc.Public() // not a's key
			b.Credentials.PrivateKeys = []crypto.Signer{kb}
		})
		err := p.initiate(t)
		if err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
			t.Fatalf("Initiate: %v", err)
		}
		if !strings.Contains(p.b.log.String(), "authentication failed") {
			t.Errorf("responder log:\n%s", p.b.log.String())
		}
	})
}
