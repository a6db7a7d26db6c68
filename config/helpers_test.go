package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedDir returns <repo>/../shared, where the team's shared test data
// lives, or skips the test when it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file)) // config/ -> module root
	dir := filepath.Join(root, "..", "shared")
	if _, err := os.Stat(filepath.Join(dir, "strongswan-scenarios")); err != nil {
		t.Skipf("shared test data not found at %s (it holds strongSwan's scenario files; CI provides it)", dir)
	}
	return dir
}

// testAddrs replaces the scenario placeholders with the addresses of
// strongSwan's test network. Longer names come first so that PH_IP_CAROL1
// is not read as PH_IP_CAROL followed by "1".
var testAddrs = []struct{ ph, addr string }{
	{"PH_IP_CAROL1", "10.3.0.1"},
	{"PH_IP_DAVE1", "10.3.0.2"},
	{"PH_IP_MOON1", "10.1.0.1"},
	{"PH_IP_SUN1", "10.2.0.1"},
	{"PH_IP_ALICE", "10.1.0.10"},
	{"PH_IP_VENUS", "10.1.0.20"},
	{"PH_IP_BOB", "10.2.0.10"},
	{"PH_IP_CAROL", "192.168.0.100"},
	{"PH_IP_DAVE", "192.168.0.200"},
	{"PH_IP_MOON", "192.168.0.1"},
	{"PH_IP_SUN", "192.168.0.2"},
	{"PH_IP_WINNETOU", "192.168.0.150"},
}

func substitute(s string) string {
	for _, a := range testAddrs {
		s = strings.ReplaceAll(s, a.ph, a.addr)
	}
	return s
}

func hostAddr(host string) string {
	return substitute("PH_IP_" + strings.ToUpper(host))
}

var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testPKI issues certificates like those of strongSwan's test network: a
// root CA "C=CH, O=strongSwan Project, CN=strongSwan Root CA" and one RSA
// key and certificate per host.
type testPKI struct {
	mu     sync.Mutex
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	caDER  []byte
	keys   map[string]*rsa.PrivateKey
	certs  map[string][]byte
}

var pki = &testPKI{keys: map[string]*rsa.PrivateKey{}, certs: map[string][]byte{}}

func (p *testPKI) ca(t testing.TB) (*x509.Certificate, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.caCert == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan Project"}, CommonName: "strongSwan Root CA"},
			NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:              time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		p.caKey, p.caDER = key, der
		p.caCert, _ = x509.ParseCertificate(der)
	}
	return p.caCert, p.caDER
}

// host returns the RSA key and the certificate of a test host ("moon",
// "carol"): moon and sun carry their FQDN, the others an e-mail address.
func (p *testPKI) host(t testing.TB, name string) (*rsa.PrivateKey, []byte) {
	ca, _ := p.ca(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keys[name]; ok {
		return k, p.certs[name]
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(p.keys) + 2)),
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	switch name {
	case "moon", "sun", "venus", "bob":
		tmpl.Subject = pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan Project"}, CommonName: name + ".strongswan.org"}
		tmpl.DNSNames = []string{name + ".strongswan.org"}
	default:
		tmpl.Subject = pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan Project"}, CommonName: name + "@strongswan.org"}
		tmpl.EmailAddresses = []string{name + "@strongswan.org"}
	}
	if a := net.ParseIP(hostAddr(name)); a != nil {
		tmpl.IPAddresses = []net.IP{a}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keys[name], p.certs[name] = key, der
	return key, der
}

func writePEM(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func marshalKey(t testing.TB, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func noAddrs() ([]netip.Addr, error) { return nil, nil }

func deepEqual(a, b any) bool { return reflect.DeepEqual(a, b) }
