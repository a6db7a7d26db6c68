package xfrm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestUpdateEncap moves ESP-in-UDP states to a new peer port, as a NAT
// mapping change needs: the encapsulation changes, while keys, limits and
// SPIs stay those installed. Needs ESP: runs in the real-kernel VM.
func TestUpdateEncap(t *testing.T) {
	vmtest.Require(t)
	ctx := context.Background()
	ns := nstest.New(t)
	h := open(t, ns)
	lim := xfrm.Limits{SoftBytes: 1 << 30, HardBytes: 2 << 30, SoftTime: time.Hour, HardTime: 2 * time.Hour}
	gcm := xfrm.State{Src: addrA, Dst: addrB, SPI: 0x7001, ReqID: xfrm.ReqIDMin + 7, Dir: xfrm.Out,
		Encryption: xfrm.AESGCM16_256, EncKey: key(36, 5), Limits: lim, Encap: &xfrm.Encap{SrcPort: 4500, DstPort: 4500}}
	cbc := xfrm.State{Src: addrA, Dst: addrB, SPI: 0x7002, ReqID: xfrm.ReqIDMin + 8, Dir: xfrm.Out,
		Encryption: xfrm.AESCBC128, EncKey: key(16, 6), Integrity: xfrm.HMACSHA256_128, IntegKey: key(32, 7),
		Limits: lim, Encap: &xfrm.Encap{SrcPort: 4500, DstPort: 4500}}
	for _, s := range []*xfrm.State{&gcm, &cbc} {
		if err := h.InstallState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	keysBefore := keyLines(ns.Run(t, "ip", "xfrm", "state"))
	for _, s := range []xfrm.State{gcm, cbc} {
		s.EncKey, s.IntegKey = nil, nil // the caller does not have them
		s.Encap = &xfrm.Encap{SrcPort: 4500, DstPort: 4600}
		if err := h.UpdateEncap(ctx, &s); err != nil {
			t.Fatal(err)
		}
		got := find(t, h, s.SPI)
		if got.Encap == nil || *got.Encap != *s.Encap || got.Limits != lim || got.Encryption != s.Encryption {
			t.Errorf("spi %#x read back %+v", s.SPI, got)
		}
	}
	out := ns.Run(t, "ip", "xfrm", "state")
	if strings.Count(out, "encap type espinudp sport 4500 dport 4600") != 2 {
		t.Errorf("ip xfrm state:\n%s", out)
	}
	if after := keyLines(out); after != keysBefore || after == "" {
		t.Errorf("keys changed by UpdateEncap:\nbefore %s\nafter  %s", keysBefore, after)
	}
	missing := gcm
	missing.SPI = 0x7999
	if err := h.UpdateEncap(ctx, &missing); !errors.Is(err, xfrm.ErrNotFound) {
		t.Errorf("UpdateEncap of a missing state: %v, want ErrNotFound", err)
	}
}

// keyLines returns the algorithm lines of `ip xfrm state`, which show the
// keys, in order.
func keyLines(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "aead ") || strings.HasPrefix(l, "enc ") || strings.HasPrefix(l, "auth-trunc ") {
			fmt.Fprintln(&b, l)
		}
	}
	return b.String()
}
