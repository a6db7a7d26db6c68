package authtest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

func TestChainVerifiesWithStdlib(t *testing.T) {
	for _, kt := range []KeyType{ECDSAP256, RSA2048, Ed25519} {
		t.Run(kt.String(), func(t *testing.T) {
			ca := Must(NewCA(Options{Subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "Root"}, Key: kt}))
			inter := Must(ca.NewIntermediate(Options{Key: kt}))
			leaf := Must(inter.Issue(Options{
				Subject:     pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "moon.example.org"},
				DNSNames:    []string{"moon.example.org"},
				IPAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
				Key:         kt,
			}))
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(ca.Cert)
			inters.AddCert(inter.Cert)
			if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "moon.example.org"}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := len(leaf.Chain()); got != 3 || leaf.Root() != ca.Cert {
				t.Fatalf("chain of %d", got)
			}
			if len(leaf.Cert.IPAddresses) != 2 || leaf.Cert.IPAddresses[0].String() != "192.0.2.1" {
				t.Fatalf("IPs %v", leaf.Cert.IPAddresses)
			}
			if leaf.Cert.IsCA || !inter.Cert.IsCA {
				t.Fatal("CA flags wrong")
			}
		})
	}
}

func TestPEM(t *testing.T) {
	ca := Must(NewCA(Options{Key: RSA2048}))
	b, _ := pem.Decode(CertPEM(ca.Cert))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatal("cert PEM")
	}
	if c, err := x509.ParseCertificate(b.Bytes); err != nil || !c.Equal(ca.Cert) {
		t.Fatalf("cert PEM round trip: %v", err)
	}
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return KeyPEM(ca.Key) },
		func() ([]byte, error) { return LegacyKeyPEM(ca.Key) },
	} {
		p, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(p)
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			t.Fatalf("type %q", b.Type)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ca.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.(crypto.Signer).Public()) {
			t.Fatal("key PEM round trip lost the key")
		}
	}
	pp, err := PublicKeyPEM(ca.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	b, _ = pem.Decode(pp)
	if pub, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil || !ca.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatalf("public key PEM: %v", err)
	}
}

func TestCRL(t *testing.T) {
	ca := Must(NewCA(Options{}))
	leaf := Must(ca.Issue(Options{DNSNames: []string{"sun"}}))
	now := time.Now()
	crl := Must(ca.CRL([]*x509.Certificate{leaf.Cert}, now, now.Add(time.Hour)))
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Fatal("revoked serial missing")
	}
	other := Must(NewKey(ECDSAP256))
	forged := Must(ca.CRLSignedBy(other, nil, now, now.Add(time.Hour)))
	if err := forged.CheckSignatureFrom(ca.Cert); err == nil {
		t.Fatal("forged CRL verifies")
	}
	if b, _ := pem.Decode(CRLPEM(crl)); b == nil || b.Type != "X509 CRL" {
		t.Fatal("CRL PEM")
	}
}

func TestIPsecD(t *testing.T) {
	ca := Must(NewCA(Options{}))
	inter := Must(ca.NewIntermediate(Options{}))
	for _, kt := range []KeyType{RSA2048, ECDSAP384, Ed25519} {
		leaf := Must(inter.Issue(Options{DNSNames: []string{"moon"}, Key: kt}))
		files, err := leaf.IPsecD("moon")
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 4 {
			t.Fatalf("%v: %d files", kt, len(files))
		}
		for path, want := range map[string]*x509.Certificate{"certs/moon.pem": leaf.Cert, "cacerts/moon-ca1.pem": inter.Cert, "cacerts/moon-ca2.pem": ca.Cert} {
			b, _ := pem.Decode(files[path])
			if b == nil || !bytes.Equal(b.Bytes, want.Raw) {
				t.Errorf("%v: %s is not the expected certificate", kt, path)
			}
		}
		b, _ := pem.Decode(files["private/moon.pem"])
		wantType := map[KeyType]string{RSA2048: "RSA PRIVATE KEY", ECDSAP384: "EC PRIVATE KEY", Ed25519: "PRIVATE KEY"}[kt]
		if b == nil || b.Type != wantType {
			t.Errorf("%v: private key PEM %v", kt, b)
		}
		wantLine := map[KeyType]string{RSA2048: ": RSA moon.pem", ECDSAP384: ": ECDSA moon.pem", Ed25519: ": PKCS8 moon.pem"}[kt]
		if got := leaf.SecretsLine("moon"); got != wantLine {
			t.Errorf("%v: %q", kt, got)
		}
	}
}

// OpenSSL (whose libcrypto strongSwan's openssl plugin uses) must accept
// what we write for strongSwan: the chain, the CRL and every key file.
func TestOpenSSLAcceptsFiles(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		vmtest.RequireInstalled(t, fmt.Errorf("openssl not installed (Debian package openssl): %w", err))
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		return string(out), err
	}
	for _, kt := range []KeyType{ECDSAP256, ECDSAP521, RSA2048, Ed25519} {
		ca := Must(NewCA(Options{Key: kt}))
		inter := Must(ca.NewIntermediate(Options{Key: kt}))
		leaf := Must(inter.Issue(Options{DNSNames: []string{"moon.example.org"}, Key: kt, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}))
		caF, interF, leafF := write("ca.pem", CertPEM(ca.Cert)), write("inter.pem", CertPEM(inter.Cert)), write("leaf.pem", CertPEM(leaf.Cert))
		if out, err := run("verify", "-x509_strict", "-CAfile", caF, "-untrusted", interF, leafF); err != nil {
			t.Fatalf("%v: openssl verify: %v\n%s", kt, err, out)
		}
		now := time.Now()
		crlF := write("crl.pem", CRLPEM(Must(inter.CRL([]*x509.Certificate{leaf.Cert}, now.Add(-time.Minute), now.Add(time.Hour)))))
		rootCRLF := write("rootcrl.pem", CRLPEM(Must(ca.CRL(nil, now.Add(-time.Minute), now.Add(time.Hour)))))
		out, err := run("verify", "-crl_check_all", "-CAfile", caF, "-untrusted", interF, "-CRLfile", crlF, "-CRLfile", rootCRLF, leafF)
		if err == nil || !strings.Contains(out, "revoked") {
			t.Fatalf("%v: openssl did not see the revocation: %v\n%s", kt, err, out)
		}
		for _, enc := range []func(crypto.Signer) ([]byte, error){KeyPEM, LegacyKeyPEM} {
			keyF := write("key.pem", Must(enc(leaf.Key)))
			pubOut, err := run("pkey", "-in", keyF, "-pubout")
			if err != nil {
				t.Fatalf("%v: openssl pkey: %v\n%s", kt, err, pubOut)
			}
			want := string(Must(PublicKeyPEM(leaf.Key.Public())))
			if pubOut != want {
				t.Fatalf("%v: openssl derives another public key:\n%s\nwant\n%s", kt, pubOut, want)
			}
		}
	}
}
