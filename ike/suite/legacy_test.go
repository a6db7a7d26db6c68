package suite

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"math/big"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Tests of the transforms kept for strongSwan compatibility only: MODP
// groups 2, 5 and 24, 3DES and HMAC-SHA1-96.

// piTimes2 returns floor(pi * 2^n), from Machin's formula
// pi = 16 atan(1/5) - 4 atan(1/239) in fixed point with guard bits.
func piTimes2(n uint) *big.Int {
	const guard = 64
	one := new(big.Int).Lsh(big.NewInt(1), n+guard)
	atanInv := func(x int64) *big.Int {
		// atan(1/x) = sum (-1)^k / ((2k+1) x^(2k+1))
		sum := new(big.Int)
		xx := big.NewInt(x * x)
		term := new(big.Int).Quo(one, big.NewInt(x)) // 1/x^(2k+1)
		for k := int64(0); term.Sign() != 0; k++ {
			t := new(big.Int).Quo(term, big.NewInt(2*k+1))
			if k%2 == 0 {
				sum.Add(sum, t)
			} else {
				sum.Sub(sum, t)
			}
			term.Quo(term, xx)
		}
		return sum
	}
	pi := new(big.Int).Mul(atanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
	return pi.Rsh(pi, guard)
}

// The primes of RFC 2409 6.2 and RFC 3526 2-5 are defined by a formula in
// pi: p = 2^N - 2^(N-64) - 1 + 2^64 * ([2^(N-130) pi] + c). Computing them
// from it checks every digit of the built-in hex independently of how it
// was typed in.
func TestMODPPrimesFromPi(t *testing.T) {
	for _, v := range []struct {
		m *modp
		n uint
		c int64
	}{
		{modp1024, 1024, 129093},
		{modp1536, 1536, 741804},
		{modp2048, 2048, 124476},
		{modp3072, 3072, 1690314},
		{modp4096, 4096, 240904},
	} {
		p := new(big.Int).Lsh(big.NewInt(1), v.n)
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), v.n-64))
		p.Sub(p, big.NewInt(1))
		f := piTimes2(v.n - 130)
		f.Add(f, big.NewInt(v.c))
		p.Add(p, f.Lsh(f, 64))
		if p.Cmp(v.m.p) != 0 {
			t.Errorf("%v: built-in prime differs from the RFC formula", v.m.group)
		}
		if v.m.g.Cmp(big.NewInt(2)) != 0 || v.m.q != nil {
			t.Errorf("%v: generator %v, subgroup order %v; want 2 and none", v.m.group, v.m.g, v.m.q)
		}
	}
}

// RFC 5114 2.3's parameters: p and q prime, q divides p-1, g has order q.
func TestMODP2048S256Parameters(t *testing.T) {
	m := modp2048s256
	if m.p.BitLen() != 2048 || m.size != 256 || m.q.BitLen() != 256 {
		t.Fatalf("p %d bits, q %d bits", m.p.BitLen(), m.q.BitLen())
	}
	if !m.p.ProbablyPrime(0) || !m.q.ProbablyPrime(0) {
		t.Fatal("p or q is not prime")
	}
	if new(big.Int).Mod(m.pm1, m.q).Sign() != 0 {
		t.Fatal("q does not divide p-1")
	}
	if m.g.Cmp(big.NewInt(1)) <= 0 || new(big.Int).Exp(m.g, m.q, m.p).Cmp(big.NewInt(1)) != 0 {
		t.Fatal("g does not generate the order-q subgroup")
	}
	if PublicLen(message.DHMODP2048S256) != 256 {
		t.Fatal("PublicLen")
	}
}

