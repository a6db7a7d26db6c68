package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/bench"
)

func init() {
	register("bench", "IKE load generator (bench ike [flags] RESPONDER)", runBench)
}

func runBench(args []string) int {
	if len(args) == 0 || args[0] != "ike" {
		fmt.Fprintln(os.Stderr, "usage: cygnet bench ike [flags] RESPONDER   (-h for the flags)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runBenchIKE(ctx, args[1:], os.Stdout, os.Stderr)
}

// runBenchIKE parses the flags of "cygnet bench ike", runs the generator
// and prints its report. It exits 0 when every setup completed, 1 when
// some failed or the run could not start, 2 on a usage error.
func runBenchIKE(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench ike", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cygnet bench ike [flags] RESPONDER\n\n"+
			"Sets up N IKE_SAs with one transport-mode CHILD_SA each against RESPONDER, each from its own\n"+
			"source address (which must be this host's, e.g. on a dummy interface), installing nothing\n"+
			"in the local kernel, and reports rate, latency, failures and its own CPU time.")
		fs.PrintDefaults()
	}
	n := fs.Int("n", 100, "number of IKE_SA + CHILD_SA setups")
	inflight := fs.Int("inflight", 16, "handshakes in flight at most (closed loop; with --rate, 0 means no cap)")
	rate := fs.String("rate", "", "open loop: start setups at this rate, e.g. 200/s, whatever the responder does")
	sources := fs.String("sources", "", "source addresses, one per SA: PREFIX (10.9.0.0/16), FIRST-LAST or A,B,...")
	psk := fs.String("psk", "", "pre-shared key")
	pskFile := fs.String("psk-file", "", "read the pre-shared key from this file (trailing newline dropped)")
	ikeProp := fs.String("ike", bench.DefaultIKE, "IKE proposal (strongSwan syntax) or preset x25519 / ecp384")
	espProp := fs.String("esp", bench.DefaultESP, "ESP proposal")
	remoteID := fs.String("remote-id", "", "identity the responder must prove (default: its address)")
	certFile := fs.String("cert", "", "authenticate every SA with this certificate (PEM; with --key; the responder needs uniqueids=no)")
	keyFile := fs.String("key", "", "private key of --cert, or of --issuer")
	issuerFile := fs.String("issuer", "", "CA certificate (PEM; its key in --key) that signs a certificate for each source address: one identity per SA")
	caFile := fs.String("ca", "", "trust anchors for the responder's certificate (PEM; --issuer is trusted too)")
	port := fs.Uint("port", 500, "responder's IKE port")
	natPort := fs.Uint("nat-port", 4500, "responder's NAT-T port")
	localPort := fs.Uint("local-port", 500, "generator's UDP port (0: any; any port but 500 makes the responder see a NAT)")
	timeout := fs.Duration("timeout", 60*time.Second, "give up on one setup after this long")
	rtTimeout := fs.Duration("retransmit-timeout", 0, "first retransmission after this long (default strongSwan's 4s)")
	rtTries := fs.Int("retransmit-tries", 0, "retransmissions before giving up (default strongSwan's 5)")
	hold := fs.Duration("hold", 0, "keep the SAs up this long after the last setup")
	del := fs.Bool("delete", true, "delete the SAs with the responder at the end (else drop them silently)")
	perEngine := fs.Int("per-engine", 256, "SAs per initiator engine")
	readers := fs.Int("readers", 0, "UDP sockets and reader goroutines (default GOMAXPROCS)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "log the initiators' IKE messages to stderr")
	// Flags may come before or after RESPONDER.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "cygnet bench ike:", err)
		return 1
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cygnet bench ike: "+format+"\n", a...)
		return 2
	}
	target, err := netip.ParseAddr(pos[0])
	if err != nil {
		return usage("responder: %v", err)
	}
	if *sources == "" {
		return usage("--sources is required: one address of this host per SA")
	}
	srcs, err := bench.ParseSources(*sources, *n)
	if err != nil {
		return usage("%v", err)
	}
	o := bench.Options{
		Target: target, Port: uint16(*port), NATPort: uint16(*natPort), LocalPort: uint16(*localPort),
		Sources: srcs, SAs: *n, Inflight: *inflight, IKE: *ikeProp, ESP: *espProp,
		Timeout: *timeout, RetransmitTimeout: *rtTimeout, RetransmitTries: *rtTries,
		Hold: *hold, Delete: *del, PerEngine: *perEngine, Readers: *readers,
	}
	for _, p := range []uint{*port, *natPort, *localPort} {
		if p > 65535 {
			return usage("port %d out of range", p)
		}
	}
	if *rate != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(*rate, "/s"), 64)
		if err != nil || r <= 0 {
			return usage("--rate %q: want a positive number of setups per second, e.g. 200/s", *rate)
		}
		o.Rate = r
		if !flagSet(fs, "inflight") {
			o.Inflight = 0
		}
	}
	switch {
	case *pskFile != "":
		b, err := os.ReadFile(*pskFile)
		if err != nil {
			return fail(err)
		}
		o.PSK = []byte(strings.TrimRight(string(b), "\r\n"))
	case *psk != "":
		o.PSK = []byte(*psk)
	}
	if *certFile != "" && *issuerFile != "" {
		return usage("--cert and --issuer exclude each other")
	}
	if (*certFile != "" || *issuerFile != "") != (*keyFile != "") {
		return usage("--key goes with --cert or --issuer")
	}
	if *keyFile != "" {
		key, err := bench.LoadKey(*keyFile)
		if err != nil {
			return fail(err)
		}
		f := *certFile
		if f == "" {
			f = *issuerFile
		}
		certs, err := bench.LoadCerts(f)
		if err != nil {
			return fail(err)
		}
		if *certFile != "" {
			o.Cert, o.Key = certs[0], key
		} else {
			o.Issuer, o.IssuerKey = certs[0], key
		}
	}
	if *caFile != "" {
		if o.CAs, err = bench.LoadCerts(*caFile); err != nil {
			return fail(err)
		}
	}
	if *remoteID != "" {
		if o.RemoteID, err = ike.ParseIdentity(*remoteID); err != nil {
			return usage("--remote-id: %v", err)
		}
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	r, err := bench.Run(ctx, o)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		return fail(err)
	}
	if r.Completed != r.SAs {
		return 1
	}
	return 0
}

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
