package keymat

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

func mustPRF(t testing.TB, id message.PRFID) *suite.PRF {
	t.Helper()
	p, err := suite.NewPRF(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NIST CAVP SP 800-135 IKEv2 KDF sample vectors, from the CAVP component
// test file ikev2.zip (https://csrc.nist.gov/CSRC/media/Projects/
// Cryptographic-Algorithm-Validation-Program/documents/components/
// 800-135testvectors/ikev2.zip). The CAVP test computes:
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//	DKM(Child SA) = prf+(SK_d, Ni | Nr)               SK_d = first block of DKM
//	DKM(Child SA D-H) = prf+(SK_d, g^ir (new) | Ni | Nr)
//	SKEYSEED(Rekey) = prf(SK_d, g^ir (new) | Ni | Nr)
type cavp struct {
	name                          string
	prf                           message.PRFID
	ni, nr, gir, girNew, spi, spr string
	skeyseed, dkm                 string
	dkmChild, dkmChildDH          string // empty: not in the source
	skeyseedRekey                 string
	skd                           string // SK_d when the source gives it instead of a child DKM
}

var cavpVectors = []cavp{
	{
		// [SHA-1], [Ni length = 64], [Nr length = 64], [g^ir length = 1024],
		// [DKM length = 1056], [Child SA DKM length = 1056], COUNT = 0.
		name: "SHA-1 COUNT 0",
		prf:  message.PRFHMACSHA1,
		ni:   "3651fef5c9c35e93",
		nr:   "c09a8b90a3f04d59",
		gir: `d084a30166a50fb7325c3960874a839449ef9741c2f4f947d0201dd8c1269273d79509f37e3ca3eb4fa2fe2a28254e28
		9cd3f34dad4eb4df1a07685a4b8a94fa61e2491f7598b3ce65547ff133b3f63d1ac4175eaa695033f3cedb026a6873a3
		6455172a8540b8a5d23a0143bed0390ee49b168269d75fffee9fb62be965993c`,
		girNew: `52f00ab174c25d5b7139ae5ff4e8e9eddee5992d2e36adf8a559ffd90dab1442e4fbe429d320c0f33552a17d1557fa41
		ea70e8fb916c4fa27ed52b5f8ebd8461afa78f1159159a64055ac5f6319e29c28eae58cbc6847770f32c3fed1d047504
		84f854790f95e9ec01bc5bc461f24966462e359511329305038e94deb6dd42c2`,
		spi:      "8e5c3ae507221684",
		spr:      "b1f201bb155c3acd",
		skeyseed: "cd2e8050137832245f1dbacc6e4f0a92f94d45d6",
		dkm: `6f1b12cad3cbe097b35430356d869d54cddb0198ec859174d53ceb92dddedbe2436db69f60977c58fa63bbb667f8d369
		20b109baae8f6c61a9ac49feda01843225d080ec5539d5881a25521ffb2a0a91874a9c0a27fcc2d717eb8963a9e3a89c
		7ab264757284c28cf8c3ca40576f4220b052b1fb8e9ad60ba3c80557323331a8cbb89f20`,
		dkmChild: `4727dc0ef94eb326ce131cf282fb652faa638ad0ddae3786a11bcc0309876009f8c485de011ad962c5b1ca8a41ff8145
		445749079c5686e26ffebbc342f06981f3da745e11ca0976424d1f8caec623d59dc7186deb20a27b411d1dcb70a36544
		0bf7de905088b0692e8addc094e18d1939bdb67e89798ca6b239e2ccb81c2409dac0106c`,
		dkmChildDH: `b109c21ad4c0797768c1cec9e63554681e48f224bca7f23c20c4ea7041983451e9aa1d5408656c8a975ff1b9d9a12c75
		ffeb64bdecb30174664cccb4e14f1c377b7f6d1525af77c7092aac3e47f917ebae8297fb5539d2008ce830823a09cc19
		7361d4a289c72745f6ce9fefe812be5bf55b3200fbb82e41a4a40877d3fe106db909707b`,
		skeyseedRekey: "3b03bce748c96d5e8306918d2ff89b68f0648da3",
	},
	{
		// [SHA-256] sample, as embedded in NSS
		// (gtests/common/testvectors/ike-sha256-vectors.h, vectors 6-8,
		// "these vectors are from this NIST samples"). The source gives
		// SKEYSEED, DKM and the rekey SKEYSEED, not the child DKMs.
		name:     "SHA-256 NSS 6-8",
		prf:      message.PRFHMACSHA2256,
		ni:       "3f302be1abcb28e1",
		nr:       "8c332ee006064c9b",
		gir:      "0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29",
		girNew:   "25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c",
		spi:      "40dac39e1e1a8640",
		spr:      "8619a1cf9a6e4c07",
		skeyseed: "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe",
		dkm: `0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ece98aca531188d16041b3bb936d2dbb3b
		4993a6e768a809160de45d0283f273a6cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4
		e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986d12d4aad`,
		skeyseedRekey: "2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398",
	},
}

func TestCAVPIKEv2(t *testing.T) {
	for _, v := range cavpVectors {
		t.Run(v.name, func(t *testing.T) {
			prf := mustPRF(t, v.prf)
			ni, nr := unhex(t, v.ni), unhex(t, v.nr)
			gir, girNew := unhex(t, v.gir), unhex(t, v.girNew)
			spi, spr := unhex(t, v.spi), unhex(t, v.spr)

			skeyseed := SKEYSEED(prf, ni, nr, gir)
			if want := unhex(t, v.skeyseed); !bytes.Equal(skeyseed, want) {
				t.Fatalf("SKEYSEED = %x, want %x", skeyseed, want)
			}
			want := unhex(t, v.dkm)
			seed := append(append(append(append([]byte{}, ni...), nr...), spi...), spr...)
			dkm, err := PRFPlus(prf, skeyseed, seed, len(want))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dkm, want) {
				t.Fatalf("DKM = %x, want %x", dkm, want)
			}
			skd := dkm[:prf.Size()]
			if v.dkmChild != "" {
				want := unhex(t, v.dkmChild)
				got, err := PRFPlus(prf, skd, append(append([]byte{}, ni...), nr...), len(want))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("DKM(Child SA) = %x, %v; want %x", got, err, want)
				}
			}
			if v.dkmChildDH != "" {
				want := unhex(t, v.dkmChildDH)
				got, err := PRFPlus(prf, skd, append(append(append([]byte{}, girNew...), ni...), nr...), len(want))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("DKM(Child SA D-H) = %x, %v; want %x", got, err, want)
				}
			}
			if got, want := RekeySKEYSEED(prf, skd, girNew, ni, nr), unhex(t, v.skeyseedRekey); !bytes.Equal(got, want) {
				t.Fatalf("SKEYSEED(Rekey) = %x, want %x", got, want)
			}
		})
	}
}

