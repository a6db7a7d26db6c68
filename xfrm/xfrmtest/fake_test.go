package xfrmtest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

var (
	local  = netip.MustParseAddr("10.9.0.1")
	remote = netip.MustParseAddr("10.9.0.2")
)

func child(t *testing.T, f *Fake) xfrm.ChildSA {
	t.Helper()
	ctx := context.Background()
	spi, err := f.AllocSPI(ctx, remote, local, xfrm.ReqIDMin)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 36)
	return xfrm.ChildSA{ReqID: xfrm.ReqIDMin, Local: local, Remote: remote,
		In:  xfrm.State{Src: remote, Dst: local, SPI: spi, ReqID: xfrm.ReqIDMin, Dir: xfrm.In, Encryption: xfrm.AESGCM16_256, EncKey: key, ReplayWindow: 128},
		Out: xfrm.State{Src: local, Dst: remote, SPI: 0xcafe0001, ReqID: xfrm.ReqIDMin, Dir: xfrm.Out, Encryption: xfrm.AESGCM16_256, EncKey: key}}
}

func TestInstallRender(t *testing.T) {
	f := &Fake{}
	c := child(t, f)
	if err := f.InstallChildSA(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.Render(), "\n")
	for _, want := range []string{
		"src 10.9.0.2 dst 10.9.0.1 proto esp spi 0xc0000100 reqid 3372220417 mode transport",
		"src 10.9.0.1 dst 10.9.0.2 proto esp spi 0xcafe0001",
		"replay-window 128",
		"aead rfc4106(gcm(aes)) [key omitted] 128",
		"src 10.9.0.1/32 dst 10.9.0.2/32\n\tdir out priority 10000",
		"src 10.9.0.2/32 dst 10.9.0.1/32\n\tdir in priority 10000",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("render lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "0707") {
		t.Error("render leaks key")
	}
	if err := f.DeleteChildSA(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	if r := f.Render(); len(r) != 0 {
		t.Fatalf("left after delete: %v", r)
	}
}

// TestRollback fails each step of an install in turn: nothing may be left
// behind, not even the larval SPI.
func TestRollback(t *testing.T) {
	steps := []struct {
		op string
		n  int
	}{{"state", 1}, {"state", 2}, {"policy", 1}, {"policy", 2}}
	for _, s := range steps {
		f := &Fake{}
		c := child(t, f)
		count := 0
		f.Fail = func(op string, obj any) error {
			if op == s.op {
				count++
				if count == s.n {
					return errors.New("injected")
				}
			}
			return nil
		}
		if err := f.InstallChildSA(context.Background(), &c); err == nil {
			t.Fatalf("%s #%d: no error", s.op, s.n)
		}
		if len(f.States()) != 0 || len(f.Policies()) != 0 || f.Larval() != 0 {
			t.Errorf("%s #%d failed: left %v (larval %d)", s.op, s.n, f.Render(), f.Larval())
		}
	}
}

func TestInboundNeedsAllocatedSPI(t *testing.T) {
	f := &Fake{}
	c := child(t, f)
	c.In.SPI = 0xdead0001
	err := f.InstallChildSA(context.Background(), &c)
	if !errors.Is(err, xfrm.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestRekeyKeepsPolicies(t *testing.T) {
	f := &Fake{}
	ctx := context.Background()
	old := child(t, f)
	if err := f.InstallChildSA(ctx, &old); err != nil {
		t.Fatal(err)
	}
	nu := child(t, f)
	nu.Out.SPI = 0xcafe0002
	if err := f.InstallChildSA(ctx, &nu); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteChildSA(ctx, &old); err != nil {
		t.Fatal(err)
	}
	if len(f.Policies()) != 2 || len(f.States()) != 2 {
		t.Fatalf("after deleting the old pair: %v", f.Render())
	}
}
