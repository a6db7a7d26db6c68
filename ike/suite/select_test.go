package suite

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

var (
	gcm128    = EncrTransform(message.EncrAESGCM16, 128)
	gcm256    = EncrTransform(message.EncrAESGCM16, 256)
	cbc128    = EncrTransform(message.EncrAESCBC, 128)
	cbc256    = EncrTransform(message.EncrAESCBC, 256)
	sha256i   = IntegTransform(message.IntegHMACSHA2256128)
	sha512i   = IntegTransform(message.IntegHMACSHA2512256)
	noneI     = IntegTransform(message.IntegNone)
	prf256    = PRFTransform(message.PRFHMACSHA2256)
	prf384    = PRFTransform(message.PRFHMACSHA2384)
	prfSHA1   = PRFTransform(message.PRFHMACSHA1)
	tModp2048 = KETransform(message.DHMODP2048)
	ecp256    = KETransform(message.DHECP256)
	ecp384    = KETransform(message.DHECP384)
	x25519    = KETransform(message.DHCurve25519)
	noneKE    = KETransform(message.DHNone)
	esnNo     = ESNTransform(message.ESNNo)
	esnYes    = ESNTransform(message.ESNYes)
	espSPI    = []byte{1, 2, 3, 4}
	ikeSPI    = []byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func ike(n uint8, ts ...message.Transform) message.Proposal {
	return NewProposal(n, message.ProtoIKE, nil, ts...)
}

func esp(n uint8, ts ...message.Transform) message.Proposal {
	return NewProposal(n, message.ProtoESP, espSPI, ts...)
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name          string
		local, remote []message.Proposal
		opts          []Option
		want          message.Proposal
	}{
		{
			name:   "exact",
			local:  []message.Proposal{ike(0, gcm256, prf384, ecp384)},
			remote: []message.Proposal{ike(1, gcm256, prf384, ecp384)},
			want:   ike(1, gcm256, prf384, ecp384),
		},
		{
			name:   "local order wins across proposals",
			local:  []message.Proposal{ike(0, gcm256, prf384, ecp384), ike(0, cbc128, sha256i, prf256, tModp2048)},
			remote: []message.Proposal{ike(1, cbc128, sha256i, prf256, tModp2048), ike(2, gcm256, prf384, ecp384)},
			want:   ike(2, gcm256, prf384, ecp384),
		},
		{
			name:   "peer order with PreferPeer",
			local:  []message.Proposal{ike(0, gcm256, prf384, ecp384), ike(0, cbc128, sha256i, prf256, tModp2048)},
			remote: []message.Proposal{ike(1, cbc128, sha256i, prf256, tModp2048), ike(2, gcm256, prf384, ecp384)},
			opts:   []Option{PreferPeer()},
			want:   ike(1, cbc128, prf256, sha256i, tModp2048),
		},
		{
			name:   "local order wins within a proposal",
			local:  []message.Proposal{ike(0, gcm256, gcm128, prf384, prf256, x25519, ecp256)},
			remote: []message.Proposal{ike(7, gcm128, gcm256, prf256, prf384, ecp256, x25519)},
			want:   ike(7, gcm256, prf384, x25519),
		},
		{
			name:   "peer order within a proposal with PreferPeer",
			local:  []message.Proposal{ike(0, gcm256, gcm128, prf384, prf256, x25519, ecp256)},
			remote: []message.Proposal{ike(7, gcm128, gcm256, prf256, prf384, ecp256, x25519)},
			opts:   []Option{PreferPeer()},
			want:   ike(7, gcm128, prf256, ecp256),
		},
		{
			name:   "key length must match",
			local:  []message.Proposal{ike(0, gcm128, gcm256, prf256, ecp256)},
			remote: []message.Proposal{ike(1, gcm256, prf256, ecp256)},
			want:   ike(1, gcm256, prf256, ecp256),
		},
		{
			name:   "rekey SPI is echoed",
			local:  []message.Proposal{ike(0, gcm256, prf384, ecp384)},
			remote: []message.Proposal{NewProposal(3, message.ProtoIKE, ikeSPI, gcm256, prf384, ecp384)},
			want:   NewProposal(3, message.ProtoIKE, ikeSPI, gcm256, prf384, ecp384),
		},
		{
			name:   "AEAD with explicit INTEG NONE echoes NONE",
			local:  []message.Proposal{ike(0, gcm256, prf384, ecp384)},
			remote: []message.Proposal{ike(1, gcm256, noneI, prf384, ecp384)},
			want:   ike(1, gcm256, prf384, noneI, ecp384),
		},
		{
			name:   "mixed peer proposal: AEAD skipped while INTEG is real, CBC taken",
			local:  []message.Proposal{ike(0, gcm256, cbc256, sha256i, prf256, ecp256)},
			remote: []message.Proposal{ike(1, gcm256, cbc256, sha256i, prf256, ecp256)},
			want:   ike(1, cbc256, prf256, sha256i, ecp256),
		},
		{
			name:   "ESP without ESN or PFS",
			local:  []message.Proposal{esp(0, gcm256, esnNo)},
			remote: []message.Proposal{esp(1, gcm128, gcm256, esnNo)},
			want:   esp(1, gcm256, esnNo),
		},
		{
			name:   "ESP, peer omits ESN: implicit NO_EXT_SEQ, not echoed",
			local:  []message.Proposal{esp(0, gcm256)},
			remote: []message.Proposal{esp(1, gcm256)},
			want:   esp(1, gcm256),
		},
		{
			name:   "ESP ESN in local order",
			local:  []message.Proposal{esp(0, cbc128, sha512i, sha256i, esnYes, esnNo)},
			remote: []message.Proposal{esp(2, cbc128, sha256i, sha512i, esnNo, esnYes)},
			want:   esp(2, cbc128, sha512i, esnYes),
		},
		{
			name:   "ESP PFS",
			local:  []message.Proposal{esp(0, gcm256, ecp384, esnNo)},
			remote: []message.Proposal{esp(1, gcm256, ecp256, ecp384, esnNo)},
			want:   esp(1, gcm256, ecp384, esnNo),
		},
		{
			name:   "ESP peer offers PFS or NONE, we have no PFS",
			local:  []message.Proposal{esp(0, gcm256, esnNo)},
			remote: []message.Proposal{esp(1, gcm256, ecp256, noneKE, esnNo)},
			want:   esp(1, gcm256, noneKE, esnNo),
		},
		{
			name:   "CBC never takes INTEG NONE, even first in the peer's order",
			local:  []message.Proposal{esp(0, cbc128, noneI, sha256i, esnNo)},
			remote: []message.Proposal{esp(1, cbc128, noneI, sha256i, esnNo)},
			opts:   []Option{PreferPeer()},
			want:   esp(1, cbc128, sha256i, esnNo),
		},
		{
			name:   "IKE_AUTH CHILD_SA ignores a configured PFS group",
			local:  []message.Proposal{esp(0, gcm256, ecp384, esnNo)},
			remote: []message.Proposal{esp(1, gcm256, esnNo)},
			opts:   []Option{IgnoreKE()},
			want:   esp(1, gcm256, esnNo),
		},
		{
			name:   "IgnoreKE drops the peer's groups, echoes its NONE",
			local:  []message.Proposal{esp(0, gcm256, ecp384, esnNo)},
			remote: []message.Proposal{esp(1, gcm256, ecp256, noneKE, esnNo)},
			opts:   []Option{IgnoreKE()},
			want:   esp(1, gcm256, noneKE, esnNo),
		},
		{
			name: "unsupported local transforms are ignored",
			local: []message.Proposal{ike(0, EncrTransform(message.EncrChaCha20Poly1305, 0), gcm256,
				prf384, KETransform(message.DHCurve448), ecp384)},
			remote: []message.Proposal{ike(1, EncrTransform(message.EncrChaCha20Poly1305, 0), gcm256,
				prf384, KETransform(message.DHCurve448), ecp384)},
			want: ike(1, gcm256, prf384, ecp384),
		},
		{
			name:   "IKE never picks KE NONE",
			local:  []message.Proposal{ike(0, gcm256, prf384, noneKE, ecp384)},
			remote: []message.Proposal{ike(1, gcm256, prf384, noneKE, ecp384)},
			want:   ike(1, gcm256, prf384, ecp384),
		},
		{
			name:   "insecure PRF when configured",
			local:  []message.Proposal{ike(0, cbc128, sha256i, prfSHA1, tModp2048)},
			remote: []message.Proposal{ike(1, cbc128, sha256i, prfSHA1, tModp2048)},
			want:   ike(1, cbc128, prfSHA1, sha256i, tModp2048),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.local, tt.remote, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %d %v %x %s\nwant %d %v %x %s", got.Number, got.Protocol, got.SPI, Format(got),
					tt.want.Number, tt.want.Protocol, tt.want.SPI, Format(tt.want))
			}
			if _, err := FromProposal(got); err != nil {
				t.Fatalf("chosen proposal is not a valid suite: %v", err)
			}
		})
	}
}

