package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// h decodes hex written with spaces and newlines for readability.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// forgetRaw clears the received-bytes copies kept by ID payloads so that
// decoded payloads compare equal to constructed ones.
func forgetRaw(ps Payloads) Payloads {
	for _, p := range ps {
		switch p := p.(type) {
		case *IDi:
			p.raw = nil
		case *IDr:
			p.raw = nil
		}
	}
	return ps
}

// payloadVectors are single payloads (generic header included, Next Payload
// 0) written byte by byte from the RFC 7296 section 3 figures.
var payloadVectors = []struct {
	name string
	hex  string
	p    Payload
}{
	{
		// RFC 7296 3.3 Figure 6 (SA), 3.3.1 Figure 7 (Proposal),
		// 3.3.2 Figure 8 (Transform), 3.3.5 Figure 9 (Attribute).
		name: "SA IKE and ESP proposals",
		hex: `
			00 00 0048
			02 00 0024 01 01 00 03
				03 00 000c 01 00 0014 800e 0100
				03 00 0008 02 00 0005
				00 00 0008 04 00 001f
			00 00 0020 02 03 04 02 01020304
				03 00 000c 01 00 0014 800e 0080
				00 00 0008 05 00 0000`,
		p: &SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyBits: 256},
				{Type: TransformPRF, ID: uint16(PRFHMACSHA2256)},
				{Type: TransformKE, ID: uint16(DHCurve25519)},
			}},
			{Number: 2, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyBits: 128},
				{Type: TransformESN, ID: uint16(ESNNo)},
			}},
		}},
	},
	{
		// RFC 7296 3.4 Figure 10.
		name: "KE",
		hex:  `00 00 000c 001f 0000 deadbeef`,
		p:    &KE{Group: DHCurve25519, Data: h("deadbeef")},
	},
	{
		// RFC 7296 3.5 Figure 11.
		name: "IDi FQDN",
		hex:  `00 00 000c 02 000000 6d6f6f6e`,
		p:    &IDi{IDType: IDFQDN, Data: []byte("moon")},
	},
	{
		name: "IDr IPv4",
		hex:  `00 00 000c 01 000000 c0000201`,
		p:    &IDr{IDType: IDIPv4, Data: []byte{192, 0, 2, 1}},
	},
	{
		// RFC 7296 3.6 Figure 12.
		name: "CERT",
		hex:  `00 00 0007 04 3082`,
		p:    &Cert{Encoding: CertX509Signature, Data: h("3082")},
	},
	{
		// RFC 7296 3.7 Figure 13: one SHA-1 hash of a CA public key.
		name: "CERTREQ",
		hex:  `00 00 0019 04 000102030405060708090a0b0c0d0e0f10111213`,
		p:    &CertReq{Encoding: CertX509Signature, Data: h("000102030405060708090a0b0c0d0e0f10111213")},
	},
	{
		// RFC 7296 3.8 Figure 14.
		name: "AUTH",
		hex:  `00 00 000c 02 000000 01020304`,
		p:    &Auth{Method: AuthSharedKey, Data: h("01020304")},
	},
	{
		// RFC 7296 3.9 Figure 15, shortest allowed nonce.
		name: "Nonce",
		hex:  `00 00 0014 000102030405060708090a0b0c0d0e0f`,
		p:    &Nonce{Data: h("000102030405060708090a0b0c0d0e0f")},
	},
	{
		// RFC 7296 3.10 Figure 16, IKE SA notification without SPI.
		name: "Notify NAT_DETECTION_SOURCE_IP",
		hex:  `00 00 001c 00 00 4004 000102030405060708090a0b0c0d0e0f10111213`,
		p:    &Notify{NotifyType: NATDetectionSourceIP, Data: h("000102030405060708090a0b0c0d0e0f10111213")},
	},
	{
		// RFC 7296 3.10 Figure 16 with an ESP SPI (REKEY_SA, 2.8).
		name: "Notify REKEY_SA",
		hex:  `00 00 000c 03 04 4009 aabbccdd`,
		p:    &Notify{Protocol: ProtoESP, NotifyType: RekeySA, SPI: h("aabbccdd")},
	},
	{
		// RFC 7296 3.11 Figure 17, two ESP SPIs.
		name: "Delete ESP",
		hex:  `00 00 0010 03 04 0002 11111111 22222222`,
		p:    &Delete{Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{h("11111111"), h("22222222")}},
	},
	{
		// RFC 7296 3.11: deleting the IKE SA carries no SPI.
		name: "Delete IKE",
		hex:  `00 00 0008 01 00 0000`,
		p:    &Delete{Protocol: ProtoIKE},
	},
	{
		// RFC 7296 3.12 Figure 18.
		name: "Vendor ID",
		hex:  `00 00 0008 882fe56d`,
		p:    &VendorID{Data: h("882fe56d")},
	},
	{
		// RFC 7296 3.13 Figure 19, 3.13.1 Figure 20 (IPv4 range, TCP).
		name: "TSi IPv4",
		hex: `00 00 0018 01 000000
			07 06 0010 0000 ffff c0000200 c00002ff`,
		p: &TSi{Selectors: []TrafficSelector{{
			Type: TSIPv4AddrRange, IPProtocol: 6, StartPort: 0, EndPort: 0xffff,
			Start: netip.MustParseAddr("192.0.2.0"), End: netip.MustParseAddr("192.0.2.255"),
		}}},
	},
	{
		// RFC 7296 3.13.1 Figure 20 (IPv6 range, any protocol), and a
		// second selector of a type the codec keeps opaque (RFC 9478).
		name: "TSr IPv6 and opaque",
		hex: `00 00 0036 02 000000
			08 00 0028 0000 ffff
				20010db8000000000000000000000000
				20010db8ffffffffffffffffffffffff
			0a 00 0006 abcd`,
		p: &TSr{Selectors: []TrafficSelector{
			{
				Type: TSIPv6AddrRange, EndPort: 0xffff,
				Start: netip.MustParseAddr("2001:db8::"), End: netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
			},
			{Type: TSSecLabel, Opaque: h("abcd")},
		}},
	},
	{
		// RFC 7296 3.15 Figure 22, 3.15.1 Figure 23: a CFG_REQUEST
		// asking for an address and a DNS server (empty values).
		name: "CP request",
		hex:  `00 00 0010 01 000000 0001 0000 0003 0000`,
		p: &Config{CfgType: CfgRequest, Attributes: []ConfigAttribute{
			{Type: InternalIP4Address}, {Type: InternalIP4DNS},
		}},
	},
	{
		name: "CP reply",
		hex:  `00 00 0010 02 000000 0001 0004 c0000264`,
		p: &Config{CfgType: CfgReply, Attributes: []ConfigAttribute{
			{Type: InternalIP4Address, Value: []byte{192, 0, 2, 100}},
		}},
	},
	{
		// RFC 7296 3.16 Figure 24 carrying an RFC 3748 5.1
		// Identity Response "moon".
		name: "EAP",
		hex:  `00 00 000d 02 01 0009 01 6d6f6f6e`,
		p:    &EAP{Data: h("02 01 0009 01 6d6f6f6e")},
	},
	{
		// RFC 7296 3.2 Figure 5: an unknown, non-critical payload type
		// from the private use range is kept raw.
		name: "unknown non-critical",
		hex:  `00 00 0006 0102`,
		p:    &Unknown{PayloadType: 200, Data: h("0102")},
	},
}

