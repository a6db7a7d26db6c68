package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

var testPSK = []byte("bench-test-psk-0123456789abcdef")

// responderUDP is the in-process responder's transport: one socket on
// 127.0.0.1. The engine, like any IKE daemon, believes it is on port 500
// and its peers too; the socket's real ports are mapped to and from 500 at
// both ends (each peer address has one real port), so that neither side's
// NAT detection sees a port change and the run is the plain, un-NATed
// exchange the generator makes against a daemon on port 500.
type responderUDP struct {
	conn  *net.UDPConn
	mu    sync.Mutex
	ports map[netip.Addr]uint16
}

func listenResponder(t *testing.T) *responderUDP {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &responderUDP{conn: c, ports: map[netip.Addr]uint16{}}
}

func (r *responderUDP) port() uint16 { return uint16(r.conn.LocalAddr().(*net.UDPAddr).Port) }

func (r *responderUDP) Send(p ike.Packet) error {
	r.mu.Lock()
	port, ok := r.ports[p.Remote.Addr()]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("responder: unknown peer %v", p.Remote)
	}
	_, err := r.conn.WriteToUDPAddrPort(p.Data, netip.AddrPortFrom(p.Remote.Addr(), port))
	return err
}

func (r *responderUDP) serve(e *ike.Engine) {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		a := from.Addr().Unmap()
		r.mu.Lock()
		r.ports[a] = from.Port()
		r.mu.Unlock()
		e.HandlePacket(ike.Packet{
			Local:  netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 500),
			Remote: netip.AddrPortFrom(a, 500),
			Data:   append([]byte(nil), buf[:n]...),
		})
	}
}

