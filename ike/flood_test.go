package ike_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
	"github.com/cygnet-ipsec/cygnet/ike/udp"
	"github.com/cygnet-ipsec/cygnet/internal/clock"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// cookieLifetime mirrors the engine's cookie secret lifetime (dos.go).
const cookieLifetime = 5 * time.Minute

// halfOpenTimeout mirrors the engine's (charon.half_open_timeout).
const halfOpenTimeout = 30 * time.Second

// initReq is an IKE_SA_INIT request as an initiator would send it, with
// the proposal of baseConn (AES-GCM-256, PRF-HMAC-SHA2-256, Curve25519).
type initReq struct {
	spi    uint64
	ni     []byte
	ke     []byte
	cookie []byte // sent first when set (RFC 7296 2.6)
	vendor int    // bytes of Vendor ID padding, to reach a size
}

// newInitReq returns a request with a fresh SPI, nonce and key share.
func newInitReq(t testing.TB) initReq {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	r := initReq{spi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]) | 1, ni: make([]byte, 32)}
	rand.Read(r.ni)
	ke, err := suite.NewKeyExchange(message.DHCurve25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r.ke = ke.Public()
	return r
}

// floodProposals is baseConn's IKE proposal in wire form.
func floodProposals(t testing.TB) []message.Proposal {
	t.Helper()
	ps, err := suite.Numbered(message.ProtoIKE, nil, []message.Proposal{suite.FromLists(message.ProtoIKE,
		[]message.Transform{suite.EncrTransform(message.EncrAESGCM16, 256)}, nil,
		[]message.PRFID{message.PRFHMACSHA2256}, []message.DHGroup{message.DHCurve25519}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func (r initReq) encode(t testing.TB) []byte {
	t.Helper()
	var ps []message.Payload
	if r.cookie != nil {
		ps = append(ps, &message.Notify{NotifyType: message.Cookie, Data: r.cookie})
	}
	ps = append(ps, &message.SA{Proposals: floodProposals(t)}, &message.KE{Group: message.DHCurve25519, Data: r.ke}, &message.Nonce{Data: r.ni})
	if r.vendor > 0 {
		ps = append(ps, &message.VendorID{Data: make([]byte, r.vendor)})
	}
	m := &message.Message{Header: message.Header{SPIi: r.spi, Exchange: message.IKESAInit, Flags: message.FlagInitiator}, Payloads: ps}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// dosHarness feeds hand-made IKE_SA_INIT requests to a pair's responder
// (p.b) from any source address and reads what it answered.
type dosHarness struct {
	t *testing.T
	p *pair
}

// send delivers r from src and returns the responder's answers to src.
func (h dosHarness) send(src netip.Addr, r initReq) []*message.Message {
	h.t.Helper()
	before := len(h.p.link.sentFrom(addrB))
	h.p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(src, 500), Data: r.encode(h.t)})
	var out []*message.Message
	for _, pk := range h.p.link.sentFrom(addrB)[before:] {
		if pk.Remote.Addr() != src {
			continue
		}
		m, err := message.DecodeMessage(pk.Data)
		if err != nil {
			h.t.Fatalf("responder sent an undecodable message: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// cookieFor sends r without a cookie and returns the COOKIE demanded.
func (h dosHarness) cookieFor(src netip.Addr, r initReq) []byte {
	h.t.Helper()
	r.cookie = nil
	return h.wantCookie(h.send(src, r))
}

// wantCookie asserts that the answer is exactly one COOKIE notification
// and returns its data.
func (h dosHarness) wantCookie(ms []*message.Message) []byte {
	h.t.Helper()
	if len(ms) != 1 {
		h.t.Fatalf("%d answers, want one COOKIE", len(ms))
	}
	n := ms[0].Payloads.Notify(message.Cookie)
	if n == nil || len(ms[0].Payloads) != 1 {
		h.t.Fatalf("answer %v, want a COOKIE notification alone", ms[0])
	}
	if len(n.Data) != 33 {
		h.t.Fatalf("cookie of %d bytes, want version byte + HMAC-SHA-256", len(n.Data))
	}
	return n.Data
}

// wantAccepted asserts that the answer is an IKE_SA_INIT response with SA,
// KE and Nonce: the responder created a half-open SA.
func (h dosHarness) wantAccepted(ms []*message.Message) {
	h.t.Helper()
	if len(ms) != 1 || ms[0].Header.SPIr == 0 || ms[0].Payloads.First(message.PayloadKE) == nil ||
		ms[0].Payloads.First(message.PayloadSA) == nil || ms[0].Payloads.First(message.PayloadNonce) == nil {
		h.t.Fatalf("answers %v, want an IKE_SA_INIT response", ms)
	}
}

// wantSilence asserts that the responder dropped the request.
func (h dosHarness) wantSilence(ms []*message.Message) {
	h.t.Helper()
	if len(ms) != 0 {
		h.t.Fatalf("answers %v, want none (dropped)", ms)
	}
}

// admit runs the cookie exchange for r from src and asserts the SA is
// created.
func (h dosHarness) admit(src netip.Addr, r initReq) {
	h.t.Helper()
	r.cookie = h.cookieFor(src, r)
	h.wantAccepted(h.send(src, r))
}

func (h dosHarness) counters() ike.Counters { return h.p.b.e.Status().Counters }

// halfOpen returns the responder's half-open accounting.
func (h dosHarness) halfOpen() ike.HalfOpenState { return ike.HalfOpenCounts(h.p.b.e) }

// wantNoLeak lets every half-open SA time out and asserts that nothing is
// left counted, globally or per source.
func (h dosHarness) wantNoLeak() {
	h.t.Helper()
	h.p.clk.Advance(halfOpenTimeout + time.Second)
	if st := h.halfOpen(); st.Total != 0 || st.Tracked != 0 || st.Sources != 0 {
		h.t.Errorf("after the half-open timeout: %+v, want nothing counted", st)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// anyRemote makes the responder's connection accept initiators from any
// address (ipsec.conf right=%any), so requests from many sources reach
// IKE_SA_INIT processing.
func anyRemote(a, b *ike.Config) { b.Connections[0].Remote.Addr = netip.Addr{} }

// TestDoSDefences checks each denial-of-service defence of the responder
// against the rule it implements.
func TestDoSDefences(t *testing.T) {
	x, y := addr("192.0.2.10"), addr("192.0.2.20")
	for _, tc := range []struct {
		rule, name string
		config     func(a, b *ike.Config)
		run        func(h dosHarness)
	}{{
		rule: "RFC 7296 2.6 cookies", name: "no state without a valid cookie",
		config: func(a, b *ike.Config) { anyRemote(a, b); b.CookieThreshold = -1 },
		run: func(h dosHarness) {
			r := newInitReq(h.t)
			c := h.cookieFor(x, r)
			if st := h.halfOpen(); st.Total != 0 || len(h.p.b.e.Status().IKESAs) != 0 {
				h.t.Fatalf("state created before the cookie came back: %+v", st)
			}
			r.cookie = c
			h.wantAccepted(h.send(x, r))
			if st := h.halfOpen(); st.Total != 1 || st.Verified[x] != 1 {
				h.t.Errorf("after the cookie: %+v, want one verified half-open SA from %v", st, x)
			}
			// A retransmission is answered from the SA, not re-checked.
			h.wantAccepted(h.send(x, r))
			if c := h.counters(); c.Replayed != 1 || c.CookiesSent != 1 {
				h.t.Errorf("Replayed %d, CookiesSent %d; want 1 and 1", c.Replayed, c.CookiesSent)
			}
		},
	}, {
		rule: "RFC 7296 2.6 cookies", name: "bound to Ni, IPi and SPIi, compared whole",
		config: func(a, b *ike.Config) { anyRemote(a, b); b.CookieThreshold = -1 },
		run: func(h dosHarness) {
			r := newInitReq(h.t)
			c := h.cookieFor(x, r)
			otherNi := r
			otherNi.ni = bytes.Clone(r.ni)
			otherNi.ni[0] ^= 1
			otherSPI := r
			otherSPI.spi ^= 1 << 40
			flipped := bytes.Clone(c)
			flipped[len(flipped)-1] ^= 1
			version := bytes.Clone(c)
			version[0]++
			accepted := 0
			for _, v := range []struct {
				name   string
				src    netip.Addr
				r      initReq
				cookie []byte
			}{
				{"last MAC bit flipped", x, r, flipped},
				{"truncated", x, r, c[:32]},
				{"unknown secret version", x, r, version},
				{"empty", x, r, []byte{}},
				// Last: once accepted, (x, SPIi) names a half-open SA.
				{"another source", y, r, c},
				{"another SPI", x, otherSPI, c},
				{"another nonce", x, otherNi, c},
			} {
				req := v.r
				req.cookie = v.cookie
				fresh := h.wantCookie(h.send(v.src, req))
				if bytes.Equal(fresh, v.cookie) {
					h.t.Errorf("%s: the refused cookie was sent again", v.name)
				}
				if st := h.halfOpen(); st.Total != accepted {
					h.t.Fatalf("%s: state created: %+v", v.name, st)
				}
				// The new cookie is the one for this request: it works.
				if v.name == "another nonce" || v.name == "another SPI" || v.name == "another source" {
					req.cookie = fresh
					h.wantAccepted(h.send(v.src, req))
					accepted++
				}
			}
			if n := h.halfOpen().Total; n != 3 {
				h.t.Errorf("%d half-open SAs, want the 3 that returned their own cookie", n)
			}
		},
	}, {
		rule: "RFC 7296 2.6 secret rotation", name: "previous secret accepted, older refused",
		config: func(a, b *ike.Config) { anyRemote(a, b); b.CookieThreshold = -1 },
		run: func(h dosHarness) {
			rs := []initReq{newInitReq(h.t), newInitReq(h.t), newInitReq(h.t)}
			for i := range rs {
				rs[i].cookie = h.cookieFor(x, rs[i])
			}
			v0 := rs[0].cookie[0]
			// One rotation: made with the previous secret, still valid.
			h.p.clk.Advance(cookieLifetime + time.Second)
			h.wantAccepted(h.send(x, rs[0]))
			late := newInitReq(h.t)
			late.cookie = h.cookieFor(x, late)
			if late.cookie[0] != v0+1 {
				h.t.Errorf("cookie after one rotation has version %d, want %d", late.cookie[0], v0+1)
			}
			// Two rotations: rs[1]'s secret is gone; late's is previous.
			h.p.clk.Advance(cookieLifetime)
			fresh := h.wantCookie(h.send(x, rs[1]))
			if fresh[0] != v0+2 {
				h.t.Errorf("new cookie has version %d, want %d", fresh[0], v0+2)
			}
			h.wantAccepted(h.send(x, late))
			// The renewed cookie works.
			rs[1].cookie = fresh
			h.wantAccepted(h.send(x, rs[1]))
			// After a long idle spell no old secret survives.
			h.p.clk.Advance(5 * cookieLifetime)
			h.wantCookie(h.send(x, rs[2]))
			if n := h.counters().CookiesSent; n != 6 {
				h.t.Errorf("CookiesSent %d, want 6", n)
			}
		},
	}, {
		rule: "per-source limit (charon.block_threshold)", name: "a verified source holds at most 5 half-open SAs",
		config: func(a, b *ike.Config) { anyRemote(a, b); b.CookieThreshold = -1 },
		run: func(h dosHarness) {
			for range 5 {
				h.admit(x, newInitReq(h.t))
			}
			r := newInitReq(h.t)
			r.cookie = h.cookieFor(x, r)
			h.wantSilence(h.send(x, r))
			if c := h.counters(); c.Blocked != 1 {
				h.t.Errorf("Blocked %d, want 1", c.Blocked)
			}
			// Another source is not affected.
			h.admit(y, newInitReq(h.t))
			if st := h.halfOpen(); st.Total != 6 || st.Verified[x] != 5 || st.Verified[y] != 1 {
				h.t.Errorf("%+v, want 5 from %v and 1 from %v", st, x, y)
			}
			// Once they time out the source is admitted again.
			h.p.clk.Advance(halfOpenTimeout + time.Second)
			h.admit(x, newInitReq(h.t))
		},
	}, {
		rule: "per-source limit (charon.block_threshold)", name: "BlockThreshold 2, and negative for none",
		config: func(a, b *ike.Config) { anyRemote(a, b); b.CookieThreshold = -1; b.BlockThreshold = 2 },
		run: func(h dosHarness) {
			h.admit(x, newInitReq(h.t))
			h.admit(x, newInitReq(h.t))
			r := newInitReq(h.t)
			r.cookie = h.cookieFor(x, r)
			h.wantSilence(h.send(x, r))
			cfg := *h.p.b.cfg
			cfg.BlockThreshold = -1
			if err := h.p.b.e.SetConfig(&cfg); err != nil {
				h.t.Fatal(err)
			}
			for range 8 {
				h.admit(x, newInitReq(h.t))
			}
			if st := h.halfOpen(); st.Verified[x] != 10 || h.counters().Blocked != 1 {
				h.t.Errorf("%+v, Blocked %d: want 10 from %v and 1 blocked", st, h.counters().Blocked, x)
			}
		},
	}, {
		rule: "per-source limit (charon.block_threshold)", name: "spoofed requests cannot block the address",
		config: nil, // cookies above 10 half-open SAs, block at 5: the defaults
		run: func(h dosHarness) {
			// Someone spoofs addrA, the real initiator's address, below
			// the cookie threshold: the SAs are made unverified.
			for range 5 {
				h.wantAccepted(h.send(addrA, newInitReq(h.t)))
			}
			if st := h.halfOpen(); st.All[addrA] != 5 || st.Verified[addrA] != 0 {
				h.t.Fatalf("%+v, want 5 unverified from %v", st, addrA)
			}
			// Further unverified requests from it must prove the address.
			h.cookieFor(addrA, newInitReq(h.t))
			// The real initiator answers the cookie and gets through.
			if err := h.p.initiate(h.t); err != nil {
				h.t.Fatal(err)
			}
			established(h.t, h.p.a)
			if c := h.counters(); c.Blocked != 0 || c.CookiesSent != 2 {
				h.t.Errorf("Blocked %d, CookiesSent %d; want 0 and 2", c.Blocked, c.CookiesSent)
			}
			if st := h.halfOpen(); st.Total != 5 || st.All[addrA] != 5 {
				h.t.Errorf("after the real SA: %+v, want only the 5 spoofed ones half-open", st)
			}
		},
	}, {
		rule: "half-open limit (charon.init_limit_half_open)", name: "global bound, after the cookie check",
		config: func(a, b *ike.Config) {
			anyRemote(a, b)
			b.CookieThreshold, b.BlockThreshold, b.HalfOpenLimit = -1, -1, 3
		},
		run: func(h dosHarness) {
			for range 3 {
				h.admit(x, newInitReq(h.t))
			}
			// Full: a request still gets its cookie (stateless), then is
			// dropped when it returns it.
			r := newInitReq(h.t)
			r.cookie = h.cookieFor(y, r)
			h.wantSilence(h.send(y, r))
			if c := h.counters(); c.HalfOpenRejected != 1 || h.halfOpen().Total != 3 {
				h.t.Errorf("HalfOpenRejected %d, %d half-open; want 1 and 3", c.HalfOpenRejected, h.halfOpen().Total)
			}
		},
	}, {
		rule: "half-open timeout (charon.half_open_timeout)", name: "half-open SAs expire after 30 s",
		config: anyRemote,
		run: func(h dosHarness) {
			for _, src := range []netip.Addr{x, y, addr("2001:db8::1")} {
				h.wantAccepted(h.send(src, newInitReq(h.t)))
			}
			h.p.clk.Advance(halfOpenTimeout - time.Second)
			if st := h.halfOpen(); st.Total != 3 || st.Sources != 3 {
				h.t.Fatalf("before the timeout: %+v", st)
			}
			h.p.clk.Advance(2 * time.Second)
			if st := h.halfOpen(); st.Total != 0 || st.Tracked != 0 || st.Sources != 0 || len(h.p.b.e.Status().IKESAs) != 0 {
				h.t.Errorf("after the timeout: %+v, %d IKE SAs", st, len(h.p.b.e.Status().IKESAs))
			}
		},
	}, {
		rule: "half-open accounting", name: "released when IKE_AUTH completes",
		config: func(a, b *ike.Config) { b.CookieThreshold = -1 },
		run: func(h dosHarness) {
			if err := h.p.initiate(h.t); err != nil {
				h.t.Fatal(err)
			}
			established(h.t, h.p.b)
			if st := h.halfOpen(); st.Total != 0 || st.Tracked != 0 || st.Sources != 0 {
				h.t.Errorf("after IKE_AUTH: %+v", st)
			}
		},
	}, {
		rule: "half-open accounting", name: "released when IKE_AUTH fails",
		config: func(a, b *ike.Config) {
			b.CookieThreshold = -1
			a.Credentials.SharedKeys = []ike.SharedKey{{Secret: []byte("not the responder's pre-shared key")}}
		},
		run: func(h dosHarness) {
			if err := h.p.initiate(h.t); err == nil {
				h.t.Fatal("authentication with the wrong key succeeded")
			}
			if st := h.halfOpen(); st.Total != 0 || st.Tracked != 0 || st.Sources != 0 || h.counters().AuthFailures != 1 {
				h.t.Errorf("after the failed IKE_AUTH: %+v, AuthFailures %d", st, h.counters().AuthFailures)
			}
		},
	}, {
		rule: "bounded half-open memory (charon.max_packet)", name: "IKE_SA_INIT over 10000 bytes dropped",
		config: anyRemote,
		run: func(h dosHarness) {
			big := newInitReq(h.t)
			big.vendor = 10000
			h.wantSilence(h.send(x, big))
			ok := newInitReq(h.t)
			ok.vendor = 9000
			h.wantAccepted(h.send(x, ok))
			if c := h.counters(); c.Oversized != 1 || h.halfOpen().Total != 1 {
				h.t.Errorf("Oversized %d, %d half-open; want 1 and 1", c.Oversized, h.halfOpen().Total)
			}
		},
	}, {
		rule: "unauthenticated log volume", name: "10 lines per 10 s about stateless answers",
		config: nil, // the responder's connection admits addrA only
		run: func(h dosHarness) {
			const line = "no connection for IKE_SA_INIT"
			for range 100 {
				ms := h.send(x, newInitReq(h.t))
				if len(ms) != 1 || ms[0].Payloads.Notify(message.NoProposalChosen) == nil {
					h.t.Fatalf("answers %v, want NO_PROPOSAL_CHOSEN", ms)
				}
			}
			if n := strings.Count(h.p.b.log.String(), line); n != 10 {
				h.t.Errorf("%d lines for 100 requests, want 10", n)
			}
			h.p.clk.Advance(10 * time.Second)
			h.send(x, newInitReq(h.t))
			if log := h.p.b.log.String(); strings.Count(log, line) != 11 || !strings.Contains(log, "suppressed=90") {
				h.t.Errorf("after the window: %d lines, want 11, the last with suppressed=90:\n%s", strings.Count(log, line), log)
			}
			if c := h.counters(); c.NoProposal != 101 {
				h.t.Errorf("NoProposal %d, want every request counted (101)", c.NoProposal)
			}
		},
	}} {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			h := dosHarness{t: t, p: newPair(t, tc.config)}
			tc.run(h)
			h.wantNoLeak()
		})
	}
}

// discard is a Transport that drops everything.
type discard struct{}

func (discard) Send(ike.Packet) error { return nil }

// TestHalfOpenMemory measures what a half-open SA costs the responder and
// checks that HalfOpenLimit bounds the total: requests beyond it leave
// the heap where it was.
func TestHalfOpenMemory(t *testing.T) {
	for _, size := range []struct {
		name   string
		vendor int // padding to reach the request size
		budget int // bytes per half-open SA allowed
	}{
		{"typical request", 0, 16 << 10},
		{"largest request accepted", 9600, 32 << 10},
	} {
		t.Run(size.name, func(t *testing.T) {
			const limit = 500
			cfg := &ike.Config{Connections: []ike.Connection{baseConn(addrB, netip.Addr{})},
				Credentials:   ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}},
				HalfOpenLimit: limit, CookieThreshold: 1 << 20, BlockThreshold: -1}
			clk := clock.New(clockStart())
			e, err := ike.New(ike.Options{Config: cfg, Transport: discard{}, Kernel: &xfrmtest.Fake{}, Clock: clk,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			// Requests are made before measuring; only the engine's
			// allocations that survive a GC count.
			reqs := make([][]byte, 2*limit)
			for i := range reqs {
				r := newInitReq(t)
				r.vendor = size.vendor
				reqs[i] = r.encode(t)
			}
			src := netip.AddrPortFrom(addr("192.0.2.10"), 500)
			heap := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			h0 := heap()
			for _, r := range reqs[:limit] {
				e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: src, Data: r})
			}
			h1 := heap()
			if st := ike.HalfOpenCounts(e); st.Total != limit {
				t.Fatalf("%d half-open SAs, want %d", st.Total, limit)
			}
			for _, r := range reqs[limit:] {
				e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: src, Data: r})
			}
			h2 := heap()
			if st := ike.HalfOpenCounts(e); st.Total != limit || e.Status().Counters.HalfOpenRejected != limit {
				t.Fatalf("%+v, %d rejected: want %d half-open and %d rejected", st, e.Status().Counters.HalfOpenRejected, limit, limit)
			}
			per := int(int64(h1-h0) / limit)
			t.Logf("half-open SA: %d bytes each with %d-byte requests (%d SAs: %.1f MiB; default HalfOpenLimit 1000: %.1f MiB)",
				per, len(reqs[0]), limit, float64(h1-h0)/(1<<20), float64(per)*1000/(1<<20))
			if per <= len(reqs[0]) || per > size.budget {
				t.Errorf("%d bytes per half-open SA, want between the request's %d and %d", per, len(reqs[0]), size.budget)
			}
			// Beyond the limit nothing is kept: allow 5% noise.
			if grow := int64(h2) - int64(h1); grow > int64(h1-h0)/20 {
				t.Errorf("heap grew %d bytes for %d rejected requests", grow, limit)
			}
			clk.Advance(halfOpenTimeout + time.Second)
			if st := ike.HalfOpenCounts(e); st.Total != 0 || st.Tracked != 0 {
				t.Errorf("after the timeout: %+v", st)
			}
		})
	}
}

// The flood: floodRequests spoofed IKE_SA_INIT requests from floodSources
// loopback addresses, paced at floodRate; the first floodAnswering sources
// answer the COOKIEs they get, as an attacker at a real address would, and
// so meet the per-source limit.
//
// floodRate is about what the responder absorbs on a small machine (some
// 30,000 requests a second on 2 shared cores, still about 25,000 under the
// race detector): unpaced, the senders outrun it fivefold and the kernel
// drops most of the flood at the socket, which tests the kernel rather
// than the engine. Paced, nearly all of it reaches the engine, and the
// flood lasts four seconds: long enough for the legitimate peer's first
// retransmission (after 4 s) to fall inside it if its first request is
// lost. The race detector runs it at full size too, in the same time.
const (
	floodRequests  = 100_000
	floodRate      = 25_000
	floodSources   = 256
	floodAnswering = 32
	floodSenders   = 2
)

// floodTemplate is an IKE_SA_INIT request whose SPI, nonce, key share and
// cookie are patched in place for each message sent.
type floodTemplate struct {
	raw                     []byte
	niOff, keOff, cookieOff int
	withCookie              bool
}

func newFloodTemplate(t testing.TB, withCookie bool) floodTemplate {
	t.Helper()
	r := initReq{spi: 1, ni: bytes.Repeat([]byte{0xa5}, 32), ke: bytes.Repeat([]byte{0x5a}, 32)}
	if withCookie {
		r.cookie = bytes.Repeat([]byte{0xc3}, 33)
	}
	ft := floodTemplate{raw: r.encode(t), withCookie: withCookie}
	ft.niOff = bytes.Index(ft.raw, r.ni)
	ft.keOff = bytes.Index(ft.raw, r.ke)
	ft.cookieOff = -1
	if withCookie {
		ft.cookieOff = bytes.Index(ft.raw, r.cookie)
	}
	if ft.niOff < 0 || ft.keOff < 0 || (withCookie && ft.cookieOff < 0) {
		t.Fatal("flood template: payload not found")
	}
	return ft
}

// fill writes into buf the request with SPI spi, whose nonce and key share
// (a random Curve25519 u-coordinate) derive from the SPI, so that an
// answering sender can rebuild it from the COOKIE reply alone.
func (ft floodTemplate) fill(buf []byte, spi uint64, cookie []byte) []byte {
	buf = append(buf[:0], ft.raw...)
	binary.BigEndian.PutUint64(buf, spi)
	r := mrand.New(mrand.NewPCG(spi, 0x9e3779b97f4a7c15))
	for i := 0; i < 32; i += 8 {
		binary.BigEndian.PutUint64(buf[ft.niOff+i:], r.Uint64())
		binary.BigEndian.PutUint64(buf[ft.keOff+i:], r.Uint64())
	}
	if ft.withCookie {
		copy(buf[ft.cookieOff:ft.cookieOff+33], cookie)
	}
	return buf
}

// peakSampler records the process's peak heap and memory every few
// milliseconds, and the responder's peak half-open count.
type peakSampler struct {
	heap, total uint64
	halfOpen    int
}

func sampleMemory() (heap, total uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// TestFloodUDP is the acceptance test of the DoS defences: a bounded flood
// of spoofed IKE_SA_INIT requests over real UDP sockets (ike/udp) while a
// legitimate peer establishes within its normal retransmission schedule.
// The responder lives in one network namespace with the flood senders,
// bound to addresses of 127.0.0.0/8 (all on lo, so they look like many
// hosts without raw sockets); the legitimate initiator in another, joined
// by veth. Both engines use the real ports 500 and 4500. Root is needed
// for the namespaces and for ike/udp's per-socket bypass policies.
func TestFloodUDP(t *testing.T) {
	vmtest.RequireRoot(t)
	// Registered first, so it runs after every other cleanup: nothing the
	// test started may outlive it.
	goroutines := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines after the flood, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
		}
	})
	respAddr, legitAddr := addr("10.99.0.1"), addr("10.99.0.2")
	ns := nstest.NewPair(t, respAddr, legitAddr)
	count, rate := floodRequests, floodRate

	// The engines: a responder for any initiator with the pre-shared key,
	// the legitimate initiator with strongSwan's retransmission defaults.
	logs := &countingWriter{}
	mk := func(nsPath string, cfg *ike.Config) (*ike.Engine, *udp.Conn) {
		var conn *udp.Conn
		err := xfrm.InNamespace(nsPath, func() (err error) {
			conn, err = udp.Listen(udp.Config{IPv4: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e, err := ike.New(ike.Options{Config: cfg, Transport: conn, Kernel: &xfrmtest.Fake{},
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		if err != nil {
			conn.Close()
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() { conn.Serve(e.HandlePacket); close(served) }()
		t.Cleanup(func() {
			conn.Close()
			<-served
			e.Close()
		})
		return e, conn
	}
	respCfg := &ike.Config{Connections: []ike.Connection{baseConn(respAddr, netip.Addr{})},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
	resp, _ := mk(ns.A.Path, respCfg)
	legitCfg := &ike.Config{Connections: []ike.Connection{baseConn(legitAddr, respAddr)},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
	legit, _ := mk(ns.B.Path, legitCfg)

	// The flood's sockets, in the responder's namespace.
	socks := make([]*net.UDPConn, floodSources)
	err := xfrm.InNamespace(ns.A.Path, func() error {
		for i := range socks {
			src := net.IPv4(127, 1, byte(i/200), byte(i%200+1))
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src})
			if err != nil {
				return err
			}
			socks[i] = c
		}
		return nil
	})
	defer func() {
		for _, c := range socks {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(respAddr, 500)
	plain, cookied := newFloodTemplate(t, false), newFloodTemplate(t, true)

	// Answering senders return every COOKIE they are sent.
	var answered, sendErrs atomic.Uint64
	var readers sync.WaitGroup
	for _, c := range socks[:floodAnswering] {
		readers.Add(1)
		go func() {
			defer readers.Done()
			in := make([]byte, 2048)
			var out []byte
			for {
				n, err := c.Read(in)
				if err != nil {
					return // closed
				}
				m, err := message.DecodeMessage(in[:n])
				if err != nil {
					continue
				}
				if ck := m.Payloads.Notify(message.Cookie); ck != nil && len(ck.Data) == 33 {
					out = cookied.fill(out, m.Header.SPIi, ck.Data)
					if _, err := c.WriteToUDPAddrPort(out, dst); err != nil {
						sendErrs.Add(1)
					}
					answered.Add(1)
				}
			}
		}()
	}

	// Memory and half-open sampling.
	var peak peakSampler
	baseHeap, baseTotal := sampleMemory()
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			h, tot := sampleMemory()
			peak.heap, peak.total = max(peak.heap, h), max(peak.total, tot)
			peak.halfOpen = max(peak.halfOpen, ike.HalfOpenCounts(resp).Total)
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// The flood: floodSenders goroutines, each over its share of the
	// sockets, until count requests are sent.
	var sent atomic.Int64
	var senders sync.WaitGroup
	floodStart := time.Now()
	var floodEnd atomic.Int64
	for g := range floodSenders {
		senders.Add(1)
		go func() {
			defer senders.Done()
			r := mrand.New(mrand.NewPCG(uint64(g)+1, uint64(time.Now().UnixNano())))
			var buf []byte
			for i := g; ; i += floodSenders {
				n := sent.Add(1)
				if n > int64(count) {
					return
				}
				for n > int64(time.Since(floodStart).Seconds()*float64(rate)) {
					time.Sleep(time.Millisecond)
				}
				buf = plain.fill(buf, r.Uint64()|1, nil)
				if _, err := socks[i%floodSources].WriteToUDPAddrPort(buf, dst); err != nil {
					sendErrs.Add(1)
				}
			}
		}()
	}
	go func() {
		senders.Wait()
		floodEnd.Store(int64(time.Since(floodStart)))
	}()

	// The legitimate peer starts once a fifth of the flood is out.
	for sent.Load() < int64(count/5) {
		time.Sleep(time.Millisecond)
	}
	legitStart := time.Now()
	floodAtStart := min(sent.Load(), int64(count))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	legitErr := legit.Initiate(ctx, "ab")
	legitTook := time.Since(legitStart)
	senders.Wait()
	floodTook := time.Duration(floodEnd.Load())
	for floodTook == 0 {
		time.Sleep(time.Millisecond)
		floodTook = time.Duration(floodEnd.Load())
	}
	// Let the responder drain what is queued before reading counters.
	time.Sleep(200 * time.Millisecond)
	close(stopSampling)
	<-sampled

	rc := resp.Status().Counters
	retrans := legit.Status().Counters.Retransmits
	t.Logf("flood: %d IKE_SA_INIT in %.2f s, peak heap %.1f MiB, legit peer established after %.3f s with %d retransmissions", count, floodTook.Seconds(), mib(peak.heap), legitTook.Seconds(), retrans)
	t.Logf("flood details: paced at %d/s from %d sources, %d of them answering cookies (%d answers sent); heap %.1f MiB before, process memory %.1f MiB peak (%.1f before); "+
		"legit peer started after %d requests; responder: %d received, %d cookies sent, %d blocked, %d half-open rejected, peak %d half-open SAs; %d log lines",
		rate, floodSources, floodAnswering, answered.Load(), mib(baseHeap), mib(peak.total), mib(baseTotal),
		floodAtStart, rc.Received, rc.CookiesSent, rc.Blocked, rc.HalfOpenRejected, peak.halfOpen, logs.lines.Load())

	if legitErr != nil {
		t.Fatalf("legitimate peer: %v", legitErr)
	}
	st := legit.Status()
	if len(st.IKESAs) != 1 || st.IKESAs[0].State != "ESTABLISHED" {
		t.Fatalf("legitimate peer's IKE SAs: %+v", st.IKESAs)
	}
	if floodAtStart >= int64(count) {
		t.Errorf("the flood was over before the legitimate peer started")
	}
	// Cookies keep spoofed sources from making state: only the first
	// CookieThreshold requests (10) are unverified, then each answering
	// source holds at most BlockThreshold (5), plus the legitimate SA.
	if bound := 10 + floodAnswering*5 + 1; peak.halfOpen > bound || peak.halfOpen > 1000 {
		t.Errorf("peak half-open %d, want at most %d (and HalfOpenLimit 1000)", peak.halfOpen, bound)
	}
	if rc.CookiesSent == 0 || rc.Blocked == 0 || answered.Load() == 0 {
		t.Errorf("the flood did not meet the defences: %d cookies sent, %d blocked, %d answered", rc.CookiesSent, rc.Blocked, answered.Load())
	}
	if n := sendErrs.Load(); n > uint64(count)/100 {
		t.Errorf("%d send errors", n)
	}

	// Everything stops: sockets closed, readers gone, engines closed.
	for _, c := range socks {
		c.Close()
	}
	readers.Wait()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// countingWriter counts log lines and discards them.
type countingWriter struct{ lines atomic.Uint64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines.Add(uint64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// BenchmarkSpoofedInit measures what one spoofed IKE_SA_INIT request costs
// the responder: answered with a COOKIE (the path a flood takes once
// CookieThreshold SAs are half-open), and, for comparison, turned into a
// half-open SA (the Curve25519 computation and key derivation that
// cookies spare it).
//
// Recorded 2026-11-27 on the 2 shared cores (AMD EPYC) of the build
// machine:
//
//	BenchmarkSpoofedInit/cookie-2      1000000    2408 ns/op   1408 B/op  23 allocs/op
//	BenchmarkSpoofedInit/half-open-2     20992  110615 ns/op   9309 B/op  97 allocs/op
//
// so a cookie costs the engine about 1/45 of a half-open SA, some 400,000
// spoofed requests a second per core; in TestFloodUDP the socket path, not
// the engine, limits what the responder absorbs.
func BenchmarkSpoofedInit(b *testing.B) {
	for _, bc := range []struct {
		name   string
		config func(*ike.Config)
	}{
		{"cookie", func(c *ike.Config) { c.CookieThreshold = -1 }},
		{"half-open", func(c *ike.Config) { c.CookieThreshold, c.HalfOpenLimit, c.BlockThreshold = 1<<30, -1, -1 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := &ike.Config{Connections: []ike.Connection{baseConn(addrB, netip.Addr{})},
				Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
			bc.config(cfg)
			e, err := ike.New(ike.Options{Config: cfg, Transport: discard{}, Kernel: &xfrmtest.Fake{},
				Clock: clock.New(clockStart()), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			ft := newFloodTemplate(b, false)
			var buf []byte
			local, remote := netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addr("192.0.2.10"), 500)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = ft.fill(buf, uint64(i)+1, nil)
				e.HandlePacket(ike.Packet{Local: local, Remote: remote, Data: buf})
			}
			b.StopTimer()
			c := e.Status().Counters
			if bc.name == "cookie" && (c.CookiesSent == 0 || ike.HalfOpenCounts(e).Total != 0) {
				b.Fatalf("%d cookies sent, %d half-open", c.CookiesSent, ike.HalfOpenCounts(e).Total)
			}
			if bc.name == "half-open" && ike.HalfOpenCounts(e).Total == 0 {
				b.Fatal("no half-open SA made")
			}
		})
	}
}