func TestPayloadVectors(t *testing.T) {
	for _, v := range payloadVectors {
		t.Run(v.name, func(t *testing.T) {
			want := h(v.hex)
			got, err := EncodePayloads([]Payload{v.p})
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode:\n got %x\nwant %x", got, want)
			}
			ps, err := DecodePayloads(v.p.Type(), want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			forgetRaw(ps)
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], v.p) {
				t.Errorf("decode:\n got %#v\nwant %#v", ps[0], v.p)
			}
		})
	}
}

// TestNoStrictPrefixParses: every strict prefix of every vector is
// rejected, as a syntax error, never a panic.
func TestNoStrictPrefixParses(t *testing.T) {
	for _, v := range payloadVectors {
		full := h(v.hex)
		for i := range full {
			if _, err := DecodePayloads(v.p.Type(), full[:i]); !errors.Is(err, ErrSyntax) {
				t.Errorf("%s: prefix of %d/%d bytes: err = %v, want ErrSyntax", v.name, i, len(full), err)
			}
		}
	}
}

// TestNoStrictBodyPrefixParses truncates the body of payloads with inner
// counts and lengths while fixing up the generic header, so the inner
// structure itself must notice.
func TestNoStrictBodyPrefixParses(t *testing.T) {
	for _, v := range payloadVectors {
		switch v.p.Type() {
		case PayloadSA, PayloadTSi, PayloadTSr, PayloadDelete:
		default:
			continue
		}
		full := h(v.hex)
		for i := genericHeaderLen; i < len(full); i++ {
			b := bytes.Clone(full[:i])
			b[2], b[3] = byte(i>>8), byte(i)
			if _, err := DecodePayloads(v.p.Type(), b); !errors.Is(err, ErrSyntax) {
				t.Errorf("%s: body prefix of %d/%d bytes: err = %v, want ErrSyntax", v.name, i, len(full), err)
			}
		}
	}
}

