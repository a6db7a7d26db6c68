package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Keys are generated once per test binary: RSA generation is slow on the
// shared build machine.
var (
	keysOnce sync.Once
	keys     map[string]crypto.Signer
)

func testKeys(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]crypto.Signer{}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys["rsa"] = r
		r2, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys["rsa2"] = r2
		for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521(), "p256b": elliptic.P256()} {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				panic(err)
			}
			keys[name] = k
		}
		_, e, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keys["ed25519"] = e
		_, e2, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keys["ed25519b"] = e2
	})
	return keys
}

var octets = []byte("RealMessage1 | NonceRData | prf(SK_pi, IDi') -- stand-in signed octets")

var allHashes = []message.HashAlgorithm{message.HashSHA1, message.HashSHA2_256, message.HashSHA2_384, message.HashSHA2_512, message.HashIdentity}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name       string
		key        string
		peer       []message.HashAlgorithm
		pss        bool
		wantMethod message.AuthMethod
		wantAlgID  []byte // AlgorithmIdentifier for method 14
		sigLen     int    // exact signature length, 0 to skip
	}{
		{"rsa classic", "rsa", nil, false, message.AuthRSASig, nil, 256},
		{"rsa pss ignored for classic", "rsa", nil, true, message.AuthRSASig, nil, 256},
		{"rsa 7427 strongest", "rsa", allHashes, false, message.AuthDigitalSignature, algRSASHA512.der, 256},
		{"rsa 7427 sha256 only", "rsa", []message.HashAlgorithm{message.HashSHA2_256}, false, message.AuthDigitalSignature, algRSASHA256.der, 256},
		{"rsa 7427 sha384", "rsa", []message.HashAlgorithm{message.HashSHA2_256, message.HashSHA2_384}, false, message.AuthDigitalSignature, algRSASHA384.der, 256},
		{"rsa pss 512", "rsa", allHashes, true, message.AuthDigitalSignature, algPSSSHA512.der, 256},
		{"rsa pss 384", "rsa", []message.HashAlgorithm{message.HashSHA2_384}, true, message.AuthDigitalSignature, algPSSSHA384.der, 256},
		{"rsa pss 256", "rsa", []message.HashAlgorithm{message.HashSHA2_256}, true, message.AuthDigitalSignature, algPSSSHA256.der, 256},
		{"rsa sha1 only falls back", "rsa", []message.HashAlgorithm{message.HashSHA1}, false, message.AuthRSASig, nil, 256},
		{"p256 classic", "p256", nil, false, message.AuthECDSA256, nil, 64},
		{"p384 classic", "p384", nil, false, message.AuthECDSA384, nil, 96},
		{"p521 classic", "p521", nil, false, message.AuthECDSA521, nil, 132},
		{"p256 7427", "p256", allHashes, false, message.AuthDigitalSignature, algECDSASHA256.der, 0},
		{"p384 7427", "p384", allHashes, false, message.AuthDigitalSignature, algECDSASHA384.der, 0},
		{"p521 7427", "p521", allHashes, false, message.AuthDigitalSignature, algECDSASHA512.der, 0},
		{"p256 7427 peer lacks sha256", "p256", []message.HashAlgorithm{message.HashSHA2_384}, false, message.AuthDigitalSignature, algECDSASHA384.der, 0},
		{"p521 7427 peer lacks sha512", "p521", []message.HashAlgorithm{message.HashSHA2_256, message.HashSHA2_384}, false, message.AuthDigitalSignature, algECDSASHA384.der, 0},
		{"p384 identity only falls back", "p384", []message.HashAlgorithm{message.HashIdentity}, false, message.AuthECDSA384, nil, 96},
		{"ed25519", "ed25519", allHashes, false, message.AuthDigitalSignature, algEd25519.der, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := k[tt.key]
			m, data, err := SignWithOptions(key, octets, tt.peer, rand.Reader, Options{RSAPSS: tt.pss})
			if err != nil {
				t.Fatalf("SignWithOptions: %v", err)
			}
			if m != tt.wantMethod {
				t.Fatalf("method %v, want %v", m, tt.wantMethod)
			}
			sig := data
			if m == message.AuthDigitalSignature {
				if int(data[0]) != len(tt.wantAlgID) || !bytes.Equal(data[1:1+len(tt.wantAlgID)], tt.wantAlgID) {
					t.Fatalf("AlgorithmIdentifier % x, want % x", data[1:1+int(data[0])], tt.wantAlgID)
				}
				sig = data[1+len(tt.wantAlgID):]
			}
			if tt.sigLen != 0 && len(sig) != tt.sigLen {
				t.Fatalf("signature of %d octets, want %d", len(sig), tt.sigLen)
			}
			if err := Verify(key.Public(), m, data, octets); err != nil {
				t.Fatalf("Verify: %v", err)
			}

			// Tampered octets.
			bad := bytes.Clone(octets)
			bad[3] ^= 1
			if err := Verify(key.Public(), m, data, bad); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered octets: %v, want ErrSignature", err)
			}
			// Tampered signature (last octet: inside the signature for
			// every method).
			badSig := bytes.Clone(data)
			badSig[len(badSig)-1] ^= 0x40
			if err := Verify(key.Public(), m, badSig, octets); err == nil {
				t.Errorf("tampered signature verified")
			}
			// Truncated data.
			if err := Verify(key.Public(), m, data[:len(data)-1], octets); err == nil {
				t.Errorf("truncated signature verified")
			}
			// Wrong key of the same type.
			other := map[string]string{"rsa": "rsa2", "p256": "p256b", "p384": "p256", "p521": "p256", "ed25519": "ed25519b"}[tt.key]
			if err := Verify(k[other].Public(), m, data, octets); err == nil {
				t.Errorf("verified with the wrong key %s", other)
			}
		})
	}
}

