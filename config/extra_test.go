package config

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func TestProtoPort(t *testing.T) {
	tests := []struct {
		in   string
		want ike.TrafficSelector
	}{
		{"tcp/80", ike.TrafficSelector{Protocol: 6, StartPort: 80, EndPort: 80}},
		{"17/%any", ike.TrafficSelector{Protocol: 17, StartPort: 0, EndPort: 65535}},
		{"udp/1701", ike.TrafficSelector{Protocol: 17, StartPort: 1701, EndPort: 1701}},
		{"udp/l2tp", ike.TrafficSelector{Protocol: 17, StartPort: 1701, EndPort: 1701}},
		{"tcp/ssh", ike.TrafficSelector{Protocol: 6, StartPort: 22, EndPort: 22}},
		{"icmp", ike.TrafficSelector{Protocol: 1, StartPort: 0, EndPort: 65535}},
		{"%any/53", ike.TrafficSelector{Protocol: 0, StartPort: 53, EndPort: 53}},
		{"tcp/8000-8080", ike.TrafficSelector{Protocol: 6, StartPort: 8000, EndPort: 8080}},
		{"udp/%opaque", ike.TrafficSelector{Protocol: 17, StartPort: 65535, EndPort: 0}},
		{"0x32", ike.TrafficSelector{Protocol: 50, StartPort: 0, EndPort: 65535}},
	}
	for _, tt := range tests {
		got, err := parseProtoPort(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v", tt.in, got, err)
			continue
		}
		if back, err := parseProtoPort(formatProtoPort(got)); err != nil || back != got {
			t.Errorf("%s: written as %s, read back %+v %v", tt.in, formatProtoPort(got), back, err)
		}
	}
	for _, bad := range []string{"tcp/65536", "256", "foo", "tcp/80-70", "tcp/x-y", "tcp/-1"} {
		if _, err := parseProtoPort(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestTemplateConn: a conn that is only a base for also= keeps strongSwan's
// default (tunnel) and auto=ignore; that is a warning, and the conn is not
// loaded.
func TestTemplateConn(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ipsec.conf"), "conn base\n\tleft=10.0.0.1\n\tauthby=secret\n\nconn real\n\talso=base\n\ttype=transport\n\tright=10.0.0.2\n\tauto=add\n", 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), ": PSK \"a long enough test secret only\"\n", 0o600)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.0.0.1")})
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	wantDiag(t, ds, Warning, "ipsec.conf", 1, "type", "auto=ignore: not loaded")
	if len(l.Config.Connections) != 1 || l.Config.Connections[0].Name != "real" || l.Config.Connections[0].Mode != ike.ModeTransport {
		t.Errorf("connections: %+v", l.Config.Connections)
	}
}

func TestCASectionsAndCRLs(t *testing.T) {
	dir := t.TempDir()
	ca, caDER := pki.ca(t)
	writePEM(t, filepath.Join(dir, "ipsec.d", "cacerts", "root.pem"), "CERTIFICATE", caDER, 0o644)
	writePEM(t, filepath.Join(dir, "elsewhere", "other.pem"), "CERTIFICATE", caDER, 0o644)
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: fixedNow,
		NextUpdate: fixedNow.Add(24 * time.Hour),
	}, ca, pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ipsec.d", "crls", "root.crl"), "X509 CRL", crlDER, 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.d", "crls", "junk.crl"), "not a crl", 0o644)
	conf := "ca %default\n\tauto=add\n\nca root\n\tcacert=root.pem\n\tcrluri=http://crl.example.org/root.crl\n\n" +
		"ca other\n\tcacert=" + filepath.Join(dir, "elsewhere", "other.pem") + "\n\nca broken\n\tcacert=missing.pem\n\nca empty\n\tauto=add\n"
	writeFile(t, filepath.Join(dir, "ipsec.conf"), conf, 0o644)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: noAddrs})
	if len(l.IPsec.CAs) != 4 {
		t.Fatalf("%d ca sections", len(l.IPsec.CAs))
	}
	if l.IPsec.CAs[0].Auto != "add" {
		t.Errorf("ca %%default not inherited: %+v", l.IPsec.CAs[0])
	}
	wantDiag(t, ds, Warning, "ipsec.conf", 6, "crluri", "does not fetch CRLs")
	wantDiag(t, ds, Error, "ipsec.conf", 12, "cacert", "cannot read certificate")
	wantDiag(t, ds, Error, "ipsec.conf", 14, "cacert", "without cacert=")
	wantDiag(t, ds, Warning, "junk.crl", 0, "", "not loaded")
	cr := l.Config.Credentials
	if len(cr.CACerts) != 1 || len(cr.CRLs) != 1 {
		t.Errorf("%d CA certs (the same one three times is kept once), %d CRLs", len(cr.CACerts), len(cr.CRLs))
	}
	checkRoundTrip(t, l.IPsec)
}

