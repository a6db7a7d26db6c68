package auth

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The AlgorithmIdentifier objects of RFC 7427 Appendix A ("ASN.1 Objects")
// and RFC 8420 Appendix A.1, as printed there ("0000: 300d 0609 ...").
// A.1.2-A.1.4: sha{256,384,512}WithRSAEncryption, parameters NULL.
// A.3.2-A.3.4: ecdsa-with-sha{256,384,512}, parameters absent.
// A.4.3: RSASSA-PSS with SHA-256 (hash SHA-256, MGF1 with SHA-256, salt
// 32, trailerField 1), length 72.
// RFC 8420 A.1: id-Ed25519, parameters absent, length 7.
var rfcAlgorithmIdentifiers = []struct {
	source string
	alg    sigAlg
	hex    string
}{
	{"RFC 7427 A.1.2", algRSASHA256, "300d 0609 2a86 4886 f70d 0101 0b05 00"},
	{"RFC 7427 A.1.3", algRSASHA384, "300d 0609 2a86 4886 f70d 0101 0c05 00"},
	{"RFC 7427 A.1.4", algRSASHA512, "300d 0609 2a86 4886 f70d 0101 0d05 00"},
	{"RFC 7427 A.3.2", algECDSASHA256, "300a 0608 2a86 48ce 3d04 0302"},
	{"RFC 7427 A.3.3", algECDSASHA384, "300a 0608 2a86 48ce 3d04 0303"},
	{"RFC 7427 A.3.4", algECDSASHA512, "300a 0608 2a86 48ce 3d04 0304"},
	{"RFC 7427 A.4.3", algPSSSHA256, "3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20a3 0302 0101"},
	{"RFC 8420 A.1", algEd25519, "3005 0603 2b65 70"},
}

func TestAlgorithmIdentifiersMatchRFC(t *testing.T) {
	for _, tt := range rfcAlgorithmIdentifiers {
		want := unhex(tt.hex)
		if !bytes.Equal(tt.alg.der, want) {
			t.Errorf("%s %s:\n got % x\nwant % x", tt.source, tt.alg.name, tt.alg.der, want)
		}
		// And what we send parses back to the same algorithm.
		p, err := parseAlgorithmIdentifier(want)
		if err != nil {
			t.Errorf("%s: parse: %v", tt.source, err)
			continue
		}
		if p.kind != tt.alg.kind || p.hash != tt.alg.hash || p.pss != tt.alg.pss {
			t.Errorf("%s: parsed %+v", tt.source, p)
		}
	}
}

// The SHA-384/512 PSS objects have no RFC blob; check their structure by
// hand against RFC 4055 3.1 field by field.
func TestPSSAlgorithmIdentifiers(t *testing.T) {
	for _, tt := range []struct {
		alg  sigAlg
		hash byte // last arc of the NIST hash OID
		salt byte
	}{
		{algPSSSHA256, 1, 32}, {algPSSSHA384, 2, 48}, {algPSSSHA512, 3, 64},
	} {
		hashAlg := []byte{0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, tt.hash, 0x05, 0x00}
		var params []byte
		params = append(params, 0xa0, byte(len(hashAlg)))
		params = append(params, hashAlg...)
		mgf := append([]byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08}, hashAlg...)
		params = append(params, 0xa1, byte(len(mgf)+2), 0x30, byte(len(mgf)))
		params = append(params, mgf...)
		params = append(params, 0xa2, 0x03, 0x02, 0x01, tt.salt)
		params = append(params, 0xa3, 0x03, 0x02, 0x01, 0x01)
		body := append([]byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, byte(len(params))}, params...)
		want := append([]byte{0x30, byte(len(body))}, body...)
		if !bytes.Equal(tt.alg.der, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.alg.name, tt.alg.der, want)
		}
		p, err := parseAlgorithmIdentifier(tt.alg.der)
		if err != nil || !p.pss || p.hash != tt.alg.hash || p.saltLen != int(tt.salt) {
			t.Errorf("%s: parsed %+v, %v", tt.alg.name, p, err)
		}
	}
}

