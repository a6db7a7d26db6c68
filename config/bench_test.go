package config

import (
	"testing"
)

func BenchmarkParseIPsecConf(b *testing.B) {
	data := []byte(nodeConf)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		raw, _ := ParseIPsecConf("ipsec.conf", data)
		Interpret(raw)
	}
}

func BenchmarkParseProposals(b *testing.B) {
	for b.Loop() {
		if _, _, err := ParseProposals("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-x25519,aes256-sha256-modp3072", ProposalIKE); err != nil {
			b.Fatal(err)
		}
	}
}
