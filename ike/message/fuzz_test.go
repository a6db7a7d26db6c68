package message

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

// checkReencode is the fuzz invariant for a decoded message: it encodes,
// the encoding decodes to the same header and payloads, and encoding is
// then a fixed point.
func checkReencode(t *testing.T, m *Message) {
	enc, err := m.Encode()
	if err != nil {
		t.Fatalf("decoded message does not encode: %v", err)
	}
	if len(enc) != len(m.Raw) {
		t.Fatalf("re-encoding changed the length from %d to %d", len(m.Raw), len(enc))
	}
	m2, err := DecodeMessage(enc)
	if err != nil {
		t.Fatalf("re-encoded message does not decode: %v", err)
	}
	if m2.Header != m.Header {
		t.Fatalf("header changed:\n%+v\n%+v", m.Header, m2.Header)
	}
	if !reflect.DeepEqual(forgetRaw(m2.Payloads), forgetRaw(m.Payloads)) {
		t.Fatalf("payloads changed:\n%#v\n%#v", m.Payloads, m2.Payloads)
	}
	enc2, err := m2.Encode()
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not a fixed point: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range messageSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			if m != nil && m.Payloads != nil {
				t.Fatal("payloads returned with an error")
			}
			return
		}
		if !bytes.Equal(m.Raw, data) {
			t.Fatal("Raw differs from the input")
		}
		checkReencode(t, m)
		// The engine decodes the decrypted inner chain with
		// DecodePayloads; feed it the opaque bytes too.
		if sk := m.Encrypted(); sk != nil {
			if aad := m.AssociatedData(); !bytes.Equal(aad, data[:sk.Offset+4]) {
				t.Fatal("AssociatedData does not end at the SK header")
			}
			_, _ = DecodePayloads(sk.FirstInner, sk.Data)
		}
	})
}

func FuzzDecodePayloads(f *testing.F) {
	for _, v := range payloadVectors {
		f.Add(byte(v.p.Type()), h(v.hex))
	}
	for _, s := range payloadSeeds(f) {
		f.Add(byte(s.first), s.data)
	}
	f.Fuzz(func(t *testing.T, first byte, data []byte) {
		ps, err := DecodePayloads(PayloadType(first), data)
		if err != nil {
			return
		}
		enc, err := EncodePayloads(ps)
		if err != nil {
			t.Fatalf("decoded chain does not encode: %v", err)
		}
		if len(enc) != len(data) {
			t.Fatalf("re-encoding changed the length from %d to %d", len(data), len(enc))
		}
		ps2, err := DecodePayloads(FirstType(ps), enc)
		if err != nil {
			t.Fatalf("re-encoded chain does not decode: %v", err)
		}
		if !reflect.DeepEqual(forgetRaw(ps2), forgetRaw(ps)) {
			t.Fatalf("payloads changed:\n%#v\n%#v", ps, ps2)
		}
	})
}

type messageSeed struct {
	name string
	data []byte
}

