package daemon

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// The status views are what `ipsec status` and `ipsec statusall` print, in
// strongSwan 5.9's layout, which scripts written for strongSwan parse
// (see the evaltest.dat patterns of strongSwan's scenarios): connection
// names right-aligned in 12 columns, "[n]" for IKE_SAs and "{n}" for
// CHILD_SAs, SPIs in hex with _i/_o suffixes.

// ConnView is one configured connection.
type ConnView struct {
	Name                  string
	LocalHost, RemoteHost string // as configured (%any for none)
	LocalID, RemoteID     string
	LocalAuth, RemoteAuth string // "pre-shared key", "public key"
	LocalCert, RemoteCert string // subject DN of a certificate, or the ID naming a raw key
	LocalTS, RemoteTS     string // "dynamic" or "dynamic[tcp/5432]"
	Mode                  string // "TRANSPORT"
	DPDDelay              time.Duration
}

// IKEView is one IKE_SA.
type IKEView struct {
	Name              string
	UID               uint32
	State             string // ESTABLISHED, CONNECTING, REKEYING, DELETING
	Since             time.Time
	Local, Remote     netip.Addr
	LocalID, RemoteID string
	SPIi, SPIr        uint64
	Initiator         bool
	Auth              string // "pre-shared key", "public key"
	Reauth            bool   // next renewal is a reauthentication
	Renew             time.Time
	Proposal          string // AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384
	Children          []ChildView
}

// ChildView is one CHILD_SA.
type ChildView struct {
	Name                  string
	UID                   uint32
	State                 string // INSTALLED, REKEYED, ...
	Mode                  string // TRANSPORT
	ReqID                 uint32
	SPIIn, SPIOut         uint32
	Proposal              string // AES_GCM_16_256 (+ /MODP_2048 with PFS, /ESN)
	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64
	LastIn, LastOut       time.Time
	Rekey                 time.Time
	LocalTS, RemoteTS     []string // "10.9.0.1/32", "10.9.0.1/32[tcp/5432]"
	Encap                 bool     // UDP-encapsulated (NAT traversal)
}

// DaemonView is the header of statusall.
type DaemonView struct {
	Version   string
	Kernel    string // uname release
	Machine   string
	Started   time.Time
	Listening []netip.Addr
}

// deltaString prints a duration as strongSwan does: whole seconds up to 2
// minutes, then minutes up to 2 hours, hours up to 2 days, then days.
func deltaString(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	unit := "second"
	switch {
	case s > 2*24*3600:
		s, unit = s/(24*3600), "day"
	case s > 2*3600:
		s, unit = s/3600, "hour"
	case s > 2*60:
		s, unit = s/60, "minute"
	}
	if s != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", s, unit)
}

func name12(name string) string { return fmt.Sprintf("%12s", name) }

// WriteSAs prints the "Security Associations" block; all adds the SPI,
// proposal and traffic lines of statusall. filter limits it to one
// connection name ("" for all).
func WriteSAs(w io.Writer, now time.Time, sas []IKEView, all bool, filter string) {
	up, connecting := 0, 0
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" || sa.State == "REKEYING" {
			up++
		} else if sa.State == "CONNECTING" {
			connecting++
		}
	}
	fmt.Fprintf(w, "Security Associations (%d up, %d connecting):\n", up, connecting)
	shown := 0
	for _, sa := range sas {
		if filter != "" && sa.Name != filter {
			continue
		}
		shown++
		writeIKE(w, now, sa, all)
	}
	if shown == 0 {
		if filter != "" {
			fmt.Fprintln(w, "  no match")
		} else {
			fmt.Fprintln(w, "  none")
		}
	}
}

