package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// FuzzVerify feeds arbitrary methods and authentication data to Verify
// with every supported key type: it must never panic, and must never
// accept what the key did not sign (the octets are fixed, so a random
// input verifying would be a forgery).
func FuzzVerify(f *testing.F) {
	k := testKeys(f)
	names := []string{"rsa", "p256", "p384", "p521", "ed25519"}
	// Seeds: a valid AUTH for each key and method, and the RFC objects.
	for i, name := range names {
		for _, peer := range [][]message.HashAlgorithm{nil, SupportedHashes()} {
			m, data, err := Sign(k[name], octets, peer, rand.Reader)
			if err != nil {
				continue
			}
			f.Add(uint8(m), uint8(i), data)
		}
	}
	for _, a := range rfcAlgorithmIdentifiers {
		f.Add(uint8(message.AuthDigitalSignature), uint8(0), append(append([]byte{byte(len(a.alg.der))}, a.alg.der...), make([]byte, 64)...))
	}
	pubs := make([]crypto.PublicKey, len(names))
	for i, n := range names {
		pubs[i] = k[n].Public()
	}
	f.Fuzz(func(t *testing.T, method uint8, keyIndex uint8, data []byte) {
		pub := pubs[int(keyIndex)%len(pubs)]
		err := Verify(pub, message.AuthMethod(method), data, []byte("fuzz octets: not what the seeds signed"))
		if err == nil {
			t.Fatalf("random data verified: method %d key %d data %x", method, keyIndex, data)
		}
		// The parser alone, on the data as an AlgorithmIdentifier.
		_, _ = parseAlgorithmIdentifier(data)
	})
}

// FuzzParsePublicKey: never panic; anything accepted is a key Verify
// supports and re-encodes to an equal key.
func FuzzParsePublicKey(f *testing.F) {
	k := testKeys(f)
	for _, name := range []string{"rsa", "p256", "p384", "p521", "ed25519"} {
		der, err := x509.MarshalPKIXPublicKey(k[name].Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\n-----END RSA PUBLIC KEY-----\n"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKey(data)
		if err != nil {
			return
		}
		if _, err := checkPublicKey(pub); err != nil {
			t.Fatalf("accepted unsupported key: %v", err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatalf("accepted key does not re-encode: %v", err)
		}
		again, err := ParsePublicKey(der)
		if err != nil || !again.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("re-encoded key differs: %v", err)
		}
	})
}

// FuzzParseCertReqs and FuzzEqualDN cover the other peer-supplied parsers.
func FuzzEqualDN(f *testing.F) {
	f.Add([]byte{0x30, 0x00}, []byte{0x30, 0x00})
	f.Add(unhex("3021310b3009060355040613024348310f300d060355040a1306437967 6e6574"), unhex("3000"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		eq, err := EqualDN(a, b)
		if err == nil {
			if eq2, err2 := EqualDN(b, a); err2 != nil || eq2 != eq {
				t.Fatal("EqualDN is not symmetric")
			}
			if eq3, _ := EqualDN(a, a); !eq3 {
				t.Fatal("EqualDN is not reflexive")
			}
		}
		_ = printDN(a)
	})
}

func FuzzParseCertPayloads(f *testing.F) {
	f.Add(uint8(4), []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(uint8(4), []byte{})
	f.Fuzz(func(t *testing.T, enc uint8, data []byte) {
		_, _, _ = ParseCertPayloads([]*message.Cert{{Encoding: message.CertEncoding(enc), Data: data}})
		hs, err := ParseCertReqs([]*message.CertReq{{Encoding: message.CertEncoding(enc), Data: data}})
		if err == nil && enc == 4 && len(hs)*CAKeyHashSize != len(data) {
			t.Fatalf("%d hashes from %d octets", len(hs), len(data))
		}
	})
}
