package esp

import "math/bits"

// Window sizes, in packets.
const (
	// DefaultReplayWindow is the window NewSA uses unless told otherwise:
	// RFC 4303 3.4.3 says 64 SHOULD be the default.
	DefaultReplayWindow = 64
	// MinReplayWindow is the smallest window every implementation MUST
	// support (RFC 4303 3.4.3), and strongSwan's default replay_window.
	MinReplayWindow = 32
	// MaxReplayWindow is the largest window accepted, the same bound as the
	// Linux kernel's ESN replay bitmap (XFRMA_REPLAY_ESN_VAL).
	MaxReplayWindow = 4096
)

// replayWindow is the receiver's anti-replay state of RFC 4303 3.4.3, kept
// as in RFC 6479: a ring of 64-bit blocks, one bit per sequence number,
// with at least one block more than the window needs. Sliding forward then
// only zeroes whole blocks as top enters them, instead of shifting the
// whole bitmap. Sequence numbers are always the full 64-bit values; without
// ESN the high half is simply zero.
//
// replayWindow is not safe for concurrent use; SA guards it.
type replayWindow struct {
	size   uint64   // window size W in packets
	esn    bool     // infer high 32 bits (RFC 4303 A2)
	top    uint64   // highest sequence number accepted; 0 before the first
	mask   uint64   // len(blocks)-1; len(blocks) is a power of two
	blocks []uint64 // bit (s & 63) of blocks[(s>>6)&mask] marks s as seen
}

func newReplayWindow(size int, esn bool) *replayWindow {
	// The numbers inside the window, [top-W+1, top], touch at most
	// ceil(W/64)+1 blocks; a power of two turns the ring index into a mask.
	need := (uint64(size)+63)/64 + 1
	n := uint64(1) << bits.Len64(need-1)
	return &replayWindow{
		size:   uint64(size),
		esn:    esn,
		mask:   n - 1,
		blocks: make([]uint64, n),
	}
}

// infer returns the full sequence number that the low 32 bits received on
// the wire stand for. Without ESN that is low itself. With ESN it is the
// guess of RFC 4303 Appendix A2: the number closest to the window. ok is
// false when the guess falls outside the 64-bit space (before 0 or past
// 2^64-1); such a packet can only be a replay or a forgery.
func (w *replayWindow) infer(low uint32) (seq uint64, ok bool) {
	if !w.esn {
		return uint64(low), true
	}
	th, tl := uint32(w.top>>32), uint32(w.top)
	bottom := tl - uint32(w.size) + 1 // low half of the window's first number, mod 2^32
	if tl >= uint32(w.size)-1 {
		// Case A: the window lies inside one 2^32 subspace. A number below
		// its bottom must belong to the next subspace.
		if low >= bottom {
			return uint64(th)<<32 | uint64(low), true
		}
		if th == ^uint32(0) {
			return 0, false
		}
		return uint64(th+1)<<32 | uint64(low), true
	}
	// Case B: the window straddles a subspace boundary. A number at or
	// above its (wrapped) bottom belongs to the previous subspace.
	if low >= bottom {
		if th == 0 {
			return 0, false
		}
		return uint64(th-1)<<32 | uint64(low), true
	}
	return uint64(th)<<32 | uint64(low), true
}

// check reports whether seq would be accepted, without changing anything.
func (w *replayWindow) check(seq uint64) error {
	switch {
	case seq > w.top:
		return nil
	case seq == 0:
		// The first packet of an SA carries 1 (RFC 4303 3.3.3); 0 is never
		// sent, so it sits behind the initial window.
		return ErrTooOld
	case w.top-seq >= w.size:
		return ErrTooOld
	case w.blocks[(seq>>6)&w.mask]&(1<<(seq&63)) != 0:
		return ErrReplay
	}
	return nil
}

// update marks seq as received, sliding the window forward if seq is
// beyond its top. It checks again, because another packet with the same
// number may have been accepted while this one was being decrypted.
func (w *replayWindow) update(seq uint64) error {
	if err := w.check(seq); err != nil {
		return err
	}
	if seq > w.top {
		from, to := w.top>>6, seq>>6
		n := to - from
		if n > w.mask+1 {
			n = w.mask + 1
		}
		for i := uint64(1); i <= n; i++ {
			w.blocks[(from+i)&w.mask] = 0
		}
		w.top = seq
	}
	w.blocks[(seq>>6)&w.mask] |= 1 << (seq & 63)
	return nil
}
