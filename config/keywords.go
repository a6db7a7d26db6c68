package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// target is what a keyword handler writes into.
type target struct {
	setup *Setup
	conn  *Conn
	end   *End
	ca    *CA
	// notes are diagnostics a handler reports about an accepted value,
	// at the line of the setting (proposals: dropped algorithms).
	notes []proposalNote
}

// keyword is one ipsec.conf keyword. Keywords of a connection end are
// written once and used with "left" and "right" prefixes.
type keyword struct {
	name    string
	aliases []string
	kind    SectionKind
	end     bool
	// deprecated keywords are reported and ignored, as strongSwan does.
	deprecated string
	set        func(t *target, v string) error
	get        func(t *target) string // "" when unset
}

func boolKW(f func(t *target) *bool) (func(*target, string) error, func(*target) string) {
	return func(t *target, v string) error {
			b, err := parseBool(v)
			*f(t) = b
			return err
		}, func(t *target) string {
			return formatBool(*f(t))
		}
}

func strKW(f func(t *target) *string) (func(*target, string) error, func(*target) string) {
	return func(t *target, v string) error { *f(t) = v; return nil },
		func(t *target) string { return *f(t) }
}

func durKW(f func(t *target) *time.Duration) (func(*target, string) error, func(*target) string) {
	return func(t *target, v string) error {
			d, err := parseDuration(v)
			*f(t) = d
			return err
		}, func(t *target) string {
			return formatDuration(*f(t))
		}
}

func u64KW(f func(t *target) *uint64) (func(*target, string) error, func(*target) string) {
	return func(t *target, v string) error {
			n, err := parseUint(v, 64)
			*f(t) = n
			return err
		}, func(t *target) string {
			return strconv.FormatUint(*f(t), 10)
		}
}

func enumKW(f func(t *target) *string, allowed ...string) (func(*target, string) error, func(*target) string) {
	return func(t *target, v string) error {
			if _, err := parseEnum(v, allowed...); err != nil {
				return err
			}
			*f(t) = v
			return nil
		}, func(t *target) string {
			return *f(t)
		}
}

func kw(name string, kind SectionKind, pair func() (func(*target, string) error, func(*target) string), aliases ...string) keyword {
	set, get := pair()
	return keyword{name: name, kind: kind, set: set, get: get, aliases: aliases}
}

func endKW(name string, pair func() (func(*target, string) error, func(*target) string), aliases ...string) keyword {
	k := kw(name, SectionConn, pair, aliases...)
	k.end = true
	return k
}

func deprecated(name string, kind SectionKind, end bool, why string) keyword {
	return keyword{name: name, kind: kind, end: end, deprecated: why}
}

// keywords lists every keyword of strongSwan 5.9's ipsec.conf. The order is
// the order WriteTo uses.
var keywords []keyword

