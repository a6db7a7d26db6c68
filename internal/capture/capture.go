// Package capture records the frames crossing one interface of a network
// namespace through an AF_PACKET socket, for tests that must prove what went
// on the wire (ESP only, no payload in clear). It needs root; frames are
// decoded with gopacket by the caller.
package capture

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/xfrm"
	"golang.org/x/sys/unix"
)

// Frame is one captured Ethernet frame.
type Frame struct {
	Data     []byte
	Outgoing bool
	Time     time.Time
}

// Capture is a running capture.
type Capture struct {
	fd     int
	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
	done2  chan struct{}
	err    error
}

const ethPAll = 0x0003

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Start begins capturing on iface inside the namespace at nsPath.
func Start(nsPath, iface string) (*Capture, error) {
	var fd int
	err := xfrm.InNamespace(nsPath, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPAll)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture: %s in %s: %w", iface, nsPath, err)
	}
	// A receive timeout lets Stop end the reader without racing a close.
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("capture: timeout: %w", err)
	}
	// A large buffer so bursts (a TCP transfer under emulation) are not
	// dropped before the reader copies them out; Stop reports drops.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	c := &Capture{fd: fd, done: make(chan struct{})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 65536)
		for {
			select {
			case <-c.done:
				return
			default:
			}
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			ll, _ := from.(*unix.SockaddrLinklayer)
			f := Frame{Data: append([]byte(nil), buf[:n]...), Time: time.Now(),
				Outgoing: ll != nil && ll.Pkttype == unix.PACKET_OUTGOING}
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
	}()
	c.done2 = stopped
	return c, nil
}

// Stop ends the capture and returns every frame seen. It fails when the
// kernel dropped frames, since a test must not draw conclusions from a
// partial capture.
func (c *Capture) Stop() ([]Frame, error) {
	close(c.done)
	<-c.done2
	st, serr := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	unix.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.frames, fmt.Errorf("capture: %w", c.err)
	}
	if serr == nil && st.Drops > 0 {
		return c.frames, fmt.Errorf("capture: the kernel dropped %d of %d frames", st.Drops, st.Packets)
	}
	return c.frames, nil
}
