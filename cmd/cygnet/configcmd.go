package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/daemon"
)

func init() {
	register("config", "check strongSwan configuration (config check [--confdir DIR])", runConfig)
}

func runConfig(args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(os.Stderr, "usage: cygnet config check [--confdir DIR] [-q]")
		return 2
	}
	return runConfigCheck(args[1:], os.Stdout, os.Stderr)
}

// runConfigCheck reads the configuration the daemon would read, prints the
// effective connections and every diagnostic, and exits 1 when there is an
// error.
func runConfigCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confdir := fs.String("confdir", "", "directory holding ipsec.conf, ipsec.secrets, strongswan.conf and ipsec.d (default: $"+config.EnvConfDir+", /etc, /etc/strongswan)")
	quiet := fs.Bool("q", false, "print only warnings and errors")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "cygnet config check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	layout, err := config.FindLayout(*confdir)
	if err != nil {
		fmt.Fprintf(stderr, "cygnet config check: %v\n", err)
		return 1
	}
	loaded, ds := config.Load(layout, nil)
	if !*quiet {
		printLoaded(stdout, loaded)
	}
	// swanctl.conf, as swanctl --load-all would send it over VICI.
	var ipsecNames []string
	for _, c := range loaded.IPsec.Conns {
		ipsecNames = append(ipsecNames, c.Name)
	}
	sw := daemon.CheckSwanctl(daemon.SwanctlDir(layout), ipsecNames)
	if sw.Path != "" && !*quiet {
		fmt.Fprintf(stdout, "swanctl.conf (%s): %d connection(s), %d IKE secret(s)\n", sw.Path, len(sw.Conns), sw.Secrets)
		for _, c := range sw.Conns {
			state := "loadable"
			if !c.OK {
				state = "REFUSED: see the errors below"
			}
			child := c.Child
			if child == "" {
				child = "-"
			}
			fmt.Fprintf(stdout, "  %s (child %s): %s, %s\n", c.Name, child, state, c.Pos)
		}
		fmt.Fprintln(stdout)
	}
	ds = append(ds, sw.Diagnostics...)
	errs, warns := 0, 0
	for _, d := range ds {
		switch d.Severity {
		case config.Error:
			errs++
		case config.Warning:
			warns++
		case config.Info:
			if *quiet {
				continue
			}
		}
		fmt.Fprintln(stdout, d.String())
	}
	fmt.Fprintf(stdout, "%d error(s), %d warning(s); %d of %d conn(s) loaded\n", errs, warns, len(loaded.Config.Connections), len(loaded.IPsec.Conns))
	if errs > 0 {
		return 1
	}
	return 0
}

