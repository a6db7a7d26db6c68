package ike

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Keying tries (ipsec.conf keyingtries=, swanctl.conf keyingtries): a
// connection that is to be up (auto=start, closeaction=restart, a reload
// that adds it) is initiated again after a failure, KeyingTries times in
// all or forever when it is 0, with a pause that grows from 1 s to 2
// minutes. The engine owns these loops so that an embedder's Close (or
// Drain) ends them all, and a loop never outlives the engine.

// connectors are the engine's background keying loops.
type connectors struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	active map[string]bool // conns with a loop, under Engine.mu
}

func (c *connectors) init() {
	c.once.Do(func() {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		c.active = map[string]bool{}
	})
}

// Connect brings the connection up, retrying per its KeyingTries with
// back-off, until it is up, ctx ends, the tries are used up, the
// connection is removed from the configuration or the engine is closed.
// When the IKE SA is up and only its CHILD_SA failed, it stops at once:
// a new IKE SA would fail the same way and leave duplicates behind (as in
// strongSwan). It returns the last attempt's error.
func (e *Engine) Connect(ctx context.Context, name string) error {
	for attempt := 1; ; attempt++ {
		c := e.conn(name)
		if c == nil {
			return fmt.Errorf("%w %q", ErrNoConnection, name)
		}
		tries := c.KeyingTries
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := e.Initiate(ictx, name)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNoConnection) {
			return err
		}
		if e.ikeUp(name) {
			e.log.Error("CHILD_SA failed on an established IKE_SA", "conn", name, "err", err)
			return err
		}
		if tries != 0 && attempt >= tries {
			e.log.Error("giving up on connection", "conn", name, "tries", attempt, "err", err)
			return err
		}
		e.log.Warn("connection attempt failed, retrying", "conn", name, "try", attempt, "err", err)
		t := time.NewTimer(Backoff(attempt, rand.Int64N))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Start runs Connect for the connection in the background, for the
// engine's lifetime: Drain and Close end the loop and wait for it. One
// loop runs per connection; starting one that is running does nothing (it
// reads the connection's configuration afresh on every attempt).
func (e *Engine) Start(name string) error {
	e.connect.init()
	if e.conn(name) == nil {
		return fmt.Errorf("%w %q", ErrNoConnection, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.draining {
		return fmt.Errorf("ike: conn %s: %w", name, ErrClosed)
	}
	if e.connect.active[name] {
		return nil
	}
	e.connect.active[name] = true
	e.connect.wg.Add(1)
	go func() {
		defer e.connect.wg.Done()
		e.Connect(e.connect.ctx, name)
		e.mu.Lock()
		delete(e.connect.active, name)
		e.mu.Unlock()
	}()
	return nil
}

// stopConnecting ends the background loops and waits for them; Start
// refuses new ones once draining or closed is set.
func (e *Engine) stopConnecting() {
	e.connect.init()
	e.connect.cancel()
	e.connect.wg.Wait()
}

// ikeUp reports whether the connection has an established IKE SA.
func (e *Engine) ikeUp(name string) bool {
	for _, sa := range e.snapshot() {
		sa.lock()
		up := sa.conn != nil && sa.conn.Name == name && sa.state == stateEstablished
		sa.unlock()
		if up {
			return true
		}
	}
	return false
}

// Backoff is the pause before keying try attempt+1: it grows
// exponentially from 1 s to a 2-minute cap, and a random half of it is
// jitter (a value in [d/2, d]), so that the nodes of a cluster that lost
// their peer at the same moment do not all retry in step. randN returns a
// value in [0, n).
func Backoff(attempt int, randN func(n int64) int64) time.Duration {
	d := min(time.Second<<min(max(attempt, 1)-1, 7), 2*time.Minute)
	half := d / 2
	return half + time.Duration(randN(int64(d-half)+1))
}
