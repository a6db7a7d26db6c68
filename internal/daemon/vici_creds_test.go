package daemon

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
	govici "github.com/strongswan/govici/vici"
)

// testPKI is a CA and two end entities, moon (the daemon, 127.0.0.1) and
// sun (an in-memory peer engine).
type testPKI struct {
	ca, moon, sun          *x509.Certificate
	caKey, moonKey, sunKey *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	p.caKey, p.moonKey, p.sunKey = key(), key(), key()
	p.ca = issue(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"cygnet"}, CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, &p.caKey.PublicKey, nil, p.caKey)
	leaf := func(serial int64, cn, ip string, k *ecdsa.PrivateKey) *x509.Certificate {
		return issue(&x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Organization: []string{"cygnet"}, CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(ip)},
			KeyUsage: x509.KeyUsageDigitalSignature}, &k.PublicKey, p.ca, p.caKey)
	}
	p.moon = leaf(2, "moon", "127.0.0.1", p.moonKey)
	p.sun = leaf(3, "sun", "127.0.0.4", p.sunKey)
	return p
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func dnID(c *x509.Certificate) ike.Identity {
	return ike.Identity{Type: message.IDDERASN1DN, Data: c.RawSubject}
}

// certPeerEngine is sun: conn "certmesh" to local (moon), authenticated
// with sun's certificate, expecting moon's subject DN.
func certPeerEngine(t *testing.T, link *memLink, p *testPKI, local, remote netip.Addr) *ike.Engine {
	t.Helper()
	cfg := &ike.Config{
		Connections: []ike.Connection{{
			Name: "certmesh", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
			Local:  ike.Endpoint{Addr: local, Auth: ike.AuthPubkey, Cert: p.sun},
			Remote: ike.Endpoint{Addr: remote, Auth: ike.AuthPubkey, ID: dnID(p.moon)},
			IKE: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
				PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHCurve25519}}},
			ESP:   []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}},
			Rekey: true,
		}},
		Credentials: ike.Credentials{PrivateKeys: []crypto.Signer{p.sunKey}, CACerts: []*x509.Certificate{p.ca}},
	}
	e, err := ike.New(ike.Options{Config: cfg, Transport: link, Kernel: &xfrmtest.Fake{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	link.attach(local, e)
	t.Cleanup(func() { e.Close() })
	return e
}

// certConn is moon's side of certmesh as swanctl sends it: the local
// certificate and the remote CA inline.
func certConn(t *testing.T, p *testPKI) *govici.Message {
	child := msg(t, "mode", "transport", "esp_proposals", []string{"aes256gcm16"})
	conn := msg(t, "version", "2", "local_addrs", []string{"127.0.0.1"}, "remote_addrs", []string{"127.0.0.4"},
		"proposals", []string{"aes256gcm16-prfsha256-curve25519"},
		"local", msg(t, "auth", "pubkey", "certs", []string{string(certPEM(p.moon))}),
		"remote", msg(t, "auth", "pubkey", "id", "O=cygnet, CN=sun", "cacerts", []string{string(p.ca.Raw)}),
		"children", msg(t, "certmesh-child", child))
	return msg(t, "certmesh", conn)
}

func childSPIs(d *Daemon, conn string) (uint32, uint64, bool) {
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == conn && sa.State == "ESTABLISHED" && len(sa.Children) == 1 {
			return sa.Children[0].SPIIn, sa.SPIi, true
		}
	}
	return 0, 0, false
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestVICICreds drives the credential commands and rekey with govici:
// load-key answers charon's key id, get-keys lists it, load-cert takes a
// CA (and refuses a leaf flagged CA), a certificate-authenticated conn
// comes up against a peer that checks moon's certificate, rekey of the
// CHILD_SA and of the IKE_SA by name and by unique id replace their
// SPIs, terminate by child-id leaves the IKE_SA and by ike-id takes it,
// unload-key and clear-creds drop what was loaded, and a conn then
// fails for want of its key.
func TestVICICreds(t *testing.T) {
	p := newTestPKI(t)
	link := &memLink{}
	d, path := startVICIDaemon(t, "config setup\n", link)
	certPeerEngine(t, link, p, netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.0.1"))
	s := session(t, path)
	mon := session(t, path)
	events := make(chan govici.Event, 100)
	mon.NotifyEvents(events)
	if err := mon.Subscribe("ike-rekey", "child-rekey"); err != nil {
		t.Fatal(err)
	}

	keyDER, _ := x509.MarshalECPrivateKey(p.moonKey)
	if _, err := call(t, s, "load-key", msg(t, "type", "rsa", "data", string(keyDER))); err == nil ||
		!strings.Contains(err.Error(), "not rsa") {
		t.Errorf("load-key of an ECDSA key as rsa: %v", err)
	}
	if _, err := call(t, s, "load-key", msg(t, "type", "ecdsa", "data", "garbage")); err == nil {
		t.Error("load-key of garbage succeeded")
	}
	lk, err := call(t, s, "load-key", msg(t, "type", "ecdsa", "data", string(keyDER)))
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := keyID(&p.moonKey.PublicKey)
	if lk.Get("id") != wantID || len(wantID) != 40 {
		t.Errorf("load-key id %v, want %s", lk.Get("id"), wantID)
	}
	gk, _ := call(t, s, "get-keys", nil)
	if fmt.Sprint(gk.Get("keys")) != "["+wantID+"]" {
		t.Errorf("get-keys: %v", gk)
	}
	if _, err := call(t, s, "load-cert", msg(t, "type", "X509", "flag", "CA", "data", string(p.moon.Raw))); err == nil ||
		!strings.Contains(err.Error(), "ca basic constraint") {
		t.Errorf("load-cert of a leaf flagged CA: %v", err)
	}
	if _, err := call(t, s, "load-cert", msg(t, "type", "X509_AC", "flag", "NONE", "data", "x")); err == nil ||
		!strings.Contains(err.Error(), "type") {
		t.Errorf("load-cert of an attribute certificate: %v", err)
	}
	for _, c := range []struct {
		flag string
		cert *x509.Certificate
	}{{"CA", p.ca}, {"NONE", p.moon}} {
		if _, err := call(t, s, "load-cert", msg(t, "type", "X509", "flag", c.flag, "data", string(c.cert.Raw))); err != nil {
			t.Fatalf("load-cert %s: %v", c.flag, err)
		}
	}
	if _, err := call(t, s, "load-conn", certConn(t, p)); err != nil {
		t.Fatal(err)
	}
	if logs := streamed(t, s, "initiate", "control-log", msg(t, "child", "certmesh-child", "timeout", "20000")); len(logs) == 0 {
		t.Error("initiate: no control-log")
	}
	spi, ikeSPI, up := childSPIs(d, "certmesh")
	if !up {
		t.Fatal("certmesh is not up")
	}

	// rekey: unknown names and no match are errors; a CHILD_SA by name,
	// then by unique id; the IKE_SA by name.
	if _, err := call(t, s, "rekey", msg(t, "child", "nosuch")); err == nil {
		t.Error("rekey of an unknown child succeeded")
	}
	if _, err := call(t, s, "rekey", msg(t, "ike-id", "9999")); err == nil {
		t.Error("rekey of an unknown ike-id succeeded")
	}
	rk, err := call(t, s, "rekey", msg(t, "child", "certmesh-child"))
	if err != nil || rk.Get("matches") != "1" {
		t.Fatalf("rekey child: %v %v", rk, err)
	}
	waitFor(t, "the CHILD_SA rekey", func() bool { n, _, ok := childSPIs(d, "certmesh"); return ok && n != spi })
	spi, _, _ = childSPIs(d, "certmesh")
	var childUID uint32
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == "certmesh" && len(sa.Children) == 1 {
			childUID = sa.Children[0].UniqueID
		}
	}
	if _, err := call(t, s, "rekey", msg(t, "child-id", fmt.Sprint(childUID))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CHILD_SA rekey by id", func() bool { n, _, ok := childSPIs(d, "certmesh"); return ok && n != spi })
	if _, err := call(t, s, "rekey", msg(t, "ike", "certmesh")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the IKE_SA rekey", func() bool { _, n, ok := childSPIs(d, "certmesh"); return ok && n != ikeSPI })
	// Two child-rekey events with the old and the new CHILD_SA, one
	// ike-rekey with the old and the new IKE_SA, as charon's README has
	// them.
	counts := map[string]int{}
	for deadline := time.After(10 * time.Second); counts["child-rekey"] < 2 || counts["ike-rekey"] < 1; {
		select {
		case ev := <-events:
			counts[ev.Name]++
			sa, _ := ev.Message.Get("certmesh").(*govici.Message)
			if sa == nil {
				t.Fatalf("%s: no certmesh section:\n%v", ev.Name, ev.Message)
			}
			switch ev.Name {
			case "ike-rekey":
				o, _ := sa.Get("old").(*govici.Message)
				n, _ := sa.Get("new").(*govici.Message)
				if o == nil || n == nil || o.Get("initiator-spi") != fmt.Sprintf("%016x", ikeSPI) || n.Get("state") != "ESTABLISHED" {
					t.Errorf("ike-rekey:\n%v", ev.Message)
				}
			case "child-rekey":
				cs, _ := sa.Get("child-sas").(*govici.Message)
				var o, n *govici.Message
				if cs != nil {
					if ch, _ := cs.Get("certmesh-child").(*govici.Message); ch != nil {
						o, _ = ch.Get("old").(*govici.Message)
						n, _ = ch.Get("new").(*govici.Message)
					}
				}
				if o == nil || n == nil || o.Get("spi-in") == n.Get("spi-in") || n.Get("state") != "INSTALLED" {
					t.Errorf("child-rekey:\n%v", ev.Message)
				}
			}
		case <-deadline:
			t.Fatalf("rekey events: %v", counts)
		}
	}

	// reauth=yes makes a new IKE_SA with a fresh IKE_AUTH.
	_, ikeSPI, _ = childSPIs(d, "certmesh")
	if _, err := call(t, s, "rekey", msg(t, "ike", "certmesh", "reauth", "yes")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reauthentication", func() bool { _, n, ok := childSPIs(d, "certmesh"); return ok && n != ikeSPI })

	// list-policies lists trap policies: none until the conn is installed.
	if pols := streamed(t, s, "list-policies", "list-policy", nil); len(pols) != 0 {
		t.Errorf("list-policies without traps: %v", pols)
	}

	// terminate by child-id deletes the CHILD_SA only; by ike-id the
	// IKE_SA; initiate brings the conn back.
	var ikeUID uint32
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == "certmesh" && len(sa.Children) == 1 {
			ikeUID, childUID = sa.UniqueID, sa.Children[0].UniqueID
		}
	}
	if _, err := call(t, s, "terminate", msg(t, "child-id", "99999")); err == nil {
		t.Error("terminate of an unknown child-id succeeded")
	}
	if tm, err := call(t, s, "terminate", msg(t, "child-id", fmt.Sprint(childUID), "timeout", "10000")); err != nil || tm.Get("terminated") != "1" {
		t.Fatalf("terminate child-id: %v %v", tm, err)
	}
	for _, sa := range d.engine.Status().IKESAs {
		if sa.UniqueID == ikeUID && (sa.State != "ESTABLISHED" || len(sa.Children) != 0) {
			t.Errorf("after terminate child-id the IKE_SA is %s with %d CHILD_SAs", sa.State, len(sa.Children))
		}
	}
	if !d.ikeUp("certmesh") {
		t.Error("terminate child-id took the IKE_SA down")
	}
	if _, err := call(t, s, "terminate", msg(t, "ike-id", fmt.Sprint(ikeUID), "timeout", "10000")); err != nil {
		t.Fatal(err)
	}
	if d.ikeUp("certmesh") {
		t.Error("terminate ike-id left the IKE_SA")
	}
	if _, err := call(t, s, "initiate", msg(t, "child", "certmesh-child", "timeout", "20000")); err != nil {
		t.Fatal(err)
	}

	if _, err := call(t, s, "unload-key", msg(t, "id", "00"+wantID[2:])); err == nil && wantID[:2] != "00" {
		t.Error("unload-key of an unknown id succeeded")
	}
	if _, err := call(t, s, "unload-key", msg(t, "id", wantID)); err != nil {
		t.Fatal(err)
	}
	if gk, _ := call(t, s, "get-keys", nil); len(gk.Get("keys").([]string)) != 0 {
		t.Errorf("get-keys after unload-key: %v", gk)
	}
	if _, err := call(t, s, "load-key", msg(t, "type", "any", "data", string(keyDER))); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, s, "clear-creds", nil); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	creds := d.loaded.Config.Credentials
	d.mu.Unlock()
	if len(creds.PrivateKeys) != 0 || len(creds.CACerts) != 0 || len(creds.Certs) != 0 {
		t.Errorf("clear-creds left %d keys, %d CAs, %d certs", len(creds.PrivateKeys), len(creds.CACerts), len(creds.Certs))
	}
	if _, err := call(t, s, "terminate", msg(t, "ike", "certmesh", "timeout", "10000")); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, s, "initiate", msg(t, "child", "certmesh-child", "timeout", "10000")); err == nil {
		t.Error("certmesh came up without its private key")
	}
}

// TestVICISwanctlCerts drives swanctl 5.9.8 with a certificate mesh:
// --load-all of swanctl/x509ca, x509 and ecdsa and a conn with local.certs
// and remote.cacerts (no remote.id: any identity the CA vouches for),
// --list-certs, --list-conns, --initiate, --rekey of the CHILD_SA (by
// name and --child-id) and the IKE_SA (new SPIs in --list-sas, also
// --ike-id), --terminate --ike-id, --load-creds --clear,
// --install / --list-pols / --uninstall of a trap, and
// --monitor-sa printing the SAs' up and down events as they happen.
func TestVICISwanctlCerts(t *testing.T) {
	requireSwanctl(t)
	p := newTestPKI(t)
	link := &memLink{}
	d, path := startVICIDaemon(t, "config setup\n", link)
	certPeerEngine(t, link, p, netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.0.1"))
	dir := t.TempDir()
	for _, sub := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl",
		"pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12", "conf.d"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("x509ca/ca.pem", certPEM(p.ca))
	write("x509/moon.pem", certPEM(p.moon))
	write("ecdsa/moon.key", keyPEM(t, p.moonKey))
	// Keys no conn uses, in the other directories swanctl reads: an RSA
	// key (PKCS#1) and an Ed25519 one (PKCS#8).
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	write("rsa/extra.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	write("pkcs8/ed.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))
	write("swanctl.conf", []byte(`connections {
  certmesh {
    version = 2
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.4
    proposals = aes256gcm16-prfsha256-curve25519
    local {
      auth = pubkey
      certs = moon.pem
    }
    remote {
      # no id: swanctl.conf's %any, whatever sun's certificate proves
      auth = pubkey
      cacerts = ca.pem
    }
    children {
      certmesh-child {
        mode = transport
        esp_proposals = aes256gcm16
      }
    }
  }
}
`))
	swanctlCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(swanctlBin, append(args, "--uri", "unix://"+path)...)
		cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
		return cmd
	}
	swanctl := func(args ...string) string {
		t.Helper()
		out, err := swanctlCmd(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("swanctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	expect := func(out, re string) {
		t.Helper()
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", re, out)
		}
	}

	// --monitor-sa runs throughout and prints the events.
	mon := swanctlCmd("--monitor-sa")
	monOut, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	mon.Stderr = mon.Stdout
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	var monMu sync.Mutex
	var monText strings.Builder
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		sc := bufio.NewScanner(monOut)
		for sc.Scan() {
			monMu.Lock()
			monText.WriteString(sc.Text() + "\n")
			monMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mon.Process.Kill()
		mon.Wait()
	})
	// --monitor-sa registers for ike-updown and child-updown: wait until
	// the server has them all.
	waitFor(t, "swanctl --monitor-sa to register", func() bool {
		for _, ev := range []string{"ike-updown", "child-updown"} {
			if d.vici.srv.Registered(ev) == 0 {
				return false
			}
		}
		return true
	})

	out := swanctl("--load-all", "--noprompt")
	expect(out, `loaded certificate from '.*x509ca/ca\.pem'`)
	expect(out, `loaded certificate from '.*x509/moon\.pem'`)
	expect(out, `loaded ecdsa key from '.*ecdsa/moon\.key'`)
	expect(out, `loaded rsa key from '.*rsa/extra\.key'`)
	expect(out, `loaded \w+ key from '.*pkcs8/ed\.key'`)
	d.vici.mu.Lock()
	if n := len(d.vici.creds.keys); n != 3 {
		t.Errorf("%d private keys loaded, want 3", n)
	}
	d.vici.mu.Unlock()
	expect(out, `loaded connection 'certmesh'`)
	out = swanctl("--list-certs")
	expect(out, `subject: +"O=cygnet, CN=moon"`)
	expect(out, `has private key`)
	expect(out, `subject: +"O=cygnet, CN=test CA"`)
	out = swanctl("--list-conns")
	expect(out, `certmesh: IKEv2`)
	expect(out, `local public key authentication:`)
	expect(out, `certs: +O=cygnet, CN=moon`)
	expect(out, `remote public key authentication:`)
	expect(out, `remote public key authentication:\n\s+id: %any`)
	expect(out, `cacerts: +O=cygnet, CN=test CA`)
	expect(swanctl("--initiate", "--child", "certmesh-child"), `initiate completed successfully`)
	spi, ikeSPI, up := childSPIs(d, "certmesh")
	if !up {
		t.Fatal("certmesh is not up")
	}
	expect(swanctl("--list-sas"), fmt.Sprintf(`(?m)^\s+in  %08x,`, spi))

	expect(swanctl("--rekey", "--child", "certmesh-child"), `rekey completed successfully`)
	waitFor(t, "the CHILD_SA rekey", func() bool { n, _, ok := childSPIs(d, "certmesh"); return ok && n != spi })
	spi, _, _ = childSPIs(d, "certmesh")
	out = swanctl("--list-sas")
	expect(out, fmt.Sprintf(`(?m)^\s+in  %08x,`, spi))
	expect(out, `certmesh-child: #\d+, reqid \d+, INSTALLED, TRANSPORT`)
	// By unique id: --list-sas --ike-id and --rekey --child-id.
	var ikeUID, childUID uint32
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == "certmesh" && len(sa.Children) == 1 {
			ikeUID, childUID = sa.UniqueID, sa.Children[0].UniqueID
		}
	}
	expect(swanctl("--list-sas", "--ike-id", fmt.Sprint(ikeUID)), fmt.Sprintf(`certmesh: #%d, ESTABLISHED`, ikeUID))
	if out := swanctl("--list-sas", "--ike-id", fmt.Sprint(ikeUID+100)); strings.Contains(out, "certmesh") {
		t.Errorf("--list-sas --ike-id of another SA lists certmesh:\n%s", out)
	}
	expect(swanctl("--rekey", "--child-id", fmt.Sprint(childUID)), `rekey completed successfully`)
	waitFor(t, "the CHILD_SA rekey by id", func() bool { n, _, ok := childSPIs(d, "certmesh"); return ok && n != spi })
	expect(swanctl("--rekey", "--ike", "certmesh"), `rekey completed successfully`)
	waitFor(t, "the IKE_SA rekey", func() bool { _, n, ok := childSPIs(d, "certmesh"); return ok && n != ikeSPI })
	_, ikeSPI, _ = childSPIs(d, "certmesh")
	expect(swanctl("--list-sas"), fmt.Sprintf(`%016x_i`, ikeSPI))
	if out, err := swanctlCmd("--rekey", "--ike", "nosuch").CombinedOutput(); err == nil {
		t.Errorf("--rekey of an unknown conn succeeded:\n%s", out)
	}

	// --reload-settings re-reads strongswan.conf; the SAs stay.
	swanctl("--reload-settings") // silent on success, exit 1 on failure
	if !d.ikeUp("certmesh") {
		t.Error("--reload-settings took the SA down")
	}

	// --load-creds unloads a key whose file is gone (get-keys, then
	// unload-key of what it did not load again).
	if err := os.Remove(filepath.Join(dir, "rsa/extra.key")); err != nil {
		t.Fatal(err)
	}
	swanctl("--load-creds", "--noprompt")
	d.vici.mu.Lock()
	if n := len(d.vici.creds.keys); n != 2 {
		t.Errorf("after --load-creds without rsa/extra.key: %d private keys, want 2", n)
	}
	d.vici.mu.Unlock()

	// --load-creds --clear drops and reloads the same credentials.
	out = swanctl("--load-creds", "--clear", "--noprompt")
	expect(out, `loaded ecdsa key from`)
	if gk := swanctl("--list-pols"); strings.Contains(gk, "certmesh") {
		t.Errorf("--list-pols shows a trap that is not installed:\n%s", gk)
	}
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == "certmesh" {
			ikeUID = sa.UniqueID
		}
	}
	expect(swanctl("--terminate", "--ike-id", fmt.Sprint(ikeUID)), `terminate completed successfully`)
	if d.ikeUp("certmesh") {
		t.Error("--terminate --ike-id left the IKE_SA")
	}
	// An installed trap is listed by --list-pols.
	expect(swanctl("--install", "--child", "certmesh-child"), `install completed successfully`)
	out = swanctl("--list-pols")
	expect(out, `certmesh/certmesh-child, TRANSPORT`)
	expect(out, `local: +127\.0\.0\.1/32`)
	expect(out, `remote: +127\.0\.0\.4/32`)
	t.Logf("swanctl --list-pols:\n%s", out)
	expect(swanctl("--uninstall", "--child", "certmesh-child"), `uninstall completed successfully`)
	if d.engine.Routed("certmesh") || strings.Contains(swanctl("--list-pols"), "certmesh") {
		t.Error("--uninstall left the trap")
	}

	// --monitor-sa saw the SA come up, be rekeyed and go down. It
	// writes to a pipe through stdio's buffer, flushed when SIGINT ends
	// it normally.
	// The down events are published once the event goroutine has
	// handled the IKE_SA's (it then forgets the SA); give swanctl a moment
	// to read them.
	waitFor(t, "the down events", func() bool {
		d.vici.seenMu.Lock()
		defer d.vici.seenMu.Unlock()
		return len(d.vici.seen) == 0
	})
	time.Sleep(300 * time.Millisecond)
	mon.Process.Signal(os.Interrupt)
	select {
	case <-monDone:
	case <-time.After(10 * time.Second):
		t.Fatal("swanctl --monitor-sa did not stop on SIGINT")
	}
	monMu.Lock()
	text := monText.String()
	monMu.Unlock()
	t.Logf("swanctl --monitor-sa:\n%s", text)
	expect(text, `certmesh: #\d+, ESTABLISHED, IKEv2`)
	expect(text, `certmesh-child: #\d+, reqid \d+, INSTALLED, TRANSPORT`)
	expect(text, `certmesh: #\d+, DELETING, IKEv2`)
	// The down event describes the CHILD_SA as it was, not from scratch.
	expect(text, `certmesh-child: #\d+, reqid \d+, DELETING, TRANSPORT, ESP:AES_GCM_16-256`)
	d.vici.seenMu.Lock()
	if n := len(d.vici.seen); n != 0 {
		t.Errorf("the event cache keeps %d IKE_SAs that are gone", n)
	}
	d.vici.seenMu.Unlock()
}

