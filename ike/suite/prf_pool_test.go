package suite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// TestPRFSumMatchesHMAC compares the pooled Sum with crypto/hmac for every
// PRF, keys around each block size (shorter, equal, longer: hashed first)
// and data in several pieces, also from concurrent goroutines sharing the
// pools.
func TestPRFSumMatchesHMAC(t *testing.T) {
	hashes := map[message.PRFID]func() hash.Hash{
		message.PRFHMACSHA1: sha1.New, message.PRFHMACSHA2256: sha256.New,
		message.PRFHMACSHA2384: sha512.New384, message.PRFHMACSHA2512: sha512.New,
	}
	var wg sync.WaitGroup
	for id, newHash := range hashes {
		p, err := NewPRF(id)
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, kl := range []int{0, 1, 20, 32, 63, 64, 65, 127, 128, 129, 300} {
					key := bytes.Repeat([]byte{byte(kl + g)}, kl)
					for _, parts := range [][][]byte{nil, {[]byte("a")}, {[]byte("Key Pad "), nil, []byte("for IKEv2"), bytes.Repeat([]byte{7}, 500)}} {
						m := hmac.New(newHash, key)
						for _, d := range parts {
							m.Write(d)
						}
						want := m.Sum(nil)
						if got := p.Sum(key, parts...); !bytes.Equal(got, want) || cap(got) != len(want) {
							t.Errorf("%v key %d parts %d: %x, want %x", id, kl, len(parts), got, want)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
}
