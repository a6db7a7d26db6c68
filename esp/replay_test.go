package esp

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// windowModel is the obvious, slow statement of the RFC 4303 3.4.3 rules,
// against which replayWindow is checked: a set of every number accepted,
// and A2's inference restated as "the one number with these low 32 bits in
// the 2^32 numbers starting at the bottom of the window", computed with
// big integers so no wraparound can hide.
type windowModel struct {
	size uint64
	esn  bool
	top  uint64
	seen map[uint64]bool
}

func newWindowModel(size int, esn bool) *windowModel {
	return &windowModel{size: uint64(size), esn: esn, seen: map[uint64]bool{}}
}

func (m *windowModel) infer(low uint32) (uint64, bool) {
	if !m.esn {
		return uint64(low), true
	}
	two32 := new(big.Int).Lsh(big.NewInt(1), 32)
	bottom := new(big.Int).SetUint64(m.top)
	bottom.Sub(bottom, new(big.Int).SetUint64(m.size-1))
	// seq = bottom + ((low - bottom) mod 2^32)
	d := new(big.Int).Sub(big.NewInt(int64(low)), bottom)
	d.Mod(d, two32)
	seq := d.Add(d, bottom)
	if seq.Sign() < 0 || !seq.IsUint64() {
		return 0, false
	}
	return seq.Uint64(), true
}

func (m *windowModel) verdict(seq uint64) error {
	switch {
	case seq == 0:
		return ErrTooOld
	case seq > m.top:
		return nil
	case m.top-seq >= m.size:
		return ErrTooOld
	case m.seen[seq]:
		return ErrReplay
	}
	return nil
}

func (m *windowModel) accept(seq uint64) {
	m.seen[seq] = true
	m.top = max(m.top, seq)
}

// step offers the window and the model one packet whose low 32 bits are
// low, and marks it received when verified is set (its ICV checked out).
func step(t testing.TB, w *replayWindow, m *windowModel, low uint32, verified bool) {
	t.Helper()
	seq, ok := w.infer(low)
	mseq, mok := m.infer(low)
	if ok != mok || (ok && seq != mseq) {
		t.Fatalf("top %#x size %d: infer(%#x) = %#x %v, model %#x %v", w.top, w.size, low, seq, ok, mseq, mok)
	}
	if !ok {
		return
	}
	err, merr := w.check(seq), m.verdict(seq)
	if err != merr {
		t.Fatalf("top %#x size %d: check(%#x) = %v, model %v", w.top, w.size, seq, err, merr)
	}
	if !verified {
		return
	}
	if err := w.update(seq); err != merr {
		t.Fatalf("top %#x size %d: update(%#x) = %v, model %v", w.top, w.size, seq, err, merr)
	}
	if merr == nil {
		m.accept(seq)
	}
	if w.top != m.top {
		t.Fatalf("top %#x, model %#x", w.top, m.top)
	}
}

func TestReplayWindowModel(t *testing.T) {
	for _, size := range []int{32, 64, 100, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			for _, start := range []uint64{0, 1<<32 - 3000, 5<<32 - 100} {
				if !esn && start > math.MaxUint32 {
					continue
				}
				rng := rand.New(rand.NewPCG(uint64(size), start))
				w := newReplayWindow(size, esn)
				m := newWindowModel(size, esn)
				w.top, m.top = start, start
				for range 20000 {
					// Mostly near the top, sometimes far ahead or far back.
					var d int64
					switch r := rng.IntN(100); {
					case r < 70:
						d = rng.Int64N(int64(2*size)) - int64(size) - 1
					case r < 90:
						d = rng.Int64N(8) - 2
					case r < 95:
						d = rng.Int64N(int64(200 * size))
					default:
						d = -rng.Int64N(int64(200 * size))
					}
					seq := uint64(int64(m.top) + d)
					if !esn && seq > math.MaxUint32 {
						continue
					}
					step(t, w, m, uint32(seq), rng.IntN(10) != 0)
				}
			}
		}
	}
}

