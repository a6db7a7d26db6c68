package vici

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/rootsock"
)

// Handler answers one command. req is the request's message (empty, never
// nil, when the client sent none); st streams events to the calling client
// while the command runs. A nil answer is sent as an empty message.
type Handler func(ctx context.Context, st *Stream, req *Message) *Message

// Limits of the server. A client is one connection.
const (
	// QueueLen bounds the packets waiting to be written to one client.
	// Events raised by the daemon (ike-updown, ...) never wait for a
	// client: one whose queue is full is dropped, so that a client that
	// never reads cannot hold up the daemon or other clients.
	QueueLen = 256
	// writeTimeout is how long a command's own stream (list-sa events,
	// its response) waits for room in a full queue, and how long one
	// write to the socket may take, before the client is dropped.
	writeTimeout = 30 * time.Second
	// maxClients bounds concurrent connections; further ones are closed
	// at once.
	maxClients = 128
)

// Server serves VICI on a unix socket.
type Server struct {
	ln  *net.UnixListener
	log *slog.Logger

	mu      sync.Mutex
	cmds    map[string]Handler
	events  map[string]bool
	clients map[*client]struct{}

	// allowUID is the only peer uid accepted: root, unless a test sets
	// another with AllowUID.
	allowUID atomic.Uint32
	dropped  atomic.Uint64
	wg       sync.WaitGroup
}

// Listen creates the socket at path with mode 0600, replacing a stale
// socket file (one nothing answers on).
func Listen(path string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := rootsock.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("vici: %w", err)
	}
	return &Server{ln: ln, log: log, cmds: map[string]Handler{}, events: map[string]bool{},
		clients: map[*client]struct{}{}}, nil
}

// Handle sets the handler of a command.
func (s *Server) Handle(cmd string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds[cmd] = h
}

// RegisterEvents declares event names clients may register for; others
// are answered EVENT_UNKNOWN.
func (s *Server) RegisterEvents(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.events[n] = true
	}
}

// AllowUID makes the server accept only uid (root by default). For tests
// that cannot run as root.
func (s *Server) AllowUID(uid uint32) { s.allowUID.Store(uid) }

// Path is the socket's path.
func (s *Server) Path() string { return s.ln.Addr().String() }

// Dropped counts clients dropped for not reading their events.
func (s *Server) Dropped() uint64 { return s.dropped.Load() }

// Clients is the number of connected clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Registered is the number of clients registered for event.
func (s *Server) Registered(event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for cl := range s.clients {
		if cl.registered(event) {
			n++
		}
	}
	return n
}

// Serve accepts clients until ctx is done or Close is called, then closes
// every client and waits for their goroutines.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			cancel()
			s.mu.Lock()
			var all []*client
			for cl := range s.clients {
				all = append(all, cl)
			}
			s.mu.Unlock()
			for _, cl := range all {
				cl.close()
			}
			s.wg.Wait()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("vici: accept: %w", err)
		}
		if uid, err := rootsock.PeerUID(c); err != nil || uid != s.allowUID.Load() {
			s.log.Warn("vici: refused a client that is not root", "uid", uid, "err", err)
			c.Close()
			continue
		}
		cl := &client{srv: s, conn: c, out: make(chan []byte, QueueLen), done: make(chan struct{}), events: map[string]bool{}}
		s.mu.Lock()
		if len(s.clients) >= maxClients {
			s.mu.Unlock()
			s.log.Warn("vici: too many clients, refusing one", "max", maxClients)
			c.Close()
			continue
		}
		s.clients[cl] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			cl.writeLoop()
		}()
		go func() {
			defer s.wg.Done()
			cl.readLoop(ctx)
		}()
	}
}

// Close stops accepting and removes the socket file; Serve then closes the
// clients.
func (s *Server) Close() error {
	path := s.ln.Addr().String()
	err := s.ln.Close()
	os.Remove(path)
	return err
}

// Publish sends an event to every client registered for it. It never
// blocks: a client whose queue is full is dropped.
func (s *Server) Publish(event string, m *Message) {
	b, err := Packet{Type: Event, Name: event, Message: m}.AppendEncode(nil)
	if err != nil {
		s.log.Error("vici: cannot encode event", "event", event, "err", err)
		return
	}
	s.mu.Lock()
	var targets []*client
	for cl := range s.clients {
		if cl.registered(event) {
			targets = append(targets, cl)
		}
	}
	s.mu.Unlock()
	for _, cl := range targets {
		cl.sendNow(b)
	}
}

