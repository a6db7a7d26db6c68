// Package authtest makes X.509 test credentials for cygnet's tests: a CA,
// intermediates, end-entity certificates for an IKE identity (subject DN
// plus subjectAltName FQDN, IP and e-mail), CRLs, and PEM files in the
// forms strongSwan reads (ipsec.d/cacerts, certs, private, crls).
//
// It is for tests only: keys come from crypto/rand and nothing is
// protected. Every function returns an error rather than calling a
// testing.T, so it works from tests, benchmarks, fuzz targets and tools;
// Must turns an error into a panic for terse test setup.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"
)

// KeyType selects the key algorithm of a generated credential.
type KeyType int

// Key types.
const (
	ECDSAP256 KeyType = iota // default: fast to generate
	ECDSAP384
	ECDSAP521
	RSA2048
	RSA3072
	Ed25519
)

func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA-P256"
	case ECDSAP384:
		return "ECDSA-P384"
	case ECDSAP521:
		return "ECDSA-P521"
	case RSA2048:
		return "RSA-2048"
	case RSA3072:
		return "RSA-3072"
	case Ed25519:
		return "Ed25519"
	}
	return fmt.Sprintf("KeyType(%d)", int(k))
}

// NewKey generates a private key of type k.
func NewKey(k KeyType) (crypto.Signer, error) {
	switch k {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("authtest: unknown key type %v", k)
}

// OIDExtKeyUsageIPsecIKE is id-kp-ipsecIKE (RFC 4945 5.1.3.12).
var OIDExtKeyUsageIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}

// Options describe a certificate to make. Zero values give sensible
// defaults, noted on each field.
type Options struct {
	// Subject is the subject DN. Go encodes it in the order C, O, OU, L,
	// ST, street, postal code, CN, serial number, so a strongSwan id
	// written as "C=CH, O=Cygnet, CN=moon" matches Subject{Country: {"CH"},
	// Organization: {"Cygnet"}, CommonName: "moon"}. Empty: CN is the first
	// DNS name, or "cygnet test CA" for a CA.
	Subject pkix.Name
	// DNSNames, IPAddresses and EmailAddresses go into subjectAltName.
	DNSNames       []string
	IPAddresses    []netip.Addr
	EmailAddresses []string
	// Key is the key algorithm (default ECDSA P-256). Ignored if Signer
	// is set.
	Key KeyType
	// Signer is an existing private key to certify instead of a new one.
	Signer crypto.Signer
	// NotBefore and NotAfter bound validity. Default: from one hour ago
	// for one year.
	NotBefore, NotAfter time.Time
	// ExtKeyUsage and UnknownExtKeyUsage set the extended key usage; both
	// empty means no EKU extension, which IKE accepts.
	ExtKeyUsage        []x509.ExtKeyUsage
	UnknownExtKeyUsage []asn1.ObjectIdentifier
	// SerialNumber overrides the random serial.
	SerialNumber *big.Int
}

// Credential is a certificate with its private key and the credential
// that issued it (nil for a self-signed root).
type Credential struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Issuer *Credential
}

// NewCA makes a self-signed root CA.
func NewCA(o Options) (*Credential, error) {
	if o.Subject.CommonName == "" && len(o.Subject.Names) == 0 && len(o.Subject.Organization) == 0 {
		o.Subject.CommonName = "cygnet test CA"
	}
	return create(o, nil, true)
}

// NewIntermediate makes a CA certificate issued by ca.
func (ca *Credential) NewIntermediate(o Options) (*Credential, error) {
	if o.Subject.CommonName == "" && len(o.Subject.Names) == 0 && len(o.Subject.Organization) == 0 {
		o.Subject.CommonName = "cygnet test intermediate CA"
	}
	return create(o, ca, true)
}

// Issue makes an end-entity certificate issued by ca.
func (ca *Credential) Issue(o Options) (*Credential, error) {
	if o.Subject.CommonName == "" && len(o.DNSNames) > 0 {
		o.Subject.CommonName = o.DNSNames[0]
	}
	return create(o, ca, false)
}

// Chain returns the credential's certificate followed by its issuers up to
// and including the root.
func (c *Credential) Chain() []*x509.Certificate {
	var out []*x509.Certificate
	for x := c; x != nil; x = x.Issuer {
		out = append(out, x.Cert)
	}
	return out
}

// Root returns the self-signed certificate at the top of c's chain.
func (c *Credential) Root() *x509.Certificate {
	x := c
	for x.Issuer != nil {
		x = x.Issuer
	}
	return x.Cert
}

