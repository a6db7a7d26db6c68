package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// TestProposalStrongswanRules checks strongSwan 5.9.8's proposal rules
// (proposal.c check_proposal) on the strings real configurations carry:
// what each proposal becomes, or the error, and the notes that come with
// it. Open vSwitch's ovs-monitor-ipsec writes ike=aes256gcm16-sha256-modp2048.
func TestProposalStrongswanRules(t *testing.T) {
	type tc struct {
		in   string
		kind ProposalKind
		want string // the proposals formatted, comma separated; "" for an error
		err  string // substring of the error
		sev  Severity
		note string // substring of a note of severity sev; "" for no notes
	}
	// Whether the engine implements a transform decides some outcomes;
	// the cases follow ike/suite's table rather than freeze today's.
	xcbcPRF := suite.Supported(message.ProtoIKE, suite.PRFTransform(message.PRFAES128XCBC))
	chachaIKE := suite.Supported(message.ProtoIKE, suite.EncrTransform(message.EncrChaCha20Poly1305, 0))
	tests := []tc{
		// IKE, AEAD: an integrity keyword names the PRF when none is given
		{in: "aes256gcm16-sha256-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp2048"},
		{in: "aes256gcm128-sha512-ecp384", kind: ProposalIKE, want: "aes256gcm16-prfsha512-ecp384"},
		{in: "aes128gcm16-sha384-x25519", kind: ProposalIKE, want: "aes128gcm16-prfsha384-curve25519"},
		{in: "aes256gcm16-sha2_256-modp3072", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp3072"},
		{in: "aes256gcm16-sha1-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha1-modp2048", sev: Warning, note: "prfsha1 (PRF_HMAC_SHA1: SHA-1 based"},
		{in: "aes256gcm16-sha1_160-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha1-modp2048", sev: Warning, note: "weak algorithms"},
		{in: "aes256gcm16-sha256-sha512-ecp384", kind: ProposalIKE, want: "aes256gcm16-prfsha256-prfsha512-ecp384"},
		{in: "AES256GCM16-SHA256-MODP2048!", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp2048!"},
		{in: "aes256gcm16-sha256-modp2048,aes256-sha256-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp2048,aes256-sha256-prfsha256-modp2048"},
		// an explicit PRF wins; the integrity algorithm is then just dropped
		{in: "aes256gcm16-sha512-prfsha512-curve25519", kind: ProposalIKE, want: "aes256gcm16-prfsha512-curve25519", sev: Info, note: "integrity algorithm sha512 dropped"},
		{in: "aes256gcm16-sha256-prfsha384-ecp384", kind: ProposalIKE, want: "aes256gcm16-prfsha384-ecp384", sev: Info, note: "an AEAD cipher takes none"},
		{in: "aes256gcm16-md5-prfsha256-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp2048", sev: Info, note: "integrity algorithm md5 dropped"},
		// PRFs cygnet does not implement
		{in: "aes256gcm16-md5-modp2048", kind: ProposalIKE, err: "md5 gives prfmd5, which cygnet does not implement"},
		{in: "aes256gcm16-aescmac-ecp256", kind: ProposalIKE, err: "aescmac gives prfaescmac"},
		{in: "aes256gcm16-sha256_96-ecp256", kind: ProposalIKE, err: "sha256_96 has no PRF counterpart"},
		{in: "aes256gcm16-sha256-md5-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfsha256-modp2048", sev: Warning, note: "md5 gives prfmd5, which cygnet does not implement, so it is left out"},
		// IKE, classic cipher: unchanged rules
		{in: "aes256-sha256-modp2048", kind: ProposalIKE, want: "aes256-sha256-prfsha256-modp2048"},
		{in: "aes256-md5-modp2048", kind: ProposalIKE, err: `algorithm "md5" in proposal "aes256-md5-modp2048" is not supported by cygnet`},
		{in: "aes256-modp2048", kind: ProposalIKE, err: "no integrity algorithm for the classic cipher"},
		{in: "aes256gcm16-modp2048", kind: ProposalIKE, err: "no PRF in IKE proposal"},
		// strongSwan 5.9.8 refuses AEAD and classic ciphers in one proposal
		{in: "aes256gcm16-aes256-sha256-modp2048", kind: ProposalIKE, err: "mixes AEAD (aes256gcm16) and classic (aes256) ciphers, which strongSwan refuses as well"},
		{in: "aes128-aes128gcm16-sha256", kind: ProposalESP, err: "mixes AEAD (aes128gcm16) and classic (aes128)"},

		// ESP: integrity algorithms with AEAD ciphers are dropped
		{in: "aes256gcm16-modp2048", kind: ProposalESP, want: "aes256gcm16-modp2048"},
		{in: "aes128gcm16-sha256", kind: ProposalESP, want: "aes128gcm16", sev: Info, note: `integrity algorithm sha256 dropped from proposal "aes128gcm16-sha256"`},
		{in: "aes256gcm16-sha256-modp2048", kind: ProposalESP, want: "aes256gcm16-modp2048", sev: Info, note: "sha256 dropped"},
		{in: "aes256gcm128-sha512-ecp384", kind: ProposalESP, want: "aes256gcm16-ecp384", sev: Info, note: "sha512 dropped"},
		{in: "aes256gcm128-aesxcbc-modp2048", kind: ProposalESP, want: "aes256gcm16-modp2048", sev: Info, note: "aesxcbc dropped"},
		{in: "aes256gcm16-md5-esn", kind: ProposalESP, want: "aes256gcm16-esn", sev: Info, note: "md5 dropped"},
		{in: "aes256gcm16-prfsha256", kind: ProposalESP, err: "PRFs belong in ike= proposals"},
		{in: "aes256-md5", kind: ProposalESP, err: "not supported by cygnet"},
	}
	if xcbcPRF {
		tests = append(tests,
			tc{in: "aes256gcm128-aesxcbc-modp2048", kind: ProposalIKE, want: "aes256gcm16-prfaesxcbc-modp2048"},
			tc{in: "aes256gcm16-sha256-aesxcbc-ecp256", kind: ProposalIKE, want: "aes256gcm16-prfsha256-prfaesxcbc-ecp256"})
	} else {
		tests = append(tests,
			tc{in: "aes256gcm128-aesxcbc-modp2048", kind: ProposalIKE, err: "cygnet does not implement the PRF prfaesxcbc (PRF_AES128_XCBC), the PRF strongSwan takes from the integrity algorithm aesxcbc when no PRF is given, and the proposal names no other"},
			tc{in: "aes256gcm16-sha256-aesxcbc-ecp256", kind: ProposalIKE, want: "aes256gcm16-prfsha256-ecp256", sev: Warning, note: "cygnet does not implement the PRF prfaesxcbc (PRF_AES128_XCBC), the PRF strongSwan takes from the integrity algorithm aesxcbc when no PRF is given, which is left out"})
	}
	if chachaIKE {
		tests = append(tests,
			tc{in: "chacha20poly1305-prfsha256-x25519", kind: ProposalIKE, want: "chacha20poly1305-prfsha256-curve25519"},
			tc{in: "aes256gcm16-chacha20poly1305-sha256-x25519", kind: ProposalIKE, want: "aes256gcm16-chacha20poly1305-prfsha256-curve25519"})
	} else {
		tests = append(tests,
			tc{in: "chacha20poly1305-prfsha256-x25519", kind: ProposalIKE, err: "cygnet does not implement the encryption algorithm chacha20poly1305"},
			tc{in: "aes256gcm16-chacha20poly1305-sha256-x25519", kind: ProposalIKE, want: "aes256gcm16-prfsha256-curve25519", sev: Warning, note: "chacha20poly1305 (CHACHA20_POLY1305), which is left out"})
	}

	for _, tt := range tests {
		props, strict, notes, err := parseProposals(tt.in, tt.kind)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s %s: no error, got %s", tt.kind, tt.in, formatProposals(props, strict))
			} else if !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("%s %s: error %q, want it to contain %q", tt.kind, tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tt.kind, tt.in, err)
			continue
		}
		if got := formatProposals(props, strict); got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.kind, tt.in, got, tt.want)
		}
		// the result parses back to itself, without notes other than the
		// warning about weak algorithms, which stays
		back, strict2, notes2, err := parseProposals(formatProposals(props, strict), tt.kind)
		notes2 = slices.DeleteFunc(notes2, func(n proposalNote) bool { return strings.Contains(n.msg, "uses weak algorithms") })
		if err != nil || formatProposals(back, strict2) != formatProposals(props, strict) || len(notes2) != 0 {
			t.Errorf("%s %s: round trip: %v, notes %v", tt.kind, tt.in, err, notes2)
		}
		found := false
		for _, n := range notes {
			if tt.note != "" && n.sev == tt.sev && strings.Contains(n.msg, tt.note) {
				found = true
			}
		}
		switch {
		case tt.note == "" && len(notes) > 0:
			t.Errorf("%s %s: unexpected notes %v", tt.kind, tt.in, notes)
		case tt.note != "" && !found:
			t.Errorf("%s %s: no %v note containing %q; got %v", tt.kind, tt.in, tt.sev, tt.note, notes)
		}
	}
}