func (s *Server) handler(cmd string) Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmds[cmd]
}

func (s *Server) knownEvent(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events[name]
}

func (s *Server) remove(cl *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, cl)
}

// client is one connection: a read loop that runs one command at a time
// and a write loop that drains the bounded queue.
type client struct {
	srv  *Server
	conn *net.UnixConn
	out  chan []byte

	mu     sync.Mutex
	events map[string]bool

	once sync.Once
	done chan struct{}
}

func (cl *client) close() {
	cl.once.Do(func() {
		close(cl.done)
		cl.conn.Close()
		cl.srv.remove(cl)
	})
}

func (cl *client) registered(event string) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.events[event]
}

// sendNow queues b or, when the queue is full, drops the client.
func (cl *client) sendNow(b []byte) {
	select {
	case <-cl.done:
	case cl.out <- b:
	default:
		cl.srv.dropped.Add(1)
		cl.srv.log.Warn("vici: dropping a client that does not read its events", "queued", len(cl.out))
		cl.close()
	}
}

// send queues b, waiting up to writeTimeout for room; the client is
// dropped if none comes.
func (cl *client) send(b []byte) error {
	select {
	case <-cl.done:
		return errClientGone
	case cl.out <- b:
		return nil
	default:
	}
	t := time.NewTimer(writeTimeout)
	defer t.Stop()
	select {
	case <-cl.done:
		return errClientGone
	case cl.out <- b:
		return nil
	case <-t.C:
		cl.srv.dropped.Add(1)
		cl.srv.log.Warn("vici: dropping a client that does not read its answer")
		cl.close()
		return errClientGone
	}
}

var errClientGone = errors.New("vici: client gone")

func (cl *client) sendPacket(p Packet) error {
	b, err := p.AppendEncode(nil)
	if err != nil {
		return err
	}
	return cl.send(b)
}

func (cl *client) writeLoop() {
	for {
		select {
		case <-cl.done:
			return
		case b := <-cl.out:
			cl.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := cl.conn.Write(b); err != nil {
				cl.close()
				return
			}
		}
	}
}

func (cl *client) readLoop(ctx context.Context) {
	defer cl.close()
	// A command's context ends with the server or when the client goes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-cl.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		p, err := ReadPacket(cl.conn)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				cl.srv.log.Warn("vici: closing client", "err", err)
			}
			return
		}
		if err := cl.dispatch(ctx, p); err != nil {
			cl.srv.log.Warn("vici: closing client", "err", err)
			return
		}
	}
}

func (cl *client) dispatch(ctx context.Context, p Packet) error {
	switch p.Type {
	case CmdRequest:
		h := cl.srv.handler(p.Name)
		if h == nil {
			return cl.sendPacket(Packet{Type: CmdUnknown})
		}
		ans := h(ctx, &Stream{cl: cl}, p.Message)
		if ans == nil {
			ans = NewMessage()
		}
		if err := cl.sendPacket(Packet{Type: CmdResponse, Message: ans}); err != nil {
			// An answer too large to frame still gets an answer.
			if errors.Is(err, errClientGone) {
				return err
			}
			return cl.sendPacket(Packet{Type: CmdResponse, Message: NewMessage().Set("success", "no").
				Set("errmsg", err.Error())})
		}
		return nil
	case EventRegister, EventUnregister:
		if !cl.srv.knownEvent(p.Name) {
			return cl.sendPacket(Packet{Type: EventUnknown})
		}
		cl.mu.Lock()
		if p.Type == EventRegister {
			cl.events[p.Name] = true
		} else {
			delete(cl.events, p.Name)
		}
		cl.mu.Unlock()
		return cl.sendPacket(Packet{Type: EventConfirm})
	}
	return fmt.Errorf("%w: a client may not send %v", ErrMalformed, p.Type)
}

// Stream lets a command's handler send events to the client that called
// it, in order before its answer.
type Stream struct{ cl *client }

// Registered reports whether the client registered for event.
func (st *Stream) Registered(event string) bool {
	return st != nil && st.cl != nil && st.cl.registered(event)
}

// Emit sends an event to the calling client if it registered for it. It
// waits for room in the client's queue (the client is reading the answer
// it asked for); an error means the client is gone or the event cannot be
// encoded.
func (st *Stream) Emit(event string, m *Message) error {
	if !st.Registered(event) {
		return nil
	}
	return st.cl.sendPacket(Packet{Type: Event, Name: event, Message: m})
}
