package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Limits that keep hostile or broken input from exhausting the reader.
const (
	// maxFileSize bounds any one configuration file. strongSwan has no
	// limit; a real ipsec.conf is a few kilobytes.
	maxFileSize = 16 << 20
	// maxIncludeDepth is how deep includes nest, as in strongSwan's parsers
	// (a loop is reported before the limit is reached).
	maxIncludeDepth = 10
	// maxErrorsPerFile stops reporting syntax errors in one file after this
	// many, so that a binary file gives a readable report.
	maxErrorsPerFile = 20
)

// SectionKind tells the three ipsec.conf section types apart.
type SectionKind uint8

// Section kinds.
const (
	SectionSetup SectionKind = iota + 1 // config setup
	SectionConn                         // conn NAME
	SectionCA                           // ca NAME
)

func (k SectionKind) String() string {
	switch k {
	case SectionSetup:
		return "config setup"
	case SectionConn:
		return "conn"
	case SectionCA:
		return "ca"
	}
	return fmt.Sprintf("section(%d)", uint8(k))
}

// Setting is one "key=value" line as written. A line "key=" has Clear set:
// it removes a value inherited through also= or %default.
type Setting struct {
	Key   string
	Value string
	Clear bool
	Pos   Pos
}

// Section is one section of ipsec.conf as written. A section name that
// appears twice is one section (strongSwan merges them); Pos is the first
// header.
type Section struct {
	Kind     SectionKind
	Name     string
	Pos      Pos
	Settings []Setting // in file order; for a key set twice the last wins
	Also     []Setting // also= references in file order

	parents  []*Section // linearised also= chain, most important first
	resolved bool
	index    map[string]int // key -> index of its last setting

	dupReported map[string]bool
	alsoBroken  bool // an also= reference is missing or loops
}

func (s *Section) add(st Setting) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[st.Key] = len(s.Settings)
	s.Settings = append(s.Settings, st)
}

// lookup returns the section's own last setting of key.
func (s *Section) lookup(key string) (Setting, bool) {
	if s.index == nil {
		// a Section built by hand
		for i := len(s.Settings) - 1; i >= 0; i-- {
			if s.Settings[i].Key == key {
				return s.Settings[i], true
			}
		}
		return Setting{}, false
	}
	i, ok := s.index[key]
	if !ok {
		return Setting{}, false
	}
	return s.Settings[i], true
}

