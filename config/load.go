package config

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Layout names the files of one strongSwan installation.
type Layout struct {
	// Name is "debian", "rhel" or "confdir" (given by flag or environment).
	Name           string
	Dir            string
	IPsecConf      string
	IPsecSecrets   string
	StrongswanConf string
	// IPsecD holds certs, cacerts, crls and private.
	IPsecD string
}

// EnvConfDir overrides where the configuration is looked for.
const EnvConfDir = "CYGNET_CONFDIR"

// LayoutAt returns the layout of a configuration directory holding
// ipsec.conf, ipsec.secrets, strongswan.conf and ipsec.d.
func LayoutAt(dir string) Layout {
	return Layout{
		Name:           "confdir",
		Dir:            dir,
		IPsecConf:      filepath.Join(dir, "ipsec.conf"),
		IPsecSecrets:   filepath.Join(dir, "ipsec.secrets"),
		StrongswanConf: filepath.Join(dir, "strongswan.conf"),
		IPsecD:         filepath.Join(dir, "ipsec.d"),
	}
}

// FindLayout locates the configuration: confdir when not empty, else
// $CYGNET_CONFDIR, else Debian's /etc/ipsec.conf, else RHEL's
// /etc/strongswan/ipsec.conf.
func FindLayout(confdir string) (Layout, error) {
	return findLayout(confdir, os.Getenv(EnvConfDir), "/")
}

func findLayout(confdir, env, root string) (Layout, error) {
	switch {
	case confdir != "":
		return LayoutAt(confdir), nil
	case env != "":
		return LayoutAt(env), nil
	}
	candidates := []struct{ name, dir string }{
		{"debian", filepath.Join(root, "etc")},
		{"rhel", filepath.Join(root, "etc", "strongswan")},
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c.dir, "ipsec.conf")); err == nil {
			l := LayoutAt(c.dir)
			l.Name = c.name
			return l, nil
		}
	}
	return Layout{}, fmt.Errorf("config: no ipsec.conf in %s or %s; use --confdir or $%s",
		candidates[0].dir, candidates[1].dir, EnvConfDir)
}

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options adjust Load for tests and embedding programs.
type Options struct {
	// Resolver resolves left= / right= host names; nil uses
	// net.DefaultResolver. Names are only resolved to decide which end is
	// local; the engine resolves them again when it uses them.
	Resolver Resolver
	// LocalAddrs lists the node's addresses; nil asks the kernel.
	LocalAddrs func() ([]netip.Addr, error)
	// Now is the time certificates are checked against; nil is time.Now.
	Now func() time.Time
}

// Loaded is a configuration directory read and mapped onto the engine's
// configuration.
type Loaded struct {
	Layout     Layout
	IPsec      *IPsecConf
	Secrets    *Secrets
	Strongswan *StrongswanConf
	// Config holds the conns that are valid and not auto=ignore, and the
	// credentials.
	Config ike.Config
	// Conns[i] is the conn that Config.Connections[i] came from.
	Conns []*Conn
}

// Load reads everything a layout names. Diagnostics hold every error and
// warning; a conn with an error is left out of Config.Connections, so a
// caller that refuses to start on errors and one that runs what is valid
// both fail closed.
func Load(l Layout, opts *Options) (*Loaded, Diagnostics) {
	if opts == nil {
		opts = &Options{}
	}
	var d diags
	out := &Loaded{Layout: l}

	if _, err := os.Stat(l.StrongswanConf); err == nil {
		sw, ds := ParseStrongswanConfFile(l.StrongswanConf)
		out.Strongswan = sw
		d.list = append(d.list, ds...)
	} else {
		out.Strongswan = NewStrongswanConf()
		d.add(Info, Pos{File: l.StrongswanConf}, "", "", "not found; using strongSwan's defaults")
	}

	raw, rawDiags := ParseIPsecConfFile(l.IPsecConf)
	d.list = append(d.list, rawDiags...)
	ipsec, ds := Interpret(raw)
	d.list = append(d.list, ds...)
	if syntaxBroken(rawDiags) {
		// a syntax error makes strongSwan reject the whole file
		for _, c := range ipsec.Conns {
			c.Valid = false
		}
	}
	out.IPsec = ipsec

	if _, err := os.Stat(l.IPsecSecrets); err == nil || !errors.Is(err, os.ErrNotExist) {
		sec, ds := ParseSecretsFile(l.IPsecSecrets, filepath.Join(l.IPsecD, "private"))
		out.Secrets = sec
		d.list = append(d.list, ds...)
	} else {
		out.Secrets = &Secrets{}
		d.add(Info, Pos{File: l.IPsecSecrets}, "", "", "not found; no secrets loaded")
	}

	ld := &loader{l: l, opts: opts, d: &d, out: out}
	ld.credentials()
	ld.connections()
	return out, dedupe(d.list)
}

