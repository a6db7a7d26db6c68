package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/swan"
)

// kind names a keying daemon implementation.
type kind string

const (
	kCygnet     kind = "cygnet"
	kStrongSwan kind = "strongswan"
	kLibreswan  kind = "libreswan"
)

// nodeConf is one node's configuration files: ipsec.conf and
// ipsec.secrets, files under ipsec.d keyed by relative path, and (charon
// only) extra strongswan.conf text for the charon section.
type nodeConf struct {
	ipsecConf string
	secrets   string
	ipsecD    map[string][]byte
	charon    string // lines inside charon { } of strongswan.conf
}

// peer is a keying daemon running in a namespace, driven the way its
// users drive it.
type peer interface {
	kind() kind
	// start writes the configuration and starts the daemon; it is stopped
	// when the test ends.
	start(t *testing.T, ns *nstest.NS, c nodeConf)
	// up initiates the connection and returns the command's output.
	up(name string) (string, error)
	// down deletes the connection's SAs.
	down(name string) (string, error)
	// command runs a status command of an evaltest check ("ipsec status",
	// "ipsec statusall", "ipsec whack --trafficstatus").
	command(cmd string) (string, error)
	// installed reports whether a transport-mode CHILD_SA of name is up,
	// with the status text it looked at.
	installed(name string) (bool, string)
	// log is the daemon's log so far.
	log() string
	// crash kills the daemon (SIGKILL: no DELETE reaches the peer, its
	// kernel state stays), runs between (if not nil) and starts the daemon
	// again with the same files.
	crash(t *testing.T, between func())
}

// cygnetPeer is cygnet's binary, configured through CYGNET_CONFDIR with the
// same ipsec.conf, ipsec.secrets and ipsec.d a strongSwan user writes.
type cygnetPeer struct {
	ns     *nstest.NS
	dir    string
	piddir string
}

func cygnetBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(envBin)
	if bin == "" {
		t.Fatalf("%s not set: TestMain builds cygnet", envBin)
	}
	return bin
}

func (c *cygnetPeer) kind() kind { return kCygnet }

func (c *cygnetPeer) ipsec(args ...string) (string, error) {
	bin := os.Getenv(envBin)
	argv := append([]string{"env", "CYGNET_CONFDIR=" + c.dir, "CYGNET_PIDDIR=" + c.piddir, bin, "ipsec"}, args...)
	return c.ns.Output(argv...)
}

