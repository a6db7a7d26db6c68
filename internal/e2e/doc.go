// Package e2e holds cygnet's end-to-end tests on a real Linux kernel with
// ESP: two network namespaces joined by veth, SAs installed by cygnet's own
// packages, traffic checked on the wire. They run inside the real-kernel VM
// (internal/vm) when this machine's kernel lacks ESP.
package e2e