func TestSelectNoProposal(t *testing.T) {
	tests := []struct {
		name          string
		local, remote []message.Proposal
	}{
		{"disjoint", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, cbc256, sha256i, prf256, tModp2048)}},
		{"KE differs", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, prf384, ecp256)}},
		{"key length differs", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm128, prf384, ecp384)}},
		{"IKE KE NONE only", []message.Proposal{ike(0, gcm256, prf384, noneKE)}, []message.Proposal{ike(1, gcm256, prf384, noneKE)}},
		{"IKE without KE", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, prf384)}},
		{"IKE without PRF", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, ecp384)}},
		{"CBC without INTEG", []message.Proposal{ike(0, cbc256, sha256i, prf384, ecp384)}, []message.Proposal{ike(1, cbc256, prf384, ecp384)}},
		{"AEAD with real INTEG", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, sha256i, prf384, ecp384)}},
		{"protocol differs", []message.Proposal{esp(0, gcm256, esnNo)}, []message.Proposal{ike(1, gcm256, prf384, ecp384)}},
		{"ESP PFS required", []message.Proposal{esp(0, gcm256, ecp384, esnNo)}, []message.Proposal{esp(1, gcm256, esnNo)}},
		{"ESP PFS refused", []message.Proposal{esp(0, gcm256, esnNo)}, []message.Proposal{esp(1, gcm256, ecp384, esnNo)}},
		{"ESN required", []message.Proposal{esp(0, gcm256, esnYes)}, []message.Proposal{esp(1, gcm256, esnNo)}},
		{"ESP SPI size", []message.Proposal{esp(0, gcm256, esnNo)}, []message.Proposal{NewProposal(1, message.ProtoESP, []byte{1, 2}, gcm256, esnNo)}},
		{"IKE SPI size", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{NewProposal(1, message.ProtoIKE, []byte{1}, gcm256, prf384, ecp384)}},
		{"ESP with PRF", []message.Proposal{esp(0, gcm256, esnNo)}, []message.Proposal{esp(1, gcm256, prf256, esnNo)}},
		{"IKE with ESN", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, prf384, ecp384, esnNo)}},
		{"unknown transform type", []message.Proposal{ike(0, gcm256, prf384, ecp384)},
			[]message.Proposal{ike(1, gcm256, prf384, ecp384, message.Transform{Type: 6, ID: 1})}},
		{"only unsupported locally", []message.Proposal{ike(0, EncrTransform(message.EncrChaCha20Poly1305, 0), prf384, ecp384)},
			[]message.Proposal{ike(1, EncrTransform(message.EncrChaCha20Poly1305, 0), prf384, ecp384)}},
		{"AH", []message.Proposal{NewProposal(0, message.ProtoAH, espSPI, sha256i, esnNo)}, []message.Proposal{NewProposal(1, message.ProtoAH, espSPI, sha256i, esnNo)}},
		{"nothing offered", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, nil},
	}
	tests = append(tests, struct {
		name          string
		local, remote []message.Proposal
	}{"IKE with IgnoreKE", []message.Proposal{ike(0, gcm256, prf384, ecp384)}, []message.Proposal{ike(1, gcm256, prf384, ecp384)}})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if i == len(tests)-1 {
				opts = append(opts, IgnoreKE())
			}
			got, err := Select(tt.local, tt.remote, opts...)
			if !errors.Is(err, ErrNoProposalChosen) {
				t.Fatalf("got %s, err %v; want ErrNoProposalChosen", Format(got), err)
			}
		})
	}
}

