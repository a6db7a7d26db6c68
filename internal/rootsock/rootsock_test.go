package rootsock

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListen: the socket is 0600, a live one is refused, a stale one (its
// listener gone, the file left) is replaced, and the peer's uid is ours.
func TestListen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "x.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		uid, err := PeerUID(c)
		if err != nil || uid != uint32(os.Getuid()) {
			t.Errorf("peer uid %d %v, want %d", uid, err, os.Getuid())
		}
		c.Close()
	}()
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listener on a live socket: %v", err)
	}
	// A crashed daemon leaves the file behind.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln2.Close()
	if c, err := net.Dial("unix", path); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
}
