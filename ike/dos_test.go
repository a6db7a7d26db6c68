package ike

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"testing"
	"testing/iotest"
	"time"
)

// HalfOpenState is the engine's half-open accounting, exported to the
// package's external tests (dos and flood tests) to check that it never
// leaks.
type HalfOpenState struct {
	Total    int // Engine.nHalfOpen: SAs counted against HalfOpenLimit
	Tracked  int // SAs counted against their source (BlockThreshold)
	Sources  int // source addresses with a count
	All      map[netip.Addr]int
	Verified map[netip.Addr]int
}

// HalfOpenCounts returns e's half-open accounting.
func HalfOpenCounts(e *Engine) HalfOpenState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := HalfOpenState{Total: e.nHalfOpen, Tracked: len(e.halfOf), Sources: len(e.halfSrc),
		All: map[netip.Addr]int{}, Verified: map[netip.Addr]int{}}
	for a, c := range e.halfSrc {
		st.All[a], st.Verified[a] = c.all, c.verified
	}
	return st
}

// TestCookieJarRotation: the secret rotates every cookieSecretLifetime on
// the clock, the previous one is kept for one lifetime, and after an idle
// spell of two lifetimes neither old secret survives (RFC 7296 2.6).
func TestCookieJarRotation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var j cookieJar
	if err := j.init(rand.Reader, t0); err != nil {
		t.Fatal(err)
	}
	type want struct {
		at       time.Duration
		cur      byte
		hasPrev  bool
		prev     byte
		sameKeys bool // cur's key is the one of the step before
	}
	var lastCur cookieSecret
	for i, w := range []want{
		{at: 0, cur: 0},
		{at: cookieSecretLifetime - time.Nanosecond, cur: 0, sameKeys: true},
		{at: cookieSecretLifetime, cur: 1, hasPrev: true, prev: 0},
		{at: 2*cookieSecretLifetime - time.Second, cur: 1, hasPrev: true, prev: 0, sameKeys: true},
		{at: 2 * cookieSecretLifetime, cur: 2, hasPrev: true, prev: 1},
		// Idle from 2 to 7.5 lifetimes: the rotations at 3..7 all passed.
		{at: 7*cookieSecretLifetime + cookieSecretLifetime/2, cur: 3, hasPrev: false},
		// The schedule stays on lifetime boundaries: next at 8.
		{at: 8*cookieSecretLifetime - time.Second, cur: 3, sameKeys: true},
		{at: 8 * cookieSecretLifetime, cur: 4, hasPrev: true, prev: 3},
	} {
		cur, prev, hasPrev, err := j.secrets(rand.Reader, t0.Add(w.at))
		if err != nil {
			t.Fatal(err)
		}
		if cur.version != w.cur || hasPrev != w.hasPrev || (hasPrev && prev.version != w.prev) {
			t.Errorf("step %d (+%v): cur v%d prev v%d (%v), want v%d v%d (%v)", i, w.at, cur.version, prev.version, hasPrev, w.cur, w.prev, w.hasPrev)
		}
		if i > 0 && (cur.key == lastCur.key) != w.sameKeys {
			t.Errorf("step %d: key reused %v, want %v", i, cur.key == lastCur.key, w.sameKeys)
		}
		if hasPrev && !w.sameKeys && prev.key != lastCur.key {
			t.Errorf("step %d: previous secret is not the one current before", i)
		}
		lastCur = cur
	}
}

// TestCookieJarRandFailure: a failing random source fails the rotation
// and the cookie check closed.
func TestCookieJarRandFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var j cookieJar
	if err := j.init(iotest.ErrReader(errors.New("no entropy")), t0); err == nil {
		t.Fatal("init with a failing reader succeeded")
	}
	if err := j.init(rand.Reader, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := j.secrets(iotest.ErrReader(errors.New("no entropy")), t0.Add(cookieSecretLifetime)); err == nil {
		t.Fatal("rotation with a failing reader succeeded")
	}
}

// TestCookieMACBinding: the MAC input is unambiguous, so a cookie made for
// an IPv4 source is not one for an IPv6 source ending in the same bytes
// with the nonce shortened to match, and every input changes the cookie.
func TestCookieMACBinding(t *testing.T) {
	s := cookieSecret{version: 7}
	if _, err := io.ReadFull(rand.Reader, s.key[:]); err != nil {
		t.Fatal(err)
	}
	ni := bytes.Repeat([]byte{0xab}, 32)
	v4 := netip.MustParseAddr("192.0.2.1")
	base := cookieMAC(&s, ni, v4, 1)
	if len(base) != cookieLen || base[0] != 7 {
		t.Fatalf("cookie %x: want %d bytes starting with the version", base, cookieLen)
	}
	// Nonce minus 12 bytes, and those 12 bytes followed by the IPv4
	// address as an IPv6 address: the same bytes under concatenation.
	v6 := netip.AddrFrom16([16]byte(append(bytes.Repeat([]byte{0xab}, 12), 192, 0, 2, 1)))
	other := s
	other.key[0] ^= 1
	for name, c := range map[string][]byte{
		"ipv6 suffix": cookieMAC(&s, ni[:20], v6, 1),
		"address":     cookieMAC(&s, ni, netip.MustParseAddr("192.0.2.2"), 1),
		"spi":         cookieMAC(&s, ni, v4, 2),
		"nonce":       cookieMAC(&s, append(bytes.Clone(ni[:31]), 0xac), v4, 1),
		"secret":      cookieMAC(&other, ni, v4, 1),
	} {
		if bytes.Equal(c, base) {
			t.Errorf("%s: same cookie", name)
		}
	}
	if !bytes.Equal(cookieMAC(&s, ni, netip.MustParseAddr("::ffff:192.0.2.1"), 1), base) {
		t.Error("an IPv4-mapped address is not the IPv4 address")
	}
}
