package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

const testSPI = 0xc1234567

// testKeymat returns deterministic key material of n bytes.
func testKeymat(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(0x11 * (i + 1))
	}
	return k
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }

// pair returns a sending and a receiving SA sharing key material.
func pair(t testing.TB, keyLen int, opts ...Option) (tx, rx *SA) {
	t.Helper()
	km := testKeymat(keyLen)
	tx, err := NewSA(testSPI, km, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rx, err = NewSA(testSPI, km, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tx, rx
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + 7)
	}
	return p
}

// independentOpen decrypts p with a cipher.AEAD built here from the
// RFC 4106 text alone (nonce = salt || IV, AAD = SPI || seq or
// SPI || seq_hi || seq_lo), as a second derivation next to SA.Open.
func independentOpen(t *testing.T, keymat, p []byte, seqHi uint32, esn bool) []byte {
	t.Helper()
	block, err := aes.NewCipher(keymat[:len(keymat)-4])
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := append(append([]byte{}, keymat[len(keymat)-4:]...), p[8:16]...)
	aad := append([]byte{}, p[0:4]...)
	if esn {
		aad = binary.BigEndian.AppendUint32(aad, seqHi)
	}
	aad = append(aad, p[4:8]...)
	pt, err := g.Open(nil, nonce, p[16:], aad)
	if err != nil {
		t.Fatalf("independent decryption failed: %v", err)
	}
	return pt
}

func TestRoundTrip(t *testing.T) {
	for _, keyLen := range []int{20, 28, 36} {
		for _, esn := range []bool{false, true} {
			var opts []Option
			if esn {
				opts = append(opts, WithESN())
			}
			tx, rx := pair(t, keyLen, opts...)
			km := testKeymat(keyLen)
			for n := 0; n <= 1500; n++ {
				payload := payloadOf(n)
				nh := uint8(n % 256)
				p, err := tx.Seal(nil, nh, payload)
				if err != nil {
					t.Fatalf("key %d esn %v: Seal(%d bytes): %v", keyLen, esn, n, err)
				}
				seq := uint64(n + 1)
				if len(p) != tx.SealedLen(n) {
					t.Fatalf("Seal(%d bytes) gave %d bytes, SealedLen says %d", n, len(p), tx.SealedLen(n))
				}
				// RFC 4303 2.4: Pad Length and Next Header end a 4-byte word.
				if ct := len(p) - HeaderLen - IVLen - ICVLen; ct%4 != 0 || ct-n-2 > 3 {
					t.Fatalf("Seal(%d bytes): %d bytes of ciphertext", n, ct)
				}
				spi, seq32, err := ParseHeader(p)
				if err != nil || spi != testSPI || uint64(seq32) != seq {
					t.Fatalf("ParseHeader = %#x %d %v, want %#x %d", spi, seq32, err, testSPI, seq)
				}
				if iv := binary.BigEndian.Uint64(p[8:16]); iv != seq {
					t.Fatalf("IV %d, want the sequence number %d", iv, seq)
				}
				pt := independentOpen(t, km, p, 0, esn)
				pad := len(pt) - n - 2
				if !bytes.Equal(pt[:n], payload) || int(pt[len(pt)-2]) != pad || pt[len(pt)-1] != nh {
					t.Fatalf("independent decryption of %d bytes: %x", n, pt)
				}
				for i := range pad {
					if pt[n+i] != byte(i+1) {
						t.Fatalf("padding %x, want 1, 2, 3, ...", pt[n:n+pad])
					}
				}
				gotNH, got, err := rx.Open(nil, p)
				if err != nil {
					t.Fatalf("key %d esn %v: Open(%d bytes): %v", keyLen, esn, n, err)
				}
				if gotNH != nh || !bytes.Equal(got, payload) {
					t.Fatalf("Open(%d bytes) = %d %x", n, gotNH, got)
				}
			}
		}
	}
}

func TestOpenAppendsToDst(t *testing.T) {
	tx, rx := pair(t, 36)
	p, _ := tx.Seal([]byte("prefix"), 17, []byte("hello"))
	if string(p[:6]) != "prefix" {
		t.Fatalf("Seal lost dst's contents: %q", p[:6])
	}
	_, out, err := rx.Open([]byte("head:"), p[6:])
	if err != nil || string(out) != "head:hello" {
		t.Fatalf("Open = %q, %v", out, err)
	}
}