func TestParseAlgorithmIdentifierVariants(t *testing.T) {
	ok := []struct {
		name string
		hex  string
		hash crypto.Hash
		salt int
	}{
		// Same as A.4.3 without the (default) trailerField, as DER
		// strictly wants and some peers send.
		{"pss sha256 no trailer", "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20", crypto.SHA256, 32},
		// Hash parameters absent rather than NULL, salt absent (default 20).
		{"pss sha256 absent params default salt", "303806092a864886f70d01010a302ba00d300b0609608648016503040201a11a301806092a864886f70d010108300b0609608648016503040201", crypto.SHA256, 20},
		// RSA PKCS#1 with parameters absent.
		{"rsa sha256 absent params", "300b 0609 2a86 4886 f70d 0101 0b", crypto.SHA256, 0},
	}
	for _, tt := range ok {
		p, err := parseAlgorithmIdentifier(unhex(tt.hex))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if p.hash != tt.hash || p.saltLen != tt.salt {
			t.Errorf("%s: parsed %+v", tt.name, p)
		}
	}

	bad := []struct {
		name, hex, errPart string
	}{
		{"sha1WithRSAEncryption (RFC 7427 A.1.1)", "300d 0609 2a86 4886 f70d 0101 0505 00", "SHA-1"},
		{"ecdsa-with-sha1 (RFC 7427 A.3.1)", "3009 0607 2a86 48ce 3d04 01", "SHA-1"},
		{"pss empty params (RFC 7427 A.4.1: SHA-1 defaults)", "300d 0609 2a86 4886 f70d 0101 0a30 00", "SHA-1"},
		{"pss sha1 hash", "303006092a864886f70d01010a3023a009300706052b0e03021aa116301406092a864886f70d010108300706052b0e03021a", "SHA-1"},
		{"pss mgf hash differs", "3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0202 0500 a203 0201 20a3 0302 0101", "differs"},
		{"pss trailer 2", "3046 0609 2a86 4886 f70d 0101 0a30 39a0 0f30 0d06 0960 8648 0165 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20a3 0302 0102", "trailer"},
		{"pss salt 0", "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020100", "salt length 0"},
		{"pss without params", "300b 0609 2a86 4886 f70d 0101 0a", "RSASSA-PSS"},
		{"dsa-with-sha256 (RFC 7427 A.2.2)", "300b 0609 6086 4801 6503 0403 02", "unsupported"},
		{"ecdsa with NULL params", "300c 0608 2a86 48ce 3d04 0302 0500", "parameters"},
		{"rsa with junk params", "300e 0609 2a86 4886 f70d 0101 0b02 0100", "parameters"},
		{"trailing data", "300d 0609 2a86 4886 f70d 0101 0b05 0000", "malformed"},
		{"not a sequence", "0609 2a86 4886 f70d 0101 0b", "malformed"},
		{"empty", "", "malformed"},
	}
	for _, tt := range bad {
		_, err := parseAlgorithmIdentifier(unhex(tt.hex))
		if err == nil || !strings.Contains(err.Error(), tt.errPart) || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.errPart)
		}
	}
}

// A peer that sends PSS without the trailerField, or with a salt length
// other than ours, must still verify: the parameters say what was used.
func TestVerifyPSSForeignParams(t *testing.T) {
	key := testKeys(t)["rsa"].(*rsa.PrivateKey)
	h := crypto.SHA256.New()
	h.Write(octets)
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, h.Sum(nil), &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	algID := unhex("303806092a864886f70d01010a302ba00d300b0609608648016503040201a11a301806092a864886f70d010108300b0609608648016503040201")
	data := append(append([]byte{byte(len(algID))}, algID...), sig...)
	if err := Verify(&key.PublicKey, message.AuthDigitalSignature, data, octets); err != nil {
		t.Fatalf("salt 20 default: %v", err)
	}
	// Same signature claimed with salt 32 must fail.
	withSalt32 := unhex("3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0201 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 0500 a203 0201 20")
	data = append(append([]byte{byte(len(withSalt32))}, withSalt32...), sig...)
	if err := Verify(&key.PublicKey, message.AuthDigitalSignature, data, octets); err == nil {
		t.Fatal("salt length mismatch verified")
	}
}
