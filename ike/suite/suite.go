package suite

import (
	"errors"
	"fmt"
	"io"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Suite is a negotiated proposal: exactly one transform of each type
// (RFC 7296 3.3.6). For IKE, Integ is IntegNone with an AEAD cipher; for
// ESP, PRF is 0 and KE is DHNone without PFS.
type Suite struct {
	Protocol    message.ProtocolID
	Encr        message.EncrID
	EncrKeyBits int
	Integ       message.IntegID
	PRF         message.PRFID
	KE          message.DHGroup
	ESN         message.ESNID
}

// FromProposal checks that p is a complete negotiated proposal of
// transforms cygnet implements (as Select returns) and converts it.
func FromProposal(p message.Proposal) (Suite, error) {
	s := Suite{Protocol: p.Protocol}
	var seen [message.TransformESN + 1]bool
	for _, t := range p.Transforms {
		if t.Type < message.TransformENCR || t.Type > message.TransformESN {
			return Suite{}, fmt.Errorf("suite: %s: unknown transform type %v", Format(p), t.Type)
		}
		if seen[t.Type] {
			return Suite{}, fmt.Errorf("suite: %s: more than one %v transform", Format(p), t.Type)
		}
		seen[t.Type] = true
		if !isNone(t) && !Supported(p.Protocol, t) {
			return Suite{}, fmt.Errorf("suite: %s: %s not supported for %v", Format(p), Name(t), p.Protocol)
		}
		switch t.Type {
		case message.TransformENCR:
			s.Encr, s.EncrKeyBits = message.EncrID(t.ID), t.KeyBits
		case message.TransformINTEG:
			s.Integ = message.IntegID(t.ID)
		case message.TransformPRF:
			s.PRF = message.PRFID(t.ID)
		case message.TransformKE:
			s.KE = message.DHGroup(t.ID)
		case message.TransformESN:
			s.ESN = message.ESNID(t.ID)
		}
	}
	if err := s.Validate(); err != nil {
		return Suite{}, err
	}
	return s, nil
}

// isNone reports whether t is the explicit "NONE" of INTEG or KE.
func isNone(t message.Transform) bool {
	return (t.Type == message.TransformINTEG && t.ID == uint16(message.IntegNone)) ||
		(t.Type == message.TransformKE && t.ID == uint16(message.DHNone))
}

// Validate checks that s is complete and consistent for its protocol.
func (s Suite) Validate() error {
	switch s.Protocol {
	case message.ProtoIKE, message.ProtoESP:
	default:
		return fmt.Errorf("suite: protocol %v not supported", s.Protocol)
	}
	if s.Encr == 0 {
		return fmt.Errorf("suite: %s: no encryption algorithm", s)
	}
	if !Supported(s.Protocol, EncrTransform(s.Encr, s.EncrKeyBits)) {
		return fmt.Errorf("suite: %s: encryption algorithm not supported", s)
	}
	if s.Encr.IsAEAD() {
		if s.Integ != message.IntegNone {
			return fmt.Errorf("suite: %s: combined-mode cipher with an integrity algorithm (RFC 5282 8)", s)
		}
	} else if s.Integ == message.IntegNone || !Supported(s.Protocol, IntegTransform(s.Integ)) {
		return fmt.Errorf("suite: %s: missing or unsupported integrity algorithm", s)
	}
	if s.KE != message.DHNone && !Supported(s.Protocol, KETransform(s.KE)) {
		return fmt.Errorf("suite: %s: key exchange method not supported", s)
	}
	switch s.Protocol {
	case message.ProtoIKE:
		if s.PRF == 0 || !Supported(s.Protocol, PRFTransform(s.PRF)) {
			return fmt.Errorf("suite: %s: missing or unsupported PRF", s)
		}
		// RFC 7296 3.3.2: an IKE SA always has a D-H group; 2.18: a rekey
		// must not accept NONE.
		if s.KE == message.DHNone {
			return fmt.Errorf("suite: %s: IKE SA without key exchange method", s)
		}
		if s.ESN != message.ESNNo {
			return fmt.Errorf("suite: %s: ESN is not an IKE transform", s)
		}
	case message.ProtoESP:
		if s.PRF != 0 {
			return fmt.Errorf("suite: %s: PRF is not an ESP transform", s)
		}
		if !Supported(s.Protocol, ESNTransform(s.ESN)) {
			return fmt.Errorf("suite: %s: unsupported ESN value", s)
		}
	}
	return nil
}

// Transforms returns s as wire transforms in the order RFC 7296 3.3.3's
// examples use: ENCR, PRF, INTEG, KE, ESN. NONE values are left out, except
// that an ESP suite always states its ESN transform (RFC 7296 3.3.3 makes it
// mandatory for ESP).
func (s Suite) Transforms() []message.Transform {
	ts := []message.Transform{EncrTransform(s.Encr, s.EncrKeyBits)}
	if s.PRF != 0 {
		ts = append(ts, PRFTransform(s.PRF))
	}
	if s.Integ != message.IntegNone {
		ts = append(ts, IntegTransform(s.Integ))
	}
	if s.KE != message.DHNone {
		ts = append(ts, KETransform(s.KE))
	}
	if s.Protocol == message.ProtoESP {
		ts = append(ts, ESNTransform(s.ESN))
	}
	return ts
}

// String prints s as Format prints the proposal.
func (s Suite) String() string {
	return Format(message.Proposal{Protocol: s.Protocol, Transforms: s.Transforms()})
}

// EncrKeyLen is the length of one encryption key (SK_ei, SK_er, or one ESP
// direction's), salt included for AES-GCM.
func (s Suite) EncrKeyLen() (int, error) { return EncrKeyLen(s.Encr, s.EncrKeyBits) }

// IntegKeyLen is the length of one integrity key (SK_ai, SK_ar, or one ESP
// direction's); 0 for AEAD.
func (s Suite) IntegKeyLen() (int, error) { return IntegKeyLen(s.Integ) }

// NewPRF returns the suite's PRF (IKE suites only).
func (s Suite) NewPRF() (*PRF, error) {
	if s.PRF == 0 {
		return nil, errors.New("suite: suite has no PRF")
	}
	return NewPRF(s.PRF)
}

// NewKeyExchange generates a key pair for the suite's key exchange method.
func (s Suite) NewKeyExchange(rand io.Reader) (KeyExchange, error) {
	if s.KE == message.DHNone {
		return nil, errors.New("suite: suite has no key exchange method")
	}
	return NewKeyExchange(s.KE, rand)
}

// NewSKCipher returns the SK payload cipher of an IKE suite for one
// direction: (SK_ei, SK_ai) for messages the original initiator sends,
// (SK_er, SK_ar) for the other direction (RFC 7296 2.14).
func (s Suite) NewSKCipher(encKey, integKey []byte, rand io.Reader) (SKCipher, error) {
	if s.Protocol != message.ProtoIKE {
		return nil, fmt.Errorf("suite: SK payload cipher for a %v suite", s.Protocol)
	}
	return NewSKCipher(s.Encr, s.EncrKeyBits, s.Integ, encKey, integKey, rand)
}
