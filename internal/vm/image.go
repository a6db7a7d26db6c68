package vm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Image is a prepared guest: a kernel, its modules and the initramfs that boots into the host's userland.
type Image struct {
	Version string // kernel release, e.g. 6.1.0-56-amd64
	Kernel  string // path of the kernel qemu loads: the ELF vmlinux with a PVH entry, else vmlinuz
	Initrd  string // path of the gzip'd initramfs
	Modules string // the directory the guest bind-mounts on /lib/modules

	plainModules bool // modules are uncompressed .ko files (busybox modprobe can load them)
}

// metaPackage is Debian's "current stock kernel" package; its Depends names the versioned image.
// The generic flavour is needed: the -cloud- flavour has no 9p.
const metaPackage = "linux-image-amd64"

// initModules must be loaded by the initramfs before the host root can be mounted: the virtio PCI
// transport, 9p over virtio, and overlayfs. Their dependencies are found in modules.dep.
var initModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// CacheDir is where kernels and initramfs images are kept: $CYGNET_VM_CACHE, else
// $XDG_CACHE_HOME/cygnet/vm, else ~/.cache/cygnet/vm.
func CacheDir() (string, error) {
	if d := os.Getenv("CYGNET_VM_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "cygnet", "vm"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("vm: no cache directory (set CYGNET_VM_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "cygnet", "vm"), nil
}

// Prepare makes sure the current stock Debian kernel and a matching initramfs are in the cache and returns
// them. The first call downloads the kernel package (about 70 MB) with apt-get; later calls only ask
// apt-cache which version is current. Concurrent callers, in this process or others, serialise on a lock
// file and every cache entry appears by an atomic rename, so a crash never leaves a half-built entry.
// Without apt metadata (offline) the newest cached kernel is used.
func Prepare(ctx context.Context) (Image, error) {
	if runtime.GOARCH != "amd64" {
		return Image{}, fmt.Errorf("vm: the guest is x86-64; this host is %s", runtime.GOARCH)
	}
	cache, err := CacheDir()
	if err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Image{}, fmt.Errorf("vm: cache: %w", err)
	}
	unlock, err := lockFile(filepath.Join(cache, "lock"))
	if err != nil {
		return Image{}, err
	}
	defer unlock()

	pkg, resolveErr := resolveKernelPackageCached(ctx, cache)
	var version string
	if resolveErr == nil {
		version = strings.TrimPrefix(pkg, "linux-image-")
	} else {
		version = newestCachedKernel(cache)
		if version == "" {
			return Image{}, resolveErr
		}
	}
	kdir := filepath.Join(cache, "kernel-"+version)
	if _, err := os.Stat(filepath.Join(kdir, "ready")); err != nil {
		if resolveErr != nil {
			return Image{}, resolveErr
		}
		if err := fetchKernel(ctx, cache, pkg, version, kdir); err != nil {
			return Image{}, err
		}
		removeOldKernels(cache, version)
	}
	// The ready file's mtime records the last use, for removeOldKernels and the offline fallback.
	now := time.Now()
	_ = os.Chtimes(filepath.Join(kdir, "ready"), now, now)
	img := Image{
		Version: version,
		Kernel:  filepath.Join(kdir, "boot", "vmlinuz-"+version),
		Modules: filepath.Join(kdir, "lib", "modules"),
	}
	if _, err := os.Stat(img.Kernel); err != nil {
		return Image{}, fmt.Errorf("vm: cached kernel is incomplete (remove %s): %w", kdir, err)
	}
	// Prefer the uncompressed kernel with its PVH entry (see pvh.go); remember when there is none.
	pvh, noPVH := filepath.Join(kdir, "boot", "vmlinux-"+version), filepath.Join(kdir, "no-pvh")
	if _, err := os.Stat(pvh); err == nil {
		img.Kernel = pvh
	} else if _, err := os.Stat(noPVH); err != nil {
		if err := extractPVHKernel(img.Kernel, pvh); err == nil {
			img.Kernel = pvh
		} else {
			_ = os.WriteFile(noPVH, []byte(err.Error()+"\n"), 0o644)
		}
	}
	mods, err := moduleLoadOrder(filepath.Join(img.Modules, version), initModules)
	if err != nil {
		return Image{}, err
	}
	img.plainModules = len(mods) > 0 && strings.HasSuffix(mods[0], ".ko")
	img.Initrd = filepath.Join(kdir, "initrd-"+initrdKey(mods)+".gz")
	if _, err := os.Stat(img.Initrd); err != nil {
		if err := buildInitrd(filepath.Join(img.Modules, version), mods, img.Initrd); err != nil {
			return Image{}, err
		}
	}
	return img, nil
}