// syntaxBroken reports whether parsing found an error that makes
// strongSwan's starter reject the whole file: a syntax error, a missing
// include, an also= reference that is missing or loops.
func syntaxBroken(ds Diagnostics) bool {
	for _, d := range ds {
		if d.Severity == Error && (d.Section == "" || d.Keyword == "also") {
			return true
		}
	}
	return false
}

type loader struct {
	l    Layout
	opts *Options
	d    *diags
	out  *Loaded

	local     []netip.Addr
	localErr  error
	localDone bool
}

// credentials loads private keys named in ipsec.secrets, the CA
// certificates and CRLs of ipsec.d and the ca sections.
func (ld *loader) credentials() {
	creds := &ld.out.Config.Credentials
	creds.SharedKeys = ld.out.Secrets.SharedKeys()
	for i := range ld.out.Secrets.Entries {
		e := &ld.out.Secrets.Entries[i]
		switch e.Type {
		case "RSA", "ECDSA", "PKCS8":
		default:
			continue
		}
		if e.Prompt {
			continue
		}
		key, err := loadPrivateKey(e.File, e.passphrase, e.Type)
		if err != nil {
			ld.d.add(Error, e.Pos, "", e.Type, "%s", errMsg(err))
			continue
		}
		creds.PrivateKeys = append(creds.PrivateKeys, key)
	}
	for _, f := range listDir(filepath.Join(ld.l.IPsecD, "cacerts")) {
		certs, err := loadCerts(f)
		if err != nil {
			ld.d.add(Warning, Pos{File: f}, "", "", "not loaded: %s", errMsg(err))
			continue
		}
		for _, c := range certs {
			if !c.IsCA {
				ld.d.add(Warning, Pos{File: f}, "", "", "certificate %q is not a CA certificate; loaded as a trust anchor anyway, as strongSwan does", c.Subject)
			}
			creds.CACerts = appendCert(creds.CACerts, c)
		}
	}
	for _, ca := range ld.out.IPsec.CAs {
		if !ca.Valid || ca.Auto == "ignore" {
			continue
		}
		f := ca.CACert
		if !filepath.IsAbs(f) {
			f = filepath.Join(ld.l.IPsecD, "cacerts", f)
		}
		certs, err := loadCerts(f)
		if err != nil {
			ld.d.add(Error, ca.pos["cacert"], "ca "+ca.Name, "cacert", "%s", errMsg(err))
			continue
		}
		for _, c := range certs {
			creds.CACerts = appendCert(creds.CACerts, c)
		}
	}
	for _, f := range listDir(filepath.Join(ld.l.IPsecD, "crls")) {
		crl, err := loadCRL(f)
		if err != nil {
			ld.d.add(Warning, Pos{File: f}, "", "", "not loaded: %s", errMsg(err))
			continue
		}
		creds.CRLs = append(creds.CRLs, crl)
	}
}

func appendCert(list []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	for _, x := range list {
		if x.Equal(c) {
			return list
		}
	}
	return append(list, c)
}

