package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSplit: a conn with errors is refused alone and the other conns load,
// as in strongSwan; errors that concern no single conn refuse everything.
func TestSplit(t *testing.T) {
	const good = "conn good\n\tleft=10.9.0.1\n\tright=10.9.0.2\n\ttype=transport\n\tauthby=secret\n\tauto=add\n"
	const psk = ": PSK \"a long enough pre-shared key for the tests\"\n"
	cases := []struct {
		name    string
		conf    string
		secrets string
		refused []string // conns refused, each with at least one error
		loaded  []string
		fatal   bool
	}{
		{name: "unknown keyword", conf: good + "conn bad\n\tleft=10.9.0.1\n\tright=10.9.0.3\n\ttype=transport\n\tauthby=secret\n\tfrobnicate=yes\n",
			refused: []string{"bad"}, loaded: []string{"good"}},
		{name: "bad value", conf: "conn bad\n\tleft=10.9.0.1\n\tright=10.9.0.3\n\ttype=transport\n\tauthby=secret\n\tike=aes999-nonsense\n" + good,
			refused: []string{"bad"}, loaded: []string{"good"}},
		{name: "missing certificate file", conf: good + "conn bad\n\tleft=10.9.0.1\n\tright=10.9.0.3\n\ttype=transport\n\tleftcert=nowhere.pem\n",
			refused: []string{"bad"}, loaded: []string{"good"}},
		{name: "error in %default reaches every conn",
			conf:    "conn %default\n\tdpdaction=sometimes\n" + good + "conn other\n\tleft=10.9.0.1\n\tright=10.9.0.3\n\ttype=transport\n\tauthby=secret\n",
			refused: []string{"good", "other"}},
		{name: "error inherited through also",
			conf:    good + "conn base\n\tleft=10.9.0.1\n\ttype=transport\n\tauthby=secret\n\tesp=nope\n\tauto=ignore\nconn child\n\talso=base\n\tright=10.9.0.4\n\tauto=add\n",
			refused: []string{"base", "child"}, loaded: []string{"good"}},
		{name: "syntax error", conf: good + "conn bad\n\tleft=10.9.0.1\n\tright 10.9.0.3\n", fatal: true},
		{name: "missing also", conf: good + "conn bad\n\talso=nothere\n\tright=10.9.0.3\n", fatal: true},
		{name: "config setup", conf: "config setup\n\tuniqueids=perhaps\n" + good, fatal: true},
		{name: "secrets", conf: good, secrets: psk + "10.9.0.1 : WHAT \"x\"\n", fatal: true},
		{name: "missing include", conf: good + "include /nonexistent/cygnet/x.conf\n", fatal: true},
		{name: "clean", conf: good, loaded: []string{"good"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "ipsec.conf"), tc.conf, 0o644)
			sec := tc.secrets
			if sec == "" {
				sec = psk
			}
			writeFile(t, filepath.Join(dir, "ipsec.secrets"), sec, 0o600)
			l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.1")})
			refused, fatal := l.Split(ds)
			if tc.fatal {
				if len(fatal) == 0 {
					t.Fatalf("no fatal error:\n%s", listDiags(ds))
				}
				return
			}
			if len(fatal) != 0 {
				t.Fatalf("fatal errors %v; all:\n%s", fatal, listDiags(ds))
			}
			if got := RefusedNames(refused); !slices.Equal(got, tc.refused) && !(len(got) == 0 && len(tc.refused) == 0) {
				t.Errorf("refused %v, want %v:\n%s", got, tc.refused, listDiags(ds))
			}
			for _, r := range refused {
				if len(r.Errors) == 0 || r.Pos.Line == 0 {
					t.Errorf("refusal of %s at %v without its errors", r.Conn, r.Pos)
				}
				for _, e := range r.Errors {
					if e.Line == 0 || !strings.HasSuffix(e.File, "ipsec.conf") {
						t.Errorf("refusal of %s: error without file:line: %v", r.Conn, e)
					}
				}
			}
			var names []string
			for _, c := range l.Config.Connections {
				names = append(names, c.Name)
			}
			if !slices.Equal(names, tc.loaded) {
				t.Errorf("loaded %v, want %v", names, tc.loaded)
			}
			// every error is accounted for: by a refusal or as fatal
			n := 0
			for _, r := range refused {
				n += len(r.Errors)
			}
			if len(ds.Errors()) > n {
				t.Errorf("%d errors, %d in refusals:\n%s", len(ds.Errors()), n, listDiags(ds))
			}
		})
	}
}

// TestKeepAliveInConfig: charon.keep_alive reaches the engine's
// configuration from Load (so every reload has it); 0 disables keepalives
// as in strongSwan, unset keeps the engine's 20 s.
func TestKeepAliveInConfig(t *testing.T) {
	for _, tc := range []struct {
		sw   string
		want time.Duration
	}{{"", 0}, {"charon {\n keep_alive = 45s\n}\n", 45 * time.Second}, {"charon {\n keep_alive = 0\n}\n", -1}} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "ipsec.conf"), "conn a\n\tleft=10.9.0.1\n\tright=10.9.0.2\n\ttype=transport\n\tauthby=secret\n", 0o644)
		if tc.sw != "" {
			writeFile(t, filepath.Join(dir, "strongswan.conf"), tc.sw, 0o644)
		}
		l, _ := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.1")})
		if l.Config.KeepAlive != tc.want {
			t.Errorf("%q: KeepAlive %v, want %v", tc.sw, l.Config.KeepAlive, tc.want)
		}
	}
}
