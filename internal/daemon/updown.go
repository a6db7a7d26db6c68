package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// The updown interface of strongSwan (and pluto before it, "version 1.1"):
// on every CHILD_SA up and down event the connection's leftupdown script
// runs through /bin/sh with PLUTO_* variables describing the SA. For a
// host-to-host transport SA the verbs are up-host and down-host, with a
// -v6 suffix for IPv6. leftfirewall=yes does what strongSwan's default
// _updown script does for such an SA: an iptables ACCEPT rule in INPUT and
// OUTPUT for the ESP-protected traffic of this reqid, removed on down.

// updownTimeout bounds a script so a hung one cannot stall SA handling.
const updownTimeout = 30 * time.Second

// updownEnv builds the PLUTO_* environment of an event.
func updownEnv(c *ike.Connection, ev ike.Event, up bool, iface string) []string {
	me, peer := ev.Local.Addr(), ev.Remote.Addr()
	verb := "down-host"
	if up {
		verb = "up-host"
	}
	if me.Is6() && !me.Is4In6() {
		verb += "-v6"
	}
	bits := me.BitLen()
	env := []string{
		"PLUTO_VERSION=1.1",
		"PLUTO_VERB=" + verb,
		"PLUTO_CONNECTION=" + c.Name,
		"PLUTO_INTERFACE=" + iface,
		"PLUTO_REQID=" + strconv.FormatUint(uint64(ev.ReqID), 10),
		"PLUTO_PROTO=esp",
		"PLUTO_UNIQUEID=" + strconv.FormatUint(uint64(ev.IKEUniqueID), 10),
		"PLUTO_ME=" + me.String(),
		"PLUTO_MY_ID=" + ev.LocalID.String(),
		"PLUTO_MY_CLIENT=" + netip.PrefixFrom(me, bits).String(),
		"PLUTO_MY_CLIENT_NET=" + me.String(),
		"PLUTO_MY_PORT=" + strconv.Itoa(int(c.Local.ProtoPort.StartPort)),
		"PLUTO_MY_PROTOCOL=" + strconv.Itoa(int(c.Local.ProtoPort.Protocol)),
		"PLUTO_PEER=" + peer.String(),
		"PLUTO_PEER_ID=" + ev.RemoteID.String(),
		"PLUTO_PEER_CLIENT=" + netip.PrefixFrom(peer, bits).String(),
		"PLUTO_PEER_CLIENT_NET=" + peer.String(),
		"PLUTO_PEER_PORT=" + strconv.Itoa(int(c.Remote.ProtoPort.StartPort)),
		"PLUTO_PEER_PROTOCOL=" + strconv.Itoa(int(c.Remote.ProtoPort.Protocol)),
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if me.Is4() {
		env = append(env, "PLUTO_MY_CLIENT_MASK=255.255.255.255", "PLUTO_PEER_CLIENT_MASK=255.255.255.255")
	}
	if ev.Remote.Port() == 4500 {
		env = append(env, "PLUTO_UDP_ENC=4500")
	}
	return env
}

// interfaceOf names the interface holding addr, as PLUTO_INTERFACE.
func interfaceOf(addr netip.Addr) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == addr {
				return ifi.Name
			}
		}
	}
	return ""
}

// runUpdown handles a CHILD_SA event for the connection's script and
// firewall rules.
func (d *Daemon) runUpdown(ev ike.Event) {
	up := ev.Type == ike.EventChildUp
	if !up && ev.Type != ike.EventChildDown {
		return
	}
	c := d.connByName(ev.Conn)
	if c == nil || (c.Local.Updown == "" && !c.Local.Firewall) {
		return
	}
	env := updownEnv(c, ev, up, interfaceOf(ev.Local.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), updownTimeout)
	defer cancel()
	if c.Local.Updown != "" {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Local.Updown)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			d.log.Error("updown script failed", "conn", c.Name, "script", c.Local.Updown, "verb", envValue(env, "PLUTO_VERB"), "err", err, "output", string(out))
		} else {
			d.log.Info("updown script ran", "conn", c.Name, "verb", envValue(env, "PLUTO_VERB"))
		}
	}
	if c.Local.Firewall {
		if err := firewall(ctx, up, ev, c); err != nil {
			d.log.Error("leftfirewall rules failed", "conn", c.Name, "err", err)
		}
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)+1] == key+"=" {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// firewallRules returns the iptables arguments strongSwan's default updown
// uses for a host-to-host SA: accept the peer's protected traffic in INPUT
// and ours in OUTPUT, matched by the IPsec policy's reqid.
func firewallRules(ev ike.Event, c *ike.Connection) [][]string {
	me, peer := ev.Local.Addr().String(), ev.Remote.Addr().String()
	reqid := strconv.FormatUint(uint64(ev.ReqID), 10)
	proto := c.Local.ProtoPort.Protocol
	rule := func(chain, dir, src, dst string, sport, dport uint16) []string {
		r := []string{chain, "1"}
		if proto != 0 {
			r = append(r, "-p", strconv.Itoa(int(proto)))
		}
		r = append(r, "-s", src, "-d", dst)
		if proto == 6 || proto == 17 {
			if sport != 0 {
				r = append(r, "--sport", strconv.Itoa(int(sport)))
			}
			if dport != 0 {
				r = append(r, "--dport", strconv.Itoa(int(dport)))
			}
		}
		return append(r, "-m", "policy", "--dir", dir, "--pol", "ipsec", "--reqid", reqid, "--proto", "esp", "-j", "ACCEPT")
	}
	return [][]string{
		rule("INPUT", "in", peer, me, c.Remote.ProtoPort.StartPort, c.Local.ProtoPort.StartPort),
		rule("OUTPUT", "out", me, peer, c.Local.ProtoPort.StartPort, c.Remote.ProtoPort.StartPort),
	}
}

func firewall(ctx context.Context, up bool, ev ike.Event, c *ike.Connection) error {
	bin := "iptables"
	if ev.Local.Addr().Is6() {
		bin = "ip6tables"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("leftfirewall=yes needs %s (Debian package iptables): %w", bin, err)
	}
	for _, r := range firewallRules(ev, c) {
		args := append([]string{"-I"}, r...)
		if !up {
			// -D takes the rule without the position.
			args = append([]string{"-D", r[0]}, r[2:]...)
		}
		if out, err := exec.CommandContext(ctx, path, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %w: %s", bin, args, err, out)
		}
	}
	return nil
}
