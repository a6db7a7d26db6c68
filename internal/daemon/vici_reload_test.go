package daemon

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestVICIReloadRace loads conns and shared keys over VICI while `ipsec
// reload` and `ipsec rereadsecrets` run again and again: every conn must
// end up in the engine and in the daemon's configuration, and every key in
// the credentials. A reload that merged VICI's state, then let a load-conn
// apply, then gave the engine its older merge, lost that conn.
func TestVICIReloadRace(t *testing.T) {
	link := &memLink{}
	d, path := startVICIDaemon(t, abConf, link)
	s := session(t, path)
	const n = 40
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cmd := range []func(context.Context, io.Writer) int{d.cmdReload, d.cmdRereadSecrets} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var out strings.Builder
				if rc := cmd(context.Background(), &out); rc != 0 {
					t.Errorf("reload: %s", out.String())
					return
				}
			}
		}()
	}
	for i := range n {
		name := fmt.Sprintf("race%d", i)
		if _, err := call(t, s, "load-conn", meshConn(t, name, fmt.Sprintf("10.9.0.%d", i+1), "transport")); err != nil {
			t.Fatal(err)
		}
		if _, err := call(t, s, "load-shared", msg(t, "id", name, "type", "IKE", "data", "secret "+name,
			"owners", []string{fmt.Sprintf("10.9.0.%d", i+1)})); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i := range n {
		name := fmt.Sprintf("race%d", i)
		if d.engine.ReqID(name) == 0 || d.connByName(name) == nil {
			t.Errorf("conn %s lost (engine %v, daemon %v)", name, d.engine.ReqID(name) != 0, d.connByName(name) != nil)
		}
	}
	d.mu.Lock()
	keys := d.loaded.Config.Credentials.SharedKeys
	d.mu.Unlock()
	found := 0
	for _, k := range keys {
		if strings.HasPrefix(k.Source, "vici race") {
			found++
		}
	}
	if found != n {
		t.Errorf("%d of %d shared keys loaded over VICI are in the configuration", found, n)
	}
}
