package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

type cipherCase struct {
	name    string
	encr    message.EncrID
	bits    int
	integ   message.IntegID
	keyLen  int
	intLen  int
	icvLen  int
	ivLen   int
	padUnit int
}

var cipherCases = []cipherCase{
	{"GCM-128", message.EncrAESGCM16, 128, message.IntegNone, 20, 0, 16, 8, 1},
	{"GCM-192", message.EncrAESGCM16, 192, message.IntegNone, 28, 0, 16, 8, 1},
	{"GCM-256", message.EncrAESGCM16, 256, message.IntegNone, 36, 0, 16, 8, 1},
	{"CBC-128/SHA256", message.EncrAESCBC, 128, message.IntegHMACSHA2256128, 16, 32, 16, 16, 16},
	{"CBC-256/SHA384", message.EncrAESCBC, 256, message.IntegHMACSHA2384192, 32, 48, 24, 16, 16},
	{"CBC-256/SHA512", message.EncrAESCBC, 256, message.IntegHMACSHA2512256, 32, 64, 32, 16, 16},
	{"CBC-128/SHA1", message.EncrAESCBC, 128, message.IntegHMACSHA196, 16, 20, 12, 16, 16},
	{"3DES/SHA1", message.Encr3DES, 0, message.IntegHMACSHA196, 24, 20, 12, 8, 8},
	{"3DES/SHA256", message.Encr3DES, 0, message.IntegHMACSHA2256128, 24, 32, 16, 8, 8},
}

func keys(c cipherCase) (enc, integ []byte) {
	enc = make([]byte, c.keyLen)
	integ = make([]byte, c.intLen)
	for i := range enc {
		enc[i] = byte(i + 1)
	}
	for i := range integ {
		integ[i] = byte(0x80 + i)
	}
	return enc, integ
}

