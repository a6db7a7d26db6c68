package ike

import (
	"bytes"
	"crypto/sha1"
	"net/netip"
	"testing"
)

// TestNATHash checks natHash against RFC 7296 2.23's definition written
// out with a streaming SHA-1: SHA-1(SPIi | SPIr | IP | Port), the IP in
// its 4- or 16-octet form, IPv4-mapped addresses as IPv4.
func TestNATHash(t *testing.T) {
	for _, ap := range []string{"192.0.2.1:500", "10.1.2.3:4500", "[2001:db8::7]:500", "[::ffff:198.51.100.9]:4500", "0.0.0.0:0"} {
		a := netip.MustParseAddrPort(ap)
		h := sha1.New()
		h.Write([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
		h.Write([]byte{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10})
		h.Write(a.Addr().Unmap().AsSlice())
		h.Write([]byte{byte(a.Port() >> 8), byte(a.Port())})
		want := h.Sum(nil)
		if got := natHash(0x0123456789abcdef, 0xfedcba9876543210, a); !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", ap, got, want)
		}
	}
}
