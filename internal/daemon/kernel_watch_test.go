package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// lossyKernel's first event subscription fails at once (as when netlink
// reports ENOBUFS: events were lost); later ones work. It lists the
// states the engine installed.
type lossyKernel struct {
	testKernel
	watches atomic.Int32
}

func (k *lossyKernel) States(context.Context) ([]xfrm.InstalledState, error) {
	var out []xfrm.InstalledState
	for _, s := range k.Fake.States() {
		out = append(out, xfrm.InstalledState{State: s})
	}
	return out, nil
}

func (k *lossyKernel) Watch(context.Context) (<-chan xfrm.Event, <-chan error, error) {
	errc := make(chan error, 1)
	if k.watches.Add(1) == 1 {
		errc <- errors.New("netlink: no buffer space available")
	}
	return make(chan xfrm.Event), errc, nil
}

// TestKernelWatchRecovers: a CHILD_SA's inbound state disappears while
// the kernel subscription is failing; the daemon subscribes again and the
// check that follows has the engine rekey the CHILD_SA, instead of
// keeping an SA that says INSTALLED and carries nothing.
func TestKernelWatchRecovers(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, abConf)
	loaded, err := LoadConfig(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	k := &lossyKernel{testKernel: testKernel{&xfrmtest.Fake{}}}
	d := newDaemon(Options{ConfDir: dir}, log, k, loaded)
	link := &memLink{}
	eng, err := ike.New(ike.Options{Config: &loaded.Config, Transport: link, Kernel: k.Fake, Logger: log, OnEvent: d.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	d.setEngine(eng)
	local, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	link.attach(local, eng)
	peerEngine(t, link, peer, local)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.Initiate(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	spiIn := func() uint32 {
		for _, sa := range eng.Status().IKESAs {
			if len(sa.Children) == 1 {
				return sa.Children[0].SPIIn
			}
		}
		return 0
	}
	lost := spiIn()
	if err := k.Fake.DeleteState(ctx, xfrm.StateID{Dst: local, SPI: lost}); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.watchKernel(wctx); close(done) }()
	for {
		if s := spiIn(); s != 0 && s != lost {
			if _, ok := k.Fake.State(xfrm.StateID{Dst: local, SPI: s}); !ok {
				t.Fatalf("new inbound SPI %08x not in the kernel", s)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the lost CHILD_SA was not recovered (%d subscriptions)", k.watches.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := k.watches.Load(); n < 2 {
		t.Fatalf("%d subscriptions, want the failed one and another", n)
	}
	stop()
	<-done
}