func TestInPlace(t *testing.T) {
	tx, rx := pair(t, 36)
	payload := payloadOf(333)
	want, err := tx.Seal(nil, 6, payload)
	if err != nil {
		t.Fatal(err)
	}
	// Same sequence number again on a twin sender, payload placed where
	// the ciphertext goes.
	tx2, _ := pair(t, 36)
	buf := make([]byte, tx2.SealedLen(len(payload)))
	copy(buf[HeaderLen+IVLen:], payload)
	got, err := tx2.Seal(buf[:0], 6, buf[HeaderLen+IVLen:HeaderLen+IVLen+len(payload)])
	if err != nil || !bytes.Equal(got, want) || &got[0] != &buf[0] {
		t.Fatalf("in-place Seal differs or reallocated: %v", err)
	}
	// Payload at the very start of the spare capacity, overlapping the
	// header's bytes.
	tx3, _ := pair(t, 36)
	copy(buf, payload)
	got, err = tx3.Seal(buf[:0], 6, buf[:len(payload)])
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("overlapping Seal differs: %v", err)
	}
	nh, out, err := rx.Open(got[HeaderLen+IVLen:HeaderLen+IVLen], got)
	if err != nil || nh != 6 || !bytes.Equal(out, payload) {
		t.Fatalf("in-place Open = %d, %v", nh, err)
	}
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector; make test runs this without it (phase norace)")
	}
	tx, rx := pair(t, 36, WithESN())
	payload := payloadOf(1400)
	buf := make([]byte, 0, tx.SealedLen(len(payload)))
	out := make([]byte, 0, 1500)
	var p []byte
	if n := testing.AllocsPerRun(100, func() {
		var err error
		p, err = tx.Seal(buf[:0], 6, payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rx.Open(out[:0], p); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Seal+Open allocate %v times per packet", n)
	}
}

func TestTamperingFails(t *testing.T) {
	for _, esn := range []bool{false, true} {
		var opts []Option
		if esn {
			opts = append(opts, WithESN())
		}
		tx, rx := pair(t, 36, opts...)
		p, err := tx.Seal(nil, 4, payloadOf(61))
		if err != nil {
			t.Fatal(err)
		}
		for i := range p {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				q := bytes.Clone(p)
				q[i] ^= flip
				_, _, err := rx.Open(nil, q)
				if err == nil {
					t.Fatalf("esn %v: packet with byte %d ^ %#x opened", esn, i, flip)
				}
				var pe *PacketError
				if !errors.As(err, &pe) {
					t.Fatalf("error %T is not a *PacketError", err)
				}
				want := ErrAuth
				switch {
				case i < 4:
					want = ErrWrongSPI
				case i < 8 && binary.BigEndian.Uint32(q[4:8]) == 0:
					want = ErrTooOld
				}
				if !errors.Is(err, want) {
					t.Fatalf("byte %d ^ %#x: %v, want %v", i, flip, err, want)
				}
			}
		}
		// None of the forgeries moved the window: the real packet opens.
		if _, _, err := rx.Open(nil, p); err != nil {
			t.Fatalf("genuine packet after forgeries: %v", err)
		}
	}
}

func TestNoStrictPrefixOpens(t *testing.T) {
	tx, rx := pair(t, 20)
	for _, n := range []int{0, 1, 2, 3, 4, 17, 100} {
		p, err := tx.Seal(nil, 17, payloadOf(n))
		if err != nil {
			t.Fatal(err)
		}
		for l := range len(p) {
			_, _, err := rx.Open(nil, p[:l])
			if err == nil {
				t.Fatalf("%d-byte prefix of a %d-byte packet opened", l, len(p))
			}
			want := ErrAuth
			if l < gcmOverhead {
				want = ErrShortPacket
			}
			if !errors.Is(err, want) {
				t.Fatalf("%d-byte prefix: %v, want %v", l, err, want)
			}
		}
		if _, _, err := rx.Open(nil, p); err != nil {
			t.Fatalf("whole packet after its prefixes: %v", err)
		}
	}
}

// sealRaw encrypts an arbitrary ESP plaintext (trailer included) under
// sa's key, so tests can build authentic packets with broken trailers.
func sealRaw(sa *SA, seq uint64, plaintext []byte) []byte {
	p := binary.BigEndian.AppendUint32(nil, sa.spi)
	p = binary.BigEndian.AppendUint32(p, uint32(seq))
	p = binary.BigEndian.AppendUint64(p, seq)
	sc := new(scratch)
	return sa.aead.Seal(p, sa.nonce(sc, p[8:16]), plaintext, sa.additionalData(sc, sa.spi, seq))
}

