package message

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

func TestHeaderVector(t *testing.T) {
	// RFC 7296 3.1 Figure 4: an empty INFORMATIONAL response from the
	// original initiator, message ID 7.
	want := h(`0102030405060708 1112131415161718
		00 20 25 28 00000007 0000001c`)
	m := &Message{Header: Header{
		SPIi: 0x0102030405060708, SPIr: 0x1112131415161718,
		Exchange: Informational, Flags: FlagInitiator | FlagResponse, MessageID: 7,
	}}
	got, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encode:\n got %x\nwant %x", got, want)
	}
	back, err := DecodeMessage(want)
	if err != nil {
		t.Fatal(err)
	}
	wantH := m.Header
	wantH.MajorVersion, wantH.Length = 2, HeaderLen
	if back.Header != wantH || len(back.Payloads) != 0 {
		t.Fatalf("decode: %+v %v", back.Header, back.Payloads)
	}
	if !back.Header.IsResponse() || !back.Header.IsInitiator() {
		t.Error("flag accessors")
	}
	for i := range want {
		if _, err := DecodeMessage(want[:i]); !errors.Is(err, ErrSyntax) {
			t.Errorf("prefix %d: err = %v, want ErrSyntax", i, err)
		}
	}
}

// ikeSAInit returns an IKE_SA_INIT request like the ones strongSwan sends:
// three IKE proposals, an X25519 KE, a 32-byte nonce and four notifies.
func ikeSAInit() *Message {
	key := make([]byte, 32)
	nonce := make([]byte, 32)
	natd := make([]byte, 20)
	for i := range key {
		key[i] = byte(i)
		nonce[i] = byte(0xa0 + i)
	}
	for i := range natd {
		natd[i] = byte(0x50 + i)
	}
	prop := func(n uint8, encr EncrID, bits int, prf PRFID, g DHGroup) Proposal {
		return Proposal{Number: n, Protocol: ProtoIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: uint16(encr), KeyBits: bits},
			{Type: TransformPRF, ID: uint16(prf)},
			{Type: TransformKE, ID: uint16(g)},
		}}
	}
	return &Message{
		Header: Header{SPIi: 0x8a6f1c2d3e4f5061, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: Payloads{
			&SA{Proposals: []Proposal{
				prop(1, EncrAESGCM16, 256, PRFHMACSHA2256, DHCurve25519),
				prop(2, EncrAESGCM16, 128, PRFHMACSHA2256, DHECP256),
				{Number: 3, Protocol: ProtoIKE, Transforms: []Transform{
					{Type: TransformENCR, ID: uint16(EncrAESCBC), KeyBits: 256},
					{Type: TransformINTEG, ID: uint16(IntegHMACSHA2256128)},
					{Type: TransformPRF, ID: uint16(PRFHMACSHA2256)},
					{Type: TransformKE, ID: uint16(DHMODP3072)},
				}},
			}},
			&KE{Group: DHCurve25519, Data: key},
			&Nonce{Data: nonce},
			&Notify{NotifyType: NATDetectionSourceIP, Data: natd},
			&Notify{NotifyType: NATDetectionDestinationIP, Data: natd},
			&Notify{NotifyType: IKEv2FragmentationSupported},
			&Notify{NotifyType: SignatureHashAlgorithms, Data: EncodeHashAlgorithms([]HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity})},
		},
	}
}

