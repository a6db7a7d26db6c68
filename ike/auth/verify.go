package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ErrSignature is wrapped by every Verify error that means the signature
// itself is wrong (as opposed to an unsupported or malformed method).
// Either way the engine answers AUTHENTICATION_FAILED (RFC 7296 2.21.2).
var ErrSignature = errors.New("auth: signature does not verify")

// Verify checks the Authentication Data of an AUTH payload with method
// over octets (RFC 7296 2.15) against pub, an *rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey (a certificate's key or a
// configured raw key).
//
// Method 1 is RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 3.8). Methods 9, 10,
// 11 need an ECDSA key on the method's curve and an r||s signature of
// exactly twice the curve size (RFC 4754 7). Method 14 (RFC 7427 3) needs
// an AlgorithmIdentifier for a SHA-2 hash (or Ed25519) whose key type is
// pub's; SHA-1 is refused there because RFC 7427 lets the signer choose the
// hash and SHA-1 collisions are practical. ECDSA under method 14 may use any
// of SHA-256/384/512 on any supported curve, as RFC 7427 allows.
//
// Only public data is compared here, so no comparison needs to be
// constant-time; the signature checks themselves are crypto/rsa's,
// crypto/ecdsa's and crypto/ed25519's.
func Verify(pub crypto.PublicKey, method message.AuthMethod, data []byte, octets []byte) error {
	switch method {
	case message.AuthRSASig:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return fmt.Errorf("auth: %v needs an RSA public key, have %s", method, keyName(pub))
		}
		h := crypto.SHA1.New()
		h.Write(octets)
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA1, h.Sum(nil), data); err != nil {
			return fmt.Errorf("%w (%v, RSASSA-PKCS1-v1_5 with SHA-1)", ErrSignature, method)
		}
		return nil

	case message.AuthECDSA256, message.AuthECDSA384, message.AuthECDSA521:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("auth: %v needs an ECDSA public key, have %s", method, keyName(pub))
		}
		c, err := curveOf(k)
		if err != nil {
			return err
		}
		want := curveForMethod(method)
		if c.method != method {
			return fmt.Errorf("auth: %v needs a key on %s, the peer's key is on %s",
				method, curveName(want), curveName(c))
		}
		// RFC 4754 7: r and s are each exactly the curve size.
		if len(data) != 2*c.size {
			return fmt.Errorf("auth: %v signature of %d octets, want %d", method, len(data), 2*c.size)
		}
		r := new(big.Int).SetBytes(data[:c.size])
		s := new(big.Int).SetBytes(data[c.size:])
		h := c.hash.New()
		h.Write(octets)
		if !ecdsa.Verify(k, h.Sum(nil), r, s) {
			return fmt.Errorf("%w (%v)", ErrSignature, method)
		}
		return nil

	case message.AuthDigitalSignature:
		return verifyDigitalSignature(pub, data, octets)

	case message.AuthSharedKey:
		return fmt.Errorf("auth: %v is checked by keymat.VerifyPSKAuth, not by signature verification", method)
	}
	return fmt.Errorf("auth: unsupported authentication method %v", method)
}

// verifyDigitalSignature checks method 14 data (RFC 7427 3): one octet of
// AlgorithmIdentifier length, the AlgorithmIdentifier, the signature.
func verifyDigitalSignature(pub crypto.PublicKey, data, octets []byte) error {
	if len(data) < 1 {
		return errors.New("auth: empty digital signature authentication data")
	}
	n := int(data[0])
	if n == 0 || len(data) < 1+n {
		return fmt.Errorf("auth: digital signature AlgorithmIdentifier length %d exceeds the %d octets of authentication data", n, len(data)-1)
	}
	alg, err := parseAlgorithmIdentifier(data[1 : 1+n])
	if err != nil {
		return err
	}
	sig := data[1+n:]
	if len(sig) == 0 {
		return fmt.Errorf("auth: %s: empty signature", alg.name)
	}
	switch alg.kind {
	case kindRSA:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return fmt.Errorf("auth: signature algorithm %s needs an RSA public key, have %s", alg.name, keyName(pub))
		}
		h := alg.hash.New()
		h.Write(octets)
		if alg.pss {
			err = rsa.VerifyPSS(k, alg.hash, h.Sum(nil), sig, &rsa.PSSOptions{SaltLength: alg.saltLen, Hash: alg.hash})
		} else {
			err = rsa.VerifyPKCS1v15(k, alg.hash, h.Sum(nil), sig)
		}
		if err != nil {
			return fmt.Errorf("%w (%s)", ErrSignature, alg.name)
		}
		return nil
	case kindECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("auth: signature algorithm %s needs an ECDSA public key, have %s", alg.name, keyName(pub))
		}
		if _, err := curveOf(k); err != nil {
			return err
		}
		h := alg.hash.New()
		h.Write(octets)
		// RFC 7427 3: the ECDSA signature is the DER Ecdsa-Sig-Value.
		if !ecdsa.VerifyASN1(k, h.Sum(nil), sig) {
			return fmt.Errorf("%w (%s)", ErrSignature, alg.name)
		}
		return nil
	case kindEd25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("auth: signature algorithm %s needs an Ed25519 public key, have %s", alg.name, keyName(pub))
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("auth: Ed25519 public key of %d octets", len(k))
		}
		// RFC 8420 2: Ed25519 signs the octets themselves (Identity hash).
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, octets, sig) {
			return fmt.Errorf("%w (%s)", ErrSignature, alg.name)
		}
		return nil
	}
	return fmt.Errorf("auth: unsupported signature algorithm %s", alg.name)
}

// keyName names a public key's type for errors.
func keyName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "an empty RSA key"
		}
		return fmt.Sprintf("an RSA-%d key", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil || k.Curve.Params() == nil {
			return "an empty ECDSA key"
		}
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a %T", pub)
}

func curveName(c curve) string {
	switch c.method {
	case message.AuthECDSA256:
		return "P-256"
	case message.AuthECDSA384:
		return "P-384"
	}
	return "P-521"
}