// listDir returns the regular files of dir in name order.
func listDir(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// connections maps the valid conns onto ike.Connection.
func (ld *loader) connections() {
	cfg := &ld.out.Config
	sw := ld.out.Strongswan
	cfg.RetransmitTries = sw.RetransmitTries
	cfg.RetransmitTimeout = sw.RetransmitTimeout
	cfg.RetransmitBase = sw.RetransmitBase
	cfg.MakeBeforeBreak = sw.MakeBeforeBreak
	cfg.UniqueIDs = ld.out.IPsec.Setup.UniqueIDPolicy()
	// charon.keep_alive goes with the configuration, so that every reading
	// (start, reload, rereadall) carries it; strongSwan's 0 disables
	// keepalives, the engine's 0 is its 20 s default.
	if _, set := sw.Root.Get("charon.keep_alive"); set {
		cfg.KeepAlive = sw.KeepAlive
		if sw.KeepAlive == 0 {
			cfg.KeepAlive = -1
		}
	}
	// strongSwan writes "no limit" and "always" as 0, the engine as a
	// negative value (its 0 keeps its own default); unset keeps the
	// engine's defaults.
	if _, set := sw.Root.Get("charon.init_limit_half_open"); set {
		cfg.HalfOpenLimit = sw.InitLimitHalfOpen
		if sw.InitLimitHalfOpen == 0 {
			cfg.HalfOpenLimit = -1
		}
	}
	if _, set := sw.Root.Get("charon.cookie_threshold"); set {
		cfg.CookieThreshold = sw.CookieThreshold
		if sw.CookieThreshold == 0 {
			cfg.CookieThreshold = -1
		}
	}
	if _, set := sw.Root.Get("charon.block_threshold"); set {
		cfg.BlockThreshold = sw.BlockThreshold
		if sw.BlockThreshold == 0 {
			cfg.BlockThreshold = -1
		}
	}
	if !sw.DoSProtection {
		// dos_protection=no: neither cookies nor the per-source limit, as
		// in charon; init_limit_half_open still applies.
		cfg.CookieThreshold = math.MaxInt32
		cfg.BlockThreshold = -1
	}
	if !sw.MakeBeforeBreak {
		ld.d.add(Info, Pos{File: ld.l.StrongswanConf}, "", "charon.make_before_break",
			"no (strongSwan 5.9's default): cygnet reauthenticates make-before-break anyway, keeping the policies (strongSwan would send in clear until the new SAs are up)")
	}

	for _, c := range ld.out.IPsec.Conns {
		// Map invalid conns too, so that every problem is reported at once.
		conn, ok := ld.connection(c)
		if !ok {
			c.Valid = false
		}
		if !c.Valid || c.Auto == "ignore" {
			continue
		}
		for _, ep := range []*ike.Endpoint{&conn.Local, &conn.Remote} {
			if ep.Cert != nil {
				cfg.Credentials.Certs = appendCert(cfg.Credentials.Certs, ep.Cert)
			}
		}
		cfg.Connections = append(cfg.Connections, conn)
		ld.out.Conns = append(ld.out.Conns, c)
	}
}

func (ld *loader) localAddrs() ([]netip.Addr, error) {
	if !ld.localDone {
		ld.localDone = true
		if ld.opts.LocalAddrs != nil {
			ld.local, ld.localErr = ld.opts.LocalAddrs()
		} else {
			ld.local, ld.localErr = interfaceAddrs()
		}
	}
	return ld.local, ld.localErr
}

func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// isLocal reports whether host names one of the node's addresses.
func (ld *loader) isLocal(c *Conn, side, host string) bool {
	if host == "" || strings.HasPrefix(host, "%any") || host == "%defaultroute" {
		return false
	}
	local, err := ld.localAddrs()
	if err != nil {
		ld.d.add(Warning, c.PosOf(side), "conn "+c.Name, side, "cannot list local addresses: %v", err)
		return false
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		addrs, err = ResolveHost(context.Background(), ld.opts.Resolver, host)
		if err != nil {
			ld.d.add(Warning, c.PosOf(side), "conn "+c.Name, side, "cannot resolve %q to decide which end is local: %v", host, err)
			return false
		}
	}
	for _, a := range addrs {
		if slices.Contains(local, a.Unmap()) {
			return true
		}
	}
	return false
}

// ResolveHost resolves a left= / right= value: an address is returned as
// is, %any and %defaultroute give no address (the engine picks one by
// route), a name goes through r (net.DefaultResolver when nil) with a
// timeout.
func ResolveHost(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	host = strings.TrimPrefix(host, "%")
	switch host {
	case "", "any", "any4", "any6", "defaultroute":
		return nil, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("config: resolving %q: %w", host, err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// connection builds the engine's connection. Like strongSwan, left is the
// local end unless right is a local address and left is not.
func (ld *loader) connection(c *Conn) (ike.Connection, bool) {
	before := len(ld.d.list)
	local, remote := &c.Left, &c.Right
	lside, rside := "left", "right"
	if !ld.isLocal(c, "left", c.Left.Host) && ld.isLocal(c, "right", c.Right.Host) {
		local, remote = remote, local
		lside, rside = rside, lside
	}
	lauth, rauth := c.EndAuth()
	if lside == "right" {
		lauth, rauth = rauth, lauth
	}
	conn := ike.Connection{
		Name:          c.Name,
		Mode:          c.Mode(),
		Auto:          c.AutoAction(),
		IKE:           withDefaults(c.IKE, c.IKEStrict, DefaultIKEProposals()),
		ESP:           withDefaults(c.ESP, c.ESPStrict, DefaultESPProposals()),
		IKEStrict:     c.IKEStrict,
		ESPStrict:     c.ESPStrict,
		IKELifetime:   c.IKELifetime,
		Lifetime:      c.Lifetime,
		MarginTime:    c.MarginTime,
		RekeyFuzz:     c.RekeyFuzz,
		LifeBytes:     c.LifeBytes,
		LifePackets:   c.LifePackets,
		MarginBytes:   c.MarginBytes,
		MarginPackets: c.MarginPackets,
		Rekey:         c.Rekey,
		Reauth:        c.Reauth,
		KeyingTries:   c.KeyingTries,
		DPDDelay:      c.DPDDelay,
		DPDTimeout:    c.DPDTimeout,
		DPDAction:     peerAction(c.DPDAction),
		CloseAction:   peerAction(c.CloseAction),
		ForceEncaps:   c.ForceEncaps,
		Fragmentation: fragmentation(c.Fragmentation),
		MOBIKE:        c.MOBIKE,
		ReqID:         c.ReqID,
		Mark:          c.MarkIn.Value,
		MarkMask:      c.MarkIn.Mask,
		NoPolicy:      !c.InstallPolicy,
	}
	if c.MarkIn.IsZero() {
		conn.MarkMask = 0
	}
	// strongSwan disables DPD when dpdaction=none, whatever dpddelay says.
	if c.DPDAction == "none" {
		conn.DPDDelay = 0
	}
	if c.ReplayWindow >= 0 {
		conn.ReplayWindow = uint32(c.ReplayWindow)
	} else {
		conn.ReplayWindow = ld.out.Strongswan.ReplayWindow
	}
	if c.Valid && c.Auto != "ignore" && c.LifePackets == 0 && allowsNoESN(conn.ESP) {
		ld.d.add(Info, c.PosOf("esp"), "conn "+c.Name, "esp",
			"ESP may be negotiated without ESN and lifepackets is not set: the kernel stops sending on an SA after 2^32 packets (minutes at 10 Gbit/s) without an expire event; set lifepackets or add esn")
	}
	conn.Local = ld.endpoint(c, lside, local, lauth, true)
	conn.Remote = ld.endpoint(c, rside, remote, rauth, false)
	return conn, !Diagnostics(ld.d.list[before:]).HasErrors()
}

// allowsNoESN reports whether any proposal admits 32-bit sequence numbers
// (no ESN transform means ESN off, RFC 7296 3.3.2).
func allowsNoESN(props []ike.Proposal) bool {
	for _, p := range props {
		if len(p.ESN) == 0 || slices.Contains(p.ESN, message.ESNNo) {
			return true
		}
	}
	return false
}

func withDefaults(props []ike.Proposal, strict bool, defaults []ike.Proposal) []ike.Proposal {
	out := slices.Clone(props)
	if strict && len(props) > 0 {
		return out
	}
	for _, d := range defaults {
		dup := false
		for _, p := range out {
			if FormatProposal(p) == FormatProposal(d) {
				dup = true
			}
		}
		if !dup {
			out = append(out, d)
		}
	}
	return out
}

func (ld *loader) endpoint(c *Conn, side string, e *End, auth string, isLocal bool) ike.Endpoint {
	errf := func(key, format string, args ...any) {
		ld.d.add(Error, c.PosOf(key), "conn "+c.Name, key, format, args...)
	}
	warnf := func(key, format string, args ...any) {
		ld.d.add(Warning, c.PosOf(key), "conn "+c.Name, key, format, args...)
	}
	ep := ike.Endpoint{
		Host:      e.Host,
		Subnets:   slices.Clone(e.Subnets),
		ProtoPort: e.SelectorProtoPort(),
		Updown:    e.Updown,
		Firewall:  e.Firewall,
	}
	if ep.Host == "" {
		ep.Host = "%any"
	}
	if a, err := netip.ParseAddr(e.Host); err == nil {
		ep.Addr = a.Unmap()
	}
	ep.Auth, _, _ = authClass(auth)
	if e.ID != "" {
		id, err := parseID(e.ID)
		if err != nil {
			errf(side+"id", "%s", errMsg(err))
		}
		ep.ID = id
	}
	now := time.Now
	if ld.opts.Now != nil {
		now = ld.opts.Now
	}
	if e.Cert != "" {
		names := strings.Split(e.Cert, ",")
		if len(names) > 1 {
			warnf(side+"cert", "only the first of several certificates is used")
		}
		f := strings.TrimSpace(names[0])
		if strings.HasPrefix(f, "%smartcard") {
			errf(side+"cert", "smartcard certificates are not supported")
		} else {
			if !filepath.IsAbs(f) {
				f = filepath.Join(ld.l.IPsecD, "certs", f)
			}
			certs, err := loadCerts(f)
			switch {
			case err != nil:
				errf(side+"cert", "%s", errMsg(err))
			default:
				cert := certs[0]
				ep.Cert = cert
				if t := now(); t.After(cert.NotAfter) || t.Before(cert.NotBefore) {
					warnf(side+"cert", "certificate %q is not valid now (valid %s to %s)", cert.Subject, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
				}
				subject := ike.Identity{Type: message.IDDERASN1DN, Data: cert.RawSubject}
				switch {
				case ep.ID.IsZero():
					ep.ID = subject
				case !certHasID(cert, ep.ID):
					warnf(side+"id", "identity %v is not confirmed by certificate %q; using its subject, as strongSwan does", ep.ID, cert.Subject)
					ep.ID = subject
				}
				if isLocal && !hasPrivateKey(ld.out.Config.Credentials.PrivateKeys, cert.PublicKey) {
					warnf(side+"cert", "no private key in ipsec.secrets matches certificate %q", cert.Subject)
				}
			}
		}
	}
	if e.SigKey != "" && e.SigKey != "%cert" {
		key, err := loadPublicKey(e.SigKey, filepath.Join(ld.l.IPsecD, "certs"))
		if err != nil {
			errf(side+"sigkey", "%s", errMsg(err))
		} else {
			ep.SigKey = key
			if isLocal && !hasPrivateKey(ld.out.Config.Credentials.PrivateKeys, key) {
				warnf(side+"sigkey", "no private key in ipsec.secrets matches this public key")
			}
		}
	}
	if e.CA != "" {
		ref := e.CA
		if ref == "%same" {
			other := &c.Right
			if side == "right" {
				other = &c.Left
			}
			ref = other.CA
		}
		ca, err := ld.findCA(ref)
		if err != nil {
			errf(side+"ca", "%s", errMsg(err))
		}
		ep.CA = ca
	}
	if ep.Auth == ike.AuthPubkey && !isLocal && ep.SigKey == nil && ep.Cert == nil && len(ld.out.Config.Credentials.CACerts) == 0 {
		warnf(side+"auth", "public key authentication of the peer, but no CA certificate in ipsec.d/cacerts and no %scert or %ssigkey", side, side)
	}
	if ep.Auth == ike.AuthPubkey && isLocal && ep.Cert == nil && ep.SigKey == nil {
		warnf(side+"cert", "public key authentication, but no %scert or %ssigkey", side, side)
	}
	if ep.Auth == ike.AuthPSK && isLocal && len(ld.out.Config.Credentials.SharedKeys) == 0 {
		warnf(side+"auth", "pre-shared key authentication, but ipsec.secrets holds no PSK")
	}
	return ep
}

// findCA finds a CA certificate by subject DN or file name.
func (ld *loader) findCA(ref string) (*x509.Certificate, error) {
	if strings.Contains(ref, "=") {
		id, err := ike.ParseIdentity(ref)
		if err != nil {
			return nil, fmt.Errorf("config: bad CA name %q: %w", ref, err)
		}
		for _, c := range ld.out.Config.Credentials.CACerts {
			if bytes.Equal(c.RawSubject, id.Data) {
				return c, nil
			}
		}
		return nil, fmt.Errorf("config: CA certificate %q not found in ipsec.d/cacerts (strongSwan would drop the constraint; cygnet refuses)", ref)
	}
	f := ref
	if !filepath.IsAbs(f) {
		f = filepath.Join(ld.l.IPsecD, "cacerts", f)
	}
	certs, err := loadCerts(f)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// certHasID reports whether a certificate vouches for an identity: its
// subject DN or a subjectAltName of the same kind (RFC 7296 3.5, RFC 4945
// 3.1).
func certHasID(c *x509.Certificate, id ike.Identity) bool {
	switch id.Type {
	case message.IDDERASN1DN:
		return bytes.Equal(c.RawSubject, id.Data)
	case message.IDFQDN:
		for _, n := range c.DNSNames {
			if strings.EqualFold(n, string(id.Data)) {
				return true
			}
		}
	case message.IDRFC822:
		for _, n := range c.EmailAddresses {
			if strings.EqualFold(n, string(id.Data)) {
				return true
			}
		}
	case message.IDIPv4, message.IDIPv6:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return false
		}
		for _, ip := range c.IPAddresses {
			if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}

type publicKeyEqualer interface{ Equal(crypto.PublicKey) bool }

func hasPrivateKey(keys []crypto.Signer, pub crypto.PublicKey) bool {
	for _, k := range keys {
		if p, ok := k.Public().(publicKeyEqualer); ok && p.Equal(pub) {
			return true
		}
	}
	return false
}

// loadCerts reads PEM (one or more CERTIFICATE blocks) or DER.
func loadCerts(path string) ([]*x509.Certificate, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read certificate %s: %w", path, unwrapPathError(err))
	}
	var certs []*x509.Certificate
	rest := data
	sawPEM := false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawPEM = true
		if strings.HasPrefix(b.Type, "PGP") {
			return nil, fmt.Errorf("config: %s is an OpenPGP key or certificate; OpenPGP is not supported", path)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("config: certificate %s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if !sawPEM {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("config: %s is neither a PEM nor a DER certificate: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("config: no certificate in %s", path)
	}
	return certs, nil
}

func loadCRL(path string) (*x509.RevocationList, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read CRL %s: %w", path, unwrapPathError(err))
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("config: %s holds a %q block, not an X509 CRL", path, b.Type)
		}
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("config: CRL %s: %w", path, err)
	}
	return crl, nil
}

// loadPrivateKey reads a private key file (PEM or DER: PKCS#1, SEC 1,
// PKCS#8), decrypting legacy encrypted PEM with the passphrase. typ is the
// ipsec.secrets type, which must match the key.
func loadPrivateKey(path string, passphrase []byte, typ string) (crypto.Signer, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read private key %s: %w", path, unwrapPathError(err))
	}
	der := data
	if b, _ := pem.Decode(data); b != nil {
		der = b.Bytes
		if strings.HasPrefix(b.Type, "PGP") {
			return nil, fmt.Errorf("config: %s is an OpenPGP key; OpenPGP is not supported", path)
		}
		//lint:ignore SA1019 legacy encrypted PEM is what ipsec.secrets passphrases unlock
		if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
			if len(passphrase) == 0 {
				return nil, fmt.Errorf("config: private key %s is encrypted and no passphrase is given", path)
			}
			der, err = x509.DecryptPEMBlock(b, passphrase) //nolint:staticcheck
			if err != nil {
				return nil, fmt.Errorf("config: private key %s: wrong passphrase or damaged key", path)
			}
		} else if b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("config: private key %s: encrypted PKCS#8 is not supported; decrypt it with openssl pkcs8", path)
		}
	}
	var key any
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(der); err == nil {
		key = k
	} else {
		return nil, fmt.Errorf("config: %s is not a PKCS#1, SEC 1 or PKCS#8 private key", path)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("config: %s: unsupported key type %T", path, key)
	}
	switch signer.(type) {
	case *rsa.PrivateKey:
		if typ == "ECDSA" {
			return nil, fmt.Errorf("config: %s holds an RSA key but the entry says ECDSA", path)
		}
	case *ecdsa.PrivateKey:
		if typ == "RSA" {
			return nil, fmt.Errorf("config: %s holds an ECDSA key but the entry says RSA", path)
		}
	case ed25519.PrivateKey:
		if typ != "PKCS8" {
			return nil, fmt.Errorf("config: %s holds an Ed25519 key; use a PKCS8 entry", path)
		}
	}
	return signer, nil
}

// loadPublicKey reads a leftsigkey / rightsigkey value: "0x" hex or "0s"
// base64 DER, "dns:" RFC 3110 RSA keys (with a 0x / 0s value), or a PEM or
// DER file relative to ipsec.d/certs. DER may be a SubjectPublicKeyInfo
// or a PKCS#1 RSA public key.
func loadPublicKey(v, certsDir string) (crypto.PublicKey, error) {
	if strings.HasPrefix(strings.ToLower(v), "ssh:") {
		return nil, fmt.Errorf("config: SSH public keys are not supported")
	}
	dns := false
	if strings.HasPrefix(strings.ToLower(v), "dns:") {
		dns, v = true, v[4:]
	}
	var der []byte
	switch {
	case len(v) > 2 && strings.EqualFold(v[:2], "0x"):
		b, err := hex.DecodeString(v[2:])
		if err != nil {
			return nil, fmt.Errorf("config: bad hex public key")
		}
		der = b
	case len(v) > 2 && strings.EqualFold(v[:2], "0s"):
		b, err := base64.StdEncoding.DecodeString(v[2:])
		if err != nil {
			return nil, fmt.Errorf("config: bad base64 public key")
		}
		der = b
	default:
		if dns {
			return nil, fmt.Errorf("config: dns: keys must be given as 0x or 0s values")
		}
		path := v
		if !filepath.IsAbs(path) {
			path = filepath.Join(certsDir, path)
		}
		data, err := readLimited(path)
		if err != nil {
			return nil, fmt.Errorf("config: cannot read public key %s: %w", path, unwrapPathError(err))
		}
		der = data
		if b, _ := pem.Decode(data); b != nil {
			der = b.Bytes
		}
	}
	if dns {
		return parseRFC3110(der)
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("config: not a SubjectPublicKeyInfo or PKCS#1 public key")
}

// parseRFC3110 reads an RSA public key in DNS KEY format (RFC 3110 2): an
// exponent length (one octet, or zero and two octets), the exponent and the
// modulus.
func parseRFC3110(b []byte) (*rsa.PublicKey, error) {
	bad := fmt.Errorf("config: bad RFC 3110 RSA key")
	if len(b) < 1 {
		return nil, bad
	}
	elen, off := int(b[0]), 1
	if elen == 0 {
		if len(b) < 3 {
			return nil, bad
		}
		elen, off = int(b[1])<<8|int(b[2]), 3
	}
	if elen == 0 || elen > 4 || len(b) < off+elen+64 {
		return nil, bad
	}
	e := 0
	for _, x := range b[off : off+elen] {
		e = e<<8 | int(x)
	}
	n := new(big.Int).SetBytes(b[off+elen:])
	if e < 3 || n.BitLen() < 512 {
		return nil, bad
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// String summarises what was loaded; it never shows a secret.
func (l *Loaded) String() string {
	cr := l.Config.Credentials
	return fmt.Sprintf("config.Loaded{%s: %d conns loaded of %d, %d PSKs, %d private keys, %d certs, %d CA certs, %d CRLs}",
		l.Layout.IPsecConf, len(l.Config.Connections), len(l.IPsec.Conns), len(cr.SharedKeys), len(cr.PrivateKeys), len(cr.Certs), len(cr.CACerts), len(cr.CRLs))
}

// GoString keeps %#v from printing the credentials.
func (l *Loaded) GoString() string { return l.String() }

// ResolveEndpoints fills in the addresses of a connection whose left= or
// right= is a DNS name, through r (net.DefaultResolver when nil). Names are
// kept in ipsec.conf's form by Load and resolved when a connection is used,
// so that a name that changes address is followed. When the other end's
// address is known, an address of the same family is preferred. %any and
// %defaultroute are left unresolved: the engine takes the peer's address or
// picks a local one by route.
func ResolveEndpoints(ctx context.Context, r Resolver, c *ike.Connection) error {
	for _, pair := range []struct{ ep, other *ike.Endpoint }{{&c.Remote, &c.Local}, {&c.Local, &c.Remote}} {
		ep := pair.ep
		if ep.Addr.IsValid() {
			continue
		}
		addrs, err := ResolveHost(ctx, r, ep.Host)
		if err != nil {
			return fmt.Errorf("config: conn %s: %w", c.Name, err)
		}
		if len(addrs) == 0 {
			continue
		}
		ep.Addr = addrs[0]
		if o := pair.other.Addr; o.IsValid() {
			for _, a := range addrs {
				if a.Is4() == o.Is4() {
					ep.Addr = a
					break
				}
			}
		}
	}
	return nil
}
