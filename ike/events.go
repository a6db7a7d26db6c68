package ike

import "sync"

// eventStream orders the engine's events. SAs queue them while locked, so
// one SA's events are queued in the order its state machine made them;
// they are handed to Options.OnEvent one at a time, in queue order, by
// whichever goroutine finds the stream idle after releasing an SA (so a
// synchronous caller sees its events delivered before its call returns
// unless another goroutine is delivering at that moment, in which case
// that one delivers them). OnEvent is never called concurrently with
// itself, and never with an engine lock held; Close waits until every
// queued event has been delivered.
type eventStream struct {
	mu         sync.Mutex
	idle       *sync.Cond // signalled when delivering ends
	queue      []Event
	delivering bool
}

// queueEvent appends ev to the stream.
func (e *Engine) queueEvent(ev Event) {
	if e.onEvent == nil {
		return
	}
	s := &e.events
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
}

// deliverEvents hands queued events to OnEvent until the queue is empty,
// unless another goroutine is already doing so.
func (e *Engine) deliverEvents() {
	if e.onEvent == nil {
		return
	}
	s := &e.events
	s.mu.Lock()
	if s.delivering {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, ev := range batch {
			e.onEvent(ev)
		}
		s.mu.Lock()
	}
	s.delivering = false
	s.idle.Broadcast()
	s.mu.Unlock()
}

// drainEvents delivers what is queued and waits for any delivery in
// progress on another goroutine to end.
func (e *Engine) drainEvents() {
	if e.onEvent == nil {
		return
	}
	e.deliverEvents()
	s := &e.events
	s.mu.Lock()
	for s.delivering || len(s.queue) > 0 {
		if !s.delivering {
			s.mu.Unlock()
			e.deliverEvents()
			s.mu.Lock()
			continue
		}
		s.idle.Wait()
	}
	s.mu.Unlock()
}