func newTestCipher(t testing.TB, c cipherCase) SKCipher {
	t.Helper()
	enc, integ := keys(c)
	sk, err := NewSKCipher(c.encr, c.bits, c.integ, enc, integ, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// The codec takes an SKCipher as its Sealer.
var _ message.Sealer = SKCipher(nil)

// sealBody seals with a copy of aad as prefix and returns only the body.
func sealBody(sk SKCipher, aad, pt []byte) ([]byte, error) {
	out, err := sk.Seal(append([]byte(nil), aad...), pt)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(out[:len(aad)], aad) {
		return nil, errors.New("Seal changed the associated data")
	}
	return out[len(aad):], nil
}

func TestSKKeyLengths(t *testing.T) {
	for _, c := range cipherCases {
		s := Suite{Protocol: message.ProtoIKE, Encr: c.encr, EncrKeyBits: c.bits, Integ: c.integ, PRF: message.PRFHMACSHA2256, KE: message.DHECP256}
		el, err := s.EncrKeyLen()
		if err != nil || el != c.keyLen {
			t.Errorf("%s: EncrKeyLen = %d, %v; want %d", c.name, el, err, c.keyLen)
		}
		il, err := s.IntegKeyLen()
		if err != nil || il != c.intLen {
			t.Errorf("%s: IntegKeyLen = %d, %v; want %d", c.name, il, err, c.intLen)
		}
	}
}

func TestSKRoundTrip(t *testing.T) {
	aad := bytes.Repeat([]byte{0xa5}, 32) // IKE header + SK generic header
	for _, c := range cipherCases {
		t.Run(c.name, func(t *testing.T) {
			sk := newTestCipher(t, c)
			for n := 0; n <= 70; n++ {
				pt := bytes.Repeat([]byte{byte(n)}, n)
				body, err := sealBody(sk, aad, pt)
				if err != nil {
					t.Fatal(err)
				}
				if len(body) != sk.SealedLen(n) {
					t.Fatalf("n=%d: body %d bytes, SealedLen %d", n, len(body), sk.SealedLen(n))
				}
				// Minimum padding: the padded plaintext is the smallest multiple
				// of the block (1 for GCM) holding n + the Pad Length octet.
				ctLen := len(body) - c.ivLen - c.icvLen
				if ctLen%c.padUnit != 0 || ctLen-(n+1) >= c.padUnit {
					t.Fatalf("n=%d: %d bytes of ciphertext", n, ctLen)
				}
				got, err := sk.Open([]byte("x"), aad, body)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, append([]byte("x"), pt...)) {
					t.Fatalf("n=%d: Open = %x", n, got)
				}
			}
		})
	}
}

// Every bit of the associated data and of the body is authenticated.
func TestSKTamper(t *testing.T) {
	aad := []byte("IKE header......................")
	for _, c := range cipherCases {
		sk := newTestCipher(t, c)
		body, err := sealBody(sk, aad, []byte("inner payloads"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(aad) + len(body) {
			a := append([]byte(nil), aad...)
			b := append([]byte(nil), body...)
			if i < len(a) {
				a[i] ^= 0x01
			} else {
				b[i-len(a)] ^= 0x80
			}
			if _, err := sk.Open(nil, a, b); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%s: flipped byte %d: err = %v, want ErrAuthFailed", c.name, i, err)
			}
		}
		if _, err := sk.Open(nil, aad, body[:len(body)-1]); err == nil {
			t.Fatalf("%s: truncated body accepted", c.name)
		}
	}
}

// The other direction's key must not open a message.
func TestSKWrongKey(t *testing.T) {
	for _, c := range cipherCases {
		sk := newTestCipher(t, c)
		enc, integ := keys(c)
		enc[0] ^= 1
		if len(integ) > 0 {
			integ[0] ^= 1
		}
		other, err := NewSKCipher(c.encr, c.bits, c.integ, enc, integ, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := sealBody(sk, nil, []byte("hello"))
		if _, err := other.Open(nil, nil, body); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

// The GCM layout of RFC 5282, checked with crypto/cipher directly: nonce =
// salt (last 4 key octets) | explicit IV, the IV a counter, the plaintext
// ending in Pad Length 0, AAD = header..SK header.
func TestGCMLayout(t *testing.T) {
	c := cipherCases[2]
	enc, _ := keys(c)
	sk := newTestCipher(t, c)
	block, _ := aes.NewCipher(enc[:32])
	aead, _ := cipher.NewGCM(block)
	aad := []byte("hdr")
	for want := uint64(1); want <= 3; want++ {
		body, err := sealBody(sk, aad, []byte("abc"))
		if err != nil {
			t.Fatal(err)
		}
		if iv := binary.BigEndian.Uint64(body[:8]); iv != want {
			t.Fatalf("IV %d, want counter %d", iv, want)
		}
		nonce := append(append([]byte(nil), enc[32:]...), body[:8]...)
		pt, err := aead.Open(nil, nonce, body[8:], aad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pt, []byte("abc\x00")) {
			t.Fatalf("plaintext %q", pt)
		}
	}
}

// The CBC layout of RFC 7296 3.14, checked independently: ICV = first 16
// octets of HMAC-SHA-256 over header | IV | ciphertext; IV from the reader;
// Pad Length last.
func TestCBCLayout(t *testing.T) {
	c := cipherCases[3]
	enc, integ := keys(c)
	iv := bytes.Repeat([]byte{0x42}, 16)
	sk, err := NewSKCipher(c.encr, c.bits, c.integ, enc, integ, bytes.NewReader(iv))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("header")
	body, err := sealBody(sk, aad, []byte("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body[:16], iv) {
		t.Fatalf("IV %x not taken from the reader", body[:16])
	}
	mac := hmac.New(sha256.New, integ)
	mac.Write(aad)
	mac.Write(body[:len(body)-16])
	if !bytes.Equal(mac.Sum(nil)[:16], body[len(body)-16:]) {
		t.Fatal("ICV is not HMAC-SHA-256-128 over header | IV | ciphertext")
	}
	block, _ := aes.NewCipher(enc)
	pt := make([]byte, len(body)-32)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, body[16:len(body)-16])
	if len(pt) != 16 || string(pt[:10]) != "0123456789" || pt[15] != 5 {
		t.Fatalf("padded plaintext %x", pt)
	}
	// A failing reader fails Seal.
	if _, err := sk.Seal(aad, nil); err == nil {
		t.Fatal("Seal succeeded with an exhausted random source")
	}
}

// A well-authenticated body whose Pad Length exceeds the plaintext is an
// error, not a panic.
func TestBadPadLength(t *testing.T) {
	c := cipherCases[0]
	enc, _ := keys(c)
	sk := newTestCipher(t, c)
	block, _ := aes.NewCipher(enc[:16])
	aead, _ := cipher.NewGCM(block)
	nonce := append(append([]byte(nil), enc[16:]...), make([]byte, 8)...)
	body := append(make([]byte, 8), aead.Seal(nil, nonce, []byte{1, 2, 200}, nil)...)
	if _, err := sk.Open(nil, nil, body); err == nil || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("err = %v, want a pad length error", err)
	}
}

func TestNewSKCipherRejects(t *testing.T) {
	k16, k32 := make([]byte, 16), make([]byte, 32)
	for name, f := range map[string]func() (SKCipher, error){
		"GCM with INTEG": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESGCM16, 128, message.IntegHMACSHA2256128, make([]byte, 20), k32, rand.Reader)
		},
		"CBC without": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESCBC, 128, message.IntegNone, k16, nil, rand.Reader)
		},
		"short GCM key": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESGCM16, 128, message.IntegNone, k16, nil, rand.Reader)
		},
		"short integ key": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESCBC, 128, message.IntegHMACSHA2256128, k16, k16, rand.Reader)
		},
		"bad key size": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESCBC, 64, message.IntegHMACSHA2256128, make([]byte, 8), k32, rand.Reader)
		},
		"GCM-8": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESGCM8, 128, message.IntegNone, make([]byte, 20), nil, rand.Reader)
		},
		"CBC without rand": func() (SKCipher, error) {
			return NewSKCipher(message.EncrAESCBC, 128, message.IntegHMACSHA2256128, k16, k32, nil)
		},
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzSKOpen: arbitrary bodies never panic and never authenticate.
func FuzzSKOpen(f *testing.F) {
	// Each cipher gets keys of its own: with the shared test keys, a body
	// sealed by CBC-128/SHA1 carries a valid HMAC-SHA1-96 for 3DES/SHA1
	// too (same integrity key), and the fuzzer found exactly that.
	ciphers := make([]SKCipher, len(cipherCases))
	for i, c := range cipherCases {
		enc, integ := keys(c)
		for j := range enc {
			enc[j] ^= byte(0x11 * (i + 1))
		}
		for j := range integ {
			integ[j] ^= byte(0x11 * (i + 1))
		}
		sk, err := NewSKCipher(c.encr, c.bits, c.integ, enc, integ, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		ciphers[i] = sk
		body, _ := sealBody(ciphers[i], []byte("aad"), []byte("seed"))
		f.Add(uint8(i), []byte("aad"), body)
	}
	f.Add(uint8(0), []byte{}, []byte{})
	f.Add(uint8(3), []byte{}, make([]byte, 48))
	f.Fuzz(func(t *testing.T, which uint8, aad, body []byte) {
		sk := ciphers[int(which)%len(ciphers)]
		pt, err := sk.Open(nil, aad, body)
		if err == nil && !(string(aad) == "aad" && string(pt) == "seed") {
			t.Fatalf("forged body opened to %q", pt)
		}
	})
}

func BenchmarkSK(b *testing.B) {
	pt := make([]byte, 256)
	aad := make([]byte, 32)
	for _, c := range cipherCases {
		sk := newTestCipher(b, c)
		body, _ := sealBody(sk, aad, pt)
		buf := make([]byte, 0, len(body)+64)
		b.Run(c.name+"/seal", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := sk.Seal(append(buf[:0], aad...), pt); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/open", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := sk.Open(buf[:0], aad, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The codec hands Seal a prefix with capacity for the whole message
// (message.Message.EncodeEncrypted); sealing in place must give the same
// result as sealing into a fresh slice, and the prefix must be unchanged.
func TestSealInPlace(t *testing.T) {
	for _, c := range cipherCases {
		sk := newTestCipher(t, c)
		pt := []byte("inner payloads of some length")
		aad := []byte("0123456789abcdef0123456789abcdef")
		buf := make([]byte, 0, len(aad)+sk.SealedLen(len(pt)))
		buf = append(buf, aad...)
		out, err := sk.Seal(buf, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != cap(buf) || &out[0] != &buf[:1][0] {
			t.Fatalf("%s: Seal did not fill the provided buffer in place", c.name)
		}
		if !bytes.Equal(out[:len(aad)], aad) {
			t.Fatalf("%s: prefix changed", c.name)
		}
		got, err := sk.Open(nil, aad, out[len(aad):])
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: %q, %v", c.name, got, err)
		}
	}
}

// An exhausted GCM counter refuses to seal rather than repeat an IV.
func TestGCMCounterExhaustion(t *testing.T) {
	sk := newTestCipher(t, cipherCases[0]).(*gcmCipher)
	sk.next.Store(^uint64(0) - 1)
	if _, err := sk.Seal(nil, []byte("last")); err != nil {
		t.Fatalf("last IV refused: %v", err)
	}
	for range 2 {
		if _, err := sk.Seal(nil, []byte("again")); err == nil {
			t.Fatal("Seal reused the IV space")
		}
	}
}
