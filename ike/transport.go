package ike

import (
	"net/netip"
	"time"
)

// Packet is one IKE message as it crosses the network.
type Packet struct {
	// Local and Remote are this host's and the peer's address and port. A
	// message on port 4500 is NAT-T framed on the wire (RFC 3948 2.2: a
	// four-byte zero non-ESP marker precedes it); Data never includes the
	// marker, the transport adds and strips it.
	Local, Remote netip.AddrPort
	Data          []byte

	// arrived is one more than the engine's establishment count when
	// Dispatch queued the packet (0: handed to HandlePacket directly).
	// An IKE SA that an IKE_SA_INIT request creates dates from then, not
	// from when its worker got to run: the simultaneous-initiation
	// tie-break (unique.go) asks which SAs were established before it.
	arrived uint64
}

// Transport sends IKE messages for the engine. The daemon's UDP sockets
// (package ike/udp) implement it; tests use an in-memory link.
type Transport interface {
	// Send transmits p from p.Local to p.Remote. It must not retain p.Data
	// after returning.
	Send(p Packet) error
}

// Clock is the engine's only source of time, so that retransmissions,
// lifetimes and collisions can be tested deterministically.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did so.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
