package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireGuest gates the tests that boot a guest, by the rule vmtest uses for its tests: they fail when
// CYGNET_REQUIRE_VM=1 and the host cannot run guests, and skip otherwise. They never nest.
func requireGuest(t *testing.T) {
	t.Helper()
	if os.Getenv("CYGNET_IN_VM") == "1" {
		t.Skip("already inside the guest; not nesting qemu")
	}
	if err := CheckHost(); err != nil {
		if os.Getenv("CYGNET_REQUIRE_VM") == "1" {
			t.Fatalf("CYGNET_REQUIRE_VM=1 and the host cannot boot the test guest: %v", err)
		}
		t.Skipf("cannot boot the test guest (run `make test`, or scripts/deps.sh as root): %v", err)
	}
}

// TestRunGuest boots the real guest once and checks what the tests rely on: the Debian kernel runs, esp4
// loads through the host's modprobe, the kernel autoloads the GCM template when an rfc4106 SA is added,
// the working directory and environment arrive, writes stay in the guest, output streams, and the exit
// status comes back.
func TestRunGuest(t *testing.T) {
	requireGuest(t)
	ctx := context.Background()
	marker := filepath.Join(os.TempDir(), fmt.Sprintf("cygnet-vm-test-%d", time.Now().UnixNano()))
	dir := t.TempDir()
	script := `set -e
echo "release=$(uname -r)"
echo "dir=$(pwd) x=$CYGNET_TEST_X invm=$CYGNET_IN_VM"
modprobe esp4
grep -q '^esp4 ' /proc/modules
ip netns add vmtest
# RFC 4106 key: 16 bytes of AES key plus 4 bytes of salt. Adding the SA makes the kernel autoload gcm.
ip -n vmtest xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 mode transport \
	aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0f10111213 128
ip -n vmtest xfrm state | grep -q 'rfc4106(gcm(aes))'
echo esp-gcm-ok
touch "$MARKER"
exit 7
`
	var streamed bytes.Buffer
	res, err := Run(ctx, Options{
		Argv:    []string{"sh", "-c", script},
		Dir:     dir,
		Env:     []string{"CYGNET_TEST_X=it's here", "MARKER=" + marker},
		Output:  &streamed,
		Timeout: 10 * time.Minute,
	})
	t.Logf("guest output:\n%s", res.Output)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("kernel %s, accel %s: boot %v, total %v", res.Kernel, res.Accel, res.Boot, res.Total)
	fmt.Fprintf(os.Stderr, "vm: guest kernel %s (%s) booted in %v, whole run %v\n",
		res.Kernel, res.Accel, res.Boot.Round(10*time.Millisecond), res.Total.Round(10*time.Millisecond))
	out := string(res.Output)
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", res.ExitCode)
	}
	if !strings.Contains(out, "release="+res.Kernel+"\n") || res.Kernel == "" {
		t.Errorf("output does not name the guest kernel %q", res.Kernel)
	}
	if want := "dir=" + dir + " x=it's here invm=1\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q", want)
	}
	if !strings.Contains(out, "esp-gcm-ok\n") {
		t.Errorf("ESP with rfc4106(gcm(aes)) did not work in the guest")
	}
	if !bytes.Equal(streamed.Bytes(), res.Output) {
		t.Errorf("streamed output (%d bytes) differs from Result.Output (%d bytes)", streamed.Len(), len(res.Output))
	}
	if _, err := os.Stat(marker); err == nil {
		os.Remove(marker)
		t.Errorf("a file the guest wrote (%s) appeared on the host: the host root must be read-only", marker)
	}
	if res.Boot <= 0 || res.Boot > res.Total {
		t.Errorf("boot time %v not within total %v", res.Boot, res.Total)
	}
}

