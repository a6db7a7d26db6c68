package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Booting the bzImage under emulation spends seconds before the kernel prints anything: firmware, the
// real-mode setup code and decompressing 65 MB of xz. qemu can instead load the uncompressed ELF kernel
// and enter it through its PVH entry point (Xen's 32-bit direct boot ABI, which Linux supports when built
// with CONFIG_PVH, as Debian's is). Measured here: first kernel message after 0.7 s instead of 3.4-5.8 s.

// xenElfnotePhys32Entry is the ELF note (owner "Xen") holding the PVH entry point
// (xen/include/public/elfnote.h: XEN_ELFNOTE_PHYS32_ENTRY).
const xenElfnotePhys32Entry = 18

// extractPVHKernel writes the ELF kernel inside bzImage to dst (atomically) if it has a PVH entry point.
// The x86 boot protocol header (Documentation/arch/x86/boot.rst) locates the compressed payload:
// setup_sects at 0x1f1, "HdrS" at 0x202, version at 0x206, payload_offset/length at 0x248/0x24c (2.08+),
// the payload starting after the setup sectors.
func extractPVHKernel(bzImage, dst string) error {
	d, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if len(d) < 0x250 || string(d[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(d[0x206:]) < 0x208 {
		return errors.New("vm: kernel image has no boot protocol 2.08 header")
	}
	setupSects := int(d[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(d[0x248:]))
	n := int(binary.LittleEndian.Uint32(d[0x24c:]))
	if off < 0 || n <= 0 || off+n > len(d) {
		return errors.New("vm: kernel payload outside the image")
	}
	payload := d[off : off+n]
	var elfData []byte
	switch {
	case bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")):
		// The payload ends with the 4-byte uncompressed size after the xz stream; --single-stream
		// stops at the stream's end instead of reading those bytes as another stream.
		cmd := exec.Command("xz", "-dc", "--single-stream")
		cmd.Stdin = bytes.NewReader(payload)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if elfData, err = cmd.Output(); err != nil {
			return fmt.Errorf("vm: xz: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("vm: kernel payload: %w", err)
		}
		zr.Multistream(false)
		if elfData, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("vm: kernel payload: %w", err)
		}
	default:
		return errors.New("vm: kernel payload compression not supported for PVH boot")
	}
	if err := checkPVH(elfData); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".vmlinux-")
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(elfData); err != nil {
		tmp.Close()
		return fmt.Errorf("vm: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}

// checkPVH reports whether an x86-64 ELF kernel carries the PVH entry note.
func checkPVH(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("vm: uncompressed kernel: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("vm: uncompressed kernel is for %v", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			return fmt.Errorf("vm: kernel notes: %w", err)
		}
		if hasNote(notes, f.ByteOrder, "Xen", xenElfnotePhys32Entry) {
			return nil
		}
	}
	return errors.New("vm: kernel has no PVH entry point (CONFIG_PVH)")
}

// hasNote walks ELF notes: namesz, descsz, type, then name and desc, each padded to 4 bytes.
func hasNote(b []byte, bo binary.ByteOrder, name string, typ uint32) bool {
	for len(b) >= 12 {
		namesz, descsz, t := bo.Uint32(b), bo.Uint32(b[4:]), bo.Uint32(b[8:])
		b = b[12:]
		nlen, dlen := int((namesz+3)&^3), int((descsz+3)&^3)
		if namesz > uint32(len(b)) || nlen > len(b) || dlen > len(b)-nlen {
			return false
		}
		if t == typ && string(bytes.TrimRight(b[:namesz], "\x00")) == name {
			return true
		}
		b = b[nlen+dlen:]
	}
	return false
}