func TestIKESAInitRoundTrip(t *testing.T) {
	m := ikeSAInit()
	wire, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Len(); n != len(wire) {
		t.Errorf("Len = %d, encoded %d", n, len(wire))
	}
	back, err := DecodeMessage(wire)
	if err != nil {
		t.Fatal(err)
	}
	if back.Header.NextPayload != PayloadSA || int(back.Header.Length) != len(wire) || back.Header.MajorVersion != 2 {
		t.Errorf("header: %+v", back.Header)
	}
	if !reflect.DeepEqual(back.Payloads, m.Payloads) {
		t.Errorf("payloads differ:\n got %#v\nwant %#v", back.Payloads, m.Payloads)
	}
	again, err := back.Encode()
	if err != nil || !bytes.Equal(again, wire) {
		t.Errorf("re-encode differs: %v", err)
	}
	// Decoded payloads alias Raw, a private copy of the input.
	if !bytes.Equal(back.Raw, wire) {
		t.Fatal("Raw differs from the input")
	}
	wire[len(wire)-1] ^= 0xff
	if back.Raw[len(back.Raw)-1] == wire[len(wire)-1] {
		t.Error("Raw aliases the caller's buffer")
	}
	if got := back.Payloads.Notify(SignatureHashAlgorithms); got == nil {
		t.Error("SIGNATURE_HASH_ALGORITHMS missing")
	}
	if back.AssociatedData() != nil {
		t.Error("AssociatedData of an unprotected message")
	}
}

// TestRawPreserved: bytes the codec normalises on encoding (RESERVED
// fields, unknown flag bits, the critical bit of known payloads) are kept
// verbatim in Raw, which is what IKE_AUTH signs.
func TestRawPreserved(t *testing.T) {
	in := h(`0102030405060708 0000000000000000
		2b 20 22 0c 00000000 00000026
		00 ff 000a 5ab1e5 5ab1e5`)
	m, err := DecodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Raw, in) {
		t.Errorf("Raw = %x", m.Raw)
	}
	if m.Header.Flags != 0x0c {
		t.Errorf("flags = %v, want reserved bit kept", m.Header.Flags)
	}
	re, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(re, in) {
		t.Error("re-encoding is expected to clear the RESERVED byte")
	}
	if re[HeaderLen+1] != 0 {
		t.Errorf("re-encoded RESERVED/critical = %#x", re[HeaderLen+1])
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	base := func(version, next byte, length int, rest string) []byte {
		b := h(`0102030405060708 0000000000000000`)
		b = append(b, next, version, 0x22, 0x08, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(length))
		return append(b, h(rest)...)
	}
	// Length field disagrees with the datagram, both ways.
	for _, l := range []int{27, 29, 0xffffffff} {
		m, err := DecodeMessage(base(0x20, 0, l, ""))
		if !errors.Is(err, ErrSyntax) || m == nil || m.Header.Exchange != IKESAInit {
			t.Errorf("length %d: m=%v err=%v, want header and ErrSyntax", l, m, err)
		}
	}
	// RFC 7296 3.1: major version 3 is answered, 1 is dropped; both
	// are a VersionError with the header available.
	for _, v := range []byte{0x30, 0x10} {
		m, err := DecodeMessage(base(v, 0, 28, ""))
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Major != v>>4 || m == nil || m.Header.SPIi != 0x0102030405060708 {
			t.Errorf("version %#x: err = %v", v, err)
		}
	}
	// A minor version above 0 is accepted (RFC 7296 2.5).
	if _, err := DecodeMessage(base(0x21, 0, 28, "")); err != nil {
		t.Errorf("version 2.1: %v", err)
	}
	// Critical unknown payload in the clear.
	_, err := DecodeMessage(base(0x20, 0xc8, 32, "00 80 0004"))
	var ce *UnsupportedCriticalError
	if !errors.As(err, &ce) || ce.Type != 0xc8 {
		t.Errorf("critical: err = %v", err)
	}
	// Bytes after the SK payload.
	if _, err := DecodeMessage(base(0x20, 0x2e, 34, "00 00 0004 0000")); !errors.Is(err, ErrSyntax) {
		t.Errorf("bytes after SK: err = %v", err)
	}
	// RFC 7383 2.5: fragment numbers are 1..Total.
	for _, frag := range []string{"0000 0001", "0001 0000", "0003 0002"} {
		if _, err := DecodeMessage(base(0x20, 0x35, 36, "00 00 0008"+frag)); !errors.Is(err, ErrSyntax) {
			t.Errorf("fragment %s: err = %v", frag, err)
		}
	}
	if _, err := DecodeMessage(nil); !errors.Is(err, ErrSyntax) {
		t.Errorf("empty: err = %v", err)
	}
}