// TestRunTimeout checks that a guest that overruns is killed and the error says so.
func TestRunTimeout(t *testing.T) {
	requireGuest(t)
	if _, err := Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Run(context.Background(), Options{Argv: []string{"sleep", "600"}, Timeout: 3 * time.Second})
	if err == nil {
		t.Fatalf("Run returned no error for a guest past its timeout (exit %d)", res.ExitCode)
	}
	if !strings.Contains(err.Error(), "timed out after 3s") {
		t.Errorf("error does not say it timed out: %v", err)
	}
	if res.ExitCode != -1 {
		t.Errorf("exit code %d, want -1", res.ExitCode)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %v to give up on a 3s timeout", d)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"empty", Options{}, "empty command"},
		{"env", Options{Argv: []string{"true"}, Env: []string{"NOVALUE"}}, "not NAME=value"},
		{"argv0", Options{Argv: []string{"A=B"}}, "contains '='"},
		{"nul", Options{Argv: []string{"echo", "a\x00b"}}, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir()) // input errors come before looking for qemu
			_, err := Run(context.Background(), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRunScriptQuoting runs the rendered command line through a real shell on the host to prove that
// arguments and environment values survive quoting byte for byte.
func TestRunScriptQuoting(t *testing.T) {
	bb, err := findBusybox()
	if err != nil {
		// The rule of vmtest.RequireInstalled, which this package's tests
		// cannot import: make test's deps phase installs busybox-static.
		if os.Getenv("CYGNET_REQUIRE_ROOT") == "1" || os.Getenv("CYGNET_REQUIRE_VM") == "1" {
			t.Fatalf("%v, and CYGNET_REQUIRE_ROOT=1 or CYGNET_REQUIRE_VM=1 forbids skipping (scripts/deps.sh installs busybox-static)", err)
		}
		t.Skip(err)
	}
	run := func(opt Options) string {
		t.Helper()
		script, err := runScript(Image{Modules: "/m"}, opt)
		if err != nil {
			t.Fatal(err)
		}
		// The command line is the one starting with env -i; quoted arguments may contain newlines.
		if i := strings.Index(script, "\n/usr/bin/env -i "); i >= 0 {
			if cmdline, _, ok := strings.Cut(script[i+1:], " < /dev/null > /xchg/out 2>&1\n"); ok {
				out, err := exec.Command(bb, "sh", "-c", cmdline).Output()
				if err != nil {
					t.Fatalf("sh -c %s: %v", cmdline, err)
				}
				return string(out)
			}
		}
		t.Fatalf("no command line in:\n%s", script)
		return ""
	}
	args := []string{"printf", `[%s]\n`, "a b", `it's`, `"q"`, "$HOME", "`x`", "new\nline", ""}
	if got, want := run(Options{Argv: args, Dir: "/tmp"}), "[a b]\n[it's]\n[\"q\"]\n[$HOME]\n[`x`]\n[new\nline]\n[]\n"; got != want {
		t.Errorf("arguments: got %q, want %q", got, want)
	}
	env := []string{"V=$(x) 'y'", "W=1", "W=2", "CYGNET_IN_VM=0"}
	if got, want := run(Options{Argv: []string{"sh", "-c", `printf '%s|%s|%s|%s' "$V" "$W" "$CYGNET_IN_VM" "$HOME"`}, Dir: "/", Env: env}), "$(x) 'y'|2|1|/root"; got != want {
		t.Errorf("environment: got %q, want %q", got, want)
	}
}

func TestModuleLoadOrder(t *testing.T) {
	dir := t.TempDir()
	dep := `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci-modern-dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci-modern-dev.ko:
`
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/overlayfs/overlay.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := moduleLoadOrder(dir, []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range got {
		if _, dup := pos[m]; dup {
			t.Fatalf("%s twice in %v", m, got)
		}
		pos[m] = i
	}
	if len(got) != 9 {
		t.Fatalf("got %d modules %v, want 9 (overlay is built in)", len(got), got)
	}
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		mod, deps, _ := strings.Cut(line, ":")
		for _, d := range strings.Fields(deps) {
			if pos[d] > pos[mod] {
				t.Errorf("%s loads before its dependency %s: %v", mod, d, got)
			}
		}
	}
	if _, err := moduleLoadOrder(dir, []string{"nonesuch"}); err == nil || !strings.Contains(err.Error(), "nonesuch") {
		t.Errorf("missing module: error %v", err)
	}
}

// TestCPIO checks the archive against the system's cpio reader when there is one, else against the format's
// fixed header layout.
func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	w := &cpioWriter{w: &buf}
	w.dir("bin")
	w.charDev("dev/console", 0o600, 5, 1)
	w.file("init", 0o755, []byte("#!/bin/sh\n"))
	w.file("bin/x", 0o644, []byte("abcde"))
	w.trailer()
	if w.err != nil {
		t.Fatal(w.err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", buf.Len())
	}
	// Walk the headers: magic, name size and file size at their offsets in the 110-byte header.
	var names []string
	data := buf.Bytes()
	for off := 0; off < len(data); {
		if off+110 > len(data) || string(data[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(data[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		size, nameSize := field(6), field(11)
		name := string(data[off+110 : off+110+nameSize-1])
		names = append(names, name)
		off += (110 + nameSize + 3) &^ 3
		if name == "bin/x" && string(data[off:off+size]) != "abcde" {
			t.Errorf("bin/x content %q", data[off:off+size])
		}
		off += (size + 3) &^ 3
	}
	if got := strings.Join(names, ","); got != "bin,dev/console,init,bin/x,TRAILER!!!" {
		t.Errorf("entries %s", got)
	}
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t", "-v")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cpio -t: %v: %s", err, out)
		}
		for _, want := range []string{"crw-------", "-rwxr-xr-x", "bin/x"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("cpio -t output lacks %q:\n%s", want, out)
			}
		}
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv("CYGNET_VM_CACHE", "/x/y")
	t.Setenv("XDG_CACHE_HOME", "/c")
	if d, _ := CacheDir(); d != "/x/y" {
		t.Errorf("CYGNET_VM_CACHE: %s", d)
	}
	t.Setenv("CYGNET_VM_CACHE", "")
	if d, _ := CacheDir(); d != "/c/cygnet/vm" {
		t.Errorf("XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/h")
	if d, _ := CacheDir(); d != "/h/.cache/cygnet/vm" {
		t.Errorf("HOME: %s", d)
	}
}

// BenchmarkBoot measures a whole guest run of `true`: boot, mounts, command, power-off.
func BenchmarkBoot(b *testing.B) {
	if os.Getenv("CYGNET_IN_VM") == "1" || CheckHost() != nil {
		b.Skip("cannot boot the test guest here")
	}
	var boot time.Duration
	for b.Loop() {
		res, err := Run(context.Background(), Options{Argv: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("exit %d: %v", res.ExitCode, err)
		}
		boot += res.Boot
	}
	b.ReportMetric(boot.Seconds()/float64(b.N), "boot-s/op")
}

// TestRunNamesMissingTools checks that a host without qemu gets an error naming the package to install,
// before anything is downloaded.
func TestRunNamesMissingTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CYGNET_VM_CACHE", t.TempDir()) // no cached kernel: apt tools are needed too
	_, err := Run(context.Background(), Options{Argv: []string{"true"}})
	if err == nil {
		t.Fatal("Run succeeded without qemu on PATH")
	}
	for _, want := range []string{"qemu-system-x86_64 (package qemu-system-x86)", "apt-get (package apt)", "depmod (package kmod)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestPrepareConcurrent builds the initramfs from several goroutines at once into a cache that has the
// kernel but no initramfs: exactly one valid image must result, and every caller must get it.
func TestPrepareConcurrent(t *testing.T) {
	requireGuest(t)
	img, err := Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A cache whose kernel entry borrows the real one's files.
	cache := t.TempDir()
	kdir := filepath.Join(cache, "kernel-"+img.Version)
	realDir := filepath.Dir(filepath.Dir(img.Kernel))
	for _, p := range []string{"boot", "lib", "ready"} {
		if err := os.MkdirAll(kdir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(realDir, p), filepath.Join(kdir, p)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("CYGNET_VM_CACHE", cache)
	const n = 4
	errs := make(chan error, n)
	paths := make(chan string, n)
	for range n {
		go func() {
			img, err := Prepare(context.Background())
			errs <- err
			paths <- img.Initrd
		}()
	}
	var first string
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		p := <-paths
		if first == "" {
			first = p
		}
		if p != first {
			t.Errorf("initrd paths differ: %s, %s", first, p)
		}
	}
	entries, _ := os.ReadDir(kdir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "boot "+filepath.Base(first)+" lib ready" {
		t.Errorf("cache entry holds %q: want one initramfs and no temporaries", got)
	}
	f, err := os.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("initramfs is not valid gzip: %v", err)
	}
	if !bytes.HasPrefix(data, []byte("070701")) || !bytes.Contains(data, []byte("TRAILER!!!")) {
		t.Error("initramfs is not a complete newc archive")
	}
}

func TestHasNote(t *testing.T) {
	note := func(name string, typ uint32, desc []byte) []byte {
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.LittleEndian.AppendUint32(b, typ)
		b = append(b, name...)
		b = append(b, 0)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		b = append(b, desc...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	notes := append(note("GNU", 3, []byte{1, 2, 3, 4, 5}), note("Xen", 6, []byte("linux\x00"))...)
	if hasNote(notes, binary.LittleEndian, "Xen", xenElfnotePhys32Entry) {
		t.Error("found a PVH note that is not there")
	}
	notes = append(notes, note("Xen", xenElfnotePhys32Entry, []byte{0, 0, 0, 1})...)
	if !hasNote(notes, binary.LittleEndian, "Xen", xenElfnotePhys32Entry) {
		t.Error("PVH note not found")
	}
	for i := range notes {
		hasNote(notes[:i], binary.LittleEndian, "Xen", xenElfnotePhys32Entry) // truncations must not panic
	}
	bad := note("Xen", 1, nil)
	binary.LittleEndian.PutUint32(bad, 0xffffffff) // namesz beyond the buffer
	if hasNote(bad, binary.LittleEndian, "Xen", 1) {
		t.Error("note with an impossible name size accepted")
	}
}

func TestExtractPVHKernelRejects(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(src, bytes.Repeat([]byte{0}, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := extractPVHKernel(src, filepath.Join(dir, "out")); err == nil || !strings.Contains(err.Error(), "boot protocol") {
		t.Errorf("error %v for a file without a boot header", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("output written for a rejected image")
	}
}

func TestRemoveOldKernels(t *testing.T) {
	cache := t.TempDir()
	mk := func(name string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(cache, name), 0o755); err != nil {
			t.Fatal(err)
		}
		ready := filepath.Join(cache, name, "ready")
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(ready, when, when); err != nil {
			t.Fatal(err)
		}
	}
	mk("kernel-new", 48*time.Hour) // kept: it is the current one, however old
	mk("kernel-recent", time.Hour) // kept: a guest may still use it
	mk("kernel-old", 48*time.Hour) // removed
	mk(".build-123", 0)            // removed: a crashed build
	if err := os.WriteFile(filepath.Join(cache, "lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	removeOldKernels(cache, "new")
	entries, _ := os.ReadDir(cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "kernel-new kernel-recent lock" {
		t.Errorf("left %q", got)
	}
	if v := newestCachedKernel(cache); v != "recent" {
		t.Errorf("newest cached kernel %q, want recent", v)
	}
}
