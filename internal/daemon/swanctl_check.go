package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/vici"
)

// `cygnet config check` also reads swanctl.conf the way swanctl
// --load-all does (the same settings syntax as strongswan.conf, include
// statements, certificates named relative to swanctl/x509 and x509ca),
// turns each connection into the load-conn message swanctl would send and
// runs it through the same mapping as the VICI server, so that what
// load-conn would refuse is reported at the file and line of the key.

// SwanctlConn is a connection of swanctl.conf as config check reports
// it.
type SwanctlConn struct {
	Name  string
	Child string
	Pos   config.Pos
	OK    bool
}

// SwanctlCheck is what CheckSwanctl found.
type SwanctlCheck struct {
	Path  string // the swanctl.conf read; empty when there is none
	Conns []SwanctlConn
	// Secrets counts the secrets section's IKE shared keys.
	Secrets     int
	Diagnostics config.Diagnostics
}

// swListKeys are the swanctl.conf keys swanctl sends as lists (values
// split at commas).
var swListKeys = []string{"local_addrs", "remote_addrs", "proposals", "vips", "pools", "local_ts", "remote_ts",
	"esp_proposals", "ah_proposals", "groups", "cert_policy", "certs", "cacerts", "pubkeys", "ppk_id"}

// SwanctlDir is the swanctl directory beside a configuration's ipsec.conf
// (/etc/swanctl, /etc/strongswan/swanctl), or $SWANCTL_DIR when set, as
// swanctl itself honours it.
func SwanctlDir(l config.Layout) string {
	if d := os.Getenv("SWANCTL_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(l.IPsecConf), "swanctl")
}

// CheckSwanctl reads dir/swanctl.conf. ipsecConns are the names ipsec.conf
// defines: load-conn refuses a VICI conn of the same name.
func CheckSwanctl(dir string, ipsecConns []string) SwanctlCheck {
	path := filepath.Join(dir, "swanctl.conf")
	var out SwanctlCheck
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return out
	}
	out.Path = path
	sw, ds := config.ParseStrongswanConfFile(path)
	for _, d := range ds {
		// The strongswan.conf interpretation's notes (sections other
		// than charon) do not apply; syntax and include findings do.
		if d.Severity != config.Info || d.Keyword == "include" {
			out.Diagnostics = append(out.Diagnostics, d)
		}
	}
	add := func(sev config.Severity, pos config.Pos, section, key, format string, args ...any) {
		out.Diagnostics = append(out.Diagnostics, config.Diagnostic{Severity: sev, Pos: pos, Section: section,
			Keyword: key, Message: fmt.Sprintf(format, args...)})
	}
	root := sw.Root
	for _, s := range root.Settings {
		add(config.Warning, s.Pos, "", s.Key, "top-level setting ignored by swanctl")
	}
	for _, sec := range root.Sections {
		switch sec.Name {
		case "connections", "secrets":
		case "authorities", "pools":
			if len(sec.Sections) > 0 {
				add(config.Error, sec.Pos, "", sec.Name, "not supported by cygnet: swanctl --load-all would fail on it")
			}
		default:
			add(config.Warning, sec.Pos, "", sec.Name, "unknown section, ignored by swanctl")
		}
	}
	if conns := root.Section("connections"); conns != nil {
		for _, s := range conns.Settings {
			add(config.Warning, s.Pos, "connections", s.Key, "a setting outside a connection is ignored")
		}
		for _, c := range conns.Sections {
			out.Conns = append(out.Conns, checkSwanctlConn(dir, c, ipsecConns, add))
		}
	}
	if secrets := root.Section("secrets"); secrets != nil {
		for _, s := range secrets.Sections {
			section := "secrets." + s.Name
			switch {
			case strings.HasPrefix(s.Name, "ike"):
				if _, ok := s.Get("secret"); !ok {
					add(config.Error, s.Pos, section, "secret", "missing")
					continue
				}
				bad := false
				for _, st := range s.Settings {
					switch {
					case st.Key == "secret":
					case st.Key == "id" || strings.HasPrefix(st.Key, "id-"):
						if _, err := ike.ParseIdentity(st.Value); err != nil {
							add(config.Error, st.Pos, section, st.Key, "%v", err)
							bad = true
						}
					default:
						add(config.Warning, st.Pos, section, st.Key, "unknown key, ignored by swanctl")
					}
				}
				if !bad {
					out.Secrets++
				}
			case strings.HasPrefix(s.Name, "private"), strings.HasPrefix(s.Name, "rsa"),
				strings.HasPrefix(s.Name, "ecdsa"), strings.HasPrefix(s.Name, "pkcs8"), strings.HasPrefix(s.Name, "pkcs12"):
				// Passphrases for swanctl's key files: swanctl uses them.
			default:
				typ, _, _ := strings.Cut(s.Name, "-")
				add(config.Error, s.Pos, section, "", "only IKE shared keys are supported; load-shared refuses %s secrets", typ)
			}
		}
	}
	return out
}

