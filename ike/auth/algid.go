package auth

import (
	"crypto"
	"encoding/asn1"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// keyKind is the public-key algorithm a signature algorithm needs.
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindECDSA
	kindEd25519
)

func (k keyKind) String() string {
	switch k {
	case kindRSA:
		return "RSA"
	case kindECDSA:
		return "ECDSA"
	case kindEd25519:
		return "Ed25519"
	}
	return fmt.Sprintf("key kind %d", uint8(k))
}

// sigAlg is one RFC 7427 signature algorithm: the AlgorithmIdentifier we
// send for it and what it needs of the key.
type sigAlg struct {
	name   string
	kind   keyKind
	hash   crypto.Hash // 0 for Ed25519, which signs the octets themselves
	hashID message.HashAlgorithm
	pss    bool
	der    []byte // DER AlgorithmIdentifier, RFC 7427 Appendix A
}

// Object identifiers (RFC 8017 A.2.4, RFC 5758 3.2, RFC 8410 3, RFC 5754 2).
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithS256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithS384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithS512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// The AlgorithmIdentifiers we send. The RSA and ECDSA ones are the DER
// objects of RFC 7427 Appendix A.1.2-A.1.4 and A.3.2-A.3.4 (RSA with NULL
// parameters, ECDSA with none, as RFC 8017 and RFC 5758 require); Ed25519
// is RFC 8420 Appendix A.1 (no parameters, RFC 8410 3). RSASSA-PSS with
// SHA-256 is RFC 7427 A.4.3 byte for byte; SHA-384 and SHA-512 have no
// RFC blob and are built the same way: hash and MGF1 hash equal, salt as
// long as the hash, trailerField written out.
var (
	algRSASHA256 = sigAlg{"sha256WithRSAEncryption", kindRSA, crypto.SHA256, message.HashSHA2_256, false,
		[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}}
	algRSASHA384 = sigAlg{"sha384WithRSAEncryption", kindRSA, crypto.SHA384, message.HashSHA2_384, false,
		[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00}}
	algRSASHA512 = sigAlg{"sha512WithRSAEncryption", kindRSA, crypto.SHA512, message.HashSHA2_512, false,
		[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00}}
	algPSSSHA256 = sigAlg{"RSASSA-PSS with SHA-256", kindRSA, crypto.SHA256, message.HashSHA2_256, true,
		pssAlgorithmIdentifier(oidSHA256, 32)}
	algPSSSHA384 = sigAlg{"RSASSA-PSS with SHA-384", kindRSA, crypto.SHA384, message.HashSHA2_384, true,
		pssAlgorithmIdentifier(oidSHA384, 48)}
	algPSSSHA512 = sigAlg{"RSASSA-PSS with SHA-512", kindRSA, crypto.SHA512, message.HashSHA2_512, true,
		pssAlgorithmIdentifier(oidSHA512, 64)}
	algECDSASHA256 = sigAlg{"ecdsa-with-SHA256", kindECDSA, crypto.SHA256, message.HashSHA2_256, false,
		[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}}
	algECDSASHA384 = sigAlg{"ecdsa-with-SHA384", kindECDSA, crypto.SHA384, message.HashSHA2_384, false,
		[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}}
	algECDSASHA512 = sigAlg{"ecdsa-with-SHA512", kindECDSA, crypto.SHA512, message.HashSHA2_512, false,
		[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}}
	algEd25519 = sigAlg{"Ed25519", kindEd25519, 0, message.HashIdentity, false,
		[]byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}}
)

// pssAlgorithmIdentifier builds the RSASSA-PSS AlgorithmIdentifier
// (RFC 4055 3.1) for hash h: hashAlgorithm h with NULL parameters,
// maskGenAlgorithm MGF1 with h, saltLength, and trailerField 1, the shape
// RFC 7427 A.4.3 shows.
func pssAlgorithmIdentifier(h asn1.ObjectIdentifier, saltLen int64) []byte {
	hashAlg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(h)
			b.AddASN1NULL()
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), hashAlg)
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMGF1)
					hashAlg(b)
				})
			})
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(saltLen)
			})
			b.AddASN1(cbasn1.Tag(3).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
			})
		})
	})
	return b.BytesOrPanic()
}

