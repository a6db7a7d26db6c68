package daemon

import (
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"golang.org/x/sys/unix"
)

func authString(a ike.AuthClass) string {
	switch a {
	case ike.AuthPSK:
		return "pre-shared key"
	case ike.AuthPubkey:
		return "public key"
	}
	return "any"
}

func modeString(m ike.Mode) string { return strings.ToUpper(m.String()) }

// ikeViews maps the engine's status onto the status views.
func (d *Daemon) ikeViews() []IKEView { return ikeViewsOf(d.engine.Status()) }

// ikeViewsOf is ikeViews of a status already read.
func ikeViewsOf(st ike.Status) []IKEView {
	var out []IKEView
	for _, sa := range st.IKESAs {
		v := IKEView{
			Name: sa.Conn, UID: sa.UniqueID, State: sa.State, Since: sa.Established,
			Local: sa.Local.Addr(), Remote: sa.Remote.Addr(),
			LocalID: sa.LocalID.String(), RemoteID: sa.RemoteID.String(),
			SPIi: sa.SPIi, SPIr: sa.SPIr, Initiator: sa.Initiator,
			Auth: authString(sa.LocalAuth), Proposal: sa.Proposal,
		}
		switch {
		case !sa.ReauthTime.IsZero():
			v.Reauth, v.Renew = true, sa.ReauthTime
		case !sa.RekeyTime.IsZero():
			v.Renew = sa.RekeyTime
		}
		for _, ch := range sa.Children {
			v.Children = append(v.Children, ChildView{
				Name: sa.Conn, UID: ch.UniqueID, State: "INSTALLED", Mode: modeString(ch.Mode),
				ReqID: ch.ReqID, SPIIn: ch.SPIIn, SPIOut: ch.SPIOut, Proposal: ch.Proposal,
				BytesIn: ch.BytesIn, BytesOut: ch.BytesOut, PacketsIn: ch.PacketsIn, PacketsOut: ch.PacketsOut,
				LastIn: ch.LastIn, LastOut: ch.LastOut, Rekey: ch.RekeyTime,
				LocalTS: []string{ch.LocalTS}, RemoteTS: []string{ch.RemoteTS}, Encap: ch.Encap,
			})
		}
		out = append(out, v)
	}
	return out
}

func idOrAddr(id ike.Identity, host string) string {
	if id.IsZero() {
		return host
	}
	return id.String()
}

func tsView(tp ike.TrafficSelector) string {
	if tp.Any() {
		return "dynamic"
	}
	s := "dynamic[" + protoName(tp.Protocol)
	if tp.StartPort != 0 {
		s += "/" + itoa(int(tp.StartPort))
	}
	return s + "]"
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	}
	return itoa(int(p))
}

func itoa(n int) string { return strconv.Itoa(n) }

func (d *Daemon) connViews() []ConnView {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ConnView
	for i := range d.loaded.Config.Connections {
		c := &d.loaded.Config.Connections[i]
		v := ConnView{
			Name: c.Name, LocalHost: c.Local.Host, RemoteHost: c.Remote.Host,
			LocalID: idOrAddr(c.Local.ID, c.Local.Addr.String()), RemoteID: idOrAddr(c.Remote.ID, c.Remote.Host),
			LocalAuth: authString(c.Local.Auth), RemoteAuth: authString(c.Remote.Auth),
			LocalTS: tsView(c.Local.ProtoPort), RemoteTS: tsView(c.Remote.ProtoPort), Mode: modeString(c.Mode),
		}
		if c.DPDAction != ike.ActionNone {
			v.DPDDelay = c.DPDDelay
		}
		v.LocalCert = certView(c.Local, v.LocalID)
		v.RemoteCert = certView(c.Remote, v.RemoteID)
		out = append(out, v)
	}
	return out
}

// certView is what strongSwan's statusall prints on an end's "cert:" line:
// the certificate's subject, or for a raw public key (leftsigkey) the end's
// identity, which names it; empty without either.
func certView(ep ike.Endpoint, id string) string {
	switch {
	case ep.Cert != nil:
		// strongSwan writes DNs in certificate order ("C=CH, O=…, CN=…"),
		// not RFC 4514's reversed one that Go prints.
		return ike.Identity{Type: message.IDDERASN1DN, Data: ep.Cert.RawSubject}.String()
	case ep.SigKey != nil:
		return id
	}
	return ""
}

func (d *Daemon) daemonView() DaemonView {
	var u unix.Utsname
	unix.Uname(&u)
	v := DaemonView{Version: Version, Kernel: unix.ByteSliceToString(u.Release[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]), Started: d.started}
	if v.Machine == "" {
		v.Machine = runtime.GOARCH
	}
	v.Listening = listeningAddrs()
	return v
}

// listeningAddrs lists the node's global unicast addresses, as strongSwan's
// "Listening IP addresses" does.
func listeningAddrs() []netip.Addr {
	var out []netip.Addr
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err == nil && p.Addr().IsGlobalUnicast() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// CountersView is the engine's message counters (ike.Counters) as `ipsec
// status --json` and VICI's stats command report them: what was dropped
// and why, so an operator can tell a flood, a wrong key or an overloaded
// daemon apart. strongSwan has no such figures; its status layout stays.
type CountersView struct {
	Received         uint64 `json:"received"`
	Malformed        uint64 `json:"malformed"`
	UnknownSPI       uint64 `json:"unknown_spi"`
	BadICV           uint64 `json:"bad_icv"`
	Unexpected       uint64 `json:"unexpected"`
	Blocked          uint64 `json:"blocked"`
	Oversized        uint64 `json:"oversized"`
	Overrun          uint64 `json:"overrun"`
	Replayed         uint64 `json:"replayed"`
	Retransmits      uint64 `json:"retransmits"`
	HalfOpenRejected uint64 `json:"half_open_rejected"`
	CookiesSent      uint64 `json:"cookies_sent"`
	InvalidKE        uint64 `json:"invalid_ke"`
	NoProposal       uint64 `json:"no_proposal"`
	AuthFailures     uint64 `json:"auth_failures"`
}

func countersView(c ike.Counters) CountersView {
	return CountersView{Received: c.Received, Malformed: c.Malformed, UnknownSPI: c.UnknownSPI, BadICV: c.BadICV,
		Unexpected: c.Unexpected, Blocked: c.Blocked, Oversized: c.Oversized, Overrun: c.Overrun,
		Replayed: c.Replayed, Retransmits: c.Retransmits, HalfOpenRejected: c.HalfOpenRejected,
		CookiesSent: c.CookiesSent, InvalidKE: c.InvalidKE, NoProposal: c.NoProposal, AuthFailures: c.AuthFailures}
}

// pairs lists the counters by their JSON names, in declaration order.
func (c CountersView) pairs() [][2]string {
	v := reflect.ValueOf(c)
	out := make([][2]string, 0, v.NumField())
	for i := range v.NumField() {
		out = append(out, [2]string{v.Type().Field(i).Tag.Get("json"), strconv.FormatUint(v.Field(i).Uint(), 10)})
	}
	return out
}
