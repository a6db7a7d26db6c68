package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// NoopKernel is an xfrm.Installer that installs nothing: the generator
// measures the responder, so its own side must cost nothing beyond IKE.
// AllocSPI still hands out SPIs, unique for the life of the installer,
// from a random starting point so that two generator runs against one
// responder do not reuse each other's SPIs.
type NoopKernel struct {
	next     atomic.Uint32
	children atomic.Uint64
}

var _ xfrm.Installer = (*NoopKernel)(nil)

// NewNoopKernel returns an installer whose SPIs start at a random value.
func NewNoopKernel() *NoopKernel {
	k := &NoopKernel{}
	var b [4]byte
	if _, err := rand.Read(b[:]); err == nil {
		k.next.Store(binary.BigEndian.Uint32(b[:]))
	}
	return k
}

// AllocSPI returns the next SPI, skipping the values below 256 that RFC
// 4303 2.1 reserves.
func (k *NoopKernel) AllocSPI(_ context.Context, _, _ netip.Addr, _ uint32) (uint32, error) {
	for {
		if spi := k.next.Add(1); spi >= 256 {
			return spi, nil
		}
	}
}

// InstallState wipes the state's keys and installs nothing.
func (k *NoopKernel) InstallState(_ context.Context, s *xfrm.State) error {
	clear(s.EncKey)
	clear(s.IntegKey)
	return nil
}

// DeleteState does nothing.
func (k *NoopKernel) DeleteState(context.Context, xfrm.StateID) error { return nil }

// InstallPolicy does nothing.
func (k *NoopKernel) InstallPolicy(context.Context, *xfrm.Policy) error { return nil }

// DeletePolicy does nothing.
func (k *NoopKernel) DeletePolicy(context.Context, *xfrm.Policy) error { return nil }

// InstallChildSA counts the CHILD_SA, wipes the keys it was handed (an
// Installer owns them) and installs nothing.
func (k *NoopKernel) InstallChildSA(_ context.Context, c *xfrm.ChildSA) error {
	for _, b := range [][]byte{c.In.EncKey, c.In.IntegKey, c.Out.EncKey, c.Out.IntegKey} {
		clear(b)
	}
	k.children.Add(1)
	return nil
}

// DeleteChildSA does nothing.
func (k *NoopKernel) DeleteChildSA(context.Context, *xfrm.ChildSA) error { return nil }

// Reconcile does nothing.
func (k *NoopKernel) Reconcile(context.Context, []xfrm.ChildSA) error { return nil }

// Children returns how many CHILD_SAs InstallChildSA was given.
func (k *NoopKernel) Children() uint64 { return k.children.Load() }