// ownKeys returns the keys set in the section, sorted as strongSwan
// enumerates them (byte order).
func (s *Section) ownKeys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, st := range s.Settings {
		if !seen[st.Key] {
			seen[st.Key] = true
			keys = append(keys, st.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

// Effective returns the section's settings after also= and %default
// inheritance, in the order strongSwan's starter applies them: the
// section's own keys in byte order, then each parent's keys not seen yet.
// Keys set to nothing ("key=") hide inherited values and are not returned.
func (s *Section) Effective() []Setting {
	var out []Setting
	seen := map[string]bool{}
	for _, sec := range append([]*Section{s}, s.parents...) {
		for _, k := range sec.ownKeys() {
			if seen[k] {
				continue
			}
			seen[k] = true
			st, _ := sec.lookup(k)
			if !st.Clear {
				out = append(out, st)
			}
		}
	}
	return out
}

// RawFile is ipsec.conf as written, includes expanded, before keywords are
// interpreted.
type RawFile struct {
	Setup *Section
	Conns []*Section // in order of first appearance, %default included
	CAs   []*Section
	// Files lists every file read, the main file first.
	Files []string

	index map[string]*Section // "conn NAME" / "ca NAME" -> section
}

// Conn returns the conn section named name, or nil.
func (r *RawFile) Conn(name string) *Section {
	if r.index != nil {
		return r.index["conn "+name]
	}
	return findSection(r.Conns, name)
}

func findSection(list []*Section, name string) *Section {
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// token kinds of the ipsec.conf lexer.
type tokKind uint8

const (
	tEOF tokKind = iota
	tNewline
	tSpaces // whitespace at the start of a line: the line belongs to a section
	tEq
	tConfigSetup
	tConn
	tCA
	tString
	tInclude // Text holds the pattern
	tError   // Text holds the message
)

type token struct {
	kind tokKind
	text string
	line int
}

// lexIPsecConf splits ipsec.conf text into tokens the way strongSwan's
// lexer does: a section header starts in column 0, settings are indented,
// '#' starts a comment outside quotes, quoted strings may hold escapes and
// span lines, and "include PATTERN" names further files.
func lexIPsecConf(data []byte) []token {
	var toks []token
	line := 1
	i := 0
	bol := true
	n := len(data)
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' }
	for i < n {
		c := data[i]
		if bol {
			bol = false
			// legacy "version 2" declaration, ignored
			j := i
			for j < n && isSpace(data[j]) {
				j++
			}
			if bytes.HasPrefix(data[j:], []byte("version")) {
				for i < n && data[i] != '\n' {
					i++
				}
				continue
			}
			if isSpace(c) {
				// a line of whitespace and a comment is not a setting
				if j < n && data[j] == '#' {
					i = j
					continue
				}
				toks = append(toks, token{kind: tSpaces, line: line})
				i = j
				continue
			}
			switch {
			case bytes.HasPrefix(data[i:], []byte("config setup")):
				toks = append(toks, token{kind: tConfigSetup, line: line})
				i += len("config setup")
				continue
			case hasWord(data[i:], "conn"):
				toks = append(toks, token{kind: tConn, line: line})
				i += len("conn")
				continue
			case hasWord(data[i:], "ca"):
				toks = append(toks, token{kind: tCA, line: line})
				i += len("ca")
				continue
			}
		}
		switch {
		case c == '\n':
			toks = append(toks, token{kind: tNewline, line: line})
			line++
			i++
			bol = true
		case isSpace(c) || c == '\r':
			i++
		case c == '#':
			for i < n && data[i] != '\n' {
				i++
			}
		case c == '=':
			toks = append(toks, token{kind: tEq, line: line})
			i++
		case c == '"':
			s, next, lines, ok := lexQuoted(data, i+1)
			if !ok {
				toks = append(toks, token{kind: tError, text: "unterminated string", line: line})
				return append(toks, token{kind: tEOF, line: line + lines})
			}
			toks = append(toks, token{kind: tString, text: s, line: line})
			line += lines
			i = next
		default:
			if bytes.HasPrefix(data[i:], []byte("include")) && i+7 < n && isSpace(data[i+7]) {
				j := i + 7
				for j < n && isSpace(data[j]) {
					j++
				}
				if j < n && data[j] != '=' && data[j] != '\n' && data[j] != '#' {
					pat, next, lines, ok := lexIncludePattern(data, j)
					if !ok {
						toks = append(toks, token{kind: tError, text: "unterminated string in include", line: line})
						return append(toks, token{kind: tEOF, line: line + lines})
					}
					toks = append(toks, token{kind: tInclude, text: pat, line: line})
					line += lines
					i = next
					continue
				}
			}
			j := i
			if bytes.HasPrefix(data[i:], []byte("@#")) {
				j += 2
			}
			for j < n && !strings.ContainsRune("\"#= \t\n\r", rune(data[j])) {
				j++
			}
			toks = append(toks, token{kind: tString, text: string(data[i:j]), line: line})
			i = j
		}
	}
	return append(toks, token{kind: tEOF, line: line})
}

// hasWord reports whether b starts with w followed by a blank, a comment or
// the end of the line (so that "connection=..." is not a section header).
func hasWord(b []byte, w string) bool {
	if !bytes.HasPrefix(b, []byte(w)) {
		return false
	}
	if len(b) == len(w) {
		return true
	}
	switch b[len(w)] {
	case ' ', '\t', '\n', '\r', '#':
		return true
	}
	return false
}

// lexQuoted reads a double-quoted string starting after the opening quote.
// It returns the value, the index after the closing quote and the number of
// newlines consumed.
func lexQuoted(data []byte, i int) (string, int, int, bool) {
	var b strings.Builder
	lines := 0
	for i < len(data) {
		c := data[i]
		switch c {
		case '"':
			return b.String(), i + 1, lines, true
		case '\\':
			if i+1 >= len(data) {
				return "", i, lines, false
			}
			switch e := data[i+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '\n':
				lines++ // an escaped end of line joins the lines
			case '\r':
				if i+2 < len(data) && data[i+2] == '\n' {
					i++
					lines++
				} else {
					b.WriteByte('\r')
				}
			default:
				b.WriteByte(e)
			}
			i += 2
		default:
			if c == '\n' {
				lines++
			}
			b.WriteByte(c)
			i++
		}
	}
	return "", i, lines, false
}

// lexIncludePattern reads an include pattern: characters up to a blank, a
// '#' or the end of the line, with '\' escaping, or a quoted string.
func lexIncludePattern(data []byte, i int) (string, int, int, bool) {
	if data[i] == '"' {
		return lexQuoted(data, i+1)
	}
	var b strings.Builder
	for i < len(data) {
		c := data[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#':
			return b.String(), i, 0, true
		case c == '\\' && i+1 < len(data) && strings.IndexByte("\"#} ", data[i+1]) >= 0:
			b.WriteByte(data[i+1])
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i, 0, true
}

// confParser builds a RawFile from the tokens of the main file and its
// includes.
type confParser struct {
	raw     *RawFile
	d       *diags
	current *Section
	stack   []string // files being read, for loop detection
	read    func(string) ([]byte, error)
}

// ParseIPsecConfFile reads an ipsec.conf file and everything it includes.
// The RawFile is returned even when there are errors, with what could be
// read.
func ParseIPsecConfFile(path string) (*RawFile, Diagnostics) {
	var d diags
	raw := parseIPsecConfRaw(path, nil, &d)
	return raw, d.list
}

// ParseIPsecConf parses ipsec.conf text; name is used in diagnostics and to
// resolve relative includes.
func ParseIPsecConf(name string, data []byte) (*RawFile, Diagnostics) {
	var d diags
	raw := parseIPsecConfRaw(name, data, &d)
	return raw, d.list
}

func parseIPsecConfRaw(path string, data []byte, d *diags) *RawFile {
	p := &confParser{
		raw: &RawFile{Setup: &Section{Kind: SectionSetup, Pos: Pos{File: path}}},
		d:   d,
		read: func(name string) ([]byte, error) {
			return readLimited(name)
		},
	}
	if data != nil {
		p.parseData(path, data)
	} else {
		p.parseFile(path, Pos{})
	}
	p.resolveAlso(p.raw.Conns, "conn")
	p.resolveAlso(p.raw.CAs, "ca")
	return p.raw
}

// readLimited reads a file of at most maxFileSize bytes.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", name)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	buf := make([]byte, 0, fi.Size()+1)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 4096)
		}
		m, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if len(buf) > maxFileSize {
			return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
		}
		if err != nil {
			break
		}
	}
	return buf, nil
}

func (p *confParser) parseFile(path string, from Pos) {
	data, err := p.read(path)
	if err != nil {
		if from.File == "" {
			from = Pos{File: path}
		}
		p.d.errorf(from, "", "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	p.parseData(path, data)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (p *confParser) parseData(path string, data []byte) {
	p.raw.Files = append(p.raw.Files, path)
	p.stack = append(p.stack, filepath.Clean(path))
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()

	toks := lexIPsecConf(data)
	errs := 0
	pos := func(t token) Pos { return Pos{File: path, Line: t.line} }
	fail := func(t token, format string, args ...any) {
		errs++
		if errs <= maxErrorsPerFile {
			p.d.errorf(pos(t), "", format, args...)
		} else if errs == maxErrorsPerFile+1 {
			p.d.errorf(pos(t), "", "too many errors, giving up on this file")
		}
	}
	i := 0
	next := func() token { t := toks[i]; i++; return t }
	peek := func() token { return toks[i] }
	// skipLine recovers from a syntax error at the next line.
	skipLine := func() {
		for peek().kind != tNewline && peek().kind != tEOF {
			i++
		}
	}
	for errs <= maxErrorsPerFile {
		t := next()
		switch t.kind {
		case tEOF:
			return
		case tNewline:
		case tError:
			fail(t, "%s", t.text)
			return
		case tInclude:
			p.include(path, t)
		case tSpaces:
			p.parseSetting(path, &i, toks, fail)
		case tConfigSetup, tConn, tCA:
			var name string
			var hasName bool
			if peek().kind == tString {
				name, hasName = next().text, true
			}
			if peek().kind != tNewline && peek().kind != tEOF {
				fail(peek(), "unexpected %s after section header", describe(peek()))
				skipLine()
				continue
			}
			p.addSection(t, name, hasName, pos(t), fail)
		case tString:
			if peek().kind == tEq {
				fail(t, "setting %q must be indented under a section (conn, ca or config setup)", t.text)
			} else {
				fail(t, "unknown section type %q: expected config setup, conn or ca", t.text)
			}
			skipLine()
		default:
			fail(t, "unexpected %s at the start of a line", describe(t))
			skipLine()
		}
	}
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tNewline:
		return "end of line"
	case tEq:
		return "'='"
	case tConfigSetup:
		return "config setup"
	case tConn:
		return "conn"
	case tCA:
		return "ca"
	case tString:
		if len(t.text) > 40 {
			return fmt.Sprintf("%q...", t.text[:40])
		}
		return fmt.Sprintf("%q", t.text)
	case tInclude:
		return "include"
	}
	return "token"
}

func (p *confParser) addSection(t token, name string, hasName bool, pos Pos, fail func(token, string, ...any)) {
	switch t.kind {
	case tConfigSetup:
		if hasName {
			fail(t, "config setup takes no name")
		}
		p.current = p.raw.Setup
		if p.current.Pos.Line == 0 {
			p.current.Pos = pos
		}
		return
	case tConn, tCA:
		if !hasName || name == "" {
			fail(t, "section name missing")
			p.current = nil
			return
		}
		list := &p.raw.Conns
		kind := SectionConn
		if t.kind == tCA {
			list, kind = &p.raw.CAs, SectionCA
		}
		if p.raw.index == nil {
			p.raw.index = map[string]*Section{}
		}
		s := p.raw.index[kind.String()+" "+name]
		if s == nil {
			s = &Section{Kind: kind, Name: name, Pos: pos}
			*list = append(*list, s)
			p.raw.index[kind.String()+" "+name] = s
		}
		p.current = s
	}
}

func (p *confParser) parseSetting(path string, ip *int, toks []token, fail func(token, string, ...any)) {
	i := *ip
	defer func() { *ip = i }()
	t := toks[i]
	switch t.kind {
	case tNewline, tEOF:
		return // an empty indented line
	case tInclude:
		i++
		p.include(path, t)
		return
	case tString:
	default:
		fail(t, "expected a setting, found %s", describe(t))
		for toks[i].kind != tNewline && toks[i].kind != tEOF {
			i++
		}
		return
	}
	i++
	key := t.text
	if toks[i].kind != tEq {
		fail(t, "missing value for setting %q", key)
		for toks[i].kind != tNewline && toks[i].kind != tEOF {
			i++
		}
		return
	}
	i++
	var parts []string
	for toks[i].kind == tString {
		parts = append(parts, toks[i].text)
		i++
	}
	switch toks[i].kind {
	case tNewline, tEOF:
	case tError:
		fail(toks[i], "%s", toks[i].text)
		return
	default:
		fail(toks[i], "unexpected %s in value of %q", describe(toks[i]), key)
		for toks[i].kind != tNewline && toks[i].kind != tEOF {
			i++
		}
		return
	}
	pos := Pos{File: path, Line: t.line}
	if p.current == nil {
		fail(t, "setting %q outside of a section", key)
		return
	}
	st := Setting{Key: key, Value: strings.Join(parts, " "), Clear: len(parts) == 0, Pos: pos}
	if key == "also" {
		if st.Clear || st.Value == "%default" {
			return // every section inherits %default anyway
		}
		p.current.Also = append(p.current.Also, st)
		return
	}
	if prev, ok := p.current.lookup(key); ok && !p.current.dupReported[key] {
		if p.current.dupReported == nil {
			p.current.dupReported = map[string]bool{}
		}
		p.current.dupReported[key] = true
		p.d.add(Info, pos, sectionLabel(p.current), key, "set again, overriding %s (the last value wins)", prev.Pos)
	}
	p.current.add(st)
}

func (p *confParser) include(path string, t token) {
	pos := Pos{File: path, Line: t.line}
	pattern := t.text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(path), pattern)
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		p.d.errorf(pos, "include", "bad include pattern %q: %v", t.text, err)
		return
	}
	if len(files) == 0 {
		if hasGlobMeta(t.text) {
			p.d.add(Info, pos, "", "include", "pattern %q matches no files", t.text)
			return
		}
		if distroInclude(pattern) {
			p.d.add(Info, pos, "", "include", "%s not found; ignored, as strongSwan ignores it", pattern)
			return
		}
		// strongSwan silently reads nothing here; a named file that is
		// missing is more likely a mistake than an intent, so say so.
		p.d.errorf(pos, "include", "included file %s not found", pattern)
		return
	}
	if len(p.stack) >= maxIncludeDepth {
		p.d.errorf(pos, "include", "includes nested deeper than %d", maxIncludeDepth)
		return
	}
	for _, f := range files {
		clean := filepath.Clean(f)
		if slices.Contains(p.stack, clean) {
			p.d.errorf(pos, "include", "include loop: %s includes %s, which is already being read (%s)",
				path, f, strings.Join(p.stack, " -> "))
			continue
		}
		p.parseFile(f, pos)
	}
}

// section finds a conn or ca section by name.
func (p *confParser) section(kind, name string) *Section {
	return p.raw.index[kind+" "+name]
}

// distroInclude reports whether a path is one of the include files Debian's
// packaging writes (ipsec.conf.inc, ipsec.secrets.inc under
// /var/lib/strongswan), which may legitimately be absent.
func distroInclude(path string) bool {
	return strings.HasPrefix(filepath.Clean(path), "/var/lib/strongswan/")
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// resolveAlso linearises the also= references of every section as
// strongSwan does: a section's parents are its also= sections, most
// recently written first, each followed by its own parents, each kept at its
// last occurrence; a section without also= inherits %default.
func (p *confParser) resolveAlso(list []*Section, kind string) {
	def := p.section(kind, "%default")
	if def != nil {
		def.resolved = true
		if len(def.Also) > 0 {
			p.d.warnf(def.Also[0].Pos, "also", "also= in %s %%default is ignored", kind)
		}
	}
	for _, s := range list {
		p.resolveOne(list, s, def, nil, kind)
	}
}

func (p *confParser) resolveOne(list []*Section, s, def *Section, stack []*Section, kind string) bool {
	if s.resolved {
		return true
	}
	stack = append(stack, s)
	var parents []*Section
	ok := true
	for i := len(s.Also) - 1; i >= 0; i-- {
		a := s.Also[i]
		parent := p.section(kind, a.Value)
		switch {
		case parent == nil:
			p.d.add(Error, a.Pos, sectionLabel(s), "also", "%s %q not found", kind, a.Value)
			ok = false
			continue
		case slices.Contains(stack, parent):
			names := make([]string, 0, len(stack)+1)
			for _, x := range stack {
				names = append(names, x.Name)
			}
			names = append(names, parent.Name)
			p.d.add(Error, a.Pos, sectionLabel(s), "also", "also= loop: %s", strings.Join(names, " -> "))
			ok = false
			continue
		}
		if !p.resolveOne(list, parent, def, stack, kind) {
			ok = false
			continue
		}
		parents = append(parents, parent)
		parents = append(parents, parent.parents...)
	}
	if len(parents) == 0 && def != nil && def != s {
		parents = append(parents, def)
	}
	// keep each section at its last occurrence
	var lin []*Section
	for i, x := range parents {
		if !slices.Contains(parents[i+1:], x) {
			lin = append(lin, x)
		}
	}
	s.parents = lin
	s.resolved = true
	if !ok {
		s.alsoBroken = true
	}
	return ok
}

// sectionLabel names a section in diagnostics: "conn NAME", "ca NAME", or
// nothing for config setup.
func sectionLabel(s *Section) string {
	switch s.Kind {
	case SectionConn:
		return "conn " + s.Name
	case SectionCA:
		return "ca " + s.Name
	}
	return ""
}
