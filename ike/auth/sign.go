package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // method 1 (RFC 7296 3.8)
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SupportedHashes returns the hash algorithms to announce in our
// SIGNATURE_HASH_ALGORITHMS notification (RFC 7427 4), in the order to send
// them: SHA2-256, SHA2-384, SHA2-512 (RFC 7427) and Identity for Ed25519
// (RFC 8420 2). SHA-1 is left out: Verify refuses it for method 14.
func SupportedHashes() []message.HashAlgorithm {
	return []message.HashAlgorithm{
		message.HashSHA2_256,
		message.HashSHA2_384,
		message.HashSHA2_512,
		message.HashIdentity,
	}
}

// Options tune Sign.
type Options struct {
	// RSAPSS signs with RSASSA-PSS instead of RSASSA-PKCS1-v1_5 when an
	// RSA key is used with RFC 7427 digital signature authentication.
	// strongSwan 5.9 uses PKCS#1 v1.5 unless told otherwise
	// (charon.rsa_pss), so that is the default here too. PSS is never
	// used for method 1, which RFC 7296 3.8 fixes to PKCS#1 v1.5.
	RSAPSS bool
}

// Sign computes the AUTH payload for octets (RFC 7296 2.15) with key,
// using default Options. See SignWithOptions.
func Sign(key crypto.Signer, octets []byte, peerHashes []message.HashAlgorithm, rand io.Reader) (message.AuthMethod, []byte, error) {
	return SignWithOptions(key, octets, peerHashes, rand, Options{})
}

// SignWithOptions computes the AUTH payload for octets (the signed octets of
// RFC 7296 2.15) with key, an *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey or any crypto.Signer with such a public key.
//
// peerHashes is what the peer announced in SIGNATURE_HASH_ALGORITHMS. When
// it shares a hash with us, the method is Digital Signature (14, RFC 7427)
// with the strongest common hash; for ECDSA the hash matching the curve
// (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512) is preferred when the peer
// has it. Ed25519 needs the peer to announce Identity (RFC 8420). Otherwise
// the classic method of the key is used: RSA Digital Signature (1) or ECDSA
// (9, 10, 11, RFC 4754); Ed25519 has none and fails.
//
// rand feeds ECDSA and PSS signing; nil means crypto/rand.
func SignWithOptions(key crypto.Signer, octets []byte, peerHashes []message.HashAlgorithm, rand io.Reader, opts Options) (message.AuthMethod, []byte, error) {
	if key == nil {
		return 0, nil, errors.New("auth: no private key")
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if alg, ok := chooseRSA(peerHashes, opts.RSAPSS, pub.Size()); ok {
			sig, err := signDigest(key, alg, octets, rand)
			if err != nil {
				return 0, nil, err
			}
			return message.AuthDigitalSignature, digitalSignature(alg, sig), nil
		}
		// RFC 7296 3.8: method 1 is RSASSA-PKCS1-v1_5; SHA-1 is the hash
		// every implementation uses with it.
		h := crypto.SHA1.New()
		h.Write(octets)
		sig, err := key.Sign(rand, h.Sum(nil), crypto.SHA1)
		if err != nil {
			return 0, nil, fmt.Errorf("auth: RSA signature: %w", err)
		}
		return message.AuthRSASig, sig, nil

	case *ecdsa.PublicKey:
		c, err := curveOf(pub)
		if err != nil {
			return 0, nil, err
		}
		if alg, ok := chooseECDSA(peerHashes, c); ok {
			sig, err := signDigest(key, alg, octets, rand)
			if err != nil {
				return 0, nil, err
			}
			return message.AuthDigitalSignature, digitalSignature(alg, sig), nil
		}
		// RFC 4754 7: the method fixes curve and hash; the signature is
		// r and s, each left-padded to the curve's octet size.
		h := c.hash.New()
		h.Write(octets)
		der, err := key.Sign(rand, h.Sum(nil), c.hash)
		if err != nil {
			return 0, nil, fmt.Errorf("auth: ECDSA signature: %w", err)
		}
		sig, err := derToRS(der, c.size)
		if err != nil {
			return 0, nil, err
		}
		return c.method, sig, nil

	case ed25519.PublicKey:
		if !slices.Contains(peerHashes, message.HashIdentity) {
			return 0, nil, fmt.Errorf("auth: Ed25519 needs RFC 8420 digital signature authentication, but the peer did not announce the Identity hash (it sent %v)", peerHashes)
		}
		sig, err := key.Sign(rand, octets, crypto.Hash(0))
		if err != nil {
			return 0, nil, fmt.Errorf("auth: Ed25519 signature: %w", err)
		}
		return message.AuthDigitalSignature, digitalSignature(algEd25519, sig), nil

	default:
		return 0, nil, fmt.Errorf("auth: unsupported private key type %T", pub)
	}
}

