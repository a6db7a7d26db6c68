package suite

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// CheckReply is the initiator's side of negotiation: it checks that the
// responder's single accepted proposal is one cygnet offered (RFC 7296
// 3.3.6: "the initiator MUST verify that the accepted offer is consistent
// with one of its proposals"), matching by Proposal Num and then
// transform by transform, and returns it as a Suite. The reply must carry
// exactly one transform of each type the offered proposal has (NONE counts
// for KE and INTEG; ESN may be left out by a responder, meaning NO_EXT_SEQ).
func CheckReply(offered []message.Proposal, reply message.Proposal) (Suite, error) {
	var off *message.Proposal
	for i := range offered {
		if offered[i].Number == reply.Number && offered[i].Protocol == reply.Protocol {
			off = &offered[i]
			break
		}
	}
	if off == nil {
		return Suite{}, fmt.Errorf("suite: peer accepted proposal %d (%v), which we did not offer", reply.Number, reply.Protocol)
	}
	if !spiOK(reply) {
		return Suite{}, fmt.Errorf("suite: peer accepted %v proposal with a %d-octet SPI", reply.Protocol, len(reply.SPI))
	}
	ot, ok := split(*off, false)
	if !ok {
		return Suite{}, fmt.Errorf("suite: offered proposal %d has an unknown transform type", off.Number)
	}
	rt, ok := split(reply, false)
	if !ok {
		return Suite{}, fmt.Errorf("suite: peer accepted %s with an unknown transform type", Format(reply))
	}
	for typ := message.TransformENCR; typ <= message.TransformESN; typ++ {
		switch {
		case len(rt[typ]) > 1:
			return Suite{}, fmt.Errorf("suite: peer accepted %s with %d %v transforms", Format(reply), len(rt[typ]), typ)
		case len(rt[typ]) == 1 && !contains(ot[typ], rt[typ][0]):
			return Suite{}, fmt.Errorf("suite: peer accepted %s, which we did not offer in [%s]", Name(rt[typ][0]), Format(*off))
		case len(rt[typ]) == 0 && len(ot[typ]) > 0 && typ != message.TransformESN:
			// An omitted KE is acceptable only where NONE was offered, an
			// omitted INTEG where NONE was offered or an AEAD cipher was
			// chosen (RFC 5282 8).
			aead := len(rt[message.TransformENCR]) == 1 && message.EncrID(rt[message.TransformENCR][0].ID).IsAEAD()
			if !(typ == message.TransformKE && contains(ot[typ], KETransform(message.DHNone))) &&
				!(typ == message.TransformINTEG && (aead || contains(ot[typ], IntegTransform(message.IntegNone)))) {
				return Suite{}, fmt.Errorf("suite: peer accepted %s without a %v transform", Format(reply), typ)
			}
		}
	}
	if len(rt[message.TransformESN]) == 0 && len(ot[message.TransformESN]) > 0 && !contains(ot[message.TransformESN], ESNTransform(message.ESNNo)) {
		return Suite{}, fmt.Errorf("suite: peer accepted %s without ESN, we require it", Format(reply))
	}
	s, err := FromProposal(reply)
	if err != nil {
		return Suite{}, err
	}
	return s, nil
}

// FromLists builds a proposal from per-type lists in preference order, the
// shape of a configured proposal (ike.Proposal): every combination is
// acceptable (RFC 7296 3.3). For ESP an empty esn list means NO_EXT_SEQ and
// the transform is stated explicitly (RFC 7296 3.3.3 makes ESN mandatory in
// ESP proposals); an empty ke list means no KE transform (no PFS). The
// Number and SPI are left for Numbered or the caller.
func FromLists(proto message.ProtocolID, encr []message.Transform, integ []message.IntegID, prf []message.PRFID, ke []message.DHGroup, esn []message.ESNID) message.Proposal {
	p := message.Proposal{Protocol: proto}
	p.Transforms = append(p.Transforms, encr...)
	for _, id := range prf {
		p.Transforms = append(p.Transforms, PRFTransform(id))
	}
	for _, id := range integ {
		p.Transforms = append(p.Transforms, IntegTransform(id))
	}
	for _, g := range ke {
		p.Transforms = append(p.Transforms, KETransform(g))
	}
	if proto == message.ProtoESP {
		if len(esn) == 0 {
			esn = []message.ESNID{message.ESNNo}
		}
		for _, e := range esn {
			p.Transforms = append(p.Transforms, ESNTransform(e))
		}
	}
	return p
}

// Groups returns the distinct key exchange methods of proposals in the
// order they first appear, NONE and unsupported ones left out. The first is
// what an initiator sends its KE payload for (RFC 7296 1.2); after an
// INVALID_KE_PAYLOAD the requested group must be among them.
func Groups(ps []message.Proposal) []message.DHGroup {
	var out []message.DHGroup
	for _, p := range ps {
		for _, t := range p.Transforms {
			if t.Type != message.TransformKE || isNone(t) || !Supported(p.Protocol, t) {
				continue
			}
			g := message.DHGroup(t.ID)
			dup := false
			for _, h := range out {
				dup = dup || h == g
			}
			if !dup {
				out = append(out, g)
			}
		}
	}
	return out
}

// Lists is the inverse of FromLists: p's transforms per type in proposal
// order, for turning a wire proposal (DefaultIKE, a peer's offer) into the
// configuration shape. Transforms of unknown types are dropped.
func Lists(p message.Proposal) (encr []message.Transform, integ []message.IntegID, prf []message.PRFID, ke []message.DHGroup, esn []message.ESNID) {
	for _, t := range p.Transforms {
		switch t.Type {
		case message.TransformENCR:
			encr = append(encr, t)
		case message.TransformINTEG:
			integ = append(integ, message.IntegID(t.ID))
		case message.TransformPRF:
			prf = append(prf, message.PRFID(t.ID))
		case message.TransformKE:
			ke = append(ke, message.DHGroup(t.ID))
		case message.TransformESN:
			esn = append(esn, message.ESNID(t.ID))
		}
	}
	return encr, integ, prf, ke, esn
}

// WithoutKE returns copies of ps without key exchange transforms, for the
// CHILD_SA offered in IKE_AUTH, which cannot have PFS (RFC 7296 1.2; the
// configured groups apply to later CREATE_CHILD_SA exchanges, as with
// strongSwan's esp=). Proposals left identical are not merged.
func WithoutKE(ps []message.Proposal) []message.Proposal {
	out := make([]message.Proposal, len(ps))
	for i, p := range ps {
		q := NewProposal(p.Number, p.Protocol, p.SPI)
		for _, t := range p.Transforms {
			if t.Type != message.TransformKE {
				q.Transforms = append(q.Transforms, t)
			}
		}
		out[i] = q
	}
	return out
}
