package suite

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 5903 section 8 test vectors (8.1 ECP-256, 8.2 ECP-384, 8.3 ECP-521):
// private values i and r, public values as x|y, shared secret x only.
var rfc5903Vectors = []struct {
	group                       message.DHGroup
	i, gix, giy, r, grx, gry, z string
}{
	{
		group: message.DHECP256,
		i:     "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
		gix:   "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180",
		giy:   "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
		r:     "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
		grx:   "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63",
		gry:   "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
		z:     "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
	},
	{
		group: message.DHECP384,
		i:     "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
		gix:   "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa",
		giy:   "9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
		r:     "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
		grx:   "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571",
		gry:   "dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
		z:     "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746",
	},
	{
		group: message.DHECP521,
		i:     "0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072462f68c27a57382d4a52",
		gix:   "0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e",
		giy:   "017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f1507438bf01beb6ca3926f9582",
		r:     "0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4effc311f5cb151685eb9",
		grx:   "00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f",
		gry:   "015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f4732296579ab44fcd17f0fc56a",
		z:     "01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151f2bee417996d19f3ddea",
	},
}

func TestECPRFC5903(t *testing.T) {
	for _, v := range rfc5903Vectors {
		t.Run(v.group.String(), func(t *testing.T) {
			ki, err := KeyExchangeFromPrivate(v.group, unhex(t, v.i))
			if err != nil {
				t.Fatal(err)
			}
			kr, err := KeyExchangeFromPrivate(v.group, unhex(t, v.r))
			if err != nil {
				t.Fatal(err)
			}
			gi := unhex(t, v.gix+v.giy)
			gr := unhex(t, v.grx+v.gry)
			if !bytes.Equal(ki.Public(), gi) {
				t.Errorf("initiator KE data = %x, want %x", ki.Public(), gi)
			}
			if !bytes.Equal(kr.Public(), gr) {
				t.Errorf("responder KE data = %x, want %x", kr.Public(), gr)
			}
			if len(gi) != PublicLen(v.group) {
				t.Errorf("PublicLen = %d, vector has %d", PublicLen(v.group), len(gi))
			}
			want := unhex(t, v.z)
			zi, err := ki.SharedSecret(gr)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := kr.SharedSecret(gi)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(zi, want) || !bytes.Equal(zr, want) {
				t.Errorf("g^ir = %x / %x, want x coordinate %x", zi, zr, want)
			}
		})
	}
}

// RFC 7748 6.1.
func TestX25519RFC7748(t *testing.T) {
	alicePriv := unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	alicePub := unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPriv := unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	bobPub := unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

	a, err := KeyExchangeFromPrivate(message.DHCurve25519, alicePriv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := KeyExchangeFromPrivate(message.DHCurve25519, bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Public(), alicePub) || !bytes.Equal(b.Public(), bobPub) {
		t.Fatalf("public keys %x %x do not match RFC 7748 6.1", a.Public(), b.Public())
	}
	za, err := a.SharedSecret(bobPub)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := b.SharedSecret(alicePub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, shared) || !bytes.Equal(zb, shared) {
		t.Fatalf("shared %x / %x, want %x", za, zb, shared)
	}
}

// RFC 8031 2.3: a low-order peer point gives an all-zero secret, which must
// be rejected. The points are the canonical encodings of small-order points
// on Curve25519 (0, 1, and the order-8 point listed in RFC 7748's security
// discussion and in the curve's literature).
func TestX25519RejectsLowOrder(t *testing.T) {
	k, err := NewKeyExchange(message.DHCurve25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		if _, err := k.SharedSecret(unhex(t, p)); !errors.Is(err, ErrInvalidPeerKey) {
			t.Errorf("peer %s: err = %v, want ErrInvalidPeerKey", p, err)
		}
	}
}

func TestKeyExchangeRoundTrip(t *testing.T) {
	for _, g := range []message.DHGroup{
		message.DHMODP1024, message.DHMODP1536, message.DHMODP2048S256,
		message.DHMODP2048, message.DHMODP3072, message.DHMODP4096,
		message.DHECP256, message.DHECP384, message.DHECP521, message.DHCurve25519,
	} {
		t.Run(g.String(), func(t *testing.T) {
			a, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g || len(a.Public()) != PublicLen(g) {
				t.Fatalf("group %v, public %d bytes, want %v, %d", a.Group(), len(a.Public()), g, PublicLen(g))
			}
			za, err := a.SharedSecret(b.Public())
			if err != nil {
				t.Fatal(err)
			}
			zb, err := b.SharedSecret(a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(za, zb) {
				t.Fatal("shared secrets differ")
			}
			if bytes.Equal(a.Public(), b.Public()) {
				t.Fatal("two key pairs have the same public value")
			}
			// Wrong lengths are rejected, never padded or truncated.
			pub := b.Public()
			for _, bad := range [][]byte{nil, pub[:len(pub)-1], append(append([]byte{}, pub...), 0)} {
				if _, err := a.SharedSecret(bad); !errors.Is(err, ErrInvalidPeerKey) {
					t.Errorf("%d-byte value: err = %v, want ErrInvalidPeerKey", len(bad), err)
				}
			}
		})
	}
}

// The built-in primes must be the RFC 2409 / RFC 3526 safe primes: p and
// (p-1)/2 prime, 64 leading and trailing one bits, the stated length. A
// mistyped digit breaks primality.
func TestMODPPrimes(t *testing.T) {
	for _, m := range []*modp{modp1024, modp1536, modp2048, modp3072, modp4096} {
		bits := map[message.DHGroup]int{message.DHMODP1024: 1024, message.DHMODP1536: 1536, message.DHMODP2048: 2048, message.DHMODP3072: 3072, message.DHMODP4096: 4096}[m.group]
		if m.p.BitLen() != bits || m.size != bits/8 {
			t.Errorf("%v: %d bits", m.group, m.p.BitLen())
		}
		ones := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1))
		if new(big.Int).And(m.p, ones).Cmp(ones) != 0 || new(big.Int).Rsh(m.p, uint(bits-64)).Cmp(ones) != 0 {
			t.Errorf("%v: not of the RFC 3526 form 2^N - 2^(N-64) - 1 + 2^64 * ...", m.group)
		}
		q := new(big.Int).Rsh(m.p, 1)
		if !m.p.ProbablyPrime(2) || !q.ProbablyPrime(2) {
			t.Errorf("%v: p is not a safe prime", m.group)
		}
	}
}