// lockFile takes an exclusive flock on path, waiting for other holders.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vm: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vm: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// aptLists is where apt keeps package lists; apt-get update renames files into it, changing its mtime.
const aptLists = "/var/lib/apt/lists"

// resolveKernelPackageCached remembers resolveKernelPackage's answer until apt's package lists change:
// apt-cache takes about a second of CPU, which every guest boot would otherwise pay.
func resolveKernelPackageCached(ctx context.Context, cache string) (string, error) {
	memo := filepath.Join(cache, "resolved")
	key := ""
	if fi, err := os.Stat(aptLists); err == nil {
		key = fmt.Sprintf("%s@%d", metaPackage, fi.ModTime().UnixNano())
		if b, err := os.ReadFile(memo); err == nil {
			if k, pkg, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok && k == key && strings.HasPrefix(pkg, "linux-image-") {
				return pkg, nil
			}
		}
	}
	pkg, err := resolveKernelPackage(ctx)
	if err != nil || key == "" {
		return pkg, err
	}
	tmp := memo + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+" "+pkg+"\n"), 0o644); err == nil {
		_ = os.Rename(tmp, memo) // callers hold the cache lock
	}
	return pkg, nil
}

// resolveKernelPackage asks apt which versioned image linux-image-amd64 currently depends on.
func resolveKernelPackage(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", errors.New("vm: apt-cache not found: the guest kernel comes from Debian's linux-image-amd64 package")
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", metaPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("vm: apt-cache depends %s: %v: %s", metaPackage, err, bytes.TrimSpace(out))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[0], "|") == "Depends:" && strings.HasPrefix(f[1], "linux-image-") &&
			strings.HasSuffix(f[1], "-amd64") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("vm: apt-cache does not know %s (run apt-get update): %s", metaPackage, bytes.TrimSpace(out))
}

// newestCachedKernel returns the version of the most recently used cached kernel, or "".
func newestCachedKernel(cache string) string {
	entries, _ := os.ReadDir(cache)
	var best string
	var bestTime time.Time
	for _, e := range entries {
		v, ok := strings.CutPrefix(e.Name(), "kernel-")
		if !ok || !e.IsDir() {
			continue
		}
		fi, err := os.Stat(filepath.Join(cache, e.Name(), "ready"))
		if err != nil {
			continue
		}
		if best == "" || fi.ModTime().After(bestTime) {
			best, bestTime = v, fi.ModTime()
		}
	}
	return best
}

// removeOldKernels deletes cached kernels other than keep that were last used over a day ago: a guest
// still running reads its modules from its kernel's folder over 9p, and no guest runs for a day.
func removeOldKernels(cache, keep string) {
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		v, ok := strings.CutPrefix(e.Name(), "kernel-")
		if !ok || v == keep || !e.IsDir() {
			continue
		}
		dir := filepath.Join(cache, e.Name())
		fi, err := os.Stat(filepath.Join(dir, "ready"))
		if err == nil && time.Since(fi.ModTime()) < 24*time.Hour {
			continue
		}
		_ = os.RemoveAll(dir)
	}
	// Leftovers of builds that crashed (.build-*) are safe to drop: builds run under the cache lock.
	leftovers, _ := filepath.Glob(filepath.Join(cache, ".build-*"))
	for _, d := range leftovers {
		_ = os.RemoveAll(d)
	}
}

// prunedModuleDirs are module trees no test guest loads; dropping them shrinks the cache by about half.
var prunedModuleDirs = []string{
	"sound", "drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/infiniband", "drivers/staging",
	"drivers/iio", "drivers/input", "drivers/hid", "drivers/bluetooth", "net/bluetooth", "net/wireless",
	"net/mac80211",
}