func TestChainNextPayload(t *testing.T) {
	ps := []Payload{
		&Notify{NotifyType: InitialContact},
		&IDi{IDType: IDFQDN, Data: []byte("a")},
		&Auth{Method: AuthSharedKey, Data: []byte{1}},
	}
	got, err := EncodePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7296 3.2: each Next Payload names the following payload.
	want := h(`23 00 0008 00 00 4000
		27 00 0009 02 000000 61
		00 00 0009 02 000000 01`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	back, err := DecodePayloads(PayloadNotify, got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(forgetRaw(back), Payloads(ps)) {
		t.Fatalf("round trip: %#v", back)
	}
	if n := back.Notify(InitialContact); n == nil {
		t.Error("Notify(INITIAL_CONTACT) not found")
	}
	if back.First(PayloadAUTH) != back[2] || back.Count(PayloadIDi) != 1 || len(back.Notifies()) != 1 {
		t.Error("payload lookups disagree with the chain")
	}
}

func TestRestOfIDPayload(t *testing.T) {
	// A peer that sets the RESERVED bytes (RFC 7296 3.5 says ignore them)
	// must still get its AUTH verified over the bytes it sent.
	in := h(`00 00 000c 02 010203 6d6f6f6e`)
	ps, err := DecodePayloads(PayloadIDi, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].(*IDi).RestOfPayload(); !bytes.Equal(got, in[4:]) {
		t.Errorf("received RestOfPayload = %x, want %x", got, in[4:])
	}
	local := &IDr{IDType: IDFQDN, Data: []byte("moon")}
	if got, want := local.RestOfPayload(), h("02000000 6d6f6f6e"); !bytes.Equal(got, want) {
		t.Errorf("local RestOfPayload = %x, want %x", got, want)
	}
}

func TestPayloadErrors(t *testing.T) {
	tests := []struct {
		name  string
		first PayloadType
		hex   string
	}{
		{"length below header", PayloadKE, `00 00 0003 00`},
		{"length beyond data", PayloadKE, `00 00 0010 001f 0000`},
		{"trailing bytes", PayloadVendor, `00 00 0005 01 ff`},
		{"chain announces a missing payload", PayloadVendor, `22 00 0005 01`},
		{"SA without proposals", PayloadSA, `00 00 0004`},
		{"SA unknown attribute", PayloadSA, `00 00 0018 00 00 0014 01 01 00 01 00 00 000c 01 00 0014 8001 0001`},
		{"SA key length as TLV", PayloadSA, `00 00 001a 00 00 0016 01 01 00 01 00 00 000e 01 00 0014 000e 0002 0100`},
		{"SA key length zero", PayloadSA, `00 00 0018 00 00 0014 01 01 00 01 00 00 000c 01 00 0014 800e 0000`},
		{"SA key length twice", PayloadSA, `00 00 001c 00 00 0018 01 01 00 01 00 00 0010 01 00 0014 800e 0080 800e 0080`},
		{"SA proposal says more but is last", PayloadSA, `00 00 0014 02 00 0010 01 01 00 01 00 00 0008 02 00 0005`},
		{"SA proposal says last but is not", PayloadSA, `00 00 0024 00 00 0010 01 01 00 01 00 00 0008 02 00 0005 00 00 0010 02 01 00 01 00 00 0008 02 00 0005`},
		{"SA proposal bad Last Substruc", PayloadSA, `00 00 0014 03 00 0010 01 01 00 01 00 00 0008 02 00 0005`},
		{"SA transform count too high", PayloadSA, `00 00 0014 00 00 0010 01 01 00 02 00 00 0008 02 00 0005`},
		{"SA transform count too low", PayloadSA, `00 00 001c 00 00 0018 01 01 00 01 03 00 0008 02 00 0005 00 00 0008 03 00 000c`},
		{"SA transform says more but is last", PayloadSA, `00 00 0014 00 00 0010 01 01 00 01 03 00 0008 02 00 0005`},
		{"SA zero transforms", PayloadSA, `00 00 000c 00 00 0008 01 01 00 00`},
		{"SA SPI beyond proposal", PayloadSA, `00 00 000c 00 00 0008 01 03 04 00`},
		{"SA transform length below header", PayloadSA, `00 00 0014 00 00 0010 01 01 00 01 00 00 0004 02 00 0005`},
		{"nonce too short", PayloadNonce, `00 00 0013 000102030405060708090a0b0c0d0e`},
		{"nonce too long", PayloadNonce, `00 00 0105` + strings.Repeat("00", 257)},
		{"notify SPI beyond payload", PayloadNotify, `00 00 000a 03 04 4009 aabb`},
		{"delete count disagrees", PayloadDelete, `00 00 000c 03 04 0002 11111111`},
		{"TS IPv4 wrong length", PayloadTSi, `00 00 0014 01 000000 07 00 000c 0000 ffff c0000200`},
		{"TS count too high", PayloadTSi, `00 00 0018 02 000000 07 06 0010 0000 ffff c0000200 c00002ff`},
		{"TS bytes after selectors", PayloadTSi, `00 00 001a 01 000000 07 06 0010 0000 ffff c0000200 c00002ff 0000`},
		{"TS selector length below header", PayloadTSi, `00 00 000c 01 000000 0a 00 0003`},
		{"CP attribute beyond payload", PayloadCP, `00 00 000c 01 000000 0001 0004`},
		{"CP truncated attribute header", PayloadCP, `00 00 000a 01 000000 0001`},
		{"EAP length disagrees", PayloadEAP, `00 00 000d 02 01 0008 01 6d6f6f6e`},
		{"EAP too short", PayloadEAP, `00 00 0007 02 01 00`},
		{"SK inside a chain", PayloadSK, `00 00 0004`},
		{"SKF inside a chain", PayloadSKF, `00 00 0008 0001 0001`},
	}
	for _, tt := range tests {
		_, err := DecodePayloads(tt.first, h(tt.hex))
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: err = %v, want ErrSyntax", tt.name, err)
		}
	}
}

func TestUnsupportedCritical(t *testing.T) {
	// A Vendor ID followed by a critical payload of private type 200.
	in := h(`c8 00 0005 01
		00 80 0006 0102`)
	_, err := DecodePayloads(PayloadVendor, in)
	var ce *UnsupportedCriticalError
	if !errors.As(err, &ce) || ce.Type != 200 {
		t.Fatalf("err = %v, want UnsupportedCriticalError for type 200", err)
	}
	if errors.Is(err, ErrSyntax) {
		t.Error("critical payload error must not be a syntax error")
	}
	// The critical bit on a known payload is not an error (RFC 7296 3.2:
	// it only matters when the type is not understood).
	if _, err := DecodePayloads(PayloadVendor, h(`00 80 0005 01`)); err != nil {
		t.Errorf("critical bit on a known payload: %v", err)
	}
	// Unknown critical payloads are re-encoded with their critical bit.
	out, err := EncodePayloads([]Payload{&Unknown{PayloadType: 200, Critical: true, Data: h("0102")}})
	if err != nil || !bytes.Equal(out, in[5:]) {
		t.Errorf("encode critical unknown = %x, %v", out, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		ps   []Payload
	}{
		{"nil payload", []Payload{nil}},
		{"SA without proposals", []Payload{&SA{}}},
		{"proposal without transforms", []Payload{&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE}}}}},
		{"negative key length", []Payload{&SA{Proposals: []Proposal{{Number: 1, Transforms: []Transform{{Type: TransformENCR, ID: 20, KeyBits: -1}}}}}}},
		{"short nonce", []Payload{&Nonce{Data: make([]byte, 15)}}},
		{"IPv6 address in IPv4 selector", []Payload{&TSi{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, Start: netip.IPv6Loopback(), End: netip.IPv6Loopback()}}}}},
		{"IPv4 address in IPv6 selector", []Payload{&TSr{Selectors: []TrafficSelector{{Type: TSIPv6AddrRange, Start: netip.MustParseAddr("192.0.2.1"), End: netip.MustParseAddr("192.0.2.1")}}}}},
		{"zero address in IPv4 selector", []Payload{&TSr{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange}}}}},
		{"delete SPIs of mixed sizes", []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {1}}}}},
		{"payload too long", []Payload{&VendorID{Data: make([]byte, 0x10000)}}},
		{"SK inside a chain", []Payload{&Encrypted{}}},
		{"SKF inside a chain", []Payload{&EncryptedFragment{Number: 1, Total: 1}}},
		{"EAP length disagrees", []Payload{&EAP{Data: h("02 01 0008 01 6d6f6f6e")}}},
		{"CP attribute type above 15 bits", []Payload{&Config{Attributes: []ConfigAttribute{{Type: 0x8001}}}}},
		{"raw SK", []Payload{&Unknown{PayloadType: PayloadSK}}},
		{"raw NONE", []Payload{&Unknown{PayloadType: PayloadNone}}},
	}
	for _, tt := range tests {
		if out, err := EncodePayloads(tt.ps); err == nil {
			t.Errorf("%s: encoded %x, want error", tt.name, out)
		}
	}
}

