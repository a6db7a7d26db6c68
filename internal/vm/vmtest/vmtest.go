// Package vmtest runs a package's tests inside a Linux kernel with ESP (RFC 4303) and AES-GCM (RFC 4106)
// when the host kernel lacks them, booting one guest per test binary rather than per test.
//
// Use it from TestMain and guard each test that needs such a kernel:
//
//	func TestMain(m *testing.M) { vmtest.Main(m) }
//
//	func TestInstallESP(t *testing.T) {
//		vmtest.Require(t)
//		...
//	}
//
// Environment:
//
//	CYGNET_VM=1          on the host: run the whole test binary in the guest (internal/vm) and exit with its status
//	CYGNET_IN_VM=1       set by internal/vm inside the guest
//	CYGNET_REQUIRE_VM=1  a test calling Require fails, instead of skipping, when no such kernel is available
//	CYGNET_REQUIRE_ROOT=1 a test calling RequireRoot fails, instead of skipping, when not root
//	CYGNET_VM_REPORT=FILE on the host: append one line per guest run (boot time, status) to FILE
//	CYGNET_VM_MEM, CYGNET_VM_CPUS guest memory in MiB (default 2048) and vCPUs (default 2)
//
// `make test` runs VM packages with CYGNET_VM=1 CYGNET_REQUIRE_VM=1, so inside it those tests never skip.
package vmtest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/vm"
)

// Main is for TestMain. In the guest, or on a host without CYGNET_VM=1, it runs the tests here. With
// CYGNET_VM=1 on the host it re-executes this test binary, with the same arguments and working directory,
// inside the guest, copies its output to stdout as it runs and exits with its status.
func Main(m *testing.M) {
	if InVM() || os.Getenv("CYGNET_VM") != "1" {
		os.Exit(m.Run())
	}
	os.Exit(runInVM())
}

// InVM reports whether this process runs inside the internal/vm guest.
func InVM() bool { return os.Getenv("CYGNET_IN_VM") == "1" }

func runInVM() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: cannot find the test binary to run in the guest: %v\n", err)
		return 1
	}
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		return 1
	}
	opt := vm.Options{
		Argv:    append([]string{exe}, os.Args[1:]...),
		Dir:     dir,
		Env:     guestEnv(os.Environ()),
		Timeout: vmTimeout(os.Args[1:]),
		Output:  os.Stdout,
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"CYGNET_VM_MEM", &opt.Mem}, {"CYGNET_VM_CPUS", &opt.CPUs}} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "vmtest: %s=%q: want a positive number\n", v.name, s)
				return 1
			}
			*v.dst = n
		}
	}
	// An interrupted go test must not leave the guest running or its exchange folder behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := vm.Run(ctx, opt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: running %s in the guest kernel: %v\n", filepath.Base(exe), err)
		return 1
	}
	line := fmt.Sprintf("vmtest: %s: guest kernel %s (%s) booted in %v, ran in %v, exit status %d\n",
		filepath.Base(exe), res.Kernel, res.Accel, res.Boot.Round(100*time.Millisecond),
		res.Total.Round(100*time.Millisecond), res.ExitCode)
	fmt.Fprint(os.Stderr, line)
	// go test shows a passing package's output only with -v; make test collects these lines here.
	if p := os.Getenv("CYGNET_VM_REPORT"); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			_, _ = f.WriteString(line)
			f.Close()
		}
	}
	return res.ExitCode
}

// guestEnv passes the host environment on, minus what would make the guest re-enter the VM or would
// not hold there.
func guestEnv(host []string) []string {
	var env []string
	for _, kv := range host {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		switch name {
		case "CYGNET_VM", "CYGNET_IN_VM":
			continue
		}
		// Exported bash functions (BASH_FUNC_x%%) are not shell names; nothing in a test needs them.
		if strings.ContainsAny(name, "%() ") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// vmTimeout gives the guest the test binary's own -test.timeout plus time to boot and emulate; the test
// binary's alarm fires first and prints the stuck goroutines.
func vmTimeout(args []string) time.Duration {
	d := 10 * time.Minute // go test's default -timeout
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "-test.timeout=")
		if !ok && a == "-test.timeout" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if !ok {
			continue
		}
		if p, err := time.ParseDuration(v); err == nil {
			d = p
		}
	}
	if d <= 0 {
		return 24 * time.Hour
	}
	return d + 5*time.Minute
}

