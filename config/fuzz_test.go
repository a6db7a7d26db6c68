package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds the scenario files of a kind as fuzz seeds when the shared
// data is present.
func seedFiles(f *testing.F, name string) {
	dir := filepath.Join("..", "..", "shared", "strongswan-scenarios", "ikev2-stroke")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "hosts", "*", "etc", name))
	for i, p := range files {
		if i%4 != 0 { // a sample keeps the seed corpus quick
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzIPsecConf: any input parses without panicking, every error names a
// line, and what was understood writes back to text that parses to the
// same values.
func FuzzIPsecConf(f *testing.F) {
	f.Add([]byte(nodeConf))
	f.Add([]byte("conn a\n\tleftid=\"C=CH\\n, O=x\"\n\talso=b\nconn b\n\talso=a\n"))
	f.Add([]byte("config setup\n\tuniqueids=never\nca x\n\tcacert=a.pem\n\tauto=add\n"))
	f.Add([]byte("conn %default\n\tkeylife=\nconn x\n\ttype=transport\n\tmark=%unique\n\tesp=aes128gcm16-esn!\n"))
	f.Add([]byte("conn x\n\ttype=transport\n\tleft=192.0.2.1\n\tleftsubnet=192.0.2.1[gre],%dynamic[gre]\n\trightsubnet=0.0.0.0/0[17/l2tp]\n\tleftprotoport=udp/%any\n"))
	f.Add([]byte("conn y\n\ttype=transport\n\tleftsubnet=%dynamic[udp/4789]\n\trightsubnet=10.0.0.1/32[4/]\n\tike=3des-sha1-modp1024\n\tesp=3des-sha1-noesn\n"))
	seedFiles(f, "ipsec.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, ds := ParseIPsecConf("fuzz.conf", data)
		cfg, ds2 := Interpret(raw)
		for _, d := range append(ds, ds2...) {
			if d.Severity == Error && d.Line < 1 {
				t.Fatalf("error without a line: %v", d)
			}
		}
		var buf bytes.Buffer
		if _, err := cfg.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		raw2, ds3 := ParseIPsecConf("written.conf", buf.Bytes())
		if ds3.HasErrors() {
			t.Fatalf("written text does not parse: %v\n%s", ds3, buf.String())
		}
		cfg2, _ := Interpret(raw2)
		if len(cfg2.Conns) != len(cfg.Conns) {
			t.Fatalf("round trip: %d conns, want %d", len(cfg2.Conns), len(cfg.Conns))
		}
		for i := range cfg.Conns {
			a, b := comparableConn(cfg.Conns[i]), comparableConn(cfg2.Conns[i])
			if !deepEqual(a, b) {
				t.Fatalf("conn %q differs after round trip:\n%+v\n%+v\n%s", a.Name, a, b, buf.String())
			}
		}
	})
}

// FuzzSecrets: no panic, errors name a line, and a secret never appears in
// a diagnostic.
func FuzzSecrets(f *testing.F) {
	f.Add([]byte(": PSK \"abc\"\n"))
	f.Add([]byte(": PSK ~secret~\n@x : PSK \"~a~\" junk\n"))
	f.Add([]byte("@a @b : PSK 0sAAAA\n%any : PSK 0x0102 \ninclude x\n: RSA k.pem \"pw\"\n"))
	f.Add([]byte("\"C=CH, CN=x\" : PSK 'q'\n: RSA k.pem %prompt\n"))
	seedFiles(f, "ipsec.secrets")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ds := ParseSecrets("fuzz.secrets", data, "/nonexistent")
		for _, d := range ds {
			if d.Severity == Error && d.Line < 1 {
				t.Fatalf("error without a line: %v", d)
			}
		}
		for _, e := range s.Entries {
			// Only secrets with a '~' are checked: no message text has one,
			// so finding the secret in a message means it leaked (and not
			// that it happens to spell a word of the message).
			v := e.Value()
			if len(v) < 4 || !bytes.Contains(v, []byte("~")) || bytes.Contains([]byte(strings.Join(e.Selectors, " ")), v) {
				continue
			}
			for _, d := range ds {
				if bytes.Contains([]byte(d.String()), v) {
					t.Fatalf("diagnostic shows a secret: %s", d)
				}
			}
			if bytes.Contains([]byte(e.String()), v) {
				t.Fatalf("String shows the secret: %s", e)
			}
		}
	})
}

// FuzzStrongswanConf: no panic, errors name a line.
func FuzzStrongswanConf(f *testing.F) {
	f.Add([]byte("charon {\n  port = 500\n  filelog {\n    stderr {\n      default = 2\n    }\n  }\n}\n"))
	f.Add([]byte("a : b, c.d {\n  x = \"y\\\nz\"\n}\ninclude *.conf\n"))
	seedFiles(f, "strongswan.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ds := ParseStrongswanConf("fuzz.conf", data)
		for _, d := range ds {
			if d.Severity == Error && d.Line < 1 {
				t.Fatalf("error without a line: %v", d)
			}
		}
	})
}

// FuzzProposals: no panic, and what parses formats back to itself.
func FuzzProposals(f *testing.F) {
	for _, s := range []string{"aes256gcm16-prfsha384-ecp384", "aes128-sha256-modp2048,aes256gcm16-x25519!", "aes256gcm16-esn-noesn-none",
		"aes256gcm16-sha256-modp2048", "aes256gcm128-aesxcbc-modp2048", "aes256gcm128-sha512-ecp384", "aes256gcm16-md5-prfsha256-x25519",
		"3des-sha1-modp1024", "aes128-sha1-modp1536,3des-md5", "aes256-sha256-modp2048s256-ecp256bp", "3des-sha1-noesn", "ecp384bp"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, isIKE bool) {
		kind := ProposalESP
		if isIKE {
			kind = ProposalIKE
		}
		props, strict, err := ParseProposals(s, kind)
		if err != nil {
			return
		}
		back, strict2, err := ParseProposals(formatProposals(props, strict), kind)
		if err != nil || strict != strict2 || formatProposals(back, strict2) != formatProposals(props, strict) {
			t.Fatalf("%q: round trip %v", s, err)
		}
	})
}
