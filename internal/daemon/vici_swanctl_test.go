package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const swanctlBin = "/usr/sbin/swanctl"

// requireSwanctl stops a test that needs Debian's swanctl: it fails inside
// `make test` (CYGNET_REQUIRE_ROOT=1, whose deps.sh installs
// strongswan-swanctl) and skips elsewhere, saying what is missing.
func requireSwanctl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(swanctlBin); err == nil {
		return
	}
	if os.Getenv("CYGNET_REQUIRE_ROOT") == "1" {
		t.Fatalf("%s not installed (Debian package strongswan-swanctl; make test installs it)", swanctlBin)
	}
	t.Skipf("%s not installed (Debian package strongswan-swanctl): run `make test`, which installs it", swanctlBin)
}

// TestVICISwanctl drives the daemon's VICI socket with strongSwan's own
// swanctl 5.9.8: --version, --load-all of a transport-mode PSK conn from a
// swanctl.conf, --list-conns beside an ipsec.conf conn, --initiate
// --child, --list-sas showing INSTALLED, TRANSPORT with the engine's SPIs,
// --terminate --ike, and --load-conns again after a change. The engine and
// kernel are in memory, so no ESP is needed.
func TestVICISwanctl(t *testing.T) {
	requireSwanctl(t)
	link := &memLink{}
	d, path := startVICIDaemon(t, abConf, link)
	peerEngine(t, link, netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.1"))
	dir := t.TempDir()
	for _, sub := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl",
		"pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12", "conf.d"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	writeSwanctl := func(rekey string) {
		conf := fmt.Sprintf(`connections {
  mesh {
    version = 2
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.3
    proposals = aes256gcm16-prfsha256-curve25519
    local {
      auth = psk
      id = 127.0.0.1
    }
    remote {
      auth = psk
      id = 127.0.0.3
    }
    children {
      mesh-child {
        mode = transport
        esp_proposals = aes256gcm16
        rekey_time = %s
      }
    }
  }
}
secrets {
  ike-mesh {
    id-1 = 127.0.0.1
    id-2 = 127.0.0.3
    secret = "%s"
  }
}
`, rekey, testPSK)
		if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeSwanctl("1h")
	swanctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(swanctlBin, append(args, "--uri", "unix://"+path)...)
		cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
		out, err := cmd.CombinedOutput()
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
	expect(swanctl("--version", "--daemon"), `strongSwan 5\.9\.8 cygnet \(Linux`)
	out := swanctl("--load-all", "--noprompt")
	expect(out, `loaded ike secret 'ike-mesh'`)
	expect(out, `loaded connection 'mesh'`)
	expect(out, `successfully loaded 1 connections, 0 unloaded`)
	out = swanctl("--list-conns")
	expect(out, `(?m)^ab: IKEv2`)
	expect(out, `(?m)^mesh: IKEv2`)
	expect(out, `mesh-child: TRANSPORT`)
	out = swanctl("--initiate", "--child", "mesh-child")
	expect(out, `initiate completed successfully`)
	out = swanctl("--list-sas")
	var spis string
	for _, sa := range d.engine.Status().IKESAs {
		if sa.Conn == "mesh" && len(sa.Children) == 1 {
			spis = fmt.Sprintf(`(?m)^\s+in  %08x,.*\n\s+out %08x,`, sa.Children[0].SPIIn, sa.Children[0].SPIOut)
		}
	}
	expect(out, `mesh: #\d+, ESTABLISHED, IKEv2`)
	expect(out, `mesh-child: #\d+, reqid \d+, INSTALLED, TRANSPORT, ESP:AES_GCM_16-256`)
	if spis == "" {
		t.Fatal("the engine has no CHILD_SA for mesh")
	}
	expect(out, spis)
	t.Logf("swanctl --list-sas:\n%s", out)
	// Loading the same file again leaves the SA alone. A change replaces
	// the conn and, as in charon, leaves its SAs up: only a start_action
	// (start or trap) is undone and run again, and this conn has none.
	swanctl("--load-conns")
	if !d.ikeUp("mesh") {
		t.Fatal("reloading an unchanged swanctl.conf took the SA down")
	}
	writeSwanctl("2h")
	expect(swanctl("--load-conns"), `loaded connection 'mesh'`)
	if c := d.connByName("mesh"); c == nil || c.Lifetime-c.MarginTime != 2*60*60*1e9 {
		t.Errorf("--load-conns did not apply rekey_time = 2h: %+v", c)
	}
	expect(swanctl("--list-conns"), `mesh-child: TRANSPORT, rekeying every 7200s`)
	if !d.ikeUp("mesh") {
		t.Fatal("--load-conns of a changed conn without start_action took its SA down")
	}
	expect(swanctl("--list-sas"), spis)
	out = swanctl("--initiate", "--child", "mesh-child")
	expect(out, `initiate completed successfully`)
	out = swanctl("--terminate", "--ike", "mesh")
	expect(out, `terminate completed successfully`)
	if d.ikeUp("mesh") {
		t.Error("--terminate --ike left the IKE_SA")
	}
	expect(swanctl("--stats"), `IKE_SAs: \d+ total`)
}
