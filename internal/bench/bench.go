// Package bench is cygnet's IKE load generator, run as "cygnet bench ike":
// it sets up N IKE_SAs, each with one transport-mode CHILD_SA, against a
// responder (cygnet's daemon or strongSwan's charon), every one from its
// own source address so that each is a distinct host pair in the
// responder's kernel, and reports completions, failures by reason,
// retransmits, setups per second, latency percentiles and its own CPU time.
//
// The initiators are ordinary cygnet engines (package ike) with a kernel
// that installs nothing (NoopKernel): the generator must not be what limits
// the rate. SAs are spread over several engines (Options.PerEngine each)
// so that no engine-wide table grows with N, and the UDP side is a few
// SO_REUSEPORT sockets on one port with a reader goroutine each, sending
// from each SA's address with IP_PKTINFO (udp_linux.go). The source
// addresses must be this host's: put them on an interface first, e.g.
//
//	ip link add bench0 type dummy && ip link set bench0 up
//	for i in $(seq 1 250); do ip addr add 10.9.0.$i/32 dev bench0; done
//
// (any address of 127.0.0.0/8 is local on Linux without that).
//
// Two modes: closed loop (Options.Inflight handshakes at a time, each
// finished one starting the next) and open loop (Options.Rate setups per
// second started on schedule whatever the responder does; the latency of
// each is then counted from when it was due, so that a responder that
// falls behind cannot hide it by slowing the generator down).
package bench

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Options describe one run.
type Options struct {
	// Target is the responder's address; Port and NATPort its IKE ports
	// (default 500 and 4500).
	Target        netip.Addr
	Port, NATPort uint16
	// LocalPort is the generator's UDP port; 0 lets the kernel pick one.
	// The engines announce port 500 in their NAT detection payloads, so
	// with any other port the responder sees a NAT and floats to its
	// NAT-T port (UDP-encapsulated ESP); the command defaults to 500.
	LocalPort uint16

	// Sources are the initiators' addresses, one per SA; at least SAs of
	// them.
	Sources []netip.Addr
	SAs     int
	// Inflight caps the handshakes under way; 0 means no cap, which only
	// open-loop runs (Rate > 0) may ask for.
	Inflight int
	// Rate, when positive, starts that many setups per second on a fixed
	// schedule (open loop).
	Rate float64

	// IKE and ESP are the proposals offered, strictly; zero means
	// DefaultIKE and DefaultESP.
	IKE, ESP string

	// PSK authenticates both ends when Cert is nil.
	PSK []byte
	// Cert and Key make the initiators authenticate with a certificate
	// (the same for every SA: the responder then needs uniqueids=no or
	// never); CAs are the trust anchors for the responder's certificate.
	Cert *x509.Certificate
	Key  crypto.Signer
	CAs  []*x509.Certificate
	// Issuer and IssuerKey, when set, make every SA authenticate with a
	// certificate of its own: an ECDSA P-256 key and a certificate for the
	// source address (CN and IP SAN, the SA's identity), made at the
	// start and signed by Issuer, so that each SA is a distinct identity
	// for the responder's uniqueness policy. Issuer is also trusted for
	// the responder's certificate.
	Issuer    *x509.Certificate
	IssuerKey crypto.Signer
	// RemoteID is the identity the responder must prove; zero means its
	// address, as strongSwan's rightid default (a responder
	// authenticating with a certificate then needs leftid= its address
	// and the address in its certificate, or RemoteID its subject).
	RemoteID ike.Identity

	// Timeout bounds one setup (default 60 s); the retransmission
	// schedule is strongSwan's unless RetransmitTimeout and
	// RetransmitTries are set.
	Timeout           time.Duration
	RetransmitTimeout time.Duration
	RetransmitTries   int

	// Hold keeps the SAs up that long after the last setup, for a look
	// at the responder's memory; Delete then deletes them with the
	// responder (INFORMATIONAL Delete) rather than dropping them silently.
	Hold   time.Duration
	Delete bool

	// PerEngine is how many SAs one engine holds (default 256); Readers
	// the number of UDP sockets and reader goroutines (default
	// GOMAXPROCS).
	PerEngine int
	Readers   int

	// Logger receives the engines' logs; nil discards them.
	Logger *slog.Logger
}

