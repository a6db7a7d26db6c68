package suite

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"sync"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// PRF is a negotiated pseudo-random function (RFC 7296 2.13). All PRFs
// cygnet implements are HMACs (RFC 2104, RFC 4868), so any key length is
// accepted. A PRF is stateless and safe for concurrent use.
type PRF struct {
	id   message.PRFID
	hash func() hash.Hash
	size int
	pool *sync.Pool // of *hmacState for hash, shared by every PRF of it
}

// hmacState is the scratch of one Sum: a hash to reuse and room for the
// padded key and the inner digest, so that Sum allocates only its result
// (crypto/hmac.New allocates five objects per call, and a handshake makes
// over a dozen one-shot PRF calls).
type hmacState struct {
	h   hash.Hash
	pad [128]byte // the largest block size, SHA-384/512's
	sum [64]byte  // the largest digest
}

var (
	poolSHA1   = &sync.Pool{New: func() any { return &hmacState{h: sha1.New()} }}
	poolSHA256 = &sync.Pool{New: func() any { return &hmacState{h: sha256.New()} }}
	poolSHA384 = &sync.Pool{New: func() any { return &hmacState{h: sha512.New384()} }}
	poolSHA512 = &sync.Pool{New: func() any { return &hmacState{h: sha512.New()} }}
)

// NewPRF returns the PRF for id, or an error when cygnet does not implement
// it.
func NewPRF(id message.PRFID) (*PRF, error) {
	switch id {
	case message.PRFHMACSHA2256:
		return &PRF{id: id, hash: sha256.New, size: sha256.Size, pool: poolSHA256}, nil
	case message.PRFHMACSHA2384:
		return &PRF{id: id, hash: sha512.New384, size: sha512.Size384, pool: poolSHA384}, nil
	case message.PRFHMACSHA2512:
		return &PRF{id: id, hash: sha512.New, size: sha512.Size, pool: poolSHA512}, nil
	case message.PRFHMACSHA1:
		return &PRF{id: id, hash: sha1.New, size: sha1.Size, pool: poolSHA1}, nil
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

// Sum returns prf(key, data[0] | data[1] | ...): HMAC (RFC 2104),
//
//	H((K' ^ opad) | H((K' ^ ipad) | data))
//
// with K' the key zero-padded to the block size, or its digest when it is
// longer. It is computed with a pooled hash and scratch buffers, which are
// wiped before they go back to the pool.
func (p *PRF) Sum(key []byte, data ...[]byte) []byte {
	st := p.pool.Get().(*hmacState)
	h := st.h
	bs := h.BlockSize()
	pad := st.pad[:bs]
	clear(pad)
	if len(key) > bs {
		h.Reset()
		h.Write(key)
		h.Sum(pad[:0])
	} else {
		copy(pad, key)
	}
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Reset()
	h.Write(pad)
	for _, d := range data {
		h.Write(d)
	}
	inner := h.Sum(st.sum[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(pad)
	h.Write(inner)
	out := h.Sum(make([]byte, 0, p.size))
	clear(st.pad[:])
	clear(st.sum[:])
	h.Reset()
	p.pool.Put(st)
	return out
}
