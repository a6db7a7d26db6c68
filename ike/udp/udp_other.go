//go:build !linux

package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
)

// setup refuses: cygnet's IKE sockets need Linux's per-socket XFRM bypass
// policies and ESP-in-UDP decapsulation, which no other kernel offers
// through the same calls. The package builds everywhere so that programs
// embedding the engine do; Listen fails at run time.
func setup(_ syscall.RawConn, _ int, port uint16, _ bool) error {
	return fmt.Errorf("udp: port %d: %w on %s: IKE sockets need Linux's XFRM bypass policies", port, errors.ErrUnsupported, runtime.GOOS)
}

// The helpers below are never reached, since Listen opens no socket.

func truncated(int) bool { return true }

func localAddr([]byte, int) (netip.Addr, bool) { return netip.Addr{}, false }

func pktinfo(netip.Addr, int) []byte { return nil }
