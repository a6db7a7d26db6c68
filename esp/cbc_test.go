package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"
	"strings"
	"testing"
)

// rfc3602Vectors are test cases #5 to #8 of RFC 3602 section 4: ESP
// packets (header, IV, ciphertext; no ICV, since the RFC covers the cipher
// alone) with their key, IV and payload.
var rfc3602Vectors = []struct {
	name         string
	key, iv      string
	spi          uint32
	seq          uint64
	nextHeader   uint8
	payload, esp string
}{
	{
		name: "case #5", key: "90d382b410eeba7ad938c46cec1a82bf", iv: "e96e8c08ab465763fd098d45dd3ff893",
		spi: 0x4321, seq: 1, nextHeader: 1,
		payload: `08000ebda70a00008e9c083db95b0700 08090a0b0c0d0e0f1011121314151617
			18191a1b1c1d1e1f2021222324252627 28292a2b2c2d2e2f3031323334353637`,
		esp: `0000432100000001e96e8c08ab465763 fd098d45dd3ff893f663c25d325c18c6
			a9453e194e120849a4870b66cc6b9965 330013b4898dc856a4699e523a55db08
			0b59ec3a8e4b7e52775b07d1db34ed9c 538ab50c551b874aa269add047ad2d59
			13ac19b7cfbad4a6`,
	},
	{
		name: "case #6", key: "90d382b410eeba7ad938c46cec1a82bf", iv: "69d08df7d203329db093fc4924e5bd80",
		spi: 0x4321, seq: 8, nextHeader: 1,
		payload: `0800b5e8a80a0500a69c083d0b660e00 777777777777777777777777`,
		esp: `000043210000000869d08df7d203329d b093fc4924e5bd80f51995881ec4e0c4
			488987ce742e8109689bb379d2d750c0 d915dca346a89f75`,
	},
	{
		name: "case #7", key: "0123456789abcdef0123456789abcdef", iv: "f4e765244f6407adf13dc1380f673f37",
		spi: 0x8765, seq: 2, nextHeader: 4,
		payload: `45000054090400004001f988c0a87b03 c0a87bc808009f76a90a0100b49c083d
			02a2040008090a0b0c0d0e0f10111213 1415161718191a1b1c1d1e1f20212223
			2425262728292a2b2c2d2e2f30313233 34353637`,
		esp: `0000876500000002f4e765244f6407ad f13dc1380f673f37773b5241a4c44922
			5e4f3ce5ed611b0c237ca96cf74a9301 3c1b0ea1a0cf70f8e4ecaec78ac53aad
			7a0f022b859243c647752e94a859352b 8a4d4d2decd136e5c177f132ad3fbfb2
			201ac9904c74ee0a109e0ca1e4dfe9d5 a100b842f1c22f0d`,
	},
	{
		name: "case #8", key: "0123456789abcdef0123456789abcdef", iv: "85d47224b5f3dd5d2101d4ea8dffab22",
		spi: 0x8765, seq: 5, nextHeader: 4,
		payload: `45000044090c00004001f990c0a87b03 c0a87bc80800d63caa0a0200c69c083d
			a3de0300ffffffffffffffffffffffff ffffffffffffffffffffffffffffffff
			ffffffff`,
		esp: `000087650000000585d47224b5f3dd5d 2101d4ea8dffab2215b92683819596a8
			047232cc00f7048fe45318e11f8a0f62 ede3c3fc61203bb50f980a08c9843fd3
			a1b06d5c07ff9639b7eb7dfb3512e5de 435e7207ed971ef3d2726d9b5ef6affc
			6d17a0decbb13892`,
	},
}

// The HMAC key of RFC 4868 2.7.2.1 test case 1; any key would do for the
// RFC 3602 packets, which carry no ICV of their own.
var rfc4868Key = bytes.Repeat([]byte{0x0b}, 32)

// fixedIVs makes Seal use the given IVs instead of random ones.
func fixedIVs(sa *SA, ivs ...[]byte) {
	sa.cbc.rand = bytes.NewReader(bytes.Join(ivs, nil))
}

// refICV is the HMAC-SHA-2 ICV computed with the standard library alone.
func refICV(newHash func() hash.Hash, key, body []byte, icvLen int, hi *uint32) []byte {
	m := hmac.New(newHash, key)
	m.Write(body)
	if hi != nil {
		m.Write(binary.BigEndian.AppendUint32(nil, *hi))
	}
	return m.Sum(nil)[:icvLen]
}

