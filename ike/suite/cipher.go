package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// SKCipher protects the body of an Encrypted (SK) or Encrypted Fragment
// (SKF) payload in one direction (RFC 7296 3.14, RFC 5282, RFC 7383).
//
// The body is IV | ciphertext | ICV, the plaintext being the inner payloads
// followed by padding and the Pad Length octet. aad is the message from the
// first octet of the IKE header through the last octet of the SK (or SKF)
// payload's header, exactly as it goes on the wire: its length fields must
// already count the sealed body, so call SealedLen first.
//
// SealedLen and Seal are the message.Sealer interface of the codec
// (message.Message.EncodeEncrypted), so an SKCipher can be passed to it.
//
// For AES-GCM aad is the AEAD's associated data (RFC 5282 5.1); for AES-CBC
// the ICV is the truncated HMAC over aad | IV | ciphertext (RFC 7296 3.14).
// Either way the caller's view is the same.
//
// An SKCipher is safe for concurrent use if its random source is (as
// crypto/rand.Reader is).
type SKCipher interface {
	// SealedLen returns the body length for n octets of inner payloads.
	SealedLen(n int) int
	// Seal appends IV | ciphertext | ICV for plaintext to aad and returns
	// the extended slice: the whole message when aad is its prefix.
	Seal(aad, plaintext []byte) ([]byte, error)
	// Open checks and decrypts a body and appends the inner payloads, with
	// padding removed, to dst. An integrity failure returns an error
	// wrapping ErrAuthFailed and nothing else about the input.
	Open(dst, aad, body []byte) ([]byte, error)
}

// ErrAuthFailed is wrapped by Open when the ICV does not verify. RFC 7296
// 2.21.1 has such messages dropped silently.
var ErrAuthFailed = errors.New("suite: integrity check failed")

// gcmSaltLen is the salt appended to each AES-GCM key (RFC 5282 7.1,
// RFC 4106 8.1).
const gcmSaltLen = 4

// des3KeyLen is the key of ENCR_3DES: three 64-bit DES keys with their
// parity bits (RFC 2451 2.2), taken from the key stream as they come.
const des3KeyLen = 24

// EncrKeyLen returns the length of the key material the encryption
// transform takes: for AES-GCM the AES key plus the 4-octet salt (RFC 5282
// 7.1, RFC 4106 8.1; 20, 28 or 36 octets), for AES-CBC the AES key, for
// 3DES 24 octets (RFC 2451, which has no Key Length attribute: keyBits
// must be 0). The same lengths apply to SK_ei/SK_er and to each ESP
// encryption key.
func EncrKeyLen(id message.EncrID, keyBits int) (int, error) {
	if id == message.Encr3DES {
		if keyBits != 0 {
			return 0, fmt.Errorf("suite: %v takes no key length attribute, got %d bits", id, keyBits)
		}
		return des3KeyLen, nil
	}
	if keyBits != 128 && keyBits != 192 && keyBits != 256 {
		return 0, fmt.Errorf("suite: %v key length %d bits not supported", id, keyBits)
	}
	switch id {
	case message.EncrAESGCM16:
		return keyBits/8 + gcmSaltLen, nil
	case message.EncrAESCBC:
		return keyBits / 8, nil
	}
	return 0, fmt.Errorf("suite: unsupported encryption algorithm %v", id)
}

// IntegKeyLen returns the key length of an integrity transform: the hash
// output length for the HMAC-SHA2 family (RFC 4868 2.1.1) and for
// HMAC-SHA1-96 (RFC 2404 3), 0 for NONE.
func IntegKeyLen(id message.IntegID) (int, error) {
	switch id {
	case message.IntegNone:
		return 0, nil
	case message.IntegHMACSHA196:
		return sha1.Size, nil
	case message.IntegHMACSHA2256128:
		return 32, nil
	case message.IntegHMACSHA2384192:
		return 48, nil
	case message.IntegHMACSHA2512256:
		return 64, nil
	}
	return 0, fmt.Errorf("suite: unsupported integrity algorithm %v", id)
}

