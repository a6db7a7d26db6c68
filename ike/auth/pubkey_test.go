package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

func TestParsePublicKey(t *testing.T) {
	k := testKeys(t)
	for _, name := range []string{"rsa", "p256", "p384", "p521", "ed25519"} {
		pub := k[name].Public()
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		forms := map[string][]byte{
			"DER SPKI":                 der,
			"PEM SPKI":                 pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			"PEM SPKI with whitespace": append(append([]byte("\n  "), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...), "\n\n"...),
		}
		if r, ok := pub.(*rsa.PublicKey); ok {
			forms["DER PKCS#1"] = x509.MarshalPKCS1PublicKey(r)
			forms["PEM PKCS#1"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(r)})
		}
		for form, data := range forms {
			got, err := ParsePublicKey(data)
			if err != nil {
				t.Errorf("%s %s: %v", name, form, err)
				continue
			}
			if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Errorf("%s %s: different key", name, form)
			}
			// A parsed key authenticates what its private half signs.
			m, sig, err := Sign(k[name], octets, SupportedHashes(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(got, m, sig, octets); err != nil {
				t.Errorf("%s %s: verify with parsed key: %v", name, form, err)
			}
		}
	}

	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	x25519DER, _ := x509.MarshalPKIXPublicKey(x25519.PublicKey())
	rsaDER, _ := x509.MarshalPKIXPublicKey(k["rsa"].Public())
	ca := authtest.Must(authtest.NewCA(authtest.Options{}))
	bad := []struct {
		name string
		data []byte
		err  string
	}{
		{"empty", nil, "empty"},
		{"garbage", []byte("not a key"), "neither"},
		{"P-224", p224DER, "P-224"},
		{"X25519", x25519DER, "unsupported public key type"},
		{"certificate PEM", authtest.CertPEM(ca.Cert), "not a public key"},
		{"private key PEM", authtest.Must(authtest.KeyPEM(ca.Key)), "not a public key"},
		{"two keys", append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})...), "one key per file"},
		{"broken PEM", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n"), "malformed PEM"},
		{"PEM with bad DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x00}}), "SubjectPublicKeyInfo"},
		{"truncated DER", rsaDER[:len(rsaDER)-1], "neither"},
	}
	for _, tt := range bad {
		_, err := ParsePublicKey(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
}

func TestKeyMatches(t *testing.T) {
	k := testKeys(t)
	ca := authtest.Must(authtest.NewCA(authtest.Options{Signer: k["p256"]}))
	tests := []struct {
		name string
		priv crypto.Signer
		pub  crypto.PublicKey
		want bool
	}{
		{"rsa own", k["rsa"], k["rsa"].Public(), true},
		{"rsa other", k["rsa"], k["rsa2"].Public(), false},
		{"ecdsa own", k["p256"], k["p256"].Public(), true},
		{"ecdsa other", k["p256"], k["p256b"].Public(), false},
		{"ed25519 own", k["ed25519"], k["ed25519"].Public(), true},
		{"ed25519 other", k["ed25519"], k["ed25519b"].Public(), false},
		{"type mismatch", k["rsa"], k["p256"].Public(), false},
		{"certificate", k["p256"], ca.Cert, true},
		{"certificate other key", k["p256b"], ca.Cert, false},
		{"nil pub", k["rsa"], nil, false},
		{"nil priv", nil, k["rsa"].Public(), false},
		{"nil certificate", k["rsa"], (*x509.Certificate)(nil), false},
	}
	for _, tt := range tests {
		if got := KeyMatches(tt.priv, tt.pub); got != tt.want {
			t.Errorf("%s: KeyMatches = %v", tt.name, got)
		}
	}
}

// Method/key mismatches and malformed method 14 data fail with errors that
// say what is wrong.
func TestVerifyMismatches(t *testing.T) {
	k := testKeys(t)
	sign := func(name string, peer []message.HashAlgorithm) (message.AuthMethod, []byte) {
		m, d, err := Sign(k[name], octets, peer, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return m, d
	}
	rsaM, rsaD := sign("rsa", nil)
	p256M, p256D := sign("p256", nil)
	rsa14M, rsa14D := sign("rsa", SupportedHashes())
	ec14M, ec14D := sign("p384", SupportedHashes())
	ed14M, ed14D := sign("ed25519", SupportedHashes())

	tests := []struct {
		name   string
		pub    crypto.PublicKey
		method message.AuthMethod
		data   []byte
		err    string
	}{
		{"method 1 with ECDSA key", k["p256"].Public(), rsaM, rsaD, "needs an RSA public key, have an ECDSA P-256 key"},
		{"method 9 with RSA key", k["rsa"].Public(), p256M, p256D, "needs an ECDSA public key, have an RSA-2048 key"},
		{"method 9 with P-384 key", k["p384"].Public(), p256M, p256D, "needs a key on P-256, the peer's key is on P-384"},
		{"method 10 claimed for P-256 signature", k["p256"].Public(), message.AuthECDSA384, p256D, "needs a key on P-384"},
		{"method 9 r||s too long", k["p256"].Public(), p256M, append(p256D, 0), "65 octets, want 64"},
		{"method 9 DER instead of r||s", k["p256"].Public(), p256M, ec14D[1+ec14D[0]:], "want 64"},
		{"method 14 RSA alg with ECDSA key", k["p384"].Public(), rsa14M, rsa14D, "sha512WithRSAEncryption needs an RSA public key"},
		{"method 14 ECDSA alg with RSA key", k["rsa"].Public(), ec14M, ec14D, "ecdsa-with-SHA384 needs an ECDSA public key"},
		{"method 14 Ed25519 alg with ECDSA key", k["p256"].Public(), ed14M, ed14D, "Ed25519 needs an Ed25519 public key"},
		{"method 14 empty", k["rsa"].Public(), message.AuthDigitalSignature, nil, "empty"},
		{"method 14 zero length AlgorithmIdentifier", k["rsa"].Public(), message.AuthDigitalSignature, []byte{0, 1, 2}, "length 0"},
		{"method 14 length past end", k["rsa"].Public(), message.AuthDigitalSignature, rsa14D[:10], "exceeds"},
		{"method 14 no signature", k["rsa"].Public(), message.AuthDigitalSignature, rsa14D[:1+rsa14D[0]], "empty signature"},
		{"method 14 sha1WithRSAEncryption", k["rsa"].Public(), message.AuthDigitalSignature,
			append([]byte{15}, append(unhex("300d 0609 2a86 4886 f70d 0101 0505 00"), rsaD...)...), "SHA-1"},
		{"PSK method", k["rsa"].Public(), message.AuthSharedKey, []byte{1}, "VerifyPSKAuth"},
		{"NULL auth", k["rsa"].Public(), message.AuthNull, nil, "unsupported authentication method"},
		{"DSS", k["rsa"].Public(), message.AuthDSS, rsaD, "unsupported authentication method"},
		{"nil key", nil, rsaM, rsaD, "have no key"},
		{"nil RSA key", (*rsa.PublicKey)(nil), rsaM, rsaD, "empty RSA key"},
		{"nil ECDSA key", (*ecdsa.PublicKey)(nil), p256M, p256D, "empty ECDSA key"},
	}
	for _, tt := range tests {
		err := Verify(tt.pub, tt.method, tt.data, octets)
		if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
	// The SHA-1 method 1 signature itself is sound: it verifies as method 1.
	if err := Verify(k["rsa"].Public(), rsaM, rsaD, octets); err != nil {
		t.Fatal(err)
	}
}
