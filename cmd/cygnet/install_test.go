package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallRefusesPackageFiles runs scripts/install.sh into a DESTDIR
// holding a file at a path that an installed strongSwan package owns
// (/usr/sbin/ipsec, from strongswan-starter, which make test installs): it
// must refuse and name the package, and install with FORCE=1.
func TestInstallRefusesPackageFiles(t *testing.T) {
	owner, err := exec.Command("dpkg-query", "-S", "/usr/sbin/ipsec").Output()
	if err != nil {
		if os.Getenv("CYGNET_REQUIRE_ROOT") == "1" {
			t.Fatalf("strongSwan's ipsec script is not installed by a package here (make test installs strongswan-starter): %v", err)
		}
		t.Skipf("no package owns /usr/sbin/ipsec here (install strongswan-starter, or run make test): %v", err)
	}
	pkg := strings.SplitN(string(owner), ":", 2)[0]
	root := filepath.Join("..", "..")
	bin := filepath.Join(root, "bin", "cygnet")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	dest := t.TempDir()
	os.MkdirAll(filepath.Join(dest, "usr", "sbin"), 0o755)
	os.WriteFile(filepath.Join(dest, "usr", "sbin", "ipsec"), []byte("#!/bin/sh\n"), 0o755)
	run := func(force bool) (string, error) {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "install.sh"))
		cmd.Env = append(os.Environ(), "DESTDIR="+dest)
		if force {
			cmd.Env = append(cmd.Env, "FORCE=1")
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(false)
	if err == nil || !strings.Contains(out, pkg) || !strings.Contains(out, "FORCE=1") {
		t.Fatalf("install over %s's file: err %v, output:\n%s", pkg, err, out)
	}
	if out, err := run(true); err != nil {
		t.Fatalf("FORCE=1 install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/sbin/cygnet", "lib/systemd/system/strongswan-starter.service", "lib/systemd/system/strongswan.service", "lib/systemd/system/ipsec.service", "lib/systemd/system/cygnet-cluster.service"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	// strongswan.service is Debian 12's (cygnet, then swanctl --load-all);
	// strongswan-starter.service stays the ipsec.conf-only unit.
	unit, _ := os.ReadFile(filepath.Join(dest, "lib/systemd/system/strongswan.service"))
	for _, want := range []string{"ExecStart=/usr/sbin/ipsec start --nofork", "swanctl --load-all --noprompt", "Conflicts=strongswan-starter.service"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("installed strongswan.service lacks %q", want)
		}
	}
	if starter, _ := os.ReadFile(filepath.Join(dest, "lib/systemd/system/strongswan-starter.service")); strings.Contains(string(starter), "swanctl") {
		t.Error("strongswan-starter.service runs swanctl")
	}
	if l, _ := os.Readlink(filepath.Join(dest, "usr", "sbin", "ipsec")); l != "cygnet" {
		t.Errorf("ipsec -> %q, want cygnet", l)
	}
}