func create(o Options, issuer *Credential, isCA bool) (*Credential, error) {
	key := o.Signer
	if key == nil {
		var err error
		if key, err = NewKey(o.Key); err != nil {
			return nil, fmt.Errorf("authtest: generate %v key: %w", o.Key, err)
		}
	}
	serial := o.SerialNumber
	if serial == nil {
		var err error
		serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, fmt.Errorf("authtest: serial: %w", err)
		}
		serial.Add(serial, big.NewInt(1)) // never zero
	}
	nb := o.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour).Truncate(time.Second)
	}
	na := o.NotAfter
	if na.IsZero() {
		na = nb.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            o.Subject,
		NotBefore:          nb,
		NotAfter:           na,
		DNSNames:           o.DNSNames,
		EmailAddresses:     o.EmailAddresses,
		ExtKeyUsage:        o.ExtKeyUsage,
		UnknownExtKeyUsage: o.UnknownExtKeyUsage,
	}
	for _, a := range o.IPAddresses {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	parent, signer := tmpl, key
	if issuer != nil {
		if issuer.Cert == nil || issuer.Key == nil {
			return nil, errors.New("authtest: issuer without certificate or key")
		}
		parent, signer = issuer.Cert, issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("authtest: create certificate %q: %w", o.Subject.String(), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("authtest: parse own certificate: %w", err)
	}
	return &Credential{Cert: cert, Key: key, Issuer: issuer}, nil
}

// CRL makes a CRL signed by ca revoking the given certificates, valid from
// thisUpdate to nextUpdate.
func (ca *Credential) CRL(revoked []*x509.Certificate, thisUpdate, nextUpdate time.Time) (*x509.RevocationList, error) {
	return ca.CRLSignedBy(ca.Key, revoked, thisUpdate, nextUpdate)
}

// CRLSignedBy is CRL with another signing key: it names ca as issuer but is
// signed by key, to test that forged CRLs are refused.
func (ca *Credential) CRLSignedBy(key crypto.Signer, revoked []*x509.Certificate, thisUpdate, nextUpdate time.Time) (*x509.RevocationList, error) {
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("authtest: CRL number: %w", err)
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    n,
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, key)
	if err != nil {
		return nil, fmt.Errorf("authtest: create CRL: %w", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("authtest: parse own CRL: %w", err)
	}
	return crl, nil
}

// CertPEM encodes certificates as concatenated "CERTIFICATE" PEM blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block, which strongSwan's pkcs8 plugin reads for every key type.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("authtest: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LegacyKeyPEM encodes RSA keys as PKCS#1 "RSA PRIVATE KEY" and ECDSA keys
// as SEC 1 "EC PRIVATE KEY", the forms older strongSwan setups keep in
// ipsec.d/private. Ed25519 has no such form and gets PKCS#8.
func LegacyKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("authtest: marshal EC key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	return KeyPEM(key)
}

// PublicKeyPEM encodes a public key as a SubjectPublicKeyInfo "PUBLIC KEY"
// PEM block, the form of strongSwan's leftsigkey/rightsigkey files.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("authtest: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// CRLPEM encodes a CRL as an "X509 CRL" PEM block (ipsec.d/crls).
func CRLPEM(crl *x509.RevocationList) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
}

// IPsecD returns the files strongSwan needs to use c, keyed by their path
// under ipsec.d (the form of swan.Files.Extra): the end-entity certificate
// as certs/NAME.pem, its private key as private/NAME.pem (PKCS#1 or SEC 1
// for RSA and ECDSA, PKCS#8 for Ed25519), and every issuing CA, intermediates
// included, as cacerts/NAME-caN.pem (N from 1, nearest issuer first),
// since strongSwan builds chains from cacerts.
func (c *Credential) IPsecD(name string) (map[string][]byte, error) {
	key, err := LegacyKeyPEM(c.Key)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"certs/" + name + ".pem":   CertPEM(c.Cert),
		"private/" + name + ".pem": key,
	}
	for i, ca := range c.Chain()[1:] {
		files[fmt.Sprintf("cacerts/%s-ca%d.pem", name, i+1)] = CertPEM(ca)
	}
	return files, nil
}

// SecretsLine is the ipsec.secrets line that loads the private key IPsecD
// writes for name: ": RSA NAME.pem", ": ECDSA NAME.pem", or ": PKCS8
// NAME.pem" for other key types (strongSwan's stroke parser knows these
// three keywords for private key files).
func (c *Credential) SecretsLine(name string) string {
	kw := "PKCS8"
	switch c.Key.(type) {
	case *rsa.PrivateKey:
		kw = "RSA"
	case *ecdsa.PrivateKey:
		kw = "ECDSA"
	}
	return ": " + kw + " " + name + ".pem"
}

// Must returns v, or panics if err is not nil: for test setup.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
