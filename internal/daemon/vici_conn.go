package daemon

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/vici"
)

// viciConn is a connection loaded over VICI (swanctl.conf's connections
// section): one IKE config with one CHILD_SA config, run by the engine as
// one ike.Connection named after the IKE config.
type viciConn struct {
	child string // the CHILD_SA config's name
	conn  ike.Connection
	raw   *vici.Message // as loaded, for list-conns
}

// swanctl.conf defaults that differ from ipsec.conf's (swanctl.conf(5),
// strongSwan 5.9).
const (
	swIKERekey    = 4 * time.Hour // connections.<conn>.rekey_time
	swChildRekey  = time.Hour     // children.<child>.rekey_time
	swKeyingTries = 1
)

// viciConnKeys are the IKE-level keys of a load-conn section cygnet maps
// onto the engine; any other key is refused by name.
var viciConnKeys = []string{"version", "local_addrs", "remote_addrs", "local_port", "remote_port",
	"proposals", "dpd_delay", "dpd_timeout", "rekey_time", "reauth_time", "over_time", "rand_time",
	"keyingtries", "encap", "mobike", "fragmentation", "unique", "send_certreq", "send_cert", "children"}

var viciChildKeys = []string{"mode", "esp_proposals", "local_ts", "remote_ts", "rekey_time", "life_time",
	"rand_time", "rekey_bytes", "life_bytes", "rand_bytes", "rekey_packets", "life_packets", "rand_packets",
	"updown", "hostaccess", "start_action", "dpd_action", "close_action", "replay_window", "policies",
	"reqid", "mark_in", "mark_out", "ipcomp", "inactivity"}

var viciAuthKeys = []string{"auth", "id", "certs", "cacerts", "pubkeys", "round", "revocation"}

