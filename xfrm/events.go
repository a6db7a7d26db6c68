package xfrm

import (
	"fmt"
	"net/netip"
)

// The event types are portable so that code consuming them (the IKE
// engine) builds on every GOOS; only Handle.Watch, which produces them,
// needs Linux.

// EventType says what the kernel reported.
type EventType uint8

// Event types.
const (
	// EventSoftExpire: a state reached a soft limit; rekey it.
	EventSoftExpire EventType = iota + 1
	// EventHardExpire: a state reached a hard limit and was removed.
	EventHardExpire
	// EventAcquire: traffic hit a policy without a state (trap policy); the
	// daemon should negotiate.
	EventAcquire
	// EventMapping: the source port (or address) of an ESP-in-UDP peer
	// changed, i.e. a NAT rebound it (RFC 3948, RFC 7296 2.23).
	EventMapping
)

func (t EventType) String() string {
	switch t {
	case EventSoftExpire:
		return "soft-expire"
	case EventHardExpire:
		return "hard-expire"
	case EventAcquire:
		return "acquire"
	case EventMapping:
		return "mapping"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is one kernel notification.
type Event struct {
	Type  EventType
	SPI   uint32
	ReqID uint32
	// Src and Dst: the state's addresses (expire), the packet's (acquire),
	// or the peer's old and new source (mapping: Src old, Dst new with
	// OldPort and NewPort).
	Src, Dst         netip.Addr
	OldPort, NewPort uint16
	// Selector of the acquiring packet's policy (acquire).
	Selector Selector
}
