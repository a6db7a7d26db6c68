package ike

// StampArrival marks p as Dispatch does when it queues it, so that a test
// can hold a packet back as a busy worker would and hand it in later.
func StampArrival(e *Engine, p Packet) Packet { return e.stampArrival(p) }
