package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// libreswanDebs are the Debian packages unpacked into libreswan's own root.
// Debian's libreswan conflicts with strongswan (both own /usr/sbin/ipsec),
// so it is never installed: `apt-get download` and `dpkg -x` put it in a
// folder of its own. pluto links libldns.so.3 and
// libevent_pthreads-2.1.so.7, which a strongSwan machine usually lacks
// (packages libldns3 and libevent-pthreads-2.1-7), and the NSS database
// tools certutil and pk12util come from libnss3-tools; they go into the same
// root and are found through LD_LIBRARY_PATH and PATH.
var libreswanDebs = []string{"libreswan", "libldns3", "libevent-pthreads-2.1-7", "libnss3-tools"}

// unpackLibreswan makes (once) dir/root with libreswan's files and returns
// the root. It runs on the host: the guest has no network.
func unpackLibreswan(dir string) (string, error) {
	root := filepath.Join(dir, "root")
	stamp := filepath.Join(root, ".unpacked")
	want := strings.Join(libreswanDebs, " ")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == want {
		return root, nil
	}
	for _, tool := range []string{"apt-get", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("interop: libreswan: %s not found (a Debian machine is needed to unpack libreswan): %w", tool, err)
		}
	}
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", fmt.Errorf("interop: libreswan: %w", err)
	}
	os.RemoveAll(root)
	for _, pkg := range libreswanDebs {
		cmd := exec.Command("apt-get", "download", pkg)
		cmd.Dir = debs
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("interop: libreswan: apt-get download %s: %v: %s", pkg, err, lastLine(out))
		}
		files, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
		if len(files) == 0 {
			return "", fmt.Errorf("interop: libreswan: apt-get download %s left no .deb in %s", pkg, debs)
		}
		// Several versions may be cached; the last in glob order is the newest by name.
		deb := files[len(files)-1]
		if out, err := exec.Command("dpkg", "-x", deb, root).CombinedOutput(); err != nil {
			return "", fmt.Errorf("interop: libreswan: dpkg -x %s: %v: %s", deb, err, lastLine(out))
		}
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return "", fmt.Errorf("interop: libreswan: %w", err)
	}
	return root, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// libreswanRoot returns the unpacked root TestMain prepared.
func libreswanRoot() (string, error) {
	root := os.Getenv(envLibreswan)
	if root == "" {
		return "", fmt.Errorf("interop: %s not set: TestMain unpacks libreswan", envLibreswan)
	}
	if msg, ok := strings.CutPrefix(root, "error: "); ok {
		return "", fmt.Errorf("%s", msg)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/libexec/ipsec/pluto")); err != nil {
		return "", fmt.Errorf("interop: libreswan: pluto missing from %s: %w", root, err)
	}
	return root, nil
}

// libreswanEnv is the environment libreswan's programs run with: the
// unpacked shared libraries and tools first.
func libreswanEnv(root string) []string {
	libs, _ := filepath.Glob(filepath.Join(root, "usr/lib/*-linux-gnu"))
	libs = append(libs, filepath.Join(root, "usr/lib"))
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"LD_LIBRARY_PATH="+strings.Join(libs, ":"),
		"PATH="+strings.Join([]string{filepath.Join(root, "usr/bin"), filepath.Join(root, "usr/sbin"),
			filepath.Join(root, "usr/libexec/ipsec"), os.Getenv("PATH")}, ":"))
}