func init() {
	keywords = []keyword{
		// config setup
		kw("uniqueids", SectionSetup, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.setup.UniqueIDs }, "no", "yes", "replace", "keep", "never")
		}),
		kw("charondebug", SectionSetup, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.setup.CharonDebug })
		}),
		kw("cachecrls", SectionSetup, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.setup.CacheCRLs })
		}),
		kw("strictcrlpolicy", SectionSetup, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.setup.StrictCRLPolicy }, "no", "yes", "ifuri")
		}),

		// conn
		kw("auto", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.Auto }, "ignore", "add", "route", "start")
		}),
		kw("keyexchange", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.KeyExchange }, "ike", "ikev1", "ikev2")
		}),
		kw("type", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					switch v {
					case "passthrough":
						v = "pass"
					case "reject":
						v = "drop"
					}
					if _, err := parseEnum(v, "tunnel", "transport", "transport_proxy", "beet", "pass", "drop"); err != nil {
						return err
					}
					t.conn.Type = v
					return nil
				}, func(t *target) string {
					return t.conn.Type
				}
		}),
		kw("compress", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.Compress })
		}),
		kw("installpolicy", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.InstallPolicy })
		}),
		kw("aggressive", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.Aggressive })
		}),
		kw("authby", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.AuthBy },
				"psk", "secret", "pubkey", "rsa", "rsasig", "ecdsa", "ecdsasig", "xauthpsk", "xauthrsasig", "never")
		}),
		kw("eap_identity", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.EAPIdentity })
		}),
		kw("aaa_identity", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.AAAIdentity })
		}),
		kw("mobike", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.MOBIKE })
		}),
		kw("forceencaps", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.ForceEncaps })
		}),
		kw("fragmentation", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.Fragmentation }, "no", "accept", "yes", "force")
		}),
		kw("ikedscp", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					n, err := strconv.ParseUint(v, 2, 6)
					if err != nil {
						return fmt.Errorf("config: bad DSCP %q: want six binary digits", v)
					}
					t.conn.IKEDSCP = uint8(n)
					return nil
				}, func(t *target) string {
					return strconv.FormatUint(uint64(t.conn.IKEDSCP), 2)
				}
		}),
		kw("ikelifetime", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.IKELifetime })
		}),
		kw("lifetime", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.Lifetime })
		}, "keylife"),
		kw("margintime", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.MarginTime })
		}, "rekeymargin"),
		kw("lifebytes", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return u64KW(func(t *target) *uint64 { return &t.conn.LifeBytes })
		}),
		kw("marginbytes", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return u64KW(func(t *target) *uint64 { return &t.conn.MarginBytes })
		}),
		kw("lifepackets", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return u64KW(func(t *target) *uint64 { return &t.conn.LifePackets })
		}),
		kw("marginpackets", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return u64KW(func(t *target) *uint64 { return &t.conn.MarginPackets })
		}),
		kw("keyingtries", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					if v == "%forever" {
						t.conn.KeyingTries = 0
						return nil
					}
					n, err := parseUint(v, 31)
					t.conn.KeyingTries = int(n)
					return err
				}, func(t *target) string {
					if t.conn.KeyingTries == 0 {
						return "%forever"
					}
					return strconv.Itoa(t.conn.KeyingTries)
				}
		}),
		kw("rekeyfuzz", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					n, err := parsePercent(v)
					t.conn.RekeyFuzz = n
					return err
				}, func(t *target) string {
					return strconv.Itoa(t.conn.RekeyFuzz) + "%"
				}
		}),
		kw("rekey", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.Rekey })
		}),
		kw("reauth", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.Reauth })
		}),
		kw("ike", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					props, strict, notes, err := parseProposals(v, ProposalIKE)
					if err != nil {
						return err
					}
					t.conn.IKE, t.conn.IKEStrict = props, strict
					t.notes = append(t.notes, notes...)
					return nil
				}, func(t *target) string {
					return formatProposals(t.conn.IKE, t.conn.IKEStrict)
				}
		}),
		kw("esp", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					props, strict, notes, err := parseProposals(v, ProposalESP)
					if err != nil {
						return err
					}
					t.conn.ESP, t.conn.ESPStrict = props, strict
					t.notes = append(t.notes, notes...)
					return nil
				}, func(t *target) string {
					return formatProposals(t.conn.ESP, t.conn.ESPStrict)
				}
		}),
		kw("ah", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.AH })
		}),
		kw("dpddelay", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.DPDDelay })
		}),
		kw("dpdtimeout", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.DPDTimeout })
		}),
		kw("dpdaction", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.DPDAction }, "none", "clear", "hold", "restart")
		}),
		kw("closeaction", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.CloseAction }, "none", "clear", "hold", "restart")
		}),
		kw("sha256_96", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.SHA256_96 })
		}),
		kw("inactivity", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return durKW(func(t *target) *time.Duration { return &t.conn.Inactivity })
		}),
		kw("modeconfig", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.ModeConfig }, "push", "pull")
		}),
		kw("xauth", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.conn.XAuth }, "server", "client")
		}),
		kw("xauth_identity", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.XAuthIdentity })
		}),
		kw("mediation", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.conn.Mediation })
		}),
		kw("mediated_by", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.MediatedBy })
		}),
		kw("me_peerid", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.conn.MEPeerID })
		}),
		kw("reqid", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					n, err := parseUint(v, 32)
					t.conn.ReqID = uint32(n)
					return err
				}, func(t *target) string {
					return strconv.FormatUint(uint64(t.conn.ReqID), 10)
				}
		}),
		kw("replay_window", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					n, err := parseUint(v, 32)
					t.conn.ReplayWindow = int64(n)
					return err
				}, func(t *target) string {
					if t.conn.ReplayWindow < 0 {
						return ""
					}
					return strconv.FormatInt(t.conn.ReplayWindow, 10)
				}
		}),
		kw("mark", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					m, err := parseMark(v)
					t.conn.MarkIn, t.conn.MarkOut = m, m
					return err
				}, func(t *target) string {
					if t.conn.MarkIn != t.conn.MarkOut || t.conn.MarkIn.IsZero() {
						return ""
					}
					return formatMark(t.conn.MarkIn)
				}
		}),
		kw("mark_in", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					m, err := parseMark(v)
					t.conn.MarkIn = m
					return err
				}, func(t *target) string {
					if t.conn.MarkIn == t.conn.MarkOut || t.conn.MarkIn.IsZero() {
						return ""
					}
					return formatMark(t.conn.MarkIn)
				}
		}),
		kw("mark_out", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					m, err := parseMark(v)
					t.conn.MarkOut = m
					return err
				}, func(t *target) string {
					if t.conn.MarkIn == t.conn.MarkOut || t.conn.MarkOut.IsZero() {
						return ""
					}
					return formatMark(t.conn.MarkOut)
				}
		}),
		kw("tfc", SectionConn, func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					if v == "%mtu" {
						t.conn.TFC = -1
						return nil
					}
					n, err := parseUint(v, 31)
					t.conn.TFC = int(n)
					return err
				}, func(t *target) string {
					switch t.conn.TFC {
					case -1:
						return "%mtu"
					case 0:
						return ""
					}
					return strconv.Itoa(t.conn.TFC)
				}
		}),

		// connection ends: left*, right*
		endKW("", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
				if strings.ContainsAny(v, " \t,") {
					return fmt.Errorf("config: bad host %q: one address or name", v)
				}
				t.end.Host = v
				return nil
			}, func(t *target) string { return t.end.Host }
		}),
		endKW("ikeport", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					n, err := parseUint(v, 16)
					t.end.IKEPort = uint16(n)
					return err
				}, func(t *target) string {
					return strconv.Itoa(int(t.end.IKEPort))
				}
		}),
		endKW("subnet", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					l, err := parseSubnets(v)
					if err != nil {
						return err
					}
					t.end.Subnets, t.end.SubnetDynamic = l.prefixes, l.dynamic
					t.end.SubnetProtoPort, t.end.HasSubnetProtoPort = l.pp, l.hasPP
					return nil
				}, func(t *target) string {
					return formatSubnets(t.end)
				}
		}, "subnetwithin"),
		endKW("protoport", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
					ts, err := parseProtoPort(v)
					t.end.ProtoPort = ts
					return err
				}, func(t *target) string {
					if t.end.ProtoPort == (ike.TrafficSelector{}) {
						return ""
					}
					return formatProtoPort(t.end.ProtoPort)
				}
		}),
		endKW("sourceip", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.SourceIP })
		}),
		endKW("dns", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.DNS })
		}),
		endKW("firewall", func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.end.Firewall })
		}),
		endKW("hostaccess", func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.end.HostAccess })
		}),
		endKW("allowany", func() (func(*target, string) error, func(*target) string) {
			return boolKW(func(t *target) *bool { return &t.end.AllowAny })
		}),
		endKW("updown", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Updown })
		}),
		endKW("auth", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Auth })
		}),
		endKW("auth2", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Auth2 })
		}),
		endKW("id", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
				if _, err := parseID(v); err != nil {
					return err
				}
				t.end.ID = v
				return nil
			}, func(t *target) string { return t.end.ID }
		}),
		endKW("id2", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.ID2 })
		}),
		endKW("sigkey", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.SigKey })
		}, "rsasigkey"),
		endKW("cert", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Cert })
		}),
		endKW("cert2", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Cert2 })
		}),
		endKW("certpolicy", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.CertPolicy })
		}),
		endKW("sendcert", func() (func(*target, string) error, func(*target) string) {
			return func(t *target, v string) error {
				switch v {
				case "yes":
					v = "always"
				case "no":
					v = "never"
				}
				if _, err := parseEnum(v, "always", "ifasked", "never"); err != nil {
					return err
				}
				t.end.SendCert = v
				return nil
			}, func(t *target) string { return t.end.SendCert }
		}),
		endKW("ca", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.CA })
		}),
		endKW("ca2", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.CA2 })
		}),
		endKW("groups", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Groups })
		}),
		endKW("groups2", func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.end.Groups2 })
		}),

		// ca sections
		kw("auto", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return enumKW(func(t *target) *string { return &t.ca.Auto }, "ignore", "add", "route", "start")
		}),
		kw("cacert", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.CACert })
		}),
		kw("crluri", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.CRLURI })
		}, "crluri1"),
		kw("crluri2", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.CRLURI2 })
		}),
		kw("ocspuri", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.OCSPURI })
		}, "ocspuri1"),
		kw("ocspuri2", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.OCSPURI2 })
		}),
		kw("certuribase", SectionCA, func() (func(*target, string) error, func(*target) string) {
			return strKW(func(t *target) *string { return &t.ca.CertURIBase })
		}),
	}
	for _, n := range []string{"interfaces", "dumpdir", "charonstart", "plutostart", "klipsdebug",
		"plutodebug", "prepluto", "postpluto", "plutostderrlog", "fragicmp", "packetdefault",
		"hidetos", "overridemtu", "crlcheckinterval", "nocrsend", "nat_traversal", "keep_alive",
		"force_keepalive", "virtual_private"} {
		keywords = append(keywords, deprecated(n, SectionSetup, false, "obsolete since strongSwan 5.0"))
	}
	for _, n := range []string{"pkcs11module", "pkcs11initargs", "pkcs11keepstate", "pkcs11proxy"} {
		keywords = append(keywords, deprecated(n, SectionSetup, false, "replaced by strongSwan's pkcs11 plugin"))
	}
	keywords = append(keywords,
		deprecated("ldaphost", SectionCA, false, "obsolete since strongSwan 5.0"),
		deprecated("ldapbase", SectionCA, false, "obsolete since strongSwan 5.0"),
		deprecated("pfs", SectionConn, false, "PFS is enabled by a DH group in esp="),
		deprecated("pfsgroup", SectionConn, false, "PFS is enabled by a DH group in esp="),
		deprecated("eap", SectionConn, false, "replaced by leftauth/rightauth=eap-..."),
		deprecated("nexthop", SectionConn, true, "obsolete since strongSwan 5.0"),
	)
}

