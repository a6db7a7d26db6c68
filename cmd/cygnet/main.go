// Command cygnet is the cygnet IKEv2 daemon and its command-line tools. It is
// one static binary: "cygnet daemon" runs the keying daemon, "cygnet config
// check" validates strongSwan configuration, and invoked as "ipsec" or
// "strongswan" it answers strongSwan's ipsec commands.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// command is one subcommand. Each lives in its own file and registers itself
// in init, so independent subcommands do not edit a shared switch.
type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cygnet COMMAND [ARGS...]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	// Invoked through an "ipsec" or "strongswan" symlink, behave as
	// strongSwan's ipsec script.
	switch filepath.Base(os.Args[0]) {
	case "ipsec", "strongswan":
		if c, ok := commands["ipsec"]; ok {
			os.Exit(c.run(os.Args[1:]))
		}
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "cygnet: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}
