package xfrm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
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
		if len(b) >= nl.SizeofXfrmUsersaInfo {
			parseKeys(b[nl.SizeofXfrmUsersaInfo:], "fuzz")
		}
	})
}

// TestParseKeys reads keys out of algorithm attributes and refuses a key
// length that overruns its attribute.
func TestParseKeys(t *testing.T) {
	attr := func(typ uint16, hdr int, bits uint32, key []byte) []byte {
		v := make([]byte, hdr, hdr+len(key))
		binary.NativeEndian.PutUint32(v[64:68], bits)
		v = append(v, key...)
		a := make([]byte, 4, 4+len(v)+3)
		binary.NativeEndian.PutUint16(a[0:2], uint16(4+len(v)))
		binary.NativeEndian.PutUint16(a[2:4], typ)
		a = append(a, v...)
		for len(a)%4 != 0 {
			a = append(a, 0)
		}
		return a
	}
	key := bytes.Repeat([]byte{7}, 36)
	enc, integ, err := parseKeys(attr(nl.XFRMA_ALG_AEAD, 72, 288, key), "test")
	if err != nil || !bytes.Equal(enc, key) || integ != nil {
		t.Fatalf("AEAD: %x %x %v", enc, integ, err)
	}
	ik := bytes.Repeat([]byte{9}, 32)
	b := append(attr(nl.XFRMA_ALG_CRYPT, 68, 128, key[:16]), attr(nl.XFRMA_ALG_AUTH_TRUNC, 72, 256, ik)...)
	if enc, integ, err = parseKeys(b, "test"); err != nil || !bytes.Equal(enc, key[:16]) || !bytes.Equal(integ, ik) {
		t.Fatalf("CBC+HMAC: %x %x %v", enc, integ, err)
	}
	if _, _, err := parseKeys(attr(nl.XFRMA_ALG_AEAD, 72, 4096, key), "test"); err == nil {
		t.Error("a key length past the attribute was accepted")
	}
	if _, _, err := parseKeys(nil, "test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no key attribute: %v, want ErrNotFound", err)
	}
}
