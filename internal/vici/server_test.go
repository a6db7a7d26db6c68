package vici

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := Listen(filepath.Join(t.TempDir(), "charon.vici"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.AllowUID(uint32(os.Getuid()))
	s.RegisterEvents("list-item", "tick")
	s.Handle("version", func(context.Context, *Stream, *Message) *Message {
		return NewMessage().Set("daemon", "test").Set("version", "1")
	})
	s.Handle("list", func(_ context.Context, st *Stream, req *Message) *Message {
		n, _ := strconv.Atoi(req.Get("n"))
		for i := range n {
			if err := st.Emit("list-item", NewMessage().Set("i", strconv.Itoa(i))); err != nil {
				break
			}
		}
		return NewMessage()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		s.Close()
		<-done
	})
	return s
}

type testClient struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, s *Server) *testClient {
	t.Helper()
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testClient{t, c}
}

func (tc *testClient) send(p Packet) {
	tc.t.Helper()
	if err := WritePacket(tc.c, p); err != nil {
		tc.t.Fatal(err)
	}
}

func (tc *testClient) recv() Packet {
	tc.t.Helper()
	tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := ReadPacket(tc.c)
	if err != nil {
		tc.t.Fatal(err)
	}
	return p
}

func (tc *testClient) call(cmd string, m *Message) Packet {
	tc.t.Helper()
	if m == nil {
		m = NewMessage()
	}
	tc.send(Packet{Type: CmdRequest, Name: cmd, Message: m})
	return tc.recv()
}

// closed reports whether the server closed the connection.
func (tc *testClient) closed() bool {
	tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := ReadPacket(tc.c)
	return err != nil
}

func TestServerCommands(t *testing.T) {
	s := startServer(t)
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	c := dial(t, s)
	if p := c.call("version", nil); p.Type != CmdResponse || p.Message.Get("daemon") != "test" {
		t.Fatalf("version: %v %s", p.Type, p.Message)
	}
	if p := c.call("no-such-command", nil); p.Type != CmdUnknown {
		t.Fatalf("unknown command answered %v", p.Type)
	}
	c.send(Packet{Type: EventRegister, Name: "no-such-event"})
	if p := c.recv(); p.Type != EventUnknown {
		t.Fatalf("unknown event answered %v", p.Type)
	}
	c.send(Packet{Type: EventRegister, Name: "list-item"})
	if p := c.recv(); p.Type != EventConfirm {
		t.Fatalf("register answered %v", p.Type)
	}
	// Streamed events come before the answer, in order.
	c.send(Packet{Type: CmdRequest, Name: "list", Message: NewMessage().Set("n", "1000")})
	for i := range 1000 {
		p := c.recv()
		if p.Type != Event || p.Name != "list-item" || p.Message.Get("i") != strconv.Itoa(i) {
			t.Fatalf("event %d: %v %q %s", i, p.Type, p.Name, p.Message)
		}
	}
	if p := c.recv(); p.Type != CmdResponse {
		t.Fatalf("after the stream: %v", p.Type)
	}
	c.send(Packet{Type: EventUnregister, Name: "list-item"})
	if p := c.recv(); p.Type != EventConfirm {
		t.Fatalf("unregister answered %v", p.Type)
	}
	if p := c.call("list", NewMessage().Set("n", "3")); p.Type != CmdResponse {
		t.Fatalf("unregistered stream: got %v first", p.Type)
	}
}

// TestServerBadClients: garbage, an oversized length header, a
// server-only packet type and a client that never reads close only those
// clients; a well-behaved one keeps working throughout, and Publish never
// blocks.
func TestServerBadClients(t *testing.T) {
	s := startServer(t)
	good := dial(t, s)
	good.send(Packet{Type: EventRegister, Name: "tick"})
	if p := good.recv(); p.Type != EventConfirm {
		t.Fatal(p.Type)
	}

	garbage := dial(t, s)
	garbage.c.Write([]byte{0, 0, 0, 3, 0, 9, 'x'}) // CMD_REQUEST with a truncated name
	if !garbage.closed() {
		t.Error("garbage did not close its client")
	}
	huge := dial(t, s)
	huge.c.Write(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	if !huge.closed() {
		t.Error("a 4 GiB length header did not close its client")
	}
	huge2 := dial(t, s)
	huge2.c.Write(binary.BigEndian.AppendUint32(nil, MaxSegment+1))
	if !huge2.closed() {
		t.Error("a 512 KiB + 1 length header did not close its client")
	}
	wrongDir := dial(t, s)
	wrongDir.send(Packet{Type: CmdResponse, Message: NewMessage()})
	if !wrongDir.closed() {
		t.Error("a CMD_RESPONSE from a client did not close it")
	}

	// A client registered for events that never reads them: its socket
	// buffer fills, then its queue, then it is dropped; Publish returns at
	// once every time.
	deaf := dial(t, s)
	deaf.send(Packet{Type: EventRegister, Name: "tick"})
	if p := deaf.recv(); p.Type != EventConfirm {
		t.Fatal(p.Type)
	}
	big := NewMessage().Set("pad", string(make([]byte, 60000)))
	var slowest time.Duration
	published := 0
	for s.Dropped() == 0 && published < 100000 {
		start := time.Now()
		s.Publish("tick", big)
		slowest = max(slowest, time.Since(start))
		published++
		// The good client reads each event.
		if p := good.recv(); p.Type != Event || p.Name != "tick" {
			t.Fatalf("good client got %v %q", p.Type, p.Name)
		}
	}
	if s.Dropped() != 1 {
		t.Fatalf("the deaf client was not dropped after %d events", published)
	}
	t.Logf("deaf client dropped after %d events of 60 KB; slowest Publish %v", published, slowest)
	if slowest > time.Second {
		t.Errorf("Publish blocked for %v", slowest)
	}
	if p := good.call("version", nil); p.Type != CmdResponse {
		t.Fatalf("good client after the others: %v", p.Type)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Clients() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients left, want only the good one", s.Clients())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServerRefusesOtherUID: only the allowed uid is served.
func TestServerRefusesOtherUID(t *testing.T) {
	s := startServer(t)
	s.AllowUID(uint32(os.Getuid()) + 1)
	c := dial(t, s)
	WritePacket(c.c, Packet{Type: CmdRequest, Name: "version", Message: NewMessage()}) // may fail: the server closes first
	if !c.closed() {
		t.Fatal("a client of another uid was served")
	}
}
