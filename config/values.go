package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// parseDuration reads strongSwan's time values: a decimal number of
// seconds, optionally followed by s, m, h or d.
func parseDuration(v string) (time.Duration, error) {
	num, unit := v, time.Second
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 's':
			num = v[:n-1]
		case 'm':
			num, unit = v[:n-1], time.Minute
		case 'h':
			num, unit = v[:n-1], time.Hour
		case 'd':
			num, unit = v[:n-1], 24*time.Hour
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || num == "" || num[0] == '+' {
		return 0, fmt.Errorf("config: bad duration %q: want a number with an optional s, m, h or d suffix", v)
	}
	return time.Duration(n) * unit, nil
}

// formatDuration writes d with the largest unit that represents it exactly.
func formatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s != 0 && s%86400 == 0:
		return fmt.Sprintf("%dd", s/86400)
	case s != 0 && s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s != 0 && s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

func parseBool(v string) (bool, error) {
	switch v {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("config: bad value %q: want yes or no", v)
}

func formatBool(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseEnum(v string, allowed ...string) (int, error) {
	for i, a := range allowed {
		if v == a {
			return i, nil
		}
	}
	return 0, fmt.Errorf("config: bad value %q: want one of %s", v, strings.Join(allowed, ", "))
}

// parsePercent reads rekeyfuzz's "NNN%".
func parsePercent(v string) (int, error) {
	num, ok := strings.CutSuffix(v, "%")
	n, err := strconv.ParseUint(num, 10, 31)
	if !ok || err != nil || num == "" || num[0] == '+' {
		return 0, fmt.Errorf("config: bad percentage %q: want a number followed by %%", v)
	}
	return int(n), nil
}

func parseUint(v string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil || v == "" || v[0] == '+' {
		return 0, fmt.Errorf("config: bad number %q", v)
	}
	return n, nil
}

// Mark is an XFRM mark with its mask (ipsec.conf mark=, mark_in=,
// mark_out=: "value[/mask]"; the mask defaults to all ones). Unique asks for
// a value unique to each CHILD_SA (%unique), UniqueDir for one per
// direction (%unique-dir).
type Mark struct {
	Value, Mask uint32
	Unique      bool
	UniqueDir   bool
}

// IsZero reports whether no mark is set.
func (m Mark) IsZero() bool { return m == Mark{} }

func parseMark(v string) (Mark, error) {
	val, mask, hasMask := strings.Cut(v, "/")
	var m Mark
	switch val {
	case "%unique":
		m.Unique = true
	case "%unique-dir":
		m.UniqueDir = true
	default:
		n, err := parseCNumber(val)
		if err != nil {
			return Mark{}, fmt.Errorf("config: bad mark %q", v)
		}
		m.Value = n
	}
	m.Mask = 0xffffffff
	if hasMask {
		n, err := parseCNumber(mask)
		if err != nil {
			return Mark{}, fmt.Errorf("config: bad mark mask %q", v)
		}
		m.Mask = n
	}
	return m, nil
}

// parseCNumber reads a number the way C's strtoul with base 0 does:
// decimal, 0x hexadecimal or 0 octal.
func parseCNumber(s string) (uint32, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("config: bad number %q", s)
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("config: bad number %q", s)
	}
	return uint32(n), nil
}

func formatMark(m Mark) string {
	var v string
	switch {
	case m.Unique:
		v = "%unique"
	case m.UniqueDir:
		v = "%unique-dir"
	default:
		v = fmt.Sprintf("0x%x", m.Value)
	}
	if m.Mask != 0xffffffff {
		v += fmt.Sprintf("/0x%x", m.Mask)
	}
	return v
}

// Protocol and service names accepted in leftprotoport / rightprotoport.
// strongSwan asks the system's /etc/protocols and /etc/services; these are
// the IANA assignments a transport-mode configuration names in practice, so
// the reading does not depend on the host's files.
var protocolNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "udp": 17, "gre": 47,
	"esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136,
}

var serviceNames = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "kerberos": 88,
	"ntp": 123, "snmp": 161, "bgp": 179, "ldap": 389, "https": 443,
	"isakmp": 500, "syslog": 514, "ldaps": 636, "l2tp": 1701, "openvpn": 1194,
	"radius": 1812, "nfs": 2049, "ipsec-nat-t": 4500, "mysql": 3306,
	"postgresql": 5432, "vxlan": 4789, "geneve": 6081, "etcd-client": 2379,
	"etcd-server": 2380, "kubelet": 10250,
}