// gcmSealer is a test-only AES-GCM-16 sealer laid out as RFC 5282 3:
// 8-byte explicit IV, nonce = 4-byte salt || IV, 16-byte ICV, and the
// RFC 7296 3.14 Pad Length octet (no padding needed for a stream mode).
type gcmSealer struct {
	aead cipher.AEAD
	salt [4]byte
	iv   uint64
}

func newGCMSealer(t testing.TB) *gcmSealer {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead: aead, salt: [4]byte{1, 2, 3, 4}, iv: 1}
}

func (g *gcmSealer) SealedLen(n int) int { return 8 + n + 1 + g.aead.Overhead() }

func (g *gcmSealer) Seal(aad, plaintext []byte) ([]byte, error) {
	var nonce [12]byte
	copy(nonce[:], g.salt[:])
	binary.BigEndian.PutUint64(nonce[4:], g.iv)
	g.iv++
	out := append(aad, nonce[4:]...)
	padded := append(bytes.Clone(plaintext), 0) // Pad Length 0
	return g.aead.Seal(out, nonce[:], padded, aad), nil
}

func (g *gcmSealer) open(aad, data []byte) ([]byte, error) {
	if len(data) < 8+1+g.aead.Overhead() {
		return nil, fmt.Errorf("short")
	}
	var nonce [12]byte
	copy(nonce[:], g.salt[:])
	copy(nonce[4:], data[:8])
	pt, err := g.aead.Open(nil, nonce[:], data[8:], aad)
	if err != nil {
		return nil, err
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, fmt.Errorf("bad padding")
	}
	return pt[:len(pt)-1-pad], nil
}

func ikeAuthInner() []Payload {
	return []Payload{
		&IDi{IDType: IDFQDN, Data: []byte("sun.strongswan.org")},
		&Notify{NotifyType: InitialContact},
		&IDr{IDType: IDFQDN, Data: []byte("moon.strongswan.org")},
		&Auth{Method: AuthSharedKey, Data: bytes.Repeat([]byte{0x42}, 32)},
		&Notify{NotifyType: UseTransportMode},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, SPI: []byte{0xc1, 0x2e, 0x4f, 0x01}, Transforms: []Transform{
			{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyBits: 256},
			{Type: TransformESN, ID: uint16(ESNNo)},
		}}}},
		&TSi{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, EndPort: 0xffff,
			Start: netip.MustParseAddr("192.168.0.1"), End: netip.MustParseAddr("192.168.0.1")}}},
		&TSr{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, EndPort: 0xffff,
			Start: netip.MustParseAddr("192.168.0.2"), End: netip.MustParseAddr("192.168.0.2")}}},
		&Notify{NotifyType: MOBIKESupported},
	}
}

