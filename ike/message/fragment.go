package message

import (
	"errors"
	"fmt"
)

// Limits on reassembly, so that an authenticated but hostile peer cannot
// make us hold arbitrary memory. strongSwan's default maximum IKE message
// size is far below MaxReassembledLen.
const (
	MaxFragments      = 256
	MaxReassembledLen = 1 << 20
)

// ErrStaleFragment reports a fragment that belongs to an older
// fragmentation of the message (a smaller Total Fragments, RFC 7383 2.6);
// the caller drops it.
var ErrStaleFragment = errors.New("message: fragment of a superseded fragmentation")

// EncodeFragments encodes the inner payloads as RFC 7383 fragments of at
// most maxLen bytes each (the IKE message, i.e. the UDP payload; RFC 7383
// 2.5.1 suggests 1280 bytes of IP datagram for IPv6 and 576 for IPv4). Only
// the SKF payload is sent, so m.Payloads must be empty. Each fragment is
// sealed by s with its own header as associated data.
func (m *Message) EncodeFragments(inner []Payload, maxLen int, s Sealer) ([][]byte, error) {
	if len(m.Payloads) != 0 {
		return nil, fmt.Errorf("message: fragmented message with unencrypted payloads")
	}
	plain, err := EncodePayloads(inner)
	if err != nil {
		return nil, err
	}
	// The fragment overhead is fixed apart from the sealed length; find the
	// largest chunk whose fragment fits (SealedLen is monotonic).
	const fixed = HeaderLen + genericHeaderLen + 4
	lo, hi := 0, maxLen
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fixed+s.SealedLen(mid) <= maxLen {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	chunk := lo
	if chunk < 1 {
		return nil, fmt.Errorf("message: no room for fragment content in %d bytes", maxLen)
	}
	total := (len(plain) + chunk - 1) / chunk
	if total == 0 {
		total = 1 // an empty inner chain is still one fragment
	}
	if total > MaxFragments {
		return nil, fmt.Errorf("message: %d bytes need %d fragments of %d, more than %d", len(plain), total, chunk, MaxFragments)
	}
	out := make([][]byte, 0, total)
	for i := range total {
		part := plain[i*chunk : min((i+1)*chunk, len(plain))]
		first := PayloadNone
		if i == 0 {
			first = FirstType(inner)
		}
		b, err := m.EncodeFragment(first, uint16(i+1), uint16(total), part, s)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Reassembly collects the decrypted fragments of one message (RFC 7383
// 2.6). The engine verifies and decrypts each SKF payload first, then calls
// Add; when Add reports completion, Payloads decodes the whole inner chain.
// The zero value is ready to use.
type Reassembly struct {
	total  uint16
	first  PayloadType
	chunks [][]byte
	have   int
	size   int
}

// Add records the decrypted content of fragment f (copied). It reports
// whether every fragment has now arrived. A duplicate fragment is ignored.
// A fragment with a larger Total Fragments restarts reassembly (the sender
// re-fragmented for a smaller path MTU, RFC 7383 2.6); one with a smaller
// Total belongs to the superseded fragmentation: ErrStaleFragment.
func (r *Reassembly) Add(f *EncryptedFragment, plaintext []byte) (bool, error) {
	if err := checkFragment(f.Number, f.Total); err != nil {
		return false, err
	}
	if f.Total > MaxFragments {
		return false, fmt.Errorf("message: %d fragments, more than %d", f.Total, MaxFragments)
	}
	switch {
	case f.Total < r.total:
		return false, ErrStaleFragment
	case f.Total > r.total:
		*r = Reassembly{total: f.Total, chunks: make([][]byte, f.Total)}
	}
	i := int(f.Number) - 1
	if r.chunks[i] != nil {
		return r.have == int(r.total), nil
	}
	if r.size+len(plaintext) > MaxReassembledLen {
		return false, fmt.Errorf("message: reassembled message exceeds %d bytes", MaxReassembledLen)
	}
	r.chunks[i] = append(make([]byte, 0, len(plaintext)), plaintext...)
	r.size += len(plaintext)
	r.have++
	if f.Number == 1 {
		r.first = f.FirstInner
	}
	return r.have == int(r.total), nil
}

// Complete reports whether every fragment has arrived.
func (r *Reassembly) Complete() bool { return r.total > 0 && r.have == int(r.total) }

// FirstInner is the type of the first inner payload, from fragment 1.
func (r *Reassembly) FirstInner() PayloadType { return r.first }

// Plaintext returns the concatenated inner payloads, or nil before
// completion.
func (r *Reassembly) Plaintext() []byte {
	if !r.Complete() {
		return nil
	}
	out := make([]byte, 0, r.size)
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out
}

// Payloads decodes the reassembled inner payload chain.
func (r *Reassembly) Payloads() (Payloads, error) {
	if !r.Complete() {
		return nil, fmt.Errorf("message: reassembly has %d of %d fragments", r.have, r.total)
	}
	return DecodePayloads(r.first, r.Plaintext())
}
