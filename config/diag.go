package config

import (
	"errors"
	"fmt"
	"strings"
)

// Severity ranks a Diagnostic.
type Severity uint8

// Severities. An Error means the configuration cannot be used as written
// (the affected connection is not loaded); a Warning means cygnet behaves
// differently from strongSwan in a way that does not weaken security; Info
// notes something that does not apply to cygnet.
const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// Pos is a place in a configuration file. Line counts from 1; 0 means the
// file as a whole.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Diagnostic is one finding about a configuration. It never contains a
// secret: messages name keywords and files, not their secret values.
type Diagnostic struct {
	Severity Severity
	Pos
	// Keyword is the ipsec.conf keyword, ipsec.secrets type or
	// strongswan.conf key concerned; empty for syntax errors.
	Keyword string
	// Section names the section concerned: "conn NAME" or "ca NAME";
	// empty for findings about a file or config setup.
	Section string
	Message string
}

func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	b.WriteString(d.Severity.String())
	b.WriteString(": ")
	if d.Section != "" {
		b.WriteString(d.Section)
		b.WriteString(": ")
	}
	if d.Keyword != "" {
		b.WriteString(d.Keyword)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Diagnostics is a list of findings in the order they were made.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns the diagnostics of severity Error.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there is no Error, otherwise an error listing every
// Error diagnostic (errors.Is(err, ErrInvalid) holds).
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, d := range errs {
		lines[i] = d.String()
	}
	return fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(lines, "\n"))
}

// ErrInvalid is wrapped by Diagnostics.Err.
var ErrInvalid = errors.New("config: invalid configuration")

// diags collects diagnostics while reading.
type diags struct {
	list     Diagnostics
	overflow bool
}

// maxCollected bounds the diagnostics kept while reading hostile input.
// Past it only the fact that an error was dropped is kept, so that a
// configuration never looks valid because its errors were not recorded.
const maxCollected = 4 * maxDiagnostics

func (d *diags) add(sev Severity, pos Pos, section, kw, format string, args ...any) {
	if len(d.list) >= maxCollected {
		if sev == Error && !d.overflow {
			d.overflow = true
			d.list = append(d.list, Diagnostic{Severity: Error, Pos: pos, Message: "too many diagnostics; the rest are not shown"})
		}
		return
	}
	d.list = append(d.list, Diagnostic{Severity: sev, Pos: pos, Section: section, Keyword: kw, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) errorf(pos Pos, kw, format string, args ...any) {
	d.add(Error, pos, "", kw, format, args...)
}

func (d *diags) warnf(pos Pos, kw, format string, args ...any) {
	d.add(Warning, pos, "", kw, format, args...)
}

// errMsg is an error's text for a Diagnostic, without the package prefix
// (the diagnostic already names file and line).
func errMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "config: ")
}
