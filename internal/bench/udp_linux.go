package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/pktinfo"
	"golang.org/x/sys/unix"
)

// The engine believes it speaks on ports 500 and 4500 at both ends (it
// always initiates from and to them); the transport maps those onto the
// real ports: the generator's own port and the responder's two.
const (
	enginePort    = 500
	engineNATPort = 4500
)

// udpTransport is the generator's ike.Transport: a few sockets bound to
// the wildcard address and one port with SO_REUSEPORT, one reader
// goroutine each, so that the kernel spreads the responder's answers over
// them by address pair and no single goroutine decodes every message.
// Datagrams leave from the SA's source address through IP_PKTINFO (a
// single socket serves every source), and the address an answer was sent
// to, read from IP_PKTINFO too, says which SA (which engine) it is for.
type udpTransport struct {
	socks   []*net.UDPConn
	family  int
	target  netip.Addr
	port    uint16 // responder's IKE port
	natPort uint16 // responder's NAT-T port
	local   uint16 // the generator's port, as bound
	next    atomic.Uint32
	dropped atomic.Uint64
}

// listenUDP opens n sockets on localPort (0: one the kernel picks) for
// talking to target's port and natPort.
func listenUDP(target netip.Addr, port, natPort uint16, localPort uint16, n int) (*udpTransport, error) {
	t := &udpTransport{target: target.Unmap(), port: port, natPort: natPort, family: unix.AF_INET6}
	network, wild := "udp6", "::"
	if t.target.Is4() {
		t.family, network, wild = unix.AF_INET, "udp4", "0.0.0.0"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				return
			}
			if t.family == unix.AF_INET {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	bind := localPort
	for range max(n, 1) {
		pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(wild, strconv.Itoa(int(bind))))
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("bench: listen on port %d: %w", bind, err)
		}
		c := pc.(*net.UDPConn)
		// Bursts of answers must not overflow the queue: best effort,
		// the kernel caps it at net.core.rmem_max.
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
		t.socks = append(t.socks, c)
		bind = uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	t.local = bind
	return t, nil
}

// Close closes every socket; serve returns.
func (t *udpTransport) Close() error {
	var errs []error
	for _, s := range t.socks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Send transmits p from p.Local's address to the responder: the engine's
// port 4500 is the responder's NAT-T port, where the non-ESP marker (RFC
// 3948 2.2) precedes the message.
func (t *udpTransport) Send(p ike.Packet) error {
	data, port := p.Data, t.port
	if p.Remote.Port() == engineNATPort {
		data = append(make([]byte, 4, 4+len(p.Data)), p.Data...)
		port = t.natPort
	}
	s := t.socks[int(t.next.Add(1))%len(t.socks)]
	oob := pktinfo.Control(p.Local.Addr().Unmap(), t.family)
	if _, _, err := s.WriteMsgUDPAddrPort(data, oob, netip.AddrPortFrom(p.Remote.Addr().Unmap(), port)); err != nil {
		return fmt.Errorf("bench: send from %v: %w", p.Local.Addr(), err)
	}
	return nil
}

// serve reads every socket until Close and hands each IKE message from
// the responder to handle, with the ports the engine expects.
func (t *udpTransport) serve(handle func(ike.Packet)) {
	done := make(chan struct{}, len(t.socks))
	for _, s := range t.socks {
		go func() {
			t.read(s, handle)
			done <- struct{}{}
		}()
	}
	for range t.socks {
		<-done
	}
}

func (t *udpTransport) read(s *net.UDPConn, handle func(ike.Packet)) {
	buf := make([]byte, 65536+4)
	oob := make([]byte, 128)
	for {
		n, oobn, flags, from, err := s.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error (an ICMP unreachable reported on the
			// socket): keep reading.
			time.Sleep(time.Millisecond)
			continue
		}
		if flags&unix.MSG_TRUNC != 0 || from.Addr().Unmap() != t.target {
			t.dropped.Add(1)
			continue
		}
		data, port := buf[:n], uint16(enginePort)
		switch from.Port() {
		case t.port:
		case t.natPort:
			// A NAT keepalive or anything without the zero marker is
			// not IKE.
			if n < 4 || data[0]|data[1]|data[2]|data[3] != 0 {
				t.dropped.Add(1)
				continue
			}
			data, port = data[4:], engineNATPort
		default:
			t.dropped.Add(1)
			continue
		}
		local, ok := pktinfo.Dst(oob[:oobn])
		if !ok {
			t.dropped.Add(1)
			continue
		}
		handle(ike.Packet{
			Local:  netip.AddrPortFrom(local, port),
			Remote: netip.AddrPortFrom(t.target, port),
			Data:   append([]byte(nil), data...),
		})
	}
}

// checkSources makes sure each address is one of this host's, so that a
// missing address fails the run at once rather than as N timeouts: a
// socket can be bound to it.
func checkSources(srcs []netip.Addr) error {
	for _, a := range srcs {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			return fmt.Errorf("bench: source %v is not an address of this host (add it to an interface, e.g. a dummy one): %w", a, err)
		}
		c.Close()
	}
	return nil
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration, err error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, fmt.Errorf("bench: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}
