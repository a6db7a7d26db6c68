package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSwanctl runs config check's swanctl.conf reader on a file
// with an include: a good PSK conn, a certificate conn whose file is
// missing, a tunnel-mode conn, a name ipsec.conf uses, an EAP secret and
// a syntax error in the included file, each reported at its file:line.
func TestCheckSwanctl(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o700)
	os.MkdirAll(filepath.Join(dir, "x509"), 0o700)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("swanctl.conf", `connections {
  good {
    local_addrs = 10.0.0.1
    remote_addrs = 10.0.0.2
    proposals = aes256gcm16-prfsha256-curve25519
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      good-child {
        mode = transport
        esp_proposals = aes256gcm16
        rekey_time = 30m
      }
    }
  }
  tunnel {
    remote_addrs = 10.0.0.3
    children {
      t {
        mode = tunnel
      }
    }
  }
  ab {
    remote_addrs = 10.0.0.4
    children {
      ab {
        mode = transport
      }
    }
  }
  include conf.d/*.conf
}
secrets {
  ike-1 {
    secret = "x"
  }
  eap-carol {
    secret = "y"
  }
  ike-bad {
    id = @
    secret = "z"
  }
}
`)
	write("conf.d/cert.conf", `certconn {
  remote_addrs = 10.0.0.5
  local {
    certs = missing.pem
  }
  children {
    c {
      mode = transport
      esp_proposals = aes999
    }
  }
}
broken {
  = value
}
`)
	res := CheckSwanctl(dir, []string{"ab"})
	if res.Path == "" || res.Secrets != 1 {
		t.Fatalf("%+v", res)
	}
	var names []string
	for _, c := range res.Conns {
		names = append(names, c.Name+"="+map[bool]string{true: "ok", false: "refused"}[c.OK])
	}
	if got := strings.Join(names, " "); got != "good=ok tunnel=refused ab=refused certconn=refused broken=refused" {
		t.Errorf("conns: %s", got)
	}
	var lines []string
	for _, d := range res.Diagnostics {
		lines = append(lines, d.String())
	}
	text := strings.Join(lines, "\n")
	t.Logf("diagnostics:\n%s", text)
	main, inc := filepath.Join(dir, "swanctl.conf"), filepath.Join(dir, "conf.d/cert.conf")
	for _, want := range []string{
		main + ":24: error: connections.tunnel: children.t.mode: tunnel mode",
		main + ":28: error: connections.ab: ipsec.conf defines a conn of the same name",
		main + ":42: error: secrets.eap-carol: only IKE shared keys are supported; load-shared refuses eap secrets",
		inc + ":4: error: connections.certconn: local.certs: cannot read " + filepath.Join(dir, "x509/missing.pem"),
		inc + ":9: error: connections.certconn: children.c.esp_proposals:",
		main + ":46: error: secrets.ike-bad: id: ike: empty FQDN identity",
		inc + ":14: error: unexpected",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no diagnostic %q", want)
		}
	}
	for _, d := range res.Diagnostics {
		if strings.Contains(d.String(), "connections.good") {
			t.Errorf("the good conn has a finding: %s", d)
		}
	}
	if res := CheckSwanctl(t.TempDir(), nil); res.Path != "" || len(res.Diagnostics) != 0 {
		t.Errorf("no swanctl.conf: %+v", res)
	}
}
