package ike

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// EventType says what happened to an SA.
type EventType uint8

// Event types. EventIKERekeyed and EventChildRekeyed report the SA that
// replaced another by a rekey; the replaced one goes without a Down event.
const (
	EventIKEUp EventType = iota + 1
	EventIKEDown
	EventIKERekeyed
	EventChildUp
	EventChildDown
	EventChildRekeyed
	// EventChildFailed: the CHILD_SA of an established IKE SA could not be
	// negotiated or installed; the IKE SA stays up.
	EventChildFailed
)

func (t EventType) String() string {
	switch t {
	case EventIKEUp:
		return "ike-up"
	case EventIKEDown:
		return "ike-down"
	case EventIKERekeyed:
		return "ike-rekeyed"
	case EventChildUp:
		return "child-up"
	case EventChildDown:
		return "child-down"
	case EventChildRekeyed:
		return "child-rekeyed"
	case EventChildFailed:
		return "child-failed"
	}
	return "event(?)"
}

// Event reports an SA event. It never carries keys.
type Event struct {
	Type EventType
	Time time.Time
	Conn string
	// IKEUniqueID and ChildUniqueID are the SAs' unique ids as status
	// output shows them (strongSwan's "conn[1]" and "conn{1}").
	IKEUniqueID, ChildUniqueID uint32
	LocalID, RemoteID          Identity
	Local, Remote              netip.AddrPort
	SPIi, SPIr                 uint64
	// SPIIn and SPIOut are the CHILD_SA's ESP SPIs, ReqID its reqid.
	SPIIn, SPIOut uint32
	ReqID         uint32
	// Reason says why an SA went down or failed.
	Reason string
}

// Status is a snapshot of an Engine.
type Status struct {
	IKESAs   []IKESAStatus
	Counters Counters
}

// IKESAStatus describes one IKE SA, with what `ipsec statusall` prints.
type IKESAStatus struct {
	Conn          string
	UniqueID      uint32
	State         string // CONNECTING, ESTABLISHED, DELETING
	Local, Remote netip.AddrPort
	LocalID       Identity
	RemoteID      Identity
	SPIi, SPIr    uint64
	Initiator     bool
	Established   time.Time // zero until established
	// Proposal is the negotiated IKE proposal in strongSwan's notation
	// ("AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"), empty before
	// IKE_SA_INIT completes.
	Proposal              string
	LocalAuth             AuthClass
	RemoteAuth            AuthClass
	NATLocal, NATRemote   bool
	RekeyTime, ReauthTime time.Time // zero when not scheduled
	Children              []ChildSAStatus
}

// ChildSAStatus describes one installed CHILD_SA.
type ChildSAStatus struct {
	UniqueID uint32
	ReqID    uint32
	Mode     Mode
	SPIIn    uint32
	SPIOut   uint32
	// Proposal as `ipsec statusall` shows a CHILD_SA's ("AES_GCM_16_256").
	Proposal string
	// BytesIn, BytesOut, the packet counts and the last use come from the
	// kernel when the Installer can report them (xfrm.Handle), otherwise
	// they are zero.
	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64
	LastIn, LastOut       time.Time
	LocalTS, RemoteTS     string
	Installed             time.Time
	RekeyTime             time.Time
	ExpireTime            time.Time
	Encap                 bool
}

// stateLister is implemented by Installers that can report per-state
// counters (xfrm.Handle).
type stateLister interface {
	States(ctx context.Context) ([]xfrm.InstalledState, error)
}

// Status returns a snapshot of every IKE SA and CHILD_SA and the message
// counters.
func (e *Engine) Status() Status {
	var st Status
	for _, sa := range e.snapshot() {
		sa.lock()
		s := IKESAStatus{
			Conn: sa.connName(), UniqueID: sa.uid, State: sa.state.String(),
			Local: sa.local, Remote: sa.remote, LocalID: sa.localID, RemoteID: sa.remoteID,
			SPIi: sa.spiI, SPIr: sa.spiR, Initiator: sa.initiator, Established: sa.established,
			LocalAuth: sa.localAuth, RemoteAuth: sa.remoteAuth, NATLocal: sa.natLocal, NATRemote: sa.natRemote,
			RekeyTime: sa.rekeyAt, ReauthTime: sa.reauthAt,
		}
		if sa.keys != nil {
			s.Proposal = suite.Format(sa.proposal)
		}
		for _, ch := range sa.children {
			mode := ModeTransport
			if sa.conn != nil {
				mode = sa.conn.Mode
			}
			s.Children = append(s.Children, ChildSAStatus{
				UniqueID: ch.uid, ReqID: ch.reqid, Mode: mode, SPIIn: ch.spiIn, SPIOut: ch.spiOut,
				Proposal: suite.FormatStatus(ch.proposal), LocalTS: tsString(ch.tsLocal), RemoteTS: tsString(ch.tsRemote),
				Installed: ch.created, RekeyTime: ch.rekeyAt, ExpireTime: ch.expireAt, Encap: ch.kernel.Out.Encap != nil,
			})
		}
		sa.unlock()
		st.IKESAs = append(st.IKESAs, s)
	}
	if l, ok := e.kernel.(stateLister); ok && len(st.IKESAs) > 0 {
		ctx, cancel := kernelCtx()
		states, err := l.States(ctx)
		cancel()
		if err == nil {
			for i := range st.IKESAs {
				for j := range st.IKESAs[i].Children {
					ch := &st.IKESAs[i].Children[j]
					for _, ks := range states {
						// States read back carry no direction: the
						// destination tells them apart.
						dst := ks.Dst.Unmap()
						switch {
						case ks.SPI == ch.SPIIn && dst == st.IKESAs[i].Local.Addr().Unmap():
							ch.BytesIn, ch.PacketsIn, ch.LastIn = ks.Bytes, ks.Packets, lastUse(ks)
						case ks.SPI == ch.SPIOut && dst == st.IKESAs[i].Remote.Addr().Unmap():
							ch.BytesOut, ch.PacketsOut, ch.LastOut = ks.Bytes, ks.Packets, lastUse(ks)
						}
					}
				}
			}
		}
	}
	st.Counters = e.counters.snapshot()
	return st
}

// lastUse is when the state last carried a packet (the kernel's lastused,
// else its first use), zero if never.
func lastUse(s xfrm.InstalledState) time.Time {
	switch {
	case s.LastUsed != 0:
		return time.Unix(int64(s.LastUsed), 0)
	case s.UseTime != 0:
		return time.Unix(int64(s.UseTime), 0)
	}
	return time.Time{}
}

// tsString prints a selector as strongSwan's status does: "10.1.0.1/32",
// with "[proto/port]" when narrowed.
func tsString(ts message.TrafficSelector) string {
	if !ts.Start.IsValid() {
		return ""
	}
	s := ts.Start.String()
	if ts.End == ts.Start {
		s += "/" + strconv.Itoa(ts.Start.BitLen())
	} else {
		s += ".." + ts.End.String()
	}
	if ts.IPProtocol != 0 || !(ts.StartPort == 0 && ts.EndPort == 65535) {
		s += "[" + protoName(ts.IPProtocol)
		switch {
		case ts.StartPort == 0 && ts.EndPort == 65535:
		case ts.StartPort == ts.EndPort:
			s += "/" + strconv.Itoa(int(ts.StartPort))
		default:
			s += "/" + strconv.Itoa(int(ts.StartPort)) + "-" + strconv.Itoa(int(ts.EndPort))
		}
		s += "]"
	}
	return s
}

// protoName prints an IP protocol as strongSwan's status does (the
// /etc/protocols name for the common ones, else the number).
func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}