func TestBadPadding(t *testing.T) {
	tests := []struct {
		name string
		pt   []byte
	}{
		{"pad length beyond data", []byte{2, 6}},
		{"pad length beyond data by one", []byte{0xaa, 2, 6}},
		{"pad 255 in 4 bytes", []byte{1, 2, 255, 6}},
		{"padding not counting", []byte{0xaa, 1, 3, 2, 6}},
		{"padding zeros", []byte{0xaa, 0, 0, 2, 6}},
		{"padding starts at 0", []byte{0, 1, 2, 3, 4, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rx := pair(t, 36)
			_, _, err := rx.Open(nil, sealRaw(rx, 1, tc.pt))
			if !errors.Is(err, ErrBadPadding) {
				t.Fatalf("Open: %v, want ErrBadPadding", err)
			}
			// The window did not move: sequence number 1 still opens.
			good := sealRaw(rx, 1, []byte{0xaa, 0xbb, 0, 6})
			if nh, out, err := rx.Open(nil, good); err != nil || nh != 6 || !bytes.Equal(out, []byte{0xaa, 0xbb}) {
				t.Fatalf("good packet after bad padding: %d %x %v", nh, out, err)
			}
		})
	}
	// Longest legal padding, 255 bytes, is accepted.
	_, rx := pair(t, 36)
	pt := []byte{0xaa}
	for i := 1; i <= 255; i++ {
		pt = append(pt, byte(i))
	}
	pt = append(pt, 255, NextHeaderNone)
	nh, out, err := rx.Open(nil, sealRaw(rx, 1, pt))
	if err != nil || nh != NextHeaderNone || !bytes.Equal(out, []byte{0xaa}) {
		t.Fatalf("255 bytes of padding: %d %x %v", nh, out, err)
	}
}

func TestWrongSPI(t *testing.T) {
	tx, _ := pair(t, 36)
	p, _ := tx.Seal(nil, 6, []byte("x"))
	other, err := NewSA(0x0badf00d, testKeymat(36))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = other.Open(nil, p)
	if !errors.Is(err, ErrWrongSPI) {
		t.Fatalf("Open: %v", err)
	}
	if got, want := err.Error(), "esp: spi 0xc1234567: spi does not match this sa (sa has spi 0x0badf00d)"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	tx, rx := pair(t, 36)
	var p []byte
	for range 42 {
		p, _ = tx.Seal(nil, 6, []byte("x"))
	}
	if _, _, err := rx.Open(nil, p); err != nil {
		t.Fatal(err)
	}
	_, _, err := rx.Open(nil, p)
	if got, want := err.Error(), "esp: spi 0xc1234567 seq 42: replayed packet"; got != want {
		t.Fatalf("replay error %q, want %q", got, want)
	}
	var pe *PacketError
	if !errors.As(err, &pe) || pe.SPI != testSPI || pe.Seq != 42 || !errors.Is(err, ErrReplay) || errors.Is(err, ErrTooOld) {
		t.Fatalf("replay error fields: %+v", pe)
	}
	q := bytes.Clone(p)
	q[len(q)-1] ^= 1
	binary.BigEndian.PutUint32(q[4:8], 43)
	_, _, err = rx.Open(nil, q)
	if got, want := err.Error(), "esp: spi 0xc1234567 seq 43: integrity check failed"; got != want {
		t.Fatalf("auth error %q, want %q", got, want)
	}
	_, _, err = rx.Open(nil, p[:5])
	if got, want := err.Error(), "esp: packet too short (5 bytes, the ESP header alone is 8)"; got != want {
		t.Fatalf("short error %q, want %q", got, want)
	}
	_, _, err = ParseHeader(p[:7])
	if !errors.Is(err, ErrShortPacket) {
		t.Fatalf("ParseHeader of 7 bytes: %v", err)
	}
	for _, e := range []error{ErrShortPacket, ErrWrongSPI, ErrReplay, ErrTooOld, ErrAuth, ErrBadPadding, ErrSeqExhausted} {
		if !strings.HasPrefix(e.Error(), "esp: ") {
			t.Errorf("sentinel %q lacks the package prefix", e)
		}
	}
	if !errors.Is(ErrTooOld, ErrReplay) || errors.Is(ErrReplay, ErrTooOld) {
		t.Fatal("ErrTooOld must be a kind of ErrReplay, not the reverse")
	}
}

