package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// TestKeywordAudit proves, keyword by keyword, that nothing ipsec.conf
// accepts is dropped without a word (issue 12). Every keyword of
// strongSwan 5.9 (keywords59, left* and right* both) is set, alone, to a
// value that differs from the baseline in a minimal transport-mode PSK conn,
// and the result is classified:
//
//   - applied: what the daemon runs on changes (engineView: ike.Config
//     without what the engine does not read, plus what the daemon reads
//     itself);
//   - reported: a Warning or an Error names the keyword at its line;
//   - silent: neither. A silent keyword fails the test unless auditSilent
//     explains why the value changes nothing cygnet does.
//
// go test -v -run TestKeywordAudit ./config/ prints the table.
func TestKeywordAudit(t *testing.T) {
	a := newAudit(t)
	base := a.load(t, nil, "", "")
	if bad := base.diags.atLeast(Warning); len(bad) > 0 {
		t.Fatalf("the baseline is not clean:\n%s", listDiags(bad))
	}
	if again := a.load(t, nil, "", ""); !reflect.DeepEqual(engineView(base.l), engineView(again.l)) {
		t.Fatal("loading the baseline twice gives different results: nothing could be classified")
	}
	if len(base.l.Config.Connections) != 1 {
		t.Fatalf("baseline: %d connections loaded, want 1", len(base.l.Config.Connections))
	}

	covered := map[kwKey]bool{}
	seenAllowed := map[string]bool{}
	counts := map[string]int{}
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %-48s %s\n", "keyword", "value", "outcome")
	var doc keywordDoc
	cases := auditCases(a)
	for _, c := range cases {
		key := strings.TrimPrefix(c.key, "ca:") // ca:auto is auto in the ca section
		ref := base
		if len(c.context) > 0 {
			ref = a.load(t, c.context, "", "")
		}
		got := a.load(t, c.context, c.key, c.value)
		covered[kwKey{key, got.section}] = true
		id := key + "=" + c.value
		outcome := auditOutcome(t, ref, got, "ipsec.conf", id, key, canonicalKey(key, got.section))
		if strings.HasPrefix(outcome, "silent, allowed") {
			seenAllowed[id] = true
		}
		counts[strings.SplitN(outcome, ":", 2)[0]]++
		value := c.value
		if c.context != nil {
			value += " (with " + strings.Join(c.context, " ") + ")"
		}
		fmt.Fprintf(&table, "%-22s %-48s %s\n", c.key, strings.ReplaceAll(value, a.dir, "$dir"), outcome)
		doc.row(c.key, strings.ReplaceAll(value, a.dir, "$dir"), outcome, strings.ReplaceAll(diagMessage(got, key, canonicalKey(key, got.section)), a.dir, "$dir"))
	}
	var summary []string
	for _, o := range []string{"applied", "applied+warned", "applied+refused", "warned", "refused", "silent, allowed"} {
		summary = append(summary, fmt.Sprintf("%d %s", counts[o], o))
	}
	t.Logf("keyword audit, %d cases: %s\n%s", len(cases), strings.Join(summary, ", "), table.String())
	doc.check(t, strings.Join(summary, ", "))

	for _, k := range keywords59 {
		if !covered[kwKey{k, SectionSetup}] && !covered[kwKey{k, SectionConn}] && !covered[kwKey{k, SectionCA}] {
			t.Errorf("strongSwan keyword %s has no audit case", k)
		}
	}
	for k := range keywordIndex {
		if !covered[k] {
			t.Errorf("keyword %s (%v) has no audit case", k.name, k.kind)
		}
	}
	for id := range auditSilent {
		if !seenAllowed[id] && !strings.HasPrefix(id, "charon.") {
			t.Errorf("auditSilent lists %s, which no case produces silently", id)
		}
	}
}

