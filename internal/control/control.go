// Package control is the local channel between the `ipsec` command and the
// cygnet daemon: a unix stream socket that only root may use (checked with
// SO_PEERCRED on every connection, besides the socket file's 0600 mode).
// A request is one JSON line; the daemon streams text lines back (what the
// command prints) and ends with a JSON result line carrying the exit code.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/rootsock"
	"golang.org/x/sys/unix"
)

// Request is one command for the daemon.
type Request struct {
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
}

// Handler runs a request, writing what the user should see to out, and
// returns the exit code for the command.
type Handler func(ctx context.Context, req Request, out io.Writer) int

// maxRequest bounds a request line: commands are short.
const maxRequest = 64 << 10

// frame prefixes distinguish output lines from the final result line.
const (
	outPrefix    = "o "
	resultPrefix = "r "
)

type result struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// Server accepts control connections.
type Server struct {
	ln      *net.UnixListener
	handler Handler
	// allowUID is the only peer uid accepted: root, unless a test sets
	// another with AllowUID.
	allowUID atomic.Uint32
	wg       sync.WaitGroup
}

// Listen creates the socket at path (replacing a stale one) with mode 0600.
func Listen(path string, h Handler) (*Server, error) {
	ln, err := rootsock.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return &Server{ln: ln, handler: h}, nil
}

// Serve handles connections until ctx is done or Close is called.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.wg.Wait()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// AllowUID makes the server accept only uid (root by default). For tests
// that cannot run as root.
func (s *Server) AllowUID(uid uint32) { s.allowUID.Store(uid) }

// Close stops accepting and removes the socket file.
func (s *Server) Close() error {
	path := s.ln.Addr().String()
	err := s.ln.Close()
	os.Remove(path)
	return err
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	w := bufio.NewWriter(c)
	defer w.Flush()
	fail := func(code int, msg string) {
		b, _ := json.Marshal(result{Code: code, Error: msg})
		fmt.Fprintf(w, "%s%s\n", resultPrefix, b)
	}
	uid, err := rootsock.PeerUID(c)
	if err != nil {
		fail(1, "control: cannot identify the caller: "+err.Error())
		return
	}
	if uid != s.allowUID.Load() {
		fail(1, fmt.Sprintf("control: permission denied: uid %d may not control the daemon (root only)", uid))
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReaderSize(io.LimitReader(c, maxRequest), maxRequest).ReadString('\n')
	if err != nil {
		fail(2, "control: bad request: "+err.Error())
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal([]byte(line), &req); err != nil || req.Command == "" {
		fail(2, "control: bad request: not a JSON command line")
		return
	}
	lw := &lineWriter{w: w}
	code := s.handler(ctx, req, lw)
	lw.flush()
	b, _ := json.Marshal(result{Code: code})
	fmt.Fprintf(w, "%s%s\n", resultPrefix, b)
}

// lineWriter frames handler output as "o " lines and flushes each line so
// the client prints progress as it happens (`ipsec up` shows the exchange).
type lineWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.w.WriteString(outPrefix)
		l.w.Write(l.buf[:i+1])
		l.buf = l.buf[i+1:]
		if err := l.w.Flush(); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.w.WriteString(outPrefix)
		l.w.Write(l.buf)
		l.w.WriteString("\n")
		l.buf = nil
	}
	l.w.Flush()
}

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("control: daemon not running")

// Call sends req to the daemon at path, copies its output to out and
// returns the command's exit code.
func Call(ctx context.Context, path string, req Request, out io.Writer) (int, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return 0, fmt.Errorf("%w (%s: %v)", ErrNotRunning, path, err)
		}
		return 0, fmt.Errorf("control: connect %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, _ := json.Marshal(req)
	// A daemon that refuses the caller answers and closes without reading
	// the request, so a failed write still leaves its answer to read.
	_, werr := c.Write(append(b, '\n'))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if werr != nil {
				return 0, fmt.Errorf("control: send: %w", werr)
			}
			return 0, fmt.Errorf("control: daemon closed the connection without a result: %w", err)
		}
		switch {
		case strings.HasPrefix(line, outPrefix):
			io.WriteString(out, line[len(outPrefix):])
		case strings.HasPrefix(line, resultPrefix):
			var res result
			if err := json.Unmarshal([]byte(line[len(resultPrefix):]), &res); err != nil {
				return 0, fmt.Errorf("control: bad result line: %w", err)
			}
			if res.Error != "" {
				return res.Code, errors.New(res.Error)
			}
			return res.Code, nil
		default:
			return 0, fmt.Errorf("control: unexpected line from daemon: %q", line)
		}
	}
}
