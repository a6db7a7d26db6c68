package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/internal/control"
	"github.com/cygnet-ipsec/cygnet/internal/daemon"
)

func init() {
	register("ipsec", "strongSwan's ipsec command (also run as `ipsec` or `strongswan`)", runIpsec)
}

// ipsecUsage mirrors the command list of strongSwan's ipsec script that
// cygnet implements.
const ipsecUsage = `ipsec command [arguments]

Commands:
	start|restart [--nofork]
	update|reload|stop
	up|down|route|unroute <connectionname>
	status|statusall [<connectionname>] [--json]
	rereadsecrets|rereadall|purgeike
	version
	--confdir|--piddir
`

// runIpsec implements strongSwan's `ipsec` commands on top of the daemon's
// control socket. Exit codes follow strongSwan's where a script relies on
// them (7 when the daemon is not running for up/down/update, 3 for
// status), except that a failed `up` exits 1 instead of 0.
func runIpsec(args []string) int {
	return ipsecMain(args, os.Stdout, os.Stderr)
}

func confdirOf() string {
	if l, err := config.FindLayout(""); err == nil {
		return l.Dir
	}
	return "/etc"
}

func piddirOf() string {
	if d := os.Getenv("CYGNET_PIDDIR"); d != "" {
		return d
	}
	return daemon.DefaultPidDir
}

func ipsecMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, ipsecUsage)
		return 0
	}
	piddir := piddirOf()
	ctl := daemon.CtlFile(piddir)
	cmd, rest := args[0], args[1:]
	call := func(command string, a []string, notRunning int) int {
		code, err := control.Call(context.Background(), ctl, control.Request{Command: command, Args: a}, stdout)
		if errors.Is(err, control.ErrNotRunning) {
			return notRunning
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			if code == 0 {
				code = 1
			}
		}
		return code
	}
	needName := func() bool {
		if len(rest) != 1 {
			fmt.Fprintf(stdout, "Usage: ipsec %s <connection name>\n", cmd)
			return false
		}
		return true
	}
	switch cmd {
	case "--help", "help", "-h":
		fmt.Fprint(stdout, ipsecUsage)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "Linux %s\n", daemon.Version)
		return 0
	case "--confdir":
		fmt.Fprintln(stdout, confdirOf())
		return 0
	case "--piddir":
		fmt.Fprintln(stdout, piddir)
		return 0
	case "start":
		return ipsecStart(rest, piddir, stderr)
	case "restart":
		ipsecStop(piddir, stderr)
		return ipsecStart(rest, piddir, stderr)
	case "stop":
		return ipsecStop(piddir, stderr)
	case "up", "down", "route", "unroute":
		if !needName() {
			return 2
		}
		return call(cmd, rest, 7)
	case "status", "statusall":
		return call(cmd, rest, 3)
	case "update", "reload":
		verb := map[string]string{"update": "Updating", "reload": "Reloading"}[cmd]
		if daemon.RunningPID(daemon.PidFile(piddir)) == 0 {
			fmt.Fprintf(stderr, "%s cygnet IPsec failed: starter is not running\n", verb)
			return 7
		}
		fmt.Fprintf(stderr, "%s cygnet IPsec configuration...\n", verb)
		return call(cmd, rest, 7)
	case "rereadsecrets", "rereadall", "purgeike":
		return call(cmd, rest, 7)
	}
	fmt.Fprintf(stderr, "ipsec: unknown command `%s' (`ipsec --help' for list)\n", cmd)
	return 2
}

// ipsecStart starts the daemon: in the foreground with --nofork (as
// systemd's unit does), otherwise detached, returning once its control
// socket answers.
func ipsecStart(args []string, piddir string, stderr io.Writer) int {
	nofork := false
	for _, a := range args {
		if a == "--nofork" {
			nofork = true
		}
	}
	fmt.Fprintf(stderr, "Starting %s IPsec [starter]...\n", daemon.Version)
	pidfile := daemon.PidFile(piddir)
	if pid := daemon.RunningPID(pidfile); pid != 0 {
		fmt.Fprintf(stderr, "charon is already running (%s exists) -- skipping daemon start\n", pidfile)
		return 0
	}
	if nofork {
		return daemonMain("", piddir, false)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "ipsec:", err)
		return 1
	}
	logf, err := os.OpenFile(filepath.Join(piddir, "cygnet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		logf = nil
	}
	cmd := exec.Command(exe, "daemon", "--piddir", piddir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if logf != nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "ipsec: starting the daemon:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		code, err := control.Call(context.Background(), daemon.CtlFile(piddir), control.Request{Command: "status"}, io.Discard)
		if err == nil && code == 0 {
			return 0
		}
		select {
		case err := <-exited:
			fmt.Fprintf(stderr, "ipsec: the daemon exited at start (%v); see %s\n", err, filepath.Join(piddir, "cygnet.log"))
			if logf != nil {
				if b, rerr := os.ReadFile(logf.Name()); rerr == nil {
					stderr.Write(tail(b, 20))
				}
			}
			return 1
		case <-deadline:
			fmt.Fprintln(stderr, "ipsec: the daemon did not answer within 30 s")
			return 1
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(b []byte, lines int) []byte {
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n > lines {
				return b[i+1:]
			}
		}
	}
	return b
}

func ipsecStop(piddir string, stderr io.Writer) int {
	if daemon.RunningPID(daemon.PidFile(piddir)) == 0 {
		fmt.Fprintln(stderr, "Stopping cygnet IPsec failed: starter is not running")
		return 0
	}
	fmt.Fprintln(stderr, "Stopping cygnet IPsec...")
	code, err := control.Call(context.Background(), daemon.CtlFile(piddir), control.Request{Command: "stop"}, io.Discard)
	if err != nil && !errors.Is(err, control.ErrNotRunning) {
		fmt.Fprintln(stderr, "ipsec:", err)
		return 1
	}
	return code
}
