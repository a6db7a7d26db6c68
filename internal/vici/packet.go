package vici

import (
	"encoding/binary"
	"fmt"
	"io"
)

// PacketType is the first byte of a segment (README "Packet layer").
type PacketType uint8

// Packet types.
const (
	CmdRequest      PacketType = 0 // named request message
	CmdResponse     PacketType = 1 // unnamed response message
	CmdUnknown      PacketType = 2 // unnamed: no such command
	EventRegister   PacketType = 3 // named event registration
	EventUnregister PacketType = 4 // named event deregistration
	EventConfirm    PacketType = 5 // unnamed: (de-)registration done
	EventUnknown    PacketType = 6 // unnamed: no such event
	Event           PacketType = 7 // named event message
)

func (t PacketType) String() string {
	switch t {
	case CmdRequest:
		return "CMD_REQUEST"
	case CmdResponse:
		return "CMD_RESPONSE"
	case CmdUnknown:
		return "CMD_UNKNOWN"
	case EventRegister:
		return "EVENT_REGISTER"
	case EventUnregister:
		return "EVENT_UNREGISTER"
	case EventConfirm:
		return "EVENT_CONFIRM"
	case EventUnknown:
		return "EVENT_UNKNOWN"
	case Event:
		return "EVENT"
	}
	return fmt.Sprintf("packet type %d", uint8(t))
}

// named reports whether packets of the type carry a name.
func (t PacketType) named() bool {
	return t == CmdRequest || t == EventRegister || t == EventUnregister || t == Event
}

// carriesMessage reports whether packets of the type carry a message.
func (t PacketType) carriesMessage() bool {
	return t == CmdRequest || t == CmdResponse || t == Event
}

// Packet is one packet: a type, a name for the named types and a message
// for requests, responses and events.
type Packet struct {
	Type    PacketType
	Name    string
	Message *Message
}

// DecodePacket decodes one segment (without its length header). It never
// panics.
func DecodePacket(b []byte) (Packet, error) {
	if len(b) > MaxSegment {
		return Packet{}, fmt.Errorf("%w: segment of %d bytes, more than %d", ErrMalformed, len(b), MaxSegment)
	}
	r := &reader{b: b}
	t, ok := r.byte()
	if !ok {
		return Packet{}, fmt.Errorf("%w: empty segment", ErrMalformed)
	}
	p := Packet{Type: PacketType(t)}
	if p.Type > Event {
		return Packet{}, fmt.Errorf("%w: unknown packet type %d", ErrMalformed, t)
	}
	if p.Type.named() {
		if p.Name, ok = r.name(); !ok {
			return Packet{}, fmt.Errorf("%w: %v: truncated name", ErrMalformed, p.Type)
		}
	}
	rest := b[r.off:]
	if !p.Type.carriesMessage() {
		if len(rest) != 0 {
			return Packet{}, fmt.Errorf("%w: %v with %d trailing bytes", ErrMalformed, p.Type, len(rest))
		}
		return p, nil
	}
	m, err := DecodeMessage(rest)
	if err != nil {
		return Packet{}, fmt.Errorf("%v %q: %w", p.Type, p.Name, err)
	}
	p.Message = m
	return p, nil
}

// AppendEncode appends the packet's segment, with its length header, to
// b. A segment larger than MaxSegment is refused: the peer would drop the
// connection.
func (p Packet) AppendEncode(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(p.Type))
	if p.Type.named() {
		if len(p.Name) > 255 {
			return nil, fmt.Errorf("vici: %v name longer than 255 bytes", p.Type)
		}
		b = append(b, byte(len(p.Name)))
		b = append(b, p.Name...)
	}
	if p.Type.carriesMessage() {
		var err error
		if b, err = p.Message.AppendEncode(b); err != nil {
			return nil, err
		}
	}
	n := len(b) - start - 4
	if n > MaxSegment {
		return nil, fmt.Errorf("vici: %v %q: %d bytes, more than the %d a segment may hold", p.Type, p.Name, n, MaxSegment)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// ErrTooLarge is wrapped by ReadPacket's error for a length header above
// MaxSegment.
var ErrTooLarge = fmt.Errorf("%w: segment longer than %d bytes", ErrMalformed, MaxSegment)

// ReadPacket reads one segment from r and decodes it. A length above
// MaxSegment is refused before anything is allocated for it.
func ReadPacket(r io.Reader) (Packet, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Packet{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxSegment {
		return Packet{}, fmt.Errorf("%w (length header says %d)", ErrTooLarge, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, fmt.Errorf("vici: reading a %d-byte segment: %w", n, err)
	}
	return DecodePacket(buf)
}

// WritePacket encodes p and writes it to w in one Write.
func WritePacket(w io.Writer, p Packet) error {
	b, err := p.AppendEncode(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
