// Package evaltest reads strongSwan's scenario check files (evaltest.dat):
// one check per line, `host::command::pattern::YES|NO`, meaning the regular
// expression pattern must (YES) or must not (NO) match what command prints
// on host. cygnet's own pattern sets under testdata/ use the same form, so
// the status output is held to the bar strongSwan's scripts rely on.
package evaltest

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Check is one line of an evaltest file.
type Check struct {
	Line    int
	Host    string
	Command string
	Pattern *regexp.Regexp
	Want    bool
}

func (c Check) String() string {
	want := "NO"
	if c.Want {
		want = "YES"
	}
	return fmt.Sprintf("line %d: %s::%s::%s::%s", c.Line, c.Host, c.Command, c.Pattern, want)
}

// Parse reads checks after replacing each placeholder (e.g. "PH_IP_MOON")
// with its value. Blank lines and # comments are skipped.
func Parse(data []byte, subst map[string]string) ([]Check, error) {
	var out []Check
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for k, v := range subst {
			line = strings.ReplaceAll(line, k, v)
		}
		f := strings.Split(line, "::")
		if len(f) != 4 {
			return nil, fmt.Errorf("evaltest: line %d: want host::command::pattern::YES|NO, got %q", n, line)
		}
		re, err := regexp.Compile(f[2])
		if err != nil {
			return nil, fmt.Errorf("evaltest: line %d: %w", n, err)
		}
		var want bool
		switch strings.TrimSpace(f[3]) {
		case "YES":
			want = true
		case "NO":
		default:
			return nil, fmt.Errorf("evaltest: line %d: expectation %q is not YES or NO", n, f[3])
		}
		out = append(out, Check{Line: n, Host: strings.TrimSpace(f[0]), Command: strings.TrimSpace(f[1]), Pattern: re, Want: want})
	}
	return out, sc.Err()
}

// Run applies checks with run, which executes a command on a host. It
// returns one error line per failed check, naming the check and the output.
func Run(checks []Check, run func(host, command string) (string, error)) []string {
	var fails []string
	for _, c := range checks {
		out, err := run(c.Host, c.Command)
		if err != nil && out == "" {
			fails = append(fails, fmt.Sprintf("%v: %v", c, err))
			continue
		}
		if c.Pattern.MatchString(out) != c.Want {
			fails = append(fails, fmt.Sprintf("%v: output was:\n%s", c, out))
		}
	}
	return fails
}
