package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Wire sizes.
const (
	// HeaderLen is the ESP header: SPI and Sequence Number (RFC 4303 2).
	HeaderLen = 8
	// IVLen is the explicit IV that starts an AES-GCM payload
	// (RFC 4106 3.1). AES-CBC uses a 16-byte IV (RFC 3602 2.1).
	IVLen = 8
	// ICVLen is the AES-GCM Integrity Check Value: ENCR_AES_GCM_16,
	// strongSwan's aes*gcm16, the one cygnet negotiates. The 8- and
	// 12-octet variants RFC 4106 6 also allows are not supported; they
	// only weaken the SA. The HMAC-SHA-2 ICVs are 16, 24 and 32 bytes
	// (RFC 4868 2.3).
	ICVLen = 16
	// SaltLen is the salt at the end of AES-GCM key material (RFC 4106 4,
	// 8.1).
	SaltLen = 4

	// gcmOverhead is what every AES-GCM packet carries besides payload and
	// padding: header, IV, Pad Length, Next Header and ICV.
	gcmOverhead = HeaderLen + IVLen + 2 + ICVLen
)

// NextHeaderNone is the Next Header value of a dummy packet (RFC 4303 2.6),
// IP protocol 59; Open returns such packets like any other and leaves
// dropping them to the caller.
const NextHeaderNone = 59

// Option configures an SA.
type Option func(*options)

type options struct {
	esn    bool
	window int
}

// WithESN makes the SA use 64-bit Extended Sequence Numbers (RFC 4303
// 2.2.1): only the low 32 bits travel in the packet, the high 32 bits enter
// the ICV, and the sequence space is 2^64-1 packets instead of 2^32-1.
// Both ends must agree (IKEv2 ESN transform, RFC 7296 3.3.2).
func WithESN() Option { return func(o *options) { o.esn = true } }

// WithReplayWindow sets the anti-replay window, in packets, between
// MinReplayWindow and MaxReplayWindow. Zero disables anti-replay checking
// (RFC 4303 3.4.3 allows the receiver to), which is refused with ESN: the
// receiver needs the window to infer the high 32 bits.
func WithReplayWindow(packets int) Option { return func(o *options) { o.window = packets } }

// SA is one direction of an ESP Security Association, using AES-GCM with a
// 16-byte ICV (NewSA) or AES-CBC with HMAC-SHA-2 (NewCBCSA). Use Seal on an
// outbound SA and Open on an inbound one; the two are independent, so one
// value may also serve both in a test. An SA is safe for concurrent use by
// multiple goroutines; create it with NewSA or NewCBCSA.
type SA struct {
	spi uint32
	esn bool

	// Exactly one of aead (AES-GCM) and cbc is set.
	salt [SaltLen]byte
	aead cipher.AEAD
	cbc  *cbcHMAC

	// Per-transform sizes: IV, ICV, and the boundary that Pad Length and
	// Next Header must end on (RFC 4303 2.4).
	ivLen, icvLen, align int

	// next is the sequence number Seal uses next, starting at 1
	// (RFC 4303 3.3.3). It becomes 0 only by passing 2^64-1 with ESN, and
	// is never advanced past limit+1, so no number is handed out twice.
	next  atomic.Uint64
	limit uint64 // last sequence number Seal may use

	mu     sync.Mutex
	replay *replayWindow // nil when anti-replay is disabled
}

// NewSA returns an SA for spi with the given key material: the AES key
// followed by the 4-byte salt, 20, 28 or 36 bytes for AES-128, -192 or -256
// (RFC 4106 8.1), as IKEv2 derives it (RFC 7296 2.17). The key material is
// not retained. SPI 0 is reserved and never appears on the wire
// (RFC 4303 2.1).
func NewSA(spi uint32, keymat []byte, opts ...Option) (*SA, error) {
	if spi == 0 {
		return nil, fmt.Errorf("esp: spi 0 is reserved (RFC 4303 2.1)")
	}
	return newSA(spi, keymat, opts...)
}

