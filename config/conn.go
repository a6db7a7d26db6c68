package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// Defaults of strongSwan 5.9's starter (ipsec.conf(5)).
const (
	DefaultIKELifetime = 3 * time.Hour
	DefaultLifetime    = time.Hour
	DefaultMarginTime  = 9 * time.Minute
	DefaultRekeyFuzz   = 100 // percent of the margin
	DefaultKeyingTries = 3
	DefaultDPDDelay    = 30 * time.Second
	DefaultDPDTimeout  = 150 * time.Second
	DefaultIKEPort     = 500
)

// IPsecConf is ipsec.conf interpreted: typed values with strongSwan's
// defaults, also= and %default applied.
type IPsecConf struct {
	Setup Setup
	// Conns are the conn sections other than %default, in file order.
	Conns []*Conn
	CAs   []*CA
	// Raw is the file as written; nil for a configuration built in code.
	Raw *RawFile
}

// Conn returns the conn named name, or nil.
func (c *IPsecConf) Conn(name string) *Conn {
	for _, x := range c.Conns {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// Setup is the "config setup" section.
type Setup struct {
	UniqueIDs       string // no, yes, replace, keep, never
	CharonDebug     string
	CacheCRLs       bool
	StrictCRLPolicy string // no, yes, ifuri
	Settings        []Setting
}

// UniqueIDPolicy maps uniqueids= onto the engine's type.
func (s *Setup) UniqueIDPolicy() ike.UniqueIDPolicy {
	switch s.UniqueIDs {
	case "no":
		return ike.UniqueIDsNo
	case "never":
		return ike.UniqueIDsNever
	case "replace":
		return ike.UniqueIDsReplace
	case "keep":
		return ike.UniqueIDsKeep
	}
	return ike.UniqueIDsYes
}

// CA is a "ca" section.
type CA struct {
	Name        string
	Pos         Pos
	Auto        string // ignore, add (route and start act as add)
	CACert      string // file, relative to ipsec.d/cacerts
	CRLURI      string
	CRLURI2     string
	OCSPURI     string
	OCSPURI2    string
	CertURIBase string
	Settings    []Setting
	// Valid is false when the section had errors; strongSwan ignores such
	// a section.
	Valid bool

	pos map[string]Pos
}

// End is one side of a connection (the left* or right* keywords). String
// fields hold the value as written.
type End struct {
	Host      string // left=: IP address, DNS name, %any, %defaultroute
	IKEPort   uint16
	Subnets   []netip.Prefix
	ProtoPort ike.TrafficSelector
	// SubnetDynamic is %dynamic in leftsubnet=: the end's own address.
	SubnetDynamic bool
	// SubnetProtoPort is the [proto/port] written after the subnets
	// (leftsubnet=%dynamic[udp/4789]) when HasSubnetProtoPort is set. Like
	// strongSwan's per-subnet selector it takes precedence over
	// leftprotoport=; see SelectorProtoPort.
	SubnetProtoPort    ike.TrafficSelector
	HasSubnetProtoPort bool
	SourceIP           string
	DNS                string
	Firewall           bool
	HostAccess         bool
	AllowAny           bool
	Updown             string
	Auth               string
	Auth2              string
	ID                 string
	ID2                string
	SigKey             string
	Cert               string
	Cert2              string
	CertPolicy         string
	SendCert           string // always, ifasked, never
	CA                 string
	CA2                string
	Groups             string
	Groups2            string
}

// Conn is one conn section with inheritance applied. String fields of
// enumerations hold strongSwan's keyword (Type "tunnel", Auto "add"); the
// methods map them onto the engine's types.
type Conn struct {
	Name string
	Pos  Pos // the conn header
	// Settings are the effective settings in the order they were applied,
	// each with the file:line where it was written.
	Settings []Setting

	KeyExchange   string // ike, ikev1, ikev2
	Type          string // tunnel, transport, transport_proxy, beet, pass, drop
	Auto          string // ignore, add, route, start
	AuthBy        string // "" when not set
	Left, Right   End
	IKE, ESP      []ike.Proposal // as configured, without defaults
	IKEStrict     bool
	ESPStrict     bool
	AH            string
	IKELifetime   time.Duration
	Lifetime      time.Duration
	MarginTime    time.Duration
	RekeyFuzz     int
	LifeBytes     uint64
	MarginBytes   uint64
	LifePackets   uint64
	MarginPackets uint64
	KeyingTries   int // 0 = %forever
	Rekey         bool
	Reauth        bool
	MOBIKE        bool
	ForceEncaps   bool
	Fragmentation string // no, accept, yes, force
	InstallPolicy bool
	Compress      bool
	Aggressive    bool
	DPDDelay      time.Duration
	DPDTimeout    time.Duration
	DPDAction     string // none, clear, hold, restart
	CloseAction   string
	Inactivity    time.Duration
	IKEDSCP       uint8
	SHA256_96     bool
	EAPIdentity   string
	AAAIdentity   string
	XAuth         string
	XAuthIdentity string
	ModeConfig    string
	Mediation     bool
	MediatedBy    string
	MEPeerID      string
	ReqID         uint32
	ReplayWindow  int64 // -1: strongswan.conf charon.replay_window (32)
	MarkIn        Mark
	MarkOut       Mark
	TFC           int // -1 = %mtu

	// Valid is false when the conn had an error; strongSwan does not load
	// such a conn and neither does cygnet.
	Valid bool

	pos map[string]Pos
}

// NewConn returns a conn with strongSwan 5.9's defaults.
func NewConn(name string) *Conn {
	end := End{IKEPort: DefaultIKEPort, SendCert: "ifasked"}
	return &Conn{
		Name:          name,
		KeyExchange:   "ike",
		Type:          "tunnel",
		Auto:          "ignore",
		Left:          end,
		Right:         end,
		IKELifetime:   DefaultIKELifetime,
		Lifetime:      DefaultLifetime,
		MarginTime:    DefaultMarginTime,
		RekeyFuzz:     DefaultRekeyFuzz,
		KeyingTries:   DefaultKeyingTries,
		Rekey:         true,
		Reauth:        true,
		MOBIKE:        true,
		Fragmentation: "yes",
		InstallPolicy: true,
		DPDDelay:      DefaultDPDDelay,
		DPDTimeout:    DefaultDPDTimeout,
		DPDAction:     "none",
		CloseAction:   "none",
		ReplayWindow:  -1,
		Valid:         true,
	}
}

// PosOf returns where a keyword (canonical name, e.g. "lifetime",
// "leftcert") was set, or the conn header when it was not.
func (c *Conn) PosOf(key string) Pos {
	if p, ok := c.pos[key]; ok {
		return p
	}
	return c.Pos
}

// IsSet reports whether a keyword (canonical name) was set in the file.
func (c *Conn) IsSet(key string) bool {
	_, ok := c.pos[key]
	return ok
}

// Mode maps type= onto the engine's modes.
func (c *Conn) Mode() ike.Mode {
	switch c.Type {
	case "transport", "transport_proxy":
		return ike.ModeTransport
	case "pass":
		return ike.ModePass
	case "drop":
		return ike.ModeDrop
	}
	return ike.ModeTunnel
}

// AutoAction maps auto= onto the engine's type.
func (c *Conn) AutoAction() ike.AutoAction {
	switch c.Auto {
	case "add":
		return ike.AutoAdd
	case "route":
		return ike.AutoRoute
	case "start":
		return ike.AutoStart
	}
	return ike.AutoIgnore
}

func peerAction(s string) ike.PeerAction {
	switch s {
	case "clear":
		return ike.ActionClear
	case "hold":
		return ike.ActionHold
	case "restart":
		return ike.ActionRestart
	}
	return ike.ActionNone
}

func fragmentation(s string) ike.Fragmentation {
	switch s {
	case "no":
		return ike.FragmentationNo
	case "accept":
		return ike.FragmentationAccept
	case "force":
		return ike.FragmentationForce
	}
	return ike.FragmentationYes
}

// EndAuth returns the authentication method of each end as strongSwan
// derives it: leftauth/rightauth when either is set (an unset one is
// pubkey), otherwise authby= for both, otherwise pubkey.
func (c *Conn) EndAuth() (left, right string) {
	if c.Left.Auth == "" && c.Right.Auth == "" && c.AuthBy != "" {
		switch c.AuthBy {
		case "psk", "secret":
			return "psk", "psk"
		case "xauthpsk":
			return "xauthpsk", "xauthpsk"
		case "xauthrsasig":
			return "xauthrsasig", "xauthrsasig"
		case "never":
			return "never", "never"
		}
		return c.AuthBy, c.AuthBy
	}
	left, right = c.Left.Auth, c.Right.Auth
	if left == "" {
		left = "pubkey"
	}
	if right == "" {
		right = "pubkey"
	}
	return left, right
}

// authClass maps an authentication method onto the engine's classes; ok is
// false for methods cygnet does not implement.
func authClass(a string) (cls ike.AuthClass, constraint bool, ok bool) {
	switch {
	case a == "psk" || a == "secret":
		return ike.AuthPSK, false, true
	case a == "never":
		return ike.AuthNever, false, true
	case a == "pubkey":
		return ike.AuthPubkey, false, true
	case strings.HasPrefix(a, "pubkey") || strings.HasPrefix(a, "rsa") ||
		strings.HasPrefix(a, "ecdsa") || strings.HasPrefix(a, "ike:"):
		return ike.AuthPubkey, true, true
	}
	return 0, false, false
}

// AuthClasses returns the engine's authentication class of each end.
func (c *Conn) AuthClasses() (left, right ike.AuthClass) {
	l, r := c.EndAuth()
	left, _, _ = authClass(l)
	right, _, _ = authClass(r)
	return left, right
}

// Interpret applies ipsec.conf's keywords to a RawFile.
func Interpret(raw *RawFile) (*IPsecConf, Diagnostics) {
	var d diags
	cfg := interpret(raw, &d)
	return cfg, dedupe(d.list)
}

func interpret(raw *RawFile, d *diags) *IPsecConf {
	cfg := &IPsecConf{Raw: raw, Setup: Setup{UniqueIDs: "yes", StrictCRLPolicy: "no"}}
	t := &target{setup: &cfg.Setup}
	for _, st := range raw.Setup.Effective() {
		applySetting(d, t, SectionSetup, "", st, nil)
	}
	cfg.Setup.Settings = raw.Setup.Effective()
	validateSetup(d, &cfg.Setup, raw.Setup)

	for _, s := range raw.CAs {
		if s.Name == "%default" {
			continue
		}
		ca := &CA{Name: s.Name, Pos: s.Pos, Auto: "ignore", Valid: true, pos: map[string]Pos{}}
		before := len(d.list)
		t := &target{ca: ca}
		for _, st := range s.Effective() {
			applySetting(d, t, SectionCA, "ca "+s.Name, st, ca.pos)
		}
		ca.Settings = s.Effective()
		validateCA(d, ca)
		ca.Valid = !Diagnostics(d.list[before:]).HasErrors()
		cfg.CAs = append(cfg.CAs, ca)
	}

	for _, s := range raw.Conns {
		c := NewConn(s.Name)
		c.Pos = s.Pos
		c.pos = map[string]Pos{}
		before := len(d.list)
		t := &target{conn: c}
		for _, st := range s.Effective() {
			applySetting(d, t, SectionConn, "conn "+s.Name, st, c.pos)
		}
		c.Settings = s.Effective()
		if s.alsoBroken {
			c.Valid = false
		}
		if s.Name == "%default" {
			continue // checked where it is inherited
		}
		validateConn(d, c)
		if Diagnostics(d.list[before:]).HasErrors() {
			c.Valid = false
		}
		cfg.Conns = append(cfg.Conns, c)
	}
	return cfg
}

// applySetting interprets one setting. pos records where each canonical
// keyword was set.
func applySetting(d *diags, t *target, kind SectionKind, conn string, st Setting, pos map[string]Pos) {
	// conn is the section label for diagnostics ("conn NAME", "ca NAME")
	k, side, ok := lookupKeyword(st.Key, kind)
	if !ok {
		if other, elsewhere := knownElsewhere(st.Key, kind); elsewhere {
			d.add(Error, st.Pos, conn, st.Key, "keyword belongs in a %v section, not in %v", other, kind)
		} else {
			d.add(Error, st.Pos, conn, st.Key, "unknown keyword")
		}
		return
	}
	if k.deprecated != "" {
		d.add(Warning, st.Pos, conn, st.Key, "deprecated keyword ignored (%s)", k.deprecated)
		return
	}
	canon := k.canonical(side)
	if pos != nil {
		if prev, dup := pos[canon]; dup {
			d.add(Warning, st.Pos, conn, st.Key, "%s is also set at %s under another name; strongSwan applies this one (%s), as does cygnet",
				canon, prev, st.Value)
		}
		pos[canon] = st.Pos
	}
	t.end = nil
	switch side {
	case "left":
		t.end = &t.conn.Left
	case "right":
		t.end = &t.conn.Right
	}
	t.notes = nil
	if err := k.set(t, st.Value); err != nil {
		d.add(Error, st.Pos, conn, st.Key, "%s", errMsg(err))
	}
	for _, n := range t.notes {
		d.add(n.sev, st.Pos, conn, st.Key, "%s", n.msg)
	}
	t.notes = nil
}

func validateSetup(d *diags, s *Setup, raw *Section) {
	at := func(key string) Pos {
		if st, ok := raw.lookup(key); ok {
			return st.Pos
		}
		return raw.Pos
	}
	if s.CharonDebug != "" {
		if level, err := charonDebugLevel(s.CharonDebug); err != nil {
			// the daemon refuses to start on it
			d.add(Error, at("charondebug"), "", "charondebug", "%s", errMsg(err))
		} else {
			d.add(Info, at("charondebug"), "", "charondebug",
				"sets the level of cygnet's stderr log (the journal under systemd) to %d, the highest given: cygnet does not log by subsystem; strongswan.conf charon.filelog / charon.syslog set the other targets", level)
		}
	}
	if s.CacheCRLs {
		d.add(Warning, at("cachecrls"), "", "cachecrls", "not implemented: cygnet does not fetch, so does not cache, CRLs")
	}
	if s.StrictCRLPolicy != "no" {
		d.add(Error, at("strictcrlpolicy"), "", "strictcrlpolicy",
			"strictcrlpolicy=%s is not supported: cygnet does not fetch CRLs and cannot require a fresh one", s.StrictCRLPolicy)
	}
}

// charonDebugLevel reads charondebug= ("ike 2, knl 1") as the daemon does
// and returns the highest level given, the level of the daemon's stderr
// log.
func charonDebugLevel(v string) (int, error) {
	level := -1
	// empty parts ("ike 2,") are skipped, as the daemon skips them
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' }) {
		f := strings.Fields(part)
		if len(f) != 2 {
			return 0, fmt.Errorf("config: bad charondebug %q: want \"subsystem level\" pairs separated by commas", v)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < -1 || n > 4 {
			return 0, fmt.Errorf("config: bad charondebug %q: level %q of %s is not -1..4", v, f[1], f[0])
		}
		level = max(level, n)
	}
	if level == -1 && strings.TrimSpace(strings.ReplaceAll(v, ",", "")) == "" {
		level = 1 // nothing given: strongSwan's default level
	}
	return level, nil
}

func validateCA(d *diags, ca *CA) {
	at := func(k string) Pos {
		if p, ok := ca.pos[k]; ok {
			return p
		}
		return ca.Pos
	}
	if ca.CACert == "" {
		d.add(Error, ca.Pos, "ca "+ca.Name, "cacert", "ca section without cacert=")
	}
	for _, k := range []string{"crluri", "crluri2", "ocspuri", "ocspuri2"} {
		if _, ok := ca.pos[k]; ok {
			d.add(Warning, at(k), "ca "+ca.Name, k, "not implemented: cygnet does not fetch CRLs or ask OCSP responders; revocation is checked against ipsec.d/crls only")
		}
	}
	if ca.Auto == "ignore" {
		d.add(Info, ca.Pos, "ca "+ca.Name, "auto", "auto=ignore (the default for ca sections): the section is not loaded; add auto=add")
	}
	if ca.CertURIBase != "" {
		d.add(Warning, at("certuribase"), "ca "+ca.Name, "certuribase", "not implemented: hash-and-URL certificates are not fetched")
	}
}

// SelectorProtoPort is the protocol/port the end's traffic selector is
// narrowed to: the [proto/port] of leftsubnet= when it has one, else
// leftprotoport=.
func (e *End) SelectorProtoPort() ike.TrafficSelector {
	if e.HasSubnetProtoPort {
		return e.SubnetProtoPort
	}
	return e.ProtoPort
}

// checkTransportSubnets applies strongSwan's transport-mode rule to an
// end's subnets. A transport-mode CHILD_SA is host to host: strongSwan
// narrows the configured selectors against the peer's and keeps transport
// mode only when the result is the two host addresses (charon's
// child_create: "not using transport mode, not host-to-host", after which
// it falls back to a tunnel). cygnet always proposes and accepts the host
// addresses, which is that narrowed result, so a subnet is accepted when it
// contains the end's address: the address itself silently, a wider prefix
// with a warning that it is narrowed. With auto=route a wider prefix is
// refused: strongSwan's trap policy covers the whole subnet, so traffic
// for the rest of it is held (and never negotiated host to host), where
// cygnet's host-to-host trap would let it leave in clear. A subnet that cannot contain the
// address, or one that cannot be checked at load time because the end has
// no literal address (%any, %defaultroute, a DNS name) and the prefix is
// not the whole address family, is refused: strongSwan would protect it in
// a tunnel, which cygnet does not do, and the traffic would go unprotected.
func checkTransportSubnets(d *diags, c *Conn, side string, e *End, errf func(key, format string, args ...any)) {
	key := side + "subnet"
	host, err := netip.ParseAddr(e.Host)
	literal := err == nil
	host = host.Unmap()
	var wider []string
	for _, p := range e.Subnets {
		switch {
		case literal && p.Contains(host) && p.IsSingleIP():
		case literal && p.Contains(host):
			wider = append(wider, p.String())
		case literal:
			errf(key, "%s in transport mode does not contain %s=%s: cygnet protects the host addresses only (strongSwan would fall back to a tunnel); traffic for the subnet would not be protected", p, side, e.Host)
			return
		case p.Bits() == 0:
			wider = append(wider, p.String())
		default:
			errf(key, "%s in transport mode with %s=%s: cygnet cannot check at load time that the address lies in the subnet and protects the host addresses only; set %s to an address or the subnet to 0.0.0.0/0 or ::/0",
				p, side, e.Host, side)
			return
		}
	}
	if len(wider) > 0 && c.Auto == "route" {
		errf(key, "%s in a transport-mode conn with auto=route: strongSwan's trap policy would hold traffic for the whole subnet, cygnet's covers the host addresses only, so the rest would leave in clear; use the host address (or %%dynamic) with the [proto/port]",
			strings.Join(wider, ", "))
		return
	}
	if len(wider) > 0 {
		d.add(Warning, c.PosOf(key), "conn "+c.Name, key,
			"%s narrowed to the %s address in transport mode, as strongSwan narrows it against a peer that proposes its host address (strongSwan would fall back to a tunnel against one that does not)",
			strings.Join(wider, ", "), side)
	}
}

func validateConn(d *diags, c *Conn) {
	// A conn with auto=ignore is never loaded (strongSwan's starter skips
	// it); it is often only a base for also=. What cygnet cannot run is then
	// a warning, and becomes an error only for conns that are loaded.
	errf := func(key, format string, args ...any) {
		if c.Auto == "ignore" {
			d.add(Warning, c.PosOf(key), "conn "+c.Name, key, format+" (auto=ignore: not loaded)", args...)
			return
		}
		d.add(Error, c.PosOf(key), "conn "+c.Name, key, format, args...)
	}
	warnf := func(key, format string, args ...any) {
		d.add(Warning, c.PosOf(key), "conn "+c.Name, key, format, args...)
	}

	if c.KeyExchange == "ikev1" {
		errf("keyexchange", "IKEv1 is not supported: cygnet speaks IKEv2 (RFC 7296) only")
	}
	switch c.Type {
	case "transport":
	case "tunnel":
		if c.IsSet("type") {
			errf("type", "tunnel mode is not supported: cygnet runs type=transport only")
		} else {
			errf("type", "no type= set: strongSwan's default is tunnel mode, which cygnet does not support; add type=transport")
		}
	case "pass", "drop":
		errf("type", "type=%s (a %s policy without negotiation) is not supported", c.Type, map[string]string{"pass": "bypass", "drop": "blocking"}[c.Type])
	default:
		errf("type", "type=%s is not supported: cygnet runs type=transport only", c.Type)
	}

	// authentication
	if c.AuthBy != "" && (c.Left.Auth != "" || c.Right.Auth != "") {
		warnf("authby", "ignored because leftauth/rightauth is set (as strongSwan does)")
	}
	la, ra := c.EndAuth()
	for _, e := range []struct {
		side, auth string
		end        *End
	}{{"left", la, &c.Left}, {"right", ra, &c.Right}} {
		key := e.side + "auth"
		if !c.IsSet(key) && c.IsSet("authby") {
			key = "authby"
		}
		cls, constraint, ok := authClass(e.auth)
		switch {
		case strings.HasPrefix(e.auth, "eap"):
			errf(key, "EAP authentication (%s) is not supported", e.auth)
		case strings.HasPrefix(e.auth, "xauth"):
			errf(key, "XAUTH (%s) is IKEv1 and not supported", e.auth)
		case !ok:
			errf(key, "authentication method %q is not supported", e.auth)
		case cls == ike.AuthNever && c.Mode() == ike.ModeTransport:
			errf(key, "authby=never only suits type=pass or drop conns")
		case constraint:
			warnf(key, "%s: the key type / signature scheme constraint is not enforced; any trusted public key is accepted", e.auth)
		}
		if strings.Contains(e.end.ID, "*") {
			warnf(e.side+"id", "wildcards are not supported: cygnet matches identities exactly, so a peer that strongSwan would accept by pattern is refused")
		}
		if e.end.Auth2 != "" {
			errf(e.side+"auth2", "a second authentication round is not supported")
		}
		for _, k := range []string{"id2", "cert2", "ca2", "groups2"} {
			if c.IsSet(e.side + k) {
				errf(e.side+k, "a second authentication round is not supported")
			}
		}
		if e.end.Groups != "" {
			errf(e.side+"groups", "group membership checks are not supported")
		}
		if e.end.CertPolicy != "" {
			errf(e.side+"certpolicy", "certificate policy constraints are not supported")
		}
		if e.end.SourceIP != "" {
			errf(e.side+"sourceip", "virtual IPs and address pools are not supported")
		}
		if e.end.DNS != "" {
			errf(e.side+"dns", "configuration payloads (DNS servers) are not supported")
		}
		if e.end.Firewall && e.end.Updown != "" {
			// an error in strongSwan too, whatever auto= says
			d.add(Error, c.PosOf(e.side+"firewall"), "conn "+c.Name, e.side+"firewall", "cannot have both %sfirewall and %supdown", e.side, e.side)
		}
		if e.end.AllowAny {
			warnf(e.side+"allowany", "not implemented: the peer address is not allowed to change")
		}
		if e.end.HostAccess {
			warnf(e.side+"hostaccess", "not implemented: PLUTO_HOST_ACCESS is not passed to the updown script")
		}
		if e.end.IKEPort != DefaultIKEPort {
			warnf(e.side+"ikeport", "not implemented: cygnet uses charon.port and charon.port_nat_t for every conn")
		}
		if e.end.SendCert != "ifasked" {
			warnf(e.side+"sendcert", "not implemented: cygnet sends its certificate when the peer asks for one")
		}
		if err := checkHost(e.end.Host); err != nil {
			d.add(Error, c.PosOf(e.side), "conn "+c.Name, e.side, "%s", errMsg(err))
		}
		if e.end.HasSubnetProtoPort && e.end.ProtoPort != (ike.TrafficSelector{}) && e.end.ProtoPort != e.end.SubnetProtoPort {
			warnf(e.side+"protoport", "%s is overridden by the protocol/port [%s] in %ssubnet, as strongSwan overrides it",
				formatProtoPort(e.end.ProtoPort), formatProtoPort(e.end.SubnetProtoPort), e.side)
		}
		if c.Mode() == ike.ModeTransport {
			checkTransportSubnets(d, c, e.side, e.end, errf)
		}
	}
	if c.AH != "" {
		errf("ah", "AH is not supported: use esp=")
	}
	if c.Compress {
		warnf("compress", "not implemented: IPComp is not proposed")
	}
	if c.Aggressive {
		warnf("aggressive", "IKEv1 only; ignored")
	}
	if c.ModeConfig != "" {
		warnf("modeconfig", "IKEv1 only; ignored")
	}
	if c.XAuth != "" {
		warnf("xauth", "IKEv1 only; ignored")
	}
	if c.XAuthIdentity != "" {
		warnf("xauth_identity", "ignored: XAUTH is not supported")
	}
	if c.EAPIdentity != "" && !strings.HasPrefix(la, "eap") && !strings.HasPrefix(ra, "eap") {
		warnf("eap_identity", "ignored: no end authenticates with EAP")
	}
	if c.AAAIdentity != "" && !strings.HasPrefix(la, "eap") && !strings.HasPrefix(ra, "eap") {
		warnf("aaa_identity", "ignored: no end authenticates with EAP")
	}
	if c.Mediation || c.MediatedBy != "" || c.MEPeerID != "" {
		key := "mediation"
		if !c.Mediation {
			key = "mediated_by"
			if c.MediatedBy == "" {
				key = "me_peerid"
			}
		}
		errf(key, "IKE mediation is not supported")
	}
	if c.Inactivity != 0 {
		warnf("inactivity", "not implemented: idle CHILD_SAs are not closed")
	}
	if c.IsSet("ikedscp") && c.IKEDSCP != 0 {
		warnf("ikedscp", "not implemented: IKE packets are sent with DSCP 0")
	}
	if c.SHA256_96 {
		warnf("sha256_96", "not implemented: HMAC-SHA-256 is truncated to 128 bits as RFC 4868 specifies")
	}
	if c.TFC != 0 {
		errf("tfc", "traffic flow confidentiality padding is not supported")
	}
	if c.MarkIn.Unique || c.MarkIn.UniqueDir || c.MarkOut.Unique || c.MarkOut.UniqueDir {
		errf(markKey(c), "%%unique marks are not supported")
	} else if c.MarkIn != c.MarkOut {
		errf(markKey(c), "different inbound and outbound marks are not supported")
	} else if !c.MarkIn.IsZero() {
		warnf(markKey(c), "not implemented: the SAs and policies are installed without the mark, so they apply to all traffic between the hosts, not only to packets marked %s", formatMark(c.MarkIn))
	}
	if c.IsSet("mobike") && c.MOBIKE {
		warnf("mobike", "not implemented: cygnet neither announces nor uses MOBIKE (RFC 4555), so the SAs do not follow an address change; mobike=no says what cygnet does")
	}
	if c.IsSet("dpdtimeout") {
		warnf("dpdtimeout", "IKEv1 only in strongSwan, ignored: with IKEv2 a peer is declared dead when retransmissions give up (strongswan.conf charon.retransmit_*)")
	}
	if c.IsSet("dpddelay") && c.DPDAction == "none" {
		warnf("dpddelay", "has no effect with dpdaction=none: dead peer detection is off, as in strongSwan; set dpdaction=clear, hold or restart to use it")
	}
	if c.MarginBytes != 0 && c.LifeBytes == 0 {
		warnf("marginbytes", "has no effect without lifebytes: there is no byte limit to rekey before")
	}
	if c.MarginPackets != 0 && c.LifePackets == 0 {
		warnf("marginpackets", "has no effect without lifepackets: there is no packet limit to rekey before")
	}
	if c.Rekey {
		if c.MarginTime >= c.Lifetime {
			warnf("margintime", "margintime %v is not below lifetime %v: the CHILD_SA is rekeyed as soon as it is set up", c.MarginTime, c.Lifetime)
		}
		if c.MarginTime >= c.IKELifetime {
			warnf("margintime", "margintime %v is not below ikelifetime %v", c.MarginTime, c.IKELifetime)
		}
		if c.LifeBytes != 0 && c.MarginBytes >= c.LifeBytes {
			warnf("marginbytes", "marginbytes is not below lifebytes")
		}
		if c.LifePackets != 0 && c.MarginPackets >= c.LifePackets {
			warnf("marginpackets", "marginpackets is not below lifepackets")
		}
	}
}

func markKey(c *Conn) string {
	for _, k := range []string{"mark", "mark_in", "mark_out"} {
		if c.IsSet(k) {
			return k
		}
	}
	return "mark"
}

// checkHost validates left= / right=.
func checkHost(h string) error {
	switch h {
	case "", "%any", "%any4", "%any6", "%defaultroute":
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimPrefix(h, "%") // %name: strongSwan's allow-any form
	if name == "" || len(name) > 253 {
		return fmt.Errorf("bad host %q", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad host %q: not an address or DNS name", h)
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("bad host %q: not an address or DNS name", h)
			}
		}
	}
	return nil
}

// maxDiagnostics bounds the report on one configuration.
const maxDiagnostics = 500

// dedupe drops repeated diagnostics: a mistake in %default is reported
// once, not once per conn inheriting it.
func dedupe(ds Diagnostics) Diagnostics {
	type k struct {
		sev     Severity
		pos     Pos
		kw, msg string
	}
	seen := map[k]bool{}
	var out Diagnostics
	for _, d := range ds {
		key := k{d.Severity, d.Pos, d.Keyword, d.Message}
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(out) == maxDiagnostics {
			out = append(out, Diagnostic{Severity: Error, Pos: d.Pos, Message: "too many diagnostics; the rest are not shown"})
			break
		}
		out = append(out, d)
	}
	return out
}
