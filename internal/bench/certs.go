package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"time"
)

// identity is one SA's key and certificate.
type identity struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// issue makes a P-256 key and a certificate for each source address,
// signed by ca: CN and IP SAN the address, valid from an hour ago for a
// day.
func issue(ca *x509.Certificate, caKey crypto.Signer, srcs []netip.Addr) ([]identity, error) {
	now := time.Now()
	out := make([]identity, len(srcs))
	for i, a := range srcs {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("bench: key for %v: %w", a, err)
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, fmt.Errorf("bench: serial: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: a.String()},
			IPAddresses:  []net.IP{a.AsSlice()},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("bench: certificate for %v: %w", a, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("bench: certificate for %v: %w", a, err)
		}
		out[i] = identity{key: k, cert: c}
	}
	return out, nil
}

// LoadCerts reads every certificate of a PEM or DER file.
func LoadCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: no certificate: %w", path, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// LoadKey reads a private key (PKCS#8, SEC 1 EC or PKCS#1 RSA; PEM or DER).
func LoadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		der = blk.Bytes
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("bench: %s: key of type %T cannot sign", path, k)
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("bench: %s: not a PKCS#8, EC or RSA private key", path)
}
