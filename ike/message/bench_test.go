package message

import "testing"

// The IKE_SA_INIT request of ikeSAInit: SA with three proposals, X25519 KE,
// 32-byte nonce and four notifies, 304 bytes on the wire.

func BenchmarkEncodeIKESAInit(b *testing.B) {
	m := ikeSAInit()
	n, err := m.Len()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeIKESAInit(b *testing.B) {
	wire, err := ikeSAInit().Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEncryptedIKEAuth(b *testing.B) {
	g := newGCMSealer(b)
	inner := ikeAuthInner()
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.EncodeEncrypted(inner, g); err != nil {
			b.Fatal(err)
		}
	}
}
