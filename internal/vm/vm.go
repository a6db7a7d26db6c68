// Package vm runs a command inside a stock Debian Linux kernel under qemu, with this machine's own userland.
//
// Why: the machines cygnet is built and tested on often run a minimal kernel with XFRM but without ESP
// (RFC 4303) or AES-GCM (RFC 4106), so `ip xfrm state add ... proto esp` fails there. Users' nodes run
// distribution kernels that have both. Run boots the current Debian linux-image-amd64 kernel with a small
// busybox initramfs that mounts the host's root file system read-only over 9p, puts a tmpfs overlay on top,
// chroots into it and runs the command as root. The guest therefore sees the host's Go test binaries,
// iproute2 and strongSwan at their usual paths, and its writes vanish when it powers off. The extracted
// kernel modules are bind-mounted on /lib/modules so that modprobe, and the kernel's own module autoloading
// of crypto templates such as gcm(aes), work.
//
// The kernel and initramfs are built once and cached (see CacheDir). KVM is used when it really works on
// this machine (a probe boot decides, once per host boot); otherwise qemu emulates the CPU (TCG).
//
// Environment:
//
//	CYGNET_VM_CACHE=DIR      cache directory (default $XDG_CACHE_HOME/cygnet/vm or ~/.cache/cygnet/vm)
//	CYGNET_VM_ACCEL=kvm|tcg  skip the KVM probe
//	CYGNET_VM_CONSOLE=FILE   keep the guest's whole console, kernel messages included, in FILE
//
// Limits: the guest cannot write to the host (coverage profiles and go test's test log stay in the guest),
// and timings under TCG are not performance figures; ratios between programs in the same guest are.
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Options describe one command to run in the guest.
type Options struct {
	// Argv is the command and its arguments, resolved with the guest's PATH. Required.
	Argv []string
	// Dir is the working directory in the guest; it must exist on the host. Default: the current directory.
	Dir string
	// Env is added to the guest's base environment (PATH, HOME=/root); later entries win.
	// CYGNET_IN_VM=1 is always set last.
	Env []string
	// Mem is the guest memory in MiB (default 2048). The overlay's writes live in it too.
	Mem int
	// CPUs is the number of virtual CPUs (default 2).
	CPUs int
	// Timeout bounds the whole run including boot (default 15 minutes).
	Timeout time.Duration
	// Output, if set, receives the command's combined stdout and stderr while it runs.
	Output io.Writer
	// Accel forces "kvm" or "tcg"; empty means $CYGNET_VM_ACCEL, else detect (see Accel).
	Accel string
}

// Result is what the guest command produced.
type Result struct {
	Output   []byte        // combined stdout and stderr of the command
	ExitCode int           // the command's exit status; -1 if the guest never reported one
	Boot     time.Duration // from qemu start until the command started in the guest
	Total    time.Duration // from qemu start until qemu exited
	Accel    string        // "kvm" or "tcg"
	Kernel   string        // guest kernel release, e.g. 6.1.0-56-amd64

	timedOut bool // the run hit Options.Timeout or its context ended
}

// Defaults, chosen for the tests this project runs: two charon instances plus a Go test binary fit in 2 GiB
// with room for the tmpfs overlay; two vCPUs match the small CI machines.
const (
	defaultMem     = 2048
	defaultCPUs    = 2
	defaultTimeout = 15 * time.Minute
	guestPath      = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	qemuBinary     = "qemu-system-x86_64"
)

// Names of the files exchanged with the guest through the read-write 9p export.
const (
	xchgRun     = "run.sh"  // written by the host: what the guest executes after chroot
	xchgStarted = "started" // created by the guest just before the command starts
	xchgOut     = "out"     // the command's output
	xchgRC      = "rc"      // the command's exit status, written last
)

