package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// ECDSA P-256 for the CA and every node: charon and cygnet both verify it,
// it is cheap to sign with on every IKE_AUTH, and crypto/ecdsa is constant
// time.
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster: generate key: %w", err)
	}
	return k, nil
}

func serial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("cluster: serial: %w", err)
	}
	return s, nil
}

// CA is the cluster's certificate authority. Its private key stays on the
// node that created the cluster (and is the only thing that can admit
// nodes); members hold only its certificate.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey // nil on nodes that cannot sign
}

// NewCA makes a self-signed CA valid for 10 years.
func NewCA(name string) (*CA, error) {
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{Organization: []string{"cygnet"}, CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("cluster: create ca: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cluster: parse ca: %w", err)
	}
	return &CA{Cert: c, Key: k}, nil
}

// CAHash is the pin a join token carries: sha256 of the CA's
// SubjectPublicKeyInfo, written as kubeadm writes its discovery hash.
func CAHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Sign issues a node certificate for the CSR: CN and DNS SAN are the node
// name, IP SAN the advertised address; usable for IKE, for the store's
// mTLS as client and server, for 2 years.
func (ca *CA) Sign(csr *x509.CertificateRequest, name string, ip net.IP) (*x509.Certificate, error) {
	if ca.Key == nil {
		return nil, errors.New("cluster: this node holds no CA key")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("cluster: csr signature: %w", err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, errors.New("cluster: csr key must be ECDSA")
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{Organization: []string{"cygnet"}, CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{ip},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster: sign %s: %w", name, err)
	}
	return x509.ParseCertificate(der)
}

// NewCSR makes the node's key pair and a request for it. The key never
// leaves the node: only the CSR travels.
func NewCSR(name string) (*ecdsa.PrivateKey, []byte, error) {
	k, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{Organization: []string{"cygnet"}, CommonName: name},
	}, k)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: csr: %w", err)
	}
	return k, der, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("cluster: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("cluster: no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c, err := parseCertPEM(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", path, err)
	}
	return c, nil
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("cluster: %s: no PEM private key", path)
	}
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", path, err)
	}
	return k, nil
}
