package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// envBin names the cygnet binary the tests run and envLibreswan the root
// libreswan's package was unpacked into. TestMain prepares both on the
// host before the guest boots: the guest sees the host's files read-only
// and has no network to fetch packages with.
const (
	envBin       = "CYGNET_TEST_BIN"
	envLibreswan = "CYGNET_LIBRESWAN_ROOT"
	envPending   = "CYGNET_INTEROP_PENDING"
	envParallel  = "CYGNET_INTEROP_PARALLEL"
)

func TestMain(m *testing.M) {
	if !vmtest.InVM() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		if os.Getenv(envBin) == "" {
			bin := filepath.Join(cache, "cygnet", "interop-bin", "cygnet")
			cmd := exec.Command("go", "build", "-o", bin, "github.com/cygnet-ipsec/cygnet/cmd/cygnet")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "interop: building cygnet: %v\n%s", err, out)
				os.Exit(1)
			}
			os.Setenv(envBin, bin)
		}
		// Only a run that can reach ESP needs libreswan: the guest, or a
		// host kernel with ESP.
		if os.Getenv(envLibreswan) == "" && (os.Getenv("CYGNET_VM") == "1" || vmtest.KernelESP() == nil) {
			// A failed unpack is reported by the libreswan tests themselves.
			root, err := unpackLibreswan(filepath.Join(cache, "cygnet", "libreswan"))
			if err != nil {
				fmt.Fprintf(os.Stderr, "interop: %v\n", err)
				os.Setenv(envLibreswan, "error: "+err.Error())
			} else {
				os.Setenv(envLibreswan, root)
			}
		}
	}
	vmtest.Main(m)
}
