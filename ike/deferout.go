package ike

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Make-before-break for whoever answers the exchange that creates a
// CHILD_SA replacing another one with the same reqid (a CHILD_SA rekey, or
// the IKE_AUTH of a reauthentication): Linux sends on the newest outbound
// state of the policy's reqid, and the initiator can receive on the new SA
// only once it has processed the answer. So the answering end installs the
// new inbound state at once and the outbound one later (child.go
// installInbound / installOutbound) as soon as something shows that the
// initiator has the new SA:
//   - it deletes the CHILD_SA the new one replaces;
//   - it sends a later request on the IKE SA (message IDs are sequential,
//     so it has our answer), or, for an IKE SA made by IKE_AUTH, answers
//     one of ours;
//   - packets arrive on the new inbound state (checked every outCheck,
//     with an installer that implements xfrm.UsageReader): the case of a
//     peer that restarted without INITIAL_CONTACT, whose old SA is stale;
//   - or the reqid's last other outbound state leaves the kernel (its IKE
//     SA deleted, its hard lifetime over), when there is nothing else to
//     send on.
// There is no blind deadline: an initiator that never received our answer
// (it gave up) must not be sent to on an SA it does not have, while the old
// SA carries traffic.

// outCheck is how often a deferred outbound state's inbound twin is
// checked for traffic.
const outCheck = 5 * time.Second

// span is how long a peer retransmits a request before it gives up: by
// then it has our answer, or has given the exchange up.
func (r retransmit) span() time.Duration {
	d, step := time.Duration(0), float64(r.timeout)
	for range r.tries + 1 {
		d += time.Duration(step)
		step *= r.base
	}
	return d
}

// outRegistry counts, per reqid, the CHILD_SAs whose outbound state is in
// the kernel. Its lock is taken under SA locks and takes none itself.
type outRegistry struct {
	mu sync.Mutex
	n  map[uint32]int
}

func (r *outRegistry) add(reqid uint32, d int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = make(map[uint32]int)
	}
	r.n[reqid] += d
	v := r.n[reqid]
	if v <= 0 {
		delete(r.n, reqid)
	}
	return v
}

func (r *outRegistry) count(reqid uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reqid]
}

// outInstalled records that ch's outbound state is in the kernel.
func (sa *ikeSA) outInstalled(ch *childSA) {
	if !ch.outIn {
		ch.outIn = true
		sa.e.outs.add(ch.reqid, 1)
	}
}

// outRemoved records that ch's outbound state left the kernel; when it was
// the reqid's last, deferred outbound states of the reqid are installed
// once sa is unlocked (they may belong to other IKE SAs), before the
// packets sa decided on go out: the answer to the peer's Delete must not
// leave while no outbound state exists. Between the removal and that
// install, microseconds with sa's lock released, the kernel has no
// outbound state for the reqid and drops what it would send (the policies
// stay: nothing leaves in clear).
func (sa *ikeSA) outRemoved(ch *childSA) {
	if !ch.outIn {
		return
	}
	ch.outIn = false
	if sa.e.outs.add(ch.reqid, -1) == 0 {
		e, reqid := sa.e, ch.reqid
		sa.fx.before = append(sa.fx.before, func() { e.releaseDeferred(reqid) })
	}
}

// retireOutbound takes ch's outbound state out of the kernel when we start
// deleting ch (or its IKE SA): the peer may drop its inbound state as soon
// as our Delete arrives, so nothing more must go out on it, while our
// inbound state stays until the peer confirms (RFC 7296 1.4.1). Linux then
// sends on the reqid's other outbound state, if any.
func (sa *ikeSA) retireOutbound(ch *childSA) {
	dropPendingOut(ch)
	if !ch.outIn {
		return
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	if err := sa.e.kernel.DeleteState(ctx, ch.kernel.Out.ID()); err != nil {
		sa.logAt(slog.LevelWarn, "ike: removing the outbound state of a CHILD_SA being deleted", "child_id", ch.uid, "spi_out", fmt.Sprintf("%08x", ch.spiOut), "err", err)
		return
	}
	sa.outRemoved(ch)
}

// armOutCheck schedules the traffic check of a deferred outbound state.
func (sa *ikeSA) armOutCheck(ch *childSA) {
	if ch.outTimer != nil {
		ch.outTimer.Stop()
		ch.outTimer = nil
	}
	if ch.pendingOut == nil || ch.replaced || ch.deleting {
		return
	}
	if _, ok := sa.e.kernel.(xfrm.UsageReader); !ok {
		return
	}
	ch.outTimer = sa.e.clock.AfterFunc(outCheck, func() {
		sa.lock()
		defer sa.unlock()
		sa.outCheckDue(ch)
	})
}

func (sa *ikeSA) outCheckDue(ch *childSA) {
	ch.outTimer = nil
	if ch.pendingOut == nil || !sa.hasChild(ch) || sa.state != stateEstablished {
		return
	}
	ur := sa.e.kernel.(xfrm.UsageReader)
	ctx, cancel := kernelCtx()
	n, err := ur.StatePackets(ctx, ch.kernel.In.ID())
	cancel()
	if err == nil && n > 0 {
		sa.installOutbound(ch, "the peer sends on the new CHILD_SA")
		return
	}
	sa.armOutCheck(ch)
}

// peerProgress installs the deferred outbound states the peer has shown it
// can receive on: id is the message ID of a new request from the peer, or
// response says the peer answered one of ours.
func (sa *ikeSA) peerProgress(id uint32, response bool) {
	for _, ch := range sa.children {
		if ch.pendingOut == nil || ch.replaced || ch.deleting {
			continue
		}
		if (!response && id > ch.madeBy) || (response && ch.madeInAuth) {
			sa.installOutbound(ch, "the peer has our answer")
		}
	}
}

// releaseDeferred installs the deferred outbound states of reqid: the SA
// they were to replace is gone, so nothing else could carry the traffic.
// It runs with no lock held and takes one SA lock at a time.
func (e *Engine) releaseDeferred(reqid uint32) {
	for _, sa := range e.snapshot() {
		sa.lock()
		for _, ch := range sa.children {
			if sa.state == stateEstablished && ch.reqid == reqid && ch.pendingOut != nil && !ch.replaced && !ch.deleting {
				sa.installOutbound(ch, "the CHILD_SA it replaces is gone")
			}
		}
		sa.unlock()
	}
}
