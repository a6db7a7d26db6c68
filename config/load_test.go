package config

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func localIs(addrs ...string) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

// A cluster node pair as the design targets: transport mode, PSK, AES-GCM.
const nodeConf = `config setup
	uniqueids=no

conn %default
	keyexchange=ikev2
	type=transport
	authby=secret
	ike=aes256gcm16-prfsha384-ecp384!
	esp=aes256gcm16-ecp384
	ikelifetime=3h
	lifetime=1h
	margintime=9m
	dpdaction=restart
	dpddelay=10s
	lifepackets=4000000000
	auto=start

conn node2
	left=10.9.0.1
	right=node2.cluster.local
	leftprotoport=udp/vxlan
	rightprotoport=udp/vxlan
`

func TestLoadNodePair(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ipsec.conf"), nodeConf, 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), "10.9.0.1 10.9.0.2 : PSK 0s"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))+"\n", 0o600)
	writeFile(t, filepath.Join(dir, "strongswan.conf"), "charon {\n  make_before_break = yes\n}\n", 0o644)
	res := mapResolver{"node2.cluster.local": {netip.MustParseAddr("10.9.0.2")}}

	// on node 1: left is local
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.1"), Resolver: res})
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	if len(l.Config.Connections) != 1 {
		t.Fatalf("%d connections", len(l.Config.Connections))
	}
	c := l.Config.Connections[0]
	if c.Mode != ike.ModeTransport || c.Auto != ike.AutoStart || c.Local.Host != "10.9.0.1" || c.Remote.Host != "node2.cluster.local" {
		t.Errorf("connection: %+v", c)
	}
	// names are kept, not resolved: the engine resolves them when it uses them
	if c.Remote.Addr.IsValid() || c.Local.Addr != netip.MustParseAddr("10.9.0.1") {
		t.Errorf("addresses: local %v remote %v", c.Local.Addr, c.Remote.Addr)
	}
	if c.Local.Auth != ike.AuthPSK || c.Remote.Auth != ike.AuthPSK {
		t.Errorf("auth: %v %v", c.Local.Auth, c.Remote.Auth)
	}
	if !c.IKEStrict || len(c.IKE) != 1 || FormatProposal(c.IKE[0]) != "aes256gcm16-prfsha384-ecp384" {
		t.Errorf("strict IKE proposals got defaults appended: %v", formatProposals(c.IKE, c.IKEStrict))
	}
	if c.ESPStrict || len(c.ESP) != 2 || FormatProposal(c.ESP[0]) != "aes256gcm16-ecp384" || FormatProposal(c.ESP[1]) != FormatProposal(DefaultESPProposals()[0]) {
		t.Errorf("non-strict ESP proposals: %v", formatProposals(c.ESP, c.ESPStrict))
	}
	if c.Local.ProtoPort != (ike.TrafficSelector{Protocol: 17, StartPort: 4789, EndPort: 4789}) {
		t.Errorf("protoport: %+v", c.Local.ProtoPort)
	}
	if c.DPDDelay != 10*time.Second || c.DPDAction != ike.ActionRestart || c.LifePackets != 4000000000 || c.ReplayWindow != 32 {
		t.Errorf("timers: %+v", c)
	}
	if !l.Config.MakeBeforeBreak || l.Config.UniqueIDs != ike.UniqueIDsNo || l.Config.RetransmitTries != 5 {
		t.Errorf("config: mbb %v uniqueids %v tries %d", l.Config.MakeBeforeBreak, l.Config.UniqueIDs, l.Config.RetransmitTries)
	}
	key, ok := l.Config.Credentials.LookupPSK(ike.IdentityFromAddr(netip.MustParseAddr("10.9.0.1")), ike.IdentityFromAddr(netip.MustParseAddr("10.9.0.2")))
	if !ok || string(key.Secret) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("PSK lookup: %v", ok)
	}

	// on node 2 the same file: right is local, so the ends swap
	l, ds = Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.2"), Resolver: res})
	if ds.HasErrors() || len(l.Config.Connections) != 1 {
		t.Fatalf("node 2: %v", ds)
	}
	c = l.Config.Connections[0]
	if c.Local.Host != "node2.cluster.local" || c.Remote.Host != "10.9.0.1" {
		t.Errorf("node 2 did not swap ends: local %s remote %s", c.Local.Host, c.Remote.Host)
	}

	// a resolver failure is a warning, and left stays local
	l, ds = Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.2"), Resolver: failResolver{}})
	wantDiag(t, ds, Warning, "ipsec.conf", 20, "right", "cannot resolve")
	if l.Config.Connections[0].Local.Host != "10.9.0.1" {
		t.Errorf("unresolvable right: ends swapped")
	}
}

