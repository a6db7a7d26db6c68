package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPIDLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "charon.pid")
	l, err := lockPID(path)
	if err != nil {
		t.Fatal(err)
	}
	if RunningPID(path) != os.Getpid() {
		t.Fatalf("RunningPID = %d", RunningPID(path))
	}
	// flock is per open file description: a second lock from this process
	// conflicts just as another daemon's would.
	_, err = lockPID(path)
	if err == nil || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	l.release()
	if RunningPID(path) != 0 {
		t.Fatal("pid reported after release")
	}
	// A stale file from a killed daemon does not block.
	os.WriteFile(path, []byte("999999\n"), 0o644)
	if RunningPID(path) != 0 {
		t.Fatal("stale pid file reported as running")
	}
	l, err = lockPID(path)
	if err != nil {
		t.Fatal(err)
	}
	l.release()
}