// fetchKernel downloads and unpacks the kernel package into kdir (atomically).
func fetchKernel(ctx context.Context, cache, pkg, version, kdir string) error {
	for _, tool := range []string{"apt-get", "dpkg-deb", "depmod"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("vm: %s not found (needed to unpack the guest kernel; depmod is in Debian's kmod)", tool)
		}
	}
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(tmp)
	dl := filepath.Join(tmp, "deb")
	if err := os.Mkdir(dl, 0o755); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	// apt-get drops privileges to _apt for downloads; that user must be able to write there.
	_ = os.Chmod(dl, 0o777)
	get := exec.CommandContext(ctx, "apt-get", "download", pkg)
	get.Dir = dl
	if out, err := get.CombinedOutput(); err != nil {
		return fmt.Errorf("vm: kernel download failed (stale package lists? run apt-get update): apt-get download %s: %v: %s",
			pkg, err, bytes.TrimSpace(out))
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("vm: apt-get download %s produced %d .deb files", pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return fmt.Errorf("vm: dpkg-deb -x %s: %v: %s", debs[0], err, bytes.TrimSpace(out))
	}
	// Merged-/usr packages ship /usr/lib/modules; depmod -b and the guest's bind mount want lib/modules.
	if _, err := os.Stat(filepath.Join(root, "lib", "modules", version)); err != nil {
		if err := os.MkdirAll(filepath.Join(root, "lib"), 0o755); err != nil {
			return fmt.Errorf("vm: %w", err)
		}
		if err := os.Rename(filepath.Join(root, "usr", "lib", "modules"), filepath.Join(root, "lib", "modules")); err != nil {
			return fmt.Errorf("vm: %s has no modules for %s: %w", pkg, version, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "boot", "vmlinuz-"+version)); err != nil {
		return fmt.Errorf("vm: %s has no boot/vmlinuz-%s", pkg, version)
	}
	for _, d := range prunedModuleDirs {
		if err := os.RemoveAll(filepath.Join(root, "lib", "modules", version, "kernel", d)); err != nil {
			return fmt.Errorf("vm: %w", err)
		}
	}
	if out, err := exec.CommandContext(ctx, "depmod", "-b", root, version).CombinedOutput(); err != nil {
		return fmt.Errorf("vm: depmod -b %s %s: %v: %s", root, version, err, bytes.TrimSpace(out))
	}
	if err := os.WriteFile(filepath.Join(root, "ready"), []byte(pkg+"\n"), 0o644); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	// A stale, incomplete entry (no "ready") may exist from a crash: replace it.
	_ = os.RemoveAll(kdir)
	if err := os.Rename(root, kdir); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}

// moduleLoadOrder resolves mods and their dependencies from modules.dep into an order that insmod can
// follow (dependencies first). Built-in modules (modules.builtin) are skipped. Paths are relative to dir.
func moduleLoadOrder(dir string, mods []string) ([]string, error) {
	depData, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("vm: kernel modules: %w", err)
	}
	deps := map[string][]string{} // module path -> dependency paths
	byName := map[string]string{} // module name -> path
	for _, line := range strings.Split(string(depData), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[moduleName(mod)] = mod
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[moduleName(l)] = true
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(p string, depth int) error
	visit = func(p string, depth int) error {
		if seen[p] {
			return nil
		}
		if depth > 64 {
			return fmt.Errorf("vm: modules.dep: dependency loop at %s", p)
		}
		seen[p] = true
		// modules.dep lists a module's dependencies so that loading them last-to-first works.
		d := deps[p]
		for i := len(d) - 1; i >= 0; i-- {
			if err := visit(d[i], depth+1); err != nil {
				return err
			}
		}
		order = append(order, p)
		return nil
	}
	for _, m := range mods {
		if builtin[m] {
			continue
		}
		p, ok := byName[m]
		if !ok {
			return nil, fmt.Errorf("vm: kernel module %s is neither built in nor in %s/modules.dep", m, dir)
		}
		if err := visit(p, 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleName turns "kernel/fs/9p/9p.ko.xz" into "9p"; the kernel treats - and _ alike.
func moduleName(p string) string {
	base := filepath.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// initrdKey names an initramfs by what went into it, so a changed init script or module set gets a new
// cache entry instead of reusing a stale one.
func initrdKey(mods []string) string {
	h := sha256.New()
	h.Write([]byte(initScript))
	for _, m := range mods {
		h.Write([]byte{0})
		h.Write([]byte(m))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// findBusybox returns a statically linked busybox: the initramfs has no C library.
func findBusybox() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("busybox"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/bin/busybox", "/usr/bin/busybox")
	for _, p := range candidates {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("vm: no statically linked busybox found (install the Debian package busybox-static)")
}