// The CAVP DKM is the concatenation DeriveIKE splits: check the split
// offsets with the SHA-256 vector for AES-CBC-128/HMAC-SHA2-256-128 and
// AES-GCM-256.
func TestDeriveIKESplit(t *testing.T) {
	v := cavpVectors[1]
	ni, nr, spi, spr := unhex(t, v.ni), unhex(t, v.nr), unhex(t, v.spi), unhex(t, v.spr)
	prf := mustPRF(t, message.PRFHMACSHA2256)
	for _, s := range []suite.Suite{
		{Protocol: message.ProtoIKE, Encr: message.EncrAESCBC, EncrKeyBits: 128, Integ: message.IntegHMACSHA2256128, PRF: message.PRFHMACSHA2256, KE: message.DHECP256},
		{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2256, KE: message.DHECP256},
	} {
		k, err := NewIKE(s, unhex(t, v.gir), ni, nr, spi, spr)
		if err != nil {
			t.Fatal(err)
		}
		elen, _ := s.EncrKeyLen()
		ilen, _ := s.IntegKeyLen()
		seed := append(append(append(append([]byte{}, ni...), nr...), spi...), spr...)
		all, _ := PRFPlus(prf, unhex(t, v.skeyseed), seed, 3*32+2*elen+2*ilen)
		got := bytes.Join([][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}, nil)
		if !bytes.Equal(got, all) {
			t.Fatalf("%s: keys are not prf+ output in order", s)
		}
		if len(k.SKd) != 32 || len(k.SKpi) != 32 || len(k.SKpr) != 32 || len(k.SKei) != elen || len(k.SKai) != ilen {
			t.Fatalf("%s: lengths d=%d pi=%d pr=%d e=%d a=%d", s, len(k.SKd), len(k.SKpi), len(k.SKpr), len(k.SKei), len(k.SKai))
		}
		// Whatever the split, SK_d starts the DKM: the CAVP vector's.
		if !bytes.Equal(k.SKd, unhex(t, v.dkm)[:32]) {
			t.Fatalf("SK_d = %x", k.SKd)
		}
	}
	if s := (suite.Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}); true {
		if n, _ := s.EncrKeyLen(); n != 36 {
			t.Fatalf("AES-GCM-256 SK_e is %d octets, want 36 (RFC 5282 7.1)", n)
		}
	}
}