// parseProtoPort reads "proto[/port]" where proto is a name, a number or
// %any and port a name, a number, a range "a-b", %any or %opaque (RFC 7296
// 3.13.1: start and end port of a selector).
func parseProtoPort(v string) (ike.TrafficSelector, error) {
	var ts ike.TrafficSelector
	proto, port, hasPort := strings.Cut(v, "/")
	switch {
	case proto == "%any":
	case protocolNames[strings.ToLower(proto)] != 0:
		ts.Protocol = protocolNames[strings.ToLower(proto)]
	default:
		n, err := parseCNumber(proto)
		if err != nil || n > 255 {
			return ts, fmt.Errorf("config: bad protocol %q", proto)
		}
		ts.Protocol = uint8(n)
	}
	if !hasPort || port == "" || port == "%any" {
		ts.StartPort, ts.EndPort = 0, 65535
		return ts, nil
	}
	if port == "%opaque" {
		// RFC 7296 3.13.1: start 65535 and end 0 means OPAQUE ports.
		ts.StartPort, ts.EndPort = 65535, 0
		return ts, nil
	}
	if p, ok := serviceNames[strings.ToLower(port)]; ok {
		ts.StartPort, ts.EndPort = p, p
		return ts, nil
	}
	from, to, isRange := strings.Cut(port, "-")
	a, err := parseCNumber(from)
	if err != nil || a > 65535 {
		return ts, fmt.Errorf("config: bad port %q", port)
	}
	b := a
	if isRange {
		b, err = parseCNumber(to)
		if err != nil || b > 65535 {
			return ts, fmt.Errorf("config: bad port %q", port)
		}
	}
	if b < a {
		return ts, fmt.Errorf("config: bad port range %q", port)
	}
	ts.StartPort, ts.EndPort = uint16(a), uint16(b)
	return ts, nil
}

func formatProtoPort(ts ike.TrafficSelector) string {
	proto := "%any"
	switch ts.Protocol {
	case 0:
	case 1:
		proto = "icmp"
	case 6:
		proto = "tcp"
	case 17:
		proto = "udp"
	default:
		proto = strconv.Itoa(int(ts.Protocol))
	}
	switch {
	case ts.StartPort == 0 && ts.EndPort == 65535:
		return proto
	case ts.StartPort == 65535 && ts.EndPort == 0:
		return proto + "/%opaque"
	case ts.StartPort == ts.EndPort:
		return fmt.Sprintf("%s/%d", proto, ts.StartPort)
	}
	return fmt.Sprintf("%s/%d-%d", proto, ts.StartPort, ts.EndPort)
}

// subnetList is a parsed leftsubnet= / rightsubnet= value.
type subnetList struct {
	prefixes []netip.Prefix
	// dynamic is %dynamic in the list: the end's own address.
	dynamic bool
	// pp is the [proto/port] written after the entries; hasPP tells it
	// from none.
	pp    ike.TrafficSelector
	hasPP bool
}

// parseSubnets reads a comma-separated list of prefixes or addresses
// (leftsubnet=10.1.0.0/16,10.2.0.1), each optionally with strongSwan's
// per-subnet protocol and port in brackets (192.0.2.1[gre],
// %dynamic[udp/4789], 0.0.0.0/0[17/l2tp], 10.0.0.1/32[4/]); %dynamic is the
// end's own address. A conn end carries one protocol/port, so every entry
// must have the same one (or none). Address ranges are not supported.
func parseSubnets(v string) (subnetList, error) {
	var out subnetList
	first := true
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		addr, pp, hasPP := s, ike.TrafficSelector{}, false
		if i := strings.IndexByte(s, '['); i >= 0 {
			if !strings.HasSuffix(s, "]") {
				return out, fmt.Errorf("config: subnet %q: missing ']' after the protocol/port", s)
			}
			inner := s[i+1 : len(s)-1]
			if inner == "" || strings.ContainsAny(inner, "[]") {
				return out, fmt.Errorf("config: subnet %q: bad protocol/port", s)
			}
			ts, err := parseProtoPort(inner)
			if err != nil {
				return out, fmt.Errorf("config: subnet %q: %w", s, err)
			}
			addr, pp, hasPP = s[:i], ts, true
		}
		if first {
			out.pp, out.hasPP, first = pp, hasPP, false
		} else if hasPP != out.hasPP || pp != out.pp {
			return out, fmt.Errorf("config: subnet list %q: the entries have different protocol/port selectors; a cygnet conn end negotiates one, so write one conn for each", v)
		}
		switch {
		case addr == "%dynamic":
			out.dynamic = true
			continue
		case strings.Contains(addr, "-"):
			return out, fmt.Errorf("config: subnet %q: address ranges are not supported", s)
		}
		if p, err := netip.ParsePrefix(addr); err == nil {
			if p.Masked() != p {
				return out, fmt.Errorf("config: subnet %q has host bits set (did you mean %s?)", s, p.Masked())
			}
			out.prefixes = append(out.prefixes, p)
			continue
		}
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return out, fmt.Errorf("config: bad subnet %q", s)
		}
		out.prefixes = append(out.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	if first {
		return out, fmt.Errorf("config: empty subnet list")
	}
	return out, nil
}

// formatSubnets writes an end's subnet list back in the syntax
// parseSubnets reads.
func formatSubnets(e *End) string {
	var s []string
	if e.SubnetDynamic {
		s = append(s, "%dynamic")
	}
	for _, p := range e.Subnets {
		s = append(s, p.String())
	}
	if e.HasSubnetProtoPort {
		for i := range s {
			s[i] += "[" + formatProtoPort(e.SubnetProtoPort) + "]"
		}
	}
	return strings.Join(s, ",")
}

// quoteValue quotes a value for ipsec.conf when it holds characters the
// unquoted form cannot carry.
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\"#=\\") {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(v) {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
