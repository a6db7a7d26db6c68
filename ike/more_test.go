package ike_test

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

func TestHandshakeIPv6(t *testing.T) {
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	p := newPairAt(t, a6, b6, func(a, b *ike.Config) {
		a.Connections[0] = baseConn(a6, b6)
		b.Connections[0] = baseConn(b6, a6)
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	sa := established(t, p.a)
	if sa.LocalID.String() != "2001:db8::1" || sa.Children[0].LocalTS != "2001:db8::1/128" || sa.Children[0].RemoteTS != "2001:db8::2/128" {
		t.Errorf("status %+v", sa)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
}

// ForceEncaps fakes a NAT (as strongSwan's forceencaps does): both ends
// detect it, IKE_AUTH moves to port 4500 and the ESP states are
// UDP-encapsulated (RFC 7296 2.23, RFC 3948).
func TestForceEncapsMovesToNATT(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) { a.Connections[0].ForceEncaps = true })
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	for _, pk := range p.link.sentFrom(addrA) {
		ex, _, _ := kind(pk)
		want := uint16(500)
		if ex == message.IKEAuth {
			want = 4500
		}
		if pk.Local.Port() != want || pk.Remote.Port() != want {
			t.Errorf("%v sent %v -> %v", ex, pk.Local, pk.Remote)
		}
	}
	sa, sb := established(t, p.a), established(t, p.b)
	if !sa.NATLocal || !sb.NATRemote || sa.Local.Port() != 4500 || sb.Remote.Port() != 4500 {
		t.Errorf("NAT state: a %+v b %+v", sa, sb)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	for _, s := range append(p.a.kernel.States(), p.b.kernel.States()...) {
		if s.Encap == nil || s.Encap.SrcPort != 4500 || s.Encap.DstPort != 4500 {
			t.Errorf("state %v without UDP encapsulation 4500/4500", &s)
		}
	}
}

// bigCertMutate configures both ends with RSA certificate chains too big
// for one datagram, so that IKE_AUTH needs RFC 7383 fragments, and the
// given fragmentation policies.
func bigCertMutate(t *testing.T, fragA, fragB ike.Fragmentation) func(a, b *ike.Config) {
	ca := authtest.Must(authtest.NewCA(authtest.Options{Subject: pkix.Name{CommonName: "root"}, Key: authtest.RSA3072}))
	sub := authtest.Must(ca.NewIntermediate(authtest.Options{Subject: pkix.Name{CommonName: "intermediate"}, Key: authtest.RSA3072}))
	issue := func(cn string) *authtest.Credential {
		return authtest.Must(sub.Issue(authtest.Options{Subject: pkix.Name{CommonName: cn}, Key: authtest.RSA3072,
			DNSNames: []string{cn + ".example.org", "a-long-alternative-name-to-grow-the-certificate." + cn + ".example.org"}}))
	}
	sun, moon := issue("sun"), issue("moon")
	return func(a, b *ike.Config) {
		for _, x := range []struct {
			cfg        *ike.Config
			mine, peer *authtest.Credential
			frag       ike.Fragmentation
		}{{a, sun, moon, fragA}, {b, moon, sun, fragB}} {
			c := &x.cfg.Connections[0]
			c.Local.Auth, c.Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
			c.Local.Cert = x.mine.Cert
			c.Local.ID = ike.Identity{Type: message.IDFQDN, Data: []byte(x.mine.Cert.DNSNames[0])}
			c.Remote.ID = ike.Identity{Type: message.IDFQDN, Data: []byte(x.peer.Cert.DNSNames[0])}
			c.Fragmentation = x.frag
			x.cfg.Credentials = ike.Credentials{PrivateKeys: []crypto.Signer{x.mine.Key},
				Certs: []*x509.Certificate{sub.Cert}, CACerts: []*x509.Certificate{ca.Cert}}
		}
	}
}

// fragmentsFrom counts the RFC 7383 fragments addr sent and reports the
// largest datagram.
func fragmentsFrom(p *pair, addr netip.Addr) (frags, largest int) {
	for _, pk := range p.link.sentFrom(addr) {
		largest = max(largest, len(pk.Data))
		if m, err := message.DecodeMessage(pk.Data); err == nil && m.Fragment() != nil {
			frags++
		}
	}
	return frags, largest
}

// announced reports whether addr's IKE_SA_INIT message carried
// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3).
func announced(p *pair, addr netip.Addr) bool {
	for _, pk := range p.link.sentFrom(addr) {
		m, err := message.DecodeMessage(pk.Data)
		if err != nil || m.Header.Exchange != message.IKESAInit {
			continue
		}
		if m.Payloads.Notify(message.IKEv2FragmentationSupported) != nil {
			return true
		}
	}
	return false
}

// TestFragmentationPolicies: ipsec.conf fragmentation= with IKEv2, as
// strongSwan documents it: yes announces support and fragments oversized
// messages when the peer announced it too; accept announces but never
// fragments; force is IKEv1-only in strongSwan and means yes with IKEv2;
// no announces nothing, so the peer sends whole messages (RFC 7383 2.3,
// 2.5). A certificate chain makes IKE_AUTH too big for 1280 bytes.
func TestFragmentationPolicies(t *testing.T) {
	cases := []struct {
		a, b               ike.Fragmentation
		aAnnounces, aFrags bool
		bFrags             bool
	}{
		{ike.FragmentationYes, ike.FragmentationYes, true, true, true},
		{ike.FragmentationForce, ike.FragmentationYes, true, true, true},
		{ike.FragmentationAccept, ike.FragmentationYes, true, false, true},
		{ike.FragmentationNo, ike.FragmentationYes, false, false, false},
		{ike.FragmentationYes, ike.FragmentationNo, true, false, false},
		{ike.FragmentationForce, ike.FragmentationAccept, true, true, false},
	}
	for _, c := range cases {
		t.Run(c.a.String()+"-"+c.b.String(), func(t *testing.T) {
			t.Log("checks RFC 7383 2.3, 2.5")
			p := newPair(t, bigCertMutate(t, c.a, c.b))
			if err := p.initiate(t); err != nil {
				t.Fatalf("%v\n%s", err, p.b.log.String())
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			if got := announced(p, addrA); got != c.aAnnounces {
				t.Errorf("a announced fragmentation: %v, want %v", got, c.aAnnounces)
			}
			for _, x := range []struct {
				from netip.Addr
				want bool
			}{{addrA, c.aFrags}, {addrB, c.bFrags}} {
				frags, largest := fragmentsFrom(p, x.from)
				if x.want && (frags < 2 || largest > 1280) {
					t.Errorf("%v: %d fragments, largest datagram %d bytes; want fragments of at most 1280", x.from, frags, largest)
				}
				if !x.want && frags != 0 {
					t.Errorf("%v sent %d fragments, want whole messages", x.from, frags)
				}
			}
		})
	}
}

// A fragmented IKE_AUTH request whose response is lost is retransmitted in
// fragments; the responder authenticates fragment 1 of the retransmission
// and answers it from its cache, once, without waiting for the other
// fragments and without processing IKE_AUTH again (RFC 7383 2.6.1, RFC
// 7296 2.1).
func TestFragmentedRetransmissionReplayed(t *testing.T) {
	t.Log("checks RFC 7383 2.6.1, RFC 7296 2.1")
	p := newPair(t, bigCertMutate(t, ike.FragmentationYes, ike.FragmentationYes))
	respFrags := 0
	dropping := true
	p.link.setFilter(func(pk ike.Packet) int {
		if ex, resp, _ := kind(pk); ex == message.IKEAuth && resp && dropping {
			if m, err := message.DecodeMessage(pk.Data); err == nil && m.Fragment() != nil {
				respFrags++
				if int(m.Fragment().Total) == respFrags {
					dropping = false // the whole first response is lost
				}
				return 0
			}
		}
		return 1
	})
	wait := p.initiateAsync()
	deadline := time.Now().Add(5 * time.Second)
	for lost := false; !lost; time.Sleep(time.Millisecond) {
		p.link.mu.Lock()
		lost = !dropping
		p.link.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no fragmented IKE_AUTH response")
		}
	}
	reqFrags, _ := fragmentsFrom(p, addrA)
	p.clk.Advance(4 * time.Second)
	if err := wait(); err != nil {
		t.Fatalf("%v\n%s", err, p.b.log.String())
	}
	if n := p.b.e.Status().Counters.Replayed; n != 1 {
		t.Errorf("responder replayed %d responses, want 1 (for fragment 1 only)", n)
	}
	if frags, _ := fragmentsFrom(p, addrA); frags != 2*reqFrags || reqFrags < 2 {
		t.Errorf("initiator sent %d fragments, then %d in all; want the request twice in fragments", reqFrags, frags)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if got := fmt.Sprint(p.b.eventTypes()); got != "[ike-up child-up]" {
		t.Errorf("responder events %s", got)
	}
}

// Both ends initiate at once, from their own goroutines: nothing deadlocks
// or races. Depending on timing the second Initiate finds the first SA up
// (one IKE SA) or both negotiate (two; collision handling belongs to the
// SA lifecycle); either way every IKE SA has its CHILD_SA.
func TestSimultaneousInitiate(t *testing.T) {
	p := newPair(t, nil)
	errs := make(chan error, 2)
	for _, s := range []*side{p.a, p.b} {
		go func() { errs <- s.e.Initiate(t.Context(), "ab") }()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*side{p.a, p.b} {
		st := s.e.Status()
		n := len(st.IKESAs)
		if n < 1 || n > 2 || len(s.kernel.States()) != 2*n {
			t.Fatalf("%d IKE SAs, %d states", n, len(s.kernel.States()))
		}
		if n == 2 && st.IKESAs[0].Initiator == st.IKESAs[1].Initiator {
			t.Error("want one SA in each role")
		}
	}
	if err := p.a.e.Terminate(t.Context(), "ab"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*side{p.a, p.b} {
		if len(s.e.Status().IKESAs) != 0 || len(s.kernel.States()) != 0 || len(s.kernel.Policies()) != 0 {
			t.Errorf("left: %v", s.kernel.Render())
		}
	}
}

func TestInitialContact(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.b.log.String(), "peer sent INITIAL_CONTACT") {
		t.Error("first IKE SA to a peer without INITIAL_CONTACT")
	}
	q := newPair(t, func(a, b *ike.Config) { a.UniqueIDs = ike.UniqueIDsNever })
	if err := q.initiate(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q.b.log.String(), "INITIAL_CONTACT") {
		t.Error("INITIAL_CONTACT sent with uniqueids=never")
	}
}