// auditOutcome classifies one case against its reference: applied,
// warned, refused or a combination, "silent, allowed: why", or SILENT,
// which fails the test. names are the spellings a diagnostic may use; it
// must be at got.line of file.
func auditOutcome(t *testing.T, ref, got auditResult, file, id string, names ...string) string {
	t.Helper()
	reported := ""
	for _, d := range got.diags.atLeast(Warning) {
		if slices.Contains(names, d.Keyword) && d.Line == got.line && filepath.Base(d.File) == file {
			reported = "warned"
			if d.Severity == Error {
				reported = "refused"
				break
			}
		}
	}
	// An Error the table's value causes elsewhere means the value is not
	// representative: the conn would be dropped for another reason.
	for _, d := range got.diags.Errors() {
		if !slices.Contains(names, d.Keyword) && !ref.diags.has(d) {
			t.Errorf("%s: an unrelated error, choose another value: %v", id, d)
		}
	}
	applied := !reflect.DeepEqual(engineView(ref.l), engineView(got.l))
	outcome := strings.Trim(map[bool]string{true: "applied"}[applied]+"+"+reported, "+")
	why, allowed := auditSilent[id]
	switch {
	case outcome == "" && allowed:
		return "silent, allowed: " + why
	case outcome == "":
		t.Errorf("%s (%s:%d) is accepted and has no effect and no diagnostic: implement it or warn", id, file, got.line)
		return "SILENT"
	case allowed:
		t.Errorf("%s is in auditSilent but is %s: drop it from the list", id, outcome)
	}
	return outcome
}

// TestStrongswanConfAudit does for the charon settings of strongswan.conf
// that cygnet reads (swKeysUsed) what TestKeywordAudit does for ipsec.conf;
// the other settings are reported as not applicable (Info) by name.
func TestStrongswanConfAudit(t *testing.T) {
	a := newAudit(t)
	sw := filepath.Join(a.dir, "strongswan.conf")
	load := func(setting string) auditResult {
		writeFile(t, sw, "charon {\n"+setting+"}\n", 0o644)
		r := a.load(t, nil, "", "")
		r.line = 2
		return r
	}
	base := load("")
	if bad := base.diags.atLeast(Warning); len(bad) > 0 {
		t.Fatalf("the baseline is not clean:\n%s", listDiags(bad))
	}
	cases := []struct{ key, value string }{
		{"port", "4501"}, {"port_nat_t", "4502"}, {"install_routes", "no"},
		{"retransmit_tries", "3"}, {"retransmit_timeout", "2.5"}, {"retransmit_base", "1.4"},
		{"retransmit_jitter", "20"}, {"retransmit_limit", "30"},
		{"make_before_break", "yes"}, {"replay_window", "64"}, {"keep_alive", "10s"},
		{"init_limit_half_open", "100"}, {"cookie_threshold", "5"}, {"block_threshold", "3"},
		{"dos_protection", "no"},
		{"filelog", "{\n    audit {\n      path = /var/log/cygnet.log\n      default = 2\n    }\n  }"},
		{"syslog", "{\n    daemon {\n      ike = 2\n    }\n  }"},
	}
	covered, seenAllowed := map[string]bool{}, map[string]bool{}
	var table strings.Builder
	for _, c := range cases {
		covered[c.key] = true
		sep := " = "
		if strings.HasPrefix(c.value, "{") {
			sep = " "
		}
		got := load("  " + c.key + sep + c.value + "\n")
		id := "charon." + c.key + "=" + strings.Join(strings.Fields(c.value), " ")
		outcome := auditOutcome(t, base, got, "strongswan.conf", id, "charon."+c.key)
		if strings.HasPrefix(outcome, "silent, allowed") {
			seenAllowed[id] = true
		}
		fmt.Fprintf(&table, "%-60s %s\n", id, outcome)
	}
	t.Logf("strongswan.conf audit, %d cases:\n%s", len(cases), table.String())
	for _, k := range swKeysUsed {
		if !covered[k] {
			t.Errorf("charon.%s has no audit case", k)
		}
	}
	for id := range auditSilent {
		if !seenAllowed[id] && strings.HasPrefix(id, "charon.") {
			t.Errorf("auditSilent lists %s, which no case produces silently", id)
		}
	}
}