// NewSKCipher returns the SK payload cipher for one direction. For AES-GCM
// integ must be IntegNone and integKey empty; encKey is the AES key followed
// by the salt. rand supplies the CBC ciphers' IVs; AES-GCM does not use it (see
// gcmCipher).
func NewSKCipher(encr message.EncrID, keyBits int, integ message.IntegID, encKey, integKey []byte, rand io.Reader) (SKCipher, error) {
	elen, err := EncrKeyLen(encr, keyBits)
	if err != nil {
		return nil, err
	}
	if len(encKey) != elen {
		return nil, fmt.Errorf("suite: %v_%d key is %d bytes, want %d", encr, keyBits, len(encKey), elen)
	}
	ilen, err := IntegKeyLen(integ)
	if err != nil {
		return nil, err
	}
	if len(integKey) != ilen {
		return nil, fmt.Errorf("suite: %v key is %d bytes, want %d", integ, len(integKey), ilen)
	}
	if encr.IsAEAD() != (integ == message.IntegNone) {
		return nil, fmt.Errorf("suite: %v cannot be combined with %v (RFC 5282 8)", encr, integ)
	}
	switch encr {
	case message.EncrAESGCM16:
		block, err := aes.NewCipher(encKey[:elen-gcmSaltLen])
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		c := &gcmCipher{aead: aead}
		copy(c.salt[:], encKey[elen-gcmSaltLen:])
		return c, nil
	case message.EncrAESCBC, message.Encr3DES:
		if rand == nil {
			return nil, fmt.Errorf("suite: %v needs a random source for IVs", encr)
		}
		var block cipher.Block
		if encr == message.EncrAESCBC {
			block, err = aes.NewCipher(encKey)
		} else {
			block, err = newTripleDES(encKey)
		}
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		newHash, icvLen := integHash(integ)
		if newHash == nil {
			return nil, fmt.Errorf("suite: unsupported integrity algorithm %v", integ)
		}
		return &cbcCipher{block: block, newHash: newHash, key: append([]byte(nil), integKey...), icvLen: icvLen, rand: rand}, nil
	}
	return nil, fmt.Errorf("suite: unsupported encryption algorithm %v", encr)
}

// integHash returns the hash and ICV length of an HMAC integrity
// transform: RFC 4868 truncates HMAC-SHA2 to half its output, RFC 2404
// HMAC-SHA1 to 96 bits. nil for anything else.
func integHash(id message.IntegID) (func() hash.Hash, int) {
	switch id {
	case message.IntegHMACSHA2256128:
		return sha256.New, 16
	case message.IntegHMACSHA2384192:
		return sha512.New384, 24
	case message.IntegHMACSHA2512256:
		return sha512.New, 32
	case message.IntegHMACSHA196:
		return sha1.New, 12
	}
	return nil, 0
}

// newTripleDES returns the EDE 3DES block cipher of RFC 2451. A key whose
// first and second or second and third DES keys are equal degenerates to
// single DES (RFC 2451 2.3 asks implementations to check for that); with
// keys from prf+ that happens with probability 2^-63, and is refused
// rather than used. Parity bits are ignored, as crypto/des ignores them.
func newTripleDES(key []byte) (cipher.Block, error) {
	if len(key) != des3KeyLen {
		return nil, fmt.Errorf("3DES key is %d bytes, want %d", len(key), des3KeyLen)
	}
	k1, k2, k3 := parityless(key[0:8]), parityless(key[8:16]), parityless(key[16:24])
	if k1 == k2 || k2 == k3 {
		return nil, errors.New("3DES key degenerates to single DES (RFC 2451 2.3)")
	}
	return des.NewTripleDESCipher(key)
}

// parityless returns a DES key without its parity bits (the low bit of
// each octet).
func parityless(k []byte) uint64 {
	return binary.BigEndian.Uint64(k) &^ 0x0101010101010101
}

// gcmCipher is AES-GCM with a 16-octet ICV for IKE (RFC 5282).
//
// The 8-octet explicit IV is a counter, not random: RFC 5282 3.1 only asks
// that an IV never repeat under a key, and with GCM a repeat is fatal (it
// leaks the authentication subkey and the XOR of two plaintexts). Random
// 64-bit IVs make a repeat likely after about 2^32 messages (birthday
// bound); a counter makes it impossible until 2^64, and then Seal refuses.
// Each direction has its own key (SK_ei / SK_er), so the two peers' counters
// never collide. A counter reveals how many messages were sent under the
// key, which the Message ID already shows.
type gcmCipher struct {
	aead cipher.AEAD
	salt [gcmSaltLen]byte
	next atomic.Uint64
}

const (
	gcmIVLen  = 8
	gcmICVLen = 16
)

func (c *gcmCipher) SealedLen(n int) int { return gcmIVLen + n + 1 + gcmICVLen }