// Default proposals: X25519 with AES-GCM-256 for IKE, AES-GCM-256 for ESP.
const (
	DefaultIKE = "aes256gcm16-prfsha256-x25519"
	DefaultESP = "aes256gcm16"
)

// Presets name the proposals of the side-by-side benchmark (issue 14).
var Presets = map[string]string{
	"x25519": "aes256gcm16-prfsha256-x25519",
	"ecp384": "aes256gcm16-prfsha384-ecp384",
}

// Result is what a run measured. Durations in the JSON form are in
// milliseconds (latency) or seconds (elapsed and CPU).
type Result struct {
	Target   string  `json:"target"`
	IKE      string  `json:"ike"`
	ESP      string  `json:"esp"`
	Auth     string  `json:"auth"`
	SAs      int     `json:"sas"`
	Inflight int     `json:"inflight"`
	Rate     float64 `json:"rate"`

	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	// NotStarted counts setups never begun because the run was
	// interrupted.
	NotStarted int `json:"not_started"`
	// Failures counts failed setups by reason; Examples holds the first
	// error of each reason.
	Failures map[string]int    `json:"failures"`
	Examples map[string]string `json:"failure_examples,omitempty"`
	// Retransmits counts IKE requests the initiators sent again.
	Retransmits uint64 `json:"retransmits"`
	// Late counts open-loop setups started more than a millisecond after
	// they were due (the generator fell behind its own schedule).
	Late int `json:"late"`
	// Dropped counts datagrams the generator received that were not an
	// IKE message from the responder.
	Dropped uint64 `json:"dropped"`
	// ChildSAs counts CHILD_SAs handed to the no-op kernel.
	ChildSAs uint64 `json:"child_sas"`

	Elapsed    time.Duration `json:"-"`
	SetupsPerS float64       `json:"setups_per_s"`
	Latency    Latency       `json:"-"`
	CPUUser    time.Duration `json:"-"`
	CPUSys     time.Duration `json:"-"`
	ElapsedS   float64       `json:"elapsed_s"`
	LatencyMS  latencyMS     `json:"latency_ms"`
	CPU        cpuReport     `json:"cpu"`
	Engines    int           `json:"engines"`
	Readers    int           `json:"readers"`
}