// auditSilent lists the settings that may change nothing, and why: each
// asks for what cygnet does anyway, so cygnet does what the line says and
// there is nothing to warn about.
var auditSilent = map[string]string{
	"keyexchange=ikev2":                 "IKEv2 is the only version cygnet speaks; the same as the default ike",
	"mobike=no":                         "cygnet never does MOBIKE, which is what mobike=no asks for",
	"leftsubnet=10.0.0.1/32":            "the host address itself: transport mode protects exactly that",
	"rightsubnet=10.0.0.2/32":           "the host address itself: transport mode protects exactly that",
	"leftsubnet=%dynamic":               "the end's own address, which transport mode protects anyway",
	"rightsubnet=%dynamic":              "the end's own address, which transport mode protects anyway",
	"leftsigkey=%cert":                  "use the certificate's key: what cygnet does when there is a certificate",
	"rightsigkey=%cert":                 "use the certificate's key: what cygnet does when there is a certificate",
	"leftsubnetwithin=10.0.0.1":         "the host address itself: transport mode protects exactly that",
	"rightupdown=/usr/local/bin/updown": "the remote end's (right is the peer here): only the local end's script runs, in strongSwan too; a file both hosts share carries both",
	"rightfirewall=yes":                 "the remote end's (right is the peer here): only the local end's rules are set, in strongSwan too; a file both hosts share carries both",
	"uniqueids=replace":                 "identical to yes, ipsec.conf(5) says; ike/unique.go treats them alike",
	"fragmentation=force":               "differs from yes for IKEv1 only, ipsec.conf(5) says; ike/sa.go treats them alike",
	"charon.install_routes=no":          "transport mode needs no routes, and strongSwan installs none for it; an Info says so",
	"closeaction=clear":                 "like none, nothing follows the peer's delete, in strongSwan too; ike/peeraction.go acts on hold and restart only",
}

// engineFieldsUnread are fields of ike.Connection, ike.Endpoint and
// StrongswanConf that the config reader fills but nothing in ike/ or
// internal/ reads, so a
// change there changes nothing the daemon does. remote limits an Endpoint
// field to the remote end (the local end's is read). TestEngineFieldsUnread
// keeps the list true.
var engineFieldsUnread = []struct {
	typ    reflect.Type
	field  string
	remote bool
}{
	{reflect.TypeOf(ike.Connection{}), "Mark", false},
	{reflect.TypeOf(ike.Connection{}), "MarkMask", false},
	{reflect.TypeOf(ike.Connection{}), "MOBIKE", false},
	{reflect.TypeOf(ike.Connection{}), "DPDTimeout", false},
	{reflect.TypeOf(ike.Endpoint{}), "Subnets", false},
	// the local end's script runs, as in strongSwan; the remote end's is
	// there for the peer when both hosts share the file
	{reflect.TypeOf(ike.Endpoint{}), "Updown", true},
	{reflect.TypeOf(ike.Endpoint{}), "Firewall", true},
	// read from strongswan.conf only to warn that they have no effect
	// (engineView does not carry StrongswanConf's other fields either)
	{reflect.TypeOf(StrongswanConf{}), "RetransmitJitter", false},
	{reflect.TypeOf(StrongswanConf{}), "RetransmitLimit", false},
	{reflect.TypeOf(StrongswanConf{}), "InstallRoutes", false},
}

// engineView is what the daemon acts on: the engine's configuration
// without the fields it does not read (engineFieldsUnread), with the byte
// and packet margins cleared where the engine ignores them (no life limit:
// ike's childLimits) and the values it does not tell apart made one, plus
// what the daemon reads itself: config setup's charondebug (its log
// level), strongswan.conf's ports and log targets. Fields
// only shown (the VICI listing shows the local end's CA) count as read.
func engineView(l *Loaded) any {
	cfg := l.Config
	cfg.Connections = slices.Clone(cfg.Connections)
	for i := range cfg.Connections {
		c := &cfg.Connections[i]
		for _, f := range engineFieldsUnread {
			structs := []reflect.Value{reflect.ValueOf(c).Elem()}
			switch {
			case f.typ == reflect.TypeOf(StrongswanConf{}):
				continue
			case f.typ == reflect.TypeOf(ike.Endpoint{}) && f.remote:
				structs = []reflect.Value{reflect.ValueOf(&c.Remote).Elem()}
			case f.typ == reflect.TypeOf(ike.Endpoint{}):
				structs = []reflect.Value{reflect.ValueOf(&c.Local).Elem(), reflect.ValueOf(&c.Remote).Elem()}
			}
			for _, v := range structs {
				v.FieldByName(f.field).SetZero()
			}
		}
		// values the engine does not tell apart (see auditSilent)
		if c.Fragmentation == ike.FragmentationForce {
			c.Fragmentation = ike.FragmentationYes
		}
		if c.CloseAction == ike.ActionClear {
			c.CloseAction = ike.ActionNone
		}
		if c.LifeBytes == 0 {
			c.MarginBytes = 0
		}
		if c.LifePackets == 0 {
			c.MarginPackets = 0
		}
	}
	if cfg.UniqueIDs == ike.UniqueIDsReplace {
		cfg.UniqueIDs = ike.UniqueIDsYes
	}
	sw := l.Strongswan
	return struct {
		Config          ike.Config
		CharonDebug     string
		Port, PortNATT  uint16 // the daemon's sockets
		FileLog, SysLog []LogTarget
	}{cfg, l.IPsec.Setup.CharonDebug, sw.Port, sw.PortNATT, sw.FileLog, sw.SysLog}
}