// chooseRSA picks the RFC 7427 algorithm for an RSA key of keyBytes
// octets: the strongest SHA-2 hash the peer announced. PSS with a salt as
// long as the hash needs 2*hLen+2 octets (RFC 8017 9.1.1), so a hash too
// large for a small key is passed over.
func chooseRSA(peer []message.HashAlgorithm, pss bool, keyBytes int) (sigAlg, bool) {
	order := []sigAlg{algRSASHA512, algRSASHA384, algRSASHA256}
	if pss {
		order = []sigAlg{algPSSSHA512, algPSSSHA384, algPSSSHA256}
	}
	for _, a := range order {
		if pss && keyBytes < 2*a.hash.Size()+2 {
			continue
		}
		if slices.Contains(peer, a.hashID) {
			return a, true
		}
	}
	return sigAlg{}, false
}

// chooseECDSA picks the RFC 7427 algorithm for an ECDSA key: the hash that
// matches the curve's strength if the peer has it (as RFC 4754 pairs them),
// else the strongest SHA-2 hash the peer announced.
func chooseECDSA(peer []message.HashAlgorithm, c curve) (sigAlg, bool) {
	if slices.Contains(peer, c.alg.hashID) {
		return c.alg, true
	}
	for _, a := range []sigAlg{algECDSASHA512, algECDSASHA384, algECDSASHA256} {
		if slices.Contains(peer, a.hashID) {
			return a, true
		}
	}
	return sigAlg{}, false
}

// signDigest hashes octets with alg's hash and signs with key. ECDSA
// signers return the DER Ecdsa-Sig-Value RFC 7427 3 asks for.
func signDigest(key crypto.Signer, alg sigAlg, octets []byte, rand io.Reader) ([]byte, error) {
	h := alg.hash.New()
	h.Write(octets)
	var opts crypto.SignerOpts = alg.hash
	if alg.pss {
		// RFC 7427 A.4.3 shape: salt as long as the hash.
		opts = &rsa.PSSOptions{SaltLength: alg.hash.Size(), Hash: alg.hash}
	}
	sig, err := key.Sign(rand, h.Sum(nil), opts)
	if err != nil {
		return nil, fmt.Errorf("auth: %s signature: %w", alg.name, err)
	}
	return sig, nil
}

// digitalSignature builds the Authentication Data of method 14
// (RFC 7427 3): the AlgorithmIdentifier's length in one octet, the
// AlgorithmIdentifier, then the signature.
func digitalSignature(alg sigAlg, sig []byte) []byte {
	out := make([]byte, 0, 1+len(alg.der)+len(sig))
	out = append(out, byte(len(alg.der)))
	out = append(out, alg.der...)
	return append(out, sig...)
}

// curve is what RFC 4754 ties to each curve.
type curve struct {
	method message.AuthMethod
	hash   crypto.Hash
	size   int // octets of r and of s
	alg    sigAlg
}

func curveOf(pub *ecdsa.PublicKey) (curve, error) {
	if pub == nil || pub.Curve == nil {
		return curve{}, errors.New("auth: empty ECDSA key")
	}
	switch pub.Curve {
	case elliptic.P256():
		return curve{message.AuthECDSA256, crypto.SHA256, 32, algECDSASHA256}, nil
	case elliptic.P384():
		return curve{message.AuthECDSA384, crypto.SHA384, 48, algECDSASHA384}, nil
	case elliptic.P521():
		return curve{message.AuthECDSA521, crypto.SHA512, 66, algECDSASHA512}, nil
	}
	name := "unknown"
	if pub.Curve.Params() != nil {
		name = pub.Curve.Params().Name
	}
	return curve{}, fmt.Errorf("auth: unsupported ECDSA curve %s (P-256, P-384 and P-521 are supported)", name)
}

// curveForMethod maps an RFC 4754 method to its curve.
func curveForMethod(m message.AuthMethod) curve {
	switch m {
	case message.AuthECDSA256:
		return curve{message.AuthECDSA256, crypto.SHA256, 32, algECDSASHA256}
	case message.AuthECDSA384:
		return curve{message.AuthECDSA384, crypto.SHA384, 48, algECDSASHA384}
	}
	return curve{message.AuthECDSA521, crypto.SHA512, 66, algECDSASHA512}
}

// derToRS turns a DER Ecdsa-Sig-Value into RFC 4754 7's r||s.
func derToRS(der []byte, size int) ([]byte, error) {
	r, s, err := parseECDSASig(der)
	if err != nil {
		return nil, fmt.Errorf("auth: ECDSA signer returned %w", err)
	}
	if r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, errors.New("auth: ECDSA signer returned a signature too large for its curve")
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

// parseECDSASig decodes a DER Ecdsa-Sig-Value (RFC 5480 / SEC 1).
func parseECDSASig(der []byte) (r, s *big.Int, err error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	r, s = new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return nil, nil, errors.New("a malformed DER ECDSA signature")
	}
	return r, s, nil
}