func TestSelectErrorText(t *testing.T) {
	_, err := Select(
		[]message.Proposal{ike(0, gcm256, prf384, ecp384)},
		[]message.Proposal{ike(1, cbc256, sha256i, prf256, tModp2048), ike(2, cbc128, sha256i, prf256, tModp2048)})
	want := "suite: no proposal chosen: peer offered [AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048, " +
		"AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048], we accept [AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384]"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatal("error spans lines")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		p            message.Proposal
		format, stat string
	}{
		{ike(1, gcm256, prf384, ecp384), "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"},
		{ike(1, cbc256, prf256, sha256i, tModp2048), "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{esp(1, gcm256, esnNo), "AES_GCM_16_256/NO_EXT_SEQ", "AES_GCM_16_256"},
		{esp(1, gcm256, noneI, noneKE, esnNo), "AES_GCM_16_256/NONE/NO_EXT_SEQ", "AES_GCM_16_256"},
		{esp(1, cbc128, sha256i, ecp256, esnYes), "AES_CBC_128/HMAC_SHA2_256_128/ECP_256/EXT_SEQ", "AES_CBC_128/HMAC_SHA2_256_128/ECP_256/ESN"},
		{ike(1, EncrTransform(message.EncrChaCha20Poly1305, 0), EncrTransform(message.EncrAESCTR, 128), prf384, KETransform(message.DHCurve448),
			message.Transform{Type: 9, ID: 4}), "CHACHA20_POLY1305/AES_CTR_128/PRF_HMAC_SHA2_384/CURVE_448/UNKNOWN_9_4", ""},
	}
	for _, tt := range tests {
		if got := Format(tt.p); got != tt.format {
			t.Errorf("Format = %q, want %q", got, tt.format)
		}
		if tt.stat != "" {
			if got := FormatStatus(tt.p); got != tt.stat {
				t.Errorf("FormatStatus = %q, want %q", got, tt.stat)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, set := range [][]message.Proposal{DefaultIKE, DefaultESP} {
		for _, p := range set {
			for _, tr := range p.Transforms {
				in, ok := Lookup(tr)
				if !ok || !Supported(p.Protocol, tr) || in.Insecure {
					t.Errorf("%s: %s is not a supported secure transform", Format(p), Name(tr))
				}
			}
		}
	}
	// Two stock configurations agree, and on the first (ike= default) proposal.
	ikeSet, err := Numbered(message.ProtoIKE, nil, DefaultIKE)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Select(DefaultIKE, ikeSet)
	if err != nil || Format(got) != "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_3072" || got.Number != 1 {
		t.Fatalf("IKE default against itself: %d %s, %v", got.Number, Format(got), err)
	}
	espSet, _ := Numbered(message.ProtoESP, espSPI, DefaultESP)
	got, err = Select(DefaultESP, espSet)
	if err != nil || FormatStatus(got) != "AES_CBC_128/HMAC_SHA2_256_128" {
		t.Fatalf("ESP default against itself: %s, %v", Format(got), err)
	}
	// A strict AEAD peer is still served by the defaults.
	got, err = Select(DefaultIKE, []message.Proposal{ike(1, gcm256, prf384, ecp384)})
	if err != nil || Format(got) != "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384" {
		t.Fatalf("strict peer: %s, %v", Format(got), err)
	}
}

func TestPreferred(t *testing.T) {
	got := Preferred(message.ProtoIKE, message.TransformPRF, false)
	want := []message.Transform{prf384, prf256, PRFTransform(message.PRFHMACSHA2512)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Preferred PRFs = %v, want %v", got, want)
	}
	if got := Preferred(message.ProtoESP, message.TransformPRF, true); len(got) != 0 {
		t.Fatalf("ESP PRFs = %v", got)
	}
	// The preference order covers the whole table and only it.
	for _, in := range table {
		if !contains(preference, in.Transform) {
			t.Errorf("%s missing from the preference order", in.Name)
		}
	}
	for _, tr := range preference {
		if _, ok := Lookup(tr); !ok {
			t.Errorf("%s in the preference order but not in the table", Name(tr))
		}
	}
}

func TestFromProposal(t *testing.T) {
	s, err := FromProposal(ike(1, gcm256, prf384, ecp384))
	if err != nil {
		t.Fatal(err)
	}
	want := Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}
	if s != want || s.String() != "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384" {
		t.Fatalf("got %+v %s", s, s)
	}
	for name, p := range map[string]message.Proposal{
		"two ENCR":        ike(1, gcm256, gcm128, prf384, ecp384),
		"no KE":           ike(1, gcm256, prf384),
		"no PRF":          ike(1, gcm256, ecp384),
		"unsupported":     ike(1, EncrTransform(message.EncrAESCTR, 128), sha256i, prf384, ecp384),
		"GCM + INTEG":     ike(1, gcm256, sha256i, prf384, ecp384),
		"CBC no INTEG":    esp(1, cbc128, esnNo),
		"ESP with PRF":    esp(1, gcm256, prf256, esnNo),
		"unknown type":    ike(1, gcm256, prf384, ecp384, message.Transform{Type: 77}),
		"AH":              NewProposal(1, message.ProtoAH, espSPI, sha256i),
		"IKE with ESN=1":  ike(1, gcm256, prf384, ecp384, esnYes),
		"key bits absent": ike(1, EncrTransform(message.EncrAESGCM16, 0), prf384, ecp384),
	} {
		if _, err := FromProposal(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzSelect: arbitrary peer proposals never panic, and whatever is chosen
// is a valid suite made of transforms the peer offered.
func FuzzSelect(f *testing.F) {
	f.Add([]byte{1, 1, 20, 1, 0, 2, 6, 0, 4, 20, 0})
	f.Add([]byte{3, 1, 12, 1, 0, 3, 12, 0, 5, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		p := message.Proposal{Number: 1, Protocol: message.ProtocolID(data[0] % 4)}
		if p.Protocol == message.ProtoESP {
			p.SPI = espSPI
		}
		for b := data[1:]; len(b) >= 3; b = b[3:] {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformType(b[0] % 7), ID: uint16(b[1]), KeyBits: int(b[2]) * 64 % 320})
		}
		local := append(append([]message.Proposal{}, DefaultIKE...), DefaultESP...)
		got, err := Select(local, []message.Proposal{p})
		if err != nil {
			return
		}
		if _, err := FromProposal(got); err != nil {
			t.Fatalf("chose invalid %s: %v", Format(got), err)
		}
		for _, tr := range got.Transforms {
			if !contains(p.Transforms, tr) {
				t.Fatalf("chose %s which the peer did not offer", Name(tr))
			}
		}
	})
}

func TestCheckReply(t *testing.T) {
	offered, _ := Numbered(message.ProtoIKE, nil, []message.Proposal{
		ike(0, gcm256, gcm128, prf384, prf256, ecp384, x25519),
		ike(0, cbc256, sha256i, prf256, tModp2048),
		ike(0, gcm256, cbc128, sha256i, prf256, ecp256),
	})
	s, err := CheckReply(offered, ike(1, gcm128, prf256, x25519))
	if err != nil || s.String() != "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519" {
		t.Fatalf("got %s, %v", s, err)
	}
	if _, err := CheckReply(offered, ike(2, cbc256, prf256, sha256i, tModp2048)); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]message.Proposal{
		"wrong number":     ike(2, gcm128, prf256, x25519),
		"not offered":      ike(1, gcm128, prf256, ecp256),
		"two ENCR":         ike(1, gcm128, gcm256, prf256, x25519),
		"missing KE":       ike(1, gcm128, prf256),
		"missing INTEG":    ike(2, cbc256, prf256, tModp2048),
		"unknown":          ike(1, gcm128, prf256, x25519, message.Transform{Type: 8}),
		"absent number":    ike(9, gcm128, prf256, x25519),
		"ESP for IKE":      esp(1, gcm128, esnNo),
		"IKE SPI too long": NewProposal(1, message.ProtoIKE, make([]byte, 9), gcm128, prf256, x25519),
	} {
		if _, err := CheckReply(offered, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := CheckReply(offered, ike(3, gcm256, prf256, ecp256)); err != nil {
		t.Errorf("AEAD chosen from a mixed offer: %v", err)
	}
	if _, err := CheckReply(offered, ike(3, cbc128, prf256, ecp256)); err == nil {
		t.Error("CBC chosen without INTEG accepted")
	}
	if _, err := Numbered(message.ProtoIKE, nil, make([]message.Proposal, 256)); err == nil {
		t.Error("256 proposals numbered")
	}
	espOffered, _ := Numbered(message.ProtoESP, espSPI, []message.Proposal{esp(0, gcm256, noneKE, ecp256, esnYes)})
	if _, err := CheckReply(espOffered, esp(1, gcm256)); err == nil {
		t.Error("ESN omitted although only EXT_SEQ was offered")
	}
	if s, err := CheckReply(espOffered, esp(1, gcm256, esnYes)); err != nil || s.KE != message.DHNone || s.ESN != message.ESNYes {
		t.Errorf("KE omitted with NONE offered: %+v, %v", s, err)
	}
}

func TestFromLists(t *testing.T) {
	p := FromLists(message.ProtoESP, []message.Transform{gcm256, gcm128}, nil, nil, nil, nil)
	if Format(p) != "AES_GCM_16_256/AES_GCM_16_128/NO_EXT_SEQ" {
		t.Fatalf("ESP: %s", Format(p))
	}
	p = FromLists(message.ProtoIKE, []message.Transform{cbc256}, []message.IntegID{message.IntegHMACSHA2256128},
		[]message.PRFID{message.PRFHMACSHA2256}, []message.DHGroup{message.DHECP256, message.DHMODP2048}, nil)
	if Format(p) != "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256/MODP_2048" {
		t.Fatalf("IKE: %s", Format(p))
	}
	if g := Groups(append([]message.Proposal{p}, DefaultIKE...)); len(g) != 7 || g[0] != message.DHECP256 || g[1] != message.DHMODP2048 || g[2] != message.DHMODP3072 {
		t.Fatalf("Groups = %v", g)
	}
}

func TestListsRoundTrip(t *testing.T) {
	for _, p := range append(append([]message.Proposal{}, DefaultIKE...), DefaultESP...) {
		encr, integ, prf, ke, esn := Lists(p)
		q := FromLists(p.Protocol, encr, integ, prf, ke, esn)
		if Format(q) != Format(p) {
			t.Errorf("%s became %s", Format(p), Format(q))
		}
	}
}

func TestWithoutKE(t *testing.T) {
	in := []message.Proposal{esp(1, gcm256, ecp384, noneKE, esnNo)}
	out := WithoutKE(in)
	if Format(out[0]) != "AES_GCM_16_256/NO_EXT_SEQ" || out[0].Number != 1 || len(out[0].SPI) != 4 {
		t.Fatalf("got %s", Format(out[0]))
	}
	if Format(in[0]) != "AES_GCM_16_256/ECP_384/NONE/NO_EXT_SEQ" {
		t.Fatal("input modified")
	}
	if _, err := CheckReply(out, esp(1, gcm256, esnNo)); err != nil {
		t.Fatal(err)
	}
}