// RFC 5114 appendix A.3: the test data of the 2048-bit MODP group with
// 256-bit prime order subgroup.
func TestMODP2048S256KnownAnswer(t *testing.T) {
	xA := unhex(t, "0881382cdb87660c6dc13e614938d5b9c8b2f248581cc5e31b35454397fce50e")
	yA := unhex(t, "2e9380c8323af97545bc4941deb0ec3742c62fe0ece824a6abdbe66c59bee024"+
		"2911bfb967235ceba35ae13e4ec752be630b92dc4bde2847a9c62cb815274542"+
		"1fb7eb60a63c0fe9159fcce726ce7cd8523d7450667ef840e4919121eb5f01c8"+
		"c9b0d3d648a93bfb75689e8244ac134af544711ce79a02dcc34226684780dddc"+
		"b498594106c37f5bc79856487af5ab022a2e5e42f09897c1a85a11ea0212af04"+
		"d9b4cebc937c3c1a3e15a8a0342e337615c84e7fe3b8b9b87fb1e73a15af12a3"+
		"0d746e06dfc34f290d797ce51aa13aa785bf6658aff5e4b093003cbeaf665b3c"+
		"2e113a3a4e905269341dc0711426685f4ef37e868a8126ff3f2279b57ca67e29")
	xB := unhex(t, "7d62a7e3ef36de617b13d1afb82c780d83a23bd4ee6705645121f371f546a53d")
	yB := unhex(t, "575f0351bd2b1b817448bdf87a6c362c1e289d3903a30b9832c5741fa250363e"+
		"7acbc7f77f3dacbc1f131add8e03367eff8fbbb3e1c5784424809b25afe4d226"+
		"2a1a6fd2fab64105ca30a674e07f7809852088632fc049233791ad4edd083a97"+
		"8b883ee618bc5e0dd047415f2d95e683cf14826b5fbe10d3ce41c6c120c78ab2"+
		"0008c698bf7f0bcab9d7f407bed0f43afb2970f57f8d12043963e66ddd320d59"+
		"9ad9936c8f44137c08b180ec5e985cebe186f3d549677e80607331ee17af3380"+
		"a725b0782317d7dd43f59d7af9568a9bb63a84d365f92244ed120988219302f4"+
		"2924c7ca90b89d24f71b0ab697823d7deb1aff5b0e8e4a45d49f7f53757e1913")
	z := unhex(t, "86c70bf8d0bb81bb01078a17219cb7d27203db2a19c877f1d1f19fd7d77ef225"+
		"46a68f005ad52dc84553b78fc60330be51ea7c0672cac1515e4b35c047b9a551"+
		"b88f39dc26da14a09ef74774d47c762dd177f9ed5bc2f11e52c879bd95098504"+
		"cd9eecd8a8f9b3efbd1f008ac5853097d9d1837f2b18f77cd7be01af80a7c7b5"+
		"ea3ca54cc02d0c116fee3f95bb87399385875d7e86747e676e728938acbff709"+
		"8e05be4dcfb24052b83aeffb14783f029adbde7f53fae92084224090e007cee9"+
		"4d4bf2bace9ffd4b57d2af7c724d0caa19bf0501f6f17b4aa10f425e3ea76080"+
		"b4b9d6b3cefea115b2ceb8789bb8a3b0ea87febe63b6c8f846ec6db0c26c5d7c")
	a, err := KeyExchangeFromPrivate(message.DHMODP2048S256, xA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := KeyExchangeFromPrivate(message.DHMODP2048S256, xB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Public(), yA) || !bytes.Equal(b.Public(), yB) {
		t.Fatal("public values differ from RFC 5114 A.3")
	}
	za, err := a.SharedSecret(yB)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := b.SharedSecret(yA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, z) || !bytes.Equal(zb, z) {
		t.Fatal("shared secret differs from RFC 5114 A.3")
	}
}

// RFC 6989 2.2: in group 24 a value in range but outside the order-q
// subgroup is refused; RFC 6989 2.1's range check applies to every group.
func TestMODPSubgroupCheck(t *testing.T) {
	k, err := NewKeyExchange(message.DHMODP2048S256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := modp2048s256
	pad := func(x *big.Int) []byte { return x.FillBytes(make([]byte, 256)) }
	two := big.NewInt(2)
	if new(big.Int).Exp(two, m.q, m.p).Cmp(big.NewInt(1)) == 0 {
		t.Fatal("2 is in the subgroup; pick another test value")
	}
	for name, y := range map[string]*big.Int{
		"0": big.NewInt(0), "1": big.NewInt(1), "2": two,
		"p-1": m.pm1, "p": m.p,
		// g times an element of order 2: in range, wrong subgroup
		"-g": new(big.Int).Sub(m.p, m.g),
	} {
		if _, err := k.SharedSecret(pad(y)); !errors.Is(err, ErrInvalidPeerKey) {
			t.Errorf("y = %s: err = %v, want ErrInvalidPeerKey", name, err)
		}
	}
	// g^5 is in the subgroup and accepted
	if _, err := k.SharedSecret(pad(new(big.Int).Exp(m.g, big.NewInt(5), m.p))); err != nil {
		t.Errorf("g^5: %v", err)
	}
	for _, grp := range []*modp{modp1024, modp1536} {
		k, err := NewKeyExchange(grp.group, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, y := range []*big.Int{big.NewInt(1), grp.pm1, grp.p} {
			if _, err := k.SharedSecret(y.FillBytes(make([]byte, grp.size))); !errors.Is(err, ErrInvalidPeerKey) {
				t.Errorf("%v y = %v: err = %v", grp.group, y, err)
			}
		}
		if _, err := k.SharedSecret(make([]byte, grp.size+1)); !errors.Is(err, ErrInvalidPeerKey) {
			t.Errorf("%v: long value: %v", grp.group, err)
		}
	}
}

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// Group 24's private exponents lie in [1, q-1], whatever the random source
// returns; KeyExchangeFromPrivate refuses anything else.
func TestMODP2048S256Exponent(t *testing.T) {
	m := modp2048s256
	for _, r := range []constReader{0, 0xff, 0x8c} {
		x, err := m.randomExponent(r)
		if err != nil {
			t.Fatal(err)
		}
		if !m.validExponent(x) {
			t.Errorf("reader %#x: exponent %x out of [1, q-1]", byte(r), x)
		}
	}
	qm1 := new(big.Int).Sub(m.q, big.NewInt(1))
	if _, err := KeyExchangeFromPrivate(message.DHMODP2048S256, qm1.Bytes()); err != nil {
		t.Errorf("q-1: %v", err)
	}
	for _, x := range []*big.Int{big.NewInt(0), m.q, new(big.Int).Add(m.q, big.NewInt(1))} {
		if _, err := KeyExchangeFromPrivate(message.DHMODP2048S256, x.Bytes()); err == nil {
			t.Errorf("exponent %x accepted", x)
		}
	}
}

// RFC 2202 test cases 1 and 2 for HMAC-SHA-1, truncated to 96 bits as
// RFC 2404 does; the ICV of a 3DES/HMAC-SHA1-96 SK payload is computed the
// same way.
func TestHMACSHA196KnownAnswer(t *testing.T) {
	newHash, icv := integHash(message.IntegHMACSHA196)
	if icv != 12 {
		t.Fatalf("ICV %d bytes", icv)
	}
	for _, v := range []struct{ key, data, want string }{
		{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "b617318655057264e28bc0b6"},
		{"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "effcdf6ae5eb2fa2d27416d5"},
	} {
		mac := hmac.New(newHash, unhex(t, v.key))
		mac.Write(unhex(t, v.data))
		if got := mac.Sum(nil)[:icv]; !bytes.Equal(got, unhex(t, v.want)) {
			t.Errorf("key %s: %x, want %s", v.key, got, v.want)
		}
	}
	if n, err := IntegKeyLen(message.IntegHMACSHA196); n != 20 || err != nil {
		t.Errorf("IntegKeyLen = %d, %v", n, err)
	}
}

// The 3DES SK body is IV (one 8-octet block) | CBC ciphertext | 12-octet
// HMAC-SHA1-96 over the header through the ciphertext, checked here by
// taking it apart with crypto/des and crypto/hmac directly.
func TestTripleDESLayout(t *testing.T) {
	enc, integ := make([]byte, 24), make([]byte, 20)
	for i := range enc {
		enc[i] = byte(0x10 + i*7)
	}
	for i := range integ {
		integ[i] = byte(0xa0 + i)
	}
	sk, err := NewSKCipher(message.Encr3DES, 0, message.IntegHMACSHA196, enc, integ, constReader(0x42))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("header and SK payload header")
	pt := []byte("thirteen byte")
	msg, err := sk.Seal(append([]byte(nil), aad...), pt)
	if err != nil {
		t.Fatal(err)
	}
	body := msg[len(aad):]
	if len(body) != sk.SealedLen(len(pt)) || len(body) != 8+16+12 {
		t.Fatalf("body %d bytes, SealedLen %d", len(body), sk.SealedLen(len(pt)))
	}
	if !bytes.Equal(body[:8], bytes.Repeat([]byte{0x42}, 8)) {
		t.Fatal("IV is not the random source's block")
	}
	mac := hmac.New(sha1.New, integ)
	mac.Write(msg[:len(msg)-12])
	if !hmac.Equal(mac.Sum(nil)[:12], body[len(body)-12:]) {
		t.Fatal("ICV is not HMAC-SHA1-96 over header through ciphertext")
	}
	block, err := des.NewTripleDESCipher(enc)
	if err != nil {
		t.Fatal(err)
	}
	dec := make([]byte, 16)
	cipher.NewCBCDecrypter(block, body[:8]).CryptBlocks(dec, body[8:24])
	if !bytes.Equal(dec[:len(pt)], pt) || int(dec[15]) != 16-len(pt)-1 {
		t.Fatalf("plaintext %x", dec)
	}
	got, err := sk.Open(nil, aad, body)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// any flipped bit fails the constant-time ICV check before decryption
	for i := range body {
		bad := append([]byte(nil), body...)
		bad[i] ^= 1
		if _, err := sk.Open(nil, aad, bad); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("bit flipped in octet %d: %v", i, err)
		}
	}
}

func TestTripleDESKeys(t *testing.T) {
	integ := make([]byte, 20)
	key := func(k1, k2, k3 byte) []byte {
		return append(append(bytes.Repeat([]byte{k1}, 8), bytes.Repeat([]byte{k2}, 8)...), bytes.Repeat([]byte{k3}, 8)...)
	}
	// K1 = K2 or K2 = K3 is single DES (RFC 2451 2.3), also when only the
	// parity bits differ; K1 = K3 is two-key 3DES and allowed.
	for _, k := range [][]byte{key(2, 2, 4), key(2, 4, 4), key(2, 3, 4)} {
		if _, err := NewSKCipher(message.Encr3DES, 0, message.IntegHMACSHA196, k, integ, rand.Reader); err == nil {
			t.Errorf("degenerate key %x accepted", k)
		}
	}
	if _, err := NewSKCipher(message.Encr3DES, 0, message.IntegHMACSHA196, key(2, 4, 2), integ, rand.Reader); err != nil {
		t.Errorf("two-key 3DES: %v", err)
	}
	if _, err := EncrKeyLen(message.Encr3DES, 192); err == nil {
		t.Error("3DES with a key length attribute accepted")
	}
	if n, err := EncrKeyLen(message.Encr3DES, 0); n != 24 || err != nil {
		t.Errorf("EncrKeyLen(3DES) = %d, %v", n, err)
	}
	if _, err := NewSKCipher(message.Encr3DES, 0, message.IntegNone, key(2, 4, 6), nil, rand.Reader); err == nil {
		t.Error("3DES without integrity accepted")
	}
}

// The legacy transforms are in the table, marked Insecure, so Preferred
// leaves them out unless asked and they never enter defaults.
func TestLegacyTransformsInsecure(t *testing.T) {
	for _, tr := range []message.Transform{
		EncrTransform(message.Encr3DES, 0),
		IntegTransform(message.IntegHMACSHA196),
		PRFTransform(message.PRFHMACSHA1),
		KETransform(message.DHMODP1024),
		KETransform(message.DHMODP1536),
		KETransform(message.DHMODP2048S256),
	} {
		in, ok := Lookup(tr)
		if !ok || !in.Insecure || !Supported(message.ProtoIKE, tr) {
			t.Errorf("%s: in table %v, insecure %v", Name(tr), ok, in.Insecure)
		}
		for _, p := range Preferred(message.ProtoIKE, tr.Type, false) {
			if p == tr {
				t.Errorf("%s preferred without insecure", Name(tr))
			}
		}
		for _, ps := range [][]message.Proposal{DefaultIKE, DefaultESP} {
			for _, p := range ps {
				for _, d := range p.Transforms {
					if d == tr {
						t.Errorf("%s in a default proposal", Name(tr))
					}
				}
			}
		}
	}
	for _, g := range []message.DHGroup{message.DHECP256BP, message.DHECP384BP} {
		if Supported(message.ProtoIKE, KETransform(g)) {
			t.Errorf("%v supported", g)
		}
	}
	if got := Name(EncrTransform(message.Encr3DES, 0)); got != "3DES_CBC" {
		t.Errorf("name %q", got)
	}
}