func TestChanges(t *testing.T) {
	old, _ := parseConf(t, "conn a\n\ttype=transport\nconn b\n\ttype=transport\n\tauto=add\nconn c\n\ttype=transport\n")
	cur, _ := parseConf(t, "# moved down a line\n\nconn b\n\ttype=transport\n\tauto=start\nconn a\n\ttype=transport\nconn d\n\ttype=transport\n")
	added, removed, changed := Changes(old, cur)
	if len(added) != 1 || added[0] != "d" || len(removed) != 1 || removed[0] != "c" || len(changed) != 1 || changed[0] != "b" {
		t.Errorf("added %v removed %v changed %v", added, removed, changed)
	}
}

func TestQuotedKeyFile(t *testing.T) {
	dir := t.TempDir()
	key, _ := pki.host(t, "sun")
	writePEM(t, filepath.Join(dir, "ipsec.d", "private", "sun key.pem"), "PRIVATE KEY", marshalKey(t, key), 0o600)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), ": RSA \"sun key.pem\" # a comment\n", 0o600)
	writeFile(t, filepath.Join(dir, "ipsec.conf"), "config setup\n", 0o644)
	l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: noAddrs})
	if ds.HasErrors() || len(l.Config.Credentials.PrivateKeys) != 1 {
		t.Errorf("quoted key file: %d keys\n%s", len(l.Config.Credentials.PrivateKeys), listDiags(ds))
	}
}

func TestUnreadableSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ipsec.secrets")
	writeFile(t, p, ": PSK \"x\"\n", 0o000)
	restore := asNobody(t, dir) // as root, the file's mode would not stop the read
	_, ds := ParseSecretsFile(p, dir)
	restore()
	wantDiag(t, ds, Error, "ipsec.secrets", 0, "", "permission denied")
}

// keywords59 lists every keyword strongSwan 5.9 accepts in ipsec.conf
// (src/starter/keywords.txt of strongSwan 5.9.14), deprecated ones
// included. Each must be known by name, none reported as unknown.
var keywords59 = strings.Fields(`charondebug uniqueids cachecrls strictcrlpolicy keyexchange type compress installpolicy aggressive
authby eap_identity aaa_identity mobike forceencaps fragmentation ikedscp ikelifetime lifetime
keylife rekeymargin margintime lifebytes marginbytes lifepackets marginpackets keyingtries
rekeyfuzz rekey reauth ike esp ah dpddelay dpdtimeout dpdaction closeaction sha256_96 inactivity
modeconfig xauth xauth_identity mediation mediated_by me_peerid reqid replay_window mark mark_in
mark_out tfc cacert crluri crluri1 crluri2 ocspuri ocspuri1 ocspuri2 certuribase left leftikeport
leftsubnet leftsubnetwithin leftprotoport leftsourceip leftdns leftfirewall lefthostaccess
leftallowany leftupdown leftauth leftauth2 leftid leftid2 leftsigkey leftrsasigkey leftcert
leftcert2 leftcertpolicy leftsendcert leftca leftca2 leftgroups leftgroups2 right rightikeport
rightsubnet rightsubnetwithin rightprotoport rightsourceip rightdns rightfirewall righthostaccess
rightallowany rightupdown rightauth rightauth2 rightid rightid2 rightsigkey rightrsasigkey
rightcert rightcert2 rightcertpolicy rightsendcert rightca rightca2 rightgroups rightgroups2
auto interfaces dumpdir charonstart plutostart klipsdebug plutodebug prepluto postpluto
plutostderrlog fragicmp packetdefault hidetos overridemtu crlcheckinterval nocrsend nat_traversal
keep_alive force_keepalive virtual_private pkcs11module pkcs11initargs pkcs11keepstate pkcs11proxy
ldaphost ldapbase pfs pfsgroup eap leftnexthop rightnexthop`)

func TestAllKeywordsKnown(t *testing.T) {
	for _, k := range keywords59 {
		if k == "also" {
			continue // handled by the parser
		}
		found := false
		for _, kind := range []SectionKind{SectionSetup, SectionConn, SectionCA} {
			if _, _, ok := lookupKeyword(k, kind); ok {
				found = true
			}
		}
		if !found {
			t.Errorf("strongSwan 5.9 keyword %q is unknown", k)
		}
	}
	// aliases resolve to one canonical keyword
	for alias, canon := range map[string]string{"keylife": "lifetime", "rekeymargin": "margintime", "leftrsasigkey": "leftsigkey",
		"rightsubnetwithin": "rightsubnet", "crluri1": "crluri", "ocspuri1": "ocspuri"} {
		kind := SectionConn
		if strings.HasPrefix(canon, "crl") || strings.HasPrefix(canon, "ocsp") {
			kind = SectionCA
		}
		k, side, ok := lookupKeyword(alias, kind)
		if !ok || k.canonical(side) != canon {
			t.Errorf("%s does not resolve to %s", alias, canon)
		}
	}
}
