// Package config reads strongSwan 5.9's configuration files — ipsec.conf
// (the "stroke" format), ipsec.secrets and the strongswan.conf subset a
// cygnet node uses — and maps them onto ike.Config.
//
// The files are read the way strongSwan's starter and charon read them, so
// that a node keeps its configuration when cygnet replaces strongSwan. Every
// keyword strongSwan 5.9 knows is recognised by name; what cygnet does not
// implement is reported as a Diagnostic naming file, line and keyword: an
// error when ignoring it would weaken security (tunnel mode, type=pass or
// drop, EAP, XAUTH, IKEv1, virtual IPs), a warning otherwise.
//
// A daemon loads its configuration with
//
//	layout, err := config.FindLayout(confdir) // flag, $CYGNET_CONFDIR, /etc, /etc/strongswan
//	loaded, diags := config.Load(layout, nil)
//	// print diags (each has Severity, File, Line, Keyword, Message);
//	// diags.Err() is non-nil when any is an Error
//	engineConfig := &loaded.Config // ike.Config: valid, non-ignored conns and credentials
//
// Conns with an error are never in loaded.Config. The layers are usable on
// their own: ParseIPsecConf / Interpret (ipsec.conf to typed Conn values
// with the file:line of every keyword), ParseSecrets, ParseStrongswanConf,
// ParseProposals; IPsecConf.WriteTo writes a typed configuration back as
// ipsec.conf, and Changes compares two readings for "ipsec update".
//
// The identities follow RFC 7296 3.5, the proposals RFC 7296 3.3, traffic
// selectors RFC 7296 3.13.1 and IKE fragmentation RFC 7383. Everything here
// is written from strongSwan's documentation and observed behaviour; no
// strongSwan code is used.
package config
