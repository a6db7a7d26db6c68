package vmtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// TestMain is written as every real-kernel package writes it; `make test` finds such packages by this
// call and runs them again in the guest.
func TestMain(m *testing.M) { vmtest.Main(m) }

// TestESPInGuest is this package's own real-kernel test: with CYGNET_VM=1 the whole binary runs in the
// guest, where Require must pass and an ESP SA with AES-GCM (RFC 4106) must install.
func TestESPInGuest(t *testing.T) {
	vmtest.Require(t)
	if err := vmtest.KernelESP(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `set -e
ip netns add vmtest-esp
trap 'ip netns del vmtest-esp' EXIT
ip -n vmtest-esp xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x2000 mode transport \
	aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0f10111213 128
ip -n vmtest-esp xfrm state`).CombinedOutput()
	if err != nil {
		t.Fatalf("installing an ESP SA: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "rfc4106(gcm(aes))") {
		t.Fatalf("SA not listed:\n%s", out)
	}
	if vmtest.InVM() {
		// The guest runs the host's binary in the host's working directory.
		if wd, _ := os.Getwd(); filepath.Base(wd) != "vmtest" {
			t.Errorf("guest working directory %s, want the package directory", wd)
		}
	}
}
