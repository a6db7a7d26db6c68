package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// testKernel is an in-memory kernel for the daemon: xfrmtest.Fake for what
// the engine installs, nothing to report at start and no events.
type testKernel struct{ *xfrmtest.Fake }

func (testKernel) Policies(context.Context) ([]xfrm.InstalledPolicy, error) { return nil, nil }
func (testKernel) States(context.Context) ([]xfrm.InstalledState, error)    { return nil, nil }
func (testKernel) Watch(context.Context) (<-chan xfrm.Event, <-chan error, error) {
	return make(chan xfrm.Event), make(chan error), nil
}
func (k testKernel) Flush(ctx context.Context) error { return k.Reconcile(ctx, nil) }

// memLink delivers IKE messages between engines in memory; a message to an
// address without an engine is lost, as towards an unreachable peer.
type memLink struct {
	mu      sync.Mutex
	engines map[netip.Addr]*ike.Engine
	sent    atomic.Int64
}

func (l *memLink) attach(a netip.Addr, e *ike.Engine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engines == nil {
		l.engines = map[netip.Addr]*ike.Engine{}
	}
	l.engines[a] = e
}

func (l *memLink) Send(p ike.Packet) error {
	l.sent.Add(1)
	l.mu.Lock()
	dst := l.engines[p.Remote.Addr()]
	l.mu.Unlock()
	if dst != nil {
		// Delivered from its own goroutine: the daemon's engine and the
		// peer run concurrently, as over UDP.
		data := bytes.Clone(p.Data)
		go dst.HandlePacket(ike.Packet{Local: p.Remote, Remote: p.Local, Data: data})
	}
	return nil
}

const testPSK = "a long and secret pre-shared key for the daemon tests"