// parseVICIConn maps a load-conn section onto an engine connection,
// applying swanctl.conf's defaults. Every error names the key (as
// swanctl.conf spells it, "children.NAME.mode") so that swanctl's
// "loading connection failed" line says what to change.
func parseVICIConn(name string, m *vici.Message, replayWindow uint32) (viciConn, error) {
	errf := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	vc := viciConn{raw: m}
	c := &vc.conn
	*c = ike.Connection{Name: name, Mode: ike.ModeTransport, Auto: ike.AutoAdd, Rekey: true,
		KeyingTries: swKeyingTries, MOBIKE: true, ReplayWindow: replayWindow,
		DPDAction: ike.ActionClear, RekeyFuzz: 100}
	var locals, remotes []string
	var childName string
	var child *vici.Message
	for _, e := range m.Entries() {
		switch {
		case strings.HasPrefix(e.Key, "local") && e.Kind == vici.KindSection:
			locals = append(locals, e.Key)
		case strings.HasPrefix(e.Key, "remote") && e.Kind == vici.KindSection:
			remotes = append(remotes, e.Key)
		case e.Key == "children":
			if e.Kind != vici.KindSection {
				return vc, errf("children", "must be a section")
			}
			for _, ce := range e.Section.Entries() {
				if ce.Kind != vici.KindSection {
					return vc, errf("children."+ce.Key, "must be a section")
				}
				if child != nil {
					return vc, errf("children."+ce.Key, "more than one CHILD_SA per connection is not supported (%s is the first)", childName)
				}
				childName, child = ce.Key, ce.Section
			}
		case !slices.Contains(viciConnKeys, e.Key):
			return vc, errf(e.Key, "not supported by cygnet")
		}
	}
	switch v := m.Get("version"); v {
	case "", "0", "2":
	default:
		return vc, errf("version", "IKEv%s is not supported, only IKEv2", v)
	}
	var err error
	if c.Local.Host, err = oneAddr(m, "local_addrs"); err != nil {
		return vc, err
	}
	if c.Remote.Host, err = oneAddr(m, "remote_addrs"); err != nil {
		return vc, err
	}
	for _, end := range []*ike.Endpoint{&c.Local, &c.Remote} {
		if a, err := netip.ParseAddr(end.Host); err == nil {
			end.Addr = a.Unmap()
		}
	}
	for _, k := range []string{"local_port", "remote_port"} {
		if v := m.Get(k); v != "" && v != "500" {
			return vc, errf(k, "only port 500 is supported (strongswan.conf charon.port sets the daemon's)")
		}
	}
	if c.IKE, err = viciProposals(m, "proposals", config.ProposalIKE, config.DefaultIKEProposals()); err != nil {
		return vc, err
	}
	c.IKEStrict = true
	var ikeRekey, reauth, overTime, dpdDelay, dpdTimeout time.Duration
	ikeRekey = swIKERekey
	for k, p := range map[string]*time.Duration{"rekey_time": &ikeRekey, "reauth_time": &reauth,
		"over_time": &overTime, "dpd_delay": &dpdDelay, "dpd_timeout": &dpdTimeout} {
		if v := m.Get(k); v != "" {
			d, err := swDuration(v)
			if err != nil {
				return vc, errf(k, "%v", err)
			}
			*p = d
		}
	}
	c.DPDDelay, c.DPDTimeout = dpdDelay, dpdTimeout
	// The engine has one IKE lifetime: it reauthenticates when
	// reauth_time is set (swanctl.conf's default is 0: no reauth), and
	// otherwise rekeys at rekey_time.
	switch {
	case reauth > 0 && m.Has("rekey_time") && ikeRekey > 0:
		return vc, errf("reauth_time", "setting both rekey_time and reauth_time is not supported")
	case reauth > 0:
		c.Reauth, ikeRekey = true, reauth
	}
	if v := m.Get("keyingtries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return vc, errf("keyingtries", "%q is not a number", v)
		}
		c.KeyingTries = n
	}
	for k, p := range map[string]*bool{"encap": &c.ForceEncaps, "mobike": &c.MOBIKE} {
		if v := m.Get(k); v != "" {
			b, err := swBool(v)
			if err != nil {
				return vc, errf(k, "%v", err)
			}
			*p = b
		}
	}
	switch v := m.Get("fragmentation"); v {
	case "", "yes":
	case "accept":
		c.Fragmentation = ike.FragmentationAccept
	case "no":
		c.Fragmentation = ike.FragmentationNo
	case "force":
		c.Fragmentation = ike.FragmentationForce
	default:
		return vc, errf("fragmentation", "%q is not yes, accept, force or no", v)
	}
	if v := m.Get("unique"); v != "" && v != "no" {
		return vc, errf("unique", "%q per connection is not supported (ipsec.conf's uniqueids applies to all)", v)
	}
	if len(locals) != 1 || len(remotes) != 1 {
		if len(locals) > 1 {
			return vc, errf(locals[1], "more than one authentication round is not supported")
		}
		if len(remotes) > 1 {
			return vc, errf(remotes[1], "more than one authentication round is not supported")
		}
	}
	if err := viciAuth(m, locals, &c.Local, true); err != nil {
		return vc, err
	}
	if err := viciAuth(m, remotes, &c.Remote, false); err != nil {
		return vc, err
	}
	if child == nil {
		return vc, errf("children", "a connection needs one CHILD_SA")
	}
	vc.child = childName
	if err := viciChild(childName, child, c, ikeRekey, overTime); err != nil {
		return vc, err
	}
	return vc, nil
}

