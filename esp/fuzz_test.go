package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// Fuzzed SAs: mode selects the transform and ESN.
const (
	fuzzGCM = iota
	fuzzGCMESN
	fuzzCBC
	fuzzCBCESN
	fuzzModes
)

func fuzzSA(t testing.TB, mode uint8) *SA {
	var opts []Option
	if mode == fuzzGCMESN || mode == fuzzCBCESN {
		opts = append(opts, WithESN())
	}
	var sa *SA
	var err error
	if mode >= fuzzCBC {
		sa, err = NewCBCSA(testSPI, testKeymat(32), testKeymat(48), HMACSHA384, opts...)
		if err == nil {
			// Deterministic IVs, so that corpus entries written by one run
			// are still recognised as genuine by the next.
			ivs := make([]byte, 16*16)
			for i := range ivs {
				ivs[i] = byte(i * 13)
			}
			fixedIVs(sa, ivs)
		}
	} else {
		sa, err = NewSA(testSPI, testKeymat(36), opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

// fuzzPackets seals a few packets for each mode, and returns them with
// the one genuine packet for each (mode, sequence number).
func fuzzPackets(f *testing.F) (all [][]byte, modes []uint8, genuine map[[2]uint32][]byte) {
	genuine = map[[2]uint32][]byte{}
	for mode := range uint8(fuzzModes) {
		tx := fuzzSA(f, mode)
		for i, n := range []int{0, 1, 2, 3, 5, 64, 100, 257} {
			p, err := tx.Seal(nil, uint8(i+4), payloadOf(n))
			if err != nil {
				f.Fatal(err)
			}
			all, modes = append(all, p), append(modes, mode)
			genuine[[2]uint32{uint32(mode), uint32(i + 1)}] = p
		}
	}
	return all, modes, genuine
}

// FuzzOpen feeds arbitrary bytes to Open. Nothing may panic, and the only
// packets that may open are the genuine ones sealed here: anything else
// that authenticates would be a forgery.
func FuzzOpen(f *testing.F) {
	packets, modes, genuine := fuzzPackets(f)
	for i, p := range packets {
		f.Add(p, modes[i])
		f.Add(p[:len(p)-1], modes[i])
	}
	for _, v := range mcgrewVectors {
		f.Add(unhex(f, v.packet), uint8(fuzzGCMESN))
	}
	f.Add([]byte{}, uint8(fuzzGCM))
	f.Add([]byte{0xc1, 0x23, 0x45, 0x67, 0, 0, 0, 1}, uint8(fuzzCBC))
	f.Fuzz(func(t *testing.T, packet []byte, mode uint8) {
		mode %= fuzzModes
		rx := fuzzSA(t, mode)
		nh, payload, err := rx.Open(make([]byte, 0, 3), packet)
		if err != nil {
			var pe *PacketError
			if !errors.As(err, &pe) || payload != nil || !strings.HasPrefix(err.Error(), "esp: ") {
				t.Fatalf("error %v (%T) with payload %x", err, err, payload)
			}
			return
		}
		_, seq, _ := ParseHeader(packet)
		if g, ok := genuine[[2]uint32{uint32(mode), seq}]; !ok || !bytes.Equal(g, packet) {
			t.Fatalf("forged packet opened: %x", packet)
		}
		if len(payload) > len(packet)-gcmOverhead || nh == 0 {
			t.Fatalf("payload of %d bytes, next header %d from a %d-byte packet", len(payload), nh, len(packet))
		}
		if _, _, err := rx.Open(nil, packet); !errors.Is(err, ErrReplay) {
			t.Fatalf("second Open of the same packet: %v", err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0xc1, 0x23, 0x45, 0x67, 0, 0, 0, 42})
	f.Add(unhex(f, mcgrewVectors[0].packet))
	f.Fuzz(func(t *testing.T, packet []byte) {
		spi, seq, err := ParseHeader(packet)
		if len(packet) < HeaderLen {
			if !errors.Is(err, ErrShortPacket) {
				t.Fatalf("%d bytes: %v", len(packet), err)
			}
			return
		}
		if err != nil || spi != binary.BigEndian.Uint32(packet) || seq != binary.BigEndian.Uint32(packet[4:]) {
			t.Fatalf("ParseHeader(%x) = %#x %d %v", packet, spi, seq, err)
		}
	})
}

// FuzzReplayWindow drives the window and windowModel with the same
// packets. The input picks the size, ESN, a starting top, and then, three
// bytes a packet, a signed distance from the current top and whether the
// packet's ICV verified.
func FuzzReplayWindow(f *testing.F) {
	f.Add(uint16(64), false, uint64(0), []byte{1, 0, 1, 2, 0, 1, 2, 0, 1, 0xff, 0xff, 1})
	f.Add(uint16(64), true, uint64(1<<32-5), []byte{3, 0, 1, 4, 0, 1, 9, 0, 1, 0xf0, 0xff, 1, 0x80, 0, 1})
	f.Add(uint16(1024), true, uint64(0), []byte{0, 4, 1, 0, 8, 1, 0xff, 0xfb, 1})
	f.Add(uint16(4096), false, uint64(100000), []byte{0, 0x40, 1, 0, 0xc0, 1, 1, 0, 0})
	f.Add(uint16(32), true, ^uint64(0)-40, []byte{10, 0, 1, 40, 0, 1, 50, 0, 1})
	f.Fuzz(func(t *testing.T, size uint16, esn bool, start uint64, ops []byte) {
		n := MinReplayWindow + int(size)%(MaxReplayWindow-MinReplayWindow+1)
		if !esn {
			start &= 0xffffffff
		}
		w := newReplayWindow(n, esn)
		m := newWindowModel(n, esn)
		w.top, m.top = start, start
		for ; len(ops) >= 3; ops = ops[3:] {
			d := int64(int16(binary.LittleEndian.Uint16(ops)))
			seq := uint64(int64(m.top) + d*int64(n)/256)
			step(t, w, m, uint32(seq), ops[2]&1 == 1)
		}
	})
}
