package auth

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// The path the engine takes for a certificate peer: responder chooses its
// chain from the initiator's CERTREQ, signs; initiator verifies it all.
func TestCertAuthEndToEnd(t *testing.T) {
	for _, kt := range []authtest.KeyType{authtest.ECDSAP256, authtest.ECDSAP384, authtest.RSA2048, authtest.Ed25519} {
		t.Run(kt.String(), func(t *testing.T) {
			pk := newPKI(t, authtest.Options{})
			sun := authtest.Must(pk.inter.Issue(authtest.Options{
				Subject:     pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "sun"},
				DNSNames:    []string{"sun.example.org"},
				IPAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.2")},
				Key:         kt,
			}))
			// Another credential of ours under an unrelated CA.
			otherLeaf := authtest.Must(pk.other.Issue(authtest.Options{DNSNames: []string{"sun.example.org"}}))

			// Initiator asks for its root.
			req := CertReqPayload([]*x509.Certificate{pk.root.Cert})
			cands := [][]*x509.Certificate{otherLeaf.Chain(), sun.Chain()}
			idx, certs, err := ChooseCredential(cands, []*message.CertReq{req})
			if err != nil || idx != 1 || len(certs) != 2 {
				t.Fatalf("ChooseCredential: %d, %d certs, %v", idx, len(certs), err)
			}
			key := []*authtest.Credential{otherLeaf, sun}[idx].Key
			m, data, err := Sign(key, octets, SupportedHashes(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			idType, idData := CertID(sun.Cert)
			a := CertAuth{
				Certs: certs, Roots: []*x509.Certificate{pk.root.Cert}, Now: time.Now(),
				IDType: idType, IDData: idData, Method: m, AuthData: data, Octets: octets,
			}
			leaf, err := VerifyCertAuth(a)
			if err != nil || !leaf.Equal(sun.Cert) {
				t.Fatalf("VerifyCertAuth: %v", err)
			}
			fqdn := a
			fqdn.IDType, fqdn.IDData = message.IDFQDN, []byte("sun.example.org")
			if _, err := VerifyCertAuth(fqdn); err != nil {
				t.Fatalf("FQDN identity: %v", err)
			}

			for name, mod := range map[string]func(*CertAuth) string{
				"wrong identity": func(a *CertAuth) string {
					a.IDType, a.IDData = message.IDFQDN, []byte("moon.example.org")
					return "not among"
				},
				"tampered octets": func(a *CertAuth) string {
					a.Octets = append([]byte{1}, octets...)
					return "does not verify"
				},
				"untrusted CA": func(a *CertAuth) string {
					a.Roots = []*x509.Certificate{pk.other.Cert}
					return "unknown authority"
				},
				"revoked": func(a *CertAuth) string {
					a.CRLs = []*x509.RevocationList{authtest.Must(pk.inter.CRL([]*x509.Certificate{sun.Cert}, time.Now().Add(-time.Minute), time.Now().Add(time.Hour)))}
					return "revoked"
				},
				"no certificates": func(a *CertAuth) string {
					a.Certs = nil
					return "no CERT"
				},
				"intermediate missing but configured": func(a *CertAuth) string {
					a.Certs = a.Certs[:1]
					a.Intermediates = []*x509.Certificate{pk.inter.Cert}
					return ""
				},
			} {
				b := a
				want := mod(&b)
				_, err := VerifyCertAuth(b)
				if want == "" {
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %v, want one containing %q", name, err, want)
				}
			}
		})
	}
}

func TestChooseCredential(t *testing.T) {
	if _, _, err := ChooseCredential(nil, nil); !errors.Is(err, ErrNoCredential) {
		t.Fatal(err)
	}
	pk := newPKI(t, authtest.Options{})
	idx, certs, err := ChooseCredential([][]*x509.Certificate{pk.leaf.Chain()}, nil)
	if err != nil || idx != 0 || len(certs) != 2 {
		t.Fatalf("no CERTREQ: %d %d %v", idx, len(certs), err)
	}
	if _, _, err := ChooseCredential([][]*x509.Certificate{pk.leaf.Chain()}, []*message.CertReq{{Encoding: message.CertX509Signature, Data: []byte{1}}}); err == nil {
		t.Fatal("malformed CERTREQ accepted")
	}
}
