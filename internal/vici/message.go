// Package vici implements strongSwan's Versatile IKE Control Interface
// (VICI) protocol, the interface swanctl, govici, strongSwan's python vici
// and the tools built on them use to configure, control and monitor an IKE
// daemon: the transport framing (a 32-bit big-endian length before every
// segment, 512 KiB at most), the packet layer (CMD_REQUEST, CMD_RESPONSE,
// CMD_UNKNOWN, EVENT_REGISTER, EVENT_UNREGISTER, EVENT_CONFIRM,
// EVENT_UNKNOWN, EVENT), the message encoding (sections, key/values,
// lists) and a server for the daemon's unix socket.
//
// The format follows strongSwan's own description of it
// (src/libcharon/plugins/vici/README.md); no strongSwan code is used.
package vici

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxSegment is the largest transport segment (packet type, name and
// message) either side may send: strongSwan's limit of 512 KiB.
const MaxSegment = 512 * 1024

// maxDepth bounds the nesting of sections a decoder accepts. strongSwan
// sets no limit; real messages nest a handful of levels (load-conn:
// conn, children, child), so this only stops a hostile client from making
// the daemon build a pointless 500,000-level tree.
const maxDepth = 64

// Message element types (README "Message format").
const (
	elemSectionStart = 1
	elemSectionEnd   = 2
	elemKeyValue     = 3
	elemListStart    = 4
	elemListItem     = 5
	elemListEnd      = 6
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("vici: malformed message")

// Kind says what a message entry holds.
type Kind uint8

// Entry kinds.
const (
	KindValue   Kind = iota + 1 // a key/value
	KindList                    // a list of values
	KindSection                 // a sub-section
)

// Entry is one named element of a section, in the order it was added or
// decoded.
type Entry struct {
	Key     string
	Kind    Kind
	Value   string   // KindValue; values are raw bytes, usually text
	List    []string // KindList
	Section *Message // KindSection
}

// Message is a VICI message: a section (the implicit root section) whose
// entries keep their order, which matters on the wire (swanctl lists
// authentication rounds and children in the order they come).
type Message struct {
	entries []Entry
}

// NewMessage returns an empty message.
func NewMessage() *Message { return &Message{} }

// Entries returns the message's entries in order; the slice is shared.
func (m *Message) Entries() []Entry {
	if m == nil {
		return nil
	}
	return m.entries
}

// Len is the number of entries.
func (m *Message) Len() int { return len(m.Entries()) }

func (m *Message) find(key string) *Entry {
	if m == nil {
		return nil
	}
	for i := range m.entries {
		if m.entries[i].Key == key {
			return &m.entries[i]
		}
	}
	return nil
}

func (m *Message) put(e Entry) *Message {
	if old := m.find(e.Key); old != nil {
		*old = e
		return m
	}
	m.entries = append(m.entries, e)
	return m
}

// Set sets a key/value, replacing an entry of the same key.
func (m *Message) Set(key, value string) *Message {
	return m.put(Entry{Key: key, Kind: KindValue, Value: value})
}

// SetList sets a list (an empty list is encoded too).
func (m *Message) SetList(key string, items []string) *Message {
	return m.put(Entry{Key: key, Kind: KindList, List: slices.Clone(items)})
}

// SetSection sets a sub-section.
func (m *Message) SetSection(key string, s *Message) *Message {
	if s == nil {
		s = NewMessage()
	}
	return m.put(Entry{Key: key, Kind: KindSection, Section: s})
}

// Has reports whether key is present, of any kind.
func (m *Message) Has(key string) bool { return m.find(key) != nil }

// Get returns the value of a key/value, "" if absent or not a value.
func (m *Message) Get(key string) string {
	if e := m.find(key); e != nil && e.Kind == KindValue {
		return e.Value
	}
	return ""
}

// List returns a list; a key/value is returned as a one-item list, since
// clients send either for keys strongSwan defines as lists.
func (m *Message) List(key string) []string {
	e := m.find(key)
	switch {
	case e == nil:
		return nil
	case e.Kind == KindList:
		return e.List
	case e.Kind == KindValue:
		return []string{e.Value}
	}
	return nil
}

// Section returns a sub-section, nil if absent or not a section.
func (m *Message) Section(key string) *Message {
	if e := m.find(key); e != nil && e.Kind == KindSection {
		return e.Section
	}
	return nil
}

// String renders the message in the README's pseudo-markup, for logs and
// test failures. Values of keys that look secret are masked.
func (m *Message) String() string {
	var b strings.Builder
	m.render(&b, 0)
	return b.String()
}

func (m *Message) render(b *strings.Builder, depth int) {
	ind := strings.Repeat("  ", depth)
	for _, e := range m.Entries() {
		switch e.Kind {
		case KindValue:
			v := e.Value
			if e.Key == "data" || e.Key == "secret" {
				v = "<" + fmt.Sprint(len(v)) + " bytes>"
			}
			fmt.Fprintf(b, "%s%s = %s\n", ind, e.Key, v)
		case KindList:
			fmt.Fprintf(b, "%s%s = [%s]\n", ind, e.Key, strings.Join(e.List, ", "))
		case KindSection:
			fmt.Fprintf(b, "%s%s {\n", ind, e.Key)
			e.Section.render(b, depth+1)
			fmt.Fprintf(b, "%s}\n", ind)
		}
	}
}

// AppendEncode appends the message's encoding to b. It fails when a name
// is longer than 255 bytes or a value longer than 65535, which the format
// cannot carry.
func (m *Message) AppendEncode(b []byte) ([]byte, error) {
	for _, e := range m.Entries() {
		if len(e.Key) > 255 {
			return nil, fmt.Errorf("vici: key %.20q...: longer than 255 bytes", e.Key)
		}
		switch e.Kind {
		case KindValue:
			if len(e.Value) > 0xffff {
				return nil, fmt.Errorf("vici: value of %q: longer than 65535 bytes", e.Key)
			}
			b = append(b, elemKeyValue, byte(len(e.Key)))
			b = append(b, e.Key...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(e.Value)))
			b = append(b, e.Value...)
		case KindList:
			b = append(b, elemListStart, byte(len(e.Key)))
			b = append(b, e.Key...)
			for _, it := range e.List {
				if len(it) > 0xffff {
					return nil, fmt.Errorf("vici: item of list %q: longer than 65535 bytes", e.Key)
				}
				b = append(b, elemListItem)
				b = binary.BigEndian.AppendUint16(b, uint16(len(it)))
				b = append(b, it...)
			}
			b = append(b, elemListEnd)
		case KindSection:
			b = append(b, elemSectionStart, byte(len(e.Key)))
			b = append(b, e.Key...)
			var err error
			if b, err = e.Section.AppendEncode(b); err != nil {
				return nil, err
			}
			b = append(b, elemSectionEnd)
		default:
			return nil, fmt.Errorf("vici: entry %q has no kind", e.Key)
		}
	}
	return b, nil
}

// reader walks a byte slice; every read checks the length left.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	c := r.b[r.off]
	r.off++
	return c, true
}

