package ike

import (
	"context"
	"fmt"
	"time"
)

// TerminateIKE deletes the IKE SA whose unique id is id, with its
// CHILD_SAs, telling the peer (RFC 7296 1.4.1), and waits until it is gone
// or ctx is done; the connection's other IKE SAs stay (`swanctl
// --terminate --ike-id`). found is false when no such SA exists.
func (e *Engine) TerminateIKE(ctx context.Context, id uint32) (found bool, err error) {
	var dead <-chan struct{}
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.uid == id && sa.state != stateDead {
			sa.startDelete("terminated locally")
			dead = sa.dead
		}
		sa.unlock()
	}
	if dead == nil {
		return false, nil
	}
	select {
	case <-dead:
		return true, nil
	case <-ctx.Done():
		return true, fmt.Errorf("ike: IKE_SA %d: terminate: %w", id, ctx.Err())
	}
}

// TerminateChild deletes the installed CHILD_SAs of the named connection,
// or the one whose unique id is id when id is not 0, with an INFORMATIONAL
// exchange each, and leaves their IKE SAs up (`swanctl --terminate
// --child`). It waits until they are gone or ctx is done and returns how
// many it deleted.
func (e *Engine) TerminateChild(ctx context.Context, name string, id uint32) (int, error) {
	type target struct {
		sa *ikeSA
		ch *childSA
	}
	var targets []target
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.state == stateEstablished {
			for _, ch := range append([]*childSA(nil), sa.children...) {
				if !ch.installed || ch.deleting || ch.replaced {
					continue
				}
				if id != 0 && ch.uid == id || id == 0 && name != "" && sa.connName() == name {
					targets = append(targets, target{sa, ch})
					sa.deleteChild(ch, "terminated locally")
				}
			}
		}
		sa.unlock()
	}
	// A CHILD_SA has no channel of its own: look until each has left its
	// IKE SA (the peer answered, or the IKE SA died).
	for _, t := range targets {
		for {
			t.sa.lock()
			gone := !t.sa.hasChild(t.ch) || t.sa.state == stateDead
			t.sa.unlock()
			if gone {
				break
			}
			select {
			case <-ctx.Done():
				return len(targets), fmt.Errorf("ike: CHILD_SA %d: terminate: %w", t.ch.uid, ctx.Err())
			case <-t.sa.dead:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return len(targets), nil
}