// Require stops the test unless the running kernel can do ESP with AES-GCM and the test runs as root:
// inside the guest, or on a host whose own kernel has them. Otherwise it fails when CYGNET_REQUIRE_VM=1
// and skips when not, saying how to run it.
func Require(t testing.TB) {
	t.Helper()
	requireESP(t, KernelESP(), os.Geteuid(), InVM(), os.Getenv("CYGNET_REQUIRE_VM") == "1")
}

// requireESP is Require's rule on its inputs: what KernelESP said, the effective uid, whether this is the
// guest and whether CYGNET_REQUIRE_VM=1.
func requireESP(t testing.TB, kernel error, uid int, inVM, required bool) {
	t.Helper()
	why := ""
	switch {
	case kernel != nil:
		why = kernel.Error()
	case uid != 0:
		why = "ESP tests need root to configure XFRM"
	}
	if why == "" {
		return
	}
	if inVM {
		t.Fatalf("vmtest: inside the guest, and still: %s", why)
	}
	if required {
		t.Fatalf("vmtest: needs a Linux kernel with ESP and AES-GCM, and CYGNET_REQUIRE_VM=1 forbids skipping: %s; "+
			"run it in the guest with CYGNET_VM=1 (the package's TestMain must call vmtest.Main)", why)
	}
	t.Skipf("needs a Linux kernel with ESP: run `make test` or set CYGNET_VM=1 to run this package in a qemu guest (%s)", why)
}

// RequireRoot stops the test unless it runs as root (for tests that use the host kernel's namespaces and
// XFRM, which the host has). It fails when CYGNET_REQUIRE_ROOT=1 and skips otherwise.
func RequireRoot(t testing.TB) {
	t.Helper()
	requireRoot(t, os.Geteuid(), os.Getenv("CYGNET_REQUIRE_ROOT") == "1")
}

// requireRoot is RequireRoot's rule on its inputs: the effective uid and whether CYGNET_REQUIRE_ROOT=1.
func requireRoot(t testing.TB, uid int, required bool) {
	t.Helper()
	if uid == 0 {
		return
	}
	if required {
		t.Fatalf("vmtest: needs root (uid 0, for network namespaces and XFRM), running as uid %d, and CYGNET_REQUIRE_ROOT=1 forbids skipping", uid)
	}
	t.Skipf("needs root: run `make test` as root, or `sudo go test` (running as uid %d)", uid)
}

// RequireInstalled stops a test when a program it needs is missing (err says which, and which Debian
// package has it): it fails inside `make test` (CYGNET_REQUIRE_ROOT=1 or CYGNET_REQUIRE_VM=1, whose deps
// phase installs the package) and skips elsewhere. A nil err lets the test go on.
func RequireInstalled(t testing.TB, err error) {
	t.Helper()
	requireInstalled(t, err, os.Getenv("CYGNET_REQUIRE_ROOT") == "1" || os.Getenv("CYGNET_REQUIRE_VM") == "1")
}

// requireInstalled is RequireInstalled's rule on its inputs.
func requireInstalled(t testing.TB, err error, required bool) {
	t.Helper()
	if err == nil {
		return
	}
	if required {
		t.Fatalf("vmtest: %v, and CYGNET_REQUIRE_ROOT=1 or CYGNET_REQUIRE_VM=1 forbids skipping (scripts/deps.sh installs it)", err)
	}
	t.Skipf("%v: run `make test`, which installs it", err)
}