// messageSeeds are realistic messages of each exchange, built with this
// package (the SK ones sealed with the test AES-GCM sealer).
func messageSeeds(tb testing.TB) []messageSeed {
	enc := func(m *Message) []byte {
		b, err := m.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	seal := func(m *Message, inner []Payload) []byte {
		b, err := m.EncodeEncrypted(inner, newGCMSealer(tb))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	init := ikeSAInit()
	resp := &Message{
		Header: Header{SPIi: init.Header.SPIi, SPIr: 0x5f1e2d3c4b5a6978, Exchange: IKESAInit, Flags: FlagResponse},
		Payloads: Payloads{
			&SA{Proposals: []Proposal{init.Payloads[0].(*SA).Proposals[0]}},
			init.Payloads[1], init.Payloads[2],
			&Notify{NotifyType: NATDetectionSourceIP, Data: bytes.Repeat([]byte{0x11}, 20)},
			&Notify{NotifyType: NATDetectionDestinationIP, Data: bytes.Repeat([]byte{0x22}, 20)},
			&CertReq{Encoding: CertX509Signature, Data: bytes.Repeat([]byte{0x33}, 20)},
			&Notify{NotifyType: IKEv2FragmentationSupported},
			&Notify{NotifyType: MultipleAuthSupported},
		},
	}
	cookie := &Message{
		Header:   Header{SPIi: init.Header.SPIi, Exchange: IKESAInit, Flags: FlagResponse},
		Payloads: Payloads{&Notify{NotifyType: Cookie, Data: bytes.Repeat([]byte{0x44}, 32)}},
	}
	invalidKE := &Message{
		Header:   Header{SPIi: init.Header.SPIi, Exchange: IKESAInit, Flags: FlagResponse},
		Payloads: Payloads{&Notify{NotifyType: InvalidKEPayload, Data: []byte{0, 19}}},
	}
	auth := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}}
	authFrag, err := auth.EncodeFragment(PayloadIDi, 1, 2, []byte("first half of the inner payloads"), newGCMSealer(tb))
	if err != nil {
		tb.Fatal(err)
	}
	info := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: Informational, Flags: FlagInitiator, MessageID: 2}}
	infoResp := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: Informational, Flags: FlagResponse, MessageID: 2}}
	child := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: CreateChildSA, Flags: FlagInitiator, MessageID: 3}}
	return []messageSeed{
		{"ike_sa_init_request", enc(init)},
		{"ike_sa_init_response", enc(resp)},
		{"ike_sa_init_cookie", enc(cookie)},
		{"ike_sa_init_invalid_ke", enc(invalidKE)},
		{"ike_auth_request", seal(auth, ikeAuthInner())},
		{"ike_auth_request_cp", seal(auth, append(ikeAuthInner(), &Config{CfgType: CfgRequest, Attributes: []ConfigAttribute{
			{Type: InternalIP4Address}, {Type: InternalIP4DNS}, {Type: InternalIP6Address},
		}}))},
		{"ike_auth_fragment", authFrag},
		{"informational_delete_esp", seal(info, []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{{0xc1, 0x2e, 0x4f, 0x01}}}})},
		{"informational_delete_ike", seal(info, []Payload{&Delete{Protocol: ProtoIKE}})},
		{"informational_liveness", seal(info, nil)},
		{"informational_empty_response", seal(infoResp, nil)},
		{"create_child_sa_rekey", seal(child, []Payload{
			&Notify{Protocol: ProtoESP, SPI: []byte{0xc1, 0x2e, 0x4f, 0x01}, NotifyType: RekeySA},
			ikeAuthInner()[5],
			&Nonce{Data: bytes.Repeat([]byte{0x55}, 32)},
			&KE{Group: DHCurve25519, Data: bytes.Repeat([]byte{0x66}, 32)},
			ikeAuthInner()[6], ikeAuthInner()[7],
		})},
	}
}

type payloadSeed struct {
	name  string
	first PayloadType
	data  []byte
}

// payloadSeeds are realistic inner payload chains.
func payloadSeeds(tb testing.TB) []payloadSeed {
	chain := func(ps []Payload) []byte {
		b, err := EncodePayloads(ps)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	init := ikeSAInit()
	return []payloadSeed{
		{"ike_sa_init_chain", PayloadSA, chain(init.Payloads)},
		{"ike_auth_inner", PayloadIDi, chain(ikeAuthInner())},
		{"delete_inner", PayloadDelete, chain([]Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}})},
	}
}

// TestFuzzCorpus keeps testdata/fuzz in step with the seeds above (go
// test -run TestFuzzCorpus -update-corpus rewrites it) and checks that
// every realistic seed decodes and survives the fuzz invariant.
func TestFuzzCorpus(t *testing.T) {
	type file struct {
		path, content string
	}
	var files []file
	for _, s := range messageSeeds(t) {
		m, err := DecodeMessage(s.data)
		if err != nil {
			t.Fatalf("seed %s: %v", s.name, err)
		}
		checkReencode(t, m)
		files = append(files, file{
			filepath.Join("testdata", "fuzz", "FuzzDecodeMessage", s.name),
			fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data),
		})
	}
	for _, s := range payloadSeeds(t) {
		if _, err := DecodePayloads(s.first, s.data); err != nil {
			t.Fatalf("seed %s: %v", s.name, err)
		}
		files = append(files, file{
			filepath.Join("testdata", "fuzz", "FuzzDecodePayloads", s.name),
			fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(s.first), s.data),
		})
	}
	for _, f := range files {
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil || string(got) != f.content {
			t.Errorf("seed %s missing or stale (%v): run go test -run TestFuzzCorpus -update-corpus", f.path, err)
		}
	}
}
