package ike_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

func TestHandshakePSKGroups(t *testing.T) {
	for _, g := range []message.DHGroup{message.DHMODP2048, message.DHECP256, message.DHECP384, message.DHECP521, message.DHCurve25519} {
		t.Run(g.String(), func(t *testing.T) {
			p := newPair(t, func(a, b *ike.Config) {
				for _, c := range []*ike.Config{a, b} {
					c.Connections[0].IKE[0].DH = []message.DHGroup{g}
				}
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			sa := established(t, p.a)
			sb := established(t, p.b)
			want := "AES_GCM_16_256/PRF_HMAC_SHA2_256/" + g.String()
			if sa.Proposal != want || sb.Proposal != want {
				t.Errorf("proposals %q / %q, want %q", sa.Proposal, sb.Proposal, want)
			}
			if sa.SPIi != sb.SPIi || sa.SPIr != sb.SPIr || !sa.Initiator || sb.Initiator {
				t.Errorf("SPIs/roles differ: %+v / %+v", sa, sb)
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
		})
	}
}

func TestHandshakePSKCiphers(t *testing.T) {
	type suiteCase struct {
		encr  message.EncrID
		bits  int
		integ message.IntegID
		prf   message.PRFID
		ike   string
		esp   string
		xenc  xfrm.Encryption
	}
	cases := []suiteCase{
		{message.EncrAESGCM16, 128, 0, message.PRFHMACSHA2256, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", "AES_GCM_16_128", xfrm.AESGCM16_128},
		{message.EncrAESGCM16, 256, 0, message.PRFHMACSHA2384, "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519", "AES_GCM_16_256", xfrm.AESGCM16_256},
		{message.EncrAESCBC, 128, message.IntegHMACSHA2256128, message.PRFHMACSHA2256, "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519", "AES_CBC_128/HMAC_SHA2_256_128", xfrm.AESCBC128},
		{message.EncrAESCBC, 256, message.IntegHMACSHA2384192, message.PRFHMACSHA2384, "AES_CBC_256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/CURVE_25519", "AES_CBC_256/HMAC_SHA2_384_192", xfrm.AESCBC256},
		{message.EncrAESCBC, 256, message.IntegHMACSHA2512256, message.PRFHMACSHA2512, "AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/CURVE_25519", "AES_CBC_256/HMAC_SHA2_512_256", xfrm.AESCBC256},
	}
	for _, c := range cases {
		t.Run(c.ike, func(t *testing.T) {
			p := newPair(t, func(a, b *ike.Config) {
				for _, cfg := range []*ike.Config{a, b} {
					conn := &cfg.Connections[0]
					var integ []message.IntegID
					if c.integ != 0 {
						integ = []message.IntegID{c.integ}
					}
					conn.IKE = []ike.Proposal{{Encr: []ike.Encr{{ID: c.encr, KeyBits: c.bits}}, Integ: integ,
						PRF: []message.PRFID{c.prf}, DH: []message.DHGroup{message.DHCurve25519}}}
					conn.ESP = []ike.Proposal{{Encr: []ike.Encr{{ID: c.encr, KeyBits: c.bits}}, Integ: integ}}
				}
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			sa := established(t, p.a)
			if sa.Proposal != c.ike {
				t.Errorf("IKE proposal %q, want %q", sa.Proposal, c.ike)
			}
			if len(sa.Children) != 1 || sa.Children[0].Proposal != c.esp {
				t.Fatalf("children %+v, want one with %q", sa.Children, c.esp)
			}
			sb := established(t, p.b)
			if len(sb.Children) != 1 || sb.Children[0].SPIIn != sa.Children[0].SPIOut || sb.Children[0].SPIOut != sa.Children[0].SPIIn {
				t.Errorf("CHILD_SA SPIs do not pair: %+v / %+v", sa.Children, sb.Children)
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			if got := p.a.kernel.States()[0].Encryption; got != c.xenc {
				t.Errorf("kernel encryption %v, want %v", got, c.xenc)
			}
		})
	}
}

func TestHandshakeESN(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].ESP[0].ESN = []message.ESNID{message.ESNYes}
		b.Connections[0].ESP[0].ESN = []message.ESNID{message.ESNNo, message.ESNYes}
		b.Connections[0].ReplayWindow = 1024
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	for _, s := range p.b.kernel.States() {
		if !s.ESN {
			t.Errorf("state %v without ESN", &s)
		}
		if s.Dir == xfrm.In && s.ReplayWindow != 1024 {
			t.Errorf("replay window %d, want 1024", s.ReplayWindow)
		}
	}
	for _, s := range p.a.kernel.States() {
		if s.Dir == xfrm.In && s.ReplayWindow != 32 {
			t.Errorf("default replay window %d, want 32", s.ReplayWindow)
		}
	}
	if got := established(t, p.a).Children[0].Proposal; got != "AES_GCM_16_256/ESN" {
		t.Errorf("child proposal %q", got)
	}
}

func TestHandshakeStatusAndEvents(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].Local.ProtoPort = ike.TrafficSelector{Protocol: 6, StartPort: 0}
		a.Connections[0].Remote.ProtoPort = ike.TrafficSelector{Protocol: 6, StartPort: 179, EndPort: 179}
		b.Connections[0].Remote.ProtoPort = ike.TrafficSelector{Protocol: 6}
		b.Connections[0].Local.ProtoPort = ike.TrafficSelector{Protocol: 6, StartPort: 179, EndPort: 179}
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	sa := established(t, p.a)
	if sa.Conn != "ab" || sa.LocalID.String() != "10.0.0.1" || sa.RemoteID.String() != "10.0.0.2" ||
		sa.LocalAuth != ike.AuthPSK || sa.Established.IsZero() || sa.Local.Port() != 500 {
		t.Errorf("status %+v", sa)
	}
	ch := sa.Children[0]
	if ch.LocalTS != "10.0.0.1/32[tcp]" || ch.RemoteTS != "10.0.0.2/32[tcp/179]" || ch.Mode != ike.ModeTransport || !xfrm.Owned(ch.ReqID) {
		t.Errorf("child status %+v", ch)
	}
	if ch.RekeyTime.Sub(ch.Installed) != 51*time.Minute || ch.ExpireTime.Sub(ch.Installed) != time.Hour {
		t.Errorf("child lifetimes: rekey %v expire %v", ch.RekeyTime.Sub(ch.Installed), ch.ExpireTime.Sub(ch.Installed))
	}
	for _, s := range p.b.kernel.States() {
		if s.Selector.Proto != 6 || (s.Dir == xfrm.In && s.Selector.DstPort != 179) || (s.Dir == xfrm.Out && s.Selector.SrcPort != 179) {
			t.Errorf("state selector %+v", s.Selector)
		}
		if s.Limits.HardTime != time.Hour || s.Limits.SoftTime != 51*time.Minute {
			t.Errorf("limits %+v", s.Limits)
		}
	}
	if len(p.b.kernel.Policies()) != 2 {
		t.Errorf("policies %d, want 2", len(p.b.kernel.Policies()))
	}
	want := []ike.EventType{ike.EventIKEUp, ike.EventChildUp}
	for _, s := range []*side{p.a, p.b} {
		if got := s.eventTypes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("events %v, want %v", got, want)
		}
	}
	// One log line per SA event with the conn name, IDs and SPIs, and no
	// secret anywhere.
	for _, s := range []*side{p.a, p.b} {
		log := s.log.String()
		for _, w := range []string{"IKE_SA established", "CHILD_SA established", "conn=ab", "spi_i=", "spi_in=", "remote_id=10.0.0"} {
			if !strings.Contains(log, w) {
				t.Errorf("log lacks %q:\n%s", w, log)
			}
		}
		if strings.Contains(log, string(psk)) || strings.Contains(log, fmt.Sprintf("%x", psk)) {
			t.Error("log contains the PSK")
		}
		for _, st := range s.kernel.States() {
			if strings.Contains(log, fmt.Sprintf("%x", st.EncKey)) {
				t.Error("log contains an ESP key")
			}
		}
	}
	// A second Initiate of an up connection is a no-op.
	if err := p.initiate(t); err != nil || len(p.a.e.Status().IKESAs) != 1 {
		t.Errorf("second Initiate: %v, %d SAs", err, len(p.a.e.Status().IKESAs))
	}
}

func TestWrongPSK(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		b.Credentials.SharedKeys[0].Secret = []byte("another secret entirely")
	})
	err := p.initiate(t)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Fatalf("Initiate: %v, want authentication failed / AUTHENTICATION_FAILED", err)
	}
	for name, s := range map[string]*side{"initiator": p.a, "responder": p.b} {
		log := s.log.String()
		if !strings.Contains(log, "authentication failed") || !strings.Contains(log, "conn=ab") || !strings.Contains(log, "peer=10.0.0.") {
			t.Errorf("%s log lacks the authentication failure line:\n%s", name, log)
		}
		if n := len(s.e.Status().IKESAs); n != 0 {
			t.Errorf("%s keeps %d IKE SAs", name, n)
		}
		if len(s.kernel.States()) != 0 || s.kernel.Larval() != 0 {
			t.Errorf("%s kernel not clean: %v, %d larval", name, s.kernel.Render(), s.kernel.Larval())
		}
		if s.e.Status().Counters.AuthFailures != 1 {
			t.Errorf("%s AuthFailures = %d", name, s.e.Status().Counters.AuthFailures)
		}
	}
}

func TestDisjointProposals(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].IKE = []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESCBC, KeyBits: 256}},
			Integ: []message.IntegID{message.IntegHMACSHA2256128}, PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHMODP2048}}}
		b.Connections[0].IKE = []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
			PRF: []message.PRFID{message.PRFHMACSHA2384}, DH: []message.DHGroup{message.DHECP384}}}
	})
	err := p.initiate(t)
	if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("Initiate: %v, want NO_PROPOSAL_CHOSEN", err)
	}
	log := p.b.log.String()
	for _, w := range []string{"NO_PROPOSAL_CHOSEN", "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", "conn=ab"} {
		if !strings.Contains(log, w) {
			t.Errorf("responder log lacks %q:\n%s", w, log)
		}
	}
	// Both lists on one line.
	found := false
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "MODP_2048") && strings.Contains(line, "ECP_384") {
			found = true
		}
	}
	if !found {
		t.Error("no single log line names both proposal lists")
	}
	if !strings.Contains(p.a.log.String(), "NO_PROPOSAL_CHOSEN") {
		t.Errorf("initiator log lacks NO_PROPOSAL_CHOSEN:\n%s", p.a.log.String())
	}
	if len(p.b.e.Status().IKESAs) != 0 || p.b.e.Status().Counters.NoProposal != 1 {
		t.Errorf("responder kept state: %+v", p.b.e.Status())
	}
}

