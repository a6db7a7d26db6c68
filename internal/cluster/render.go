package cluster

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Files the agent renders into the node's strongSwan confdir. They are
// ordinary strongSwan files, the same shape on every node, so an operator
// can read and diff them, and charon loads them as cygnet does.
type Files struct {
	IpsecConf    string
	IpsecSecrets string
	// Credentials under ipsec.d/ (relative path -> content, mode 0600 for
	// private keys).
	Creds map[string]string
}

// Credential paths under the confdir's ipsec.d, named so they never clash
// with an operator's own.
const (
	credCA   = "ipsec.d/cacerts/cygnet-cluster-ca.crt"
	credCert = "ipsec.d/certs/cygnet-node.crt"
	credKey  = "ipsec.d/private/cygnet-node.key"
)

// ConnName is the conn of the pair (self, peer) in ipsec.conf.
func ConnName(peer string) string { return "cyg-" + peer }

// connAuto is the auto= value of every conn in a phase: conns are loaded
// (answering only) before any node installs policies that require ESP.
func connAuto(phase string) (string, bool) {
	switch phase {
	case PhaseLoaded, PhaseUnrouted:
		return "add", true
	case PhaseRouted, PhaseEnforced:
		return "route", true
	}
	return "", false
}

// Render builds the files of node self for the desired state d.
func Render(self Node, nodes []Node, d Desired, caPEM, certPEM, keyPEM string) Files {
	return RenderHeld(self, nodes, d, nil, caPEM, certPEM, keyPEM)
}

// RenderHeld is Render where the conns to the peers in held stay
// auto=add whatever the phase: a pair is only routed (ESP required) once
// both ends have loaded its conn, also for a node that joins an enabled
// cluster.
func RenderHeld(self Node, nodes []Node, d Desired, held map[string]bool, caPEM, certPEM, keyPEM string) Files {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by the cygnet cluster agent; edits are overwritten.\n")
	fmt.Fprintf(&b, "# cluster state %s, generation %d, phase %s\n\n", d.State, d.Generation, d.Phase)
	b.WriteString("config setup\n\tuniqueids=yes\n\n")
	auto, on := connAuto(d.Phase)
	peers := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		if n.Name != self.Name {
			peers = append(peers, n)
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
	f := Files{Creds: map[string]string{}}
	if on {
		b.WriteString("conn %default\n")
		b.WriteString("\tkeyexchange=ikev2\n\ttype=transport\n")
		b.WriteString("\tike=aes256gcm16-prfsha384-ecp384!\n\tesp=aes256gcm16-ecp384!\n")
		b.WriteString("\tikelifetime=4h\n\tlifetime=1h\n\tmargintime=9m\n\trekey=yes\n\treauth=no\n")
		b.WriteString("\tkeyingtries=%forever\n\tdpddelay=30s\n\tdpdtimeout=150s\n\tdpdaction=restart\n")
		fmt.Fprintf(&b, "\tleft=%s\n\tleftid=@%s\n", self.Addr, self.Name)
		if d.Auth == "psk" {
			b.WriteString("\tauthby=secret\n")
		} else {
			fmt.Fprintf(&b, "\tleftauth=pubkey\n\trightauth=pubkey\n\tleftcert=%s\n", filepath.Base(credCert))
			b.WriteString("\tleftsendcert=always\n\trightca=\"O=cygnet, CN=cygnet cluster CA\"\n")
		}
		fmt.Fprintf(&b, "\tauto=%s\n\n", auto)
		for _, p := range peers {
			fmt.Fprintf(&b, "conn %s\n\tright=%s\n\trightid=@%s\n", ConnName(p.Name), p.Addr, p.Name)
			if held[p.Name] && auto == "route" {
				b.WriteString("\t# held until the peer has loaded its conn back\n\tauto=add\n")
			}
			b.WriteString("\n")
		}
	}
	f.IpsecConf = b.String()
	var s strings.Builder
	s.WriteString("# Written by the cygnet cluster agent; edits are overwritten.\n")
	if on {
		if d.Auth == "psk" {
			fmt.Fprintf(&s, ": PSK 0s%s\n", d.PSK)
		} else {
			fmt.Fprintf(&s, ": ECDSA %s\n", filepath.Base(credKey))
		}
	}
	f.IpsecSecrets = s.String()
	if d.Auth != "psk" {
		f.Creds[credCA] = caPEM
		f.Creds[credCert] = certPEM
		f.Creds[credKey] = keyPEM
	}
	return f
}