// TestEngineFieldsUnread checks engineFieldsUnread against the sources of
// ike/ and internal/: a field listed there that is read (not only
// assigned) has become an effect, and must leave the list (and its
// "not implemented" warning, if any, be reviewed).
func TestEngineFieldsUnread(t *testing.T) {
	names := map[string]bool{}      // field name -> listed
	remoteOnly := map[string]bool{} // reads through .Local do not count
	for _, f := range engineFieldsUnread {
		if _, ok := f.typ.FieldByName(f.field); !ok {
			t.Errorf("%v has no field %s", f.typ, f.field)
		}
		names[f.field] = true
		remoteOnly[f.field] = f.remote
	}
	reads := map[string][]string{}
	fset := gotoken.NewFileSet()
	// not cmd/: cygnet config check prints config.Conn, whose fields share
	// these names
	for _, root := range []string{filepath.Join("..", "ike"), filepath.Join("..", "internal")} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			written := map[ast.Expr]bool{}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					for _, e := range n.Lhs {
						written[e] = true
					}
				case *ast.UnaryExpr:
					if n.Op == gotoken.AND {
						written[n.X] = true // a pointer to it is handed out to be set
					}
				}
				return true
			})
			ast.Inspect(f, func(n ast.Node) bool {
				if fn, ok := n.(*ast.FuncDecl); ok && strings.EqualFold(fn.Name.Name, "clone") {
					return false // copying a field is not using it
				}
				s, ok := n.(*ast.SelectorExpr)
				if !ok || !names[s.Sel.Name] || written[s] {
					return true
				}
				if x, ok := s.X.(*ast.SelectorExpr); ok && x.Sel.Name == "Local" && remoteOnly[s.Sel.Name] {
					return true
				}
				reads[s.Sel.Name] = append(reads[s.Sel.Name], fset.Position(s.Pos()).String())
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range engineFieldsUnread {
		if r := reads[f.field]; len(r) > 0 {
			t.Errorf("%v.%s is read now (%s): drop it from engineFieldsUnread", f.typ, f.field, strings.Join(r, ", "))
		}
	}
}

// auditCase sets key=value, with context written before it in the same
// section (in the baseline too).
type auditCase struct {
	key, value string
	context    []string
}

// auditEnd is a keyword of both ends; {addr} is the end's address.
type auditEnd struct {
	name   string
	values []string
}

func auditCases(a *audit) []auditCase {
	one := func(key string, values ...string) []auditCase {
		var out []auditCase
		for _, v := range values {
			out = append(out, auditCase{key: key, value: v})
		}
		return out
	}
	with := func(context, key, value string) auditCase {
		return auditCase{key: key, value: value, context: strings.Fields(context)}
	}
	var cs []auditCase
	add := func(c ...auditCase) { cs = append(cs, c...) }

	// config setup
	add(one("uniqueids", "no", "replace", "keep", "never")...)
	add(one("charondebug", "ike 2, knl 1")...)
	add(one("cachecrls", "yes")...)
	add(one("strictcrlpolicy", "yes", "ifuri")...)

	// ca sections (the baseline's is auto=ignore)
	add(one("ca:auto", "add", "route", "start")...)
	add(with("ca:auto=add", "cacert", a.moonCA))
	add(one("crluri", "http://crl.example.org/a.crl")...)
	add(one("crluri1", "http://crl.example.org/a.crl")...)
	add(one("crluri2", "http://crl.example.org/b.crl")...)
	add(one("ocspuri", "http://ocsp.example.org")...)
	add(one("ocspuri1", "http://ocsp.example.org")...)
	add(one("ocspuri2", "http://ocsp2.example.org")...)
	add(one("certuribase", "http://certs.example.org/")...)

	// conn
	add(one("auto", "ignore", "route", "start")...)
	add(one("keyexchange", "ikev2", "ikev1")...)
	add(one("type", "tunnel", "transport_proxy", "beet", "pass", "drop")...)
	add(one("compress", "yes")...)
	add(one("installpolicy", "no")...)
	add(one("aggressive", "yes")...)
	add(one("authby", "pubkey", "rsasig", "never")...)
	add(one("eap_identity", "carol")...)
	add(one("aaa_identity", "C=CH, CN=aaa")...)
	add(one("mobike", "no", "yes")...)
	add(one("forceencaps", "yes")...)
	add(one("fragmentation", "no", "accept", "force")...)
	add(one("ikedscp", "101110")...)
	add(one("ikelifetime", "1h")...)
	add(one("lifetime", "30m")...)
	add(one("keylife", "30m")...)
	add(one("margintime", "5m")...)
	add(one("rekeymargin", "5m")...)
	add(one("lifebytes", "1000000000")...)
	add(one("marginbytes", "1000000")...)
	add(with("lifebytes=1000000000", "marginbytes", "1000000"))
	add(one("lifepackets", "1000000")...)
	add(one("marginpackets", "1000")...)
	add(with("lifepackets=1000000", "marginpackets", "1000"))
	add(one("keyingtries", "1", "%forever")...)
	add(one("rekeyfuzz", "50%")...)
	add(one("rekey", "no")...)
	add(one("reauth", "no")...)
	add(one("ike", "aes256-sha256-modp2048", "aes128gcm16-prfsha256-ecp256!")...)
	add(one("esp", "aes128gcm16", "aes256-sha256!")...)
	add(one("ah", "sha1")...)
	add(one("dpddelay", "10s")...)
	add(with("dpdaction=restart", "dpddelay", "10s"))
	add(one("dpdtimeout", "60s")...)
	add(one("dpdaction", "clear", "hold", "restart")...)
	add(one("closeaction", "clear", "hold", "restart")...)
	add(one("sha256_96", "yes")...)
	add(one("inactivity", "5m")...)
	add(one("modeconfig", "push")...)
	add(one("xauth", "server")...)
	add(one("xauth_identity", "carol")...)
	add(one("mediation", "yes")...)
	add(one("mediated_by", "medsrv")...)
	add(one("me_peerid", "carol")...)
	add(one("reqid", "7")...)
	add(one("replay_window", "64")...)
	add(one("mark", "42", "42/0xff")...)
	add(one("mark_in", "42")...)
	add(one("mark_out", "42")...)
	add(with("mark_out=42", "mark_in", "42"))
	add(one("tfc", "%mtu", "1500")...)

	// left* and right*
	ends := []auditEnd{
		{"", []string{"%any", "192.0.2.9"}},
		{"ikeport", []string{"4500"}},
		{"subnet", []string{"{addr}/32", "%dynamic", "10.0.0.0/24", "10.9.0.0/24"}},
		{"subnetwithin", []string{"10.0.0.0/24"}},
		{"protoport", []string{"tcp/80", "udp/%any"}},
		{"sourceip", []string{"%config"}},
		{"dns", []string{"192.0.2.53"}},
		{"firewall", []string{"yes"}},
		{"hostaccess", []string{"yes"}},
		{"allowany", []string{"yes"}},
		{"updown", []string{"/usr/local/bin/updown"}},
		{"auth", []string{"pubkey", "eap-md5", "xauth"}},
		{"auth2", []string{"psk"}},
		{"id", []string{"@node.example.org"}},
		{"id2", []string{"@second.example.org"}},
		{"sigkey", []string{a.sigkey, "%cert"}},
		{"rsasigkey", []string{a.sigkey}},
		{"cert", []string{"moon.pem"}},
		{"cert2", []string{"moon.pem"}},
		{"certpolicy", []string{"1.3.6.1.4.1.36906.1.1.1"}},
		{"sendcert", []string{"always", "never"}},
		{"ca", []string{a.rootCA}},
		{"ca2", []string{a.rootCA}},
		{"groups", []string{"admins"}},
		{"groups2", []string{"admins"}},
		{"nexthop", []string{"%direct"}},
	}
	for _, side := range []struct{ name, addr string }{{"left", "10.0.0.1"}, {"right", "10.0.0.2"}} {
		for _, e := range ends {
			for _, v := range e.values {
				add(auditCase{key: side.name + e.name, value: strings.ReplaceAll(v, "{addr}", side.addr)})
			}
		}
	}
	add(one("leftsubnetwithin", "10.0.0.1")...)

	// keywords strongSwan 5.9 still knows and ignores
	for _, k := range []string{"interfaces", "dumpdir", "charonstart", "plutostart", "klipsdebug", "plutodebug",
		"prepluto", "postpluto", "plutostderrlog", "fragicmp", "packetdefault", "hidetos", "overridemtu",
		"crlcheckinterval", "nocrsend", "nat_traversal", "keep_alive", "force_keepalive", "virtual_private",
		"pkcs11module", "pkcs11initargs", "pkcs11keepstate", "pkcs11proxy", "ldaphost", "ldapbase",
		"pfs", "pfsgroup", "eap"} {
		add(auditCase{key: k, value: "yes"})
	}
	return cs
}

// audit holds the configuration directory the cases are loaded from.
type audit struct {
	dir            string
	sigkey         string // a public key as leftsigkey writes it
	rootCA, moonCA string // certificate files outside ipsec.d/cacerts
}

func newAudit(t *testing.T) *audit {
	a := &audit{dir: t.TempDir()}
	_, caDER := pki.ca(t)
	_, moonDER := pki.host(t, "moon")
	a.rootCA = filepath.Join(a.dir, "ca-section", "root.pem")
	a.moonCA = filepath.Join(a.dir, "ca-section", "moon.pem")
	writePEM(t, a.rootCA, "CERTIFICATE", caDER, 0o644)
	writePEM(t, a.moonCA, "CERTIFICATE", moonDER, 0o644)
	writePEM(t, filepath.Join(a.dir, "ipsec.d", "certs", "moon.pem"), "CERTIFICATE", moonDER, 0o644)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	a.sigkey = "0s" + base64.StdEncoding.EncodeToString(spki)
	writeFile(t, filepath.Join(a.dir, "ipsec.secrets"), ": PSK \"a long enough audit secret, not a real one\"\n", 0o600)
	return a
}

type auditResult struct {
	l       *Loaded
	diags   auditDiags
	line    int         // where the case's keyword was written
	section SectionKind // of the case's keyword
}

type auditDiags Diagnostics

func (ds auditDiags) atLeast(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity >= s {
			out = append(out, d)
		}
	}
	return out
}

