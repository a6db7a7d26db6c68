package ike

// ReqID returns the reqid the named connection's CHILD_SAs use (assigning
// it on first use), or 0 for an unknown connection. The daemon installs a
// connection's trap policies (auto=route) and held policies with it, so
// that the CHILD_SA's own policies replace them in place.
func (e *Engine) ReqID(name string) uint32 {
	c := e.conn(name)
	if c == nil {
		return 0
	}
	return e.reqidFor(c)
}
