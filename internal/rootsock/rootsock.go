// Package rootsock makes the daemon's local unix sockets (the stroke-like
// control socket and strongSwan's VICI socket): a socket file of mode
// 0600 from the moment it exists, a stale file left by a crashed daemon
// replaced only when nothing answers on it, and the peer's uid read with
// SO_PEERCRED so that servers can refuse anyone but root even if the
// file's mode was changed.
package rootsock

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Listen creates the socket at path (and its directory) with mode 0600.
// It refuses a path a running daemon answers on.
func Listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("rootsock: %w", err)
	}
	// A socket file left by a crashed daemon: remove it only if nothing
	// answers on it (callers hold their pid lock, so no live daemon does).
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("rootsock: %s is in use by a running daemon", path)
	}
	os.Remove(path)
	// The umask closes the window between bind and chmod in which the
	// file would have the default mode.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("rootsock: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rootsock: %w", err)
	}
	return ln, nil
}

// PeerUID is the uid of the process at the other end of c.
func PeerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("rootsock: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("rootsock: %w", err)
	}
	if cerr != nil {
		return 0, fmt.Errorf("rootsock: SO_PEERCRED: %w", cerr)
	}
	return cred.Uid, nil
}