func TestHashAlgorithms(t *testing.T) {
	// RFC 7427 4: the notification data is a list of 2-octet identifiers.
	algs := []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity}
	data := EncodeHashAlgorithms(algs)
	if want := h("0002 0003 0004 0005"); !bytes.Equal(data, want) {
		t.Fatalf("encode = %x, want %x", data, want)
	}
	back, err := DecodeHashAlgorithms(data)
	if err != nil || !reflect.DeepEqual(back, algs) {
		t.Fatalf("decode = %v, %v", back, err)
	}
	if _, err := DecodeHashAlgorithms(h("0002 00")); !errors.Is(err, ErrSyntax) {
		t.Errorf("odd length: err = %v", err)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got  interface{ String() string }
		want string
	}{
		{IKESAInit, "IKE_SA_INIT"},
		{IKEIntermediate, "IKE_INTERMEDIATE"},
		{ExchangeType(99), "EXCHANGE_99"},
		{PayloadSKF, "SKF"},
		{PayloadType(200), "PAYLOAD_200"},
		{IKEv2FragmentationSupported, "IKEV2_FRAGMENTATION_SUPPORTED"},
		{SignatureHashAlgorithms, "SIGNATURE_HASH_ALGORITHMS"},
		{NotifyType(8), "ERROR_8"},
		{NotifyType(40000), "STATUS_40000"},
		{TSIPv6AddrRange, "TS_IPV6_ADDR_RANGE"},
		{HashSHA2_256, "SHA2_256"},
		{CertX509Signature, "X.509 Certificate - Signature"},
		{FlagInitiator | FlagResponse, "I|R"},
		{Flags(0), "0"},
	}
	for _, tt := range tests {
		if s := tt.got.String(); s != tt.want {
			t.Errorf("String() = %q, want %q", s, tt.want)
		}
	}
}
