package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLarvalQueue: enabling turns the kernel's larval drop off and keeps
// the node's value, once, across rounds and agent restarts; disabling
// puts that value back and forgets it.
func TestLarvalQueue(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(root, larvalDrop)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a := &Agent{Dir: dir, Sysctl: root}
	for range 2 {
		if err := a.queueLarval(true); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != "0\n" {
			t.Fatalf("enabled: xfrm_larval_drop %q, want 0", got)
		}
	}
	// A restarted agent does not take the 0 it wrote for the node's own.
	a = &Agent{Dir: dir, Sysctl: root}
	if err := a.queueLarval(true); err != nil {
		t.Fatal(err)
	}
	if err := a.queueLarval(false); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "1\n" {
		t.Fatalf("disabled: xfrm_larval_drop %q, want the node's 1 back", got)
	}
	if _, err := os.Stat(Paths{dir}.larvalSaved()); !os.IsNotExist(err) {
		t.Fatalf("saved value kept after disable: %v", err)
	}
	// Disabling again, or without a sysctl root, changes nothing.
	if err := a.queueLarval(false); err != nil {
		t.Fatal(err)
	}
	if err := (&Agent{Dir: dir}).queueLarval(true); err != nil || read() != "1\n" {
		t.Fatalf("agent without Sysctl touched the kernel: %v %q", err, read())
	}
}
