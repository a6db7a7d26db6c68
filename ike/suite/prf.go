package suite

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// PRF is a negotiated pseudo-random function (RFC 7296 2.13). All PRFs
// cygnet implements are HMACs (RFC 2104, RFC 4868), so any key length is
// accepted. A PRF is stateless and safe for concurrent use.
type PRF struct {
	id   message.PRFID
	hash func() hash.Hash
	size int
}

// NewPRF returns the PRF for id, or an error when cygnet does not implement
// it.
func NewPRF(id message.PRFID) (*PRF, error) {
	switch id {
	case message.PRFHMACSHA2256:
		return &PRF{id: id, hash: sha256.New, size: sha256.Size}, nil
	case message.PRFHMACSHA2384:
		return &PRF{id: id, hash: sha512.New384, size: sha512.Size384}, nil
	case message.PRFHMACSHA2512:
		return &PRF{id: id, hash: sha512.New, size: sha512.Size}, nil
	case message.PRFHMACSHA1:
		return &PRF{id: id, hash: sha1.New, size: sha1.Size}, nil
	}
	return nil, fmt.Errorf("suite: unsupported PRF %v", id)
}

// ID returns the PRF's transform ID.
func (p *PRF) ID() message.PRFID { return p.id }

// Size returns the output length in bytes.
func (p *PRF) Size() int { return p.size }

// KeySize returns the PRF's preferred key length in bytes, the length of
// SK_d, SK_pi and SK_pr (RFC 7296 2.14). For HMAC PRFs it is the output
// length (RFC 4868 2.1.2).
func (p *PRF) KeySize() int { return p.size }

// New returns a keyed hash.Hash computing prf(key, ...) incrementally.
func (p *PRF) New(key []byte) hash.Hash { return hmac.New(p.hash, key) }

// Sum returns prf(key, data[0] | data[1] | ...).
func (p *PRF) Sum(key []byte, data ...[]byte) []byte {
	h := hmac.New(p.hash, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}