func TestLoadCertificates(t *testing.T) {
	dir := t.TempDir()
	key, certDER := pki.host(t, "moon")
	_, sunDER := pki.host(t, "sun")
	ca, caDER := pki.ca(t)
	writePEM(t, filepath.Join(dir, "ipsec.d", "certs", "moonCert.pem"), "CERTIFICATE", certDER, 0o644)
	if err := os.WriteFile(filepath.Join(dir, "ipsec.d", "certs", "sunCert.der"), sunDER, 0o644); err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ipsec.d", "cacerts", "ca.pem"), "CERTIFICATE", caDER, 0o644)
	writePEM(t, filepath.Join(dir, "ipsec.d", "private", "moonKey.pem"), "PRIVATE KEY", marshalKey(t, key), 0o600)
	sunCert, _ := x509.ParseCertificate(sunDER)
	spki, _ := x509.MarshalPKIXPublicKey(sunCert.PublicKey)
	writePEM(t, filepath.Join(dir, "ipsec.d", "certs", "sun.pub"), "PUBLIC KEY", spki, 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), ": RSA moonKey.pem\n", 0o600)

	conf := `conn %default
	type=transport
	auto=add
	left=192.168.0.1
	leftcert=moonCert.pem
	right=192.168.0.2

conn certs
	leftid=@moon.strongswan.org
	rightid=@sun.strongswan.org
	rightca="C=CH, O=strongSwan Project, CN=strongSwan Root CA"

conn no-id
	rightcert=sunCert.der

conn wrong-id
	leftid=@mars.strongswan.org

conn sigkey-file
	rightsigkey=sun.pub

conn sigkey-hex
	rightsigkey=0x` + hex.EncodeToString(spki) + `

conn sigkey-b64
	rightsigkey=0s` + base64.StdEncoding.EncodeToString(spki) + `

conn bad-ca
	rightca="C=CH, CN=Nobody"

conn bad-cert
	rightcert=missing.pem
`
	writeFile(t, filepath.Join(dir, "ipsec.conf"), conf, 0o644)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("192.168.0.1"), Now: func() time.Time { return fixedNow }})
	byName := map[string]ike.Connection{}
	for _, c := range l.Config.Connections {
		byName[c.Name] = c
	}
	c, ok := byName["certs"]
	if !ok {
		t.Fatalf("conn certs not loaded:\n%s", listDiags(ds))
	}
	if c.Local.Cert == nil || c.Local.Cert.Subject.CommonName != "moon.strongswan.org" || c.Remote.CA == nil || !c.Remote.CA.Equal(ca) {
		t.Errorf("certs: %+v", c)
	}
	if c.Local.ID.String() != "moon.strongswan.org" || c.Local.ID.Type != message.IDFQDN {
		t.Errorf("leftid: %v", c.Local.ID)
	}
	if c := byName["no-id"]; c.Local.ID.Type != message.IDDERASN1DN || c.Remote.Cert == nil || c.Remote.ID.String() != "C=CH, O=strongSwan Project, CN=sun.strongswan.org" {
		t.Errorf("no-id: ids %v / %v", c.Local.ID, c.Remote.ID)
	}
	wantDiag(t, ds, Warning, "ipsec.conf", 17, "leftid", "not confirmed by certificate")
	if c := byName["wrong-id"]; c.Local.ID.Type != message.IDDERASN1DN {
		t.Errorf("wrong-id: %v", c.Local.ID)
	}
	for _, n := range []string{"sigkey-file", "sigkey-hex", "sigkey-b64"} {
		c := byName[n]
		if c.Remote.SigKey == nil || !sunCert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Remote.SigKey) {
			t.Errorf("%s: sigkey %v", n, c.Remote.SigKey)
		}
	}
	wantDiag(t, ds, Error, "ipsec.conf", 29, "rightca", "not found")
	wantDiag(t, ds, Error, "ipsec.conf", 32, "rightcert", "cannot read certificate")
	for _, n := range []string{"bad-ca", "bad-cert"} {
		if _, ok := byName[n]; ok {
			t.Errorf("%s loaded despite its error", n)
		}
		if l.IPsec.Conn(n).Valid {
			t.Errorf("%s marked valid", n)
		}
	}
	if len(l.Config.Credentials.PrivateKeys) != 1 || len(l.Config.Credentials.CACerts) != 1 || len(l.Config.Credentials.Certs) != 2 {
		t.Errorf("credentials: %d keys, %d CAs, %d certs", len(l.Config.Credentials.PrivateKeys), len(l.Config.Credentials.CACerts), len(l.Config.Credentials.Certs))
	}
	for _, d := range ds {
		if strings.Contains(d.Message, "no private key") {
			t.Errorf("the key matches the cert: %v", d)
		}
	}
}

