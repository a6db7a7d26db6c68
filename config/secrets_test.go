package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func TestSecretsForms(t *testing.T) {
	text := `# /etc/ipsec.secrets
@moon.strongswan.org @sun.strongswan.org : PSK 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL
192.168.0.100 : PSK "This is a strong password"  
  @sun.strongswan.org : PSK 'My "home" is my "castle"!'
@moon.strongswan.org %any : PSK 0x45a30759df97dc26a15b88ff # comment
: PSK bare-token-secret trailing words
"C=CH, O=strongSwan Project, CN=carol@strongswan.org" : PSK "dn selector"
carol : EAP "Ar3etTnp"
`
	s, ds := ParseSecrets("ipsec.secrets", []byte(text), "/etc/ipsec.d/private")
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	want := []struct {
		sels  int
		value string
	}{
		{2, "\xbf\xe3\x64\xc5\x8f\x4b\x2d\x9b\xf0\x8f\x8a\x82\x0b\x6a\x3f\x80\x6a\xd6\x0c\x5d\x9d\xdb\x58\xcb"},
		{1, "This is a strong password"},
		{1, `My "home" is my "castle"!`},
		{2, "\x45\xa3\x07\x59\xdf\x97\xdc\x26\xa1\x5b\x88\xff"},
		{0, "bare-token-secret"},
		{1, "dn selector"},
		{1, "Ar3etTnp"},
	}
	if len(s.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(s.Entries), len(want))
	}
	for i, w := range want {
		e := s.Entries[i]
		if len(e.IDs) != w.sels || string(e.Value()) != w.value {
			t.Errorf("entry %d (%s): %d selectors, value %q; want %d, %q", i, e, len(e.IDs), e.Value(), w.sels, w.value)
		}
		// The secret never shows in any printed form of the entry.
		for _, form := range []string{e.String(), fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e), fmt.Sprintf("%v", s.Entries)} {
			if strings.Contains(form, w.value) {
				t.Errorf("entry %d prints its secret: %s", i, form)
			}
		}
	}
	if s.Entries[5].IDs[0].Type != 9 {
		t.Errorf("quoted DN selector parsed as %v", s.Entries[5].IDs[0])
	}
	if got := len(s.SharedKeys()); got != 6 {
		t.Errorf("%d shared keys, want 6 PSKs", got)
	}
	for _, d := range ds {
		for _, w := range want {
			if strings.Contains(d.String(), w.value) {
				t.Errorf("diagnostic shows a secret: %s", d)
			}
		}
	}
	wantDiag(t, ds, Warning, "ipsec.secrets", 8, "EAP", "not supported")
}

func TestSecretsErrors(t *testing.T) {
	tests := []struct {
		text    string
		line    int
		kw, msg string
	}{
		{"# x\n@moon:PSK x\n", 2, "", "missing ' : '"},
		{"@moon : PASSWORD x\n", 1, "", "unknown secret type"},
		{"@moon : PSK \"unterminated\n", 1, "", "unterminated"},
		{"@moon : PSK\n", 1, "", "missing secret"},
		{"@moon : PSK 0xzz\n", 1, "", "bad hex"},
		{"@moon : PSK 0s!!!!\n", 1, "", "bad base64"},
		{"\n\n: RSA moonKey.pem %prompt\n", 3, "RSA", "%prompt is not supported"},
		{": P12 moon.p12 \"pw\"\n", 1, "P12", "PKCS#12"},
		{"@ : PSK \"x\"\n", 1, "", "bad selector"},
		{": RSA\n", 1, "", "without a key file"},
		{"include /nonexistent/secrets\n", 1, "include", "not found"},
	}
	for _, tt := range tests {
		_, ds := ParseSecrets("ipsec.secrets", []byte(tt.text), "/p")
		wantDiag(t, ds, Error, "ipsec.secrets", tt.line, tt.kw, tt.msg)
	}
}

func TestSecretsFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "ipsec.secrets")
	writeFile(t, main, ": PSK \"main-secret-is-long-enough\"\ninclude ipsec.d/*.secrets\ninclude loop.secrets\n", 0o640)
	writeFile(t, filepath.Join(dir, "ipsec.d", "a.secrets"), "@a : PSK \"a-secret-is-long-enough-ok\"\n", 0o600)
	writeFile(t, filepath.Join(dir, "loop.secrets"), "include ipsec.secrets\n", 0o600)
	s, ds := ParseSecretsFile(main, filepath.Join(dir, "ipsec.d", "private"))
	if len(s.Entries) != 2 {
		t.Errorf("%d entries, want 2 (main and included)", len(s.Entries))
	}
	wantDiag(t, ds, Warning, "ipsec.secrets", 0, "", "accessible by group or others")
	wantDiag(t, ds, Error, "loop.secrets", 1, "include", "include loop")

	// unreadable: a directory where the file should be
	_, ds = ParseSecretsFile(dir, "/p")
	if !ds.HasErrors() || ds[len(ds)-1].File != dir {
		t.Errorf("unreadable secrets: %v", ds)
	}
	_, ds = ParseSecretsFile(filepath.Join(dir, "missing"), "/p")
	wantDiag(t, ds, Error, "missing", 0, "", "cannot read secrets file")
}