// Run boots the guest kernel, runs opt.Argv in it and returns its output and exit status. A non-zero exit
// status of the command is not an error; failing to boot, to build the kernel cache or to get a status
// back from the guest is (the error then carries the tail of the guest console).
func Run(ctx context.Context, opt Options) (Result, error) {
	if len(opt.Argv) == 0 {
		return Result{ExitCode: -1}, errors.New("vm: empty command")
	}
	// Reject what cannot be passed to the guest before booting anything.
	if _, err := runScript(Image{}, opt); err != nil {
		return Result{ExitCode: -1}, err
	}
	// Before any download: a missing emulator should not cost a 70 MB kernel fetch to find out.
	if err := CheckHost(); err != nil {
		return Result{ExitCode: -1}, err
	}
	img, err := Prepare(ctx)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	accel := opt.Accel
	if accel == "" {
		accel, err = Accel(ctx)
		if err != nil {
			return Result{ExitCode: -1}, err
		}
	}
	res, err := boot(ctx, img, accel, opt)
	if err != nil && res.Boot == 0 && !res.timedOut && ctx.Err() == nil {
		// The guest died before the command started: under heavy host load an emulated kernel can
		// still panic early on (timer checks, calibration). One more boot costs seconds; a flaky
		// harness costs trust in every real-kernel test.
		first := err
		res, err = boot(ctx, img, accel, opt)
		if err != nil {
			err = fmt.Errorf("%w (a first boot had failed too: %v)", err, first)
		}
	}
	return res, err
}