func TestRFC3602Packets(t *testing.T) {
	for _, v := range rfc3602Vectors {
		t.Run(v.name, func(t *testing.T) {
			tx, err := NewCBCSA(v.spi, unhex(t, v.key), rfc4868Key, HMACSHA256)
			if err != nil {
				t.Fatal(err)
			}
			tx.next.Store(v.seq)
			fixedIVs(tx, unhex(t, v.iv))
			payload, want := unhex(t, v.payload), unhex(t, v.esp)
			got, err := tx.Seal(nil, v.nextHeader, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(got)-16], want) {
				t.Fatalf("packet =\n%x\nwant\n%x", got[:len(got)-16], want)
			}
			icv := refICV(sha256.New, rfc4868Key, want, 16, nil)
			if !bytes.Equal(got[len(got)-16:], icv) {
				t.Fatalf("ICV %x, want %x", got[len(got)-16:], icv)
			}
			rx, err := NewCBCSA(v.spi, unhex(t, v.key), rfc4868Key, HMACSHA256)
			if err != nil {
				t.Fatal(err)
			}
			nh, out, err := rx.Open(nil, append(want, icv...))
			if err != nil || nh != v.nextHeader || !bytes.Equal(out, payload) {
				t.Fatalf("Open = %d %x %v", nh, out, err)
			}
		})
	}
}

// TestRFC4868Truncation checks the ICV truncation against RFC 4868
// 2.7.2.1 test case 1 (key 0x0b x 32, data "Hi There"): AUTH-HMAC-SHA-256-128
// is the first 128 bits of 198a607eb44bfbc69903a0f1cf2bbdc5
// ba0aa3f3d9ae3c1c7a3b1696a0b68cf7.
func TestRFC4868Truncation(t *testing.T) {
	sa, err := NewCBCSA(1, make([]byte, 16), rfc4868Key, HMACSHA256)
	if err != nil {
		t.Fatal(err)
	}
	got := sa.cbc.icv(&macState{h: hmac.New(sha256.New, rfc4868Key)}, []byte("Hi There"), false, 0)
	if want := unhex(t, "198a607eb44bfbc69903a0f1cf2bbdc5"); !bytes.Equal(got, want) {
		t.Fatalf("ICV %x, want %x", got, want)
	}
}

var integrities = []struct {
	integ   Integrity
	newHash func() hash.Hash
	keyLen  int
	icvLen  int
}{
	{HMACSHA256, sha256.New, 32, 16},
	{HMACSHA384, sha512.New384, 48, 24},
	{HMACSHA512, sha512.New, 64, 32},
}

func TestCBCRoundTrip(t *testing.T) {
	for _, in := range integrities {
		for _, encLen := range []int{16, 24, 32} {
			for _, esn := range []bool{false, true} {
				var opts []Option
				if esn {
					opts = append(opts, WithESN())
				}
				enc, auth := testKeymat(encLen), testKeymat(in.keyLen)
				tx, err := NewCBCSA(testSPI, enc, auth, in.integ, opts...)
				if err != nil {
					t.Fatal(err)
				}
				rx, err := NewCBCSA(testSPI, enc, auth, in.integ, opts...)
				if err != nil {
					t.Fatal(err)
				}
				block, _ := aes.NewCipher(enc)
				start := uint64(1)
				if esn {
					// Cross 2^32 so the implicit high bits matter.
					start = 1<<32 - 100
					tx.next.Store(start)
					rx.replay.top = start - 1
				}
				for n := 0; n <= 300; n++ {
					payload := payloadOf(n)
					p, err := tx.Seal(nil, 41, payload)
					if err != nil {
						t.Fatal(err)
					}
					if len(p) != tx.SealedLen(n) || (len(p)-HeaderLen-cbcBlock-in.icvLen)%cbcBlock != 0 {
						t.Fatalf("%v: %d-byte payload sealed to %d bytes, SealedLen %d", in.integ, n, len(p), tx.SealedLen(n))
					}
					// Independently: ICV with the implicit high bits, then
					// CBC decryption with the standard library.
					seq := start + uint64(n)
					var hi *uint32
					if esn {
						h := uint32(seq >> 32)
						hi = &h
					}
					body := p[:len(p)-in.icvLen]
					if icv := refICV(in.newHash, auth, body, in.icvLen, hi); !bytes.Equal(icv, p[len(body):]) {
						t.Fatalf("%v esn %v seq %#x: ICV differs from an independent HMAC", in.integ, esn, seq)
					}
					pt := make([]byte, len(body)-HeaderLen-cbcBlock)
					cipher.NewCBCDecrypter(block, body[HeaderLen:HeaderLen+cbcBlock]).CryptBlocks(pt, body[HeaderLen+cbcBlock:])
					if !bytes.Equal(pt[:n], payload) || pt[len(pt)-1] != 41 || int(pt[len(pt)-2]) != len(pt)-n-2 {
						t.Fatalf("independent decryption: %x", pt)
					}
					nh, out, err := rx.Open(nil, p)
					if err != nil || nh != 41 || !bytes.Equal(out, payload) {
						t.Fatalf("%v esn %v: Open(%d bytes) = %d %v", in.integ, esn, n, nh, err)
					}
					if _, _, err := rx.Open(nil, p); !errors.Is(err, ErrReplay) {
						t.Fatalf("replay: %v", err)
					}
				}
			}
		}
	}
}

