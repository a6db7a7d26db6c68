// Package udp carries IKE messages over UDP for the engine: ports 500 and
// 4500 (RFC 7296 2.23, RFC 3948), IPv4 and IPv6, with the non-ESP marker on
// the NAT-T port, ESP-in-UDP decapsulation enabled in the kernel on that
// port, and per-socket bypass policies so that transport-mode policies
// never capture IKE itself.
package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// Config says where to listen.
type Config struct {
	// Port and NATPort default to 500 and 4500 (strongswan.conf charon.port
	// and charon.port_nat_t). NATPort 0 with DisableNAT set listens on Port
	// only.
	Port, NATPort uint16
	DisableNAT    bool
	// IPv4 and IPv6 select the families; both false means both.
	IPv4, IPv6 bool
}

// MaxMessage is the largest IKE message accepted; larger datagrams are
// truncated by the kernel and dropped here. IKE fragmentation (RFC 7383)
// keeps real messages far below it.
const MaxMessage = 65535

type sock struct {
	conn   *net.UDPConn
	raw    syscall.RawConn
	family int
	port   uint16
	nat    bool
}

// Conn is a set of UDP sockets implementing ike.Transport.
type Conn struct {
	socks []*sock
	mu    sync.Mutex
	// Dropped counts datagrams that were not IKE (bad marker, too short).
	dropped uint64
}

var _ ike.Transport = (*Conn)(nil)

// Listen opens the sockets in the calling process's network namespace.
func Listen(cfg Config) (*Conn, error) {
	if cfg.Port == 0 {
		cfg.Port = 500
	}
	if cfg.NATPort == 0 && !cfg.DisableNAT {
		cfg.NATPort = 4500
	}
	if !cfg.IPv4 && !cfg.IPv6 {
		cfg.IPv4, cfg.IPv6 = true, true
	}
	c := &Conn{}
	type want struct {
		network string
		family  int
		port    uint16
		nat     bool
	}
	var wants []want
	for _, p := range []struct {
		port uint16
		nat  bool
	}{{cfg.Port, false}, {cfg.NATPort, true}} {
		if p.port == 0 {
			continue
		}
		if cfg.IPv4 {
			wants = append(wants, want{"udp4", syscall.AF_INET, p.port, p.nat})
		}
		if cfg.IPv6 {
			wants = append(wants, want{"udp6", syscall.AF_INET6, p.port, p.nat})
		}
	}
	for _, w := range wants {
		s, err := open(w.network, w.family, w.port, w.nat)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.socks = append(c.socks, s)
	}
	return c, nil
}

func open(network string, family int, port uint16, nat bool) (*sock, error) {
	addr := &net.UDPAddr{Port: int(port)}
	if family == syscall.AF_INET {
		addr.IP = net.IPv4zero
	} else {
		addr.IP = net.IPv6unspecified
	}
	conn, err := net.ListenUDP(network, addr)
	if err != nil {
		return nil, fmt.Errorf("udp: listen %s port %d: %w", network, port, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("udp: %w", err)
	}
	if err := setup(raw, family, port, nat); err != nil {
		conn.Close()
		return nil, err
	}
	return &sock{conn: conn, raw: raw, family: family, port: port, nat: nat}, nil
}

// Ports returns the local ports actually bound, in listen order.
func (c *Conn) Ports() []uint16 {
	var out []uint16
	for _, s := range c.socks {
		out = append(out, uint16(s.conn.LocalAddr().(*net.UDPAddr).Port))
	}
	return out
}

// Close closes every socket; Serve returns.
func (c *Conn) Close() error {
	var errs []error
	for _, s := range c.socks {
		errs = append(errs, s.conn.Close())
	}
	return errors.Join(errs...)
}

// Dropped returns how many datagrams were discarded as not IKE.
func (c *Conn) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Serve reads from every socket and calls handle for each IKE message,
// from one goroutine per socket, until Close. It returns the first error
// other than the close.
func (c *Conn) Serve(handle func(ike.Packet)) error {
	errc := make(chan error, len(c.socks))
	for _, s := range c.socks {
		go func() { errc <- c.serve(s, handle) }()
	}
	var first error
	for range c.socks {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, net.ErrClosed) {
			first = err
		}
	}
	return first
}

func (c *Conn) serve(s *sock, handle func(ike.Packet)) error {
	buf := make([]byte, MaxMessage+4)
	oob := make([]byte, 128)
	for {
		n, oobn, flags, from, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return err
		}
		data := buf[:n]
		if truncated(flags) {
			c.drop()
			continue
		}
		if s.nat {
			// RFC 3948 2.2/2.3: IKE on 4500 follows a zero non-ESP marker;
			// a single 0xff byte is a NAT keepalive and is dropped.
			if n < 4 || data[0]|data[1]|data[2]|data[3] != 0 {
				c.drop()
				continue
			}
			data = data[4:]
		}
		local, ok := localAddr(oob[:oobn], s.family)
		if !ok {
			c.drop()
			continue
		}
		handle(ike.Packet{
			Local:  netip.AddrPortFrom(local, s.port),
			Remote: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
			Data:   append([]byte(nil), data...),
		})
	}
}

func (c *Conn) drop() {
	c.mu.Lock()
	c.dropped++
	c.mu.Unlock()
}

// Send transmits p from the socket bound to p.Local's port and family,
// with p.Local as the source address. On the NAT-T port the non-ESP marker
// is prepended.
func (c *Conn) Send(p ike.Packet) error {
	fam := syscall.AF_INET6
	if p.Remote.Addr().Unmap().Is4() {
		fam = syscall.AF_INET
	}
	var s *sock
	for _, cand := range c.socks {
		if cand.family == fam && cand.port == p.Local.Port() {
			s = cand
			break
		}
	}
	if s == nil {
		return fmt.Errorf("udp: no socket for %v (family %d)", p.Local, fam)
	}
	data := p.Data
	if s.nat {
		data = append(make([]byte, 4, 4+len(p.Data)), p.Data...)
	}
	var oob []byte
	if la := p.Local.Addr(); la.IsValid() && !la.IsUnspecified() {
		oob = pktinfo(la.Unmap(), fam)
	}
	remote := netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())
	if _, _, err := s.conn.WriteMsgUDPAddrPort(data, oob, remote); err != nil {
		return fmt.Errorf("udp: send to %v: %w", p.Remote, err)
	}
	return nil
}

// SendKeepalive sends a NAT-T keepalive (a single 0xff byte, RFC 3948 2.3)
// from the NAT-T socket to remote.
func (c *Conn) SendKeepalive(local, remote netip.AddrPort) error {
	for _, s := range c.socks {
		if s.nat && (s.family == syscall.AF_INET) == remote.Addr().Unmap().Is4() {
			var oob []byte
			if la := local.Addr(); la.IsValid() && !la.IsUnspecified() {
				oob = pktinfo(la.Unmap(), s.family)
			}
			_, _, err := s.conn.WriteMsgUDPAddrPort([]byte{0xff}, oob, netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()))
			if err != nil {
				return fmt.Errorf("udp: keepalive to %v: %w", remote, err)
			}
			return nil
		}
	}
	return fmt.Errorf("udp: no NAT-T socket for %v", remote)
}
