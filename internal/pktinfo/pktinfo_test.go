//go:build linux

package pktinfo

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRoundTrip: what Control writes for sending, Dst reads back as the
// address (the kernel fills ipi_addr on receipt; for IPv6 one field
// serves both ways, for IPv4 Control sets ipi_spec_dst, so the received
// form is built by hand).
func TestRoundTrip(t *testing.T) {
	a6 := netip.MustParseAddr("2001:db8::7")
	if got, ok := Dst(Control(a6, unix.AF_INET6)); !ok || got != a6 {
		t.Errorf("IPv6: Dst = %v, %v; want %v", got, ok, a6)
	}
	a4 := netip.MustParseAddr("192.0.2.7")
	var pi unix.Inet4Pktinfo
	pi.Addr = a4.As4()
	if got, ok := Dst(unix.PktInfo4(&pi)); !ok || got != a4 {
		t.Errorf("IPv4: Dst = %v, %v; want %v", got, ok, a4)
	}
	if _, ok := Dst([]byte{1, 2, 3}); ok {
		t.Error("Dst found an address in garbage")
	}
	if _, ok := Dst(nil); ok {
		t.Error("Dst found an address in nothing")
	}
}