// parsedAlg is a received RFC 7427 AlgorithmIdentifier.
type parsedAlg struct {
	name    string
	kind    keyKind
	hash    crypto.Hash
	pss     bool
	saltLen int
}

// hashFromOID maps a SHA-2 digest OID to its hash; SHA-1 is named so the
// error can say it is refused rather than unknown.
func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	case oid.Equal(oidSHA1):
		return 0, fmt.Errorf("SHA-1 is refused as too weak")
	}
	return 0, fmt.Errorf("unsupported hash algorithm %v", oid)
}

// parseAlgorithmIdentifier decodes a received AlgorithmIdentifier
// (RFC 5280 4.1.1.2) and maps it to an algorithm we verify. Parameters
// must be what the algorithm's RFC allows: absent or NULL for RSA PKCS#1,
// absent for ECDSA (RFC 5758 3.2) and Ed25519 (RFC 8410 3), and a
// well-formed RSASSA-PSS-params for PSS (RFC 4055 3.1).
func parseAlgorithmIdentifier(der []byte) (parsedAlg, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return parsedAlg{}, fmt.Errorf("auth: malformed signature AlgorithmIdentifier")
	}
	params := seq // whatever follows the OID
	noParams := params.Empty()
	nullParams := false
	if !noParams {
		p := params
		nullParams = p.ReadASN1(new(cryptobyte.String), cbasn1.NULL) && p.Empty()
	}
	rsaParams := func(name string, h crypto.Hash) (parsedAlg, error) {
		if !noParams && !nullParams {
			return parsedAlg{}, fmt.Errorf("auth: %s AlgorithmIdentifier has unexpected parameters", name)
		}
		return parsedAlg{name: name, kind: kindRSA, hash: h}, nil
	}
	bare := func(name string, kind keyKind, h crypto.Hash) (parsedAlg, error) {
		if !noParams {
			return parsedAlg{}, fmt.Errorf("auth: %s AlgorithmIdentifier has unexpected parameters", name)
		}
		return parsedAlg{name: name, kind: kind, hash: h}, nil
	}
	switch {
	case oid.Equal(oidSHA256WithRSA):
		return rsaParams("sha256WithRSAEncryption", crypto.SHA256)
	case oid.Equal(oidSHA384WithRSA):
		return rsaParams("sha384WithRSAEncryption", crypto.SHA384)
	case oid.Equal(oidSHA512WithRSA):
		return rsaParams("sha512WithRSAEncryption", crypto.SHA512)
	case oid.Equal(oidECDSAWithS256):
		return bare("ecdsa-with-SHA256", kindECDSA, crypto.SHA256)
	case oid.Equal(oidECDSAWithS384):
		return bare("ecdsa-with-SHA384", kindECDSA, crypto.SHA384)
	case oid.Equal(oidECDSAWithS512):
		return bare("ecdsa-with-SHA512", kindECDSA, crypto.SHA512)
	case oid.Equal(oidEd25519):
		return bare("Ed25519", kindEd25519, 0)
	case oid.Equal(oidRSAPSS):
		return parsePSSParams(params)
	case oid.Equal(oidSHA1WithRSA):
		return parsedAlg{}, fmt.Errorf("auth: sha1WithRSAEncryption is refused for digital signature authentication (RFC 7427): SHA-1 is too weak")
	case oid.Equal(oidECDSAWithSHA1):
		return parsedAlg{}, fmt.Errorf("auth: ecdsa-with-SHA1 is refused for digital signature authentication (RFC 7427): SHA-1 is too weak")
	}
	return parsedAlg{}, fmt.Errorf("auth: unsupported signature algorithm %v", oid)
}