// CheckHost reports, in one error, every host tool Run needs that is missing, with the Debian package
// that provides it. It does not download anything.
func CheckHost() error {
	var missing []string
	if _, err := exec.LookPath(qemuBinary); err != nil {
		missing = append(missing, qemuBinary+" (package qemu-system-x86)")
	}
	if _, err := findBusybox(); err != nil {
		missing = append(missing, "a static busybox (package busybox-static)")
	}
	cache, _ := CacheDir()
	if cache == "" || newestCachedKernel(cache) == "" {
		// Only needed to fetch the kernel the first time.
		for _, t := range []struct{ tool, pkg string }{{"apt-cache", "apt"}, {"apt-get", "apt"}, {"dpkg-deb", "dpkg"}, {"depmod", "kmod"}} {
			if _, err := exec.LookPath(t.tool); err != nil {
				missing = append(missing, t.tool+" (package "+t.pkg+")")
			}
		}
	}
	if runtime.GOARCH != "amd64" {
		missing = append(missing, "an x86-64 host (this one is "+runtime.GOARCH+")")
	}
	if len(missing) > 0 {
		return fmt.Errorf("vm: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// boot runs one guest with a given accelerator.
func boot(ctx context.Context, img Image, accel string, opt Options) (Result, error) {
	res := Result{ExitCode: -1, Accel: accel, Kernel: img.Version}
	if accel != "kvm" && accel != "tcg" {
		return res, fmt.Errorf("vm: unknown accelerator %q (want kvm or tcg)", accel)
	}
	qemu, err := exec.LookPath(qemuBinary)
	if err != nil {
		return res, fmt.Errorf("vm: %s not found (install the Debian package qemu-system-x86): %w", qemuBinary, err)
	}
	if opt.Mem <= 0 {
		opt.Mem = defaultMem
	}
	if opt.CPUs <= 0 {
		opt.CPUs = defaultCPUs
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.Dir == "" {
		if opt.Dir, err = os.Getwd(); err != nil {
			return res, fmt.Errorf("vm: working directory: %w", err)
		}
	}
	if opt.Dir, err = filepath.Abs(opt.Dir); err != nil {
		return res, fmt.Errorf("vm: working directory: %w", err)
	}
	if fi, err := os.Stat(opt.Dir); err != nil || !fi.IsDir() {
		return res, fmt.Errorf("vm: working directory %s is not a directory on the host", opt.Dir)
	}

	xchg, err := os.MkdirTemp("", "cygnet-vm-")
	if err != nil {
		return res, fmt.Errorf("vm: exchange directory: %w", err)
	}
	defer os.RemoveAll(xchg)
	script, err := runScript(img, opt)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(xchg, xchgRun), []byte(script), 0o644); err != nil {
		return res, fmt.Errorf("vm: %w", err)
	}
	console := filepath.Join(xchg, "console")
	// CYGNET_VM_CONSOLE=FILE keeps the whole guest console, with kernel messages, for debugging boots.
	keepConsole := os.Getenv("CYGNET_VM_CONSOLE")
	loglevel := "quiet"
	if keepConsole != "" {
		loglevel = "loglevel=7 printk.time=1"
		defer func() {
			if data, err := os.ReadFile(console); err == nil {
				_ = os.WriteFile(keepConsole, data, 0o644)
			}
		}()
	}

	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "file:" + console, "-monitor", "none",
		"-accel", accel, "-cpu", cpuModel(accel),
		"-m", strconv.Itoa(opt.Mem), "-smp", strconv.Itoa(opt.CPUs),
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		// The host root is exported read-only; multidevs=remap keeps inode numbers unique across the
		// host's mounts so the guest's overlay does not see collisions.
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + xchg + ",mount_tag=xchg,security_model=none",
		// panic=-1 turns a dead init into an immediate reboot, which -no-reboot turns into qemu exiting.
		// mitigations=off: nothing untrusted runs in this guest and emulated mitigations are slow.
		// pci=noacpi: ACPI interrupt-link setup for the virtio devices took over a second (acpi=off
		// would also drop the second CPU). cryptomgr.notests: Debian kernels self-test every crypto
		// algorithm on first use, seconds each under emulation; these tests exercise cygnet, not the
		// kernel's AES. jitterentropy_rng, which the DRBG behind ESP's IV generator would load, times
		// CPU jitter that emulation does not have; the DRBG then seeds from the kernel's pool alone.
		// no_timer_check: on a loaded host the emulated timer can miss the kernel's IO-APIC timer
		// check window, which then panics ("IO-APIC + timer doesn't work!"); seen here.
		"-append", "console=ttyS0 panic=-1 mitigations=off pci=noacpi cryptomgr.notests=1 " +
			"module_blacklist=jitterentropy_rng no_timer_check " + loglevel,
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	var stderr bytes.Buffer
	cmd := exec.Command(qemu, args...)
	cmd.Stdin = nil
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	// Kill qemu if this process dies (for example when `go test` kills a test binary at its timeout):
	// an orphaned emulator would otherwise keep burning both CPUs.
	killWithParent(cmd)

	start := time.Now()
	waitErr := make(chan error, 1)
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the creating OS thread exits, so that thread must live until qemu does.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waitErr <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return res, fmt.Errorf("vm: start %s: %w", qemu, err)
	}

	outPath := filepath.Join(xchg, xchgOut)
	var out bytes.Buffer
	var off int64
	drain := func() {
		f, err := os.Open(outPath)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return
		}
		n, _ := io.Copy(&tee{&out, opt.Output}, f)
		off += n
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var qerr error
	timedOut := false
loop:
	for {
		select {
		case qerr = <-waitErr:
			break loop
		case <-ctx.Done():
			timedOut = true
			res.timedOut = true
			_ = cmd.Process.Kill()
			qerr = <-waitErr
			break loop
		case <-tick.C:
			if res.Boot == 0 {
				if _, err := os.Stat(filepath.Join(xchg, xchgStarted)); err == nil {
					res.Boot = time.Since(start)
				}
			}
			drain()
		}
	}
	res.Total = time.Since(start)
	drain()
	res.Output = out.Bytes()

	rc, rcErr := os.ReadFile(filepath.Join(xchg, xchgRC))
	if rcErr == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(rc))); err == nil {
			res.ExitCode = n
			return res, nil
		}
	}
	why := "the guest exited without reporting the command's exit status"
	switch {
	case timedOut && ctx.Err() == context.DeadlineExceeded:
		why = fmt.Sprintf("timed out after %v", opt.Timeout)
	case timedOut:
		why = "cancelled: " + ctx.Err().Error()
	case qerr != nil:
		why = fmt.Sprintf("qemu failed (%v)", qerr)
	}
	return res, fmt.Errorf("vm: %s (accel %s, kernel %s); qemu said: %s; console tail:\n%s",
		why, accel, img.Version, strings.TrimSpace(stderr.String()), tail(console, 25))
}

// cpuModel picks the guest CPU: the host's own under KVM; under TCG "max", which emulates AES-NI and
// PCLMULQDQ so the guest's aesni-intel GCM driver is exercised like on real nodes.
func cpuModel(accel string) string {
	if accel == "kvm" {
		return "host"
	}
	return "max"
}

