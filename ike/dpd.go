package ike

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// KeepaliveSender is implemented by Transports that can send NAT-T
// keepalives, a single 0xff octet on the IKE socket (RFC 3948 2.3); ike/udp's
// Conn does. The engine sends them only through a Transport that has it.
type KeepaliveSender interface {
	SendKeepalive(local, remote netip.AddrPort) error
}

// defaultKeepAlive is strongSwan's charon.keep_alive.
const defaultKeepAlive = 20 * time.Second

// armLiveness starts dead peer detection (dpddelay with a dpdaction other
// than none, as strongSwan: dpdaction=none disables active checks) and NAT
// keepalives (when this end is behind a NAT) for an established SA.
func (sa *ikeSA) armLiveness() {
	now := sa.e.clock.Now()
	sa.lastIn, sa.lastOut = now, now
	sa.armDPD()
	sa.armKeepalive()
}

func (sa *ikeSA) stopLiveness() {
	for _, t := range []Timer{sa.dpdTimer, sa.keepTimer} {
		if t != nil {
			t.Stop()
		}
	}
	sa.dpdTimer, sa.keepTimer = nil, nil
}

func (sa *ikeSA) armDPD() {
	c := sa.conn
	if c == nil || c.DPDDelay <= 0 || c.DPDAction == ActionNone {
		return
	}
	if sa.dpdTimer != nil {
		sa.dpdTimer.Stop()
	}
	d := sa.lastIn.Add(c.DPDDelay).Sub(sa.e.clock.Now())
	if d <= 0 {
		d = c.DPDDelay
	}
	sa.dpdTimer = sa.e.clock.AfterFunc(d, func() {
		sa.lock()
		defer sa.unlock()
		sa.dpdCheck()
	})
}

// dpdCheck sends a liveness check, an empty INFORMATIONAL request (RFC
// 7296 1.4), after dpddelay without any authenticated message from the
// peer. Its retransmissions giving up is what declares the peer dead.
func (sa *ikeSA) dpdCheck() {
	if sa.state != stateEstablished || sa.rekeyedTo != nil {
		return
	}
	c := sa.conn
	if sa.e.clock.Now().Sub(sa.lastIn) >= c.DPDDelay && sa.pending == nil && len(sa.queue) == 0 {
		sa.logAt(slog.LevelDebug, "ike: sending DPD liveness check")
		sa.request(message.Informational, nil, func(*message.Message, message.Payloads) {}, sa.peerDead)
		sa.lastIn = sa.e.clock.Now() // the next check counts from this one
	}
	sa.armDPD()
}

// peerDead applies dpdaction once a request to the peer went unanswered
// through all retransmissions, as strongSwan does: clear removes the SAs;
// hold routes the connection first (its trap policies take over from the
// CHILD_SAs' in place, so the traffic is held, never sent in clear, and
// the next packet renegotiates); restart negotiates the connection again
// at once.
func (sa *ikeSA) peerDead() {
	if sa.state == stateDead {
		return
	}
	c := sa.conn
	action := ActionClear
	if c != nil {
		action = c.DPDAction
	}
	sa.logAt(slog.LevelWarn, "ike: peer is dead", "remote", sa.remote.String(), "dpdaction", action.String())
	if action == ActionHold && sa.liveChildren() {
		sa.holdConn("dpdaction=hold")
	}
	reason := "peer dead, dpdaction=" + action.String()
	sa.destroy(reason, fmt.Errorf("ike: conn %s: peer %v not responding", sa.connName(), sa.remote))
	if action == ActionRestart && c != nil {
		e, name := sa.e, c.Name
		sa.fx.after = append(sa.fx.after, func() { e.restart(name) })
	}
}

// restart initiates a connection again without waiting for the result.
func (e *Engine) restart(name string) {
	c := e.conn(name)
	if c == nil {
		return
	}
	if _, err := e.startInitiator(c); err != nil {
		e.log.Warn("ike: restarting connection failed", "conn", name, "err", err)
	}
}

func (e *Engine) keepAlive() time.Duration {
	if d := e.config().KeepAlive; d != 0 {
		return d
	}
	return defaultKeepAlive
}

func (sa *ikeSA) armKeepalive() {
	if _, ok := sa.e.tr.(KeepaliveSender); !ok || !sa.natLocal || sa.e.keepAlive() < 0 {
		return
	}
	if sa.keepTimer != nil {
		sa.keepTimer.Stop()
	}
	d := sa.lastOut.Add(sa.e.keepAlive()).Sub(sa.e.clock.Now())
	if d <= 0 {
		d = sa.e.keepAlive()
	}
	sa.keepTimer = sa.e.clock.AfterFunc(d, func() {
		sa.lock()
		defer sa.unlock()
		if sa.state != stateEstablished || sa.rekeyedTo != nil {
			return
		}
		if sa.e.clock.Now().Sub(sa.lastOut) >= sa.e.keepAlive() {
			// RFC 3948 4: keep the NAT mapping alive while idle.
			ks := sa.e.tr.(KeepaliveSender)
			local, remote := sa.local, sa.remote
			sa.fx.after = append(sa.fx.after, func() {
				if err := ks.SendKeepalive(local, remote); err != nil {
					sa.e.log.Debug("ike: keepalive failed", "remote", remote, "err", err)
				}
			})
			sa.lastOut = sa.e.clock.Now()
		}
		sa.armKeepalive()
	})
}
