package ike_test

import (
	"errors"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// TestSentinelErrors: an embedder tells the failures of Initiate apart
// with errors.Is: a wrong key, no common IKE proposal, no common ESP
// proposal, an unknown connection, a closed engine.
func TestSentinelErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(a, b *ike.Config)
		want   error
	}{
		{"wrong pre-shared key", func(a, b *ike.Config) {
			b.Credentials.SharedKeys[0].Secret = []byte("another key, not the initiator's")
		}, ike.ErrAuthFailed},
		{"no common IKE proposal", func(a, b *ike.Config) {
			b.Connections[0].IKE[0].DH = []message.DHGroup{message.DHGroup(20)}
			b.Connections[0].IKEStrict = true
		}, ike.ErrNoProposal},
		{"no common ESP proposal", func(a, b *ike.Config) {
			b.Connections[0].ESP[0].Encr = []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 128}}
			b.Connections[0].ESPStrict = true
		}, ike.ErrNoProposal},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, c.mutate)
			err := p.initiate(t)
			if !errors.Is(err, c.want) {
				t.Fatalf("Initiate: %v, want errors.Is %v", err, c.want)
			}
		})
	}
	p := newPair(t, nil)
	if err := p.a.e.Start("nope"); !errors.Is(err, ike.ErrNoConnection) {
		t.Fatalf("Start of an unknown conn: %v, want ErrNoConnection", err)
	}
	p.a.e.Close()
	if err := p.initiate(t); !errors.Is(err, ike.ErrClosed) {
		t.Fatalf("Initiate after Close: %v, want ErrClosed", err)
	}
}
