package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func TestUpdownEnv(t *testing.T) {
	c := &ike.Connection{Name: "host-host"}
	c.Local.ProtoPort = ike.TrafficSelector{Protocol: 6, StartPort: 5432, EndPort: 5432}
	c.Remote.ProtoPort = ike.TrafficSelector{Protocol: 6}
	moon, _ := ike.ParseIdentity("@moon.strongswan.org")
	sun, _ := ike.ParseIdentity("@sun.strongswan.org")
	ev := ike.Event{Type: ike.EventChildUp, Conn: "host-host", IKEUniqueID: 3, ReqID: 0xc9000001,
		Local: netip.MustParseAddrPort("10.1.0.1:500"), Remote: netip.MustParseAddrPort("10.1.0.2:4500"),
		LocalID: moon, RemoteID: sun}
	env := updownEnv(c, ev, true, "eth0")
	for _, want := range []string{
		"PLUTO_VERB=up-host", "PLUTO_CONNECTION=host-host", "PLUTO_INTERFACE=eth0", "PLUTO_REQID=3372220417",
		"PLUTO_UNIQUEID=3", "PLUTO_ME=10.1.0.1", "PLUTO_MY_ID=moon.strongswan.org", "PLUTO_MY_CLIENT=10.1.0.1/32",
		"PLUTO_MY_PORT=5432", "PLUTO_MY_PROTOCOL=6", "PLUTO_PEER=10.1.0.2", "PLUTO_PEER_ID=sun.strongswan.org",
		"PLUTO_PEER_CLIENT=10.1.0.2/32", "PLUTO_PEER_CLIENT_MASK=255.255.255.255", "PLUTO_UDP_ENC=4500", "PLUTO_PROTO=esp",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %v", want, env)
		}
	}
	ev.Local, ev.Remote = netip.MustParseAddrPort("[fd00::1]:500"), netip.MustParseAddrPort("[fd00::2]:500")
	env = updownEnv(c, ev, false, "eth0")
	if !slices.Contains(env, "PLUTO_VERB=down-host-v6") || !slices.Contains(env, "PLUTO_MY_CLIENT=fd00::1/128") {
		t.Errorf("v6 env: %v", env)
	}
	rules := firewallRules(ev, c)
	if got := strings.Join(rules[0], " "); got != "INPUT 1 -p 6 -s fd00::2 -d fd00::1 --dport 5432 -m policy --dir in --pol ipsec --reqid 3372220417 --proto esp -j ACCEPT" {
		t.Errorf("input rule %q", got)
	}
	if got := strings.Join(rules[1], " "); got != "OUTPUT 1 -p 6 -s fd00::1 -d fd00::2 --sport 5432 -m policy --dir out --pol ipsec --reqid 3372220417 --proto esp -j ACCEPT" {
		t.Errorf("output rule %q", got)
	}
}
