package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKey reads a raw public key as strongSwan's leftsigkey /
// rightsigkey files hold it: PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or
// "RSA PUBLIC KEY" (PKCS#1), or the same as DER. The inline "0s" base64
// and "0x" hex forms of ipsec.conf are the config reader's to decode; the
// bytes they give are DER and are accepted here.
//
// The key is an *rsa.PublicKey, *ecdsa.PublicKey (P-256, P-384, P-521) or
// ed25519.PublicKey: the types Verify supports. Anything else is an error
// naming the type, so a key that could never authenticate is refused when
// the configuration is loaded.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if len(data) == 0 {
		return nil, errors.New("auth: empty public key")
	}
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, rest := pem.Decode(trimmed)
		if block == nil {
			return nil, errors.New("auth: malformed PEM public key")
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("auth: PEM public key followed by %d more octets; one key per file", len(rest))
		}
		if len(block.Headers) != 0 {
			return nil, fmt.Errorf("auth: PEM %q block has headers (encrypted?); a public key needs none", block.Type)
		}
		switch block.Type {
		case "PUBLIC KEY":
			return parsePKIX(block.Bytes)
		case "RSA PUBLIC KEY":
			return parsePKCS1(block.Bytes)
		}
		return nil, fmt.Errorf("auth: PEM block %q is not a public key (want \"PUBLIC KEY\" or \"RSA PUBLIC KEY\")", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(data)
	if err == nil {
		return checkPublicKey(pub)
	}
	if rsaPub, err2 := x509.ParsePKCS1PublicKey(data); err2 == nil {
		return checkPublicKey(rsaPub)
	}
	return nil, fmt.Errorf("auth: public key is neither a DER SubjectPublicKeyInfo nor a PKCS#1 RSA key: %w", err)
}

func parsePKIX(der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: parse SubjectPublicKeyInfo: %w", err)
	}
	return checkPublicKey(pub)
}

func parsePKCS1(der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: parse PKCS#1 RSA public key: %w", err)
	}
	return checkPublicKey(pub)
}

// checkPublicKey refuses key types and curves Verify cannot use.
func checkPublicKey(pub crypto.PublicKey) (crypto.PublicKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		// crypto/rsa refuses keys under 1024 bits for verification; say
		// so now rather than at the first IKE_AUTH.
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("auth: RSA public key of %d bits is too short (minimum 1024)", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PublicKey:
		if _, err := curveOf(k); err != nil {
			return nil, err
		}
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("auth: unsupported public key type %T (RSA, ECDSA P-256/384/521 and Ed25519 are supported)", pub)
}

// KeyMatches reports whether priv is the private half of pub. pub may be a
// crypto.PublicKey or an *x509.Certificate, whose key is used. Use it when
// loading configuration, to catch a leftcert whose key is not in
// ipsec.secrets.
func KeyMatches(priv crypto.Signer, pub crypto.PublicKey) bool {
	if priv == nil || pub == nil {
		return false
	}
	if c, ok := pub.(*x509.Certificate); ok {
		if c == nil {
			return false
		}
		pub = c.PublicKey
	}
	mine, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && mine.Equal(pub)
}
