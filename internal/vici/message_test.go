package vici

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// readmeExample is the encoding example of strongSwan's vici README:
//
//	key1 = value1
//	section1 = { sub-section = { key2 = value2 }, list1 = [ item1, item2 ] }
var readmeExample = []byte{
	3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
	1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
	1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
	3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
	2,
	4, 5, 'l', 'i', 's', 't', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '2',
	6,
	2,
}

func readmeMessage() *Message {
	return NewMessage().Set("key1", "value1").SetSection("section1", NewMessage().
		SetSection("sub-section", NewMessage().Set("key2", "value2")).
		SetList("list1", []string{"item1", "item2"}))
}

func TestReadmeExample(t *testing.T) {
	got, err := readmeMessage().AppendEncode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, readmeExample) {
		t.Fatalf("encoding:\n got %v\nwant %v", got, readmeExample)
	}
	m, err := DecodeMessage(readmeExample)
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("key1") != "value1" || m.Section("section1").Section("sub-section").Get("key2") != "value2" ||
		strings.Join(m.Section("section1").List("list1"), ",") != "item1,item2" {
		t.Fatalf("decoded:\n%s", m)
	}
	if m.String() != readmeMessage().String() {
		t.Fatalf("decoded\n%s\nwant\n%s", m, readmeMessage())
	}
}

// TestPrefixes: every strict prefix of a valid message either
// fails or is itself a complete message ending at an element boundary;
// never a panic.
func TestPrefixes(t *testing.T) {
	boundaries := map[int]bool{0: true, 14: true}
	for n := range len(readmeExample) {
		_, err := DecodeMessage(readmeExample[:n])
		if err == nil && !boundaries[n] {
			t.Errorf("prefix of %d bytes decoded", n)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix of %d bytes: error %v does not wrap ErrMalformed", n, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"unbalanced end", []byte{2}, "section end without a section"},
		{"open section", []byte{1, 1, 'a'}, "not closed"},
		{"open list", []byte{4, 1, 'a', 5, 0, 0}, "not closed"},
		{"item outside list", []byte{5, 0, 0}, "outside a list"},
		{"list end outside", []byte{6}, "list end without"},
		{"nested list", []byte{4, 1, 'a', 4, 1, 'b', 6, 6}, "inside list"},
		{"key in list", []byte{4, 1, 'a', 3, 1, 'b', 0, 0, 6}, "inside list"},
		{"duplicate key", []byte{3, 1, 'a', 0, 0, 3, 1, 'a', 0, 0}, "duplicate key"},
		{"truncated value", []byte{3, 1, 'a', 0, 5, 'x'}, "truncated value"},
		{"truncated name", []byte{3, 9, 'a'}, "truncated name"},
		{"unknown type", []byte{9}, "unknown element type"},
		{"too deep", bytes.Repeat([]byte{1, 0}, maxDepth+2), "nested deeper"},
	} {
		_, err := DecodeMessage(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for _, p := range []Packet{
		{Type: CmdRequest, Name: "version", Message: NewMessage()},
		{Type: CmdResponse, Message: readmeMessage()},
		{Type: CmdUnknown},
		{Type: EventRegister, Name: "list-sa"},
		{Type: EventUnregister, Name: "list-sa"},
		{Type: EventConfirm},
		{Type: EventUnknown},
		{Type: Event, Name: "ike-updown", Message: readmeMessage()},
	} {
		b, err := p.AppendEncode(nil)
		if err != nil {
			t.Fatalf("%v: %v", p.Type, err)
		}
		if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 {
			t.Fatalf("%v: length header %d for %d bytes", p.Type, n, len(b)-4)
		}
		got, err := ReadPacket(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%v: %v", p.Type, err)
		}
		if got.Type != p.Type || got.Name != p.Name || got.Message.String() != p.Message.String() {
			t.Fatalf("round trip of %v %q: got %v %q\n%s", p.Type, p.Name, got.Type, got.Name, got.Message)
		}
	}
}

func TestLimits(t *testing.T) {
	// A length header above 512 KiB is refused before reading the body.
	hdr := binary.BigEndian.AppendUint32(nil, MaxSegment+1)
	if _, err := ReadPacket(bytes.NewReader(hdr)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized header: %v", err)
	}
	// The encoder refuses what it cannot frame.
	big := NewMessage()
	for i := range 9 {
		big.Set(strings.Repeat("k", i+1), strings.Repeat("v", 65535))
	}
	if _, err := (Packet{Type: CmdResponse, Message: big}).AppendEncode(nil); err == nil {
		t.Fatal("a 590 KB message encoded")
	}
	if _, err := NewMessage().Set("k", strings.Repeat("v", 65536)).AppendEncode(nil); err == nil {
		t.Fatal("a 64 KiB value encoded")
	}
	if _, err := NewMessage().Set(strings.Repeat("k", 256), "").AppendEncode(nil); err == nil {
		t.Fatal("a 256-byte key encoded")
	}
	// Unnamed packet types carry nothing.
	if _, err := DecodePacket([]byte{byte(EventConfirm), 0}); err == nil {
		t.Fatal("EVENT_CONFIRM with trailing bytes decoded")
	}
	if _, err := DecodePacket([]byte{8}); err == nil {
		t.Fatal("packet type 8 decoded")
	}
}

// FuzzDecode: DecodePacket never panics, and whatever it accepts encodes
// back to bytes that decode to the same packet.
func FuzzDecode(f *testing.F) {
	f.Add(append([]byte{byte(CmdResponse)}, readmeExample...))
	f.Add(append([]byte{byte(CmdRequest), 7, 'v', 'e', 'r', 's', 'i', 'o', 'n'}, readmeExample...))
	f.Add([]byte{byte(EventRegister), 7, 'l', 'i', 's', 't', '-', 's', 'a'})
	f.Add([]byte{byte(Event), 1, 'x', 4, 1, 'a', 5, 0, 1, 'b', 6})
	f.Add([]byte{byte(CmdUnknown)})
	f.Add([]byte{byte(CmdRequest), 0, 1, 0, 1, 0, 2, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc, err := p.AppendEncode(nil)
		if err != nil {
			t.Fatalf("decoded packet does not encode: %v", err)
		}
		q, err := DecodePacket(enc[4:])
		if err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		if q.Type != p.Type || q.Name != p.Name || q.Message.String() != p.Message.String() {
			t.Fatalf("round trip changed the packet")
		}
		// Decoding is canonical: the encoding is the input itself.
		if !bytes.Equal(enc[4:], b) {
			t.Fatalf("re-encoding differs from the input:\n in %x\nout %x", b, enc[4:])
		}
	})
}
