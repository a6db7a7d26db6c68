package config

import (
	"slices"
	"strings"
)

// Refusal is a conn of ipsec.conf that is not loaded because of errors, as
// strongSwan's starter skips a conn it cannot use and loads the others.
type Refusal struct {
	Conn string
	// Pos is where the conn section starts.
	Pos Pos
	// Errors are the Error diagnostics that concern the conn: those made
	// in its section and those at a line it inherits (also=, %default),
	// which are reported once for all conns that inherit them.
	Errors Diagnostics
}

// Split sorts the Error diagnostics of one reading into the conns they
// refuse and the errors that refuse the whole configuration: syntax errors
// that break the file's structure, also= references that are missing or
// loop, config setup and ca sections, ipsec.secrets, strongswan.conf and
// unreadable files. A daemon runs the valid conns only when fatal is empty;
// otherwise it refuses the configuration as a whole.
//
// Split fails closed: an error made in a conn's section whose conn is
// nonetheless loaded is fatal, so is one that no refused conn accounts for.
func (l *Loaded) Split(ds Diagnostics) (refused []Refusal, fatal Diagnostics) {
	loaded := map[string]bool{}
	for _, c := range l.Conns {
		loaded[c.Name] = true
	}
	// Lines each refused conn reads (its own and the inherited ones).
	type conn struct {
		c     *Conn
		lines map[Pos]bool
	}
	var bad []conn
	if l.IPsec != nil {
		for _, c := range l.IPsec.Conns {
			if c.Valid {
				continue
			}
			lines := map[Pos]bool{}
			for _, st := range c.Settings {
				lines[st.Pos] = true
			}
			bad = append(bad, conn{c, lines})
			refused = append(refused, Refusal{Conn: c.Name, Pos: c.Pos})
		}
	}
	for _, d := range ds {
		if d.Severity != Error {
			continue
		}
		name, inConn := strings.CutPrefix(d.Section, "conn ")
		if !inConn || d.Keyword == "also" || name != "%default" && loaded[name] {
			fatal = append(fatal, d)
			continue
		}
		found := false
		for i, b := range bad {
			if b.c.Name == name || b.lines[d.Pos] {
				refused[i].Errors = append(refused[i].Errors, d)
				found = true
			}
		}
		if !found && name != "%default" {
			// a conn's error, yet no conn it could have refused
			fatal = append(fatal, d)
		}
	}
	return refused, fatal
}

// RefusedNames lists the conns of refusals, in file order.
func RefusedNames(refused []Refusal) []string {
	names := make([]string, 0, len(refused))
	for _, r := range refused {
		if !slices.Contains(names, r.Conn) {
			names = append(names, r.Conn)
		}
	}
	return names
}
