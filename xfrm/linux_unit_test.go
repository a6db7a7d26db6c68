package xfrm

import (
	"strings"
	"testing"
)

func TestOpenMissingNamespace(t *testing.T) {
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), "no network namespace") {
		t.Fatalf("Open(\"\") = %v", err)
	}
	_, err := Open("/run/netns/cygnet-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), "/run/netns/cygnet-does-not-exist") {
		t.Fatalf("Open(missing) = %v, want error naming the path", err)
	}
}

func TestParseXfrmStat(t *testing.T) {
	c, err := parseXfrmStat([]byte("XfrmInError             \t0\nXfrmInNoStates          \t12\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("XfrmInNoStates") != 12 || len(c) != 2 {
		t.Fatalf("got %v", c)
	}
	if _, err := parseXfrmStat([]byte("XfrmInError x\n")); err == nil {
		t.Fatal("bad value accepted")
	}
}

// FuzzParseEvent feeds arbitrary kernel notifications: short or odd
// messages must be ignored, never trusted or panicked on.
func FuzzParseEvent(f *testing.F) {
	f.Add(uint16(0x18), make([]byte, 232))
	f.Add(uint16(0x17), make([]byte, 300))
	f.Add(uint16(0x26), make([]byte, 64))
	f.Add(uint16(0x26), make([]byte, 10))
	f.Fuzz(func(t *testing.T, typ uint16, b []byte) {
		parseEvent(typ, b)
	})
}

// FuzzParseState feeds arbitrary state dump messages.
func FuzzParseState(f *testing.F) {
	f.Add(make([]byte, 224))
	f.Add(append(make([]byte, 224), 8, 0, 23, 0, 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseState(b)
	})
}
