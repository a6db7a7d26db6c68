// Package ikeinterop runs cygnet's IKEv2 engine against strongSwan's charon
// (RFC 7296) in network namespaces: charon in one, the engine with its UDP
// transport and the namespace's XFRM in the other.
package ikeinterop

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/udp"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/swan"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

const secret = "interop pre-shared key, 32 chars"

// lockedBuf collects the engine's log for failure output and assertions.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// setup is charon in namespace A and a cygnet engine in namespace B.
type setup struct {
	pair   *nstest.Pair
	charon *swan.Charon
	engine *ike.Engine
	kernel *xfrm.Handle
	log    *lockedBuf
}

// newSetup starts charon with conn "cyg" (type=transport, authby=psk, the
// given proposals, auto=add) and the engine with the same connection,
// named "swan".
func newSetup(t *testing.T, ikeProp, espProp string) *setup {
	t.Helper()
	return newSetupWith(t, setupOptions{ike: ikeProp, esp: espProp})
}

// setupOptions vary the common setup.
type setupOptions struct {
	ike, esp string
	// charonConn replaces "authby=psk" in charon's conn (e.g. certificate
	// settings); charonFiles and charonSecrets add ipsec.d files and
	// ipsec.secrets lines.
	charonConn    string
	charonFiles   map[string][]byte
	charonSecrets string
	// engine adjusts the engine's configuration.
	engine func(*ike.Config)
}