func TestDisjointESPKeepsIKESA(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		b.Connections[0].ESP = []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESCBC, KeyBits: 128}}, Integ: []message.IntegID{message.IntegHMACSHA2256128}}}
	})
	err := p.initiate(t)
	if err == nil || !strings.Contains(err.Error(), "CHILD_SA failed") || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("Initiate: %v", err)
	}
	for _, s := range []*side{p.a, p.b} {
		sa := established(t, s)
		if len(sa.Children) != 0 || len(s.kernel.States()) != 0 || s.kernel.Larval() != 0 {
			t.Errorf("children %+v, kernel %v larval %d", sa.Children, s.kernel.Render(), s.kernel.Larval())
		}
	}
	if !strings.Contains(p.b.log.String(), "CHILD_SA failed") {
		t.Errorf("responder log lacks the CHILD_SA failure:\n%s", p.b.log.String())
	}
}

func TestKernelFailureKeepsIKESA(t *testing.T) {
	p := newPair(t, nil)
	p.b.kernel.Fail = func(op string, obj any) error {
		if op == "state" {
			return fmt.Errorf("%w: esp4 not loaded", xfrm.ErrNotSupported)
		}
		return nil
	}
	err := p.initiate(t)
	if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("Initiate: %v", err)
	}
	established(t, p.a)
	established(t, p.b)
	if !strings.Contains(p.b.log.String(), "esp4 not loaded") {
		t.Errorf("responder does not log the kernel error:\n%s", p.b.log.String())
	}
	if p.a.kernel.Larval() != 0 || p.b.kernel.Larval() != 0 {
		t.Error("larval SPIs left behind")
	}
}

