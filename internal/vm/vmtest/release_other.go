//go:build !linux

package vmtest

// kernelRelease is "unknown": only Linux kernels are examined, and
// KernelESP's checks fail on any other.
func kernelRelease() string { return "unknown" }