// TestStrongswanUnitLoadsSwanctl runs init/strongswan.service's
// ExecStartPost line as systemd would once the daemon is started: it
// waits for the VICI socket to answer and runs swanctl --load-all, which
// must load swanctl.conf's conn into the daemon (swanctl finds the socket
// through strongswan.conf's swanctl.socket, as on a host where
// charon.plugins.vici.socket moved it).
func TestStrongswanUnitLoadsSwanctl(t *testing.T) {
	requireSwanctl(t)
	unit, err := os.ReadFile(filepath.Join("..", "..", "init", "strongswan.service"))
	if err != nil {
		t.Fatal(err)
	}
	var post string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStartPost=-/bin/sh -c "); ok {
			post = strings.Trim(v, "'")
		}
	}
	if post == "" {
		t.Fatal("no ExecStartPost=-/bin/sh -c '…' line in init/strongswan.service")
	}
	link := &memLink{}
	d, path := startVICIDaemon(t, abConf, link)
	dir := t.TempDir()
	for _, sub := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl",
		"pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12", "conf.d"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	conf := filepath.Join(dir, "strongswan.conf")
	os.WriteFile(conf, []byte("swanctl {\n  socket = unix://"+path+"\n}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(`connections {
  fromunit {
    remote_addrs = 127.0.0.9
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      fromunit {
        mode = transport
      }
    }
  }
}
`), 0o600)
	cmd := exec.Command("/bin/sh", "-c", post)
	cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir, "STRONGSWAN_CONF="+conf,
		"PATH="+filepath.Dir(swanctlBin)+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ExecStartPost: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "loaded connection 'fromunit'") || d.connByName("fromunit") == nil {
		t.Errorf("ExecStartPost did not load the conn:\n%s", out)
	}
}