// parsePSSParams decodes RSASSA-PSS-params (RFC 4055 3.1). Every field has
// a default, but the defaults are SHA-1, so an absent hash is refused; the
// MGF must be MGF1 with the same hash (RFC 4055 3.1 recommends it and
// crypto/rsa implements no other), and the trailer field must be 1.
func parsePSSParams(params cryptobyte.String) (parsedAlg, error) {
	bad := func(what string) (parsedAlg, error) {
		return parsedAlg{}, fmt.Errorf("auth: RSASSA-PSS parameters: %s", what)
	}
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() {
		return bad("missing or malformed RSASSA-PSS-params")
	}
	tag0 := cbasn1.Tag(0).ContextSpecific().Constructed()
	tag1 := cbasn1.Tag(1).ContextSpecific().Constructed()
	tag2 := cbasn1.Tag(2).ContextSpecific().Constructed()
	tag3 := cbasn1.Tag(3).ContextSpecific().Constructed()

	var hashField, mgfField, saltField, trailerField cryptobyte.String
	var hasHash, hasMGF, hasSalt, hasTrailer bool
	if !seq.ReadOptionalASN1(&hashField, &hasHash, tag0) ||
		!seq.ReadOptionalASN1(&mgfField, &hasMGF, tag1) ||
		!seq.ReadOptionalASN1(&saltField, &hasSalt, tag2) ||
		!seq.ReadOptionalASN1(&trailerField, &hasTrailer, tag3) || !seq.Empty() {
		return bad("malformed RSASSA-PSS-params")
	}
	if !hasHash {
		return bad("hash algorithm absent, which means SHA-1: refused as too weak")
	}
	h, err := readHashAlgorithm(&hashField)
	if err != nil || !hashField.Empty() {
		if err == nil {
			err = fmt.Errorf("trailing data")
		}
		return bad(fmt.Sprintf("hash algorithm: %v", err))
	}
	if !hasMGF {
		return bad("mask generation function absent, which means MGF1 with SHA-1: refused")
	}
	var mgf cryptobyte.String
	var mgfOID asn1.ObjectIdentifier
	if !mgfField.ReadASN1(&mgf, cbasn1.SEQUENCE) || !mgfField.Empty() || !mgf.ReadASN1ObjectIdentifier(&mgfOID) {
		return bad("malformed mask generation function")
	}
	if !mgfOID.Equal(oidMGF1) {
		return bad(fmt.Sprintf("unsupported mask generation function %v", mgfOID))
	}
	mh, err := readHashAlgorithm(&mgf)
	if err != nil || !mgf.Empty() {
		if err == nil {
			err = fmt.Errorf("trailing data")
		}
		return bad(fmt.Sprintf("MGF1 hash: %v", err))
	}
	if mh != h {
		return bad(fmt.Sprintf("MGF1 hash %v differs from message hash %v", mh, h))
	}
	salt := int64(20) // RFC 4055 3.1 default
	if hasSalt {
		if !saltField.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !saltField.Empty() {
			return bad("malformed salt length")
		}
	}
	// A salt longer than any RSA key we accept could hold is nonsense;
	// crypto/rsa rejects salts that do not fit the actual key. A zero salt
	// is legal PSS (RFC 8017 9.1) but crypto/rsa reads SaltLength 0 as
	// "detect any length", which would not check what the peer declared,
	// so it is refused; no IKE implementation we know sends it.
	if salt < 1 || salt > 2048 {
		return bad(fmt.Sprintf("salt length %d unsupported (1 to 2048)", salt))
	}
	if hasTrailer {
		var t int64
		if !trailerField.ReadASN1Int64WithTag(&t, cbasn1.INTEGER) || !trailerField.Empty() {
			return bad("malformed trailer field")
		}
		if t != 1 {
			return bad(fmt.Sprintf("trailer field %d, only 1 (0xbc) is defined", t))
		}
	}
	return parsedAlg{name: "RSASSA-PSS with " + h.String(), kind: kindRSA, hash: h, pss: true, saltLen: int(salt)}, nil
}

// readHashAlgorithm reads a digest AlgorithmIdentifier whose parameters are
// absent or NULL (RFC 5754 2: both are seen on the wire).
func readHashAlgorithm(s *cryptobyte.String) (crypto.Hash, error) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, fmt.Errorf("malformed AlgorithmIdentifier")
	}
	if !seq.Empty() {
		var null cryptobyte.String
		if !seq.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !seq.Empty() {
			return 0, fmt.Errorf("unexpected parameters for %v", oid)
		}
	}
	h, err := hashFromOID(oid)
	if err != nil {
		return 0, err
	}
	return h, nil
}
