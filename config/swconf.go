package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SwSection is a section of strongswan.conf: "name { ... }".
type SwSection struct {
	Name     string
	Pos      Pos
	Refs     []string // "name : ref1, ref2 { }" inherits from the references
	Settings []SwSetting
	Sections []*SwSection
}

// SwSetting is "key = value"; "key =" sets the empty value.
type SwSetting struct {
	Key   string
	Value string
	Pos   Pos
}

// Get returns the value at a dotted path below s ("charon.port").
func (s *SwSection) Get(path string) (SwSetting, bool) {
	parts := strings.Split(path, ".")
	sec := s
	for _, p := range parts[:len(parts)-1] {
		sec = sec.Section(p)
		if sec == nil {
			return SwSetting{}, false
		}
	}
	key := parts[len(parts)-1]
	for i := len(sec.Settings) - 1; i >= 0; i-- {
		if sec.Settings[i].Key == key {
			return sec.Settings[i], true
		}
	}
	return SwSetting{}, false
}

// Section returns the subsection named name, or nil.
func (s *SwSection) Section(name string) *SwSection {
	for _, c := range s.Sections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// LogTarget is one charon.filelog or charon.syslog entry: the levels per
// subsystem ("default", "ike", "cfg", ...), -1 (silent) to 4.
type LogTarget struct {
	Name   string // file path, "stderr", "stdout" or syslog facility
	Path   string // filelog: path = ... (5.7+), else Name
	Levels []LogLevel
	Pos    Pos
}

// LogLevel is one "subsystem = level" of a log target.
type LogLevel struct {
	Subsystem string
	Level     int
}

// StrongswanConf is strongswan.conf: the section tree and the settings a
// cygnet node uses, with strongSwan's defaults.
type StrongswanConf struct {
	Root  *SwSection
	Files []string

	Port              uint16        // charon.port, 500
	PortNATT          uint16        // charon.port_nat_t, 4500
	InstallRoutes     bool          // charon.install_routes, yes
	RetransmitTries   int           // charon.retransmit_tries, 5
	RetransmitTimeout time.Duration // charon.retransmit_timeout, 4 s
	RetransmitBase    float64       // charon.retransmit_base, 1.8
	MakeBeforeBreak   bool          // charon.make_before_break, no in 5.9
	ReplayWindow      uint32        // charon.replay_window, 32
	RetransmitJitter  int           // charon.retransmit_jitter, percent, 0
	RetransmitLimit   time.Duration // charon.retransmit_limit, 0 = none
	KeepAlive         time.Duration // charon.keep_alive, NAT-T keepalive interval, 20 s
	InitLimitHalfOpen int           // charon.init_limit_half_open, 0 = no limit
	CookieThreshold   int           // charon.cookie_threshold, 10
	BlockThreshold    int           // charon.block_threshold, half-open SAs per source address, 5; 0 = no limit
	DoSProtection     bool          // charon.dos_protection, yes: cookies and block_threshold
	FileLog           []LogTarget
	SysLog            []LogTarget
}

// NewStrongswanConf returns strongSwan 5.9's defaults.
func NewStrongswanConf() *StrongswanConf {
	return &StrongswanConf{
		Root:              &SwSection{},
		Port:              500,
		PortNATT:          4500,
		InstallRoutes:     true,
		RetransmitTries:   5,
		RetransmitTimeout: 4 * time.Second,
		RetransmitBase:    1.8,
		ReplayWindow:      32,
		KeepAlive:         20 * time.Second,
		CookieThreshold:   10,
		BlockThreshold:    5,
		DoSProtection:     true,
	}
}

// ParseStrongswanConfFile reads strongswan.conf and its includes.
func ParseStrongswanConfFile(path string) (*StrongswanConf, Diagnostics) {
	var d diags
	p := &swParser{d: &d, conf: NewStrongswanConf()}
	p.file(path, Pos{}, p.conf.Root)
	p.conf.interpret(&d)
	return p.conf, dedupe(d.list)
}

// ParseStrongswanConf parses strongswan.conf text.
func ParseStrongswanConf(name string, data []byte) (*StrongswanConf, Diagnostics) {
	var d diags
	p := &swParser{d: &d, conf: NewStrongswanConf()}
	p.data(name, data, p.conf.Root)
	p.conf.interpret(&d)
	return p.conf, dedupe(d.list)
}

type swParser struct {
	d     *diags
	conf  *StrongswanConf
	stack []string
}

func (p *swParser) file(path string, from Pos, into *SwSection) {
	data, err := readLimited(path)
	if err != nil {
		if from.File == "" {
			from = Pos{File: path}
		}
		p.d.errorf(from, "", "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	p.data(path, data, into)
}

type swTok struct {
	kind byte // 'n' name, 's' quoted string, 'v' value part, '{', '}', '=', ':', ',', '.', '\n', 'i' include, 'e' error, 0 EOF
	text string
	line int
}

// lexSw tokenises strongswan.conf: names, braces, '=', and after '=' a
// value running to the end of the line, a '#' or a '}'.
func lexSw(data []byte) []swTok {
	var toks []swTok
	line, i, n := 1, 0, len(data)
	inValue := false
	for i < n {
		c := data[i]
		switch {
		case c == '\n':
			if inValue {
				toks = append(toks, swTok{kind: '\n', line: line})
				inValue = false
			}
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < n && data[i] != '\n' {
				i++
			}
		case c == '"':
			s, next, lines, ok := lexQuoted(data, i+1)
			if !ok {
				return append(toks, swTok{kind: 'e', text: "unterminated string", line: line}, swTok{kind: 0, line: line})
			}
			kind := byte('s')
			if !inValue {
				kind = 'e'
				s = "unexpected string"
			}
			toks = append(toks, swTok{kind: kind, text: s, line: line})
			line += lines
			i = next
		case inValue && c == '}':
			toks = append(toks, swTok{kind: '\n', line: line})
			inValue = false
		case inValue:
			j := i
			for j < n && !strings.ContainsRune("#}\"\r\n\t ", rune(data[j])) {
				j++
			}
			toks = append(toks, swTok{kind: 'v', text: string(data[i:j]), line: line})
			i = j
		case strings.IndexByte("{}:,.", c) >= 0:
			toks = append(toks, swTok{kind: c, line: line})
			i++
		case c == '=':
			toks = append(toks, swTok{kind: '=', line: line})
			inValue = true
			i++
		default:
			if bytesHasWordPrefix(data[i:], "include") {
				j := i + 7
				for j < n && (data[j] == ' ' || data[j] == '\t') {
					j++
				}
				if j < n && data[j] != '=' && data[j] != '\n' {
					pat, next, lines, ok := lexIncludePattern(data, j)
					if !ok {
						return append(toks, swTok{kind: 'e', text: "unterminated string in include", line: line}, swTok{kind: 0, line: line})
					}
					toks = append(toks, swTok{kind: 'i', text: pat, line: line})
					line += lines
					i = next
					continue
				}
			}
			j := i
			for j < n && !strings.ContainsRune("#{}:.,=\"\r\n\t ", rune(data[j])) {
				j++
			}
			toks = append(toks, swTok{kind: 'n', text: string(data[i:j]), line: line})
			i = j
		}
	}
	if inValue {
		toks = append(toks, swTok{kind: '\n', line: line})
	}
	return append(toks, swTok{kind: 0, line: line})
}

func bytesHasWordPrefix(b []byte, w string) bool {
	return len(b) > len(w) && string(b[:len(w)]) == w && (b[len(w)] == ' ' || b[len(w)] == '\t')
}

func (p *swParser) data(path string, data []byte, into *SwSection) {
	p.conf.Files = append(p.conf.Files, path)
	p.stack = append(p.stack, filepath.Clean(path))
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	toks := lexSw(data)
	i := 0
	errs := 0
	sections := []*SwSection{into}
	fail := func(t swTok, format string, args ...any) bool {
		errs++
		if errs <= maxErrorsPerFile {
			p.d.errorf(Pos{File: path, Line: t.line}, "", format, args...)
			return true
		}
		p.d.errorf(Pos{File: path, Line: t.line}, "", "too many errors, giving up on this file")
		return false
	}
	skipTo := func(kinds string) {
		for toks[i].kind != 0 && strings.IndexByte(kinds, toks[i].kind) < 0 {
			i++
		}
	}
	for {
		t := toks[i]
		cur := sections[len(sections)-1]
		switch t.kind {
		case 0:
			if len(sections) > 1 {
				fail(t, "section %q is not closed: missing '}'", cur.Name)
			}
			return
		case 'e':
			fail(t, "%s", t.text)
			return
		case 'i':
			i++
			p.include(path, t, cur)
			continue
		case '}':
			i++
			if len(sections) == 1 {
				if !fail(t, "unexpected '}'") {
					return
				}
				continue
			}
			sections = sections[:len(sections)-1]
			continue
		case 'n':
		default:
			if !fail(t, "unexpected %q", string(t.kind)) {
				return
			}
			i++
			continue
		}
		name := t.text
		i++
		switch toks[i].kind {
		case '=':
			i++
			var parts []string
			for toks[i].kind == 'v' || toks[i].kind == 's' {
				parts = append(parts, toks[i].text)
				i++
			}
			if toks[i].kind == 'e' {
				fail(toks[i], "%s", toks[i].text)
				return
			}
			if toks[i].kind == '\n' {
				i++
			}
			cur.Settings = append(cur.Settings, SwSetting{Key: name, Value: strings.Join(parts, " "), Pos: Pos{File: path, Line: t.line}})
		case '{', ':':
			var refs []string
			if toks[i].kind == ':' {
				i++
				for toks[i].kind == 'n' {
					ref := toks[i].text
					i++
					for toks[i].kind == '.' && toks[i+1].kind == 'n' {
						ref += "." + toks[i+1].text
						i += 2
					}
					refs = append(refs, ref)
					if toks[i].kind != ',' {
						break
					}
					i++
				}
				if toks[i].kind != '{' {
					if !fail(toks[i], "expected '{' after the references of section %q", name) {
						return
					}
					skipTo("}")
					continue
				}
			}
			i++
			sec := cur.Section(name)
			if sec == nil {
				sec = &SwSection{Name: name, Pos: Pos{File: path, Line: t.line}}
				cur.Sections = append(cur.Sections, sec)
			}
			sec.Refs = append(sec.Refs, refs...)
			sections = append(sections, sec)
		default:
			if !fail(toks[i], "expected '=' or '{' after %q", name) {
				return
			}
			skipTo("}\n")
		}
	}
}

func (p *swParser) include(path string, t swTok, into *SwSection) {
	pos := Pos{File: path, Line: t.line}
	pattern := t.text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(path), pattern)
	}
	files, err := filepath.Glob(pattern)
	switch {
	case err != nil:
		p.d.errorf(pos, "include", "bad include pattern %q: %v", t.text, err)
		return
	case len(files) == 0 && hasGlobMeta(t.text):
		p.d.add(Info, pos, "", "include", "pattern %q matches no files", t.text)
		return
	case len(files) == 0:
		p.d.errorf(pos, "include", "included file %s not found", pattern)
		return
	case len(p.stack) >= maxIncludeDepth:
		p.d.errorf(pos, "include", "includes nested deeper than %d", maxIncludeDepth)
		return
	}
	for _, f := range files {
		if slices.Contains(p.stack, filepath.Clean(f)) {
			p.d.errorf(pos, "include", "include loop: %s is already being read (%s)", f, strings.Join(p.stack, " -> "))
			continue
		}
		p.file(f, pos, into)
	}
}

// parseSwBool reads strongSwan's settings booleans.
func parseSwBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "enabled", "on":
		return true, nil
	case "0", "no", "false", "disabled", "off":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q", v)
}