func (c *cygnetPeer) start(t *testing.T, ns *nstest.NS, nc nodeConf) {
	t.Helper()
	c.ns, c.dir, c.piddir = ns, t.TempDir(), t.TempDir()
	cygnetBin(t)
	// The same strongswan.conf charon gets: cygnet reads its filelog
	// section, so its log lands where charon's would.
	files := map[string][]byte{"ipsec.conf": []byte(nc.ipsecConf), "ipsec.secrets": []byte(nc.secrets),
		"strongswan.conf": []byte(strongswanConf(filepath.Join(c.piddir, "charon.log"), nc.charon))}
	for name, data := range nc.ipsecD {
		files[filepath.Join("ipsec.d", name)] = data
	}
	writeFiles(t, c.dir, files)
	t.Cleanup(func() {
		c.ipsec("stop")
		if pid := c.pid(); pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	c.launch(t)
}

func (c *cygnetPeer) launch(t *testing.T) {
	t.Helper()
	if out, err := c.ipsec("start"); err != nil {
		t.Fatalf("cygnet: ipsec start in %s: %v\n%s\nlog:\n%s", c.ns.Name, err, out, c.log())
	}
}

func (c *cygnetPeer) crash(t *testing.T, between func()) {
	t.Helper()
	if pid := c.pid(); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.pid() != 0 && syscall.Kill(c.pid(), 0) == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if between != nil {
		between()
	}
	c.launch(t)
}

func (c *cygnetPeer) pid() int {
	b, err := os.ReadFile(filepath.Join(c.piddir, "charon.pid"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

func (c *cygnetPeer) up(name string) (string, error)   { return c.ipsec("up", name) }
func (c *cygnetPeer) down(name string) (string, error) { return c.ipsec("down", name) }

func (c *cygnetPeer) command(cmd string) (string, error) {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "ipsec" {
		return "", fmt.Errorf("cygnet: unsupported command %q", cmd)
	}
	return c.ipsec(f[1:]...)
}

func (c *cygnetPeer) installed(name string) (bool, string) {
	out, _ := c.ipsec("status", name)
	return strings.Contains(out, "INSTALLED, TRANSPORT"), out
}

// log is the filelog of strongswan.conf, or the daemon's own stderr when
// that is empty (a start that failed before the log was opened).
func (c *cygnetPeer) log() string {
	file, _ := os.ReadFile(filepath.Join(c.piddir, "charon.log"))
	stderr, _ := os.ReadFile(filepath.Join(c.piddir, "cygnet.log"))
	if len(file) > 0 {
		// stderr holds the same lines at a lower level, plus start-up errors.
		return string(file)
	}
	return string(stderr)
}

// swanPeer is strongSwan's charon from the distribution (internal/swan).
type swanPeer struct {
	c     *swan.Charon
	files swan.Files
	t     *testing.T
}

func (s *swanPeer) kind() kind { return kStrongSwan }

func (s *swanPeer) start(t *testing.T, ns *nstest.NS, nc nodeConf) {
	t.Helper()
	swan.Require(t)
	s.t = t
	logPath := filepath.Join(t.TempDir(), "charon.log")
	conf := strongswanConf(logPath, nc.charon)
	s.files = swan.Files{IPsecConf: nc.ipsecConf, IPsecSecrets: nc.secrets, StrongswanConf: conf, Extra: nc.ipsecD}
	s.c = swan.Start(t, ns, s.files)
	s.c.LogPath = logPath
}

func (s *swanPeer) crash(t *testing.T, between func()) {
	t.Helper()
	// The starter would restart a dead charon by itself; both go.
	s.c.Run("sh", "-c", "kill -9 $(cat /run/starter.charon.pid) $(cat /run/charon.pid); "+
		"sleep 1; rm -f /run/starter.charon.pid /run/charon.pid /run/charon.ctl")
	if between != nil {
		between()
	}
	if out, err := s.c.Run("ipsec", "start"); err != nil {
		t.Fatalf("strongswan: ipsec start after the crash: %v\n%s", err, out)
	}
	if out, ok := s.c.WaitStatus("Status of IKE charon daemon", 60*time.Second); !ok {
		t.Fatalf("strongswan: charon did not come back:\n%s", out)
	}
}

func (s *swanPeer) up(name string) (string, error)   { return s.c.Up(name) }
func (s *swanPeer) down(name string) (string, error) { return s.c.Run("ipsec", "down", name) }

func (s *swanPeer) command(cmd string) (string, error) {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "ipsec" {
		return "", fmt.Errorf("strongswan: unsupported command %q", cmd)
	}
	return s.c.Run(f...)
}

func (s *swanPeer) installed(name string) (bool, string) {
	out := s.c.Status(name)
	return strings.Contains(out, "INSTALLED, TRANSPORT"), out
}

func (s *swanPeer) log() string { return s.c.Log() }

// strongswanConf is internal/swan's strongswan.conf with extra settings
// in the charon section. An extra setting replaces internal/swan's line
// for the same key (a repeated key would leave the parser to pick one).
func strongswanConf(logPath, charon string) string {
	conf := swan.DefaultStrongswanConf(logPath)
	if charon == "" {
		return conf
	}
	lines := strings.Split(conf, "\n")
	for _, extra := range strings.Split(charon, "\n") {
		key, _, ok := strings.Cut(extra, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		for i, l := range lines {
			// The charon section's own settings are indented by two.
			if k, _, ok := strings.Cut(l, "="); ok && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") && strings.TrimSpace(k) == key {
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
	}
	return strings.Replace(strings.Join(lines, "\n"), "charon {\n", "charon {\n"+charon+"\n", 1)
}

// peerVersion is what `ipsec version` (or pluto --version) prints, first
// line only, for the matrix table.
func peerVersion(k kind) string {
	var out []byte
	var err error
	switch k {
	case kCygnet:
		out, err = exec.Command(os.Getenv(envBin), "ipsec", "version").CombinedOutput()
	case kStrongSwan:
		out, err = exec.Command("ipsec", "version").CombinedOutput()
	case kLibreswan:
		root, rerr := libreswanRoot()
		if rerr != nil {
			return rerr.Error()
		}
		cmd := exec.Command(filepath.Join(root, "usr/libexec/ipsec/pluto"), "--version")
		cmd.Env = libreswanEnv(root)
		out, err = cmd.CombinedOutput()
	}
	if err != nil {
		return fmt.Sprintf("%s: %v", k, err)
	}
	line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if k == kLibreswan {
		// pluto lists its build options after the version; keep the name.
		if f := strings.Fields(line); len(f) > 2 {
			line = strings.Join(f[:2], " ")
		}
	}
	return line
}

func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