// viciChild applies a children.NAME section. The engine shares one
// rekey margin between the IKE_SA and its CHILD_SA, as ipsec.conf does:
// the CHILD_SA's (life_time - rekey_time) is taken, and the IKE lifetime
// set so that the IKE_SA rekeys at its rekey_time.
func viciChild(name string, m *vici.Message, c *ike.Connection, ikeRekey, overTime time.Duration) error {
	key := func(k string) string { return "children." + name + "." + k }
	errf := func(k, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key(k), fmt.Sprintf(format, args...))
	}
	for _, e := range m.Entries() {
		if !slices.Contains(viciChildKeys, e.Key) {
			return errf(e.Key, "not supported by cygnet")
		}
	}
	switch v := m.Get("mode"); v {
	case "transport":
	case "", "tunnel":
		return errf("mode", "tunnel mode (swanctl.conf's default) is not supported: set mode = transport")
	default:
		return errf("mode", "%q is not supported: only transport", v)
	}
	var err error
	if c.ESP, err = viciProposals(m, "esp_proposals", config.ProposalESP, config.DefaultESPProposals()); err != nil {
		return fmt.Errorf("children.%s.%w", name, err)
	}
	c.ESPStrict = true
	for i, k := range []string{"local_ts", "remote_ts"} {
		ts := m.List(k)
		if len(ts) > 1 {
			return errf(k, "more than one traffic selector is not supported")
		}
		if len(ts) == 0 {
			continue
		}
		sel, err := viciTS(ts[0], []*ike.Endpoint{&c.Local, &c.Remote}[i])
		if err != nil {
			return errf(k, "%v", err)
		}
		[]*ike.Endpoint{&c.Local, &c.Remote}[i].ProtoPort = sel
	}
	rekey, life, rnd := swChildRekey, time.Duration(0), time.Duration(-1)
	for k, p := range map[string]*time.Duration{"rekey_time": &rekey, "life_time": &life, "rand_time": &rnd} {
		if v := m.Get(k); v != "" {
			d, err := swDuration(v)
			if err != nil {
				return errf(k, "%v", err)
			}
			*p = d
		}
	}
	if life == 0 {
		life = rekey + rekey/10 // swanctl.conf: life_time defaults to rekey_time + 10%
	}
	if rekey == 0 {
		c.Rekey = false
		rekey = life
	}
	if life < rekey {
		return errf("life_time", "shorter than rekey_time")
	}
	c.Lifetime, c.MarginTime = life, life-rekey
	if rnd >= 0 && c.MarginTime > 0 {
		c.RekeyFuzz = int(rnd * 100 / c.MarginTime)
	}
	if ikeRekey == 0 {
		ikeRekey = 24 * time.Hour
	}
	c.IKELifetime = ikeRekey + c.MarginTime
	_ = overTime // the IKE_SA's hard limit is the engine's own (lifetime after the margin)
	for k, p := range map[string]*uint64{"life_bytes": &c.LifeBytes, "life_packets": &c.LifePackets} {
		if v := m.Get(k); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return errf(k, "%q is not a number", v)
			}
			*p = n
		}
	}
	for k, p := range map[string]*uint64{"rekey_bytes": &c.MarginBytes, "rekey_packets": &c.MarginPackets} {
		if v := m.Get(k); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return errf(k, "%q is not a number", v)
			}
			limit := map[string]uint64{"rekey_bytes": c.LifeBytes, "rekey_packets": c.LifePackets}[k]
			if limit == 0 {
				limit = n + n/10
				if k == "rekey_bytes" {
					c.LifeBytes = limit
				} else {
					c.LifePackets = limit
				}
			}
			*p = limit - min(n, limit)
		}
	}
	c.Local.Updown = m.Get("updown")
	switch v := m.Get("start_action"); v {
	case "", "none":
		c.Auto = ike.AutoAdd
	case "trap":
		c.Auto = ike.AutoRoute
	case "start":
		c.Auto = ike.AutoStart
	default:
		return errf("start_action", "%q is not none, trap or start", v)
	}
	for k, p := range map[string]*ike.PeerAction{"dpd_action": &c.DPDAction, "close_action": &c.CloseAction} {
		switch v := m.Get(k); v {
		case "":
		case "none":
			*p = ike.ActionNone
		case "clear":
			*p = ike.ActionClear
		case "trap":
			*p = ike.ActionHold
		case "restart", "start":
			*p = ike.ActionRestart
		default:
			return errf(k, "%q is not none, clear, trap or restart", v)
		}
	}
	if c.DPDAction == ike.ActionNone {
		c.DPDDelay = 0
	}
	if v := m.Get("replay_window"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return errf("replay_window", "%q is not a number", v)
		}
		c.ReplayWindow = uint32(n)
	}
	if v := m.Get("policies"); v != "" {
		b, err := swBool(v)
		if err != nil {
			return errf("policies", "%v", err)
		}
		c.NoPolicy = !b
	}
	if v := m.Get("reqid"); v != "" && v != "0" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return errf("reqid", "%q is not a number", v)
		}
		c.ReqID = uint32(n)
	}
	for _, k := range []string{"mark_in", "mark_out"} {
		if v := m.Get(k); v != "" && v != "0" && v != "0/0" {
			return errf(k, "marks are not supported on connections loaded over VICI")
		}
	}
	if v := m.Get("ipcomp"); v != "" && v != "no" {
		return errf("ipcomp", "IPComp is not supported")
	}
	if v := m.Get("inactivity"); v != "" && v != "0" && v != "0s" {
		return errf("inactivity", "inactivity timeouts are not supported")
	}
	return nil
}

