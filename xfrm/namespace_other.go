//go:build !linux

package xfrm

import (
	"fmt"
	"runtime"
)

// InNamespace runs fn inside the network namespace at nsPath on Linux.
// Other kernels have no network namespaces: it fails without calling fn,
// with an error matching ErrNotSupported.
func InNamespace(nsPath string, _ func() error) error {
	return fmt.Errorf("xfrm: enter namespace %s: %w: no network namespaces on %s", nsPath, ErrNotSupported, runtime.GOOS)
}
