package xfrm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// These tests need ESP in the kernel: they run in the real-kernel VM.

func childSA(t *testing.T, h *xfrm.Handle, reqid uint32, outSPI uint32) xfrm.ChildSA {
	t.Helper()
	spi, err := h.AllocSPI(context.Background(), addrB, addrA, reqid)
	if err != nil {
		t.Fatal(err)
	}
	return xfrm.ChildSA{ReqID: reqid, Local: addrA, Remote: addrB,
		In:  xfrm.State{Src: addrB, Dst: addrA, SPI: spi, ReqID: reqid, Dir: xfrm.In, Encryption: xfrm.AESGCM16_128, EncKey: key(20, 1), ReplayWindow: 32},
		Out: xfrm.State{Src: addrA, Dst: addrB, SPI: outSPI, ReqID: reqid, Dir: xfrm.Out, Encryption: xfrm.AESGCM16_128, EncKey: key(20, 2)}}
}

// TestStateAttributes installs states with every replay window size, ESN,
// limits, CBC+HMAC and UDP encapsulation and reads them back.
func TestStateAttributes(t *testing.T) {
	vmtest.Require(t)
	ctx := context.Background()
	ns := nstest.New(t)
	h := open(t, ns)
	for i, w := range []uint32{32, 64, 128, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			c := childSA(t, h, xfrm.ReqIDMin+uint32(i*2+b2i(esn)), 0x5000+uint32(i*2+b2i(esn)))
			c.In.ReplayWindow, c.In.ESN, c.Out.ESN = w, esn, esn
			c.NoPolicies = true
			if err := h.InstallChildSA(ctx, &c); err != nil {
				t.Fatalf("window %d esn %v: %v", w, esn, err)
			}
			got := find(t, h, c.In.SPI)
			if got.ReplayWindow != w || got.ESN != esn {
				t.Errorf("window %d esn %v read back as %d %v", w, esn, got.ReplayWindow, got.ESN)
			}
		}
	}
	s := xfrm.State{Src: addrA, Dst: addrB, SPI: 0x6001, ReqID: xfrm.ReqIDMin + 100, Dir: xfrm.Out,
		Encryption: xfrm.AESCBC256, EncKey: key(32, 3), Integrity: xfrm.HMACSHA512_256, IntegKey: key(64, 4),
		Limits: xfrm.Limits{SoftBytes: 1 << 30, HardBytes: 2 << 30, SoftPackets: 1000, HardPackets: 2000, SoftTime: time.Hour, HardTime: 2 * time.Hour},
		Encap:  &xfrm.Encap{SrcPort: 4500, DstPort: 4501}}
	if err := h.InstallState(ctx, &s); err != nil {
		t.Fatal(err)
	}
	got := find(t, h, s.SPI)
	if got.Encryption != xfrm.AESCBC256 || got.Integrity != xfrm.HMACSHA512_256 || got.Limits != s.Limits ||
		got.Encap == nil || *got.Encap != *s.Encap {
		t.Errorf("read back %+v", got)
	}
	out := ns.Run(t, "ip", "xfrm", "state")
	if !strings.Contains(out, "encap type espinudp sport 4500 dport 4501") || !strings.Contains(out, "flag esn") {
		t.Errorf("ip xfrm state:\n%s", out)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func find(t *testing.T, h *xfrm.Handle, spi uint32) xfrm.InstalledState {
	t.Helper()
	states, err := h.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.SPI == spi {
			return s
		}
	}
	t.Fatalf("state 0x%08x not found", spi)
	return xfrm.InstalledState{}
}