func TestFindLayout(t *testing.T) {
	root := t.TempDir()
	if _, err := findLayout("", "", root); err == nil {
		t.Errorf("no configuration: no error")
	}
	writeFile(t, filepath.Join(root, "etc", "strongswan", "ipsec.conf"), "", 0o644)
	l, err := findLayout("", "", root)
	if err != nil || l.Name != "rhel" || l.IPsecSecrets != filepath.Join(root, "etc", "strongswan", "ipsec.secrets") || l.IPsecD != filepath.Join(root, "etc", "strongswan", "ipsec.d") {
		t.Errorf("rhel: %+v %v", l, err)
	}
	writeFile(t, filepath.Join(root, "etc", "ipsec.conf"), "", 0o644)
	l, err = findLayout("", "", root)
	if err != nil || l.Name != "debian" || l.IPsecConf != filepath.Join(root, "etc", "ipsec.conf") || l.StrongswanConf != filepath.Join(root, "etc", "strongswan.conf") {
		t.Errorf("debian: %+v %v", l, err)
	}
	if l, _ := findLayout("", "/srv/x", root); l.IPsecConf != "/srv/x/ipsec.conf" {
		t.Errorf("env: %+v", l)
	}
	if l, _ := findLayout("/opt/y", "/srv/x", root); l.IPsecConf != "/opt/y/ipsec.conf" {
		t.Errorf("flag over env: %+v", l)
	}
}

func TestSyntaxErrorLoadsNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ipsec.conf"), "conn a\n\ttype=transport\n\tauto=add\n\tleft=10.0.0.1\nbogus line\n", 0o644)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: noAddrs})
	wantDiag(t, ds, Error, "ipsec.conf", 5, "", "unknown section type")
	if len(l.Config.Connections) != 0 {
		t.Errorf("a file with a syntax error loaded %d conns", len(l.Config.Connections))
	}
}