// lookupKeyword finds the keyword for key as written in a section of the
// given kind. For end keywords it reports which end.
func lookupKeyword(key string, kind SectionKind) (kw *keyword, side string, ok bool) {
	if e, found := keywordIndex[kwKey{key, kind}]; found {
		return e.kw, e.side, true
	}
	return nil, "", false
}

type kwKey struct {
	name string
	kind SectionKind
}

type kwEntry struct {
	kw   *keyword
	side string
}

// keywordIndex maps every spelling (aliases and left/right forms) to its
// keyword.
var keywordIndex = map[kwKey]kwEntry{}

func init() {
	for i := range keywords {
		k := &keywords[i]
		for _, n := range append([]string{k.name}, k.aliases...) {
			if k.end {
				keywordIndex[kwKey{"left" + n, k.kind}] = kwEntry{k, "left"}
				keywordIndex[kwKey{"right" + n, k.kind}] = kwEntry{k, "right"}
			} else {
				keywordIndex[kwKey{n, k.kind}] = kwEntry{k, ""}
			}
		}
	}
}

// knownElsewhere reports in which other section kind a keyword is valid.
func knownElsewhere(key string, kind SectionKind) (SectionKind, bool) {
	for _, other := range []SectionKind{SectionSetup, SectionConn, SectionCA} {
		if other == kind {
			continue
		}
		if _, _, ok := lookupKeyword(key, other); ok {
			return other, true
		}
	}
	return 0, false
}

// canonical returns the canonical spelling of a keyword (aliases resolved,
// with its left/right prefix).
func (k *keyword) canonical(side string) string { return side + k.name }

func formatProposals(props []ike.Proposal, strict bool) string {
	if len(props) == 0 {
		return ""
	}
	s := make([]string, len(props))
	for i, p := range props {
		s[i] = FormatProposal(p)
	}
	out := strings.Join(s, ",")
	if strict {
		out += "!"
	}
	return out
}

// parseID parses an identity as ipsec.conf writes it. A leading '%' other
// than %any marks a "loose" remote identity in strongSwan; it is accepted
// and the rest parsed.
func parseID(v string) (ike.Identity, error) {
	if strings.HasPrefix(v, "%") && v != "%any" && v != "%any6" {
		v = v[1:]
	}
	id, err := ike.ParseIdentity(v)
	if err != nil {
		return ike.Identity{}, fmt.Errorf("config: bad identity %q: %w", v, err)
	}
	return id, nil
}
