package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cygnet-ipsec/cygnet/internal/daemon"
)

func init() {
	register("daemon", "run the IKEv2 keying daemon in the foreground", runDaemon)
}

func runDaemon(args []string) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	confdir := fs.String("confdir", "", "directory with ipsec.conf, ipsec.secrets, strongswan.conf (default: /etc or /etc/strongswan)")
	piddir := fs.String("piddir", daemon.DefaultPidDir, "directory for charon.pid and the control socket")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return daemonMain(*confdir, *piddir, *debug)
}

func daemonMain(confdir, piddir string, debug bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, daemon.Options{ConfDir: confdir, PidDir: piddir, Debug: debug}); err != nil {
		fmt.Fprintln(os.Stderr, "cygnet:", err)
		return 1
	}
	return 0
}