// runScript renders what the guest runs after chroot: finish the mounts the command expects, run it with
// exactly the requested environment, report its status, reboot (which -no-reboot turns into qemu exiting).
// It runs under the busybox copied into the guest's tmpfs, and uses only its applets up to the command:
// every host binary would be loaded over 9p, which costs seconds under emulation.
func runScript(img Image, opt Options) (string, error) {
	var b strings.Builder
	b.WriteString("# written by cygnet internal/vm for one guest run; interpreted by busybox sh\n")
	b.WriteString("bb=/.cygnet/busybox\n")
	b.WriteString("\"$bb\" mount -t tmpfs -o mode=755 run /run\n")
	b.WriteString("\"$bb\" mkdir -p /dev/pts /dev/shm && \"$bb\" mount -t devpts devpts /dev/pts && \"$bb\" mount -t tmpfs shm /dev/shm\n")
	fmt.Fprintf(&b, "\"$bb\" mkdir -p /lib/modules && \"$bb\" mount -o bind %s /lib/modules\n", shellQuote(img.Modules))
	b.WriteString("\"$bb\" hostname cygnet-vm\n")
	b.WriteString("\"$bb\" ip link set lo up\n")
	if img.plainModules {
		// The kernel runs modprobe for every crypto algorithm name it has not seen (crypto-gcm(aes),
		// crypto-rfc4106(gcm(aes))-all, ...): dozens for the first ESP SA. kmod's modprobe links
		// libcrypto and takes about half a second per run under emulation; busybox's, static and in
		// tmpfs, a tenth of that, and it resolves modules.alias the same way. It cannot unpack
		// compressed modules, hence only with plain .ko files.
		b.WriteString("\"$bb\" ln -s busybox /.cygnet/modprobe && echo /.cygnet/modprobe > /proc/sys/kernel/modprobe\n")
	}
	fmt.Fprintf(&b, "cd %s || { echo 'vm: cannot enter %s in the guest' > /xchg/%s; echo 126 > /xchg/%s; \"$bb\" sync; exec \"$bb\" reboot -f; }\n",
		shellQuote(opt.Dir), strings.ReplaceAll(opt.Dir, "'", ""), xchgOut, xchgRC)
	fmt.Fprintf(&b, ": > /xchg/%s\n", xchgStarted)
	// The host's env, not busybox's: busybox would run its own applets for names like sh or ip.
	b.WriteString("/usr/bin/env -i")
	env := append([]string{"PATH=" + guestPath, "HOME=/root"}, opt.Env...)
	env = append(env, "CYGNET_IN_VM=1")
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("vm: environment entry %q is not NAME=value", kv)
		}
		if strings.ContainsRune(kv, 0) {
			return "", fmt.Errorf("vm: environment entry for %s contains a NUL byte", name)
		}
		b.WriteString(" " + shellQuote(kv))
	}
	if strings.Contains(opt.Argv[0], "=") {
		// env(1) would take it for another assignment.
		return "", fmt.Errorf("vm: command name %q contains '='", opt.Argv[0])
	}
	for _, a := range opt.Argv {
		if strings.ContainsRune(a, 0) {
			return "", errors.New("vm: command argument contains a NUL byte")
		}
		b.WriteString(" " + shellQuote(a))
	}
	fmt.Fprintf(&b, " < /dev/null > /xchg/%s 2>&1\n", xchgOut)
	fmt.Fprintf(&b, "echo $? > /xchg/%s.tmp && \"$bb\" mv /xchg/%s.tmp /xchg/%s\n", xchgRC, xchgRC, xchgRC)
	b.WriteString("\"$bb\" sync\nexec \"$bb\" reboot -f\n")
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no console output: " + err.Error() + ")"
	}
	// The serial console carries terminal control sequences and CRs from the firmware.
	data = bytes.ReplaceAll(data, []byte("\r"), nil)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if strings.TrimSpace(s) == "" {
		return "(console empty)"
	}
	return s
}

// tee writes to a buffer and, if set, a second writer whose errors are ignored (a closed terminal must
// not lose the recorded output).
type tee struct {
	buf *bytes.Buffer
	w   io.Writer
}

func (t *tee) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.w != nil {
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}