type addDiag func(sev config.Severity, pos config.Pos, section, key, format string, args ...any)

// checkSwanctlConn builds the load-conn message of one connection, with
// the position of every key, and maps it as the VICI server would.
func checkSwanctlConn(dir string, c *config.SwSection, ipsecConns []string, add addDiag) SwanctlConn {
	section := "connections." + c.Name
	res := SwanctlConn{Name: c.Name, Pos: c.Pos}
	pos := map[string]config.Pos{}
	ok := true
	if len(c.Refs) > 0 {
		add(config.Warning, c.Pos, section, "", "inherits from %s: config check does not follow references", strings.Join(c.Refs, ", "))
	}
	var build func(s *config.SwSection, prefix string) *vici.Message
	build = func(s *config.SwSection, prefix string) *vici.Message {
		m := vici.NewMessage()
		for _, st := range s.Settings {
			key := prefix + st.Key
			pos[key] = st.Pos
			if !slices.Contains(swListKeys, st.Key) {
				m.Set(st.Key, st.Value)
				continue
			}
			var items []string
			for _, v := range strings.Split(st.Value, ",") {
				if v = strings.TrimSpace(v); v != "" {
					items = append(items, v)
				}
			}
			switch st.Key {
			case "certs", "cacerts":
				sub := map[string]string{"certs": "x509", "cacerts": "x509ca"}[st.Key]
				for i, f := range items {
					if !filepath.IsAbs(f) {
						f = filepath.Join(dir, sub, f)
					}
					data, err := os.ReadFile(f)
					if err != nil {
						add(config.Error, st.Pos, section, key, "cannot read %s: %v", f, errors.Unwrap(err))
						ok = false
						items[i] = ""
						continue
					}
					items[i] = string(data)
				}
				items = slices.DeleteFunc(items, func(s string) bool { return s == "" })
			}
			m.SetList(st.Key, items)
		}
		for _, sub := range s.Sections {
			pos[prefix+sub.Name] = sub.Pos
			m.SetSection(sub.Name, build(sub, prefix+sub.Name+"."))
		}
		return m
	}
	m := build(c, "")
	if slices.Contains(ipsecConns, c.Name) {
		add(config.Error, c.Pos, section, "", "ipsec.conf defines a conn of the same name: load-conn refuses it")
		ok = false
	}
	vc, err := parseVICIConn(c.Name, m, 32)
	if err != nil {
		// The mapping names the key first ("children.NAME.mode: …").
		msg := err.Error()
		key, rest, _ := strings.Cut(msg, ": ")
		p, found := pos[key]
		for k := key; !found && strings.Contains(k, "."); {
			k = k[:strings.LastIndexByte(k, '.')]
			p, found = pos[k]
		}
		if !found {
			p, key, rest = c.Pos, "", msg
		}
		add(config.Error, p, section, key, "%s", rest)
		ok = false
	}
	res.Child, res.OK = vc.child, ok
	return res
}
