package config

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// asNobody makes file access checks run as uid 65534 until the returned
// function is called (root reads any file whatever its mode, so a test of
// an unreadable file needs another uid). Only the effective uid changes:
// the saved uid stays root, so it can be given back. dir and its parent
// are opened up so that nobody can reach the files under test.
func asNobody(t *testing.T, dir string) func() {
	t.Helper()
	if os.Geteuid() != 0 {
		return func() {}
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Setresuid(-1, 65534, -1); err != nil {
		t.Fatalf("seteuid nobody: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setresuid(-1, 0, -1); err != nil {
				panic("config test: cannot get root back: " + err.Error())
			}
		}
	}
	t.Cleanup(restore)
	return restore
}
