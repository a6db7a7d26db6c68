package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// pairs is how many SA pairs each benchmark iteration installs and deletes.
const pairs = 1000

func benchPeer(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 200, byte(i / 250), byte(i%250 + 1)})
}

var benchLocal = netip.MustParseAddr("10.199.0.1")

// BenchmarkInstallPairs compares installing and deleting 1,000 CHILD_SA
// pairs (two ESP states and two policies each) through package xfrm with
// `ip -batch` doing the same in the same kernel. Under emulation only the
// ratio between the two means anything.
func BenchmarkInstallPairs(b *testing.B) {
	vmtest.Require(b)
	ns := nstest.New(b)
	h, err := xfrm.Open(ns.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	key := strings.Repeat("ab", 36)
	kb := make([]byte, 36)

	b.Run("xfrm", func(b *testing.B) {
		ctx := context.Background()
		for range b.N {
			children := make([]xfrm.ChildSA, pairs)
			for i := range children {
				peer := benchPeer(i)
				reqid := xfrm.ReqIDMin + uint32(i)
				spi, err := h.AllocSPI(ctx, peer, benchLocal, reqid)
				if err != nil {
					b.Fatal(err)
				}
				children[i] = xfrm.ChildSA{ReqID: reqid, Local: benchLocal, Remote: peer,
					In:  xfrm.State{Src: peer, Dst: benchLocal, SPI: spi, ReqID: reqid, Dir: xfrm.In, Encryption: xfrm.AESGCM16_256, EncKey: kb, ReplayWindow: 128},
					Out: xfrm.State{Src: benchLocal, Dst: peer, SPI: 0x10000 + uint32(i), ReqID: reqid, Dir: xfrm.Out, Encryption: xfrm.AESGCM16_256, EncKey: kb}}
				if err := h.InstallChildSA(ctx, &children[i]); err != nil {
					b.Fatal(err)
				}
			}
			for i := range children {
				c := &children[i]
				// Delete states and policies directly: DeleteChildSA's
				// shared-reqid check lists all states, which ip -batch
				// does not do either.
				for _, id := range []xfrm.StateID{c.In.ID(), c.Out.ID()} {
					if err := h.DeleteState(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				for _, p := range c.Policies() {
					if err := h.DeletePolicy(ctx, &p); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pairs), "ns/pair")
	})

	b.Run("ip-batch", func(b *testing.B) {
		dir := b.TempDir()
		var add, del strings.Builder
		for i := range pairs {
			peer := benchPeer(i)
			reqid := xfrm.ReqIDMin + uint32(i)
			fmt.Fprintf(&add, "xfrm state add src %v dst %v proto esp spi 0x%x reqid %d mode transport replay-window 128 aead rfc4106(gcm(aes)) 0x%s 128\n", peer, benchLocal, 0x20000+i, reqid, key)
			fmt.Fprintf(&add, "xfrm state add src %v dst %v proto esp spi 0x%x reqid %d mode transport aead rfc4106(gcm(aes)) 0x%s 128\n", benchLocal, peer, 0x10000+i, reqid, key)
			fmt.Fprintf(&add, "xfrm policy add src %v/32 dst %v/32 dir out priority 10000 tmpl src %v dst %v proto esp reqid %d mode transport\n", benchLocal, peer, benchLocal, peer, reqid)
			fmt.Fprintf(&add, "xfrm policy add src %v/32 dst %v/32 dir in priority 10000 tmpl src %v dst %v proto esp reqid %d mode transport\n", peer, benchLocal, peer, benchLocal, reqid)
			fmt.Fprintf(&del, "xfrm state delete src %v dst %v proto esp spi 0x%x\n", peer, benchLocal, 0x20000+i)
			fmt.Fprintf(&del, "xfrm state delete src %v dst %v proto esp spi 0x%x\n", benchLocal, peer, 0x10000+i)
			fmt.Fprintf(&del, "xfrm policy delete src %v/32 dst %v/32 dir out\n", benchLocal, peer)
			fmt.Fprintf(&del, "xfrm policy delete src %v/32 dst %v/32 dir in\n", peer, benchLocal)
		}
		addF, delF := filepath.Join(dir, "add"), filepath.Join(dir, "del")
		os.WriteFile(addF, []byte(add.String()), 0o600)
		os.WriteFile(delF, []byte(del.String()), 0o600)
		b.ResetTimer()
		for range b.N {
			if out, err := exec.Command("ip", "-n", ns.Name, "-batch", addF).CombinedOutput(); err != nil {
				b.Fatalf("ip -batch add: %v\n%s", err, out)
			}
			if out, err := exec.Command("ip", "-n", ns.Name, "-batch", delF).CombinedOutput(); err != nil {
				b.Fatalf("ip -batch del: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pairs), "ns/pair")
	})
}
