package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Secret is one ipsec.secrets entry: "[selectors] : TYPE secret". The
// secret value is kept unexported and never printed.
type Secret struct {
	Pos  Pos
	Type string // PSK, RSA, ECDSA, PKCS8, P12, EAP, XAUTH, NTLM, PIN, BLISS
	// Selectors are the identities as written; none means any.
	Selectors []string
	IDs       []ike.Identity
	// File is the private key file of RSA, ECDSA, PKCS8 and P12 entries,
	// resolved against the private key directory.
	File string
	// Prompt is set when the passphrase is "%prompt".
	Prompt bool

	value      []byte // PSK, EAP, XAUTH, NTLM, PIN
	passphrase []byte // for File
}

// Value returns the shared secret of a PSK, EAP, XAUTH or NTLM entry. The
// caller must keep it out of logs.
func (s *Secret) Value() []byte { return s.value }

// Passphrase returns the passphrase written for a key file, if any.
func (s *Secret) Passphrase() []byte { return s.passphrase }

// String describes the entry without its secret.
func (s Secret) String() string {
	sel := "%any"
	if len(s.Selectors) > 0 {
		sel = strings.Join(s.Selectors, " ")
	}
	if s.File != "" {
		return fmt.Sprintf("%s: %s : %s %s", s.Pos, sel, s.Type, s.File)
	}
	return fmt.Sprintf("%s: %s : %s <secret>", s.Pos, sel, s.Type)
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return "config.Secret{" + s.String() + "}" }

// Secrets is ipsec.secrets with its includes.
type Secrets struct {
	Entries []Secret
	Files   []string
}

// ParseSecretsFile reads an ipsec.secrets file and its includes. Relative
// key file names resolve against privateDir (ipsec.d/private). A file that
// group or others may read gets a warning.
func ParseSecretsFile(path, privateDir string) (*Secrets, Diagnostics) {
	var d diags
	s := &Secrets{}
	p := &secretsParser{s: s, d: &d, privateDir: privateDir}
	p.file(path, Pos{}, 0)
	return s, dedupe(d.list)
}

// ParseSecrets parses ipsec.secrets text; name is used in diagnostics and
// to resolve relative includes.
func ParseSecrets(name string, data []byte, privateDir string) (*Secrets, Diagnostics) {
	var d diags
	s := &Secrets{}
	p := &secretsParser{s: s, d: &d, privateDir: privateDir}
	p.data(name, data, 0)
	return s, dedupe(d.list)
}

type secretsParser struct {
	s          *Secrets
	d          *diags
	privateDir string
	stack      []string
}

func (p *secretsParser) file(path string, from Pos, depth int) {
	if from.File == "" {
		from = Pos{File: path}
	}
	fi, err := os.Stat(path)
	if err != nil {
		p.d.errorf(from, "", "cannot read secrets file %s: %v", path, unwrapPathError(err))
		return
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		p.d.warnf(Pos{File: path}, "", "secrets file is accessible by group or others (mode %04o): run chmod 600 %s", m, path)
	}
	data, err := readLimited(path)
	if err != nil {
		p.d.errorf(from, "", "cannot read secrets file %s: %v", path, unwrapPathError(err))
		return
	}
	p.data(path, data, depth)
}

// data parses one file. The grammar is strongSwan's: one entry per line,
// blank lines and lines starting with '#' ignored, "include PATTERN", and
// "[selectors] : TYPE value" where " : " separates selectors from the type.
func (p *secretsParser) data(path string, data []byte, depth int) {
	p.s.Files = append(p.s.Files, path)
	p.stack = append(p.stack, filepath.Clean(path))
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	errs := 0
	lines := bytes.Split(data, []byte("\n"))
	for n, raw := range lines {
		pos := Pos{File: path, Line: n + 1}
		if errs >= maxErrorsPerFile {
			p.d.errorf(pos, "", "too many errors, giving up on this file")
			return
		}
		line := strings.TrimRight(string(raw), "\r")
		line = strings.TrimLeft(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include "); ok && len(rest) > 0 {
			p.include(path, pos, rest, depth)
			continue
		}
		if err := p.entry(pos, line); err != nil {
			errs++
			p.d.errorf(pos, "", "%s", errMsg(err))
		}
	}
}

