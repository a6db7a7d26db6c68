package auth

import (
	"crypto/rand"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Sign and Verify for the key types a cluster uses most. The signed octets
// are of a realistic size: an IKE_SA_INIT message (~500 octets with KE and
// NAT-D) plus nonce and prf output.
func benchOctets() []byte {
	b := make([]byte, 600)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func benchmarkSign(b *testing.B, key string, peer []message.HashAlgorithm) {
	k := testKeys(b)[key]
	o := benchOctets()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Sign(k, o, peer, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkVerify(b *testing.B, key string, peer []message.HashAlgorithm) {
	k := testKeys(b)[key]
	o := benchOctets()
	m, data, err := Sign(k, o, peer, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Public()
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(pub, m, data, o); err != nil {
			b.Fatal(err)
		}
	}
}

var sha256Only = []message.HashAlgorithm{message.HashSHA2_256}

func BenchmarkSignRSA2048Method1(b *testing.B)   { benchmarkSign(b, "rsa", nil) }
func BenchmarkSignRSA2048RFC7427(b *testing.B)   { benchmarkSign(b, "rsa", sha256Only) }
func BenchmarkVerifyRSA2048Method1(b *testing.B) { benchmarkVerify(b, "rsa", nil) }
func BenchmarkVerifyRSA2048RFC7427(b *testing.B) { benchmarkVerify(b, "rsa", sha256Only) }
func BenchmarkSignP256Method9(b *testing.B)      { benchmarkSign(b, "p256", nil) }
func BenchmarkSignP256RFC7427(b *testing.B)      { benchmarkSign(b, "p256", sha256Only) }
func BenchmarkVerifyP256Method9(b *testing.B)    { benchmarkVerify(b, "p256", nil) }
func BenchmarkVerifyP256RFC7427(b *testing.B)    { benchmarkVerify(b, "p256", sha256Only) }
