package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
)

func TestNewLogger(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "charon.log")
	sw := config.NewStrongswanConf()
	sw.FileLog = []config.LogTarget{{Name: file, Levels: []config.LogLevel{{Subsystem: "default", Level: 2}}}}
	var stderr strings.Builder
	log, closer, err := NewLogger(sw, "ike 0, knl 0", &stderr, false)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("debug line")
	log.Info("info line")
	log.Warn("warn line")
	closer.Close()
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "debug line") || !strings.Contains(string(b), "warn line") {
		t.Errorf("filelog at level 2 got:\n%s", b)
	}
	if strings.Contains(stderr.String(), "info line") || !strings.Contains(stderr.String(), "warn line") {
		t.Errorf("stderr at charondebug level 0 got:\n%s", stderr.String())
	}
	if _, _, err := NewLogger(sw, "ike two", &stderr, false); err == nil {
		t.Error("bad charondebug accepted")
	}
	sw.FileLog = []config.LogTarget{{Name: filepath.Join(dir, "missing", "x.log")}}
	if _, _, err := NewLogger(sw, "", &stderr, false); err == nil || !strings.Contains(err.Error(), "filelog") {
		t.Errorf("unwritable filelog: %v", err)
	}
	if slogLevel(-1) <= slog.LevelError {
		t.Error("level -1 not silent")
	}
}
