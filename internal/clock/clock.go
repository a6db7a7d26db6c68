// Package clock provides a deterministic fake of ike.Clock for tests: time
// stands still until the test advances it, and timers fire in due order
// from the goroutine that calls Advance, so retransmissions, lifetimes and
// collisions (RFC 7296 2.1, 2.8) can be exercised without sleeping.
package clock

import (
	"sort"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

var _ ike.Clock = (*Fake)(nil)

// Fake is a manual clock. The zero value starts at the zero time; New starts
// at a given instant. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*Timer
}

// New returns a Fake whose Now is start.
func New(start time.Time) *Fake { return &Fake{now: start} }

// Timer is a pending AfterFunc call of a Fake; AfterFunc returns it as an
// ike.Timer.
type Timer struct {
	c       *Fake
	when    time.Time
	seq     uint64 // creation order breaks ties between timers due at once
	f       func()
	stopped bool
	fired   bool
}

// Now returns the fake's current time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run d after the current fake time. Unlike
// time.AfterFunc it never runs f by itself: f runs inside the Advance call
// that reaches its due time (even for d <= 0, which is due at the next
// Advance, including Advance(0)).
func (c *Fake) AfterFunc(d time.Duration, f func()) ike.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &Timer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer. It reports whether the call was prevented, false
// when it already ran or was stopped before.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// Advance moves the clock forward by d, running every timer that falls due,
// one at a time, in order of due time (then creation order), with Now set to
// each timer's due time while it runs. Timers scheduled by a running callback
// also fire if they fall due within the advance. The callbacks run on the
// caller's goroutine, with no lock of the Fake held.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.nextDue(end)
		if t == nil {
			if end.After(c.now) {
				c.now = end
			}
			c.mu.Unlock()
			return
		}
		if t.when.After(c.now) {
			c.now = t.when
		}
		t.fired = true
		c.mu.Unlock()
		t.f()
	}
}

// nextDue removes and returns the earliest timer due at or before end.
func (c *Fake) nextDue(end time.Time) *Timer {
	if len(c.timers) == 0 {
		return nil
	}
	sort.SliceStable(c.timers, func(i, j int) bool {
		a, b := c.timers[i], c.timers[j]
		if !a.when.Equal(b.when) {
			return a.when.Before(b.when)
		}
		return a.seq < b.seq
	})
	t := c.timers[0]
	if t.when.After(end) {
		return nil
	}
	c.timers = c.timers[1:]
	return t
}

// Pending returns the number of timers not yet fired or stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next returns how long until the earliest pending timer is due, and false
// when none is pending.
func (c *Fake) Next() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0, false
	}
	min := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(min) {
			min = t.when
		}
	}
	return min.Sub(c.now), true
}