func TestRekeyIKEUsesOldPRF(t *testing.T) {
	v := cavpVectors[1]
	ni, nr, spi, spr := unhex(t, v.ni), unhex(t, v.nr), unhex(t, v.spi), unhex(t, v.spr)
	oldSKd := unhex(t, v.dkm)[:32]
	newSuite := suite.Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}
	k, err := RekeyIKE(mustPRF(t, message.PRFHMACSHA2256), oldSKd, newSuite, unhex(t, v.girNew), ni, nr, spi, spr)
	if err != nil {
		t.Fatal(err)
	}
	// SKEYSEED is the CAVP SHA-256 rekey value (old PRF); the split uses
	// the new PRF, so SK_d is 48 octets of HMAC-SHA-384 prf+.
	skeyseed := unhex(t, v.skeyseedRekey)
	want, err := DeriveIKE(newSuite, skeyseed, ni, nr, spi, spr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.SKd, want.SKd) || len(k.SKd) != 48 || !bytes.Equal(k.SKer, want.SKer) {
		t.Fatalf("rekeyed SK_d %x, want %x", k.SKd, want.SKd)
	}
}

func TestPRFPlusLimits(t *testing.T) {
	prf := mustPRF(t, message.PRFHMACSHA2256)
	if _, err := PRFPlus(prf, []byte("k"), nil, 255*32); err != nil {
		t.Fatalf("255 blocks: %v", err)
	}
	if _, err := PRFPlus(prf, []byte("k"), nil, 255*32+1); err == nil {
		t.Fatal("256 blocks accepted")
	}
	if _, err := PRFPlus(prf, []byte("k"), nil, -1); err == nil {
		t.Fatal("negative length accepted")
	}
	// Prefixes agree: asking for less gives the start of more.
	a, _ := PRFPlus(prf, []byte("k"), []byte("s"), 100)
	b, _ := PRFPlus(prf, []byte("k"), []byte("s"), 33)
	if !bytes.Equal(a[:33], b) {
		t.Fatal("prf+ output depends on the requested length")
	}
}

// CHILD_SA keys: split order of RFC 7296 2.17 checked against the CAVP
// child DKM (SHA-1 vector), for AES-CBC-128 + HMAC-SHA2-256-128 (16+32 per
// direction) and ESP AES-GCM-128 (16-octet key + 4-octet salt).
func TestDeriveChild(t *testing.T) {
	v := cavpVectors[0]
	prf := mustPRF(t, message.PRFHMACSHA1)
	ni, nr := unhex(t, v.ni), unhex(t, v.nr)
	skd := unhex(t, v.dkm)[:20]
	for _, c := range []struct {
		s          suite.Suite
		gir        []byte
		want       string
		elen, ilen int
	}{
		{suite.Suite{Protocol: message.ProtoESP, Encr: message.EncrAESCBC, EncrKeyBits: 128, Integ: message.IntegHMACSHA2256128}, nil, v.dkmChild, 16, 32},
		{suite.Suite{Protocol: message.ProtoESP, Encr: message.EncrAESGCM16, EncrKeyBits: 128}, unhex(t, v.girNew), v.dkmChildDH, 20, 0},
	} {
		k, err := DeriveChild(prf, skd, c.s, c.gir, ni, nr)
		if err != nil {
			t.Fatal(err)
		}
		got := bytes.Join([][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR}, nil)
		if want := unhex(t, c.want)[:2*(c.elen+c.ilen)]; !bytes.Equal(got, want) {
			t.Fatalf("%s: KEYMAT %x, want %x", c.s, got, want)
		}
		if len(k.EncrI) != c.elen || len(k.IntegI) != c.ilen || len(k.EncrR) != c.elen || len(k.IntegR) != c.ilen {
			t.Fatalf("%s: key lengths %d %d %d %d", c.s, len(k.EncrI), len(k.IntegI), len(k.EncrR), len(k.IntegR))
		}
		k.Clear()
		if !bytes.Equal(k.EncrI, make([]byte, c.elen)) {
			t.Fatal("Clear left key material")
		}
	}
	if _, err := DeriveChild(prf, skd, suite.Suite{Protocol: message.ProtoIKE}, nil, ni, nr); err == nil {
		t.Fatal("IKE suite accepted for a CHILD_SA")
	}
}