// RFC 6989 2.1: 1 < y < p-1.
func TestMODPRejectsOutOfRange(t *testing.T) {
	k, err := NewKeyExchange(message.DHMODP2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := modp2048.p
	pad := func(x *big.Int) []byte { return x.FillBytes(make([]byte, 256)) }
	for name, y := range map[string]*big.Int{
		"0":   big.NewInt(0),
		"1":   big.NewInt(1),
		"p-1": new(big.Int).Sub(p, big.NewInt(1)),
		"p":   p,
		"p+1": new(big.Int).Add(p, big.NewInt(1)),
	} {
		if _, err := k.SharedSecret(pad(y)); !errors.Is(err, ErrInvalidPeerKey) {
			t.Errorf("y = %s: err = %v, want ErrInvalidPeerKey", name, err)
		}
	}
	all := bytes.Repeat([]byte{0xff}, 256) // > p
	if _, err := k.SharedSecret(all); !errors.Is(err, ErrInvalidPeerKey) {
		t.Errorf("y = 2^2048-1: err = %v", err)
	}
	// 2 and p-2 are in range and must work.
	for _, y := range []*big.Int{big.NewInt(2), new(big.Int).Sub(p, big.NewInt(2))} {
		z, err := k.SharedSecret(pad(y))
		if err != nil || len(z) != 256 {
			t.Errorf("y = %v: %d-byte secret, err %v", y, len(z), err)
		}
	}
}

// g^ir keeps leading zeros (RFC 7296 2.14): with exponent 1 the secret is
// the peer's value itself, here one with a zero leading octet.
func TestMODPSecretIsPadded(t *testing.T) {
	k, err := KeyExchangeFromPrivate(message.DHMODP2048, []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	y := make([]byte, 256)
	y[255] = 5
	z, err := k.SharedSecret(y)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z, y) {
		t.Fatalf("secret %x, want the zero-padded %x", z, y)
	}
}

func TestECPRejectsInvalidPoints(t *testing.T) {
	for _, v := range rfc5903Vectors {
		k, err := NewKeyExchange(v.group, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		good := unhex(t, v.grx+v.gry)
		offCurve := append([]byte(nil), good...)
		offCurve[len(offCurve)-1] ^= 1
		with04 := append([]byte{4}, good...)
		for name, peer := range map[string][]byte{
			"off curve":     offCurve,
			"zero point":    make([]byte, len(good)),
			"SEC1 prefixed": with04,
			"x only":        good[:len(good)/2],
		} {
			if _, err := k.SharedSecret(peer); !errors.Is(err, ErrInvalidPeerKey) {
				t.Errorf("%v %s: err = %v, want ErrInvalidPeerKey", v.group, name, err)
			}
		}
	}
}

func TestUnsupportedGroup(t *testing.T) {
	for _, g := range []message.DHGroup{message.DHNone, message.DHCurve448, message.DHECP256BP, message.DHECP384BP, 1, 999} {
		if _, err := NewKeyExchange(g, rand.Reader); err == nil {
			t.Errorf("NewKeyExchange(%v) succeeded", g)
		}
		if PublicLen(g) != 0 {
			t.Errorf("PublicLen(%v) != 0", g)
		}
	}
	if _, err := NewKeyExchange(message.DHMODP2048, nil); err == nil {
		t.Error("nil rand accepted")
	}
}

// FuzzSharedSecret feeds arbitrary peer values to every group: never a
// panic, and a value is either rejected with ErrInvalidPeerKey or yields a
// secret of the group's fixed length.
func FuzzSharedSecret(f *testing.F) {
	groups := []message.DHGroup{message.DHMODP2048, message.DHECP256, message.DHECP384, message.DHECP521, message.DHCurve25519, message.DHMLKEM768}
	kes := make([]KeyExchange, len(groups))
	for i, g := range groups {
		k, err := NewKeyExchange(g, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		kes[i] = k
		if g == message.DHMLKEM768 {
			ct, _, err := Respond(g, k.Public(), rand.Reader)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), ct)
		}
		f.Add(uint8(i), k.Public())
		f.Add(uint8(i), make([]byte, PublicLen(g)))
		f.Add(uint8(i), bytes.Repeat([]byte{0xff}, PublicLen(g)))
	}
	f.Add(uint8(0), []byte{})
	want := map[message.DHGroup]int{
		message.DHMODP2048: 256, message.DHECP256: 32, message.DHECP384: 48, message.DHECP521: 66, message.DHCurve25519: 32,
		message.DHMLKEM768: 32,
	}
	peerLen := func(g message.DHGroup) int {
		if g == message.DHMLKEM768 {
			return 1088 // the responder's ciphertext
		}
		return PublicLen(g)
	}
	f.Fuzz(func(t *testing.T, which uint8, peer []byte) {
		k := kes[int(which)%len(kes)]
		z, err := k.SharedSecret(peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidPeerKey) {
				t.Fatalf("error %v does not wrap ErrInvalidPeerKey", err)
			}
			return
		}
		if len(peer) != peerLen(k.Group()) || len(z) != want[k.Group()] {
			t.Fatalf("%v accepted %d-byte value, %d-byte secret", k.Group(), len(peer), len(z))
		}
	})
}

