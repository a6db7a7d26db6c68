package config

import (
	"strings"
	"testing"
)

// TestProposalLegacyAlgorithms: the weak algorithms strongSwan 5.9.8 still
// accepts load, each with a warning naming it and why it is weak; Brainpool
// is left out next to an implemented group and refused alone, with the
// reason.
func TestProposalLegacyAlgorithms(t *testing.T) {
	for _, tt := range []struct {
		in   string
		kind ProposalKind
		want string   // formatted; "" for an error
		weak []string // substrings of the weak-algorithm warning, or of the error
	}{
		{"3des-sha1-modp1024", ProposalIKE, "3des-sha1-prfsha1-modp1024", []string{"3des (3DES_CBC: 64-bit blocks", "sha1 (HMAC_SHA1_96", "prfsha1 (PRF_HMAC_SHA1", "modp1024 (MODP_1024"}},
		{"aes128-sha1-modp1536", ProposalIKE, "aes128-sha1-prfsha1-modp1536", []string{"modp1536 (MODP_1536", "sha1 (HMAC_SHA1_96"}},
		{"aes256-sha256-modp2048s256", ProposalIKE, "aes256-sha256-prfsha256-modp2048s256", []string{"modp2048s256 (MODP_2048_256: RFC 5114"}},
		{"aes256gcm16-prfsha256-modp1024", ProposalIKE, "aes256gcm16-prfsha256-modp1024", []string{"modp1024"}},
		{"3des-sha256-prfsha256-ecp256", ProposalIKE, "3des-sha256-prfsha256-ecp256", []string{"3des (3DES_CBC"}},
		{"3DES-SHA1-MODP2048!", ProposalIKE, "3des-sha1-prfsha1-modp2048!", []string{"3des", "sha1"}},
		{"3des-sha1", ProposalESP, "3des-sha1", []string{"3des (3DES_CBC", "sha1 (HMAC_SHA1_96"}},
		{"3des-sha1-noesn", ProposalESP, "3des-sha1-noesn", []string{"3des"}},
		{"aes128-sha1-modp1024", ProposalESP, "aes128-sha1-modp1024", []string{"sha1", "modp1024"}},
		{"aes256-sha1_160", ProposalESP, "", []string{`"sha1_160"`, "not supported by cygnet"}},
		{"aes256gcm16-modp2048s256", ProposalESP, "aes256gcm16-modp2048s256", []string{"modp2048s256"}},
		{"aes256gcm16-noesn", ProposalESP, "aes256gcm16-noesn", nil},
		{"3des-md5-modp1024", ProposalIKE, "", []string{`"md5"`}},
		{"3des128-sha1-modp1024", ProposalIKE, "", []string{`unknown algorithm "3des128"`}},
		// Brainpool: left out next to an implemented group, refused alone
		{"aes256-sha256-ecp256bp-ecp256", ProposalIKE, "aes256-sha256-prfsha256-ecp256", nil},
		{"aes256-sha256-ecp256bp", ProposalIKE, "", []string{"ecp256bp (ECP_256_BP): Go's standard library has no Brainpool curves", "the proposal names no other"}},
		{"aes256gcm16-prfsha384-ecp384bp", ProposalIKE, "", []string{"ecp384bp (ECP_384_BP)", "constant time"}},
		{"aes256gcm16-ecp512bp", ProposalESP, "", []string{"ecp512bp (ECP_512_BP)"}},
	} {
		props, strict, notes, err := parseProposals(tt.in, tt.kind)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s %s: accepted as %s", tt.kind, tt.in, formatProposals(props, strict))
				continue
			}
			for _, w := range tt.weak {
				if !strings.Contains(err.Error(), w) || !strings.HasPrefix(err.Error(), "config: ") {
					t.Errorf("%s %s: error %q does not contain %q", tt.kind, tt.in, err, w)
				}
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
		var warning string
		for _, n := range notes {
			if n.sev == Warning && strings.Contains(n.msg, "uses weak algorithms") {
				warning = n.msg
			}
		}
		if len(tt.weak) == 0 && warning != "" {
			t.Errorf("%s %s: unexpected warning %s", tt.kind, tt.in, warning)
		}
		for _, w := range tt.weak {
			if !strings.Contains(warning, w) {
				t.Errorf("%s %s: weak warning %q does not contain %q", tt.kind, tt.in, warning, w)
			}
		}
	}
}

// In a file: the weak proposals load, each warning at the line of its
// setting; defaults stay strong and carry no warning.
func TestProposalLegacyDiagnostics(t *testing.T) {
	text := `conn old
	type=transport
	ike=3des-sha1-modp1024
	esp=3des-sha1
	auto=add

conn bp
	type=transport
	ike=aes256-sha256-ecp256bp

conn default
	type=transport
	left=10.0.0.1
`
	cfg, ds := parseConf(t, text)
	valid := map[string]bool{}
	for _, c := range cfg.Conns {
		valid[c.Name] = c.Valid
	}
	if !valid["old"] || valid["bp"] || !valid["default"] {
		t.Fatalf("valid conns: %v\n%s", valid, listDiags(ds))
	}
	wantDiag(t, ds, Warning, "ipsec.conf", 3, "ike", "3des (3DES_CBC")
	wantDiag(t, ds, Warning, "ipsec.conf", 4, "esp", "sha1 (HMAC_SHA1_96")
	wantDiag(t, ds, Error, "ipsec.conf", 9, "ike", "Brainpool")
	for _, d := range ds {
		if d.Line >= 11 {
			t.Errorf("diagnostic for the default conn: %v", d)
		}
	}
	for _, p := range append(DefaultIKEProposals(), DefaultESPProposals()...) {
		if w := weakNote(p, ProposalIKE, FormatProposal(p)); w != "" {
			t.Errorf("default proposal %s is weak: %s", FormatProposal(p), w)
		}
	}
}
