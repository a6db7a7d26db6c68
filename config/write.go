package config

import (
	"bufio"
	"io"
)

// WriteTo writes the configuration as ipsec.conf text. Every conn is
// written out in full (inheritance already applied) with the keywords whose
// values differ from strongSwan's defaults, so that reading the text gives
// the same typed values back. Secrets are not part of ipsec.conf and never
// written.
func (c *IPsecConf) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriter(w)}
	cw.line("# ipsec.conf written by cygnet")
	cw.line("")
	cw.line("config setup")
	defSetup := &Setup{UniqueIDs: "yes", StrictCRLPolicy: "no"}
	writeSection(cw, SectionSetup, &target{setup: &c.Setup}, &target{setup: defSetup})
	for _, ca := range c.CAs {
		cw.line("")
		cw.line("ca " + quoteValue(ca.Name))
		writeSection(cw, SectionCA, &target{ca: ca}, &target{ca: &CA{Auto: "ignore"}})
	}
	for _, conn := range c.Conns {
		cw.line("")
		cw.line("conn " + quoteValue(conn.Name))
		writeSection(cw, SectionConn, &target{conn: conn}, &target{conn: NewConn(conn.Name)})
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil && cw.err == nil {
		cw.err = err
	}
	return cw.n, cw.err
}

func writeSection(cw *countWriter, kind SectionKind, t, def *target) {
	for i := range keywords {
		k := &keywords[i]
		if k.kind != kind || k.deprecated != "" {
			continue
		}
		sides := []string{""}
		if k.end {
			sides = []string{"left", "right"}
		}
		for _, side := range sides {
			switch side {
			case "left":
				t.end, def.end = &t.conn.Left, &def.conn.Left
			case "right":
				t.end, def.end = &t.conn.Right, &def.conn.Right
			}
			v := k.get(t)
			if v == "" || v == k.get(def) {
				continue
			}
			cw.line("\t" + k.canonical(side) + "=" + quoteValue(v))
		}
	}
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) line(s string) {
	if c.err != nil {
		return
	}
	n, err := io.WriteString(c.w, s+"\n")
	c.n += int64(n)
	c.err = err
}
