package xfrm

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var (
	hostA  = netip.MustParseAddr("10.9.0.1")
	hostB  = netip.MustParseAddr("10.9.0.2")
	hostA6 = netip.MustParseAddr("fd00:9::1")
	hostB6 = netip.MustParseAddr("fd00:9::2")
)

func testState(dir Direction) State {
	s := State{Src: hostB, Dst: hostA, SPI: 0xc1000001, ReqID: ReqIDMin, Dir: dir,
		Encryption: AESGCM16_256, EncKey: bytes.Repeat([]byte{1}, 36), ReplayWindow: 64}
	if dir == Out {
		s.Src, s.Dst, s.SPI = hostA, hostB, 0xc2000001
	}
	return s
}

// TestValidateRejects checks that bad input is refused with a message that
// says what is wrong before any kernel call.
func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*State)
		want   string
	}{
		{"spi zero", func(s *State) { s.SPI = 0 }, "spi 0 is reserved"},
		{"reserved spi", func(s *State) { s.SPI = 7 }, "IANA-reserved"},
		{"short gcm key", func(s *State) { s.EncKey = s.EncKey[:32] }, "key material is 32 bytes, want 36"},
		{"gcm128 long key", func(s *State) { s.Encryption = AESGCM16_128 }, "key material is 36 bytes, want 20"},
		{"unknown algorithm", func(s *State) { s.Encryption = 99 }, "unknown encryption algorithm 99"},
		{"aead with integ", func(s *State) { s.Integrity = HMACSHA256_128 }, "takes no integrity"},
		{"cbc without integ", func(s *State) { s.Encryption, s.EncKey = AESCBC256, make([]byte, 32) }, "needs an integrity"},
		{"cbc short integ key", func(s *State) {
			s.Encryption, s.EncKey, s.Integrity, s.IntegKey = AESCBC128, make([]byte, 16), HMACSHA384_192, make([]byte, 32)
		}, "key is 32 bytes, want 48"},
		{"3des without integ", func(s *State) { s.Encryption, s.EncKey = TripleDESCBC, make([]byte, 24) }, "needs an integrity"},
		{"3des short key", func(s *State) {
			s.Encryption, s.EncKey, s.Integrity, s.IntegKey = TripleDESCBC, make([]byte, 16), HMACSHA1_96, make([]byte, 20)
		}, "key material is 16 bytes, want 24"},
		{"sha1 short key", func(s *State) {
			s.Encryption, s.EncKey, s.Integrity, s.IntegKey = TripleDESCBC, make([]byte, 24), HMACSHA1_96, make([]byte, 16)
		}, "key is 16 bytes, want 20"},
		{"mixed families", func(s *State) { s.Src = hostA6 }, "mixed address families"},
		{"missing address", func(s *State) { s.Dst = netip.Addr{} }, "missing address"},
		{"window too small", func(s *State) { s.ReplayWindow = 16 }, "outside 32..4096"},
		{"window too large", func(s *State) { s.ReplayWindow = 8192 }, "outside 32..4096"},
		{"foreign reqid", func(s *State) { s.ReqID = 1 }, "outside cygnet's range"},
		{"ports without proto", func(s *State) { s.Selector = Selector{Src: hostB, Dst: hostA, DstPort: 80} }, "ports need protocol"},
		{"no direction", func(s *State) { s.Dir = 0 }, "direction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := testState(In)
			c.mutate(&s)
			err := s.Validate()
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "0101010101") {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
	for _, w := range []uint32{0, 32, 64, 1024, 4096} {
		s := testState(In)
		s.ReplayWindow = w
		if err := s.Validate(); err != nil {
			t.Errorf("window %d: %v", w, err)
		}
	}
}

func testChild() ChildSA {
	return ChildSA{ReqID: ReqIDMin, Local: hostA, Remote: hostB, In: testState(In), Out: testState(Out)}
}

func TestChildSAValidate(t *testing.T) {
	c := testChild()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Out.Dst = hostA
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("mismatched addresses accepted: %v", err)
	}
	c = testChild()
	c.Remote = hostB6
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "mixed address families") {
		t.Fatalf("mixed families accepted: %v", err)
	}
	c = testChild()
	c.Out.ReqID = ReqIDMin + 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "another reqid") {
		t.Fatalf("reqid mismatch accepted: %v", err)
	}
}

func TestPoliciesAndPriority(t *testing.T) {
	c := testChild()
	c.Proto, c.LocalPort = 6, 5432
	ps := c.Policies()
	if ps[0].Dir != Out || ps[0].Selector.Src != hostA || ps[0].Selector.SrcPort != 5432 {
		t.Errorf("out policy %+v", ps[0])
	}
	if ps[1].Dir != In || ps[1].Selector.Src != hostB || ps[1].Selector.DstPort != 5432 {
		t.Errorf("in policy %+v", ps[1])
	}
	host := DefaultPriority(Selector{Src: hostA, Dst: hostB})
	if ps[0].Priority >= host {
		t.Errorf("narrow policy priority %d not below host-pair %d", ps[0].Priority, host)
	}
}

func TestOwned(t *testing.T) {
	for _, r := range []uint32{0, 1, 100, ReqIDMin - 1, ReqIDMax + 1} {
		if Owned(r) {
			t.Errorf("Owned(%#x) = true", r)
		}
	}
	if !Owned(ReqIDMin) || !Owned(ReqIDMax) {
		t.Error("range ends not owned")
	}
}