func (p *secretsParser) include(path string, pos Pos, rest string, depth int) {
	pattern, _, _ := strings.Cut(strings.TrimLeft(rest, " \t"), " ")
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(path), pattern)
	}
	files, err := filepath.Glob(pattern)
	switch {
	case err != nil:
		p.d.errorf(pos, "include", "bad include pattern %q: %v", pattern, err)
		return
	case len(files) == 0 && hasGlobMeta(rest):
		p.d.add(Info, pos, "", "include", "pattern %q matches no files", pattern)
		return
	case len(files) == 0 && distroInclude(pattern):
		p.d.add(Info, pos, "", "include", "%s not found; ignored, as strongSwan ignores it", pattern)
		return
	case len(files) == 0:
		p.d.errorf(pos, "include", "included file %s not found", pattern)
		return
	case depth >= maxIncludeDepth:
		p.d.errorf(pos, "include", "includes nested deeper than %d", maxIncludeDepth)
		return
	}
	for _, f := range files {
		if slices.Contains(p.stack, filepath.Clean(f)) {
			p.d.errorf(pos, "include", "include loop: %s is already being read (%s)", f, strings.Join(p.stack, " -> "))
			continue
		}
		p.file(f, pos, depth+1)
	}
}

// secretTypes are the entry types strongSwan 5.9 knows.
var secretTypes = []string{"PSK", "RSA", "ECDSA", "PKCS8", "P12", "EAP", "XAUTH", "NTLM", "PIN", "BLISS"}

func (p *secretsParser) entry(pos Pos, line string) error {
	var ids, rest string
	if strings.HasPrefix(line, ": ") || line == ":" {
		rest = line[1:]
	} else {
		var ok bool
		ids, rest, ok = strings.Cut(line, " : ")
		if !ok {
			return fmt.Errorf("config: missing ' : ' between selectors and secret type")
		}
	}
	rest = strings.TrimLeft(rest, " \t")
	typ, value, _ := strings.Cut(rest, " ")
	if typ == "" {
		return fmt.Errorf("config: missing secret type")
	}
	if !slices.Contains(secretTypes, typ) {
		// The token is not shown: on a line missing its type it is the
		// secret itself.
		return fmt.Errorf("config: unknown secret type (not shown, it may be the secret): want one of %s", strings.Join(secretTypes, ", "))
	}
	e := Secret{Pos: pos, Type: typ}
	sels, err := splitValues(ids)
	if err != nil {
		return err
	}
	for _, sel := range sels {
		id, err := ike.ParseIdentity(sel)
		if err != nil {
			return fmt.Errorf("config: bad selector %q: %w", sel, err)
		}
		if strings.Contains(sel, "*") && !leadingWildcard(id) {
			p.d.warnf(pos, typ, "selector %q: only a leading * in a name (*.example.com, *@example.com) is a wildcard; this one matches only itself", sel)
		}
		e.Selectors = append(e.Selectors, sel)
		e.IDs = append(e.IDs, id)
	}
	switch typ {
	case "PSK", "EAP", "XAUTH", "NTLM", "PIN":
		v, _, err := extractSecret(value)
		if err != nil {
			return fmt.Errorf("config: malformed %s secret: %w", typ, err)
		}
		e.value = v
		switch typ {
		case "PSK":
			if len(v) == 0 {
				return fmt.Errorf("config: empty PSK")
			}
			if len(v) < 20 {
				p.d.warnf(pos, "PSK", "pre-shared key is shorter than 20 octets: a short or password-like key is open to offline dictionary attacks (RFC 7296 2.15)")
			}
		case "PIN":
			p.d.errorf(pos, "PIN", "smartcard PINs are not supported")
		default:
			p.d.warnf(pos, typ, "ignored: %s authentication is not supported", typ)
		}
	case "RSA", "ECDSA", "PKCS8", "P12", "BLISS":
		if err := p.keyFile(&e, value); err != nil {
			return err
		}
		switch typ {
		case "P12":
			p.d.errorf(pos, "P12", "PKCS#12 containers are not supported: convert with openssl pkcs12 -nodes to PEM")
		case "BLISS":
			p.d.errorf(pos, "BLISS", "BLISS keys are not supported")
		}
		if e.Prompt {
			p.d.errorf(pos, typ, "passphrase %%prompt is not supported: a daemon cannot prompt; decrypt the key or write its passphrase")
		}
	}
	p.s.Entries = append(p.s.Entries, e)
	return nil
}