// startResponder runs a cygnet responder engine on 127.0.0.1 that accepts
// any peer with testPSK and proposal ikeProp; it counts CHILD_SAs up.
func startResponder(t *testing.T, ikeProp string, mutate ...func(*ike.Config)) (*responderUDP, *ike.Engine, func() int) {
	t.Helper()
	ikeProps, _, err := config.ParseProposals(ikeProp, config.ProposalIKE)
	if err != nil {
		t.Fatal(err)
	}
	espProps, _, err := config.ParseProposals(DefaultESP, config.ProposalESP)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ike.Config{
		Connections: []ike.Connection{{
			Name: "any", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
			Local:  ike.Endpoint{Addr: netip.MustParseAddr("127.0.0.1"), Auth: ike.AuthPSK},
			Remote: ike.Endpoint{Host: "%any", Auth: ike.AuthPSK},
			IKE:    ikeProps, ESP: espProps, IKEStrict: true, ESPStrict: true,
			IKELifetime: config.DefaultIKELifetime, Lifetime: config.DefaultLifetime,
			MarginTime: config.DefaultMarginTime, RekeyFuzz: config.DefaultRekeyFuzz,
		}},
		Credentials:     ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: testPSK}}},
		CookieThreshold: 1000,
	}
	for _, m := range mutate {
		m(cfg)
	}
	var mu sync.Mutex
	up := 0
	tr := listenResponder(t)
	e, err := ike.New(ike.Options{Config: cfg, Transport: tr, Kernel: &xfrmtest.Fake{},
		Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(ev ike.Event) {
			if ev.Type == ike.EventChildUp {
				mu.Lock()
				up++
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	go tr.serve(e)
	t.Cleanup(func() { e.Close() })
	return tr, e, func() int {
		mu.Lock()
		defer mu.Unlock()
		return up
	}
}

// TestRunLoopback runs the generator against an in-process responder over
// loopback UDP: 50 SAs, each from its own 127.0.1.x address, 8 at a time.
// Every setup completes, the responder has 50 CHILD_SAs from 50 distinct
// peers, and the JSON report has its documented shape. Nothing here
// depends on the machine's speed.
func TestRunLoopback(t *testing.T) {
	tr, resp, childUps := startResponder(t, DefaultIKE)
	srcs, err := ParseSources("127.0.1.0/24", 50)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{
		Target: netip.MustParseAddr("127.0.0.1"), Port: tr.port(), NATPort: tr.port(),
		Sources: srcs, SAs: 50, Inflight: 8, PSK: testPSK,
		// Small engines, so that several share the sockets.
		PerEngine: 16, Readers: 2,
		RetransmitTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 50 || r.Failed != 0 || r.NotStarted != 0 || r.ChildSAs != 50 {
		t.Fatalf("completed %d failed %d (%v, %v) not started %d child SAs %d",
			r.Completed, r.Failed, r.Failures, r.Examples, r.NotStarted, r.ChildSAs)
	}
	if r.Engines != 4 || r.Readers != 2 {
		t.Errorf("engines %d readers %d, want 4 and 2", r.Engines, r.Readers)
	}
	// The responder reports its CHILD_SA after sending the answer that
	// completes the initiator's setup: wait for the last report.
	for deadline := time.Now().Add(10 * time.Second); childUps() < 50 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := childUps(); n != 50 {
		t.Errorf("responder reported %d CHILD_SAs up, want 50", n)
	}
	peers := map[netip.Addr]bool{}
	for _, sa := range resp.Status().IKESAs {
		if sa.State == "ESTABLISHED" && len(sa.Children) == 1 {
			peers[sa.Remote.Addr()] = true
		}
	}
	if len(peers) != 50 {
		t.Errorf("responder has established SAs with %d distinct peers, want 50", len(peers))
	}
	l := r.Latency
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency not ordered: %+v", l)
	}

	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"target", "ike", "esp", "auth", "sas", "inflight", "rate", "completed", "failed",
		"not_started", "failures", "retransmits", "late", "dropped", "child_sas", "setups_per_s", "elapsed_s",
		"latency_ms", "cpu", "engines", "readers"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, buf.String())
		}
	}
	if m["completed"] != 50.0 || m["failed"] != 0.0 || m["sas"] != 50.0 || m["ike"] != DefaultIKE {
		t.Errorf("JSON values: %s", buf.String())
	}
	if f, ok := m["failures"].(map[string]any); !ok || len(f) != 0 {
		t.Errorf("JSON failures: %v", m["failures"])
	}
	lat, _ := m["latency_ms"].(map[string]any)
	for _, k := range []string{"min", "mean", "p50", "p90", "p99", "max"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("latency_ms.%s = %v", k, lat[k])
		}
	}
	cpu, _ := m["cpu"].(map[string]any)
	for _, k := range []string{"user_s", "sys_s", "per_setup_ms"} {
		if _, ok := cpu[k].(float64); !ok {
			t.Errorf("cpu.%s = %v", k, cpu[k])
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"completed    50\n", "failed       0\n", "p99"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// TestRunOpenLoopDelete: the open-loop mode with ECP-384 completes every
// setup, and Delete leaves the responder with no SA.
func TestRunOpenLoopDelete(t *testing.T) {
	tr, resp, _ := startResponder(t, Presets["ecp384"])
	srcs, err := ParseSources("127.0.2.1-127.0.2.10", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), Options{
		Target: netip.MustParseAddr("127.0.0.1"), Port: tr.port(), NATPort: tr.port(),
		Sources: srcs, SAs: 10, Rate: 200, IKE: "ecp384", PSK: testPSK, Delete: true,
		RetransmitTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 10 || r.Failed != 0 || r.IKE != Presets["ecp384"] {
		t.Fatalf("completed %d failed %d (%v) ike %s", r.Completed, r.Failed, r.Examples, r.IKE)
	}
	for deadline := time.Now().Add(10 * time.Second); len(resp.Status().IKESAs) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := len(resp.Status().IKESAs); n != 0 {
		t.Errorf("responder keeps %d IKE SAs after the deletes", n)
	}
}

// TestRunCertificates: with an issuing CA every SA authenticates with a
// certificate of its own for its address, against a responder whose
// certificate the same CA signed; the responder sees 12 identities.
func TestRunCertificates(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	lo := netip.MustParseAddr("127.0.0.1")
	ids, err := issue(ca, caKey, []netip.Addr{lo})
	if err != nil {
		t.Fatal(err)
	}
	tr, resp, _ := startResponder(t, DefaultIKE, func(c *ike.Config) {
		c.Connections[0].Local.Auth, c.Connections[0].Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
		c.Connections[0].Local.Cert, c.Connections[0].Local.ID = ids[0].cert, ike.IdentityFromAddr(lo)
		c.Credentials = ike.Credentials{PrivateKeys: []crypto.Signer{ids[0].key}, CACerts: []*x509.Certificate{ca}}
	})
	srcs, _ := ParseSources("127.0.4.1-127.0.4.12", 0)
	r, err := Run(context.Background(), Options{
		Target: lo, Port: tr.port(), NATPort: tr.port(), Sources: srcs, SAs: 12, Inflight: 4,
		Issuer: ca, IssuerKey: caKey, PerEngine: 5, RetransmitTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 12 || r.Failed != 0 || r.Auth != "pubkey" {
		t.Fatalf("completed %d failed %d %v auth %s", r.Completed, r.Failed, r.Examples, r.Auth)
	}
	seen := map[string]bool{}
	for _, sa := range resp.Status().IKESAs {
		seen[sa.RemoteID.String()] = true
	}
	if len(seen) != 12 || !seen["127.0.4.7"] {
		t.Errorf("responder sees identities %v", seen)
	}
}

// TestRunFailures: a wrong PSK fails every setup with one reason, and a
// run that cannot start says why.
func TestRunFailures(t *testing.T) {
	tr, _, _ := startResponder(t, DefaultIKE)
	srcs, _ := ParseSources("127.0.3.1-127.0.3.4", 0)
	r, err := Run(context.Background(), Options{
		Target: netip.MustParseAddr("127.0.0.1"), Port: tr.port(), NATPort: tr.port(),
		Sources: srcs, SAs: 4, Inflight: 2, PSK: []byte("wrong"), RetransmitTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 0 || r.Failed != 4 || r.Failures["authentication_failed"] != 4 {
		t.Fatalf("completed %d failed %d %v %v", r.Completed, r.Failed, r.Failures, r.Examples)
	}

	for _, o := range []Options{
		{Target: netip.MustParseAddr("127.0.0.1"), Sources: srcs, SAs: 5, Inflight: 1, PSK: testPSK},
		{Target: netip.MustParseAddr("127.0.0.1"), Sources: srcs, SAs: 4, PSK: testPSK},
		{Target: netip.MustParseAddr("127.0.0.1"), Sources: srcs, SAs: 4, Inflight: 1},
		{Target: netip.MustParseAddr("127.0.0.1"), Sources: srcs, SAs: 4, Inflight: 1, PSK: testPSK, IKE: "aes256gcm16-nosuch"},
		{Target: netip.MustParseAddr("::1"), Sources: srcs, SAs: 4, Inflight: 1, PSK: testPSK},
		// 192.0.2.1 (TEST-NET-1) is no address of this host.
		{Target: netip.MustParseAddr("127.0.0.1"), Sources: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, SAs: 1, Inflight: 1, PSK: testPSK},
	} {
		if _, err := Run(context.Background(), o); err == nil || !strings.HasPrefix(err.Error(), "bench: ") {
			t.Errorf("%+v: err %v", o, err)
		} else {
			t.Log(err)
		}
	}
}

func TestParseSources(t *testing.T) {
	for _, c := range []struct {
		spec  string
		limit int
		want  string
	}{
		{"10.1.0.0/30", 0, "10.1.0.1 10.1.0.2"},
		{"10.1.0.0/16", 3, "10.1.0.1 10.1.0.2 10.1.0.3"},
		{"10.1.0.255-10.1.1.1", 0, "10.1.0.255 10.1.1.0 10.1.1.1"},
		{"10.1.0.7, 10.1.0.9", 0, "10.1.0.7 10.1.0.9"},
		{"10.1.0.8/31", 0, "10.1.0.8 10.1.0.9"},
		{"10.1.0.8/32", 0, "10.1.0.8"},
		{"fd00::/126", 0, "fd00::1 fd00::2 fd00::3"},
	} {
		got, err := ParseSources(c.spec, c.limit)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if strings.Join(s, " ") != c.want {
			t.Errorf("%q: got %v, want %s", c.spec, s, c.want)
		}
	}
	for _, bad := range []string{"10.1.0.0/33", "10.1.0.9-10.1.0.1", "10.1.0.1,10.1.0.1", "nonsense", "10.0.0.1-fd00::1"} {
		if _, err := ParseSources(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPercentile checks the nearest-rank percentiles on fixed data.
func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	var hundred []int
	for i := 100; i >= 1; i-- { // descending: Summarize sorts a copy
		hundred = append(hundred, i)
	}
	for _, c := range []struct {
		in                 []time.Duration
		p50, p90, p99, max time.Duration
	}{
		{ms(hundred...), 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
		{ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		// Ten values: p50 is the 5th, p90 the 9th, p99 rounds up to the 10th.
		{ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5), 5 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		// Three values: p50 is the 2nd (rank ceil(1.5)), p90 and p99 the 3rd.
		{ms(3, 1, 2), 2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond},
		{nil, 0, 0, 0, 0},
	} {
		orig := append([]time.Duration(nil), c.in...)
		l := Summarize(c.in)
		if l.P50 != c.p50 || l.P90 != c.p90 || l.P99 != c.p99 || l.Max != c.max {
			t.Errorf("%v: got %+v", c.in, l)
		}
		for i := range orig {
			if orig[i] != c.in[i] {
				t.Fatalf("Summarize reordered its input")
			}
		}
	}
	l := Summarize(ms(1, 2, 3, 4))
	if l.Min != time.Millisecond || l.Mean != 2500*time.Microsecond {
		t.Errorf("min %v mean %v", l.Min, l.Mean)
	}
	sorted := ms(1, 2, 3, 4)
	if Percentile(sorted, 0) != time.Millisecond || Percentile(sorted, 100) != 4*time.Millisecond ||
		Percentile(sorted, 25) != time.Millisecond || Percentile(sorted, 25.1) != 2*time.Millisecond {
		t.Errorf("edges: %v %v %v %v", Percentile(sorted, 0), Percentile(sorted, 100), Percentile(sorted, 25), Percentile(sorted, 25.1))
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("ike: conn x: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("ike: conn x: peer 1.2.3.4:500 not responding to IKE_SA_INIT"), "no_answer_ike_sa_init"},
		{errors.New("ike: conn x: peer refused IKE_SA_INIT: NO_PROPOSAL_CHOSEN"), "refused_no_proposal_chosen"},
		{errors.New("ike: conn x: IKE_SA established but CHILD_SA failed: peer sent TS_UNACCEPTABLE"), "child_sa_failed"},
		{errors.New("something else"), "other"},
	} {
		if got := Reason(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

// TestRunLoopbackReport prints reports of larger loopback runs, generator
// and responder sharing this process and its CPUs, when
// CYGNET_BENCH_SAS is set (e.g. 2000); it asserts completions only.
func TestRunLoopbackReport(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CYGNET_BENCH_SAS"))
	if n <= 0 {
		t.Skip("set CYGNET_BENCH_SAS to run")
	}
	for _, inflight := range []int{1, 16, 64} {
		for _, prop := range []string{"x25519", "ecp384"} {
			tr, _, _ := startResponder(t, Presets[prop])
			srcs, err := ParseSources("127.1.0.0/16", n)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Run(context.Background(), Options{
				Target: netip.MustParseAddr("127.0.0.1"), Port: tr.port(), NATPort: tr.port(),
				Sources: srcs, SAs: n, Inflight: inflight, IKE: prop, PSK: testPSK, Delete: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			r.WriteText(&b)
			t.Logf("\n%s", b.String())
			if r.Completed != n {
				t.Errorf("completed %d of %d: %v", r.Completed, n, r.Examples)
			}
		}
	}
}
