package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// Integrity selects the HMAC-SHA-2 integrity transform that accompanies
// AES-CBC (RFC 4868). AES-CBC is here so that traffic from peers that
// negotiated it, such as strongSwan's aes256-sha256, can be decoded.
type Integrity uint8

const (
	// HMACSHA256 is AUTH_HMAC_SHA2_256_128: 32-byte key, 16-byte ICV.
	HMACSHA256 Integrity = iota + 1
	// HMACSHA384 is AUTH_HMAC_SHA2_384_192: 48-byte key, 24-byte ICV.
	HMACSHA384
	// HMACSHA512 is AUTH_HMAC_SHA2_512_256: 64-byte key, 32-byte ICV.
	HMACSHA512
)

// String returns the IKEv2 name of the transform (RFC 4868 2.3).
func (i Integrity) String() string {
	switch i {
	case HMACSHA256:
		return "AUTH_HMAC_SHA2_256_128"
	case HMACSHA384:
		return "AUTH_HMAC_SHA2_384_192"
	case HMACSHA512:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("Integrity(%d)", uint8(i))
}

// params returns the hash, the key length (RFC 4868 2.1.1: the hash's
// output size) and the ICV length (RFC 4868 2.1.2: half of it).
func (i Integrity) params() (func() hash.Hash, int, int, bool) {
	switch i {
	case HMACSHA256:
		return sha256.New, 32, 16, true
	case HMACSHA384:
		return sha512.New384, 48, 24, true
	case HMACSHA512:
		return sha512.New, 64, 32, true
	}
	return nil, 0, 0, false
}

// cbcBlock is the AES block, IV and padding boundary of AES-CBC
// (RFC 3602 2.1, 2.4).
const cbcBlock = aes.BlockSize

// errUnaligned reports an authentic AES-CBC packet whose ciphertext is not
// a whole number of blocks; Open turns it into ErrBadPadding.
var errUnaligned = errors.New("esp: ciphertext not block aligned")

// NewCBCSA returns an SA for spi that encrypts with AES-CBC (RFC 3602)
// under encKey (16, 24 or 32 bytes) and authenticates with integ under
// authKey, whose length must be the hash's output size (RFC 4868 2.1.1).
// IKEv2 takes the encryption key first, then the integrity key, from the
// CHILD_SA key material (RFC 7296 2.17). Neither key is retained beyond
// the cipher and HMAC states. Options are those of NewSA.
//
// Seal draws each IV from crypto/rand (RFC 3602 2.1: IVs must be
// unpredictable). Open verifies the ICV before decrypting (RFC 4303 3.4.4).
// Unlike AES-GCM, this path allocates a little per packet.
func NewCBCSA(spi uint32, encKey, authKey []byte, integ Integrity, opts ...Option) (*SA, error) {
	if spi == 0 {
		return nil, fmt.Errorf("esp: spi 0 is reserved (RFC 4303 2.1)")
	}
	o, err := collect(spi, opts)
	if err != nil {
		return nil, err
	}
	newHash, keyLen, icvLen, ok := integ.params()
	if !ok {
		return nil, fmt.Errorf("esp: spi 0x%08x: unknown integrity transform %v", spi, integ)
	}
	switch len(encKey) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("esp: spi 0x%08x: AES-CBC key is %d bytes, want 16, 24 or 32", spi, len(encKey))
	}
	if len(authKey) != keyLen {
		return nil, fmt.Errorf("esp: spi 0x%08x: %v key is %d bytes, want %d (RFC 4868 2.1.1)", spi, integ, len(authKey), keyLen)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("esp: spi 0x%08x: %w", spi, err)
	}
	c := &cbcHMAC{block: block, icvLen: icvLen, rand: rand.Reader}
	key := append([]byte(nil), authKey...)
	c.macs.New = func() any { return &macState{h: hmac.New(newHash, key)} }

	s := newBase(spi, o)
	s.cbc = c
	s.ivLen, s.icvLen, s.align = cbcBlock, icvLen, cbcBlock
	return s, nil
}

// cbcHMAC is the AES-CBC and HMAC-SHA-2 state of an SA.
type cbcHMAC struct {
	block  cipher.Block
	icvLen int
	macs   sync.Pool // *macState; an HMAC state serves one packet at a time
	rand   io.Reader // IV source; tests substitute published IVs
}

type macState struct {
	h   hash.Hash
	sum [sha512.Size]byte
	hi  [4]byte
}

// icv computes the truncated HMAC of body (SPI, sequence number, IV and
// ciphertext). With ESN the high 32 bits of the sequence number follow the
// packet implicitly: they enter the ICV but are never sent (RFC 4303
// 2.2.1, 3.3.2.1). The result is valid until ms is reused.
func (c *cbcHMAC) icv(ms *macState, body []byte, esn bool, seq uint64) []byte {
	ms.h.Reset()
	ms.h.Write(body)
	if esn {
		binary.BigEndian.PutUint32(ms.hi[:], uint32(seq>>32))
		ms.h.Write(ms.hi[:])
	}
	return ms.h.Sum(ms.sum[:0])[:c.icvLen] // RFC 4868 2.1.2: truncate to half
}

// seal encrypts the plaintext in out (a whole packet with its header
// written) in place and fills in the IV and the ICV.
func (c *cbcHMAC) seal(out []byte, ptLen int, esn bool, seq uint64) error {
	iv := out[HeaderLen : HeaderLen+cbcBlock]
	if _, err := io.ReadFull(c.rand, iv); err != nil {
		return err
	}
	pt := out[HeaderLen+cbcBlock : HeaderLen+cbcBlock+ptLen]
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(pt, pt)
	ms := c.macs.Get().(*macState)
	copy(out[HeaderLen+cbcBlock+ptLen:], c.icv(ms, out[:HeaderLen+cbcBlock+ptLen], esn, seq))
	c.macs.Put(ms)
	return nil
}

// open verifies the ICV, then appends the decrypted plaintext to dst.
func (c *cbcHMAC) open(dst, packet []byte, esn bool, seq uint64) ([]byte, error) {
	body, tag := packet[:len(packet)-c.icvLen], packet[len(packet)-c.icvLen:]
	ms := c.macs.Get().(*macState)
	ok := hmac.Equal(c.icv(ms, body, esn, seq), tag)
	c.macs.Put(ms)
	if !ok {
		return nil, ErrAuth
	}
	ct := body[HeaderLen+cbcBlock:]
	if len(ct)%cbcBlock != 0 {
		return nil, errUnaligned
	}
	ret, out := grow(dst, len(ct))
	cipher.NewCBCDecrypter(c.block, body[HeaderLen:HeaderLen+cbcBlock]).CryptBlocks(out, ct)
	return ret, nil
}
