package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRequireRootRule(t *testing.T) {
	if os.Geteuid() == 0 {
		RequireRoot(t) // must not stop the test
		return
	}
	t.Skip("the failing branch is exercised by running as non-root")
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
