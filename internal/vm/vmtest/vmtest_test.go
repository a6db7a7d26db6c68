package vmtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// outcome is what a Require function did to the test it was given.
type outcome struct {
	fatal, skip string
}

// recorder stands in for the test: it notes Fatalf and Skipf and stops the
// goroutine as they would, so that nothing after them runs.
type recorder struct {
	testing.TB
	out *outcome
}

func (r recorder) Fatalf(format string, args ...any) {
	r.out.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r recorder) Skipf(format string, args ...any) {
	r.out.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// record runs fn on a recorder in its own goroutine, as Goexit needs.
func record(t *testing.T, fn func(testing.TB)) outcome {
	var out outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(recorder{TB: t, out: &out})
	}()
	<-done
	return out
}

// TestRequireRootRule checks the rule make test relies on for every root
// test whatever uid runs it: root goes on, anyone else fails under
// CYGNET_REQUIRE_ROOT=1 and skips without it.
func TestRequireRootRule(t *testing.T) {
	for _, tc := range []struct {
		uid            int
		required       bool
		fatal, skipped bool
	}{
		{0, true, false, false},
		{0, false, false, false},
		{1000, true, true, false},
		{1000, false, false, true},
	} {
		got := record(t, func(tb testing.TB) { requireRoot(tb, tc.uid, tc.required) })
		if (got.fatal != "") != tc.fatal || (got.skip != "") != tc.skipped {
			t.Errorf("uid %d, required %v: fatal %q, skip %q", tc.uid, tc.required, got.fatal, got.skip)
		}
		if tc.fatal && !strings.Contains(got.fatal, "CYGNET_REQUIRE_ROOT=1") {
			t.Errorf("uid %d: failure does not name CYGNET_REQUIRE_ROOT=1: %q", tc.uid, got.fatal)
		}
	}
	// The exported function applies the rule to this process.
	got := record(t, RequireRoot)
	if os.Geteuid() == 0 && (got.fatal != "" || got.skip != "") {
		t.Errorf("RequireRoot as root: fatal %q, skip %q", got.fatal, got.skip)
	}
	if os.Geteuid() != 0 && got.fatal == "" && got.skip == "" {
		t.Errorf("RequireRoot as uid %d let the test go on", os.Geteuid())
	}
}

// TestRequireESPRule: in the guest nothing may skip; on the host a missing
// ESP or root fails under CYGNET_REQUIRE_VM=1 and skips without it.
func TestRequireESPRule(t *testing.T) {
	noESP := errors.New("kernel lacks CONFIG_INET_ESP")
	for _, tc := range []struct {
		name           string
		kernel         error
		uid            int
		inVM, required bool
		fatal, skipped bool
	}{
		{"esp and root", nil, 0, false, false, false, false},
		{"esp and root in the guest", nil, 0, true, true, false, false},
		{"no esp", noESP, 0, false, false, false, true},
		{"no esp, required", noESP, 0, false, true, true, false},
		{"no esp in the guest", noESP, 0, true, false, true, false},
		{"not root", nil, 1000, false, false, false, true},
		{"not root, required", nil, 1000, false, true, true, false},
	} {
		got := record(t, func(tb testing.TB) { requireESP(tb, tc.kernel, tc.uid, tc.inVM, tc.required) })
		if (got.fatal != "") != tc.fatal || (got.skip != "") != tc.skipped {
			t.Errorf("%s: fatal %q, skip %q", tc.name, got.fatal, got.skip)
		}
		if tc.kernel != nil && !strings.Contains(got.fatal+got.skip, tc.kernel.Error()) {
			t.Errorf("%s: the reason is not given: fatal %q, skip %q", tc.name, got.fatal, got.skip)
		}
	}
}

// TestRequireInstalledRule: a missing program fails inside make test and
// skips elsewhere; none missing goes on.
func TestRequireInstalledRule(t *testing.T) {
	missing := errors.New("openssl not installed (Debian package openssl)")
	for _, tc := range []struct {
		err            error
		required       bool
		fatal, skipped bool
	}{
		{nil, true, false, false},
		{nil, false, false, false},
		{missing, true, true, false},
		{missing, false, false, true},
	} {
		got := record(t, func(tb testing.TB) { requireInstalled(tb, tc.err, tc.required) })
		if (got.fatal != "") != tc.fatal || (got.skip != "") != tc.skipped {
			t.Errorf("err %v, required %v: fatal %q, skip %q", tc.err, tc.required, got.fatal, got.skip)
		}
		if tc.err != nil && !strings.Contains(got.fatal+got.skip, tc.err.Error()) {
			t.Errorf("err %v: the reason is not given: fatal %q, skip %q", tc.err, got.fatal, got.skip)
		}
	}
}

func TestGuestEnv(t *testing.T) {
	got := guestEnv([]string{"A=1", "CYGNET_VM=1", "CYGNET_IN_VM=0", "BASH_FUNC_f%%=() { :; }", "=x", "noval", "B="})
	if strings.Join(got, " ") != "A=1 B=" {
		t.Errorf("guestEnv = %q", got)
	}
}

func TestVMTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 15 * time.Minute},
		{[]string{"-test.v", "-test.timeout=2m0s"}, 7 * time.Minute},
		{[]string{"-test.timeout", "1h"}, time.Hour + 5*time.Minute},
		{[]string{"-test.timeout=0s"}, 24 * time.Hour},
	} {
		if got := vmTimeout(tc.args); got != tc.want {
			t.Errorf("vmTimeout(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestListed(t *testing.T) {
	dir := t.TempDir()
	dep := filepath.Join(dir, "modules.dep")
	mods := filepath.Join(dir, "modules")
	os.WriteFile(dep, []byte("kernel/net/ipv4/esp4.ko: kernel/net/xfrm/xfrm_algo.ko\nkernel/crypto/gcm.ko.xz:\nkernel/net/ipv4/esp4_offload.ko:\n"), 0o644)
	os.WriteFile(mods, []byte("xfrm_user 53248 0 - Live 0x0\nxfrm_algo 16384 1 esp4, Live 0x0\n"), 0o644)
	for _, tc := range []struct {
		file, mod string
		want      bool
	}{
		{dep, "esp4", true},
		{dep, "gcm", true},
		{dep, "xfrm_algo", false}, // only a dependency there, not a line of its own
		{dep, "esp", false},
		{mods, "xfrm_user", true},
		{mods, "esp4", false},
		{filepath.Join(dir, "none"), "esp4", false},
	} {
		if got := listed(tc.file, tc.mod); got != tc.want {
			t.Errorf("listed(%s, %s) = %v", filepath.Base(tc.file), tc.mod, got)
		}
	}
	cfg := map[string]string{"CONFIG_INET_ESP": "m", "CONFIG_CRYPTO_GCM": "y"}
	if !hasFeature(espFeatures[0], cfg, dir, mods) || !hasFeature(espFeatures[1], cfg, dir, mods) {
		t.Error("features present by config and modules.dep not found")
	}
	if hasFeature(espFeatures[0], map[string]string{}, dir, mods) {
		t.Error("CONFIG_INET_ESP unset but reported present")
	}
	if !hasFeature(kernelFeature{config: "CONFIG_X", module: "xfrm_user"}, map[string]string{}, dir, mods) {
		t.Error("a loaded module must count whatever the configuration says")
	}
}