// viciAuth applies a local or remote authentication round.
func viciAuth(m *vici.Message, keys []string, ep *ike.Endpoint, local bool) error {
	ep.Auth = ike.AuthPubkey // swanctl.conf's default auth is pubkey
	if len(keys) == 0 {
		return nil
	}
	key := keys[0]
	s := m.Section(key)
	for _, e := range s.Entries() {
		if !slices.Contains(viciAuthKeys, e.Key) {
			return fmt.Errorf("%s.%s: not supported by cygnet", key, e.Key)
		}
	}
	switch a := s.Get("auth"); {
	case a == "psk":
		ep.Auth = ike.AuthPSK
	case a == "" || a == "pubkey" || strings.HasPrefix(a, "rsa") || strings.HasPrefix(a, "ecdsa"):
		ep.Auth = ike.AuthPubkey
	default:
		return fmt.Errorf("%s.auth: %q is not supported (psk and pubkey are; EAP and XAuth are not)", key, a)
	}
	if v := s.Get("id"); v != "" {
		id, err := ike.ParseIdentity(v)
		if err != nil {
			return fmt.Errorf("%s.id: %w", key, err)
		}
		ep.ID = id
	}
	// swanctl.conf's remote.id defaults to %any: with public keys the
	// peer proves whatever identity its certificate vouches for (charon
	// checks the certificate against it). PSK keeps cygnet's default of
	// the peer's address, which selects the key.
	if !local && ep.ID.IsZero() && ep.Auth == ike.AuthPubkey {
		ep.AnyID = true
	}
	certs, err := parseCerts(s.List("certs"))
	if err != nil {
		return fmt.Errorf("%s.certs: %w", key, err)
	}
	if len(certs) > 1 {
		return fmt.Errorf("%s.certs: more than one certificate is not supported", key)
	}
	if len(certs) == 1 {
		ep.Cert = certs[0]
	}
	if len(s.List("pubkeys")) > 0 {
		return fmt.Errorf("%s.pubkeys: raw public keys over VICI are not supported yet", key)
	}
	cas, err := parseCerts(s.List("cacerts"))
	if err != nil {
		return fmt.Errorf("%s.cacerts: %w", key, err)
	}
	if len(cas) > 1 {
		return fmt.Errorf("%s.cacerts: more than one CA certificate is not supported", key)
	}
	if len(cas) == 1 {
		if local {
			return fmt.Errorf("%s.cacerts: only applies to remote", key)
		}
		ep.CA = cas[0]
	}
	return nil
}

