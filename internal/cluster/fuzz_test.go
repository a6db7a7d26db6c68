package cluster

import (
	"strings"
	"testing"
)

// FuzzParseToken: whatever an operator pastes, a token parses into its
// three parts or is refused as malformed, never a panic.
func FuzzParseToken(f *testing.F) {
	f.Add("cyg1.abcdefgh.secretsecret.sha256:" + strings.Repeat("ab", 32))
	f.Add("cyg1...")
	f.Add("hello")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.ID == "" || tok.Secret == "" || !strings.HasPrefix(tok.CAHash, "sha256:") {
			t.Fatalf("accepted %q as %+v", s, tok)
		}
	})
}

// FuzzParseStatus: the agent parses whatever the node's ipsec command
// prints (cygnet's or charon's, any version).
func FuzzParseStatus(f *testing.F) {
	f.Add("      cyg-n2[3]: ESTABLISHED 5 seconds ago, 10.0.0.1[n1]...10.0.0.2[n2]\n      cyg-n2{1}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: c1a2b3c4_i c5d6e7f8_o\n      cyg-n2{1}:   AES_GCM_16_256, 840 bytes_i (10 pkts, 1s ago), 420 bytes_o\n")
	f.Add("cyg-x{1}:  ROUTED, TRANSPORT\ncyg-y[1]: CONNECTING\n")
	f.Fuzz(func(t *testing.T, s string) {
		for name, ps := range ParseStatus(s) {
			if !strings.HasPrefix(name, "cyg-") {
				t.Fatalf("conn %q is not a cluster conn", name)
			}
			switch ps.State {
			case "ESTABLISHED", "connecting", "routed", "down":
			default:
				t.Fatalf("state %q", ps.State)
			}
		}
	})
}
