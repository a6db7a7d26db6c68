package cluster

import "testing"

// cygnet's `ipsec version` names strongSwan too (as the version it is
// compatible with): it must still count as cygnet, or the agent drives it
// with charon-only commands.
func TestDaemonKind(t *testing.T) {
	for _, c := range []struct{ version, want string }{
		{"Linux cygnet 0.1 (strongSwan 5.9.8 compatible)\n", "cygnet"},
		{"Linux strongSwan U5.9.8/K6.1.0-57-amd64\nUniversity of Applied Sciences Rapperswil, Switzerland\n", "strongswan"},
		{"", "unknown"},
	} {
		if got := daemonKind(c.version); got != c.want {
			t.Errorf("daemonKind(%q) = %q, want %q", c.version, got, c.want)
		}
	}
}