// newSA is NewSA without the SPI check, so tests can use published vectors
// whose SPI is 0.
func newSA(spi uint32, keymat []byte, opts ...Option) (*SA, error) {
	o, err := collect(spi, opts)
	if err != nil {
		return nil, err
	}
	switch len(keymat) {
	case 16 + SaltLen, 24 + SaltLen, 32 + SaltLen:
	default:
		return nil, fmt.Errorf("esp: spi 0x%08x: AES-GCM key material is %d bytes, want 20, 28 or 36 (AES key and 4-byte salt, RFC 4106 8.1)", spi, len(keymat))
	}
	keyLen := len(keymat) - SaltLen
	block, err := aes.NewCipher(keymat[:keyLen])
	if err != nil {
		return nil, fmt.Errorf("esp: spi 0x%08x: %w", spi, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("esp: spi 0x%08x: %w", spi, err)
	}
	s := newBase(spi, o)
	s.aead = aead
	s.ivLen, s.icvLen, s.align = IVLen, ICVLen, 4 // RFC 4106 3.2: no block alignment beyond 4
	copy(s.salt[:], keymat[keyLen:])
	return s, nil
}

// collect applies and validates the options.
func collect(spi uint32, opts []Option) (options, error) {
	o := options{window: DefaultReplayWindow}
	for _, opt := range opts {
		opt(&o)
	}
	if o.window != 0 && (o.window < MinReplayWindow || o.window > MaxReplayWindow) {
		return o, fmt.Errorf("esp: spi 0x%08x: replay window of %d packets, want 0 (off) or %d to %d", spi, o.window, MinReplayWindow, MaxReplayWindow)
	}
	if o.window == 0 && o.esn {
		return o, fmt.Errorf("esp: spi 0x%08x: ESN needs a replay window to infer the high 32 bits (RFC 4303 A2)", spi)
	}
	return o, nil
}

// newBase returns an SA with the transform-independent state set up.
func newBase(spi uint32, o options) *SA {
	s := &SA{spi: spi, esn: o.esn, limit: math.MaxUint32}
	if o.esn {
		s.limit = math.MaxUint64
	}
	s.next.Store(1)
	if o.window != 0 {
		s.replay = newReplayWindow(o.window, o.esn)
	}
	return s
}

// SPI returns the SA's Security Parameters Index.
func (s *SA) SPI() uint32 { return s.spi }

// ESN reports whether the SA uses Extended Sequence Numbers.
func (s *SA) ESN() bool { return s.esn }

// SealedLen returns the length of the packet Seal builds around a payload
// of payloadLen bytes, so callers can size dst.
func (s *SA) SealedLen(payloadLen int) int {
	return HeaderLen + s.ivLen + payloadLen + padLen(payloadLen, s.align) + 2 + s.icvLen
}

// padLen is the RFC 4303 2.4 padding: the fewest bytes that end Pad Length
// and Next Header on a multiple of align, 4 for AES-GCM (a stream mode,
// RFC 4106 3.2) and the 16-byte block for AES-CBC (RFC 3602 2.4).
func padLen(payloadLen, align int) int { return (align - (payloadLen+2)%align) % align }

// Seal appends to dst one ESP packet, from the SPI to the ICV, carrying
// payload with the given Next Header value (the IP protocol number of the
// payload in transport mode, 4 or 41 in tunnel mode), and returns the
// extended slice. It allocates nothing when dst has SealedLen(len(payload))
// bytes of spare capacity (AES-CBC allocates a little regardless). payload
// may lie anywhere in that spare capacity; placed where the ciphertext goes,
// at dst[len(dst)+HeaderLen+IVLen:] for AES-GCM, it is encrypted in place.
//
// Each call takes the next sequence number. With AES-GCM it is also the IV,
// so no nonce is ever used twice; AES-CBC draws a random IV instead
// (RFC 3602 2.1). Once the last number (2^32-1, or 2^64-1 with ESN) has
// been used, Seal returns ErrSeqExhausted and the SA must be replaced
// (RFC 4303 3.3.3).
func (s *SA) Seal(dst []byte, nextHeader uint8, payload []byte) ([]byte, error) {
	seq, err := s.takeSeq()
	if err != nil {
		return dst, err
	}
	return s.seal(dst, nextHeader, payload, seq, seq)
}

// takeSeq reserves the next outbound sequence number.
func (s *SA) takeSeq() (uint64, error) {
	for {
		n := s.next.Load()
		if n == 0 || n > s.limit {
			return 0, &PacketError{SPI: s.spi, Err: ErrSeqExhausted, Detail: fmt.Sprintf("all %d sequence numbers used; rekey", s.limit)}
		}
		if s.next.CompareAndSwap(n, n+1) {
			return n, nil
		}
	}
}

// seal builds the packet for sequence number seq. AES-GCM uses iv as the
// IV: Seal passes seq, tests pass published vectors' IVs. AES-CBC ignores
// it and draws a random IV.
func (s *SA) seal(dst []byte, nextHeader uint8, payload []byte, seq, iv uint64) ([]byte, error) {
	n, pad := len(payload), padLen(len(payload), s.align)
	ptLen := n + pad + 2
	ret, out := grow(dst, HeaderLen+s.ivLen+ptLen+s.icvLen)
	pt := out[HeaderLen+s.ivLen : HeaderLen+s.ivLen+ptLen]
	// Move the payload first: it may overlap the header's bytes.
	copy(pt, payload)
	for i := range pad {
		pt[n+i] = byte(i + 1) // RFC 4303 2.4: 1, 2, 3, ...
	}
	pt[n+pad] = byte(pad)
	pt[n+pad+1] = nextHeader

	binary.BigEndian.PutUint32(out[0:4], s.spi)
	binary.BigEndian.PutUint32(out[4:8], uint32(seq))

	if s.cbc != nil {
		if err := s.cbc.seal(out, ptLen, s.esn, seq); err != nil {
			return dst, fmt.Errorf("esp: spi 0x%08x seq %d: drawing a random IV: %w", s.spi, seq, err)
		}
		return ret, nil
	}
	binary.BigEndian.PutUint64(out[8:16], iv)
	sc := getScratch()
	nonce := s.nonce(sc, out[HeaderLen:HeaderLen+IVLen])
	s.aead.Seal(pt[:0], nonce, pt, s.additionalData(sc, s.spi, seq))
	scratchPool.Put(sc)
	return ret, nil
}

// scratch holds the nonce and the additional data of one AEAD call. Slices
// passed to a cipher.AEAD method escape to the heap, so local arrays would
// cost two allocations per packet; a pool recycles them instead.
type scratch [24]byte

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// nonce builds the RFC 4106 4 nonce in sc[0:12]: salt, then the packet's IV.
func (s *SA) nonce(sc *scratch, iv []byte) []byte {
	copy(sc[0:SaltLen], s.salt[:])
	copy(sc[SaltLen:12], iv)
	return sc[0:12]
}

// additionalData builds the RFC 4106 5 additional data in sc[12:24]: SPI
// and 32-bit sequence number, or with ESN the SPI, then the high and low
// halves of the 64-bit sequence number.
func (s *SA) additionalData(sc *scratch, spi uint32, seq uint64) []byte {
	binary.BigEndian.PutUint32(sc[12:16], spi)
	if !s.esn {
		binary.BigEndian.PutUint32(sc[16:20], uint32(seq))
		return sc[12:20]
	}
	binary.BigEndian.PutUint64(sc[16:24], seq)
	return sc[12:24]
}

// Open authenticates and decrypts one ESP packet, which starts at the SPI,
// appends the payload to dst and returns it with the Next Header value.
// With AES-GCM it allocates nothing when dst has len(packet) bytes of spare
// capacity. To decrypt AES-GCM in place pass
// packet[HeaderLen+IVLen:HeaderLen+IVLen]; any other overlap of dst's spare
// capacity with packet is not allowed.
//
// The order follows RFC 4303 3.4: the SPI must be this SA's, the sequence
// number must pass the replay window, the ICV must verify, and the padding
// must read 1, 2, 3, ...; only then does the window move. Errors are
// *PacketError values wrapping ErrShortPacket, ErrWrongSPI, ErrReplay,
// ErrAuth or ErrBadPadding.
func (s *SA) Open(dst, packet []byte) (nextHeader uint8, payload []byte, err error) {
	if len(packet) < HeaderLen {
		return 0, nil, &PacketError{Err: ErrShortPacket, Detail: shortDetail(len(packet))}
	}
	spi := binary.BigEndian.Uint32(packet[0:4])
	low := binary.BigEndian.Uint32(packet[4:8])
	if spi != s.spi {
		return 0, nil, &PacketError{SPI: spi, Err: ErrWrongSPI, Detail: fmt.Sprintf("sa has spi 0x%08x", s.spi)}
	}
	if need := s.minLen(); len(packet) < need {
		return 0, nil, &PacketError{SPI: spi, Seq: uint64(low), Err: ErrShortPacket,
			Detail: fmt.Sprintf("%d bytes, %s ESP needs at least %d", len(packet), s.transformName(), need)}
	}

	seq, err := s.checkSeq(low)
	if err != nil {
		return 0, nil, &PacketError{SPI: spi, Seq: seq, Err: err}
	}

	out, err := s.decrypt(dst, packet, seq)
	if err != nil {
		var detail string
		if err == errUnaligned {
			err, detail = ErrBadPadding, fmt.Sprintf("%d bytes of ciphertext is not a whole number of %d-byte blocks", len(packet)-HeaderLen-s.ivLen-s.icvLen, s.align)
		}
		return 0, nil, &PacketError{SPI: spi, Seq: seq, Err: err, Detail: detail}
	}

	// RFC 4303 2.4: Pad Length and Next Header end the plaintext, the
	// padding before them counts 1, 2, 3, ...
	pt := out[len(dst):]
	pad := int(pt[len(pt)-2])
	nextHeader = pt[len(pt)-1]
	if pad+2 > len(pt) || !monotonicPadding(pt[len(pt)-2-pad:len(pt)-2]) {
		clear(pt)
		return 0, nil, &PacketError{SPI: spi, Seq: seq, Err: ErrBadPadding, Detail: fmt.Sprintf("pad length %d in %d bytes of plaintext", pad, len(pt))}
	}

	if s.replay != nil {
		s.mu.Lock()
		err = s.replay.update(seq)
		s.mu.Unlock()
		if err != nil {
			// A copy of this packet was accepted while it was decrypted.
			clear(pt)
			return 0, nil, &PacketError{SPI: spi, Seq: seq, Err: err}
		}
	}
	return nextHeader, out[:len(out)-pad-2], nil
}

// minLen is the shortest packet that can be valid: header, IV, ICV and at
// least Pad Length and Next Header, a whole block of them for AES-CBC.
func (s *SA) minLen() int {
	if s.cbc != nil {
		return HeaderLen + s.ivLen + s.align + s.icvLen
	}
	return gcmOverhead
}

func (s *SA) transformName() string {
	if s.cbc != nil {
		return "AES-CBC"
	}
	return "AES-GCM"
}

// decrypt authenticates packet and appends its plaintext, trailer included,
// to dst. The only errors are ErrAuth and, for an authentic AES-CBC packet
// of a length no block cipher can produce, errUnaligned.
func (s *SA) decrypt(dst, packet []byte, seq uint64) ([]byte, error) {
	if s.cbc != nil {
		return s.cbc.open(dst, packet, s.esn, seq)
	}
	sc := getScratch()
	nonce := s.nonce(sc, packet[HeaderLen:HeaderLen+IVLen])
	out, err := s.aead.Open(dst, nonce, packet[HeaderLen+IVLen:], s.additionalData(sc, s.spi, seq))
	scratchPool.Put(sc)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// checkSeq recovers the full sequence number and checks it against the
// window, before any decryption (RFC 4303 3.4.3).
func (s *SA) checkSeq(low uint32) (uint64, error) {
	if s.replay == nil {
		return uint64(low), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok := s.replay.infer(low)
	if !ok {
		return uint64(low), ErrTooOld
	}
	return seq, s.replay.check(seq)
}

// monotonicPadding reports whether pad holds 1, 2, 3, ... It runs in time
// that depends only on the length, which the attacker already knows.
func monotonicPadding(pad []byte) bool {
	var diff byte
	for i, b := range pad {
		diff |= b ^ byte(i+1)
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// ParseHeader returns the SPI and the (low 32 bits of the) sequence number
// of an ESP packet that starts at the SPI, so a receiver can find the SA to
// Open it with. It does not look past the 8-byte header. On UDP port 4500
// an SPI of 0 is the non-ESP marker of an IKE message (RFC 3948 2.2), not
// ESP.
func ParseHeader(packet []byte) (spi uint32, seq uint32, err error) {
	if len(packet) < HeaderLen {
		return 0, 0, &PacketError{Err: ErrShortPacket, Detail: shortDetail(len(packet))}
	}
	return binary.BigEndian.Uint32(packet[0:4]), binary.BigEndian.Uint32(packet[4:8]), nil
}

func shortDetail(n int) string {
	return fmt.Sprintf("%d bytes, the ESP header alone is %d", n, HeaderLen)
}

// grow extends b by n bytes, reusing its spare capacity when there is
// enough, and returns the whole slice and the new tail.
func grow(b []byte, n int) (whole, tail []byte) {
	total := len(b) + n
	if cap(b) >= total {
		whole = b[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, b)
	}
	return whole, whole[len(b):]
}