func newSetupWith(t *testing.T, o setupOptions) *setup {
	t.Helper()
	ikeProp, espProp := o.ike, o.esp
	addrA, addrB := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	p := nstest.NewPair(t, addrA, addrB)
	s := &setup{pair: p, log: &lockedBuf{}}
	charonConn := o.charonConn
	if charonConn == "" {
		charonConn = "authby=psk"
	}
	conf := fmt.Sprintf(`config setup
	uniqueids=no

conn cyg
	keyexchange=ikev2
	left=%s
	right=%s
	type=transport
	%s
	ike=%s!
	esp=%s!
	auto=add
`, addrA, addrB, charonConn, ikeProp, espProp)
	s.charon = swan.Start(t, p.A, swan.Files{
		IPsecConf:    conf,
		IPsecSecrets: fmt.Sprintf("%s %s : PSK \"%s\"\n%s", addrA, addrB, secret, o.charonSecrets),
		Extra:        o.charonFiles,
	})
	ikeP, _, err := config.ParseProposals(ikeProp, config.ProposalIKE)
	if err != nil {
		t.Fatal(err)
	}
	espP, _, err := config.ParseProposals(espProp, config.ProposalESP)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ike.Config{
		Connections: []ike.Connection{{
			Name: "swan", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
			Local:  ike.Endpoint{Addr: addrB, Auth: ike.AuthPSK},
			Remote: ike.Endpoint{Addr: addrA, Auth: ike.AuthPSK},
			IKE:    ikeP, ESP: espP,
		}},
		// strongSwan's retransmission defaults: under qemu without KVM a
		// CHILD_SA install (crypto modules loading) can take 10 s or more.
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: []byte(secret)}}},
	}
	if o.engine != nil {
		o.engine(cfg)
	}
	kernel, err := xfrm.Open(p.B.Path)
	if err != nil {
		t.Fatal(err)
	}
	s.kernel = kernel
	var conn *udp.Conn
	if err := xfrm.InNamespace(p.B.Path, func() error {
		var err error
		conn, err = udp.Listen(udp.Config{IPv4: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eng, err := ike.New(ike.Options{Config: cfg, Transport: conn, Kernel: kernel,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	s.engine = eng
	done := make(chan struct{})
	go func() { conn.Serve(eng.HandlePacket); close(done) }()
	t.Cleanup(func() {
		eng.Close()
		conn.Close()
		<-done
		kernel.Close()
		if t.Failed() {
			t.Logf("cygnet log:\n%s", s.log.String())
		}
	})
	return s
}

var interopCases = []struct {
	ike, esp string
	want     string // charon's "IKE proposal:" text
}{
	{"aes256gcm16-prfsha384-ecp384", "aes256gcm16", "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"},
	{"aes128gcm16-prfsha256-x25519", "aes128gcm16", "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"},
	{"aes256-sha256-modp2048", "aes256-sha256", "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
}

// checkCharon asserts charon's statusall shows the IKE_SA established
// with the expected proposal.
func checkCharon(t *testing.T, c *swan.Charon, want string) {
	t.Helper()
	out, ok := c.WaitStatus("ESTABLISHED", 60*time.Second)
	if !ok {
		t.Fatalf("charon has no ESTABLISHED IKE_SA:\n%s", out)
	}
	if !strings.Contains(out, "IKE proposal: "+want) {
		t.Fatalf("charon statusall lacks %q:\n%s", "IKE proposal: "+want, out)
	}
}

// checkEngine asserts the engine's IKE_SA is established with the
// proposal; a CHILD_SA is expected only where the kernel has ESP.
func checkEngine(t *testing.T, e *ike.Engine, want string, initiator bool) ike.IKESAStatus {
	t.Helper()
	var st ike.Status
	deadline := time.Now().Add(60 * time.Second)
	for {
		st = e.Status()
		if len(st.IKESAs) == 1 && st.IKESAs[0].State == "ESTABLISHED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine status: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sa := st.IKESAs[0]
	if sa.Proposal != want || sa.Initiator != initiator {
		t.Errorf("engine IKE_SA %+v, want proposal %q initiator %v", sa, want, initiator)
	}
	return sa
}

// hostKernelHasESP reports whether the CHILD_SA can be installed here.
func hostKernelHasESP() bool { return vmtest.KernelESP() == nil }

func TestCygnetInitiatesToCharon(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	for _, c := range interopCases {
		t.Run(c.ike, func(t *testing.T) {
			s := newSetup(t, c.ike, c.esp)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			err := s.engine.Initiate(ctx, "swan")
			checkCharon(t, s.charon, c.want)
			sa := checkEngine(t, s.engine, c.want, true)
			if hostKernelHasESP() {
				if err != nil || len(sa.Children) != 1 {
					t.Fatalf("Initiate: %v, children %+v", err, sa.Children)
				}
				return
			}
			// No ESP in this kernel: charon refuses the CHILD_SA after its
			// kernel error, the engine keeps the IKE_SA and says why.
			if err == nil || !strings.Contains(err.Error(), "CHILD_SA failed") {
				t.Fatalf("Initiate: %v, want a CHILD_SA failure", err)
			}
			t.Logf("child failure as reported: %v", err)
		})
	}
}

func TestCharonInitiatesToCygnet(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	for _, c := range interopCases {
		t.Run(c.ike, func(t *testing.T) {
			s := newSetup(t, c.ike, c.esp)
			// ipsec up fails when the CHILD_SA does (no ESP in the host
			// kernel); the IKE_SA is what is checked here.
			out, err := s.charon.Up("cyg")
			if err != nil && hostKernelHasESP() {
				t.Errorf("ipsec up: %v\n%s", err, out)
			}
			checkCharon(t, s.charon, c.want)
			sa := checkEngine(t, s.engine, c.want, false)
			if hostKernelHasESP() {
				if len(sa.Children) != 1 {
					t.Fatalf("children %+v", sa.Children)
				}
				return
			}
			if !strings.Contains(s.log.String(), "CHILD_SA failed") {
				t.Errorf("engine does not report the CHILD_SA failure")
			}
		})
	}
}

// TestPingOverESP is the key-material proof: with a kernel that has ESP,
// the CHILD_SA negotiated between charon and the engine is installed on
// both sides and a ping from charon's namespace to the engine's passes
// through the resulting ESP SAs, in both roles.
func TestPingOverESP(t *testing.T) {
	vmtest.Require(t)
	swan.Require(t)
	for _, c := range interopCases {
		for _, role := range []string{"cygnet-initiator", "charon-initiator"} {
			t.Run(c.esp+"/"+role, func(t *testing.T) { pingOverESP(t, c.ike, c.esp, c.want, role) })
		}
	}
}

func pingOverESP(t *testing.T, ikeProp, espProp, want, role string) {
	t.Helper()
	s := newSetup(t, ikeProp, espProp)
	if role == "cygnet-initiator" {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := s.engine.Initiate(ctx, "swan"); err != nil {
			t.Fatal(err)
		}
	} else if out, err := s.charon.Up("cyg"); err != nil {
		t.Fatalf("ipsec up: %v\n%s", err, out)
	}
	checkCharon(t, s.charon, want)
	if out, ok := s.charon.WaitStatus("INSTALLED, TRANSPORT", 60*time.Second); !ok {
		t.Fatalf("charon has no installed CHILD_SA:\n%s", out)
	}
	sa := checkEngine(t, s.engine, want, role == "cygnet-initiator")
	if len(sa.Children) != 1 {
		t.Fatalf("engine children %+v", sa.Children)
	}
	if out, err := s.pair.A.Output("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2"); err != nil {
		t.Fatalf("ping over ESP: %v\n%s\nkernel B:\n%s", err, out, s.pair.B.Run(t, "ip", "xfrm", "state"))
	}
	// The echo requests went through the engine's inbound SA and the
	// replies through its outbound one.
	ch := s.engine.Status().IKESAs[0].Children[0]
	if ch.BytesIn == 0 || ch.BytesOut == 0 {
		t.Errorf("ESP byte counters in %d out %d: traffic bypassed the SAs", ch.BytesIn, ch.BytesOut)
	}
	if st := s.charon.StatusAll(); !strings.Contains(st, "bytes_i (3 pkts") || !strings.Contains(st, "bytes_o (3 pkts") {
		t.Errorf("charon did not count 3 packets each way:\n%s", st)
	}
	t.Logf("engine CHILD_SA: %s, SPIs %08x/%08x, bytes in %d out %d", ch.Proposal, ch.SPIIn, ch.SPIOut, ch.BytesIn, ch.BytesOut)
}
