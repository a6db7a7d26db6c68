package ike

import (
	"fmt"
	"log/slog"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// handleInformational answers an INFORMATIONAL request (RFC 7296 1.4,
// 1.5): Delete payloads remove the named SAs, an empty request is a
// liveness check answered with an empty response.
func (sa *ikeSA) handleInformational(h message.Header, raw []byte, ps message.Payloads) {
	deleteIKE, authFailed := false, false
	var ours [][]byte
	for _, p := range ps {
		switch x := p.(type) {
		case *message.Delete:
			switch x.Protocol {
			case message.ProtoIKE:
				deleteIKE = true
			case message.ProtoESP:
				for _, spi := range x.SPIs {
					if len(spi) != 4 {
						continue
					}
					// The peer names its inbound SPI, our outbound one
					// (RFC 7296 1.4.1); we answer with ours.
					if ch := sa.takeChildByOutSPI(beUint32(spi)); ch != nil {
						if n := ch.successor; n != nil && sa.hasChild(n) {
							// The rekey's initiator has the new SA: send
							// on it before the old one goes.
							sa.installOutbound(n, "the initiator deleted the old CHILD_SA")
						}
						if !ch.deleting && ch.successor == nil {
							// Deleted on the peer's account, not
							// after a rekey or crossing our delete.
							sa.closeAction("CHILD_SA deleted by peer", !ch.replaced)
						}
						sa.removeChild(ch, "deleted by peer")
						if !ch.deleting {
							// RFC 7296 1.4.1: when both ends delete at
							// once, neither response names the SA.
							ours = append(ours, spiBytes32(ch.spiIn))
						}
					}
				}
			}
		case *message.Notify:
			if x.NotifyType == message.AuthenticationFailed {
				authFailed = true
			}
		}
	}
	if deleteIKE || authFailed {
		reason := "deleted by peer"
		if authFailed {
			sa.e.counters.authFailures.Add(1)
			reason = "peer failed to authenticate us"
			sa.logAt(slog.LevelWarn, "ike: authentication failed", "peer", sa.remote.String(), "reason", reason)
		}
		if n := sa.ikeCollide; n != nil && deleteIKE {
			// RFC 7296 2.8.2: the peer won crossing IKE rekeys and deletes
			// this SA before our answer came: its successor takes over.
			sa.ikeCollide = nil
			sa.adopt(n)
		}
		sa.respond(h, raw, nil)
		if deleteIKE && !authFailed && sa.rekeyedTo == nil && sa.state == stateEstablished {
			sa.closeAction("IKE_SA deleted by peer", sa.liveChildren())
		}
		sa.destroy(reason, fmt.Errorf("ike: conn %s: IKE_SA %s", sa.connName(), reason))
		return
	}
	var out []message.Payload
	if len(ours) > 0 {
		out = append(out, &message.Delete{Protocol: message.ProtoESP, SPISize: 4, SPIs: ours})
	}
	sa.respond(h, raw, out)
}

// takeChildByOutSPI removes and returns the CHILD_SA whose outbound SPI is
// spi.
func (sa *ikeSA) takeChildByOutSPI(spi uint32) *childSA {
	for i, ch := range sa.children {
		if ch.spiOut == spi {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			return ch
		}
	}
	return nil
}