func TestNewSAErrors(t *testing.T) {
	tests := []struct {
		name string
		spi  uint32
		n    int
		opts []Option
		want string
	}{
		{"reserved spi", 0, 36, nil, "spi 0 is reserved"},
		{"no salt", 1, 32, nil, "key material is 32 bytes"},
		{"empty", 1, 0, nil, "key material is 0 bytes"},
		{"too long", 1, 40, nil, "key material is 40 bytes"},
		{"window too small", 1, 36, []Option{WithReplayWindow(31)}, "replay window of 31"},
		{"window too large", 1, 36, []Option{WithReplayWindow(4097)}, "replay window of 4097"},
		{"negative window", 1, 36, []Option{WithReplayWindow(-1)}, "replay window of -1"},
		{"esn without window", 1, 36, []Option{WithESN(), WithReplayWindow(0)}, "ESN needs a replay window"},
	}
	for _, tc := range tests {
		_, err := NewSA(tc.spi, testKeymat(tc.n), tc.opts...)
		if err == nil || !strings.HasPrefix(err.Error(), "esp: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, w := range []int{0, 32, 64, 100, 1024, 4096} {
		if _, err := NewSA(1, testKeymat(20), WithReplayWindow(w)); err != nil {
			t.Errorf("window %d: %v", w, err)
		}
	}
}

func TestReplayDisabled(t *testing.T) {
	tx, rx := pair(t, 36, WithReplayWindow(0))
	p, _ := tx.Seal(nil, 6, []byte("again"))
	for range 3 {
		if _, _, err := rx.Open(nil, p); err != nil {
			t.Fatalf("with anti-replay off, a duplicate must open: %v", err)
		}
	}
}

func TestSequenceExhaustion(t *testing.T) {
	t.Run("32-bit", func(t *testing.T) {
		tx, rx := pair(t, 36)
		tx.next.Store(math.MaxUint32 - 1)
		rx.replay.top = math.MaxUint32 - 2
		for _, want := range []uint32{math.MaxUint32 - 1, math.MaxUint32} {
			p, err := tx.Seal(nil, 6, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if _, seq, _ := ParseHeader(p); seq != want {
				t.Fatalf("seq %d, want %d", seq, want)
			}
			if _, _, err := rx.Open(nil, p); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			p, err := tx.Seal([]byte("keep"), 6, []byte("x"))
			if !errors.Is(err, ErrSeqExhausted) || string(p) != "keep" {
				t.Fatalf("Seal past 2^32-1: %q %v", p, err)
			}
		}
		if got := tx.next.Load(); got != math.MaxUint32+1 {
			t.Fatalf("counter moved past the limit: %d", got)
		}
	})
	t.Run("ESN", func(t *testing.T) {
		tx, rx := pair(t, 36, WithESN())
		tx.next.Store(math.MaxUint64)
		rx.replay.top = math.MaxUint64 - 1
		p, err := tx.Seal(nil, 6, []byte("last"))
		if err != nil {
			t.Fatal(err)
		}
		if iv := binary.BigEndian.Uint64(p[8:16]); iv != math.MaxUint64 {
			t.Fatalf("IV %#x", iv)
		}
		if _, out, err := rx.Open(nil, p); err != nil || string(out) != "last" {
			t.Fatalf("Open of 2^64-1: %v", err)
		}
		for range 3 {
			if _, err := tx.Seal(nil, 6, []byte("x")); !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("Seal past 2^64-1: %v", err)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		tx, _ := pair(t, 20)
		tx.next.Store(math.MaxUint32 - 99) // 100 numbers left
		var mu sync.Mutex
		seen := map[uint32]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					p, err := tx.Seal(nil, 6, []byte("x"))
					if err != nil {
						continue
					}
					_, seq, _ := ParseHeader(p)
					mu.Lock()
					if seen[seq] {
						t.Errorf("sequence number %d used twice", seq)
					}
					seen[seq] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 100 {
			t.Fatalf("%d packets sealed, want exactly the 100 numbers left", len(seen))
		}
	})
}

func TestConcurrentOpenAcceptsEachOnce(t *testing.T) {
	tx, rx := pair(t, 36, WithESN(), WithReplayWindow(1024))
	var packets [][]byte
	for range 500 {
		p, _ := tx.Seal(nil, 6, payloadOf(40))
		packets = append(packets, p)
	}
	var mu sync.Mutex
	accepted := make([]int, len(packets))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			// Every goroutine offers every packet: each must be taken once.
			for i, p := range packets {
				_, _, err := rx.Open(nil, p)
				if err != nil && !errors.Is(err, ErrReplay) {
					t.Errorf("packet %d: %v", i, err)
				}
				if err == nil {
					mu.Lock()
					accepted[i]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for i, n := range accepted {
		if n != 1 {
			t.Fatalf("packet %d accepted %d times", i, n)
		}
	}
}

func TestESNAcrossSubspace(t *testing.T) {
	// The sender crosses 2^32; only the low half is on the wire, the
	// receiver must infer the high half, also for packets reordered
	// across the boundary.
	tx, rx := pair(t, 36, WithESN(), WithReplayWindow(64))
	start := uint64(1)<<32 - 20
	tx.next.Store(start)
	rx.replay.top = start - 1
	var packets [][]byte
	for range 40 {
		p, err := tx.Seal(nil, 6, payloadOf(10))
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, p)
	}
	// Deliver 0..9, then 30..39 (past the wrap), then 10..29 late.
	order := []int{}
	for i := range 10 {
		order = append(order, i)
	}
	for i := 30; i < 40; i++ {
		order = append(order, i)
	}
	for i := 10; i < 30; i++ {
		order = append(order, i)
	}
	for _, i := range order {
		if _, _, err := rx.Open(nil, packets[i]); err != nil {
			t.Fatalf("packet %d (seq %#x): %v", i, start+uint64(i), err)
		}
	}
	if rx.replay.top != start+39 {
		t.Fatalf("top %#x, want %#x", rx.replay.top, start+39)
	}
	// A receiver without ESN cannot read the sender's packets: the AAD
	// differs.
	plain, err := NewSA(testSPI, testKeymat(36))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Open(nil, packets[0]); !errors.Is(err, ErrAuth) {
		t.Fatalf("ESN packet on a non-ESN SA: %v", err)
	}
}

func TestReplayCheckedBeforeDecryption(t *testing.T) {
	tx, rx := pair(t, 36)
	p, _ := tx.Seal(nil, 6, payloadOf(20))
	if _, _, err := rx.Open(nil, p); err != nil {
		t.Fatal(err)
	}
	// A duplicate with a broken ICV is refused as a replay: the window
	// was consulted before any decryption.
	q := bytes.Clone(p)
	q[len(q)-1] ^= 1
	if _, _, err := rx.Open(nil, q); !errors.Is(err, ErrReplay) || errors.Is(err, ErrAuth) {
		t.Fatalf("tampered duplicate: %v, want ErrReplay", err)
	}
}

func TestWindowEdgesThroughSA(t *testing.T) {
	for _, w := range []int{64, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			opts := []Option{WithReplayWindow(w)}
			if esn {
				opts = append(opts, WithESN())
			}
			tx, rx := pair(t, 20, opts...)
			packets := make([][]byte, w+10)
			for i := range packets {
				packets[i], _ = tx.Seal(nil, 6, []byte{byte(i)})
			}
			last := len(packets) // sequence numbers are index+1
			open := func(seq int) error {
				_, _, err := rx.Open(nil, packets[seq-1])
				return err
			}
			if err := open(last); err != nil {
				t.Fatal(err)
			}
			// Without ESN a number behind the window is too old. With ESN,
			// RFC 4303 A2 reads it as the same low half in the next 2^32
			// block, and the ICV, which covers the high half, refuses it.
			want := ErrTooOld
			if esn {
				want = ErrAuth
			}
			if err := open(last - w); !errors.Is(err, want) {
				t.Fatalf("window %d esn %v: seq %d, just outside: %v, want %v", w, esn, last-w, err, want)
			}
			if err := open(last - w + 1); err != nil {
				t.Fatalf("window %d esn %v: seq %d, oldest inside: %v", w, esn, last-w+1, err)
			}
			if err := open(last - w + 1); !errors.Is(err, ErrReplay) || errors.Is(err, ErrTooOld) {
				t.Fatalf("window %d: duplicate: %v", w, err)
			}
			if err := open(last - 1); err != nil {
				t.Fatalf("window %d: late packet inside: %v", w, err)
			}
		}
	}
}

func TestESNWrongGuessFailsAuth(t *testing.T) {
	// The receiver sits just past 2^32; a genuine packet from 2^33+3 shows
	// the same low half as 2^32+3 and is taken for it. The ICV covers the
	// high half, so the wrong guess cannot be accepted.
	tx, rx := pair(t, 36, WithESN())
	rx.replay.top = 1<<32 + 5
	tx.next.Store(1<<33 + 3)
	p, _ := tx.Seal(nil, 6, []byte("far"))
	_, _, err := rx.Open(nil, p)
	var pe *PacketError
	if !errors.Is(err, ErrAuth) || !errors.As(err, &pe) || pe.Seq != 1<<32+3 {
		t.Fatalf("Open: %v (%+v), want ErrAuth at the guessed seq %d", err, pe, uint64(1<<32+3))
	}
	if rx.replay.top != 1<<32+5 {
		t.Fatal("a packet that failed the ICV moved the window")
	}
}