func writeIKE(w io.Writer, now time.Time, sa IKEView, all bool) {
	head := fmt.Sprintf("%s[%d]: ", name12(sa.Name), sa.UID)
	state := sa.State
	if sa.State == "ESTABLISHED" || sa.State == "REKEYING" {
		state += " " + deltaString(now.Sub(sa.Since)) + " ago"
	}
	fmt.Fprintf(w, "%s%s, %v[%s]...%v[%s]\n", head, state, sa.Local, sa.LocalID, sa.Remote, sa.RemoteID)
	if all {
		iMark, rMark := "*", ""
		if !sa.Initiator {
			iMark, rMark = "", "*"
		}
		line := fmt.Sprintf("%sIKEv2 SPIs: %016x_i%s %016x_r%s", head, sa.SPIi, iMark, sa.SPIr, rMark)
		// strongSwan names the auth class only before a reauthentication:
		// "pre-shared key reauthentication in 2 hours", "rekeying in 2 hours".
		if sa.State == "ESTABLISHED" && !sa.Renew.IsZero() {
			if sa.Reauth {
				line += fmt.Sprintf(", %s reauthentication in %s", sa.Auth, deltaString(sa.Renew.Sub(now)))
			} else {
				line += fmt.Sprintf(", rekeying in %s", deltaString(sa.Renew.Sub(now)))
			}
		}
		fmt.Fprintln(w, line)
		if sa.Proposal != "" {
			fmt.Fprintf(w, "%sIKE proposal: %s\n", head, sa.Proposal)
		}
	}
	for _, c := range sa.Children {
		writeChild(w, now, c, all)
	}
}

func trafficString(bytes, packets uint64, last time.Time, now time.Time, dir string) string {
	s := fmt.Sprintf("%d bytes_%s", bytes, dir)
	if packets > 0 {
		plural := "s"
		if packets == 1 {
			plural = ""
		}
		s += fmt.Sprintf(" (%d pkt%s", packets, plural)
		if !last.IsZero() {
			s += fmt.Sprintf(", %ds ago", int64(now.Sub(last)/time.Second))
		}
		s += ")"
	}
	return s
}

func writeChild(w io.Writer, now time.Time, c ChildView, all bool) {
	head := fmt.Sprintf("%s{%d}: ", name12(c.Name), c.UID)
	esp := "ESP"
	if c.Encap {
		esp = "ESP in UDP" // strongSwan's words for a UDP-encapsulated SA
	}
	fmt.Fprintf(w, "%s %s, %s, reqid %d, %s SPIs: %08x_i %08x_o\n", head, c.State, c.Mode, c.ReqID, esp, c.SPIIn, c.SPIOut)
	if all {
		line := fmt.Sprintf("%s %s, %s, %s", head, c.Proposal,
			trafficString(c.BytesIn, c.PacketsIn, c.LastIn, now, "i"),
			trafficString(c.BytesOut, c.PacketsOut, c.LastOut, now, "o"))
		if !c.Rekey.IsZero() {
			line += ", rekeying in " + deltaString(c.Rekey.Sub(now))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "%s  %s === %s\n", head, strings.Join(c.LocalTS, " "), strings.Join(c.RemoteTS, " "))
}

// WriteStatusAll prints `ipsec statusall`: the daemon header, listening
// addresses, connections and SAs.
func WriteStatusAll(w io.Writer, now time.Time, d DaemonView, conns []ConnView, sas []IKEView, filter string) {
	fmt.Fprintf(w, "Status of IKE charon daemon (%s, Linux %s, %s):\n", d.Version, d.Kernel, d.Machine)
	fmt.Fprintf(w, "  uptime: %s, since %s\n", deltaString(now.Sub(d.Started)), d.Started.Format("Jan 02 15:04:05 2006"))
	fmt.Fprintln(w, "Listening IP addresses:")
	for _, a := range d.Listening {
		fmt.Fprintf(w, "  %v\n", a)
	}
	fmt.Fprintln(w, "Connections:")
	for _, c := range conns {
		if filter != "" && c.Name != filter {
			continue
		}
		head := name12(c.Name) + ": "
		extra := ""
		if c.DPDDelay > 0 {
			extra = fmt.Sprintf(", dpddelay=%ds", int64(c.DPDDelay/time.Second))
		}
		fmt.Fprintf(w, "%s %s...%s  IKEv2%s\n", head, c.LocalHost, c.RemoteHost, extra)
		fmt.Fprintf(w, "%s  local:  [%s] uses %s authentication\n", head, c.LocalID, c.LocalAuth)
		if c.LocalCert != "" {
			fmt.Fprintf(w, "%s   cert:  \"%s\"\n", head, c.LocalCert)
		}
		fmt.Fprintf(w, "%s  remote: [%s] uses %s authentication\n", head, c.RemoteID, c.RemoteAuth)
		if c.RemoteCert != "" {
			fmt.Fprintf(w, "%s   cert:  \"%s\"\n", head, c.RemoteCert)
		}
		fmt.Fprintf(w, "%s  child:  %s === %s %s\n", head, c.LocalTS, c.RemoteTS, c.Mode)
	}
	WriteSAs(w, now, sas, true, filter)
}
