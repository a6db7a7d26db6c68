package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchUsage: bad command lines exit 2 with a reason, a run that
// cannot start exits 1, and nothing is sent in either case.
func TestBenchUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--psk", "x", "127.0.0.1"}, 2, "--sources is required"},
		{[]string{"--psk", "x", "--sources", "127.0.9.1", "not-an-address"}, 2, "responder"},
		{[]string{"--psk", "x", "--sources", "127.0.9.1", "--rate", "fast", "127.0.0.1"}, 2, "--rate"},
		{[]string{"--psk", "x", "--sources", "127.0.9.1", "--port", "70000", "127.0.0.1"}, 2, "out of range"},
		{[]string{"--sources", "127.0.9.1", "--cert", "c.pem", "127.0.0.1"}, 2, "--key goes with"},
		{[]string{"--psk", "x", "--sources", "127.0.9.1", "127.0.0.1", "127.0.0.2"}, 2, "usage"},
		// Flags after the responder are parsed too: -n 2 needs two sources.
		{[]string{"127.0.0.1", "--psk", "x", "--sources", "127.0.9.1", "-n", "2"}, 1, "2 SAs need as many source addresses"},
		{[]string{"--sources", "127.0.9.1", "-n", "1", "127.0.0.1"}, 1, "no PSK"},
	} {
		var out, errb bytes.Buffer
		code := runBenchIKE(context.Background(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d, want %d; stderr %q lacks %q", c.args, code, c.code, errb.String(), c.want)
		}
	}
}
