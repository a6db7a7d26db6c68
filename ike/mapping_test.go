package ike_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestNATMappingChange: the kernel reports (MAPPING) that ESP from the
// peer behind a NAT now comes from another port; the end not behind the
// NAT moves its IKE SA and its states' encapsulation there (RFC 7296
// 2.23, RFC 3948), keeping the SPIs, while the end behind the NAT and
// address changes are left alone.
func TestNATMappingChange(t *testing.T) {
	t.Log("checks RFC 7296 2.23, RFC 3948 2.2")
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].ForceEncaps = true // a plays the host behind a NAT
		a.Connections[0].DPDDelay = 30 * time.Second
		b.Connections[0].DPDDelay = 30 * time.Second
		b.Connections[0].DPDAction = ike.ActionClear
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	inSPI := func(s *side) uint32 { return spisOf(s, xfrm.In)[0] }
	before := p.b.kernel.Render()
	mapping := func(s *side, addr string, port uint16) {
		s.e.KernelEvent(xfrm.Event{Type: xfrm.EventMapping, SPI: inSPI(s), Src: addrA, Dst: netip.MustParseAddr(addr), OldPort: 4500, NewPort: port})
	}

	// The end behind the NAT does not follow (RFC 7296 2.23).
	mapping(p.a, "10.0.0.2", 4600)
	if got := established(t, p.a).Remote.Port(); got != 4500 {
		t.Errorf("host behind the NAT moved to port %d", got)
	}
	// A new address is not followed without MOBIKE.
	mapping(p.b, "10.0.0.9", 4600)
	if got := established(t, p.b).Remote; got.Addr() != addrA || got.Port() != 4500 {
		t.Errorf("followed an address change to %v", got)
	}
	if strings.Join(p.b.kernel.Render(), "\n") != strings.Join(before, "\n") {
		t.Error("states changed for an ignored mapping event")
	}

	mapping(p.b, "10.0.0.1", 4600)
	sb := established(t, p.b)
	if sb.Remote.Port() != 4600 {
		t.Fatalf("IKE SA remote %v, want port 4600", sb.Remote)
	}
	for _, s := range p.b.kernel.States() {
		var ok bool
		switch s.Dir {
		case xfrm.Out:
			ok = s.Encap != nil && s.Encap.SrcPort == 4500 && s.Encap.DstPort == 4600
		case xfrm.In:
			ok = s.Encap != nil && s.Encap.SrcPort == 4600 && s.Encap.DstPort == 4500
		}
		if !ok {
			t.Errorf("state %v: encapsulation not moved to the new port", &s)
		}
	}
	// The SPIs and keys are the same: only the encapsulation changed, so
	// the pair still matches (ports aside).
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if len(before) != len(p.b.kernel.Render()) {
		t.Error("states added or removed")
	}
	// IKE messages (here a DPD check) now go to the new port.
	mark := len(p.link.sentFrom(addrB))
	p.clk.Advance(31 * time.Second)
	sent := p.link.sentFrom(addrB)[mark:]
	if len(sent) == 0 {
		t.Fatal("no DPD check sent")
	}
	for _, pk := range sent {
		if ex, _, _ := kind(pk); ex == message.Informational && pk.Remote.Port() != 4600 {
			t.Errorf("INFORMATIONAL sent to %v, want port 4600", pk.Remote)
		}
	}
	established(t, p.a)
	established(t, p.b)
}