// Sign must give PKCS#1 v1.5 by default, as strongSwan does.
func TestSignDefaultIsPKCS1(t *testing.T) {
	k := testKeys(t)
	m, data, err := Sign(k["rsa"], octets, []message.HashAlgorithm{message.HashSHA2_256}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if m != message.AuthDigitalSignature || !bytes.Equal(data[1:1+len(algRSASHA256.der)], algRSASHA256.der) {
		t.Fatalf("method %v data % x", m, data[:20])
	}
	// PKCS#1 v1.5 is deterministic: the signature must equal crypto/rsa's.
	h := crypto.SHA256.New()
	h.Write(octets)
	want, err := rsa.SignPKCS1v15(nil, k["rsa"].(*rsa.PrivateKey), crypto.SHA256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[1+len(algRSASHA256.der):], want) {
		t.Fatal("signature differs from RSASSA-PKCS1-v1_5 SHA-256")
	}
}

// Method 1 signatures must be RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 3.8).
func TestMethod1IsPKCS1SHA1(t *testing.T) {
	k := testKeys(t)
	_, data, err := Sign(k["rsa"], octets, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := crypto.SHA1.New()
	h.Write(octets)
	if err := rsa.VerifyPKCS1v15(&k["rsa"].(*rsa.PrivateKey).PublicKey, crypto.SHA1, h.Sum(nil), data); err != nil {
		t.Fatalf("not PKCS#1 v1.5 SHA-1: %v", err)
	}
}

// RFC 4754 7: r||s, fixed width; check against crypto/ecdsa directly.
func TestClassicECDSAIsRS(t *testing.T) {
	k := testKeys(t)
	for _, name := range []string{"p256", "p384", "p521"} {
		key := k[name].(*ecdsa.PrivateKey)
		m, data, err := Sign(key, octets, nil, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c := curveForMethod(m)
		h := c.hash.New()
		h.Write(octets)
		r, s := new(big.Int).SetBytes(data[:c.size]), new(big.Int).SetBytes(data[c.size:])
		if !ecdsa.Verify(&key.PublicKey, h.Sum(nil), r, s) {
			t.Errorf("%s: r||s does not verify with crypto/ecdsa", name)
		}
	}
}

func TestSignErrors(t *testing.T) {
	k := testKeys(t)
	if _, _, err := Sign(k["ed25519"], octets, nil, rand.Reader); err == nil || !strings.Contains(err.Error(), "Identity") {
		t.Errorf("Ed25519 without RFC 7427: %v", err)
	}
	if _, _, err := Sign(k["ed25519"], octets, []message.HashAlgorithm{message.HashSHA2_256}, rand.Reader); err == nil {
		t.Errorf("Ed25519 without Identity hash signed")
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Sign(p224, octets, nil, rand.Reader); err == nil || !strings.Contains(err.Error(), "P-224") {
		t.Errorf("P-224: %v", err)
	}
	if _, _, err := Sign(nil, octets, nil, rand.Reader); err == nil {
		t.Errorf("nil key signed")
	}
}

func TestSupportedHashes(t *testing.T) {
	got := SupportedHashes()
	want := []message.HashAlgorithm{2, 3, 4, 5} // RFC 7427 4, RFC 8420 2
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	got[0] = 99 // callers get their own copy
	if SupportedHashes()[0] != message.HashSHA2_256 {
		t.Fatal("SupportedHashes shares its slice")
	}
}

// RSA-1024 cannot carry PSS with SHA-512 and a 64-octet salt (RFC 8017
// 9.1.1: 2*64+2 > 128); Sign must step down to SHA-384.
func TestSignPSSSmallKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	m, data, err := SignWithOptions(key, octets, SupportedHashes(), rand.Reader, Options{RSAPSS: true})
	if err != nil {
		t.Fatal(err)
	}
	if m != message.AuthDigitalSignature || !bytes.Equal(data[1:1+int(data[0])], algPSSSHA384.der) {
		t.Fatalf("method %v, AlgorithmIdentifier % x", m, data[1:1+int(data[0])])
	}
	if err := Verify(&key.PublicKey, m, data, octets); err != nil {
		t.Fatal(err)
	}
}
