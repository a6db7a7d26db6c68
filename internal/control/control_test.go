package control

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	srv, err := Listen(path, func(ctx context.Context, req Request, out io.Writer) int {
		fmt.Fprintf(out, "hello %s\n", strings.Join(req.Args, ","))
		fmt.Fprint(out, "partial")
		if req.Command == "fail" {
			return 7
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.AllowUID(uint32(os.Geteuid()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	var out strings.Builder
	code, err := Call(ctx, path, Request{Command: "up", Args: []string{"a", "b"}}, &out)
	if err != nil || code != 0 || out.String() != "hello a,b\npartial\n" {
		t.Fatalf("code %d err %v out %q", code, err, out.String())
	}
	out.Reset()
	code, err = Call(ctx, path, Request{Command: "fail"}, &out)
	if err != nil || code != 7 {
		t.Fatalf("code %d err %v", code, err)
	}
	// A caller with another uid is refused.
	srv.AllowUID(uint32(os.Geteuid()) + 1)
	code, err = Call(ctx, path, Request{Command: "up"}, &out)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || code == 0 {
		t.Fatalf("foreign uid: code %d err %v", code, err)
	}
	// A second server on the same live socket is refused.
	if _, err := Listen(path, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listen: %v", err)
	}
	srv.Close()
	if _, err := Call(ctx, path, Request{Command: "up"}, &out); err == nil {
		t.Fatal("call after close succeeded")
	}
}
