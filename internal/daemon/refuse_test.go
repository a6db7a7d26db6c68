package daemon

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

const runConf = "conn ab\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n\ttype=transport\n" +
	"\tike=aes256gcm16-prfsha256-curve25519!\n\tesp=aes256gcm16!\n\tauto=add\n"

// cdConf is a second conn towards an address nothing answers on.
const cdConf = "conn cd\n\tleft=127.0.0.1\n\tright=192.0.2.7\n\tauthby=secret\n\ttype=transport\n\tauto=add\n"

// TestStartLoadsValidConns: a conn with an error does not stop the daemon
// from starting; the valid conns are loaded and the bad one is reported
// with its file:line.
func TestStartLoadsValidConns(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, runConf+"conn broken\n\tleft=127.0.0.1\n\tright=127.0.0.9\n\ttype=transport\n\tauthby=secret\n\tesp=aes999\n"+cdConf)
	var out strings.Builder
	loaded, refused, err := loadConfig(dir, &out)
	if err != nil {
		t.Fatalf("a bad conn refused the whole configuration: %v", err)
	}
	var names []string
	for _, c := range loaded.Config.Connections {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "ab,cd" {
		t.Errorf("loaded %v, want ab,cd", names)
	}
	if len(refused) != 1 || refused[0].Conn != "broken" || refused[0].Pos.Line != 9 {
		t.Errorf("refused %+v", refused)
	}
	if !strings.Contains(out.String(), "ipsec.conf:9: error: conn broken refused") || !strings.Contains(out.String(), "ipsec.conf:14: error: conn broken: esp:") {
		t.Errorf("output does not name the refused conn by file:line:\n%s", out.String())
	}
	// errors beyond one conn still refuse everything
	writeConf(t, dir, "config setup\n\tuniqueids=perhaps\n"+runConf)
	if _, err := LoadConfig(dir, io.Discard); err == nil {
		t.Error("a config setup error did not refuse the configuration")
	}
}

// TestReloadKeepsRunningConn: `ipsec reload` of a file whose new version of
// a running conn is broken keeps the running conn and its SA, applies the
// rest, and says which conn was refused; a fixed file is then compared
// with what runs.
func TestReloadKeepsRunningConn(t *testing.T) {
	local, remote := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	dir := t.TempDir()
	writeConf(t, dir, runConf)
	link := &memLink{}
	d := startTestDaemon(t, dir, link, local)
	defer d.shutdown()
	peerEngine(t, link, remote, local)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.engine.Initiate(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	spis := func() []uint32 {
		var s []uint32
		for _, sa := range d.engine.Status().IKESAs {
			for _, ch := range sa.Children {
				s = append(s, ch.SPIIn)
			}
		}
		return s
	}
	before := spis()
	if len(before) != 1 {
		t.Fatalf("%d CHILD_SAs", len(before))
	}

	reload := func(conf string) (int, string) {
		t.Helper()
		writeConf(t, dir, conf)
		var out strings.Builder
		rc := d.cmdReload(ctx, &out)
		return rc, out.String()
	}
	broken := strings.Replace(runConf, "esp=aes256gcm16!", "esp=aes256gcm16-nonsense!", 1)
	rc, out := reload(broken + cdConf)
	if rc != 1 || !strings.Contains(out, "conn ab refused: its running version stays") || !strings.Contains(out, "1 conn(s) added, 0 removed, 0 changed") {
		t.Errorf("reload with a broken running conn: exit %d:\n%s", rc, out)
	}
	if d.connByName("ab") == nil || d.connByName("cd") == nil {
		t.Errorf("after reload: ab %v, cd %v", d.connByName("ab") != nil, d.connByName("cd") != nil)
	}
	if got := spis(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("the running conn's SA changed: %v, was %v", got, before)
	}
	// the fixed file is what runs: nothing changes
	rc, out = reload(runConf + cdConf)
	if rc != 0 || !strings.Contains(out, "0 conn(s) added, 0 removed, 0 changed") {
		t.Errorf("reload of the fixed file: exit %d:\n%s", rc, out)
	}
	if got := spis(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("the SA changed after the fix: %v, was %v", got, before)
	}
	// a conn that is new and broken is refused, not loaded
	rc, out = reload(runConf + strings.Replace(cdConf, "auto=add", "auto=add\n\tfrobnicate=1", 1))
	if rc != 1 || !strings.Contains(out, "conn cd refused: its running version stays") {
		t.Errorf("reload with cd broken: exit %d:\n%s", rc, out)
	}
	rc, out = reload(runConf + "conn new\n\tleft=127.0.0.1\n\tright=192.0.2.8\n\ttype=transport\n\tauthby=secret\n\tfrobnicate=1\n")
	if rc != 1 || !strings.Contains(out, "conn new refused: not loaded") || d.connByName("new") != nil || d.connByName("cd") != nil {
		t.Errorf("reload with a new broken conn: exit %d, new loaded %v, cd %v:\n%s", rc, d.connByName("new") != nil, d.connByName("cd") != nil, out)
	}
	// a syntax error refuses the file: nothing changes
	rc, out = reload(runConf + cdConf + "conn x\n\tright 1.2.3.4\n")
	if rc != 1 || d.connByName("cd") != nil {
		t.Errorf("reload with a syntax error: exit %d, cd loaded %v:\n%s", rc, d.connByName("cd") != nil, out)
	}
	if got := spis(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("the SA changed: %v, was %v", got, before)
	}
	if c := d.connByName("ab"); c == nil || c.Mode != ike.ModeTransport {
		t.Errorf("ab after the reloads: %+v", c)
	}
}

// TestReloadKeepsKeepAlive: strongswan.conf's charon.keep_alive is part of
// every reading of the configuration, so `ipsec reload` keeps it (it was
// lost: only the start applied it).
func TestReloadKeepsKeepAlive(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, runConf)
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte("charon {\n  keep_alive = 7s\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startTestDaemon(t, dir, &memLink{}, netip.MustParseAddr("127.0.0.1"))
	defer d.shutdown()
	if got := d.loaded.Config.KeepAlive; got != 7*time.Second {
		t.Fatalf("at start: keep_alive %v", got)
	}
	var out strings.Builder
	if rc := d.cmdReload(context.Background(), &out); rc != 0 {
		t.Fatalf("reload: exit %d: %s", rc, out.String())
	}
	d.mu.Lock()
	got := d.loaded.Config.KeepAlive
	d.mu.Unlock()
	if got != 7*time.Second {
		t.Errorf("after reload: keep_alive %v, want 7s", got)
	}
}