// PSK AUTH, cross-checked with crypto/hmac directly (RFC 7296 2.15 has no
// test vector; the value below was computed independently of keymat).
func TestPSKAuth(t *testing.T) {
	prf := mustPRF(t, message.PRFHMACSHA2256)
	msg1 := []byte("IKE_SA_INIT request as sent")
	nr := []byte("responder nonce data")
	skpi := bytes.Repeat([]byte{7}, 32)
	idBody := []byte{byte(message.IDFQDN), 0, 0, 0, 'm', 'o', 'o', 'n'}
	psk := []byte("secret")

	h := func(k []byte, d ...[]byte) []byte {
		m := hmac.New(sha256.New, k)
		for _, x := range d {
			m.Write(x)
		}
		return m.Sum(nil)
	}
	wantOctets := append(append(append([]byte{}, msg1...), nr...), h(skpi, idBody)...)
	octets := SignedOctets(prf, msg1, nr, skpi, idBody)
	if !bytes.Equal(octets, wantOctets) {
		t.Fatal("signed octets differ from RealMessage | Nonce | prf(SK_p, ID)")
	}
	want := h(h(psk, []byte("Key Pad for IKEv2")), wantOctets)
	auth := PSKAuth(prf, psk, octets)
	if !bytes.Equal(auth, want) {
		t.Fatalf("AUTH %x, want %x", auth, want)
	}
	if !VerifyPSKAuth(prf, psk, octets, auth) {
		t.Fatal("valid AUTH rejected")
	}
	bad := append([]byte(nil), auth...)
	bad[len(bad)-1] ^= 1
	for name, c := range map[string]struct{ psk, octets, auth []byte }{
		"flipped":   {psk, octets, bad},
		"truncated": {psk, octets, auth[:16]},
		"empty":     {psk, octets, nil},
		"wrong psk": {[]byte("Secret"), octets, auth},
		"other msg": {psk, append([]byte("x"), octets...), auth},
	} {
		if VerifyPSKAuth(prf, c.psk, c.octets, c.auth) {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Both ends derive the same keys and the ciphers interoperate: the
// initiator's out opens with the responder's in, and not with its own in.
func TestCiphersRoles(t *testing.T) {
	s := suite.Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}
	ki, err := s.NewKeyExchange(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := s.NewKeyExchange(rand.Reader)
	gi, _ := ki.SharedSecret(kr.Public())
	gr, _ := kr.SharedSecret(ki.Public())
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	spi, spr := []byte{1, 1, 1, 1, 1, 1, 1, 1}, []byte{2, 2, 2, 2, 2, 2, 2, 2}
	a, err := NewIKE(s, gi, ni, nr, spi, spr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIKE(s, gr, ni, nr, spi, spr)
	iOut, iIn, err := a.Ciphers(s, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rOut, rIn, _ := b.Ciphers(s, false, rand.Reader)
	aad := []byte("header")
	msg, _ := iOut.Seal(append([]byte(nil), aad...), []byte("IDi AUTH SA TSi TSr"))
	if pt, err := rIn.Open(nil, aad, msg[len(aad):]); err != nil || string(pt) != "IDi AUTH SA TSi TSr" {
		t.Fatalf("responder cannot open the initiator's message: %v", err)
	}
	if _, err := iIn.Open(nil, aad, msg[len(aad):]); err == nil {
		t.Fatal("initiator's inbound cipher opened its own outbound message")
	}
	msg, _ = rOut.Seal(append([]byte(nil), aad...), []byte("IDr AUTH"))
	if pt, err := iIn.Open(nil, aad, msg[len(aad):]); err != nil || string(pt) != "IDr AUTH" {
		t.Fatalf("initiator cannot open the responder's message: %v", err)
	}
}

func TestDeriveIKERejects(t *testing.T) {
	s := suite.Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}
	if _, err := DeriveIKE(s, []byte("seed"), nil, nil, []byte{1}, make([]byte, 8)); err == nil {
		t.Fatal("short SPI accepted")
	}
	s.Protocol = message.ProtoESP
	if _, err := DeriveIKE(s, []byte("seed"), nil, nil, make([]byte, 8), make([]byte, 8)); err == nil {
		t.Fatal("ESP suite accepted")
	}
}

func BenchmarkDeriveIKE(b *testing.B) {
	s := suite.Suite{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384}
	gir := make([]byte, 48)
	ni, nr := make([]byte, 32), make([]byte, 32)
	spi := make([]byte, 8)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewIKE(s, gir, ni, nr, spi, spi); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckNonce(t *testing.T) {
	p512 := mustPRF(t, message.PRFHMACSHA2512)
	for _, c := range []struct {
		prf *suite.PRF
		n   int
		ok  bool
	}{
		{nil, 15, false}, {nil, 16, true}, {nil, 256, true}, {nil, 257, false},
		{p512, 31, false}, {p512, 32, true}, {p512, NonceLen, true},
	} {
		if err := CheckNonce(c.prf, make([]byte, c.n)); (err == nil) != c.ok {
			t.Errorf("%d octets: err = %v", c.n, err)
		}
	}
}
