package vm

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// initScript is the initramfs's /init (busybox sh, PID 1). It loads the modules listed in /modules.list,
// mounts the host root read-only (9p tag hostroot) under a tmpfs overlay, mounts the exchange folder
// (9p tag xchg) on /xchg inside it and chroots there to run /xchg/run.sh, which the host writes per run.
//
// PID 1 itself chroots (exec chroot): kernel threads share PID 1's fs_struct, so the kernel's module
// autoloader (request_module running /sbin/modprobe for crypto templates like gcm or rfc4106) then finds
// the host's modprobe and the bind-mounted /lib/modules. A busybox copy in /.cygnet runs run.sh, so the
// guest needs no host binary until the command itself. Every exit is a reboot, which qemu -no-reboot turns
// into qemu exiting; it needs no ACPI.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "cygnet-init: $*"; sync; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do
	insmod "/mods/$m" || fail "insmod $m failed"
done
mkdir -p /mnt/host /mnt/xchg /mnt/ovl /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /mnt/host || fail "cannot mount the host root (9p tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 xchg /mnt/xchg || fail "cannot mount the exchange folder (9p tag xchg)"
mount -t tmpfs -o mode=755 ovl /mnt/ovl || fail "cannot mount tmpfs"
mkdir -p /mnt/ovl/upper /mnt/ovl/work
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/ovl/upper,workdir=/mnt/ovl/work /newroot || fail "cannot mount the overlay"
mkdir -p /newroot/xchg /newroot/.cygnet
cp /bin/busybox /newroot/.cygnet/busybox || fail "cannot copy busybox"
mount --move /mnt/xchg /newroot/xchg
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
[ -f /newroot/xchg/run.sh ] || fail "no run.sh in the exchange folder"
exec chroot /newroot /.cygnet/busybox sh /xchg/run.sh
fail "chroot failed"
`

// buildInitrd writes a gzip'd newc cpio archive with busybox, the init script and the modules (in load
// order) to dst, atomically.
func buildInitrd(modDir string, mods []string, dst string) error {
	bb, err := findBusybox()
	if err != nil {
		return err
	}
	bbData, err := os.ReadFile(bb)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	var arch bytes.Buffer
	w := &cpioWriter{w: &arch}
	for _, d := range []string{"bin", "dev", "proc", "sys", "mnt", "mods", "newroot", "tmp"} {
		w.dir(d)
	}
	// The kernel opens /dev/console for init's stdio before init runs; without the node init's messages
	// would go nowhere.
	w.charDev("dev/console", 0o600, 5, 1)
	w.file("init", 0o755, []byte(initScript))
	w.file("bin/busybox", 0o755, bbData)
	var list strings.Builder
	for _, m := range mods {
		data, err := readModule(filepath.Join(modDir, m))
		if err != nil {
			return err
		}
		name := moduleName(m) + ".ko"
		w.file("mods/"+name, 0o644, data)
		list.WriteString(name + "\n")
	}
	w.file("modules.list", 0o644, []byte(list.String()))
	w.trailer()
	if w.err != nil {
		return fmt.Errorf("vm: initramfs: %w", w.err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(dst), ".initrd-")
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.Remove(tmp.Name())
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if _, err := zw.Write(arch.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("vm: write initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return fmt.Errorf("vm: write initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vm: write initramfs: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}

// readModule returns a module's ELF image; busybox insmod cannot decompress, so compressed modules are
// expanded here (Debian kernels after 6.1 ship .ko.xz).
func readModule(p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("vm: kernel module: %w", err)
		}
		return b, nil
	case strings.HasSuffix(p, ".ko.gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("vm: kernel module: %w", err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("vm: kernel module %s: %w", p, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("vm: kernel module %s: %w", p, err)
		}
		return b, nil
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	default:
		return nil, fmt.Errorf("vm: kernel module %s: unknown file type", p)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, "-dc", p)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vm: decompress kernel module %s with %s: %v: %s", p, tool, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// cpioWriter writes the "newc" cpio format the kernel unpacks as initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst).
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

func (c *cpioWriter) header(name string, mode uint32, size int, rmajor, rminor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad aligns to 4 bytes after n bytes written.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string) { c.header(path.Clean(name), cpioDir|0o755, 0, 0, 0) }

func (c *cpioWriter) charDev(name string, perm, major, minor uint32) {
	c.header(name, cpioChar|perm, 0, major, minor)
}

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.header(name, cpioReg|perm, len(data), 0, 0)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) trailer() { c.header("TRAILER!!!", 0, 0, 0, 0) }