type latencyMS struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type cpuReport struct {
	UserS float64 `json:"user_s"`
	SysS  float64 `json:"sys_s"`
	// PerSetupMS is the generator's CPU time per completed setup.
	PerSetupMS float64 `json:"per_setup_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fill computes the JSON fields from the others.
func (r *Result) fill() {
	r.ElapsedS = r.Elapsed.Seconds()
	if r.Elapsed > 0 {
		r.SetupsPerS = float64(r.Completed) / r.Elapsed.Seconds()
	}
	l := r.Latency
	r.LatencyMS = latencyMS{Min: ms(l.Min), Mean: ms(l.Mean), P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
	r.CPU = cpuReport{UserS: r.CPUUser.Seconds(), SysS: r.CPUSys.Seconds()}
	if r.Completed > 0 {
		r.CPU.PerSetupMS = ms(r.CPUUser+r.CPUSys) / float64(r.Completed)
	}
}

// ParseSources expands a source specification: comma-separated items,
// each an address, a range FIRST-LAST, or a prefix (its network and, for
// IPv4 prefixes shorter than /31, broadcast address left out). At most
// limit addresses are returned (0: no limit); duplicates are an error.
func ParseSources(spec string, limit int) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) bool {
		if limit > 0 && len(out) >= limit {
			return false
		}
		out = append(out, a)
		return true
	}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var first, last netip.Addr
		switch {
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("bench: sources: %w", err)
			}
			p = p.Masked()
			first, last = p.Addr(), lastAddr(p)
			if p.Addr().Is4() && p.Bits() < 31 {
				first, last = first.Next(), last.Prev()
			} else if p.Addr().Is6() && p.Bits() < 127 {
				first = first.Next() // the subnet-router anycast address
			}
		case strings.Contains(item, "-"):
			a, b, _ := strings.Cut(item, "-")
			var err error
			if first, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil {
				return nil, fmt.Errorf("bench: sources: %w", err)
			}
			if last, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil {
				return nil, fmt.Errorf("bench: sources: %w", err)
			}
			if first.BitLen() != last.BitLen() || last.Less(first) {
				return nil, fmt.Errorf("bench: sources: bad range %q", item)
			}
		default:
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("bench: sources: %w", err)
			}
			first, last = a, a
		}
		for a := first; a.IsValid(); a = a.Next() {
			if seen[a] {
				return nil, fmt.Errorf("bench: sources: %v given twice", a)
			}
			seen[a] = true
			if !add(a) || a == last {
				break
			}
		}
	}
	return out, nil
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Reason classifies a setup's error for the failure counts.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ike.ErrClosed):
		return "closed"
	case strings.Contains(s, "not responding to IKE_SA_INIT"):
		return "no_answer_ike_sa_init"
	case strings.Contains(s, "not responding to IKE_AUTH"):
		return "no_answer_ike_auth"
	case strings.Contains(s, "authentication failed"):
		return "authentication_failed"
	case strings.Contains(s, "peer refused IKE_SA_INIT: "):
		_, n, _ := strings.Cut(s, "peer refused IKE_SA_INIT: ")
		return "refused_" + strings.ToLower(strings.Fields(n + " ?")[0])
	case strings.Contains(s, "CHILD_SA failed"):
		return "child_sa_failed"
	case strings.Contains(s, "IKE_AUTH failed"):
		return "ike_auth_failed"
	case strings.Contains(s, "cookie"):
		return "cookie"
	case strings.Contains(s, "key exchange"):
		return "key_exchange"
	}
	return "other"
}

// shard is one engine and the SAs it initiates.
type shard struct {
	eng    *ike.Engine
	kernel *NoopKernel
	names  []string
}

// Run performs the setups and returns what it measured. The error is for
// a run that could not start (bad options, sockets, sources); failed
// setups are counted in the Result. Cancelling ctx stops starting new
// setups and ends the hold.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ikeProps, _, err := config.ParseProposals(o.IKE, config.ProposalIKE)
	if err != nil {
		return nil, fmt.Errorf("bench: ike proposal %q: %w", o.IKE, err)
	}
	espProps, _, err := config.ParseProposals(o.ESP, config.ProposalESP)
	if err != nil {
		return nil, fmt.Errorf("bench: esp proposal %q: %w", o.ESP, err)
	}
	srcs := o.Sources
	if err := checkSources(srcs); err != nil {
		return nil, err
	}
	tr, err := listenUDP(o.Target, o.Port, o.NATPort, o.LocalPort, o.Readers)
	if err != nil {
		return nil, err
	}
	defer tr.Close()

	auth, creds := ike.AuthPSK, ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: o.PSK}}}
	var ids []identity
	switch {
	case o.Issuer != nil:
		auth = ike.AuthPubkey
		if ids, err = issue(o.Issuer, o.IssuerKey, srcs); err != nil {
			return nil, err
		}
	case o.Cert != nil:
		auth = ike.AuthPubkey
		creds = ike.Credentials{PrivateKeys: []crypto.Signer{o.Key}, Certs: []*x509.Certificate{o.Cert}, CACerts: o.CAs}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	byAddr := make(map[netip.Addr]*ike.Engine, len(srcs))
	var shards []*shard
	for lo := 0; lo < len(srcs); lo += o.PerEngine {
		hi := min(lo+o.PerEngine, len(srcs))
		cfg := &ike.Config{Credentials: creds, RetransmitTimeout: o.RetransmitTimeout, RetransmitTries: o.RetransmitTries,
			UniqueIDs: ike.UniqueIDsNever}
		if ids != nil {
			// Only this engine's SAs' keys: the engine looks a
			// certificate's key up among them.
			cfg.Credentials = ike.Credentials{CACerts: append([]*x509.Certificate{o.Issuer}, o.CAs...)}
			for i := lo; i < hi; i++ {
				cfg.Credentials.PrivateKeys = append(cfg.Credentials.PrivateKeys, ids[i].key)
				cfg.Credentials.Certs = append(cfg.Credentials.Certs, ids[i].cert)
			}
		}
		sh := &shard{kernel: NewNoopKernel()}
		for i := lo; i < hi; i++ {
			name := fmt.Sprintf("bench%d", i)
			local := ike.Endpoint{Addr: srcs[i], Auth: auth}
			switch {
			case ids != nil:
				local.Cert, local.ID = ids[i].cert, ike.IdentityFromAddr(srcs[i])
			case o.Cert != nil:
				local.Cert = o.Cert
			}
			cfg.Connections = append(cfg.Connections, ike.Connection{
				Name: name, Mode: ike.ModeTransport, Auto: ike.AutoAdd,
				Local:  local,
				Remote: ike.Endpoint{Addr: o.Target, Auth: auth, ID: o.RemoteID},
				IKE:    ikeProps, ESP: espProps, IKEStrict: true, ESPStrict: true,
				IKELifetime: config.DefaultIKELifetime, Lifetime: config.DefaultLifetime,
				MarginTime: config.DefaultMarginTime, RekeyFuzz: config.DefaultRekeyFuzz,
				KeyingTries: 1,
				// Explicit reqids: the engine then need not search for
				// a free one per connection.
				ReqID: xfrm.ReqIDMin + uint32(i),
			})
			sh.names = append(sh.names, name)
		}
		eng, err := ike.New(ike.Options{Config: cfg, Transport: tr, Kernel: sh.kernel, Logger: logger})
		if err != nil {
			closeAll(shards)
			return nil, fmt.Errorf("bench: %w", err)
		}
		sh.eng = eng
		for i := lo; i < hi; i++ {
			byAddr[srcs[i]] = eng
		}
		shards = append(shards, sh)
	}
	defer closeAll(shards)
	served := make(chan struct{})
	go func() {
		tr.serve(func(p ike.Packet) {
			if e := byAddr[p.Local.Addr()]; e != nil {
				e.HandlePacket(p)
			} else {
				tr.dropped.Add(1)
			}
		})
		close(served)
	}()
	defer func() { tr.Close(); <-served }()

	r := &Result{
		Target: netip.AddrPortFrom(o.Target, o.Port).String(), IKE: o.IKE, ESP: o.ESP, Auth: auth.String(),
		SAs: o.SAs, Inflight: o.Inflight, Rate: o.Rate, Failures: map[string]int{}, Examples: map[string]string{},
		Engines: len(shards), Readers: len(tr.socks),
	}
	lat, errs, late, notStarted, elapsed, cpuU, cpuS := o.drive(ctx, shards)
	r.Elapsed, r.Late, r.NotStarted, r.CPUUser, r.CPUSys = elapsed, late, notStarted, cpuU, cpuS
	var done []time.Duration
	for i, err := range errs {
		switch {
		case i >= o.SAs-notStarted:
		case err == nil:
			r.Completed++
			done = append(done, lat[i])
		default:
			r.Failed++
			why := Reason(err)
			if r.Failures[why] == 0 {
				r.Examples[why] = err.Error()
			}
			r.Failures[why]++
		}
	}
	r.Latency = Summarize(done)
	for _, sh := range shards {
		r.Retransmits += sh.eng.Status().Counters.Retransmits
		r.ChildSAs += sh.kernel.Children()
	}
	r.Dropped = tr.dropped.Load()
	r.fill()

	if o.Hold > 0 {
		t := time.NewTimer(o.Hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if o.Delete {
		o.deleteAll(shards)
	}
	return r, nil
}

func (o *Options) defaults() error {
	if !o.Target.IsValid() {
		return errors.New("bench: no responder address")
	}
	o.Target = o.Target.Unmap()
	if o.SAs <= 0 {
		return errors.New("bench: the number of SAs must be positive")
	}
	if len(o.Sources) < o.SAs {
		return fmt.Errorf("bench: %d SAs need as many source addresses, %d given", o.SAs, len(o.Sources))
	}
	o.Sources = slices.Clone(o.Sources[:o.SAs])
	for i, a := range o.Sources {
		if a = a.Unmap(); a.Is4() != o.Target.Is4() {
			return fmt.Errorf("bench: source %v and responder %v are of different families", a, o.Target)
		}
		o.Sources[i] = a
	}
	if o.Inflight < 0 || o.Rate < 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate) {
		return errors.New("bench: inflight and rate must not be negative")
	}
	if o.Inflight == 0 && o.Rate == 0 {
		return errors.New("bench: a closed-loop run needs a positive inflight cap")
	}
	if o.Cert == nil && o.Issuer == nil && len(o.PSK) == 0 {
		return errors.New("bench: no PSK and no certificate")
	}
	if (o.Cert != nil && o.Key == nil) || (o.Issuer != nil && o.IssuerKey == nil) {
		return errors.New("bench: a certificate needs its private key")
	}
	if o.Port == 0 {
		o.Port = 500
	}
	if o.NATPort == 0 {
		o.NATPort = 4500
	}
	if o.IKE == "" {
		o.IKE = DefaultIKE
	}
	if o.ESP == "" {
		o.ESP = DefaultESP
	}
	if p, ok := Presets[o.IKE]; ok {
		o.IKE = p
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.PerEngine <= 0 {
		o.PerEngine = 256
	}
	if o.Readers <= 0 {
		o.Readers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// drive starts the setups, closed or open loop, and waits for all of them.
// It returns per-SA latencies and errors (indexed by SA), how many
// open-loop starts were late and how many were never started, the time
// from the first start to the last completion, and the CPU time spent.
func (o *Options) drive(ctx context.Context, shards []*shard) (lat []time.Duration, errs []error, late, notStarted int,
	elapsed, cpuU, cpuS time.Duration) {
	lat = make([]time.Duration, o.SAs)
	errs = make([]error, o.SAs)
	var sem chan struct{}
	if o.Inflight > 0 {
		sem = make(chan struct{}, o.Inflight)
	}
	u0, s0, _ := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	started := 0
	interval := 0.0
	if o.Rate > 0 {
		interval = float64(time.Second) / o.Rate
	}
loop:
	for i := range o.SAs {
		t0 := time.Now()
		if o.Rate > 0 {
			due := start.Add(time.Duration(float64(i) * interval))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					break loop
				}
			}
			t0 = due
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
		}
		if o.Rate > 0 && time.Since(t0) > time.Millisecond {
			late++
		} else if o.Rate == 0 {
			t0 = time.Now()
		}
		sh := shards[i/o.PerEngine]
		name := sh.names[i%o.PerEngine]
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			errs[i] = sh.eng.Initiate(cctx, name)
			lat[i] = time.Since(t0)
			cancel()
			if sem != nil {
				<-sem
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	u1, s1, _ := cpuTime()
	return lat, errs, late, o.SAs - started, elapsed, u1 - u0, s1 - s0
}

// deleteAll deletes every SA with the responder, Inflight (or 64)
// connections at a time.
func (o *Options) deleteAll(shards []*shard) {
	n := o.Inflight
	if n <= 0 {
		n = 64
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, sh := range shards {
		for _, name := range sh.names {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
				_ = sh.eng.Terminate(ctx, name)
				cancel()
				<-sem
			}()
		}
	}
	wg.Wait()
}

func closeAll(shards []*shard) {
	for _, sh := range shards {
		sh.eng.Close()
	}
}