// keyFile reads `file ["passphrase"]` of a private key entry.
func (p *secretsParser) keyFile(e *Secret, value string) error {
	vals, err := splitValues(value)
	if err != nil {
		return fmt.Errorf("config: %s entry: %w", e.Type, err)
	}
	if len(vals) == 0 || vals[0] == "" {
		return fmt.Errorf("config: %s entry without a key file", e.Type)
	}
	e.File = vals[0]
	if !filepath.IsAbs(e.File) {
		e.File = filepath.Join(p.privateDir, e.File)
	}
	rest := strings.TrimLeft(value, " \t")
	// skip the file name (possibly quoted) to read the passphrase as a secret
	if rest[0] == '"' || rest[0] == '\'' {
		end := strings.IndexByte(rest[1:], rest[0])
		rest = rest[end+2:]
	} else if i := strings.IndexAny(rest, " \t"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	if strings.TrimSpace(rest) == "" || strings.TrimLeft(rest, " \t")[0] == '#' {
		return nil
	}
	pass, _, err := extractSecret(rest)
	if err != nil {
		return fmt.Errorf("config: malformed passphrase: %w", err)
	}
	if string(pass) == "%prompt" {
		e.Prompt = true
		return nil
	}
	e.passphrase = pass
	return nil
}

// extractSecret reads a secret as strongSwan does: "double" or 'single'
// quoted text is taken literally; otherwise the first blank-separated token,
// where 0x introduces hex and 0s base64. It returns the remaining text.
func extractSecret(s string) ([]byte, string, error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] == '#' {
		return nil, "", fmt.Errorf("missing secret")
	}
	if q := s[0]; q == '"' || q == '\'' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return nil, "", fmt.Errorf("unterminated %c quote", q)
		}
		return []byte(s[1 : end+1]), s[end+2:], nil
	}
	tok, rest, _ := strings.Cut(s, " ")
	tok = strings.TrimRight(tok, "\t")
	if len(tok) > 2 {
		switch strings.ToLower(tok[:2]) {
		case "0x":
			b, err := hex.DecodeString(tok[2:])
			if err != nil {
				return nil, "", fmt.Errorf("bad hex value")
			}
			return b, rest, nil
		case "0s":
			b, err := base64.StdEncoding.DecodeString(tok[2:])
			if err != nil {
				return nil, "", fmt.Errorf("bad base64 value")
			}
			return b, rest, nil
		}
	}
	return []byte(tok), rest, nil
}

// splitValues splits blank-separated values, honouring "double" and
// 'single' quotes (selectors may be quoted distinguished names).
func splitValues(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("config: unterminated %c quote", q)
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return append(out, s), nil
		}
		out = append(out, s[:i])
		s = s[i:]
	}
}

// SharedKeys returns the PSK entries as the engine's shared keys.
func (s *Secrets) SharedKeys() []ike.SharedKey {
	var out []ike.SharedKey
	for i := range s.Entries {
		e := &s.Entries[i]
		if e.Type != "PSK" {
			continue
		}
		out = append(out, ike.SharedKey{IDs: slices.Clone(e.IDs), Secret: slices.Clone(e.value), Source: e.Pos.String()})
	}
	return out
}

// LookupPSK chooses the pre-shared key for a pair of identities as the
// engine does (ike.Credentials.LookupPSK, strongSwan's ranking): one
// lookup for the engine and `cygnet config check`.
func LookupPSK(keys []ike.SharedKey, local, remote ike.Identity) (ike.SharedKey, bool) {
	c := ike.Credentials{SharedKeys: keys}
	return c.LookupPSK(local, remote)
}

// leadingWildcard reports whether a selector is one the PSK lookup reads
// as a wildcard: "*", or a name that starts with '*' and has no other.
func leadingWildcard(id ike.Identity) bool {
	switch id.Type {
	case message.IDFQDN, message.IDRFC822:
		return len(id.Data) > 0 && id.Data[0] == '*' && bytes.Count(id.Data, []byte("*")) == 1
	}
	return false
}
