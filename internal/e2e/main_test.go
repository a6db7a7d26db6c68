package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// envBin names the cygnet binary the daemon tests run. TestMain builds it
// on the host before the guest boots (the guest sees the host's files), so
// the emulated kernel never runs the compiler. It goes to a fixed cache
// folder, rebuilt every run, because vmtest.Main exits the process.
const envBin = "CYGNET_TEST_BIN"

func TestMain(m *testing.M) {
	if os.Getenv(envBin) == "" && !vmtest.InVM() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "cygnet", "e2e-bin")
		bin := filepath.Join(dir, "cygnet")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/cygnet-ipsec/cygnet/cmd/cygnet")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building cygnet: %v\n%s", err, out)
			os.Exit(1)
		}
		os.Remove(filepath.Join(dir, "ipsec"))
		os.Symlink("cygnet", filepath.Join(dir, "ipsec"))
		os.Setenv(envBin, bin)
	}
	vmtest.Main(m)
}