// parseCerts parses certificates as swanctl sends them: the files' PEM or
// DER contents.
func parseCerts(data []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range data {
		b := []byte(d)
		if blk, _ := pem.Decode(b); blk != nil {
			b = blk.Bytes
		}
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// oneAddr reads local_addrs or remote_addrs: swanctl.conf allows lists,
// ranges and subnets; cygnet's host-to-host connections take one address
// or name, or %any (the default).
func oneAddr(m *vici.Message, key string) (string, error) {
	l := m.List(key)
	switch {
	case len(l) == 0:
		return "%any", nil
	case len(l) > 1:
		return "", fmt.Errorf("%s: more than one address is not supported", key)
	case strings.ContainsAny(l[0], "/-"):
		return "", fmt.Errorf("%s: subnets and ranges (%s) are not supported", key, l[0])
	}
	return l[0], nil
}

// viciProposals parses a proposals list as swanctl.conf has it: exactly
// the listed proposals (no defaults appended, unlike ipsec.conf without
// '!'), "default" standing for cygnet's defaults.
func viciProposals(m *vici.Message, key string, kind config.ProposalKind, defaults []ike.Proposal) ([]ike.Proposal, error) {
	l := m.List(key)
	if len(l) == 0 {
		return defaults, nil
	}
	var out []ike.Proposal
	for _, p := range l {
		if p == "default" {
			out = append(out, defaults...)
			continue
		}
		props, _, err := config.ParseProposals(p, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, props...)
	}
	return out, nil
}

// viciTS parses a traffic selector for a transport-mode connection:
// "dynamic" or "dynamic[proto/port]", or the end's own address as a /32
// or /128 with the same optional suffix.
func viciTS(s string, ep *ike.Endpoint) (ike.TrafficSelector, error) {
	addr, pp, hasPP := strings.Cut(s, "[")
	if addr != "dynamic" {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			if a, aerr := netip.ParseAddr(addr); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return ike.TrafficSelector{}, fmt.Errorf("%q is not dynamic or an address", s)
			}
		}
		if !p.IsSingleIP() || p.Addr().Unmap() != ep.Addr {
			return ike.TrafficSelector{}, fmt.Errorf("%q: only the host's own address (dynamic) is supported in transport mode", s)
		}
	}
	if !hasPP {
		return ike.TrafficSelector{}, nil
	}
	pp, ok := strings.CutSuffix(pp, "]")
	if !ok {
		return ike.TrafficSelector{}, fmt.Errorf("%q: missing ]", s)
	}
	return protoPort(pp)
}

// protoPort parses a selector's "proto/port" suffix: a protocol name
// (tcp, udp, icmp) or number, and an optional port or port range.
func protoPort(v string) (ike.TrafficSelector, error) {
	var ts ike.TrafficSelector
	proto, port, hasPort := strings.Cut(v, "/")
	switch proto {
	case "tcp":
		ts.Protocol = 6
	case "udp":
		ts.Protocol = 17
	case "icmp":
		ts.Protocol = 1
	case "%any", "":
	default:
		n, err := strconv.ParseUint(proto, 10, 8)
		if err != nil {
			return ts, fmt.Errorf("bad protocol %q", proto)
		}
		ts.Protocol = uint8(n)
	}
	if !hasPort || port == "%any" {
		ts.EndPort = 65535
		return ts, nil
	}
	from, to, isRange := strings.Cut(port, "-")
	a, err := strconv.ParseUint(from, 10, 16)
	if err != nil {
		return ts, fmt.Errorf("bad port %q", port)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(to, 10, 16); err != nil || b < a {
			return ts, fmt.Errorf("bad port range %q", port)
		}
	}
	ts.StartPort, ts.EndPort = uint16(a), uint16(b)
	return ts, nil
}

// swDuration parses a swanctl.conf time: a number with an optional s, m,
// h or d suffix (seconds without).
func swDuration(v string) (time.Duration, error) {
	unit := time.Second
	num := v
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
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time (number with s, m, h or d)", v)
	}
	return time.Duration(n) * unit, nil
}

func swBool(v string) (bool, error) {
	switch v {
	case "yes", "true", "enabled", "1":
		return true, nil
	case "no", "false", "disabled", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}