func TestReplayWindowEdges(t *testing.T) {
	for _, size := range []uint64{64, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			w := newReplayWindow(int(size), esn)
			const top = 1_000_000
			mustUpdate(t, w, top)
			tests := []struct {
				seq  uint64
				want error
			}{
				{top, ErrReplay},               // duplicate of the top
				{top - size + 1, nil},          // oldest number inside the window
				{top - size, ErrTooOld},        // just outside
				{top - size - 1, ErrTooOld},    // further out
				{0, ErrTooOld},                 // never valid
				{top + 1, nil},                 // next
				{top + 10*size + 7, nil},       // far ahead
				{top + 10*size + 7, ErrReplay}, // and its duplicate
				{top, ErrTooOld},               // the old top fell out
				{top + 10*size + 6, nil},       // just behind the new top
				{top + 9*size + 8, nil},        // oldest of the new window
				{top + 9*size + 7, ErrTooOld},
			}
			for _, tc := range tests {
				if err := w.update(tc.seq); err != tc.want {
					t.Fatalf("size %d esn %v: update(%d) = %v, want %v", size, esn, tc.seq, err, tc.want)
				}
			}
			// After sliding further than the whole ring, nothing stale
			// remains: every number in the window is fresh.
			newTop := w.top + uint64(len(w.blocks))*64*3 + 13
			mustUpdate(t, w, newTop)
			for s := newTop - size + 1; s < newTop; s++ {
				if err := w.check(s); err != nil {
					t.Fatalf("size %d: %d in a freshly slid window: %v", size, s, err)
				}
			}
			// Slide by exactly one block at a time over a full window of
			// accepted numbers; each must stay a duplicate while inside.
			base := newTop
			for s := base + 1; s <= base+size; s++ {
				mustUpdate(t, w, s)
			}
			for s := base + 1; s <= base+size; s++ {
				if err := w.check(s); !errors.Is(err, ErrReplay) {
					t.Fatalf("size %d: %d after filling: %v", size, s, err)
				}
			}
		}
	}
}

func mustUpdate(t *testing.T, w *replayWindow, seq uint64) {
	t.Helper()
	if err := w.update(seq); err != nil {
		t.Fatalf("update(%d): %v", seq, err)
	}
}

func TestInferESN(t *testing.T) {
	const two32 = uint64(1) << 32
	tests := []struct {
		name string
		top  uint64
		low  uint32
		want uint64
		ok   bool
	}{
		{"fresh SA, first packet", 0, 1, 1, true},
		{"fresh SA, number before 0", 0, 0xffffffff, 0, false},
		{"fresh SA, low 0 is seq 0", 0, 0, 0, true},
		{"case A, inside", two32 - 10, 0xfffffff0, two32 - 16, true},
		{"case A, bottom edge", two32 - 10, 0xffffffff - 9 - 63, two32 - 73, true},
		{"case A, below bottom wraps ahead", two32 - 10, 0xffffffff - 9 - 64, 2*two32 - 74, true},
		{"case A, next subspace", two32 - 10, 5, two32 + 5, true},
		{"case B, previous subspace", two32 + 5, 0xfffffff6, two32 - 10, true},
		{"case B, bottom edge", two32 + 5, 0xffffffc6, two32 - 58, true},
		{"case B, below bottom is ahead", two32 + 5, 0xffffffc5, 2*two32 - 59, true},
		{"case B, same subspace", two32 + 5, 3, two32 + 3, true},
		{"top of the space, next would overflow", math.MaxUint64 - 0x100, 5, 0, false},
		{"top of the space, inside", math.MaxUint64 - 0x100, 0xffffff00, math.MaxUint64 - 0xff, true},
	}
	for _, tc := range tests {
		w := newReplayWindow(64, true)
		w.top = tc.top
		got, ok := w.infer(tc.low)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: infer(%#x) at top %#x = %#x %v, want %#x %v", tc.name, tc.low, tc.top, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWindowRingSize(t *testing.T) {
	for _, tc := range []struct{ size, blocks int }{{32, 2}, {64, 2}, {65, 4}, {100, 4}, {192, 4}, {193, 8}, {1024, 32}, {4096, 128}} {
		if got := len(newReplayWindow(tc.size, false).blocks); got != tc.blocks {
			t.Errorf("window %d: %d blocks, want %d", tc.size, got, tc.blocks)
		}
	}
}
