// Package swan runs strongSwan's charon (Debian's packages, the ipsec.conf
// "stroke" flavour) inside a test network namespace, driven by its own
// configuration files, as the reference peer for interoperability tests.
// Each instance gets a private /run (pid files, control socket) and its own
// /etc/ipsec.conf, ipsec.secrets, strongswan.conf and ipsec.d through
// /etc/netns/NAME, which `ip netns exec` binds over /etc.
package swan

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
)

// Files are a charon's configuration. Extra holds further files under
// ipsec.d (e.g. "certs/moon.pem", "private/moon.key").
type Files struct {
	IPsecConf      string
	IPsecSecrets   string
	StrongswanConf string // empty: a minimal one with logging to LogPath
	Extra          map[string][]byte
}

// Charon is one running strongSwan instance.
type Charon struct {
	NS      *nstest.NS
	LogPath string
	holder  *exec.Cmd
	etc     string
}

// Available reports whether strongSwan's ipsec command is installed.
func Available() error {
	for _, b := range []string{"ipsec", "nsenter"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("swan: %s not installed (Debian packages strongswan, strongswan-starter, util-linux): %w", b, err)
		}
	}
	if _, err := os.Stat("/usr/lib/ipsec/charon"); err != nil {
		return fmt.Errorf("swan: charon not installed (Debian package strongswan-charon): %w", err)
	}
	return nil
}

// Require stops a test that needs strongSwan when it is not installed: it
// fails inside `make test` (CYGNET_REQUIRE_ROOT=1, which installs it) and
// skips elsewhere, saying what is missing.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv("CYGNET_REQUIRE_ROOT") == "1" || os.Getenv("CYGNET_REQUIRE_VM") == "1" {
		t.Fatalf("%v (make test installs it)", err)
	}
	t.Skipf("%v: run `make test`, which installs it", err)
}

// DefaultStrongswanConf loads the plugins a PSK/certificate transport-mode
// node needs and logs IKE at level 2 to logPath.
func DefaultStrongswanConf(logPath string) string {
	return fmt.Sprintf(`charon {
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 gmp x509 pem pkcs1 pkcs8 pubkey revocation constraints stroke kernel-netlink socket-default updown openssl
  install_routes = no
  retransmit_timeout = 2.0
  retransmit_base = 1.5
  retransmit_tries = 5
  filelog {
    charon {
      path = %s
      time_format = %%T
      default = 1
      ike = 2
      cfg = 2
      knl = 1
      flush_line = yes
    }
  }
}
`, logPath)
}

// Start writes the configuration and starts charon in ns; it is stopped
// when the test ends.
func Start(t testing.TB, ns *nstest.NS, f Files) *Charon {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	c := &Charon{NS: ns, etc: filepath.Join("/etc/netns", ns.Name), LogPath: filepath.Join(t.TempDir(), "charon.log")}
	if f.StrongswanConf == "" {
		f.StrongswanConf = DefaultStrongswanConf(c.LogPath)
	}
	files := map[string][]byte{
		"ipsec.conf":      []byte(f.IPsecConf),
		"ipsec.secrets":   []byte(f.IPsecSecrets),
		"strongswan.conf": []byte(f.StrongswanConf),
	}
	for _, d := range []string{"cacerts", "certs", "crls", "private", "aacerts", "acerts", "ocspcerts", "reqs"} {
		if err := os.MkdirAll(filepath.Join(c.etc, "ipsec.d", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range f.Extra {
		files[filepath.Join("ipsec.d", name)] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.etc, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(c.etc) })
	// The holder owns a private mount namespace with its own /run, so
	// several charons do not share pid files or the control socket.
	c.holder = exec.Command("ip", "netns", "exec", ns.Name, "sh", "-c",
		"mount -t tmpfs run /run && mkdir -p /run/strongswan && exec sleep 100000")
	if err := c.holder.Start(); err != nil {
		t.Fatalf("swan: holder: %v", err)
	}
	t.Cleanup(func() {
		c.Run("ipsec", "stop")
		c.holder.Process.Kill()
		c.holder.Wait()
		if t.Failed() {
			t.Logf("charon log of %s:\n%s", ns.Name, c.Log())
		}
	})
	// Wait for the holder's /run mount before using it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := c.Run("sh", "-c", "grep -q ' /run tmpfs' /proc/self/mounts && test -d /run/strongswan"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("swan: holder not ready: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := c.Run("ipsec", "start"); err != nil {
		t.Fatalf("swan: ipsec start in %s: %v\n%s", ns.Name, err, out)
	}
	// charon takes seconds to come up under emulation; wait for its
	// control socket to answer.
	// charon takes seconds to come up under emulation, and the starter
	// adds the conns after that: wait until every conn is loaded, or an
	// `ipsec up` right after Start finds "no config named".
	conns := loadedConns(f.IPsecConf)
	deadline = time.Now().Add(60 * time.Second)
	for {
		out, err := c.Run("ipsec", "statusall")
		if err == nil && strings.Contains(out, "Status of IKE charon daemon") && allListed(out, conns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("swan: charon in %s did not start: %v\n%s\nlog:\n%s", ns.Name, err, out, c.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

// loadedConns lists the conn sections of an ipsec.conf that the starter
// loads into charon (all but %default and auto=ignore ones).
func loadedConns(conf string) []string {
	var names []string
	cur, ignored := "", false
	flush := func() {
		if cur != "" && cur != "%default" && !ignored {
			names = append(names, cur)
		}
		cur, ignored = "", false
	}
	for _, line := range strings.Split(conf, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			if strings.TrimSpace(line) == "auto=ignore" {
				ignored = true
			}
			continue
		}
		flush()
		if f := strings.Fields(line); len(f) == 2 && f[0] == "conn" {
			cur = f[1]
		}
	}
	flush()
	return names
}

// allListed reports whether statusall lists every conn. charon right-aligns
// the names in 12 columns, so a longer name starts its line.
func allListed(statusall string, conns []string) bool {
	for _, n := range conns {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(n) + `:`).MatchString(statusall) {
			return false
		}
	}
	return true
}

// Run runs a command in the charon's network and mount namespaces.
func (c *Charon) Run(argv ...string) (string, error) {
	args := append([]string{"-t", fmt.Sprint(c.holder.Process.Pid), "-m", "-n", "-r", "-w", "--"}, argv...)
	out, err := exec.Command("nsenter", args...).CombinedOutput()
	return string(out), err
}

// Status returns `ipsec status` (NAME optional).
func (c *Charon) Status(name ...string) string {
	out, _ := c.Run(append([]string{"ipsec", "status"}, name...)...)
	return out
}

// StatusAll returns `ipsec statusall`.
func (c *Charon) StatusAll(name ...string) string {
	out, _ := c.Run(append([]string{"ipsec", "statusall"}, name...)...)
	return out
}

// Up runs `ipsec up NAME` and returns its output.
func (c *Charon) Up(name string) (string, error) { return c.Run("ipsec", "up", name) }

// Log returns charon's log so far.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// WaitStatus polls `ipsec statusall` until it contains want or timeout.
func (c *Charon) WaitStatus(want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out := c.StatusAll()
		if strings.Contains(out, want) {
			return out, true
		}
		if time.Now().After(deadline) {
			return out, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