// swKeysUsed are the charon settings cygnet reads (install_routes,
// retransmit_jitter and retransmit_limit only to report that they have no
// effect).
var swKeysUsed = []string{"port", "port_nat_t", "install_routes", "retransmit_tries", "retransmit_timeout",
	"retransmit_base", "make_before_break", "replay_window", "filelog", "syslog", "retransmit_jitter",
	"retransmit_limit", "keep_alive", "init_limit_half_open", "cookie_threshold", "block_threshold", "dos_protection"}

func (c *StrongswanConf) interpret(d *diags) {
	root := c.Root
	for _, s := range root.Settings {
		d.add(Info, s.Pos, "", s.Key, "top-level setting not applicable to cygnet")
	}
	for _, sec := range root.Sections {
		if sec.Name != "charon" {
			d.add(Info, sec.Pos, "", sec.Name, "section not applicable to cygnet, ignored")
		}
	}
	charon := root.Section("charon")
	if charon == nil {
		return
	}
	for _, s := range charon.Settings {
		if !slices.Contains(swKeysUsed, s.Key) {
			d.add(Info, s.Pos, "", "charon."+s.Key, "not applicable to cygnet, ignored")
			continue
		}
		bad := func(err error) {
			d.add(Error, s.Pos, "", "charon."+s.Key, "%s", errMsg(err))
		}
		switch s.Key {
		case "port", "port_nat_t":
			n, err := strconv.ParseUint(s.Value, 10, 16)
			if err != nil {
				bad(fmt.Errorf("bad port %q", s.Value))
				continue
			}
			if s.Key == "port" {
				c.Port = uint16(n)
			} else {
				c.PortNATT = uint16(n)
			}
		case "install_routes", "dos_protection":
			b, err := parseSwBool(s.Value)
			if err != nil {
				bad(err)
				continue
			}
			if s.Key == "install_routes" {
				c.InstallRoutes = b
				d.add(Info, s.Pos, "", "charon."+s.Key, "no effect: cygnet runs transport mode only, for which strongSwan installs no routes either")
			} else {
				c.DoSProtection = b
			}
		case "retransmit_jitter", "init_limit_half_open", "cookie_threshold", "block_threshold":
			n, err := strconv.ParseUint(s.Value, 10, 31)
			if err != nil || (s.Key == "retransmit_jitter" && n > 100) {
				bad(fmt.Errorf("bad number %q", s.Value))
				continue
			}
			switch s.Key {
			case "retransmit_jitter":
				c.RetransmitJitter = int(n)
				if n != 0 {
					d.add(Warning, s.Pos, "", "charon."+s.Key, "not implemented: retransmissions go at the times retransmit_timeout and retransmit_base give, without jitter")
				}
			case "init_limit_half_open":
				c.InitLimitHalfOpen = int(n)
			case "block_threshold":
				c.BlockThreshold = int(n)
			default:
				c.CookieThreshold = int(n)
			}
		case "retransmit_limit":
			f, err := strconv.ParseFloat(s.Value, 64)
			if err != nil || f < 0 || f > 86400 {
				bad(fmt.Errorf("bad limit %q: seconds", s.Value))
				continue
			}
			c.RetransmitLimit = time.Duration(f * float64(time.Second))
			if f != 0 {
				d.add(Warning, s.Pos, "", "charon."+s.Key, "not implemented: the retransmission timeout is not capped, so with many retransmit_tries a dead peer is declared dead later than strongSwan would")
			}
		case "keep_alive":
			d, err := parseDuration(s.Value)
			if err != nil {
				bad(err)
				continue
			}
			c.KeepAlive = d
		case "make_before_break":
			b, err := parseSwBool(s.Value)
			if err != nil {
				bad(err)
				continue
			}
			c.MakeBeforeBreak = b
		case "retransmit_tries":
			n, err := strconv.ParseUint(s.Value, 10, 16)
			if err != nil {
				bad(fmt.Errorf("bad number %q", s.Value))
				continue
			}
			c.RetransmitTries = int(n)
		case "retransmit_timeout":
			f, err := strconv.ParseFloat(s.Value, 64)
			if err != nil || f <= 0 || f > 86400 {
				bad(fmt.Errorf("bad timeout %q: seconds, e.g. 4.0", s.Value))
				continue
			}
			c.RetransmitTimeout = time.Duration(f * float64(time.Second))
		case "retransmit_base":
			f, err := strconv.ParseFloat(s.Value, 64)
			if err != nil || f < 1 || f > 100 {
				bad(fmt.Errorf("bad base %q: a factor of at least 1, e.g. 1.8", s.Value))
				continue
			}
			c.RetransmitBase = f
		case "replay_window":
			n, err := strconv.ParseUint(s.Value, 10, 32)
			if err != nil {
				bad(fmt.Errorf("bad number %q", s.Value))
				continue
			}
			c.ReplayWindow = uint32(n)
		default:
			bad(fmt.Errorf("%q is a section, not a value", s.Key))
		}
	}
	for _, sec := range charon.Sections {
		switch sec.Name {
		case "filelog", "syslog":
			for _, t := range sec.Sections {
				lt := LogTarget{Name: t.Name, Path: t.Name, Pos: t.Pos}
				for _, s := range t.Settings {
					if s.Key == "path" {
						lt.Path = s.Value
						continue
					}
					if !slices.Contains(logSubsystems, s.Key) {
						d.add(Info, s.Pos, "", "charon."+sec.Name+"."+t.Name+"."+s.Key, "log option not applicable to cygnet, ignored")
						continue
					}
					n, err := strconv.Atoi(s.Value)
					if err != nil || n < -1 || n > 4 {
						d.add(Error, s.Pos, "", "charon."+sec.Name+"."+t.Name+"."+s.Key, "bad log level %q: -1 to 4", s.Value)
						continue
					}
					lt.Levels = append(lt.Levels, LogLevel{Subsystem: s.Key, Level: n})
				}
				if sec.Name == "filelog" {
					c.FileLog = append(c.FileLog, lt)
				} else {
					c.SysLog = append(c.SysLog, lt)
				}
			}
			for _, s := range sec.Settings {
				d.add(Info, s.Pos, "", "charon."+sec.Name+"."+s.Key, "not applicable to cygnet, ignored")
			}
		default:
			d.add(Info, sec.Pos, "", "charon."+sec.Name, "not applicable to cygnet, ignored")
		}
	}
}

// logSubsystems are strongSwan's logger subsystems ("default" sets all).
var logSubsystems = []string{"default", "dmn", "mgr", "ike", "chd", "job", "cfg", "knl", "net",
	"asn", "enc", "tnc", "imc", "imv", "pts", "tls", "esp", "lib", "app"}
