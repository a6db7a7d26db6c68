package auth

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// pki is a root → intermediate → leaf hierarchy plus an unrelated root.
type pki struct {
	root, inter, leaf, other *authtest.Credential
}

func newPKI(t *testing.T, leafOpts authtest.Options) pki {
	t.Helper()
	root, err := authtest.NewCA(authtest.Options{Subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "Cygnet Root CA"}})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate(authtest.Options{Subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "Cygnet Intermediate CA"}})
	if err != nil {
		t.Fatal(err)
	}
	if leafOpts.Subject.CommonName == "" {
		leafOpts.Subject = pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "moon.example.org"}
		leafOpts.DNSNames = []string{"moon.example.org"}
		leafOpts.IPAddresses = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	}
	leaf, err := inter.Issue(leafOpts)
	if err != nil {
		t.Fatal(err)
	}
	other, err := authtest.NewCA(authtest.Options{Subject: pkix.Name{CommonName: "Other Root CA"}})
	if err != nil {
		t.Fatal(err)
	}
	return pki{root, inter, leaf, other}
}

func TestVerifyChain(t *testing.T) {
	p := newPKI(t, authtest.Options{})
	now := time.Now()
	crl := func(ca *authtest.Credential, revoked ...*x509.Certificate) *x509.RevocationList {
		return authtest.Must(ca.CRL(revoked, now.Add(-time.Hour), now.Add(time.Hour)))
	}
	expiredLeaf := authtest.Must(p.inter.Issue(authtest.Options{
		Subject:   pkix.Name{CommonName: "expired"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
	}))
	ekuServer := authtest.Must(p.inter.Issue(authtest.Options{Subject: pkix.Name{CommonName: "server"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}))
	ekuClient := authtest.Must(p.inter.Issue(authtest.Options{Subject: pkix.Name{CommonName: "client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}))
	ekuIKE := authtest.Must(p.inter.Issue(authtest.Options{Subject: pkix.Name{CommonName: "ike"}, UnknownExtKeyUsage: []asn1.ObjectIdentifier{OIDExtKeyUsageIPsecIKE}}))
	ekuEmail := authtest.Must(p.inter.Issue(authtest.Options{Subject: pkix.Name{CommonName: "mail"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}))
	forgedCRL := authtest.Must(p.inter.CRLSignedBy(p.other.Key, []*x509.Certificate{}, now.Add(-time.Hour), now.Add(time.Hour)))
	expiredCRL := authtest.Must(p.inter.CRL(nil, now.Add(-3*time.Hour), now.Add(-time.Hour)))
	futureCRL := authtest.Must(p.inter.CRL(nil, now.Add(time.Hour), now.Add(2*time.Hour)))

	inters := []*x509.Certificate{p.inter.Cert}
	roots := []*x509.Certificate{p.root.Cert}
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		inters  []*x509.Certificate
		roots   []*x509.Certificate
		crls    []*x509.RevocationList
		wantErr string // "" for success
	}{
		{"valid", p.leaf.Cert, inters, roots, nil, ""},
		{"valid with clean CRLs", p.leaf.Cert, inters, roots, []*x509.RevocationList{crl(p.inter), crl(p.root)}, ""},
		{"valid, CRL of another CA revoking same serial is ignored", p.leaf.Cert, inters, roots, []*x509.RevocationList{crl(p.other, p.leaf.Cert)}, ""},
		{"intermediate as root", p.leaf.Cert, nil, []*x509.Certificate{p.inter.Cert}, nil, ""},
		{"missing intermediate", p.leaf.Cert, nil, roots, nil, "unknown authority"},
		{"wrong CA", p.leaf.Cert, inters, []*x509.Certificate{p.other.Cert}, nil, "unknown authority"},
		{"no CAs", p.leaf.Cert, inters, nil, nil, "no trusted CA"},
		{"expired leaf", expiredLeaf.Cert, inters, roots, nil, "expired"},
		{"revoked leaf", p.leaf.Cert, inters, roots, []*x509.RevocationList{crl(p.inter, p.leaf.Cert)}, "serial " + serialString(p.leaf.Cert) + " revoked by CA \"C=CH, O=Cygnet, CN=Cygnet Intermediate CA\""},
		{"revoked intermediate", p.leaf.Cert, inters, roots, []*x509.RevocationList{crl(p.inter), crl(p.root, p.inter.Cert)}, "revoked by CA \"C=CH, O=Cygnet, CN=Cygnet Root CA"},
		{"CRL signed by wrong key", p.leaf.Cert, inters, roots, []*x509.RevocationList{forgedCRL}, "not signed by that CA's key"},
		{"expired CRL", p.leaf.Cert, inters, roots, []*x509.RevocationList{expiredCRL}, "CRL of CA \"C=CH, O=Cygnet, CN=Cygnet Intermediate CA\" expired"},
		{"CRL not yet valid", p.leaf.Cert, inters, roots, []*x509.RevocationList{futureCRL}, "not valid before"},
		{"EKU serverAuth", ekuServer.Cert, inters, roots, nil, ""},
		{"EKU clientAuth only", ekuClient.Cert, inters, roots, nil, ""},
		{"EKU ipsecIKE only", ekuIKE.Cert, inters, roots, nil, ""},
		{"EKU emailProtection only", ekuEmail.Cert, inters, roots, nil, "extended key usage"},
		{"nil leaf", nil, inters, roots, nil, "no end-entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyChain(tt.leaf, tt.inters, tt.roots, tt.crls, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyChain: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "auth: ") {
				t.Fatalf("VerifyChain error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	// The verification time is the one given, not the wall clock.
	if err := VerifyChain(p.leaf.Cert, inters, roots, nil, now.AddDate(2, 0, 0)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("two years on: %v", err)
	}
}

func TestSerialString(t *testing.T) {
	c := &x509.Certificate{SerialNumber: big.NewInt(0x01ab02)}
	if got := serialString(c); got != "01:ab:02" {
		t.Fatal(got)
	}
}

func TestCertPayloadsAndCertReq(t *testing.T) {
	p := newPKI(t, authtest.Options{})
	chain := []*x509.Certificate{p.leaf.Cert, p.inter.Cert}
	payloads := CertPayloads(chain)
	if len(payloads) != 2 || payloads[0].Encoding != message.CertX509Signature {
		t.Fatalf("%+v", payloads)
	}
	leaf, inters, err := ParseCertPayloads(payloads)
	if err != nil || !leaf.Equal(p.leaf.Cert) || len(inters) != 1 || !inters[0].Equal(p.inter.Cert) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []struct {
		name string
		in   []*message.Cert
		err  string
	}{
		{"none", nil, "no CERT"},
		{"pkcs7", []*message.Cert{{Encoding: message.CertPKCS7X509, Data: p.leaf.Cert.Raw}}, "encoding"},
		{"garbage", []*message.Cert{CertPayload(p.leaf.Cert), {Encoding: message.CertX509Signature, Data: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}}, "CERT payload 2"},
		{"empty", []*message.Cert{{Encoding: message.CertX509Signature}}, "empty certificate"},
		{"nil", []*message.Cert{nil}, "empty"},
		{"too many", make([]*message.Cert, MaxPeerCerts+1), "at most 16"},
	} {
		if _, _, err := ParseCertPayloads(bad.in); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: %v", bad.name, err)
		}
	}

	// RFC 7296 3.7: SHA-1 of the subjectPublicKeyInfo.
	h := CAKeyHash(p.root.Cert)
	if want := sha1.Sum(p.root.Cert.RawSubjectPublicKeyInfo); h != want {
		t.Fatal("CA hash is not SHA-1 of the SPKI")
	}
	data := CertReqData([]*x509.Certificate{p.root.Cert, p.other.Cert, p.root.Cert})
	if len(data) != 40 {
		t.Fatalf("CERTREQ data of %d octets, want 40 (duplicate dropped)", len(data))
	}
	req := CertReqPayload([]*x509.Certificate{p.root.Cert, p.other.Cert})
	hashes, err := ParseCertReqs([]*message.CertReq{req, {Encoding: message.CertPGP, Data: []byte{1}}, {Encoding: message.CertX509Signature}})
	if err != nil || len(hashes) != 2 || hashes[0] != CAKeyHash(p.root.Cert) || hashes[1] != CAKeyHash(p.other.Cert) {
		t.Fatalf("ParseCertReqs: %v %x", err, hashes)
	}
	if _, err := ParseCertReqs([]*message.CertReq{{Encoding: message.CertX509Signature, Data: make([]byte, 21)}}); err == nil {
		t.Fatal("21-octet CERTREQ accepted")
	}
	if CertReqPayload(nil) != nil {
		t.Fatal("CERTREQ for no CAs")
	}
}

func TestSelectAndBuildChain(t *testing.T) {
	p := newPKI(t, authtest.Options{})
	q := newPKI(t, authtest.Options{})
	full := BuildChain(p.leaf.Cert, []*x509.Certificate{p.other.Cert, p.root.Cert, p.inter.Cert})
	if len(full) != 3 || full[1] != p.inter.Cert || full[2] != p.root.Cert {
		t.Fatalf("BuildChain gave %d certificates", len(full))
	}
	if got := BuildChain(p.leaf.Cert, nil); len(got) != 1 {
		t.Fatalf("BuildChain without pool: %d", len(got))
	}
	// A CA with the same name but another key is not an issuer.
	impostor := authtest.Must(authtest.NewCA(authtest.Options{Subject: p.inter.Cert.Subject}))
	if got := BuildChain(p.leaf.Cert, []*x509.Certificate{impostor.Cert}); len(got) != 1 {
		t.Fatal("BuildChain followed a name without checking the signature")
	}

	fullQ := BuildChain(q.leaf.Cert, []*x509.Certificate{q.root.Cert, q.inter.Cert})
	cands := [][]*x509.Certificate{full, fullQ}
	tests := []struct {
		name   string
		req    [][CAKeyHashSize]byte
		want   []*x509.Certificate
		wantOK bool
	}{
		{"no CERTREQ: first, root dropped", nil, full[:2], false},
		{"root requested", [][CAKeyHashSize]byte{CAKeyHash(p.root.Cert)}, full[:2], true},
		{"intermediate requested", [][CAKeyHashSize]byte{CAKeyHash(p.inter.Cert)}, full[:1], true},
		{"second candidate's root", [][CAKeyHashSize]byte{CAKeyHash(p.other.Cert), CAKeyHash(q.root.Cert)}, fullQ[:2], true},
		{"unknown CA: first anyway", [][CAKeyHashSize]byte{CAKeyHash(p.other.Cert)}, full[:2], false},
	}
	for _, tt := range tests {
		got, ok := SelectChain(cands, tt.req)
		if ok != tt.wantOK || len(got) != len(tt.want) {
			t.Errorf("%s: got %d certificates ok=%v", tt.name, len(got), ok)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: certificate %d differs", tt.name, i)
			}
		}
	}
	if got, ok := SelectChain(nil, nil); got != nil || ok {
		t.Fatal("SelectChain with no candidates")
	}
}
