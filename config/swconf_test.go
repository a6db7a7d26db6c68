package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestStrongswanConf(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "strongswan.conf"), `# strongswan.conf - strongSwan configuration file
charon {
  load = random nonce openssl stroke kernel-netlink socket-default updown
  port = 4501
  port_nat_t = 4502
  install_routes = no
  retransmit_tries = 3
  retransmit_timeout = 2.5
  retransmit_base = 1.4
  make_before_break = yes
  replay_window = "128"
  keep_alive = 30s
  cookie_threshold = 5
  init_limit_half_open = 1000
  retransmit_jitter = 20
  filelog {
    charon {
      path = /var/log/charon.log
      default = 1
      ike = 2
      time_format = %b %e %T
    }
    stderr {
      default = 0
    }
  }
  syslog {
    daemon {
      default = 1
      knl = -1
    }
  }
  plugins {
    eap-radius {
      secret = gv6URkSs
      server = 10.1.0.10
    }
  }
}
include strongswan.d/*.conf
libtls {
  suites = TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
}
`, 0o644)
	writeFile(t, filepath.Join(dir, "strongswan.d", "charon.conf"), "charon {\n  # overrides the main file\n  retransmit_tries = 4\n}\n", 0o644)
	c, ds := ParseStrongswanConfFile(filepath.Join(dir, "strongswan.conf"))
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"port", c.Port, uint16(4501)},
		{"port_nat_t", c.PortNATT, uint16(4502)},
		{"install_routes", c.InstallRoutes, false},
		{"retransmit_tries from the include", c.RetransmitTries, 4},
		{"retransmit_timeout", c.RetransmitTimeout, 2500 * time.Millisecond},
		{"retransmit_base", c.RetransmitBase, 1.4},
		{"make_before_break", c.MakeBeforeBreak, true},
		{"replay_window", c.ReplayWindow, uint32(128)},
		{"keep_alive", c.KeepAlive, 30 * time.Second},
		{"cookie_threshold", c.CookieThreshold, 5},
		{"init_limit_half_open", c.InitLimitHalfOpen, 1000},
		{"retransmit_jitter", c.RetransmitJitter, 20},
		{"filelog targets", len(c.FileLog), 2},
		{"syslog targets", len(c.SysLog), 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.FileLog) == 2 {
		f := c.FileLog[0]
		if f.Path != "/var/log/charon.log" || len(f.Levels) != 2 || f.Levels[1] != (LogLevel{"ike", 2}) {
			t.Errorf("filelog charon: %+v", f)
		}
	}
	if len(c.SysLog) == 1 && c.SysLog[0].Levels[1] != (LogLevel{"knl", -1}) {
		t.Errorf("syslog: %+v", c.SysLog[0])
	}
	if s, ok := c.Root.Get("libtls.suites"); !ok || s.Value != "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" {
		t.Errorf("libtls.suites = %q", s.Value)
	}
	wantDiag(t, ds, Info, "strongswan.conf", 3, "charon.load", "not applicable")
	wantDiag(t, ds, Info, "strongswan.conf", 41, "libtls", "not applicable")
	wantDiag(t, ds, Info, "strongswan.conf", 33, "charon.plugins", "not applicable")
	wantDiag(t, ds, Warning, "strongswan.conf", 15, "charon.retransmit_jitter", "not implemented")
	for _, d := range ds {
		if d.Severity != Info && d.Keyword != "charon.retransmit_jitter" {
			t.Errorf("unexpected %v", d)
		}
	}
}

func TestStrongswanConfDefaults(t *testing.T) {
	c, ds := ParseStrongswanConf("strongswan.conf", []byte("charon {\n}\n"))
	if len(ds) != 0 {
		t.Errorf("diagnostics: %v", ds)
	}
	// strongSwan 5.9: 5 tries, 4 s, 1.8 (about 165 s until a peer is dead),
	// make-before-break off.
	if c.RetransmitTries != 5 || c.RetransmitTimeout != 4*time.Second || c.RetransmitBase != 1.8 || c.MakeBeforeBreak || c.Port != 500 || c.PortNATT != 4500 || !c.InstallRoutes || c.ReplayWindow != 32 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestStrongswanConfErrors(t *testing.T) {
	tests := []struct {
		text    string
		line    int
		kw, msg string
	}{
		{"charon {\n  port = abc\n}\n", 2, "charon.port", "bad port"},
		{"charon {\n  retransmit_base = 0.5\n}\n", 2, "charon.retransmit_base", "bad base"},
		{"charon {\n  make_before_break = maybe\n}\n", 2, "charon.make_before_break", "bad boolean"},
		{"charon {\n  filelog {\n    stderr {\n      ike = 9\n    }\n  }\n}\n", 4, "charon.filelog.stderr.ike", "bad log level"},
		{"charon {\n  port = 500\n", 3, "", "not closed"},
		{"charon {\n  port = \"500\n}\n", 2, "", "unterminated string"},
		{"}\n", 1, "", "unexpected '}'"},
		{"charon.port = 500\n", 1, "", "expected '=' or '{'"},
		{"charon {\n  x y = 1\n}\n", 2, "", "expected '=' or '{'"},
		{"include /nonexistent/strongswan.conf\n", 1, "include", "not found"},
	}
	for _, tt := range tests {
		_, ds := ParseStrongswanConf("strongswan.conf", []byte(tt.text))
		wantDiag(t, ds, Error, "strongswan.conf", tt.line, tt.kw, tt.msg)
	}
}
