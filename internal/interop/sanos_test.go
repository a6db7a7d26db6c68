package interop

import (
	"slices"
	"strings"
	"testing"
)

// TestParseSANos reads SA numbers from both dialects' status, in the
// middle of a rekey too (two of a kind up, an old one going), and ignores
// other conns and SAs in other states. It runs on the host.
func TestParseSANos(t *testing.T) {
	charon := `Security Associations (2 up, 0 connecting):
   host-host[3]: ESTABLISHED 1 second ago, 10.70.0.1[moon.strongswan.org]...10.70.0.2[sun.strongswan.org]
   host-host{2}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: c1a2b3c4_i c5d6e7f8_o
   host-host{2}:   10.70.0.1/32 === 10.70.0.2/32
   host-host[2]: REKEYED 21 seconds ago, 10.70.0.1[moon.strongswan.org]...10.70.0.2[sun.strongswan.org]
   host-host{3}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: c1a2b3c5_i c5d6e7f9_o
   host-host{1}:  REKEYED, TRANSPORT, expires in 3 seconds
   host-host-2[7]: ESTABLISHED 9 seconds ago, 10.70.0.1[moon]...10.70.0.3[carol]
   host-host-2{9}:  INSTALLED, TRANSPORT, reqid 2, ESP SPIs: c1a2b3c6_i c5d6e7fa_o
`
	ikes, children := parseSANos(kStrongSwan, charon)
	if !slices.Equal(ikes, []int{3}) || !slices.Equal(children, []int{2, 3}) {
		t.Errorf("charon: IKE_SAs %v, CHILD_SAs %v; want [3] and [2 3]", ikes, children)
	}
	pluto := `000 #1: "host-host":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 28513s; newest; idle;
000 #4: "host-host":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); REKEY in 9s; newest; eroute owner; IKE SA #1; idle;
000 #4: "host-host" esp.c1a2b3c4@10.70.0.2 esp.c5d6e7f8@10.70.0.1 Traffic: ESPin=84B ESPout=84B ESPmax=2^63B
000 #3: "host-host":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); REKEY in 0s; IKE SA #1; idle;
000 #5: "host-host-2":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); newest; idle;
000 "host-host":   newest IKE SA: #1; newest IPsec SA: #4;
`
	ikes, children = parseSANos(kLibreswan, pluto)
	if !slices.Equal(ikes, []int{1}) || !slices.Equal(children, []int{3, 4}) {
		t.Errorf("pluto: IKE_SAs %v, CHILD_SAs %v; want [1] and [3 4]", ikes, children)
	}
	if ikes, children := parseSANos(kStrongSwan, "Security Associations (0 up, 0 connecting):\n  none\n"); ikes != nil || children != nil {
		t.Errorf("no SAs: %v, %v", ikes, children)
	}
}

// TestReplaced: a step passes with any later number, a second rekey
// included, and fails when the SA it should replace is still there or
// the one it should keep was replaced.
func TestReplaced(t *testing.T) {
	before := saNos{ike: 1, child: 1}
	for _, tc := range []struct {
		ike, child bool
		now        saNos
		bad        string // part of the complaint, "" for none
	}{
		{false, true, saNos{1, 2}, ""},
		{false, true, saNos{1, 3}, ""}, // a second CHILD_SA rekey on a slow machine
		{false, true, saNos{1, 1}, "CHILD_SA is still 1"},
		{false, true, saNos{2, 2}, "IKE_SA was 1, want it kept"},
		{true, false, saNos{2, 1}, ""},
		{true, false, saNos{3, 1}, ""}, // the flake of issue 13: [3] after the first rekey's checks
		{true, false, saNos{1, 1}, "IKE_SA is still 1"},
		{true, true, saNos{2, 2}, ""},
		{true, true, saNos{2, 1}, "CHILD_SA is still 1"},
	} {
		got := replaced(before, tc.ike, tc.child)(tc.now)
		if (tc.bad == "") != (got == "") || !strings.Contains(got, tc.bad) {
			t.Errorf("replace IKE_SA %v, CHILD_SA %v, now %+v: %q, want %q", tc.ike, tc.child, tc.now, got, tc.bad)
		}
	}
}