// TestRollbackOnKernelError makes the second half of a pair fail in the
// kernel (its SPI is taken): the first half and the larval SPI must go.
func TestRollbackOnKernelError(t *testing.T) {
	vmtest.Require(t)
	ctx := context.Background()
	ns := nstest.New(t)
	h := open(t, ns)
	ns.Run(t, "ip", "xfrm", "state", "add", "src", addrA.String(), "dst", addrB.String(), "proto", "esp",
		"spi", "0x7001", "reqid", "9", "mode", "transport", "aead", "rfc4106(gcm(aes))", "0x"+strings.Repeat("11", 20), "128")
	c := childSA(t, h, xfrm.ReqIDMin+7, 0x7001)
	err := h.InstallChildSA(ctx, &c)
	if err == nil || !strings.Contains(err.Error(), "spi 0x00007001") {
		t.Fatalf("conflicting install: %v", err)
	}
	states, err := h.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if xfrm.Owned(s.ReqID) {
			t.Errorf("left behind after rollback: %+v", s)
		}
	}
	if len(states) != 1 {
		t.Errorf("foreign state lost: %+v", states)
	}
	// Inbound without allocation is refused with a clear message.
	c2 := childSA(t, h, xfrm.ReqIDMin+8, 0x7002)
	c2.In.SPI = 0x7003
	if err := h.InstallChildSA(ctx, &c2); err == nil || !strings.Contains(err.Error(), "AllocSPI") {
		t.Fatalf("unallocated inbound SPI: %v", err)
	}
}

// TestExpireEvents sets one-second soft and two-second hard time limits
// and waits for both EXPIRE events.
func TestExpireEvents(t *testing.T) {
	vmtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := nstest.New(t)
	h := open(t, ns)
	events, errc, err := h.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := xfrm.State{Src: addrA, Dst: addrB, SPI: 0x8001, ReqID: xfrm.ReqIDMin + 9, Dir: xfrm.Out,
		Encryption: xfrm.AESGCM16_256, EncKey: key(36, 5), Limits: xfrm.Limits{SoftTime: time.Second, HardTime: 2 * time.Second}}
	if err := h.InstallState(ctx, &s); err != nil {
		t.Fatal(err)
	}
	var soft, hard bool
	for !soft || !hard {
		select {
		case ev := <-events:
			if ev.SPI != s.SPI || ev.ReqID != s.ReqID {
				continue
			}
			soft = soft || ev.Type == xfrm.EventSoftExpire
			hard = hard || ev.Type == xfrm.EventHardExpire
		case err := <-errc:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("soft %v hard %v: %v", soft, hard, ctx.Err())
		}
	}
	if _, err := h.States(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteState(ctx, s.ID()); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
		t.Fatal(err)
	}
}

// TestDeleteChildSAWithAcquire: a packet that meets a CHILD_SA's policy
// while its states are being removed makes the kernel create an ACQUIRE
// larval state (SPI 0) with the policy's reqid. DeleteChildSA must not
// take it for a rekeyed sibling and keep the policies: they would hold
// the traffic of a removed connection forever (seen in the cluster test
// when a member was removed while traffic to it flowed).
func TestDeleteChildSAWithAcquire(t *testing.T) {
	vmtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := nstest.NewPair(t, addrA, addrB)
	h := open(t, p.A)
	events, errc, err := h.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := childSA(t, h, xfrm.ReqIDMin+7, 0x7007)
	if err := h.InstallChildSA(ctx, &c); err != nil {
		t.Fatal(err)
	}
	// The outbound state goes first, as in DeleteChildSA; traffic then
	// meets the policy without a state.
	if err := h.DeleteState(ctx, c.Out.ID()); err != nil {
		t.Fatal(err)
	}
	go p.A.Output("ping", "-c", "3", "-i", "0.3", "-W", "1", addrB.String())
	for acquired := false; !acquired; {
		select {
		case ev := <-events:
			acquired = ev.Type == xfrm.EventAcquire && ev.ReqID == c.ReqID
		case err := <-errc:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("no ACQUIRE event")
		}
	}
	states, err := h.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	larval := false
	for _, s := range states {
		larval = larval || (s.ReqID == c.ReqID && s.SPI == 0)
	}
	if !larval {
		t.Fatalf("no ACQUIRE larval state with reqid %#x: %+v", c.ReqID, states)
	}
	if err := h.DeleteChildSA(ctx, &c); err != nil {
		t.Fatal(err)
	}
	pols, err := h.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pols {
		if p.ReqID == c.ReqID {
			t.Errorf("policy left behind by DeleteChildSA: %v", &p.Policy)
		}
	}
}