func TestPrivateKeys(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "private")
	rsaKey, _ := pki.host(t, "moon")
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(priv, "rsa.pem"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), 0o600)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	if err := os.WriteFile(filepath.Join(priv, "ec.der"), ecDER, 0o600); err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(priv, "p8.pem"), "PRIVATE KEY", marshalKey(t, ecKey), 0o600)
	//lint:ignore SA1019 legacy encrypted PEM is what ipsec.secrets passphrases unlock
	blk, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", ecDER, []byte("pass word"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(priv, "enc.pem"), pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line, err string
	}{
		{": RSA rsa.pem", ""},
		{": ECDSA ec.der", ""},
		{": PKCS8 p8.pem", ""},
		{`: ECDSA enc.pem "pass word"`, ""},
		{": ECDSA enc.pem", "no passphrase"},
		{": ECDSA enc.pem 'wrong'", "wrong passphrase"},
		{": ECDSA rsa.pem", "holds an RSA key"},
		{": RSA ec.der", "holds an ECDSA key"},
		{": RSA missing.pem", "cannot read private key"},
	} {
		l := LayoutAt(dir)
		l.IPsecD = dir
		writeFile(t, l.IPsecSecrets, tt.line+"\n", 0o600)
		writeFile(t, l.IPsecConf, "config setup\n", 0o644)
		loaded, ds := Load(l, &Options{LocalAddrs: noAddrs})
		if tt.err == "" {
			if ds.HasErrors() || len(loaded.Config.Credentials.PrivateKeys) != 1 {
				t.Errorf("%s: %d keys, errors:\n%s", tt.line, len(loaded.Config.Credentials.PrivateKeys), listDiags(ds))
			}
			continue
		}
		wantDiag(t, ds, Error, "ipsec.secrets", 1, "", tt.err)
		for _, d := range ds {
			if strings.Contains(d.Message, "pass word") || strings.Contains(d.Message, "wrong'") {
				t.Errorf("passphrase in a diagnostic: %s", d)
			}
		}
	}
}

// TestLookupPSK holds the one PSK lookup (ike.Credentials.LookupPSK, which
// config.LookupPSK and `cygnet config check` call) to strongSwan's choice
// on realistic secrets files; ike's TestLookupPSKRanking has the full
// table. differs would pin a known difference; there is none.
func TestLookupPSK(t *testing.T) {
	id := func(s string) ike.Identity {
		i, err := ike.ParseIdentity(s)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	tests := []struct {
		name          string
		secrets       string
		local, remote string
		// differs is set where ike.LookupPSK is known to choose another
		// entry than strongSwan.
		differs bool
		want    string // strongSwan's choice, when checked
	}{
		{"pair beats fallback", "@moon @sun : PSK \"pair\"\n: PSK \"fallback\"\n", "@moon", "@sun", false, "pair"},
		{"fallback when no selector matches", "@moon @sun : PSK \"pair\"\n: PSK \"fallback\"\n", "@venus", "@carol", false, "fallback"},
		{"remote ID selects among road warriors", "carol@strongswan.org : PSK \"c\"\ndave@strongswan.org : PSK \"d\"\n", "@moon.strongswan.org", "dave@strongswan.org", false, "d"},
		{"IP selectors", "192.168.0.100 : PSK \"carol\"\n192.168.0.200 : PSK \"dave\"\n", "192.168.0.1", "192.168.0.200", false, "dave"},
		{"%any with a local ID", "@moon.strongswan.org %any : PSK \"any\"\n@moon.strongswan.org @sun.strongswan.org : PSK \"exact\"\n", "@moon.strongswan.org", "@sun.strongswan.org", false, "exact"},
		{"FQDN case", "@Moon.StrongSwan.org @sun : PSK \"x\"\n", "@moon.strongswan.org", "@sun", false, "x"},
		// strongSwan ranks the remote match first: the no-selector entry
		// matches the remote (as %any) and beats an entry naming only the
		// local ID.
		{"local-only entry vs fallback", "@moon : PSK \"local-only\"\n: PSK \"fallback\"\n", "@moon", "@unknown", false, "fallback"},
		// strongSwan prefers the entry written last on a tie.
		{"tie", "@moon @sun : PSK \"first\"\n@sun @moon : PSK \"second\"\n", "@moon", "@sun", false, "second"},
		// issue 12: an address entry followed by a fallback
		{"address entry vs fallback", "10.1.0.1 : PSK \"a\"\n: PSK \"b\"\n", "10.1.0.1", "10.1.0.2", false, "b"},
		{"wildcard", ": PSK \"f\"\n*.example.com : PSK \"w\"\n", "@gw", "@h.example.com", false, "w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ds := ParseSecrets("ipsec.secrets", []byte(tt.secrets), "/p")
			if ds.HasErrors() {
				t.Fatal(listDiags(ds))
			}
			if tt.want != "" {
				k, ok := LookupPSK(s.SharedKeys(), id(tt.local), id(tt.remote))
				if !ok || string(k.Secret) != tt.want {
					t.Errorf("strongSwan's choice: %q, want %q", k.Secret, tt.want)
				}
			}
			creds := ike.Credentials{SharedKeys: s.SharedKeys()}
			got, gok := creds.LookupPSK(id(tt.local), id(tt.remote))
			want, wok := LookupPSK(creds.SharedKeys, id(tt.local), id(tt.remote))
			same := gok == wok && bytes.Equal(got.Secret, want.Secret)
			switch {
			case !wok:
				t.Fatalf("the strongSwan model finds no key")
			case same && tt.differs:
				t.Errorf("ike.Credentials.LookupPSK now agrees with strongSwan (picks %s); update the test", got.Source)
			case !same && !tt.differs:
				t.Errorf("ike.Credentials.LookupPSK picks %s (ok %v), strongSwan picks %s", got.Source, gok, want.Source)
			case !same:
				t.Logf("known difference: ike.Credentials.LookupPSK picks %s, strongSwan (config.LookupPSK) picks %s", got.Source, want.Source)
			}
		})
	}
}
