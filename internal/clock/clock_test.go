package clock

import (
	"sync"
	"testing"
	"time"
)

func TestAdvanceFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(start)
	var got []string
	var at []time.Duration
	rec := func(name string) func() {
		return func() { got = append(got, name); at = append(at, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, rec("c"))
	c.AfterFunc(1*time.Second, rec("a"))
	c.AfterFunc(1*time.Second, rec("a2")) // same due time: creation order
	stopped := c.AfterFunc(2*time.Second, rec("never"))
	c.AfterFunc(2*time.Second, func() {
		got = append(got, "b")
		c.AfterFunc(500*time.Millisecond, rec("b+")) // due within the same advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once")
	}
	c.Advance(2*time.Second + 400*time.Millisecond)
	if want := []string{"a", "a2", "b"}; !equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	c.Advance(time.Second)
	if want := []string{"a", "a2", "b", "b+", "c"}; !equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if at[0] != time.Second || at[2] != 2500*time.Millisecond || at[3] != 3*time.Second {
		t.Fatalf("Now during callbacks: %v", at)
	}
	if c.Now().Sub(start) != 3400*time.Millisecond {
		t.Fatalf("Now = %v", c.Now().Sub(start))
	}
	if c.Pending() != 0 {
		t.Fatalf("pending %d", c.Pending())
	}
}

func TestZeroDelayWaitsForAdvance(t *testing.T) {
	c := New(time.Unix(0, 0))
	fired := false
	tm := c.AfterFunc(0, func() { fired = true })
	if fired {
		t.Fatal("fired before Advance")
	}
	if d, ok := c.Next(); !ok || d != 0 {
		t.Fatalf("Next = %v %v", d, ok)
	}
	c.Advance(0)
	if !fired || tm.Stop() {
		t.Fatal("Advance(0) must fire a due timer; Stop after firing must be false")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New(time.Unix(0, 0))
	var mu sync.Mutex
	n, late := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				tm := c.AfterFunc(time.Duration(j)*time.Millisecond, func() { mu.Lock(); n++; mu.Unlock() })
				if j%2 == 1 && !tm.Stop() {
					// The concurrent Advance fired it first: Stop must
					// say so, and the timer counts as fired.
					mu.Lock()
					late++
					mu.Unlock()
				}
				_ = c.Now()
			}
		}()
	}
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		for i := 0; i < 50; i++ {
			c.Advance(time.Millisecond)
		}
	}()
	wg.Wait()
	<-advanced // its callbacks may still be running until it returns
	c.Advance(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if n != 400+late {
		t.Fatalf("fired %d, want 400 plus the %d stopped too late", n, late)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