func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range []message.DHGroup{
		message.DHMODP2048, message.DHMODP3072, message.DHMODP4096,
		message.DHECP256, message.DHECP384, message.DHECP521, message.DHCurve25519,
	} {
		peer, err := NewKeyExchange(g, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		pub := peer.Public()
		b.Run(g.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := NewKeyExchange(g, rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.SharedSecret(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRespond(t *testing.T) {
	for _, g := range []message.DHGroup{message.DHMODP2048, message.DHECP256, message.DHCurve25519, message.DHMLKEM768} {
		t.Run(g.String(), func(t *testing.T) {
			init, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub, secret, err := Respond(g, init.Public(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			z, err := init.SharedSecret(pub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(z, secret) || len(z) == 0 {
				t.Fatal("initiator and responder secrets differ")
			}
			if _, _, err := Respond(g, init.Public()[1:], rand.Reader); !errors.Is(err, ErrInvalidPeerKey) {
				t.Fatalf("short peer value: err = %v", err)
			}
		})
	}
}

func TestMLKEM768Deterministic(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 64)
	a, err := KeyExchangeFromPrivate(message.DHMLKEM768, seed)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeyExchangeFromPrivate(message.DHMLKEM768, seed)
	if !bytes.Equal(a.Public(), b.Public()) {
		t.Fatal("same seed, different encapsulation keys")
	}
	if _, err := KeyExchangeFromPrivate(message.DHMLKEM768, seed[:32]); err == nil {
		t.Fatal("short seed accepted")
	}
}

func TestMLKEM768Rejects(t *testing.T) {
	// FIPS 203 7.2: every 12-bit coefficient of the encapsulation key must
	// be below q = 3329; all-ones octets encode 4095.
	if _, _, err := Respond(message.DHMLKEM768, bytes.Repeat([]byte{0xff}, 1184), rand.Reader); !errors.Is(err, ErrInvalidPeerKey) {
		t.Fatalf("unreduced encapsulation key: err = %v", err)
	}
	k, err := NewKeyExchange(message.DHMLKEM768, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Public()) != 1184 || PublicLen(message.DHMLKEM768) != 1184 {
		t.Fatalf("encapsulation key of %d bytes", len(k.Public()))
	}
	for _, n := range []int{0, 1087, 1089, 1184} {
		if _, err := k.SharedSecret(make([]byte, n)); !errors.Is(err, ErrInvalidPeerKey) {
			t.Errorf("%d-byte ciphertext: err = %v", n, err)
		}
	}
	// Implicit rejection: a wrong ciphertext gives some other secret.
	_, secret, _ := Respond(message.DHMLKEM768, k.Public(), rand.Reader)
	z, err := k.SharedSecret(make([]byte, 1088))
	if err != nil || bytes.Equal(z, secret) {
		t.Fatalf("zero ciphertext: %x, %v", z, err)
	}
}