func (r *reader) bytes(n int) ([]byte, bool) {
	if n > len(r.b)-r.off {
		return nil, false
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, true
}

// name reads an 8-bit length and that many bytes.
func (r *reader) name() (string, bool) {
	n, ok := r.byte()
	if !ok {
		return "", false
	}
	s, ok := r.bytes(int(n))
	return string(s), ok
}

// value reads a 16-bit big-endian length and that many bytes.
func (r *reader) value() (string, bool) {
	l, ok := r.bytes(2)
	if !ok {
		return "", false
	}
	s, ok := r.bytes(int(binary.BigEndian.Uint16(l)))
	return string(s), ok
}

func malformed(off int, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}

// DecodeMessage decodes a message that fills all of b. It enforces the
// README's rules: balanced sections, lists closed and not nested, list
// items only inside lists, key names unique within their section. It never
// panics, whatever b holds, and builds nothing larger than b allows.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) > MaxSegment {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxSegment)
	}
	r := &reader{b: b}
	root := NewMessage()
	stack := []*Message{root}
	var list *Entry // the open list, nil outside one
	for r.off < len(b) {
		at := r.off
		t, _ := r.byte()
		cur := stack[len(stack)-1]
		if list != nil && t != elemListItem && t != elemListEnd {
			return nil, malformed(at, "element type %d inside list %q", t, list.Key)
		}
		switch t {
		case elemSectionStart, elemKeyValue, elemListStart:
			key, ok := r.name()
			if !ok {
				return nil, malformed(at, "truncated name")
			}
			if cur.find(key) != nil {
				return nil, malformed(at, "duplicate key %q", key)
			}
			switch t {
			case elemSectionStart:
				if len(stack) > maxDepth {
					return nil, malformed(at, "sections nested deeper than %d", maxDepth)
				}
				s := NewMessage()
				cur.entries = append(cur.entries, Entry{Key: key, Kind: KindSection, Section: s})
				stack = append(stack, s)
			case elemKeyValue:
				v, ok := r.value()
				if !ok {
					return nil, malformed(at, "truncated value of %q", key)
				}
				cur.entries = append(cur.entries, Entry{Key: key, Kind: KindValue, Value: v})
			case elemListStart:
				cur.entries = append(cur.entries, Entry{Key: key, Kind: KindList, List: []string{}})
				list = &cur.entries[len(cur.entries)-1]
			}
		case elemSectionEnd:
			if len(stack) == 1 {
				return nil, malformed(at, "section end without a section")
			}
			stack = stack[:len(stack)-1]
		case elemListItem:
			if list == nil {
				return nil, malformed(at, "list item outside a list")
			}
			v, ok := r.value()
			if !ok {
				return nil, malformed(at, "truncated item of list %q", list.Key)
			}
			list.List = append(list.List, v)
		case elemListEnd:
			if list == nil {
				return nil, malformed(at, "list end without a list")
			}
			list = nil
		default:
			return nil, malformed(at, "unknown element type %d", t)
		}
	}
	if list != nil {
		return nil, malformed(len(b), "list %q not closed", list.Key)
	}
	if len(stack) != 1 {
		return nil, malformed(len(b), "%d section(s) not closed", len(stack)-1)
	}
	return root, nil
}
