package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/config"
)

// Logging follows strongSwan's configuration: strongswan.conf
// charon.filelog and charon.syslog name targets with per-subsystem levels
// (-1 silent, 0 audit, 1 control, 2 controlmore, 3 raw, 4 private), and
// ipsec.conf's charondebug sets the levels of the daemon's own output
// (stderr, which systemd sends to the journal). cygnet's log lines are not
// split by subsystem, so a target logs at the highest level it gives any
// subsystem. Level 4 (private, which in strongSwan may include key
// material) is treated as 2: cygnet never logs secrets at any level.

// slogLevel maps a strongSwan level onto slog's.
func slogLevel(l int) slog.Level {
	switch {
	case l < 0:
		return slog.LevelError + 100 // silent
	case l == 0:
		return slog.LevelWarn
	case l == 1:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func maxLevel(levels []config.LogLevel, def int) int {
	if len(levels) == 0 {
		return def
	}
	m := -1
	for _, l := range levels {
		m = max(m, l.Level)
	}
	return m
}

// parseCharonDebug reads "ike 2, knl 1" into levels.
func parseCharonDebug(s string) ([]config.LogLevel, error) {
	var out []config.LogLevel
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		f := strings.Fields(part)
		if len(f) != 2 {
			return nil, fmt.Errorf("daemon: charondebug %q: want \"subsystem level\" pairs", s)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < -1 || n > 4 {
			return nil, fmt.Errorf("daemon: charondebug %q: level %q is not -1..4", s, f[1])
		}
		out = append(out, config.LogLevel{Subsystem: f[0], Level: n})
	}
	return out, nil
}

// fanout sends records to several handlers, each with its own level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// syslogWriter adapts a syslog connection to the text handler.
type syslogWriter struct{ w *syslog.Writer }

func (s syslogWriter) Write(p []byte) (int, error) {
	return len(p), s.w.Info(strings.TrimRight(string(p), "\n"))
}

var syslogFacilities = map[string]syslog.Priority{
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "authpriv": syslog.LOG_AUTHPRIV, "user": syslog.LOG_USER,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3,
	"local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// NewLogger builds the daemon's logger from the configuration. stderr
// always gets a handler (at charondebug's level, default 1, or forced to
// debug); files and syslog targets come from strongswan.conf. The closer
// releases the files.
func NewLogger(sw *config.StrongswanConf, charondebug string, stderr io.Writer, debug bool) (*slog.Logger, io.Closer, error) {
	var handlers fanout
	var closers []io.Closer
	lv, err := parseCharonDebug(charondebug)
	if err != nil {
		return nil, nil, err
	}
	level := slogLevel(maxLevel(lv, 1))
	if debug {
		level = slog.LevelDebug
	}
	handlers = append(handlers, slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if sw != nil {
		for _, t := range sw.FileLog {
			path := t.Path
			if path == "" {
				path = t.Name
			}
			var w io.Writer
			switch path {
			case "stderr":
				continue // the handler above
			case "stdout":
				w = os.Stdout
			default:
				f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					closeAll(closers)
					return nil, nil, fmt.Errorf("daemon: filelog %s (%v): %w", path, t.Pos, err)
				}
				closers = append(closers, f)
				w = f
			}
			handlers = append(handlers, slog.NewTextHandler(w, &slog.HandlerOptions{Level: slogLevel(maxLevel(t.Levels, 1))}))
		}
		for _, t := range sw.SysLog {
			fac, ok := syslogFacilities[t.Name]
			if !ok {
				continue // the config reader already warned about it
			}
			w, err := syslog.New(fac|syslog.LOG_INFO, "charon")
			if err != nil {
				// No syslog daemon (containers, test namespaces): stderr
				// still carries everything.
				continue
			}
			closers = append(closers, w)
			handlers = append(handlers, slog.NewTextHandler(syslogWriter{w}, &slog.HandlerOptions{Level: slogLevel(maxLevel(t.Levels, 1))}))
		}
	}
	return slog.New(handlers), closerFunc(func() error { return closeAll(closers) }), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func closeAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
