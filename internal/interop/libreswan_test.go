package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
)

// lswPeer is libreswan's pluto, unpacked from Debian's package (see
// unpackLibreswan), run with its own configuration, NSS database and run
// directory, so it shares nothing with the strongSwan install.
type lswPeer struct {
	ns   *nstest.NS
	root string
	dir  string // ipsec.conf, ipsec.secrets, nss/, run/, pluto.log
	cmd  *exec.Cmd
	done chan struct{}
}

func (l *lswPeer) kind() kind { return kLibreswan }

func (l *lswPeer) path(p ...string) string { return filepath.Join(append([]string{l.dir}, p...)...) }

func (l *lswPeer) exe(name string) string {
	if name == "certutil" || name == "pk12util" {
		return filepath.Join(l.root, "usr/bin", name)
	}
	return filepath.Join(l.root, "usr/libexec/ipsec", name)
}

// tool runs one of libreswan's programs (or NSS's) in the namespace.
func (l *lswPeer) tool(name string, args ...string) (string, error) {
	cmd := l.ns.Command(append([]string{l.exe(name)}, args...)...)
	cmd.Env = libreswanEnv(l.root)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l *lswPeer) whack(args ...string) (string, error) {
	return l.tool("whack", append([]string{"--ctlsocket", l.path("run", "pluto.ctl")}, args...)...)
}

