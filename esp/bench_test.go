package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

// benchKey is AES-256 key material plus salt; its value does not matter
// for speed.
var benchKey = func() []byte {
	k := make([]byte, 36)
	for i := range k {
		k[i] = byte(i * 7)
	}
	return k
}()

var benchSizes = []int{64, 512, 1400}

func BenchmarkSeal(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("AES-256-GCM/%d", size), func(b *testing.B) {
			sa, err := NewSA(0xc1234567, benchKey, WithESN())
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size)
			buf := make([]byte, 0, sa.SealedLen(size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := sa.Seal(buf[:0], 6, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("AES-256-GCM/%d", size), func(b *testing.B) {
			// Without ESN the receiver's window accepts up to 2^32-1
			// packets, more than any b.N reaches in a second.
			tx, err := NewSA(0xc1234567, benchKey, WithESN())
			if err != nil {
				b.Fatal(err)
			}
			rx, err := NewSA(0xc1234567, benchKey, WithESN())
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size)
			// Seal a ring of distinct packets ahead of time; Open each
			// once, so the replay window sees fresh numbers throughout.
			const ring = 4096
			packets := make([][]byte, ring)
			out := make([]byte, 0, size+64)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i%ring == 0 {
					b.StopTimer()
					for j := range packets {
						packets[j], err = tx.Seal(packets[j][:0], 6, payload)
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				if _, _, err := rx.Open(out[:0], packets[i%ring]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkBaselineGCM measures the bare cipher.AEAD on the same
// plaintext sizes (payload plus ESP trailer), so the cost of the ESP layer
// itself (header, padding, sequence number, replay window) can be read off
// against BenchmarkSeal and BenchmarkOpen.
func BenchmarkBaselineGCM(b *testing.B) {
	block, err := aes.NewCipher(benchKey[:32])
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce, aad := make([]byte, 12), make([]byte, 12)
	for _, size := range benchSizes {
		n := size + padLen(size, 4) + 2
		pt := make([]byte, n)
		ct := g.Seal(nil, nonce, pt, aad)
		out := make([]byte, 0, len(ct))
		b.Run(fmt.Sprintf("Seal/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				g.Seal(out[:0], nonce, pt, aad)
			}
		})
		b.Run(fmt.Sprintf("Open/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Open(out[:0], nonce, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
