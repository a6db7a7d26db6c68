package config

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// TestSubnetProtoPortForms: strongSwan's per-subnet protocol/port in
// leftsubnet= / rightsubnet=, every form the issue lists, in a
// transport-mode conn loaded by Load: what ike.Connection's ProtoPort
// becomes on both ends, or the error (or warning) at the subnet's line.
func TestSubnetProtoPortForms(t *testing.T) {
	gre := ike.TrafficSelector{Protocol: 47, StartPort: 0, EndPort: 65535}
	any := ike.TrafficSelector{}
	udp := func(a, b uint16) ike.TrafficSelector {
		return ike.TrafficSelector{Protocol: 17, StartPort: a, EndPort: b}
	}
	for _, tt := range []struct {
		name        string
		lines       string // settings of conn x, after left=10.9.0.1 right=10.9.0.2
		local, peer ike.TrafficSelector
		sev         Severity // of a diagnostic at line 7 (the first setting), 0 for none
		msg         string
	}{
		{name: "address[gre]", lines: "leftsubnet=10.9.0.1[gre]\n\trightsubnet=10.9.0.2[gre]", local: gre, peer: gre},
		{name: "address/32[gre]", lines: "leftsubnet=10.9.0.1/32[gre]\n\trightsubnet=10.9.0.2/32[47]", local: gre, peer: gre},
		{name: "%dynamic[udp/4789]", lines: "leftsubnet=%dynamic[udp/4789]\n\trightsubnet=%dynamic[udp/vxlan]", local: udp(4789, 4789), peer: udp(4789, 4789)},
		{name: "0.0.0.0/0[gre], auto=add", lines: "leftsubnet=0.0.0.0/0[gre]\n\trightsubnet=0.0.0.0/0[gre]", local: gre, peer: gre, sev: Warning, msg: "0.0.0.0/0 narrowed to the left address in transport mode"},
		{name: "/32[4/]", lines: "leftsubnet=10.9.0.1/32[4/]\n\trightsubnet=10.9.0.2/32[ipip/%any]", local: ike.TrafficSelector{Protocol: 4, EndPort: 65535}, peer: ike.TrafficSelector{Protocol: 4, EndPort: 65535}},
		{name: "17/1701", lines: "leftsubnet=10.9.0.1[17/1701]\n\trightsubnet=10.9.0.2[udp/%any]", local: udp(1701, 1701), peer: udp(0, 65535)},
		{name: "udp/l2tp", lines: "leftsubnet=%dynamic[udp/l2tp]\n\trightsubnet=%dynamic[udp]", local: udp(1701, 1701), peer: udp(0, 65535)},
		{name: "tcp port range", lines: "leftsubnet=10.9.0.1[tcp/1024-2048]", local: ike.TrafficSelector{Protocol: 6, StartPort: 1024, EndPort: 2048}, peer: any},
		{name: "plain address and %dynamic", lines: "leftsubnet=10.9.0.1,%dynamic\n\trightsubnet=%dynamic", local: any, peer: any},
		{name: "leftprotoport kept without brackets", lines: "leftsubnet=10.9.0.1\n\tleftprotoport=udp/4500", local: udp(4500, 4500), peer: any},
		{name: "brackets override leftprotoport", lines: "leftprotoport=tcp/80\n\tleftsubnet=10.9.0.1[gre]", local: gre, peer: any, sev: Warning, msg: "tcp/80 is overridden by the protocol/port [47] in leftsubnet"},
		{name: "several subnets, one selector", lines: "leftsubnet=10.9.0.1[gre],10.9.0.0/24[gre]", local: gre, peer: any, sev: Warning, msg: "10.9.0.0/24 narrowed"},

		{name: "different selectors", lines: "leftsubnet=10.9.0.1[gre],10.9.0.1[icmp]", sev: Error, msg: "different protocol/port selectors"},
		{name: "subnet without the host", lines: "leftsubnet=192.0.2.0/24[gre]", sev: Error, msg: "192.0.2.0/24 in transport mode does not contain left=10.9.0.1"},
		{name: "other address", lines: "leftsubnet=10.9.0.7[udp/4789]", sev: Error, msg: "does not contain"},
		{name: "other family", lines: "leftsubnet=::/0[gre]", sev: Error, msg: "does not contain"},
		{name: "wider subnet with auto=route", lines: "leftsubnet=0.0.0.0/0[gre]\n\tauto=route", sev: Error, msg: "trap policy would hold traffic for the whole subnet"},
		{name: "bad protocol", lines: "leftsubnet=10.9.0.1[foo]", sev: Error, msg: `bad protocol "foo"`},
		{name: "bad port", lines: "leftsubnet=10.9.0.1[udp/70000]", sev: Error, msg: "bad port"},
		{name: "unclosed bracket", lines: "leftsubnet=10.9.0.1[udp", sev: Error, msg: "missing ']'"},
		{name: "empty brackets", lines: "leftsubnet=10.9.0.1[]", sev: Error, msg: "bad protocol/port"},
		{name: "range", lines: "leftsubnet=10.9.0.1-10.9.0.5[gre]", sev: Error, msg: "address ranges are not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := "conn x\n\ttype=transport\n\tauthby=secret\n\tleft=10.9.0.1\n\tright=10.9.0.2\n\tauto=add\n\t" + tt.lines + "\n"
			writeFile(t, filepath.Join(dir, "ipsec.conf"), conf, 0o644)
			writeFile(t, filepath.Join(dir, "ipsec.secrets"), ": PSK 0s"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))+"\n", 0o600)
			l, ds := Load(LayoutAt(dir), &Options{LocalAddrs: localIs("10.9.0.1")})
			if tt.sev != 0 {
				found := false
				for _, d := range ds {
					if d.Severity == tt.sev && d.Line >= 7 && strings.Contains(d.Message, tt.msg) && strings.HasSuffix(d.File, "ipsec.conf") {
						found = true
					}
				}
				if !found {
					t.Fatalf("no %v containing %q at a subnet line; got:\n%s", tt.sev, tt.msg, listDiags(ds))
				}
			}
			if tt.sev == Error {
				if len(l.Config.Connections) != 0 {
					t.Fatalf("conn loaded despite the error")
				}
				return
			}
			if ds.HasErrors() || len(l.Config.Connections) != 1 {
				t.Fatalf("not loaded:\n%s", listDiags(ds))
			}
			c := l.Config.Connections[0]
			if c.Local.ProtoPort != tt.local || c.Remote.ProtoPort != tt.peer {
				t.Errorf("protoport local %+v remote %+v, want %+v %+v", c.Local.ProtoPort, c.Remote.ProtoPort, tt.local, tt.peer)
			}
			if tt.sev == 0 {
				for _, d := range ds {
					if d.Line >= 7 && d.Severity >= Warning {
						t.Errorf("unexpected diagnostic %v", d)
					}
				}
			}
			// written back and read again, the conn is the same
			raw, _ := ParseIPsecConf("ipsec.conf", []byte(conf))
			cfg, _ := Interpret(raw)
			var b strings.Builder
			if _, err := cfg.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			raw2, _ := ParseIPsecConf("written.conf", []byte(b.String()))
			cfg2, _ := Interpret(raw2)
			if !deepEqual(comparableConn(cfg.Conns[0]), comparableConn(cfg2.Conns[0])) {
				t.Errorf("round trip differs:\n%s", b.String())
			}
		})
	}
}