func (l *lswPeer) start(t *testing.T, ns *nstest.NS, nc nodeConf) {
	t.Helper()
	root, err := libreswanRoot()
	if err != nil {
		if os.Getenv("CYGNET_REQUIRE_VM") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	l.ns, l.root, l.dir = ns, root, t.TempDir()
	files := map[string][]byte{"ipsec.conf": []byte(nc.ipsecConf), "ipsec.secrets": []byte(nc.secrets)}
	for name, data := range nc.ipsecD {
		files[name] = data
	}
	writeFiles(t, l.dir, files)
	for _, d := range []string{"nss", "run", "ipsec.d"} {
		if err := os.MkdirAll(l.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	nss := "sql:" + l.path("nss")
	if out, err := l.tool("certutil", "-N", "-d", nss, "--empty-password"); err != nil {
		t.Fatalf("libreswan: certutil -N: %v\n%s", err, out)
	}
	// Certificates and keys go into NSS: the CA as trusted for peers, the
	// node's own certificate and key from a PKCS#12 file.
	if _, ok := nc.ipsecD["ca.pem"]; ok {
		if out, err := l.tool("certutil", "-A", "-d", nss, "-n", "ca", "-t", "CT,,", "-i", l.path("ca.pem")); err != nil {
			t.Fatalf("libreswan: certutil -A: %v\n%s", err, out)
		}
	}
	if _, ok := nc.ipsecD["node.p12"]; ok {
		if out, err := l.tool("pk12util", "-i", l.path("node.p12"), "-d", nss, "-W", p12Pass); err != nil {
			t.Fatalf("libreswan: pk12util -i: %v\n%s", err, out)
		}
	}
	t.Cleanup(l.stop)
	l.launch(t)
}

const p12Pass = "interop"

func (l *lswPeer) launch(t *testing.T) {
	t.Helper()
	os.Remove(l.path("run", "pluto.ctl"))
	// pluto runs addconn (to load the conns of ipsec.conf) from its
	// compiled-in /usr/libexec/ipsec, which the unpacked root does not
	// provide: in the private mount namespace `ip netns exec` makes, a
	// tmpfs over /usr/libexec takes a bind mount of the unpacked folder.
	script := fmt.Sprintf("mount -t tmpfs libexec /usr/libexec && mkdir /usr/libexec/ipsec && "+
		"mount --bind %s /usr/libexec/ipsec && exec %s --nofork --config %s --secretsfile %s "+
		"--ipsecdir %s --nssdir %s --rundir %s --logfile %s",
		filepath.Join(l.root, "usr/libexec/ipsec"), l.exe("pluto"), l.path("ipsec.conf"),
		l.path("ipsec.secrets"), l.path("ipsec.d"), l.path("nss"), l.path("run"), l.path("pluto.log"))
	l.cmd = l.ns.Command("sh", "-c", script)
	l.cmd.Env = libreswanEnv(l.root)
	out := &strings.Builder{}
	l.cmd.Stdout, l.cmd.Stderr = out, out
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("libreswan: pluto: %v", err)
	}
	l.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(l.cmd, l.done)
	// Ready when the control socket answers with the connection loaded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := l.whack("--status")
		if err == nil && strings.Contains(st, `"`+connName+`":`) {
			break
		}
		select {
		case <-l.done:
			t.Fatalf("libreswan: pluto exited at start: %s\nlog:\n%s", out, l.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("libreswan: pluto did not load %s: %v\n%s\nlog:\n%s", connName, err, st, l.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (l *lswPeer) stop() {
	if l.cmd == nil || l.cmd.Process == nil {
		return
	}
	l.whack("--shutdown")
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		l.cmd.Process.Kill()
		<-l.done
	}
}

func (l *lswPeer) crash(t *testing.T, between func()) {
	t.Helper()
	l.cmd.Process.Kill()
	<-l.done
	if between != nil {
		between()
	}
	l.launch(t)
}

func (l *lswPeer) up(name string) (string, error) {
	return l.whack("--name", name, "--initiate")
}

func (l *lswPeer) down(name string) (string, error) {
	return l.whack("--name", name, "--terminate")
}

// command maps the status commands of libreswan's pattern files:
// "ipsec status", "ipsec trafficstatus", "ipsec whack ARGS".
func (l *lswPeer) command(cmd string) (string, error) {
	f := strings.Fields(cmd)
	switch {
	case len(f) == 2 && f[0] == "ipsec" && f[1] == "status":
		return l.whack("--status")
	case len(f) == 2 && f[0] == "ipsec" && f[1] == "trafficstatus":
		return l.whack("--trafficstatus")
	case len(f) > 2 && f[0] == "ipsec" && f[1] == "whack":
		return l.whack(f[2:]...)
	}
	return "", fmt.Errorf("libreswan: unsupported command %q", cmd)
}

func (l *lswPeer) installed(name string) (bool, string) {
	out, _ := l.whack("--trafficstatus")
	return strings.Contains(out, `"`+name+`"`) && strings.Contains(out, "type=ESP"), out
}

func (l *lswPeer) log() string {
	b, _ := os.ReadFile(l.path("pluto.log"))
	return string(b)
}

// lswProposal translates the matrix's strongSwan proposals to libreswan's
// syntax (encryption-prf-group; ESP groups need pfs=yes, which is
// libreswan's default, and a "null" integrity for AEAD).
var lswIKE = map[string]string{
	"aes128gcm16-prfsha256-ecp256": "aes_gcm128-sha2_256-dh19",
	"aes256gcm16-prfsha384-ecp384": "aes_gcm256-sha2_384-dh20",
	"aes256gcm16-prfsha512-x25519": "aes_gcm256-sha2_512-dh31",
	"aes256-sha256-modp2048":       "aes256-sha2_256-modp2048",
}

var lswESP = map[string]struct {
	esp string
	pfs bool
}{
	"aes128gcm16":        {"aes_gcm128", false},
	"aes256gcm16":        {"aes_gcm256", false},
	"aes128gcm16-ecp256": {"aes_gcm128-null-dh19", true},
	"aes256gcm16-ecp384": {"aes_gcm256-null-dh20", true},
	"aes256-sha256":      {"aes256-sha2_256", false},
}

// lswConf renders libreswan's configuration of n for the case.
func (c *tcase) lswConf(t *testing.T, r *run, n *node) nodeConf {
	t.Helper()
	o := n.other(r)
	ike, ok := lswIKE[c.ike]
	esp, ok2 := lswESP[c.esp]
	if !ok || !ok2 {
		t.Fatalf("libreswan: no translation of ike=%s esp=%s", c.ike, c.esp)
	}
	pfs := "no"
	if esp.pfs {
		pfs = "yes"
	}
	auto := "add"
	if c.autoStart {
		auto = "start"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `config setup
	plutodebug=none

conn %s
	ikev2=insist
	type=transport
	leftupdown=/bin/true
	left=%v
	leftid=%s
	right=%s
	rightid=%s
	ike=%s
	esp=%s
	pfs=%s
	auto=%s
	keyingtries=1
`, connName, n.addr, lswID(c.id(n.name)), n.peerConfHost(r), lswID(c.id(o.name)), ike, esp.esp, pfs, auto)
	nc := nodeConf{ipsecD: map[string][]byte{}}
	switch c.auth {
	case authPSK:
		b.WriteString("\tauthby=secret\n")
		nc.secrets = fmt.Sprintf("%s %s : PSK \"%s\"\n", c.id("moon"), c.id("sun"), psk)
	case authECDSA, authRSA:
		cr := credsByKey[c.auth]
		me := cr.moon
		if n.name == "sun" {
			me = cr.sun
		}
		p12, err := pkcs12(t, me)
		if err != nil {
			t.Fatal(err)
		}
		nc.ipsecD["node.p12"] = p12
		nc.ipsecD["ca.pem"] = authtest.CertPEM(cr.ca.Cert)
		method := "ecdsa"
		if c.auth == authRSA {
			method = "rsasig"
		}
		fmt.Fprintf(&b, "\tauthby=%s\n\tleftcert=%s\n", method, n.name)
		nc.secrets = "\n"
	default:
		t.Fatalf("libreswan: auth %s not in the libreswan cases", c.auth)
	}
	b.WriteString(c.conn)
	if n.name == "moon" {
		b.WriteString(c.connMoon)
	} else {
		b.WriteString(c.connSun)
	}
	nc.ipsecConf = b.String()
	return nc
}

// lswID writes an ID the libreswan way: DNs quoted, FQDNs with @.
func lswID(id string) string {
	if strings.Contains(id, "=") {
		return `"` + id + `"`
	}
	return id
}

// pkcs12 packs a credential into a PKCS#12 file for pk12util, with the
// friendly name the conn's leftcert refers to. Go has no PKCS#12 encoder;
// openssl writes it.
func pkcs12(t *testing.T, c *authtest.Credential) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	key, err := authtest.KeyPEM(c.Key)
	if err != nil {
		return nil, err
	}
	name := "moon"
	if strings.HasPrefix(c.Cert.Subject.CommonName, "sun") {
		name = "sun"
	}
	writeFiles(t, dir, map[string][]byte{"cert.pem": authtest.CertPEM(c.Cert), "key.pem": key})
	out, err := exec.Command("openssl", "pkcs12", "-export", "-in", filepath.Join(dir, "cert.pem"),
		"-inkey", filepath.Join(dir, "key.pem"), "-name", name, "-passout", "pass:"+p12Pass,
		"-out", filepath.Join(dir, "node.p12")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("interop: openssl pkcs12: %v: %s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "node.p12"))
}

// lswIKEText and lswESPText are how `whack --status` prints the proposals.
var lswIKEText = map[string]string{
	"aes128gcm16-prfsha256-ecp256": "AES_GCM_16_128-HMAC_SHA2_256-DH19",
	"aes256gcm16-prfsha384-ecp384": "AES_GCM_16_256-HMAC_SHA2_384-DH20",
	"aes256gcm16-prfsha512-x25519": "AES_GCM_16_256-HMAC_SHA2_512-DH31",
	"aes256-sha256-modp2048":       "AES_CBC_256-HMAC_SHA2_256-MODP2048",
}

var lswESPText = map[string]string{
	"aes128gcm16":        "AES_GCM_16_128-NONE",
	"aes256gcm16":        "AES_GCM_16_256-NONE",
	"aes128gcm16-ecp256": "AES_GCM_16_128-NONE",
	"aes256gcm16-ecp384": "AES_GCM_16_256-NONE",
	"aes256-sha256":      "AES_CBC_256-HMAC_SHA2_256_128",
}

// libreswanMatrix is the libreswan part: PSK and ECDSA certificates, two
// proposals, both directions, and a CHILD_SA rekey started by each side.
var libreswanMatrix = []tcase{
	{name: "c2l-psk-ecp256-v4", moon: kCygnet, sun: kLibreswan, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	{name: "c2l-ecdsa-fqdn-ecp384-v6", moon: kCygnet, sun: kLibreswan, auth: authECDSA,
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16", v6: true},
	{name: "l2c-psk-ecp384-v6", moon: kLibreswan, sun: kCygnet, auth: authPSK,
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16", v6: true},
	{name: "l2c-ecdsa-dn-ecp256-v4", moon: kLibreswan, sun: kCygnet, auth: authECDSA, dn: true,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	// pluto's salifetime is strongSwan's keylife.
	{name: "c2l-child-rekey-by-libreswan", moon: kCygnet, sun: kLibreswan, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", connSun: "\tsalifetime=40s\n\trekeymargin=20s\n\trekeyfuzz=0%\n",
		lifecycle: waitChildRekey},
	{name: "l2c-child-rekey-by-cygnet", moon: kLibreswan, sun: kCygnet, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", connSun: childRekeySoon,
		lifecycle: waitChildRekey},
}

// TestInteropLibreswan is the libreswan matrix.
func TestInteropLibreswan(t *testing.T) {
	runMatrix(t, "cygnet and libreswan", libreswanMatrix)
}