func (c *gcmCipher) Seal(aad, plaintext []byte) ([]byte, error) {
	var ctr uint64
	for {
		last := c.next.Load()
		if last == ^uint64(0) {
			return nil, errors.New("suite: AES-GCM IV space exhausted, rekey the IKE SA")
		}
		if c.next.CompareAndSwap(last, last+1) {
			ctr = last + 1
			break
		}
	}
	var nonce [gcmSaltLen + gcmIVLen]byte
	copy(nonce[:], c.salt[:])
	binary.BigEndian.PutUint64(nonce[gcmSaltLen:], ctr)

	// RFC 5282 3: the plaintext carries no padding (GCM needs no block
	// alignment) but still ends with the Pad Length octet, here 0.
	// Encrypted in place in its own buffer: crypto/cipher forbids the
	// output from overlapping the associated data it is appended to.
	pt := make([]byte, len(plaintext)+1, len(plaintext)+1+gcmICVLen)
	copy(pt, plaintext)
	ct := c.aead.Seal(pt[:0], nonce[:], pt, aad)

	out := append(aad, nonce[gcmSaltLen:]...)
	return append(out, ct...), nil
}

func (c *gcmCipher) Open(dst, aad, body []byte) ([]byte, error) {
	if len(body) < gcmIVLen+1+gcmICVLen {
		return nil, fmt.Errorf("suite: AES-GCM body of %d bytes is too short", len(body))
	}
	var nonce [gcmSaltLen + gcmIVLen]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[gcmSaltLen:], body[:gcmIVLen])
	pt, err := c.aead.Open(nil, nonce[:], body[gcmIVLen:], aad)
	if err != nil {
		return nil, ErrAuthFailed
	}
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, fmt.Errorf("suite: pad length %d exceeds the %d-byte plaintext", padLen, len(pt))
	}
	return append(dst, pt[:len(pt)-1-padLen]...), nil
}

// cbcCipher is a CBC-mode cipher (AES-CBC, RFC 3602, or 3DES, RFC 2451)
// with an HMAC ICV (RFC 7296 3.14, RFC 4868, RFC 2404): encrypt-then-MAC,
// the MAC covering the IKE header through the ciphertext. The IV is one
// cipher block.
type cbcCipher struct {
	block   cipher.Block
	newHash func() hash.Hash
	key     []byte
	icvLen  int
	rand    io.Reader
}

func (c *cbcCipher) SealedLen(n int) int {
	bs := c.block.BlockSize()
	return bs + (n+1+bs-1)/bs*bs + c.icvLen
}

func (c *cbcCipher) Seal(aad, plaintext []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	// RFC 7296 3.14: the IV MUST be chosen at random and unpredictable.
	iv := make([]byte, bs)
	if _, err := io.ReadFull(c.rand, iv); err != nil {
		return nil, fmt.Errorf("suite: reading IV: %w", err)
	}
	// Pad to the block size with the minimum padding; the pad octets may be
	// any value (RFC 7296 3.14), zeros here. The last octet is Pad Length.
	ptLen := (len(plaintext) + 1 + bs - 1) / bs * bs
	pt := make([]byte, ptLen)
	copy(pt, plaintext)
	pt[ptLen-1] = byte(ptLen - len(plaintext) - 1)

	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(pt, pt)
	out := append(append(aad, iv...), pt...)

	// RFC 7296 3.14: the ICV covers the message from the IKE header through
	// the ciphertext, that is everything in out.
	mac := hmac.New(c.newHash, c.key)
	mac.Write(out)
	return append(out, mac.Sum(nil)[:c.icvLen]...), nil
}

func (c *cbcCipher) Open(dst, aad, body []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	if len(body) < bs+bs+c.icvLen {
		return nil, fmt.Errorf("suite: CBC body of %d bytes is too short", len(body))
	}
	ct := body[bs : len(body)-c.icvLen]
	if len(ct)%bs != 0 {
		return nil, fmt.Errorf("suite: CBC ciphertext of %d bytes is not a multiple of the block size", len(ct))
	}
	// Verify before decrypting: nothing about the padding is computed on
	// unauthenticated data, so there is no padding oracle.
	mac := hmac.New(c.newHash, c.key)
	mac.Write(aad)
	mac.Write(body[:len(body)-c.icvLen])
	if subtle.ConstantTimeCompare(mac.Sum(nil)[:c.icvLen], body[len(body)-c.icvLen:]) != 1 {
		return nil, ErrAuthFailed
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, body[:bs]).CryptBlocks(pt, ct)
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, fmt.Errorf("suite: pad length %d exceeds the %d-byte plaintext", padLen, len(pt))
	}
	return append(dst, pt[:len(pt)-1-padLen]...), nil
}
