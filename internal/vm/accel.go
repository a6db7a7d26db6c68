package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KVM ioctls (linux/kvm.h: KVMIO 0xAE).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

// probeTimeout bounds the KVM probe boot. Under working KVM the guest reaches its command in one or two
// seconds; nested setups where /dev/kvm opens but vCPUs spin forever are caught by this bound.
const probeTimeout = 15 * time.Second

var accelMemo struct {
	sync.Mutex
	v string
}

// Accel reports the accelerator Run uses: $CYGNET_VM_ACCEL ("kvm" or "tcg") if set; otherwise "kvm" when
// /dev/kvm answers its API ioctls and a probe boot of the real guest under KVM runs a command to completion,
// else "tcg" (software emulation). /dev/kvm existing proves little: in nested sandboxes it opens and creates
// VMs, and then qemu aborts setting MSRs or the vCPU never makes progress. The verdict is remembered in the
// cache directory for the current host boot (keyed by /proc/sys/kernel/random/boot_id).
func Accel(ctx context.Context) (string, error) {
	if v := os.Getenv("CYGNET_VM_ACCEL"); v != "" {
		if v != "kvm" && v != "tcg" {
			return "", fmt.Errorf("vm: CYGNET_VM_ACCEL=%q: want kvm or tcg", v)
		}
		return v, nil
	}
	accelMemo.Lock()
	defer accelMemo.Unlock()
	if accelMemo.v != "" {
		return accelMemo.v, nil
	}
	if err := CheckHost(); err != nil {
		return "", err
	}
	if err := kvmUsable(); err != nil {
		accelMemo.v = "tcg"
		return accelMemo.v, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("vm: cache: %w", err)
	}
	bootID := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		bootID = strings.TrimSpace(string(b))
	}
	verdict := filepath.Join(cache, "accel-"+bootID)
	unlock, err := lockFile(filepath.Join(cache, "accel.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if b, err := os.ReadFile(verdict); err == nil {
		if v := strings.TrimSpace(string(b)); v == "kvm" || v == "tcg" {
			accelMemo.v = v
			return v, nil
		}
	}
	img, err := Prepare(ctx)
	if err != nil {
		return "", err
	}
	v := "tcg"
	res, err := boot(ctx, img, "kvm", Options{Argv: []string{"true"}, Mem: 512, CPUs: 1, Timeout: probeTimeout, Dir: "/"})
	if err == nil && res.ExitCode == 0 {
		v = "kvm"
	}
	if ctx.Err() != nil {
		// A cancelled probe proves nothing; do not remember it.
		return "", fmt.Errorf("vm: kvm probe: %w", ctx.Err())
	}
	tmp := fmt.Sprintf("%s.%d", verdict, os.Getpid())
	if err := os.WriteFile(tmp, []byte(v+"\n"), 0o644); err == nil {
		_ = os.Rename(tmp, verdict)
	}
	accelMemo.v = v
	return v, nil
}

// kvmUsable checks that /dev/kvm opens read-write, speaks the stable API and creates a VM.
func kvmUsable() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 {
		return errno
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("vm: kvm api version %d", v)
	}
	fd, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return errno
	}
	syscall.Close(int(fd))
	return nil
}
