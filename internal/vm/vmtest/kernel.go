package vmtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// kernelFeature is something ESP transport mode with AES-GCM needs from the kernel.
type kernelFeature struct {
	config string // Kconfig symbol
	module string // module name when built as a module
}

// espFeatures: the ESP protocol itself (RFC 4303) and the GCM template that rfc4106(gcm(aes)) is built
// from (RFC 4106). XFRM netlink and AES are in every kernel this runs on and are not checked.
var espFeatures = []kernelFeature{
	{config: "CONFIG_INET_ESP", module: "esp4"},
	{config: "CONFIG_CRYPTO_GCM", module: "gcm"},
}

// KernelESP returns nil if the running kernel has IPv4 ESP and GCM, built in or as loadable modules, and
// otherwise an error naming what is missing. It reads the kernel configuration (/proc/config.gz or
// /boot/config-RELEASE) when there is one, and else the module lists (/proc/modules, modules.builtin,
// modules.dep); it loads nothing.
func KernelESP() error {
	rel := kernelRelease()
	cfg := kernelConfig(rel)
	modDir := filepath.Join("/lib/modules", rel)
	var missing []string
	for _, f := range espFeatures {
		if !hasFeature(f, cfg, modDir, "/proc/modules") {
			missing = append(missing, fmt.Sprintf("%s (module %s)", f.config, f.module))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("vmtest: kernel %s lacks %s", rel, strings.Join(missing, " and "))
	}
	return nil
}

// hasFeature: loaded (procModules), else configured y, or m with the module installed; without a
// configuration, built in or installed.
func hasFeature(f kernelFeature, cfg map[string]string, modDir, procModules string) bool {
	if listed(procModules, f.module) {
		return true
	}
	if cfg != nil {
		switch cfg[f.config] {
		case "y":
			return true
		case "m":
			return listed(filepath.Join(modDir, "modules.dep"), f.module)
		default:
			return false
		}
	}
	return listed(filepath.Join(modDir, "modules.builtin"), f.module) ||
		listed(filepath.Join(modDir, "modules.dep"), f.module)
}

// listed reports whether a module list file (/proc/modules, modules.dep, modules.builtin) names module.
// Lines there begin with the module name or its path.
func listed(file, module string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		first, _, _ := strings.Cut(sc.Text(), " ")
		first, _, _ = strings.Cut(first, ":")
		base := filepath.Base(first)
		if i := strings.Index(base, ".ko"); i >= 0 {
			base = base[:i]
		}
		if strings.ReplaceAll(base, "-", "_") == module {
			return true
		}
	}
	return false
}

// kernelConfig returns the running kernel's Kconfig values, or nil if none is readable. /boot/config-REL is
// only trusted outside the guest: there /boot belongs to the host, not to the guest's kernel.
func kernelConfig(rel string) map[string]string {
	var r io.Reader
	if data, err := os.ReadFile("/proc/config.gz"); err == nil {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil
		}
		r = zr
	} else if data, err := os.ReadFile("/boot/config-" + rel); err == nil && !InVM() {
		r = bytes.NewReader(data)
	} else {
		return nil
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = v
		}
	}
	if sc.Err() != nil {
		return nil
	}
	return cfg
}