func TestCBCTamperAndPrefix(t *testing.T) {
	for _, in := range integrities {
		enc, auth := testKeymat(32), testKeymat(in.keyLen)
		tx, _ := NewCBCSA(testSPI, enc, auth, in.integ, WithESN())
		rx, _ := NewCBCSA(testSPI, enc, auth, in.integ, WithESN())
		p, err := tx.Seal(nil, 6, payloadOf(45))
		if err != nil {
			t.Fatal(err)
		}
		for i := range p {
			q := bytes.Clone(p)
			q[i] ^= 0x20
			if _, _, err := rx.Open(nil, q); err == nil {
				t.Fatalf("%v: byte %d flipped, packet opened", in.integ, i)
			}
		}
		for l := range len(p) {
			if _, _, err := rx.Open(nil, p[:l]); err == nil {
				t.Fatalf("%v: %d-byte prefix opened", in.integ, l)
			}
		}
		if _, _, err := rx.Open(nil, p); err != nil {
			t.Fatalf("%v: genuine packet after forgeries: %v", in.integ, err)
		}
	}
}

func TestCBCMalformedButAuthentic(t *testing.T) {
	auth := testKeymat(32)
	rx, err := NewCBCSA(testSPI, testKeymat(16), auth, HMACSHA256)
	if err != nil {
		t.Fatal(err)
	}
	// A peer that MACs a ciphertext of 17 bytes.
	body := binary.BigEndian.AppendUint32(nil, testSPI)
	body = binary.BigEndian.AppendUint32(body, 1)
	body = append(body, make([]byte, cbcBlock+17)...)
	p := append(body, refICV(sha256.New, auth, body, 16, nil)...)
	_, _, err = rx.Open(nil, p)
	if !errors.Is(err, ErrBadPadding) || !strings.Contains(err.Error(), "17 bytes of ciphertext") {
		t.Fatalf("Open: %v", err)
	}
	// A bad padding byte inside a proper block.
	tx, _ := NewCBCSA(testSPI, testKeymat(16), auth, HMACSHA256)
	tx.next.Store(2)
	good, _ := tx.Seal(nil, 6, []byte("abc")) // 11 padding bytes
	block, _ := aes.NewCipher(testKeymat(16))
	iv := good[HeaderLen : HeaderLen+cbcBlock]
	pt := make([]byte, cbcBlock)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, good[HeaderLen+cbcBlock:HeaderLen+2*cbcBlock])
	pt[5] = 9 // the third padding byte, which must be 3
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(good[HeaderLen+cbcBlock:], pt)
	bad := append(good[:HeaderLen+2*cbcBlock:HeaderLen+2*cbcBlock], refICV(sha256.New, auth, good[:HeaderLen+2*cbcBlock], 16, nil)...)
	if _, _, err := rx.Open(nil, bad); !errors.Is(err, ErrBadPadding) {
		t.Fatalf("Open with padding 1, 9, 3, ...: %v", err)
	}
}

func TestNewCBCSAErrors(t *testing.T) {
	tests := []struct {
		name      string
		spi       uint32
		enc, auth int
		integ     Integrity
		want      string
	}{
		{"reserved spi", 0, 16, 32, HMACSHA256, "spi 0 is reserved"},
		{"enc key", 1, 20, 32, HMACSHA256, "AES-CBC key is 20 bytes"},
		{"auth key for sha256", 1, 16, 20, HMACSHA256, "AUTH_HMAC_SHA2_256_128 key is 20 bytes, want 32"},
		{"auth key for sha384", 1, 16, 32, HMACSHA384, "AUTH_HMAC_SHA2_384_192 key is 32 bytes, want 48"},
		{"auth key for sha512", 1, 16, 48, HMACSHA512, "AUTH_HMAC_SHA2_512_256 key is 48 bytes, want 64"},
		{"unknown integrity", 1, 16, 32, Integrity(9), "unknown integrity transform Integrity(9)"},
	}
	for _, tc := range tests {
		_, err := NewCBCSA(tc.spi, testKeymat(tc.enc), testKeymat(tc.auth), tc.integ)
		if err == nil || !strings.HasPrefix(err.Error(), "esp: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCBCRandomIVFailure(t *testing.T) {
	tx, _ := NewCBCSA(testSPI, testKeymat(16), testKeymat(32), HMACSHA256)
	fixedIVs(tx) // empty: reading fails
	if _, err := tx.Seal(nil, 6, []byte("x")); err == nil || !strings.Contains(err.Error(), "random IV") {
		t.Fatalf("Seal without randomness: %v", err)
	}
}
