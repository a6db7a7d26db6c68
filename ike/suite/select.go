package suite

import (
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ErrNoProposalChosen is wrapped by Select when no proposal is acceptable;
// the exchange layer answers with NO_PROPOSAL_CHOSEN (RFC 7296 3.10.1).
var ErrNoProposalChosen = errors.New("suite: no proposal chosen")

// Option changes how Select chooses.
type Option func(*selectOptions)

type selectOptions struct {
	preferPeer bool
	ignoreKE   bool
}

// PreferPeer makes Select honour the peer's order instead of the local one:
// strongSwan's charon.prefer_configured_proposals = no.
func PreferPeer() Option { return func(o *selectOptions) { o.preferPeer = true } }

// IgnoreKE selects a CHILD_SA proposal without regard to key exchange
// transforms: the CHILD_SA of IKE_AUTH takes its keys from the IKE SA and
// has no KE payload (RFC 7296 1.2, 2.17), so a PFS group configured for
// later rekeys must not make it fail, as strongSwan documents for esp=. The
// reply carries KE NONE only if the peer offered NONE. IKE proposals are
// never matched with this option.
func IgnoreKE() Option { return func(o *selectOptions) { o.ignoreKE = true } }

// Select chooses, as responder, the proposal to accept from the peer's
// remote proposals given the locally configured ones (RFC 7296 2.7, 3.3.6).
//
// The responder's configured order wins, as strongSwan does by default
// (charon.prefer_configured_proposals): each local proposal in turn is
// matched against each of the peer's proposals in the peer's order, and the
// first pair that matches is taken. Within that pair each transform type is
// chosen transform by transform, again in local order. The result carries
// the peer's Proposal Num and SPI (RFC 7296 3.3.1 requires both to be
// echoed) and one transform of each type the peer offered, ready to be sent
// back.
//
// Local transforms cygnet does not implement are ignored, so a
// configuration can never make cygnet accept what it cannot run. The
// implicit defaults follow RFC 7296 3.3.3 and strongSwan: a proposal
// without ESN transform means NO_EXT_SEQ, an ESP proposal without KE means
// no PFS (NONE), and INTEG is absent or NONE with an AEAD cipher (RFC 5282
// 8). A peer proposal with an unknown transform type, a transform of a type
// foreign to its protocol, or an SPI of the wrong size is skipped.
//
// When nothing matches, the error wraps ErrNoProposalChosen and names both
// sides' proposals in strongSwan's notation, e.g.
//
//	suite: no proposal chosen: peer offered [AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048], we accept [AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384]
func Select(local, remote []message.Proposal, opts ...Option) (message.Proposal, error) {
	var o selectOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.preferPeer {
		for _, r := range remote {
			for _, l := range local {
				if chosen, ok := match(l, r, o); ok {
					return chosen, nil
				}
			}
		}
	} else {
		for _, l := range local {
			for _, r := range remote {
				if chosen, ok := match(l, r, o); ok {
					return chosen, nil
				}
			}
		}
	}
	return message.Proposal{}, fmt.Errorf("%w: peer offered [%s], we accept [%s]",
		ErrNoProposalChosen, FormatList(remote), FormatList(local))
}

// byType holds a proposal's transforms per type, in proposal order.
type byType [message.TransformESN + 1][]message.Transform

// split groups p's transforms by type; ok is false for an unknown type.
// With keepSupported only transforms cygnet implements for p's protocol
// (and the NONE values) are kept.
//
// The groups share one backing array (counted first), so that a split
// costs one allocation rather than one per type.
func split(p message.Proposal, keepSupported bool) (b byType, ok bool) {
	var count [len(b)]int
	total := 0
	for _, t := range p.Transforms {
		if t.Type < message.TransformENCR || t.Type > message.TransformESN {
			return byType{}, false
		}
		if keepSupported && !isNone(t) && !Supported(p.Protocol, t) {
			continue
		}
		count[t.Type]++
		total++
	}
	if total == 0 {
		return b, true
	}
	all := make([]message.Transform, total)
	off := 0
	for i, n := range count {
		if n > 0 {
			b[i] = all[off : off : off+n]
			off += n
		}
	}
	for _, t := range p.Transforms {
		if keepSupported && !isNone(t) && !Supported(p.Protocol, t) {
			continue
		}
		b[t.Type] = append(b[t.Type], t)
	}
	return b, true
}

func contains(ts []message.Transform, t message.Transform) bool {
	for _, u := range ts {
		if u == t {
			return true
		}
	}
	return false
}

// pick returns the first transform of pref also in other.
func pick(pref, other []message.Transform) (message.Transform, bool) {
	for _, t := range pref {
		if contains(other, t) {
			return t, true
		}
	}
	return message.Transform{}, false
}

// spiOK checks the SPI size of a proposal: 4 octets for ESP (RFC 4303 2.1);
// for IKE empty in IKE_SA_INIT or 8 octets when rekeying (RFC 7296 3.3.1).
func spiOK(p message.Proposal) bool {
	switch p.Protocol {
	case message.ProtoESP:
		return len(p.SPI) == 4
	case message.ProtoIKE:
		return len(p.SPI) == 0 || len(p.SPI) == 8
	}
	return false
}

// match tries to accept peer proposal r under local proposal l. With
// preferPeer, ties between acceptable transforms go to r's order.
func match(l, r message.Proposal, o selectOptions) (message.Proposal, bool) {
	preferPeer := o.preferPeer
	if l.Protocol != r.Protocol || !spiOK(r) {
		return message.Proposal{}, false
	}
	if l.Protocol != message.ProtoIKE && l.Protocol != message.ProtoESP {
		return message.Proposal{}, false
	}
	lt, ok := split(l, true)
	if !ok {
		return message.Proposal{}, false
	}
	rt, ok := split(r, false)
	if !ok {
		return message.Proposal{}, false
	}
	order := func(typ message.TransformType, lDefault, rDefault []message.Transform) (pref, other []message.Transform) {
		a, b := lt[typ], rt[typ]
		if len(a) == 0 {
			a = lDefault
		}
		if len(b) == 0 {
			b = rDefault
		}
		if preferPeer {
			return b, a
		}
		return a, b
	}
	isIKE := l.Protocol == message.ProtoIKE
	if o.ignoreKE {
		if isIKE {
			return message.Proposal{}, false
		}
		lt[message.TransformKE] = nil
		if contains(rt[message.TransformKE], KETransform(message.DHNone)) {
			rt[message.TransformKE] = []message.Transform{KETransform(message.DHNone)}
		} else {
			rt[message.TransformKE] = nil
		}
	}
	if isIKE && len(rt[message.TransformESN]) > 0 {
		return message.Proposal{}, false // ESN is an ESP/AH transform
	}
	if !isIKE && len(rt[message.TransformPRF]) > 0 {
		return message.Proposal{}, false // PRF is an IKE transform
	}

	integNone := []message.Transform{IntegTransform(message.IntegNone)}
	keNone := []message.Transform{KETransform(message.DHNone)}
	esnNo := []message.Transform{ESNTransform(message.ESNNo)}

	encrPref, encrOther := order(message.TransformENCR, nil, nil)
	for _, encr := range encrPref {
		if !contains(encrOther, encr) {
			continue
		}
		chosen := []message.Transform{encr}

		// INTEG: none with AEAD (absent or explicit NONE), else a real one.
		var integ message.Transform
		if message.EncrID(encr.ID).IsAEAD() {
			if len(rt[message.TransformINTEG]) > 0 && !contains(rt[message.TransformINTEG], integNone[0]) {
				continue
			}
			if len(rt[message.TransformINTEG]) > 0 {
				integ = integNone[0]
			}
		} else {
			pref, other := order(message.TransformINTEG, nil, nil)
			t, ok := pick(withoutNone(pref), other)
			if !ok {
				continue
			}
			integ = t
		}

		var prf message.Transform
		if isIKE {
			pref, other := order(message.TransformPRF, nil, nil)
			t, ok := pick(pref, other)
			if !ok {
				continue
			}
			prf = t
		}

		// KE: required for IKE (RFC 7296 3.3.3, 2.18), optional PFS for ESP.
		var ke message.Transform
		var keDefault []message.Transform
		if !isIKE {
			keDefault = keNone
		}
		pref, other := order(message.TransformKE, keDefault, keDefault)
		if isIKE {
			pref = withoutNone(pref)
		}
		t, ok := pick(pref, other)
		if !ok {
			continue
		}
		ke = t

		var esn message.Transform
		if !isIKE {
			pref, other := order(message.TransformESN, esnNo, esnNo)
			t, ok := pick(pref, other)
			if !ok {
				continue
			}
			esn = t
		}

		// Echo one transform of each type the peer offered (RFC 7296 3.3.6),
		// in the order RFC 7296 3.3.3 uses.
		if isIKE {
			chosen = append(chosen, prf)
		}
		if len(rt[message.TransformINTEG]) > 0 {
			chosen = append(chosen, integ)
		}
		if len(rt[message.TransformKE]) > 0 {
			chosen = append(chosen, ke)
		}
		if len(rt[message.TransformESN]) > 0 {
			chosen = append(chosen, esn)
		}
		return NewProposal(r.Number, r.Protocol, r.SPI, chosen...), true
	}
	return message.Proposal{}, false
}

// withoutNone drops NONE transforms: an IKE SA may not negotiate KE NONE,
// and a non-AEAD cipher needs a real INTEG.
func withoutNone(ts []message.Transform) []message.Transform {
	var out []message.Transform
	for _, t := range ts {
		if !isNone(t) {
			out = append(out, t)
		}
	}
	return out
}