func (ds auditDiags) Errors() Diagnostics { return Diagnostics(ds).Errors() }

func (ds auditDiags) has(d Diagnostic) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// load writes the baseline with context and key=value added to the
// section key belongs in (context starting with "ca:" puts the case in the
// ca section), and loads it.
func (a *audit) load(t *testing.T, context []string, key, value string) auditResult {
	t.Helper()
	type kv struct{ k, v string }
	setup := []kv{}
	ca := []kv{{"cacert", a.rootCA}}
	conn := []kv{{"type", "transport"}, {"authby", "psk"}, {"left", "10.0.0.1"}, {"right", "10.0.0.2"}, {"auto", "add"}}
	var kind SectionKind
	sectionOf := func(k string) (SectionKind, *[]kv) {
		switch {
		case strings.HasPrefix(k, "ca:"):
			return SectionCA, &ca
		case lookupOK(k, SectionSetup):
			return SectionSetup, &setup
		case lookupOK(k, SectionConn):
			return SectionConn, &conn
		case lookupOK(k, SectionCA):
			return SectionCA, &ca
		}
		t.Fatalf("%s: no section takes this keyword", k)
		return 0, nil
	}
	set := func(k, v string) {
		_, list := sectionOf(k)
		k = strings.TrimPrefix(k, "ca:")
		for i := range *list {
			if (*list)[i].k == k {
				(*list)[i].v = v
				return
			}
		}
		*list = append(*list, kv{k, v})
	}
	for _, c := range context {
		k, v, _ := strings.Cut(c, "=")
		set(k, v)
	}
	if key != "" {
		kind, _ = sectionOf(key)
		set(key, value)
		key = strings.TrimPrefix(key, "ca:")
	}
	var b strings.Builder
	lineNo, line := 0, 0
	write := func(header string, list []kv, k SectionKind) {
		b.WriteString(header + "\n")
		lineNo++
		for _, s := range list {
			fmt.Fprintf(&b, "\t%s=%s\n", s.k, quoteIfSpaced(s.v))
			lineNo++
			if k == kind && s.k == key {
				line = lineNo
			}
		}
		b.WriteString("\n")
		lineNo++
	}
	write("config setup", setup, SectionSetup)
	write("ca other", ca, SectionCA)
	write("conn audit", conn, SectionConn)
	if err := os.WriteFile(filepath.Join(a.dir, "ipsec.conf"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	l, ds := Load(LayoutAt(a.dir), &Options{LocalAddrs: localIs("10.0.0.1"), Now: func() time.Time { return fixedNow }})
	return auditResult{l: l, diags: auditDiags(ds), line: line, section: kind}
}

func lookupOK(k string, kind SectionKind) bool {
	_, _, ok := lookupKeyword(k, kind)
	return ok
}

// canonicalKey is the canonical spelling diagnostics may use for key.
func canonicalKey(key string, kind SectionKind) string {
	k, side, ok := lookupKeyword(key, kind)
	if !ok {
		return key
	}
	return k.canonical(side)
}

func quoteIfSpaced(v string) string {
	if strings.ContainsAny(v, " \t,=") && !strings.HasPrefix(v, "\"") {
		return "\"" + v + "\""
	}
	return v
}

// keywordDocPath is the users' copy of the audit: what cygnet does with
// each ipsec.conf keyword strongSwan 5.9 accepts. TestKeywordAudit keeps
// it in step (go test -update ./config/ rewrites it).
const keywordDocPath = "../docs/ipsec-conf-keywords.md"

type keywordDoc struct{ rows strings.Builder }

func (d *keywordDoc) row(key, value, outcome, message string) {
	if strings.HasPrefix(value, "0s") && len(value) > 40 {
		value = "0s<base64 public key>" // generated per run
	}
	// For a refused conn "applied" only means it is gone.
	what := map[string]string{"applied+refused": "refused", "applied+warned": "applied, warned"}[outcome]
	if what == "" {
		what = outcome
	}
	if message != "" && !strings.HasPrefix(outcome, "silent") {
		what += ": " + message
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	fmt.Fprintf(&d.rows, "| `%s` | `%s` | %s |\n", cell(key), cell(value), cell(what))
}

func (d *keywordDoc) check(t *testing.T, summary string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# ipsec.conf keywords: what cygnet does with each\n\n")
	b.WriteString("Generated by `TestKeywordAudit` (config/audit_test.go; `go test -update ./config/` rewrites this file,\n")
	b.WriteString("and the test fails while it is out of date). Every keyword strongSwan 5.9 accepts in ipsec.conf is set, alone,\n")
	b.WriteString("to the value shown in a minimal transport-mode PSK conn (or in config setup / a ca section), and the\n")
	b.WriteString("outcome is what cygnet did with it:\n\n")
	b.WriteString("- **applied**: the configuration the daemon runs on changed;\n")
	b.WriteString("- **warned**: loaded, with a warning naming file:line and the keyword (the text follows);\n")
	b.WriteString("- **refused**: the conn is not loaded (the other conns are), with an error naming file:line;\n")
	b.WriteString("- **silent, allowed**: the value changes nothing cygnet does, for the reason given.\n\n")
	b.WriteString("A keyword the test finds accepted without effect and without a diagnostic fails it.\n\n")
	b.WriteString("Cases: " + summary + ".\n\n")
	b.WriteString("| keyword | value | cygnet |\n|---|---|---|\n")
	b.WriteString(d.rows.String())
	got := b.String()
	if *update {
		if err := os.WriteFile(keywordDocPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(keywordDocPath)
	if err != nil {
		t.Fatalf("%v (go test -update ./config/ writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date (go test -update ./config/ rewrites it; review the diff):\n%s", keywordDocPath, lineDiff(string(want), got))
	}
}

// diagMessage is the text of the diagnostic that names the case's keyword
// at its line, the most severe first.
func diagMessage(got auditResult, names ...string) string {
	msg := ""
	for _, d := range got.diags.atLeast(Warning) {
		if slices.Contains(names, d.Keyword) && d.Line == got.line {
			if d.Severity == Error {
				return d.Message
			}
			if msg == "" {
				msg = d.Message
			}
		}
	}
	return msg
}