func TestRFC3110Key(t *testing.T) {
	key, _ := pki.host(t, "moon")
	e := key.E
	b := []byte{3, byte(e >> 16), byte(e >> 8), byte(e)}
	b = append(b, key.N.Bytes()...)
	pub, err := loadPublicKey("dns:0s"+base64.StdEncoding.EncodeToString(b), "/nonexistent")
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Errorf("RFC 3110 key: %v", err)
	}
	for _, bad := range []string{"dns:0s", "dns:0x00", "ssh:AAAA", "0xzz", "0s!!", "/nonexistent/key.pem"} {
		if _, err := loadPublicKey(bad, "/nonexistent"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNodeExample loads the example under testdata/config/node1, which the
// documentation and "cygnet config check" use.
func TestNodeExample(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ipsec.conf", "ipsec.secrets", "strongswan.conf"} {
		b, err := os.ReadFile(filepath.Join(goldenDir(), "node1", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(b), 0o600)
	}
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.1")})
	if len(ds.Errors()) != 0 || len(l.Config.Connections) != 2 {
		t.Fatalf("%d connections:\n%s", len(l.Config.Connections), listDiags(ds))
	}
	for _, d := range ds {
		if d.Severity == Warning {
			t.Errorf("warning: %v", d)
		}
	}
	for _, c := range l.Config.Connections {
		if _, ok := l.Config.Credentials.LookupPSK(ike.IdentityFromAddr(c.Local.Addr), ike.IdentityFromAddr(c.Remote.Addr)); !ok {
			t.Errorf("%s: no PSK", c.Name)
		}
	}
	checkRoundTrip(t, l.IPsec)
}

func TestBrokenAlsoLoadsNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ipsec.conf"), "conn good\n\ttype=transport\n\tauto=add\n\tleft=10.0.0.1\nconn bad\n\ttype=transport\n\talso=missing\n", 0o644)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: noAddrs})
	wantDiag(t, ds, Error, "ipsec.conf", 7, "also", "not found")
	if len(l.Config.Connections) != 0 {
		t.Errorf("strongSwan rejects the whole file on a broken also=; %d conns loaded", len(l.Config.Connections))
	}
}

func TestDoSSettings(t *testing.T) {
	for _, tt := range []struct {
		conf                  string
		halfOpen, cook, block int
	}{
		{"", 0, 0, 0},
		{"charon {\n  init_limit_half_open = 500\n  cookie_threshold = 20\n  block_threshold = 3\n}\n", 500, 20, 3},
		{"charon {\n  init_limit_half_open = 0\n  cookie_threshold = 0\n  block_threshold = 0\n}\n", -1, -1, -1},
		// charon's dos_protection covers cookies and block_threshold, not
		// init_limit_half_open.
		{"charon {\n  dos_protection = no\n}\n", 0, math.MaxInt32, -1},
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "ipsec.conf"), "config setup\n", 0o644)
		writeFile(t, filepath.Join(dir, "strongswan.conf"), tt.conf, 0o644)
		l, _ := Load(LayoutAt(dir), &Options{LocalAddrs: noAddrs})
		if l.Config.HalfOpenLimit != tt.halfOpen || l.Config.CookieThreshold != tt.cook || l.Config.BlockThreshold != tt.block {
			t.Errorf("%q: half-open %d cookie %d block %d, want %d %d %d", tt.conf, l.Config.HalfOpenLimit, l.Config.CookieThreshold, l.Config.BlockThreshold, tt.halfOpen, tt.cook, tt.block)
		}
	}
}

func TestResolveEndpoints(t *testing.T) {
	c := ike.Connection{Name: "x",
		Local:  ike.Endpoint{Host: "10.9.0.1", Addr: netip.MustParseAddr("10.9.0.1")},
		Remote: ike.Endpoint{Host: "peer.example"}}
	r := mapResolver{"peer.example": {netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("10.9.0.2")}}
	if err := ResolveEndpoints(context.Background(), r, &c); err != nil || c.Remote.Addr != netip.MustParseAddr("10.9.0.2") {
		t.Errorf("resolved %v, %v; want the IPv4 address to match the local end", c.Remote.Addr, err)
	}
	c = ike.Connection{Name: "y", Local: ike.Endpoint{Host: "%defaultroute"}, Remote: ike.Endpoint{Host: "gone.example"}}
	if err := ResolveEndpoints(context.Background(), r, &c); err == nil || !strings.Contains(err.Error(), "gone.example") {
		t.Errorf("unresolvable name: %v", err)
	}
	if c.Local.Addr.IsValid() {
		t.Errorf("%%defaultroute resolved to %v", c.Local.Addr)
	}
}