func printLoaded(w io.Writer, l *config.Loaded) {
	lo := l.Layout
	fmt.Fprintf(w, "configuration (%s): %s, %s, %s, %s\n\n", lo.Name, lo.IPsecConf, lo.IPsecSecrets, lo.StrongswanConf, lo.IPsecD)
	loaded := map[*config.Conn]ike.Connection{}
	for i, c := range l.Conns {
		loaded[c] = l.Config.Connections[i]
	}
	for _, c := range l.IPsec.Conns {
		conn, ok := loaded[c]
		state := "loaded"
		switch {
		case !c.Valid:
			state = "NOT LOADED: see the errors below"
		case c.Auto == "ignore":
			state = "auto=ignore, not loaded"
		}
		fmt.Fprintf(w, "conn %s (%s), %s\n", c.Name, state, c.Pos)
		fmt.Fprintf(w, "  type=%s auto=%s keyexchange=%s\n", c.Type, c.Auto, c.KeyExchange)
		if ok {
			printEndpoint(w, "local ", conn.Local)
			printEndpoint(w, "remote", conn.Remote)
			fmt.Fprintf(w, "  ike=%s\n  esp=%s\n", proposals(conn.IKE, conn.IKEStrict), proposals(conn.ESP, conn.ESPStrict))
			if conn.Local.Auth == ike.AuthPSK || conn.Remote.Auth == ike.AuthPSK {
				fmt.Fprintf(w, "  psk: %s\n", pskSource(l, conn))
			}
		} else {
			la, ra := c.EndAuth()
			fmt.Fprintf(w, "  left=%s leftid=%s leftauth=%s\n", orAny(c.Left.Host), orAny(c.Left.ID), la)
			fmt.Fprintf(w, "  right=%s rightid=%s rightauth=%s\n", orAny(c.Right.Host), orAny(c.Right.ID), ra)
		}
		fmt.Fprintf(w, "  ikelifetime=%v lifetime=%v margintime=%v rekeyfuzz=%d%% keyingtries=%s rekey=%v reauth=%v\n",
			c.IKELifetime, c.Lifetime, c.MarginTime, c.RekeyFuzz, keyingTries(c.KeyingTries), yesNo(c.Rekey), yesNo(c.Reauth))
		if c.LifeBytes != 0 || c.LifePackets != 0 {
			fmt.Fprintf(w, "  lifebytes=%d marginbytes=%d lifepackets=%d marginpackets=%d\n", c.LifeBytes, c.MarginBytes, c.LifePackets, c.MarginPackets)
		}
		fmt.Fprintf(w, "  dpdaction=%s dpddelay=%v closeaction=%s mobike=%s fragmentation=%s forceencaps=%s\n\n",
			c.DPDAction, c.DPDDelay, c.CloseAction, yesNo(c.MOBIKE), c.Fragmentation, yesNo(c.ForceEncaps))
	}
	for _, ca := range l.IPsec.CAs {
		fmt.Fprintf(w, "ca %s: cacert=%s auto=%s\n", ca.Name, ca.CACert, ca.Auto)
	}
	cr := l.Config.Credentials
	fmt.Fprintf(w, "credentials: %d pre-shared key(s), %d private key(s), %d certificate(s), %d CA certificate(s), %d CRL(s)\n",
		len(cr.SharedKeys), len(cr.PrivateKeys), len(cr.Certs), len(cr.CACerts), len(cr.CRLs))
	sw := l.Strongswan
	fmt.Fprintf(w, "charon: port=%d port_nat_t=%d retransmit_tries=%d retransmit_timeout=%v retransmit_base=%g make_before_break=%s\n\n",
		sw.Port, sw.PortNATT, sw.RetransmitTries, sw.RetransmitTimeout, sw.RetransmitBase, yesNo(sw.MakeBeforeBreak))
}

func printEndpoint(w io.Writer, label string, e ike.Endpoint) {
	id := e.ID.String()
	if e.ID.IsZero() {
		id = "(its address)"
	}
	fmt.Fprintf(w, "  %s %s id=%s auth=%v", label, e.Host, id, e.Auth)
	if e.Cert != nil {
		fmt.Fprintf(w, " cert=%q", e.Cert.Subject.String())
	}
	if e.SigKey != nil {
		fmt.Fprintf(w, " sigkey=%T", e.SigKey)
	}
	if !e.ProtoPort.Any() {
		fmt.Fprintf(w, " protoport=%d/%d-%d", e.ProtoPort.Protocol, e.ProtoPort.StartPort, e.ProtoPort.EndPort)
	}
	fmt.Fprintln(w)
}

func proposals(ps []ike.Proposal, strict bool) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = config.FormatProposal(p)
	}
	out := strings.Join(s, ",")
	if strict {
		out += "!"
	}
	return out
}

func orAny(s string) string {
	if s == "" {
		return "%any"
	}
	return s
}

func keyingTries(n int) string {
	if n == 0 {
		return "%forever"
	}
	return fmt.Sprint(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pskSource names the ipsec.secrets entry (file:line, never the value)
// that strongSwan would use for a conn whose identities are known.
func pskSource(l *config.Loaded, c ike.Connection) string {
	id := func(e ike.Endpoint) (ike.Identity, bool) {
		switch {
		case !e.ID.IsZero():
			return e.ID, true
		case e.Addr.IsValid():
			return ike.IdentityFromAddr(e.Addr), true
		}
		return ike.Identity{}, false
	}
	local, ok1 := id(c.Local)
	remote, ok2 := id(c.Remote)
	if !ok1 || !ok2 {
		return "chosen by the peer's identity"
	}
	k, ok := config.LookupPSK(l.Config.Credentials.SharedKeys, local, remote)
	if !ok {
		return "NONE in ipsec.secrets"
	}
	return k.Source
}
