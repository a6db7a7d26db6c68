package ike

import (
	"sync"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Dispatch limits. A worker runs per IKE SA that has packets waiting, so a
// kernel call that blocks one SA (netlink under memory pressure, a busy
// XFRM lock) holds up only that SA's packets, never another peer's
// handshake or the socket reader (issue 13).
const (
	// maxDispatchWorkers bounds the SAs processed at once. A flood of
	// spoofed IKE_SA_INIT requests creates none that last: each is
	// answered (or dropped) in microseconds without a kernel call.
	maxDispatchWorkers = 256
	// maxQueuedPerSA bounds one SA's backlog; IKE retransmits what is lost.
	maxQueuedPerSA = 32
)

// dispatcher runs HandlePacket for each IKE SA on its own goroutine, in
// arrival order per SA, with at most maxDispatchWorkers at once.
type dispatcher struct {
	mu     sync.Mutex
	queues map[uint64]*packetQueue
	closed bool
	wg     sync.WaitGroup
}

type packetQueue struct {
	pkts []Packet
}

// Dispatch hands p to the worker of the IKE SA it belongs to and returns
// at once: a socket reader calls it for every datagram. Messages of one SA
// are handled in the order they were dispatched; messages of different SAs
// run concurrently, so a slow kernel call for one SA does not delay
// another. A message that finds its SA's backlog full, or
// maxDispatchWorkers SAs busy, is dropped and counted as Counters.Overrun
// (the sender retransmits, RFC 7296 2.1). After Close, Dispatch drops
// everything. HandlePacket stays the synchronous form for callers that
// drive the engine from one goroutine (tests, simulations).
func (e *Engine) Dispatch(p Packet) {
	key, ok := dispatchKey(p.Data)
	if !ok {
		// Not even an IKE header: HandlePacket counts and drops it
		// without taking any lock or making a kernel call.
		e.HandlePacket(p)
		return
	}
	p = e.stampArrival(p)
	d := &e.dispatch
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		e.counters.dispatchDropped.Add(1)
		return
	}
	if d.queues == nil {
		d.queues = make(map[uint64]*packetQueue)
	}
	if q := d.queues[key]; q != nil {
		if len(q.pkts) >= maxQueuedPerSA {
			d.mu.Unlock()
			e.counters.dispatchDropped.Add(1)
			return
		}
		q.pkts = append(q.pkts, p)
		d.mu.Unlock()
		return
	}
	if len(d.queues) >= maxDispatchWorkers {
		d.mu.Unlock()
		e.counters.dispatchDropped.Add(1)
		return
	}
	q := &packetQueue{}
	d.queues[key] = q
	d.wg.Add(1)
	d.mu.Unlock()
	go e.dispatchWorker(key, q, p)
}

// stampArrival records in p when it arrived, counted in establishments
// (Packet.arrived).
func (e *Engine) stampArrival(p Packet) Packet {
	e.mu.Lock()
	p.arrived = e.estSeq + 1
	e.mu.Unlock()
	return p
}

func (e *Engine) dispatchWorker(key uint64, q *packetQueue, p Packet) {
	d := &e.dispatch
	defer d.wg.Done()
	for {
		e.HandlePacket(p)
		d.mu.Lock()
		if len(q.pkts) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		p = q.pkts[0]
		q.pkts[0] = Packet{}
		q.pkts = q.pkts[1:]
		d.mu.Unlock()
	}
}

// stopDispatch makes Dispatch drop from now on and waits for the packets
// already handed to workers.
func (e *Engine) stopDispatch() {
	d := &e.dispatch
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
}

// dispatchKey is the SPI that names the IKE SA a message belongs to on
// this end: the one this end chose (as HandlePacket looks it up), or the
// initiator's for an IKE_SA_INIT request, which has no responder SPI yet.
// A request's retransmissions and the IKE_AUTH that follows it thus go to
// workers of their own SA; a clash of a peer's SPI with one of ours only
// shares a queue.
func dispatchKey(data []byte) (uint64, bool) {
	h, err := message.DecodeHeader(data)
	if err != nil {
		return 0, false
	}
	if h.SPIr == 0 {
		return h.SPIi, true
	}
	if h.IsInitiator() {
		return h.SPIr, true
	}
	return h.SPIi, true
}
