package config

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// wantDiag asserts that ds holds a diagnostic of severity sev at file:line
// whose keyword is kw (when not empty) and whose message contains substr.
func wantDiag(t *testing.T, ds Diagnostics, sev Severity, file string, line int, kw, substr string) {
	t.Helper()
	for _, d := range ds {
		if d.Severity == sev && filepath.Base(d.File) == filepath.Base(file) && d.Line == line &&
			(kw == "" || d.Keyword == kw) && strings.Contains(d.Message, substr) {
			return
		}
	}
	t.Errorf("no %v at %s:%d (keyword %q) containing %q; got:\n%s", sev, file, line, kw, substr, listDiags(ds))
}

func listDiags(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

// parseConf parses and interprets ipsec.conf text.
func parseConf(t *testing.T, text string) (*IPsecConf, Diagnostics) {
	t.Helper()
	raw, ds := ParseIPsecConf("ipsec.conf", []byte(text))
	cfg, ds2 := Interpret(raw)
	return cfg, append(ds, ds2...)
}

func TestMalformedIPsecConf(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		kw, msg    string
	}{
		{"unterminated quote", "conn a\n\ttype=transport\n\tleftid=\"C=CH, O=x\n\tauto=add\n", 3, "", "unterminated string"},
		{"unknown section", "config setup\n\nconnection a\n\tleft=1.2.3.4\n", 3, "", `unknown section type "connection"`},
		{"unknown keyword", "conn a\n\ttype=transport\n\tleftfoo=bar\n", 3, "leftfoo", "unknown keyword"},
		{"keyword of another section", "conn a\n\ttype=transport\n\tuniqueids=no\n", 3, "uniqueids", "config setup section"},
		{"bad proposal token", "conn a\n\ttype=transport\n\tesp=aes256gcm16-ecp384-foo\n", 3, "esp", `unknown algorithm "foo"`},
		{"unsupported proposal token", "conn a\n\ttype=transport\n\tike=3des-md5-modp1024!\n", 3, "ike", `"md5"`},
		{"AEAD and classic cipher", "conn a\n\ttype=transport\n\tesp=aes128gcm16-aes128-sha256\n", 3, "esp", "mixes AEAD (aes128gcm16) and classic (aes128) ciphers"},
		{"IKE without DH", "conn a\n\ttype=transport\n\tike=aes128gcm16-prfsha256\n", 3, "ike", "no key exchange method"},
		{"setting not indented", "conn a\nleft=1.2.3.4\n", 2, "", "must be indented"},
		{"missing value", "conn a\n\tleft\n", 2, "", "missing value"},
		{"section name missing", "conn\n\tleft=1.2.3.4\n", 1, "", "section name missing"},
		{"bad duration", "conn a\n\ttype=transport\n\tlifetime=1w\n", 3, "lifetime", "bad duration"},
		{"bad bool", "conn a\n\ttype=transport\n\tmobike=maybe\n", 3, "mobike", "want yes or no"},
		{"bad auto", "conn a\n\ttype=transport\n\tauto=now\n", 3, "auto", "want one of ignore, add, route, start"},
		{"bad protoport", "conn a\n\ttype=transport\n\tleftprotoport=tcp/99999\n", 3, "leftprotoport", "bad port"},
		{"bad id", "conn a\n\ttype=transport\n\trightid=\"C=CH, X=y\"\n", 3, "rightid", "bad identity"},
		{"bad host", "conn a\n\ttype=transport\n\tleft=not a host\n", 3, "left", "bad host"},
		{"tunnel by default", "conn a\n\tleft=1.2.3.4\n\tauto=add\n", 1, "type", "strongSwan's default is tunnel mode"},
		{"explicit tunnel", "conn a\n\ttype=tunnel\n\tauto=route\n", 2, "type", "tunnel mode is not supported"},
		{"auto=ignore template", "conn a\n\ttype=tunnel\n\tauto=ignore\n\tfoo=1\n", 4, "foo", "unknown keyword"},
		{"type=drop", "conn a\n\ttype=drop\n", 2, "type", "type=drop"},
		{"type=reject is drop", "conn a\n\ttype=reject\n", 2, "type", "type=drop"},
		{"type=pass", "conn a\n\ttype=passthrough\n", 2, "type", "type=pass"},
		{"ikev1", "conn a\n\ttype=transport\n\tkeyexchange=ikev1\n", 3, "keyexchange", "IKEv1 is not supported"},
		{"eap", "conn a\n\ttype=transport\n\trightauth=eap-mschapv2\n", 3, "rightauth", "EAP"},
		{"xauth", "conn a\n\ttype=transport\n\tauthby=xauthpsk\n", 3, "authby", "XAUTH"},
		{"sourceip", "conn a\n\ttype=transport\n\trightsourceip=%config\n", 3, "rightsourceip", "virtual IPs"},
		{"pool", "conn a\n\ttype=transport\n\trightsourceip=10.3.0.0/24\n", 3, "rightsourceip", "pools"},
		{"subnet in transport", "conn a\n\ttype=transport\n\tleft=10.0.0.1\n\tleftsubnet=10.9.0.0/24\n", 4, "leftsubnet", "in transport mode does not contain left=10.0.0.1"},
		{"ah", "conn a\n\ttype=transport\n\tah=sha256\n", 3, "ah", "AH is not supported"},
		{"second auth round", "conn a\n\ttype=transport\n\tleftauth2=psk\n", 3, "leftauth2", "second authentication round"},
		{"groups", "conn a\n\ttype=transport\n\trightgroups=admins\n", 3, "rightgroups", "group membership"},
		{"also loop", "conn a\n\ttype=transport\n\talso=b\nconn b\n\talso=a\n", 5, "also", "also= loop"},
		{"also missing", "conn a\n\ttype=transport\n\talso=nothere\n", 3, "also", `"nothere" not found`},
		{"strictcrlpolicy", "config setup\n\tstrictcrlpolicy=yes\n", 2, "strictcrlpolicy", "not supported"},
		{"different marks", "conn a\n\ttype=transport\n\tmark_in=1\n\tmark_out=2\n", 3, "mark_in", "different inbound and outbound"},
		{"tfc", "conn a\n\ttype=transport\n\ttfc=%mtu\n", 3, "tfc", "not supported"},
		{"firewall and updown", "conn a\n\ttype=transport\n\tleftfirewall=yes\n\tleftupdown=/bin/true\n", 3, "leftfirewall", "cannot have both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// auto=add: only loaded conns turn unsupported features into errors
			cfg, ds := parseConf(t, tt.text+"conn %default\n\tauto=add\n")
			wantDiag(t, ds, Error, "ipsec.conf", tt.line, tt.kw, tt.msg)
			for _, c := range cfg.Conns {
				if c.Valid && c.Name == "a" && tt.kw != "" && tt.kw != "uniqueids" && tt.kw != "strictcrlpolicy" {
					t.Errorf("conn a is valid despite the error")
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		kw, msg    string
	}{
		{"dpdtimeout", "conn a\n\ttype=transport\n\tdpdtimeout=60s\n", 3, "dpdtimeout", "IKEv1 only"},
		{"deprecated", "conn a\n\ttype=transport\n\tpfs=yes\n", 3, "pfs", "deprecated"},
		{"deprecated setup", "config setup\n\tplutostart=no\n", 2, "plutostart", "deprecated"},
		{"alias twice", "conn a\n\ttype=transport\n\tkeylife=1h\n\tlifetime=2h\n", 4, "lifetime", "also set at ipsec.conf:3"},
		{"compress", "conn a\n\ttype=transport\n\tcompress=yes\n", 3, "compress", "IPComp"},
		{"rsasig constraint", "conn a\n\ttype=transport\n\tauthby=rsasig\n", 3, "authby", "not enforced"},
		{"wildcard id", "conn a\n\ttype=transport\n\trightid=\"C=CH, O=strongSwan, CN=*\"\n", 3, "rightid", "wildcards"},
		{"margin", "conn a\n\ttype=transport\n\tlifetime=5m\n\tmargintime=10m\n", 4, "margintime", "not below lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := parseConf(t, tt.text)
			wantDiag(t, ds, Warning, "ipsec.conf", tt.line, tt.kw, tt.msg)
			if ds.HasErrors() {
				t.Errorf("unexpected errors:\n%s", listDiags(ds))
			}
			if len(cfg.Conns) > 0 && !cfg.Conns[0].Valid {
				t.Errorf("a warning made the conn invalid")
			}
		})
	}
}

func TestGrammar(t *testing.T) {
	text := `# comment
version 2

config setup
	uniqueids = never   # spaces around '=' and a trailing comment
	charondebug="ike 2, knl 1"

conn %default
	ikelifetime=60m
	keylife=20m
	rekeymargin=3m
	keyingtries=%forever
	leftfirewall=yes
	esp=aes128gcm16-ecp256

conn base
	type=transport
	leftid="C=CH, O=strongSwan Project, CN=moon.strongswan.org"
	rightid=@sun.strongswan.org

conn child
	also=base
	left=192.168.0.1
	right=192.168.0.2
	keylife=
	leftfirewall=
	auto=start
	rightprotoport=udp/l2tp
	leftprotoport=17/%any

conn child
	dpdaction=restart
	lifebytes=1000000000
	marginpackets=1000
	replay_window=1024
	mark=0x10/0xff
	leftupdown="/usr/local/bin/my updown"
`
	cfg, ds := parseConf(t, text)
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	if cfg.Setup.UniqueIDs != "never" || cfg.Setup.UniqueIDPolicy() != ike.UniqueIDsNever {
		t.Errorf("uniqueids = %q", cfg.Setup.UniqueIDs)
	}
	if cfg.Setup.CharonDebug != "ike 2, knl 1" {
		t.Errorf("charondebug = %q", cfg.Setup.CharonDebug)
	}
	if len(cfg.Conns) != 2 {
		t.Fatalf("conns: %d", len(cfg.Conns))
	}
	c := cfg.Conn("child")
	checks := []struct {
		name      string
		got, want any
	}{
		{"type", c.Type, "transport"},
		{"mode", c.Mode(), ike.ModeTransport},
		{"auto", c.AutoAction(), ike.AutoStart},
		{"ikelifetime from %default", c.IKELifetime, time.Hour},
		{"keylife= clears to the default", c.Lifetime, DefaultLifetime},
		{"rekeymargin alias", c.MarginTime, 3 * time.Minute},
		{"keyingtries %forever", c.KeyingTries, 0},
		{"leftfirewall= clears", c.Left.Firewall, false},
		{"leftid quoted DN", c.Left.ID, "C=CH, O=strongSwan Project, CN=moon.strongswan.org"},
		{"rightid via also", c.Right.ID, "@sun.strongswan.org"},
		{"rightprotoport", c.Right.ProtoPort, ike.TrafficSelector{Protocol: 17, StartPort: 1701, EndPort: 1701}},
		{"leftprotoport", c.Left.ProtoPort, ike.TrafficSelector{Protocol: 17, StartPort: 0, EndPort: 65535}},
		{"reopened section", c.DPDAction, "restart"},
		{"lifebytes", c.LifeBytes, uint64(1000000000)},
		{"marginpackets", c.MarginPackets, uint64(1000)},
		{"replay_window", c.ReplayWindow, int64(1024)},
		{"mark", c.MarkIn, Mark{Value: 0x10, Mask: 0xff}},
		{"quoted updown", c.Left.Updown, "/usr/local/bin/my updown"},
		{"esp from %default", formatProposals(c.ESP, c.ESPStrict), "aes128gcm16-ecp256"},
		{"mobike default", c.MOBIKE, true},
		{"reauth default", c.Reauth, true},
		{"fragmentation default", c.Fragmentation, "yes"},
		{"dpddelay default", c.DPDDelay, 30 * time.Second},
		{"dpdtimeout default", c.DPDTimeout, 150 * time.Second},
		{"rekeyfuzz default", c.RekeyFuzz, 100},
		{"keyexchange default", c.KeyExchange, "ike"},
		{"position of keylife=", c.PosOf("leftprotoport").Line, 29},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if b := cfg.Conn("base"); b.KeyingTries != 0 || b.Lifetime != 20*time.Minute {
		t.Errorf("base did not inherit %%default: %+v", b)
	}
	checkRoundTrip(t, cfg)
}

// TestAliasOrder pins a strongSwan quirk: a conn's own keys are applied
// first and the inherited ones after, so an alias set in %default wins over
// the other spelling in the conn.
func TestAliasOrder(t *testing.T) {
	cfg, ds := parseConf(t, "conn %default\n\tkeylife=20m\nconn a\n\ttype=transport\n\tlifetime=1h\n")
	if got := cfg.Conn("a").Lifetime; got != 20*time.Minute {
		t.Errorf("lifetime = %v, want 20m as strongSwan applies it", got)
	}
	wantDiag(t, ds, Warning, "ipsec.conf", 2, "keylife", "also set at ipsec.conf:5")
}

func TestAlsoLinearisation(t *testing.T) {
	// The most recent also= wins; a parent's parents follow it; %default
	// comes last.
	text := "conn %default\n\tkeyingtries=7\n\tmobike=no\n" +
		"conn p1\n\tkeyingtries=1\n\treqid=1\n" +
		"conn p2\n\tkeyingtries=2\n\talso=gp\n" +
		"conn gp\n\treqid=9\n\tmobike=yes\n" +
		"conn c\n\ttype=transport\n\talso=p1\n\talso=p2\n"
	cfg, ds := parseConf(t, text)
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	c := cfg.Conn("c")
	if c.KeyingTries != 2 || c.ReqID != 9 || !c.MOBIKE {
		t.Errorf("keyingtries=%d reqid=%d mobike=%v; want 2, 9 (from gp via p2), yes", c.KeyingTries, c.ReqID, c.MOBIKE)
	}
}

func TestIncludes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ipsec.conf"), "config setup\n\ninclude conns/*.conf\ninclude conns/missing-*.conf\n", 0o644)
	writeFile(t, filepath.Join(dir, "conns", "a.conf"), "conn a\n\ttype=transport\n\tleft=10.0.0.1\n", 0o644)
	writeFile(t, filepath.Join(dir, "conns", "b.conf"), "# b\nconn b\n\ttype=transport\n\tfoo=1\n", 0o644)
	raw, ds := ParseIPsecConfFile(filepath.Join(dir, "ipsec.conf"))
	cfg, ds2 := Interpret(raw)
	ds = append(ds, ds2...)
	if len(cfg.Conns) != 2 || cfg.Conns[0].Name != "a" || cfg.Conn("a").Left.Host != "10.0.0.1" {
		t.Fatalf("conns from includes: %+v", cfg.Conns)
	}
	wantDiag(t, ds, Error, "b.conf", 4, "foo", "unknown keyword")
	wantDiag(t, ds, Info, "ipsec.conf", 4, "include", "matches no files")

	// a loop
	writeFile(t, filepath.Join(dir, "loop1.conf"), "conn x\n\ttype=transport\ninclude loop2.conf\n", 0o644)
	writeFile(t, filepath.Join(dir, "loop2.conf"), "\ninclude loop1.conf\n", 0o644)
	_, ds = ParseIPsecConfFile(filepath.Join(dir, "loop1.conf"))
	wantDiag(t, ds, Error, "loop2.conf", 2, "include", "include loop")

	// a missing file
	writeFile(t, filepath.Join(dir, "missing.conf"), "conn x\n\ttype=transport\n\ninclude /nonexistent/ipsec.extra.conf\n", 0o644)
	_, ds = ParseIPsecConfFile(filepath.Join(dir, "missing.conf"))
	wantDiag(t, ds, Error, "missing.conf", 4, "include", "not found")

	// Debian's generated include may be absent: strongSwan ignores it
	writeFile(t, filepath.Join(dir, "debian.conf"), "conn x\n\ttype=transport\n\ninclude /var/lib/strongswan/ipsec.conf.inc\n", 0o644)
	_, ds = ParseIPsecConfFile(filepath.Join(dir, "debian.conf"))
	if ds.HasErrors() {
		t.Errorf("missing /var/lib/strongswan include: %v", ds)
	}

	// a file that is a directory
	_, ds = ParseIPsecConfFile(dir)
	if !ds.HasErrors() || ds[0].File != dir {
		t.Errorf("reading a directory: %v", ds)
	}
}

func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		b := make([]byte, r.IntN(4096))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		raw, ds := ParseIPsecConf("garbage.conf", b)
		_, ds2 := Interpret(raw)
		for _, d := range append(ds, ds2...) {
			if d.Severity == Error && (d.File != "garbage.conf" || d.Line < 1) {
				t.Fatalf("error without file:line: %v", d)
			}
		}
	}
	// A NUL byte and binary data in an otherwise good file.
	_, ds := parseConf(t, "conn a\n\ttype=transport\n\tleft=\x00\x01\xff\n")
	wantDiag(t, ds, Error, "ipsec.conf", 3, "left", "bad host")
}

func TestLargeFile(t *testing.T) {
	// 10 MB: a good file and garbage must both be read in bounded time.
	var good bytes.Buffer
	for i := 0; good.Len() < 10<<20; i++ {
		good.WriteString("conn c")
		good.WriteString(strings.Repeat("x", i%7))
		good.WriteString("\n\ttype=transport\n\tleft=10.0.0.1\n\tright=10.0.0.2\n\tauto=add\n\tesp=aes256gcm16\n")
	}
	start := time.Now()
	raw, ds := ParseIPsecConf("big.conf", good.Bytes())
	cfg, ds2 := Interpret(raw)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("10 MB took %v", d)
	}
	if ds.HasErrors() || ds2.HasErrors() || len(cfg.Conns) != 7 {
		t.Errorf("big good file: %d conns, errors %v %v", len(cfg.Conns), ds.Errors(), ds2.Errors())
	}

	bad := bytes.Repeat([]byte("\tunknown=1\n"), (10<<20)/11)
	bad = append([]byte("conn a\n"), bad...)
	start = time.Now()
	raw, ds = ParseIPsecConf("bad.conf", bad)
	_, ds2 = Interpret(raw)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("10 MB of errors took %v", d)
	}
	all := append(ds, ds2...)
	if !all.HasErrors() || len(all) > 2*maxDiagnostics {
		t.Errorf("10 MB of errors: %d diagnostics", len(all))
	}
	// strongSwan applies the last of repeated keys, so that is the one
	// reported
	wantDiag(t, all, Error, "bad.conf", 1+(10<<20)/11, "unknown", "unknown keyword")

	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.conf")
	if err := os.WriteFile(huge, make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ds = ParseIPsecConfFile(huge)
	wantDiag(t, ds, Error, "huge.conf", 0, "", "larger than")
}

func TestProposals(t *testing.T) {
	aes := func(bits int) ike.Encr { return ike.Encr{ID: message.EncrAESGCM16, KeyBits: bits} }
	tests := []struct {
		in     string
		kind   ProposalKind
		strict bool
		want   []ike.Proposal
	}{
		{"aes256gcm16-prfsha384-ecp384", ProposalIKE, false, []ike.Proposal{{Encr: []ike.Encr{aes(256)}, PRF: []message.PRFID{message.PRFHMACSHA2384}, DH: []message.DHGroup{message.DHECP384}}}},
		{"aes128gcm16-prfsha256-x25519!", ProposalIKE, true, []ike.Proposal{{Encr: []ike.Encr{aes(128)}, PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHCurve25519}}}},
		// strongSwan derives the PRF from the integrity algorithm
		{"aes256-sha256-modp2048", ProposalIKE, false, []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESCBC, KeyBits: 256}}, Integ: []message.IntegID{message.IntegHMACSHA2256128}, PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHMODP2048}}}},
		{"aes256gcm16-aes128gcm128-esn-noesn,aes128-sha256-ecp521", ProposalESP, false, []ike.Proposal{
			{Encr: []ike.Encr{aes(256), aes(128)}, ESN: []message.ESNID{message.ESNYes, message.ESNNo}},
			{Encr: []ike.Encr{{ID: message.EncrAESCBC, KeyBits: 128}}, Integ: []message.IntegID{message.IntegHMACSHA2256128}, DH: []message.DHGroup{message.DHECP521}},
		}},
		// strongSwan drops integrity algorithms given with an AEAD cipher
		{"aes256gcm16-sha512-prfsha512-curve25519", ProposalIKE, false, []ike.Proposal{{Encr: []ike.Encr{aes(256)}, PRF: []message.PRFID{message.PRFHMACSHA2512}, DH: []message.DHGroup{message.DHCurve25519}}}},
		{"aes256gcm16-aes256-sha256-modp2048", ProposalIKE, false, nil},
	}
	for _, tt := range tests {
		got, strict, err := ParseProposals(tt.in, tt.kind)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if strict != tt.strict || len(got) != len(tt.want) {
			t.Errorf("%s: strict %v, %d proposals", tt.in, strict, len(got))
			continue
		}
		for i := range got {
			if FormatProposal(got[i]) != FormatProposal(tt.want[i]) {
				t.Errorf("%s: proposal %d = %s, want %s", tt.in, i, FormatProposal(got[i]), FormatProposal(tt.want[i]))
			}
			back, _, err := ParseProposals(FormatProposal(got[i]), tt.kind)
			if err != nil || FormatProposal(back[0]) != FormatProposal(got[i]) {
				t.Errorf("%s: format/parse round trip: %v", tt.in, err)
			}
		}
	}
	for _, bad := range []string{"", "!", "aes256gcm16,", "aes256gcm16--ecp256", "aes256gcm16-prfsha256-ecp256-esn", "des-md5-modp768"} {
		if _, _, err := ParseProposals(bad, ProposalIKE); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, _, err := ParseProposals("aes128gcm16-prfsha256", ProposalESP); err == nil || !strings.Contains(err.Error(), "PRF") {
		t.Errorf("PRF in ESP: %v", err)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "90": 90 * time.Second, "90s": 90 * time.Second, "20m": 20 * time.Minute, "3h": 3 * time.Hour, "1d": 24 * time.Hour} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
		if back, _ := parseDuration(formatDuration(got)); back != got {
			t.Errorf("%s: format %s", in, formatDuration(got))
		}
	}
	for _, bad := range []string{"", "m", "-1", "+5", "1.5h", "1w", "5 m", "99999999999"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