func writeConf(t *testing.T, dir, conf string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "ipsec.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ipsec.secrets"), []byte(`: PSK "`+testPSK+`"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startTestDaemon runs a daemon on the configuration in dir with an engine
// on link at local, without sockets or a real kernel.
func startTestDaemon(t *testing.T, dir string, link *memLink, local netip.Addr) *Daemon {
	t.Helper()
	loaded, err := LoadConfig(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := newDaemon(Options{ConfDir: dir}, log, testKernel{&xfrmtest.Fake{}}, loaded)
	eng, err := ike.New(ike.Options{Config: &loaded.Config, Transport: link, Kernel: d.kernel, Logger: log, OnEvent: d.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	d.setEngine(eng)
	link.attach(local, eng)
	return d
}

// peerEngine is the other end of a PSK transport conn "ab" on link.
func peerEngine(t *testing.T, link *memLink, local, remote netip.Addr) *ike.Engine {
	t.Helper()
	cfg := &ike.Config{
		Connections: []ike.Connection{{
			Name: "ab", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
			Local:  ike.Endpoint{Addr: local, Auth: ike.AuthPSK},
			Remote: ike.Endpoint{Addr: remote, Auth: ike.AuthPSK},
			IKE: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
				PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHCurve25519}}},
			ESP:   []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}},
			Rekey: true,
		}},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: []byte(testPSK)}}},
	}
	e, err := ike.New(ike.Options{Config: cfg, Transport: link, Kernel: &xfrmtest.Fake{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	link.attach(local, e)
	t.Cleanup(func() { e.Close() })
	return e
}

// TestRereadSecretsDuringNegotiations runs `ipsec rereadsecrets` over and
// over while IKE SAs are established, rekeyed and torn down from both
// ends. Under -race it catches the daemon writing into configuration
// memory the engine reads (issue 13): the engine must own its copy.
func TestRereadSecretsDuringNegotiations(t *testing.T) {
	local, remote := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	dir := t.TempDir()
	writeConf(t, dir, "conn ab\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n\ttype=transport\n"+
		"\tike=aes256gcm16-prfsha256-curve25519!\n\tesp=aes256gcm16!\n\tauto=add\n")
	for round := range 4 {
		link := &memLink{}
		d := startTestDaemon(t, dir, link, local)
		peer := peerEngine(t, link, remote, local)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// The two ends take turns to initiate; the initiator's CHILD_SAs
		// are rekeyed as the kernel's soft expiry would have them.
		initiator := []*ike.Engine{d.engine, peer}[round%2]
		initAddr := []netip.Addr{local, remote}[round%2]
		var rekeys atomic.Int32
		var up atomic.Int32
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			for range 2 {
				ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
				if initiator.Initiate(ictx, "ab") == nil {
					up.Add(1)
				}
				icancel()
				for range 5 {
					for _, sa := range initiator.Status().IKESAs {
						for _, ch := range sa.Children {
							initiator.KernelEvent(xfrm.Event{Type: xfrm.EventSoftExpire, SPI: ch.SPIIn, ReqID: ch.ReqID, Dst: initAddr})
							rekeys.Add(1)
						}
					}
					time.Sleep(200 * time.Millisecond)
				}
				tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
				initiator.Terminate(tctx, "ab")
				tcancel()
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
				var out strings.Builder
				if rc := d.cmdRereadSecrets(ctx, &out); rc != 0 {
					t.Errorf("round %d: rereadsecrets: exit %d: %s", round, rc, out.String())
					return
				}
			}
		}()
		wg.Wait()
		cancel()
		if up.Load() == 0 || rekeys.Load() == 0 {
			t.Errorf("round %d: %d IKE_SA(s) up, %d rekey(s): the stress did not negotiate", round, up.Load(), rekeys.Load())
		}
		d.shutdown()
	}
}

// initiateLoops counts the goroutines running the daemon's initiate loop.
func initiateLoops() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "ike.(*Engine).Connect(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestReloadInitiateEndsAtStop: a conn with auto=start and
// keyingtries=%forever added by `ipsec reload` towards a peer that never
// answers keeps retrying, but only while the daemon runs: stopping it ends
// the retry loop (issue 13), rather than leaving it sending after stop.
func TestReloadInitiateEndsAtStop(t *testing.T) {
	if n := initiateLoops(); n != 0 {
		t.Fatalf("%d initiate loops before the test", n)
	}
	local := netip.MustParseAddr("127.0.0.1")
	dir := t.TempDir()
	writeConf(t, dir, "config setup\n")
	link := &memLink{}
	d := startTestDaemon(t, dir, link, local)
	// 192.0.2.1 (TEST-NET-1) has no engine on the link: nothing answers.
	writeConf(t, dir, "conn far\n\tleft=127.0.0.1\n\tright=192.0.2.1\n\tauthby=secret\n\ttype=transport\n"+
		"\tauto=start\n\tkeyingtries=%forever\n")
	var out strings.Builder
	if rc := d.cmdReload(context.Background(), &out); rc != 0 {
		t.Fatalf("reload: exit %d: %s", rc, out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for link.sent.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reloaded auto=start conn never initiated")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := initiateLoops(); n != 1 {
		t.Fatalf("%d initiate loops after reload, want 1", n)
	}
	d.shutdown()
	// shutdown returns once every loop it started has ended.
	if n := initiateLoops(); n != 0 {
		t.Errorf("%d initiate loop(s) still running after the daemon stopped", n)
	}
	sent := link.sent.Load()
	time.Sleep(200 * time.Millisecond)
	if after := link.sent.Load(); after != sent {
		t.Errorf("%d IKE message(s) sent after the daemon stopped", after-sent)
	}
}

// TestStopRoutedLeavesNothing stops a daemon with a routed conn while the
// peer deletes the CHILD_SA (issue 13: the daemon re-installed a routed
// conn's trap from a goroutine per event, which could land after stop's
// flush and leave policies in the kernel). After stop, nothing of
// cygnet's is left, and the updown script saw each CHILD_SA up before down.
func TestStopRoutedLeavesNothing(t *testing.T) {
	local, remote := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	for round := range 10 {
		dir := t.TempDir()
		verbs := filepath.Join(dir, "verbs")
		script := filepath.Join(dir, "updown.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$PLUTO_VERB $PLUTO_UNIQUEID\" >> "+verbs+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeConf(t, dir, "conn ab\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n\ttype=transport\n"+
			"\tike=aes256gcm16-prfsha256-curve25519!\n\tesp=aes256gcm16!\n\tauto=route\n\tleftupdown="+script+"\n")
		link := &memLink{}
		d := startTestDaemon(t, dir, link, local)
		kern := d.kernel.(testKernel).Fake
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		d.startConns(ctx, nil)
		if !d.engine.Routed("ab") || len(kern.Policies()) != 2 {
			t.Fatalf("round %d: auto=route: routed %v, %d policies", round, d.engine.Routed("ab"), len(kern.Policies()))
		}
		peer := peerEngine(t, link, remote, local)
		if err := peer.Initiate(ctx, "ab"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(kern.States()) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the daemon never installed the CHILD_SA", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The peer deletes while the daemon stops: the child-down reaches
		// the daemon during shutdown.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer.Terminate(ctx, "ab")
		}()
		if round%2 == 1 {
			time.Sleep(time.Millisecond)
		}
		d.shutdown()
		wg.Wait()
		cancel()
		time.Sleep(20 * time.Millisecond) // a stray goroutine's kernel call would land here
		if n, m := len(kern.Policies()), len(kern.States()); n != 0 || m != 0 {
			t.Fatalf("round %d: after stop %d policies, %d states:\n%s", round, n, m, strings.Join(kern.Render(), "\n"))
		}
		b, _ := os.ReadFile(verbs)
		seen := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			verb, id, _ := strings.Cut(line, " ")
			if strings.HasPrefix(verb, "down") && !strings.HasPrefix(seen[id], "up") {
				t.Errorf("round %d: updown saw %q for SA %s before its up:\n%s", round, verb, id, b)
			}
			seen[id] = verb
		}
		for id, verb := range seen {
			if !strings.HasPrefix(verb, "down") {
				t.Errorf("round %d: SA %s last saw %q: no down ran at stop:\n%s", round, id, verb, b)
			}
		}
	}
}
