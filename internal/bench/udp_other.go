//go:build !linux

package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// The generator sends from many source addresses through IP_PKTINFO on
// one socket, which it does the Linux way only; elsewhere Run fails.

type udpTransport struct {
	socks   []*net.UDPConn
	local   uint16
	dropped atomic.Uint64
}

func listenUDP(netip.Addr, uint16, uint16, uint16, int) (*udpTransport, error) {
	return nil, fmt.Errorf("bench: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}

func (t *udpTransport) Close() error                 { return nil }
func (t *udpTransport) Send(ike.Packet) error        { return errors.ErrUnsupported }
func (t *udpTransport) serve(func(ike.Packet))       {}
func checkSources([]netip.Addr) error                { return nil }
func cpuTime() (time.Duration, time.Duration, error) { return 0, 0, errors.ErrUnsupported }
