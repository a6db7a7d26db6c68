package ike

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoff checks the keying-tries pause: exponential from 1 s, capped
// at 2 minutes, with a random half as jitter.
func TestBackoff(t *testing.T) {
	lowest := func(n int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	for _, c := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{7, 32 * time.Second, 64 * time.Second},
		{8, time.Minute, 2 * time.Minute},
		{9, time.Minute, 2 * time.Minute},
		{1000, time.Minute, 2 * time.Minute},
	} {
		if got := Backoff(c.attempt, lowest); got != c.min {
			t.Errorf("attempt %d: lowest pause %v, want %v", c.attempt, got, c.min)
		}
		if got := Backoff(c.attempt, highest); got != c.max {
			t.Errorf("attempt %d: highest pause %v, want %v", c.attempt, got, c.max)
		}
	}
	// With a real random source, twenty nodes retrying the same attempt
	// spread out instead of retrying in step.
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for range 20 {
		d := Backoff(5, r.Int64N)
		if d < 8*time.Second || d > 16*time.Second {
			t.Fatalf("pause %v outside [8s, 16s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 15 {
		t.Errorf("only %d distinct pauses among 20: no jitter", len(seen))
	}
}