func TestTSUnacceptable(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].Remote.ProtoPort = ike.TrafficSelector{Protocol: 17, StartPort: 53, EndPort: 53}
		b.Connections[0].Local.ProtoPort = ike.TrafficSelector{Protocol: 6, StartPort: 22, EndPort: 22}
	})
	err := p.initiate(t)
	if err == nil || !strings.Contains(err.Error(), "TS_UNACCEPTABLE") {
		t.Fatalf("Initiate: %v, want TS_UNACCEPTABLE", err)
	}
	established(t, p.b)
}

func TestInvalidKERetry(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.Connections[0].IKE[0].DH = []message.DHGroup{message.DHECP256, message.DHCurve25519}
		b.Connections[0].IKE[0].DH = []message.DHGroup{message.DHCurve25519}
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if got := established(t, p.a).Proposal; got != "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519" {
		t.Errorf("proposal %q", got)
	}
	if n := p.b.e.Status().Counters.InvalidKE; n != 1 {
		t.Errorf("InvalidKE = %d, want 1", n)
	}
	if !strings.Contains(p.a.log.String(), "group=CURVE_25519") {
		t.Errorf("initiator does not log the retry:\n%s", p.a.log.String())
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
}

func TestCookie(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) { b.CookieThreshold = -1 })
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	established(t, p.a)
	if n := p.b.e.Status().Counters.CookiesSent; n != 1 {
		t.Errorf("CookiesSent = %d, want 1", n)
	}
	// The second IKE_SA_INIT request starts with the cookie (RFC 7296 2.6).
	var inits []*message.Message
	for _, pk := range p.link.sentFrom(addrA) {
		m, err := message.DecodeMessage(pk.Data)
		if err == nil && m.Header.Exchange == message.IKESAInit {
			inits = append(inits, m)
		}
	}
	if len(inits) != 2 {
		t.Fatalf("%d IKE_SA_INIT requests, want 2", len(inits))
	}
	if n, ok := inits[1].Payloads[0].(*message.Notify); !ok || n.NotifyType != message.Cookie {
		t.Errorf("retry starts with %v", inits[1].Payloads)
	}
}

func TestUnknownConnection(t *testing.T) {
	p := newPair(t, nil)
	err := p.a.e.Initiate(t.Context(), "nope")
	if err == nil || !strings.Contains(err.Error(), `no connection "nope"`) || !errors.Is(err, ike.ErrNoConnection) {
		t.Fatalf("Initiate: %v", err)
	}
}
