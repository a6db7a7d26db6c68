package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzPackets seals a few packets under the fuzz SA's key and returns them
// with a map from sequence number to the one genuine packet carrying it.
func fuzzPackets(f *testing.F, esn bool) ([][]byte, map[uint32][]byte) {
	var opts []Option
	if esn {
		opts = append(opts, WithESN())
	}
	tx, err := NewSA(testSPI, testKeymat(36), opts...)
	if err != nil {
		f.Fatal(err)
	}
	var all [][]byte
	bySeq := map[uint32][]byte{}
	for i, n := range []int{0, 1, 2, 3, 5, 64, 100, 257} {
		p, err := tx.Seal(nil, uint8(i+4), payloadOf(n))
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, p)
		bySeq[uint32(i+1)] = p
	}
	return all, bySeq
}

// FuzzOpen feeds arbitrary bytes to Open. Nothing may panic, and the only
// packets that may open are the genuine ones sealed here: anything else
// that authenticates would be a forgery.
func FuzzOpen(f *testing.F) {
	packets, genuine := fuzzPackets(f, false)
	esnPackets, esnGenuine := fuzzPackets(f, true)
	for _, p := range packets {
		f.Add(p, false)
		f.Add(p[:len(p)-1], false)
	}
	for _, p := range esnPackets {
		f.Add(p, true)
	}
	for _, v := range mcgrewVectors {
		f.Add(unhex(f, v.packet), v.esn)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{0xc1, 0x23, 0x45, 0x67, 0, 0, 0, 1}, true)
	f.Fuzz(func(t *testing.T, packet []byte, esn bool) {
		var opts []Option
		want := genuine
		if esn {
			opts = append(opts, WithESN())
			want = esnGenuine
		}
		rx, err := NewSA(testSPI, testKeymat(36), opts...)
		if err != nil {
			t.Fatal(err)
		}
		nh, payload, err := rx.Open(make([]byte, 0, 3), packet)
		if err != nil {
			var pe *PacketError
			if !errors.As(err, &pe) || payload != nil {
				t.Fatalf("error %v (%T) with payload %x", err, err, payload)
			}
			return
		}
		_, seq, _ := ParseHeader(packet)
		if g, ok := want[seq]; !ok || !bytes.Equal(g, packet) {
			t.Fatalf("forged packet opened: %x", packet)
		}
		if len(payload) > len(packet)-overhead || nh == 0 {
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