// TestEncryptedRoundTrip walks the engine's path through the SK API:
// build inner payloads, seal with the final header as AAD, decode, open
// with AssociatedData, decode the inner chain.
func TestEncryptedRoundTrip(t *testing.T) {
	g := newGCMSealer(t)
	inner := ikeAuthInner()
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}}
	wire, err := m.EncodeEncrypted(inner, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(wire)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.NextPayload != PayloadSK || len(got.Payloads) != 1 {
		t.Fatalf("outer chain: %v %v", got.Header.NextPayload, got.Payloads)
	}
	sk := got.Encrypted()
	if sk == nil || sk.FirstInner != PayloadIDi || sk.Offset != HeaderLen {
		t.Fatalf("SK payload: %+v", sk)
	}
	aad := got.AssociatedData()
	if !bytes.Equal(aad, wire[:HeaderLen+4]) {
		t.Fatalf("AssociatedData = %x", aad)
	}
	pt, err := g.open(aad, sk.Data)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	back, err := DecodePayloads(sk.FirstInner, pt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(forgetRaw(back), Payloads(inner)) {
		t.Errorf("inner payloads differ:\n got %#v\nwant %#v", back, inner)
	}
	// Tampering with the header must break the ICV: it is in the AAD.
	bad := bytes.Clone(wire)
	bad[20]++ // message ID
	bm, err := DecodeMessage(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.open(bm.AssociatedData(), bm.Encrypted().Data); err == nil {
		t.Error("opened a message with a modified header")
	}
	// A sealed message re-encodes verbatim, e.g. for retransmission.
	if again, err := got.Encode(); err != nil || !bytes.Equal(again, wire) {
		t.Errorf("re-encode of sealed message differs: %v", err)
	}
}

// TestTwoStepEncrypted checks AppendSKHeader against EncodeEncrypted, with
// an unencrypted payload before SK and an empty inner chain (the liveness
// check of RFC 7296 1.4).
func TestTwoStepEncrypted(t *testing.T) {
	m := &Message{
		Header:   Header{SPIi: 1, SPIr: 2, Exchange: Informational, MessageID: 5},
		Payloads: Payloads{&VendorID{Data: []byte("x")}},
	}
	g := newGCMSealer(t)
	sealed := g.SealedLen(0)
	prefix, err := m.AppendSKHeader(nil, PayloadNone, sealed)
	if err != nil {
		t.Fatal(err)
	}
	want := h(`0000000000000001 0000000000000002
		2b 20 25 00 00000005 0000003e
		2e 00 0005 78
		00 00 001d`)
	if !bytes.Equal(prefix, want) {
		t.Fatalf("prefix:\n got %x\nwant %x", prefix, want)
	}
	full, err := g.Seal(prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.iv = 1
	viaOne, err := m.EncodeEncrypted(nil, g)
	if err != nil || !bytes.Equal(full, viaOne) {
		t.Fatalf("two-step and one-step differ: %v\n%x\n%x", err, full, viaOne)
	}
	d, err := DecodeMessage(full)
	if err != nil {
		t.Fatal(err)
	}
	if sk := d.Encrypted(); sk == nil || sk.FirstInner != PayloadNone || sk.Offset != HeaderLen+5 {
		t.Fatalf("SK = %+v", d.Encrypted())
	}
	pt, err := g.open(d.AssociatedData(), d.Encrypted().Data)
	if err != nil || len(pt) != 0 {
		t.Fatalf("open: %x %v", pt, err)
	}
	if ps, err := DecodePayloads(PayloadNone, pt); err != nil || len(ps) != 0 {
		t.Fatalf("empty inner chain: %v %v", ps, err)
	}
}

func TestFragmentRoundTrip(t *testing.T) {
	g := newGCMSealer(t)
	plain, err := EncodePayloads(ikeAuthInner())
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}}
	const total = 3
	chunk := (len(plain) + total - 1) / total
	var got []byte
	for i := uint16(1); i <= total; i++ {
		part := plain[int(i-1)*chunk : min(int(i)*chunk, len(plain))]
		first := PayloadNone
		if i == 1 {
			first = PayloadIDi
		}
		wire, err := m.EncodeFragment(first, i, total, part, g)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeMessage(wire)
		if err != nil {
			t.Fatal(err)
		}
		f := d.Fragment()
		if f == nil || f.Number != i || f.Total != total || f.FirstInner != first {
			t.Fatalf("fragment %d: %+v", i, f)
		}
		// RFC 7383 2.5: the AAD runs through Total Fragments.
		if aad := d.AssociatedData(); !bytes.Equal(aad, wire[:HeaderLen+8]) {
			t.Fatalf("fragment %d AAD = %x", i, aad)
		}
		pt, err := g.open(d.AssociatedData(), f.Data)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		got = append(got, pt...)
		if again, err := d.Encode(); err != nil || !bytes.Equal(again, wire) {
			t.Errorf("fragment %d re-encode differs: %v", i, err)
		}
	}
	ps, err := DecodePayloads(PayloadIDi, got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(forgetRaw(ps), Payloads(ikeAuthInner())) {
		t.Error("reassembled payloads differ")
	}
	if _, err := m.EncodeFragment(PayloadNone, 0, 1, nil, g); err == nil {
		t.Error("fragment number 0 accepted")
	}
	if _, err := m.AppendSKFHeader(nil, PayloadNone, 3, 2, 0); err == nil {
		t.Error("fragment 3 of 2 accepted")
	}
}

type lyingSealer struct{ gcmSealer }

func (l *lyingSealer) SealedLen(n int) int { return l.gcmSealer.SealedLen(n) + 1 }

func TestSealerLengthChecked(t *testing.T) {
	l := &lyingSealer{*newGCMSealer(t)}
	m := &Message{Header: Header{Exchange: Informational}}
	if _, err := m.EncodeEncrypted(nil, l); err == nil {
		t.Fatal("a sealer that lies about its length was accepted")
	}
	// SK must be last, and only once.
	m.Payloads = Payloads{&Encrypted{}, &VendorID{}}
	if _, err := m.Encode(); err == nil {
		t.Error("SK before another payload accepted")
	}
	m.Payloads = Payloads{&Encrypted{}}
	if _, err := m.AppendSKHeader(nil, PayloadNone, 0); err == nil {
		t.Error("SK header appended after an SK payload")
	}
}

// TestMessageNoStrictPrefixParses cuts every seed message short and also
// rewrites the header Length to the cut length, so that the payload chain
// itself has to notice the truncation.
func TestMessageNoStrictPrefixParses(t *testing.T) {
	for _, s := range messageSeeds(t) {
		for i := range s.data {
			if _, err := DecodeMessage(s.data[:i]); err == nil {
				t.Errorf("%s: prefix of %d/%d bytes parsed", s.name, i, len(s.data))
			}
			if i < HeaderLen {
				continue
			}
			b := bytes.Clone(s.data[:i])
			binary.BigEndian.PutUint32(b[24:], uint32(i))
			m, err := DecodeMessage(b)
			if i == HeaderLen && s.data[16] == 0 {
				continue // an empty message is complete at 28 bytes
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("%s: prefix of %d/%d bytes with fixed length: err = %v", s.name, i, len(s.data), err)
			}
			if m == nil || m.Header.Exchange != ExchangeType(s.data[18]) {
				t.Errorf("%s: header not returned with the error", s.name)
			}
		}
	}
}

func TestDescribe(t *testing.T) {
	m := ikeSAInit()
	want := "IKE_SA_INIT request 0 [ SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) ]"
	if got := m.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	r := &Message{Header: Header{Exchange: Informational, Flags: FlagResponse, MessageID: 4294967295}}
	if got, want := r.String(), "INFORMATIONAL response 4294967295 [ ]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNotifyDataHelpers(t *testing.T) {
	n := (&UnsupportedCriticalError{Type: 200}).Notify()
	if n.NotifyType != UnsupportedCriticalPayload || !bytes.Equal(n.Data, []byte{200}) {
		t.Errorf("UNSUPPORTED_CRITICAL_PAYLOAD notify = %+v", n)
	}
	if d := InvalidKEData(DHECP256); !bytes.Equal(d, []byte{0, 19}) {
		t.Errorf("INVALID_KE_PAYLOAD data = %x", d)
	}
	if g, err := DecodeInvalidKEData([]byte{0, 31}); err != nil || g != DHCurve25519 {
		t.Errorf("decode = %v, %v", g, err)
	}
	if _, err := DecodeInvalidKEData([]byte{0}); !errors.Is(err, ErrSyntax) {
		t.Errorf("short data: err = %v", err)
	}
}