// TestProposalDiagnostics: the outcome of the rules in a file, each
// diagnostic at the line of its setting.
func TestProposalDiagnostics(t *testing.T) {
	text := `conn ovs
	type=transport
	ike=aes256gcm16-sha256-modp2048
	esp=aes256gcm16-modp2048
	auto=route

conn esp-integ
	type=transport
	ike=aes256gcm128-sha512-ecp384
	esp=aes128gcm16-sha256

conn mixed
	type=transport
	ike=aes256gcm16-aes256-sha256-modp2048

conn md5prf
	type=transport
	ike=aes256gcm16-md5-modp2048

conn xcbc
	type=transport
	ike=aes256gcm128-aesxcbc-modp2048
`
	cfg, ds := parseConf(t, text)
	valid := map[string]bool{}
	for _, c := range cfg.Conns {
		valid[c.Name] = c.Valid
	}
	if !valid["ovs"] || !valid["esp-integ"] || valid["mixed"] || valid["md5prf"] {
		t.Errorf("valid conns: %v\n%s", valid, listDiags(ds))
	}
	for _, d := range ds {
		if d.Line == 3 || d.Line == 4 || d.Line == 9 {
			t.Errorf("unexpected diagnostic: %v", d)
		}
	}
	wantDiag(t, ds, Info, "ipsec.conf", 10, "esp", "integrity algorithm sha256 dropped")
	wantDiag(t, ds, Error, "ipsec.conf", 14, "ike", "mixes AEAD (aes256gcm16) and classic (aes256) ciphers")
	wantDiag(t, ds, Error, "ipsec.conf", 18, "ike", "md5 gives prfmd5, which cygnet does not implement")
	if !suite.Supported(message.ProtoIKE, suite.PRFTransform(message.PRFAES128XCBC)) {
		if valid["xcbc"] {
			t.Errorf("conn xcbc is valid though cygnet cannot do its PRF")
		}
		wantDiag(t, ds, Error, "ipsec.conf", 22, "ike", "cygnet does not implement the PRF prfaesxcbc (PRF_AES128_XCBC)")
	}
	for _, c := range cfg.Conns {
		if c.Name == "ovs" {
			if got := formatProposals(c.IKE, c.IKEStrict); got != "aes256gcm16-prfsha256-modp2048" {
				t.Errorf("ovs ike = %s", got)
			}
		}
	}
}
