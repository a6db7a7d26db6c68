package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// The store's own traffic (etcd clients and peers, the join endpoint)
// bypasses IPsec between members: it is mutually authenticated TLS by
// itself, and it must not depend on the SAs it configures. Inside an SA, a
// pair whose ends disagree for a moment (one deleted the SA, the other
// still sends on it) black-holes the TCP connection, which then backs off
// for minutes while the node looks dead to the cluster; a key that cannot
// be negotiated would cut the node off the store that could fix it.
//
// The bypass is a pair of pass policies (no template) per member, port and
// direction, at a priority that wins over any IPsec policy: cygnet's start
// at 10000 and charon's transport policies are near 200000 (the kernel
// picks the lowest number).
const bypassPriority = 1000

// PolicyKernel is the part of the XFRM layer the agent uses for the
// bypass policies; *xfrm.Handle implements it.
type PolicyKernel interface {
	InstallPolicy(ctx context.Context, p *xfrm.Policy) error
	DeletePolicy(ctx context.Context, p *xfrm.Policy) error
}

// storePorts are the TCP ports of the store this node talks to or serves:
// its own client, peer and join ports and those of its endpoints.
func (a *Agent) storePorts() []uint16 {
	var ports []uint16
	add := func(p int) {
		if p > 0 && p < 65536 && !slices.Contains(ports, uint16(p)) {
			ports = append(ports, uint16(p))
		}
	}
	add(a.NC.ClientPort)
	add(a.NC.PeerPort)
	add(a.NC.JoinPort)
	for _, ep := range a.NC.Endpoints {
		if u, err := url.Parse(ep); err == nil {
			if p, err := strconv.Atoi(u.Port()); err == nil {
				add(p)
			}
		}
	}
	slices.Sort(ports)
	return ports
}

// bypassPolicies returns the pass policies for TCP on ports between self
// and each peer, both as client and as server.
func bypassPolicies(self netip.Addr, peers []netip.Addr, ports []uint16) []xfrm.Policy {
	var out []xfrm.Policy
	for _, peer := range peers {
		if peer == self || peer.Is4() != self.Is4() {
			continue
		}
		for _, port := range ports {
			for _, sel := range []struct {
				dir xfrm.Direction
				s   xfrm.Selector
			}{
				{xfrm.Out, xfrm.Selector{Src: self, Dst: peer, Proto: 6, DstPort: port}},
				{xfrm.Out, xfrm.Selector{Src: self, Dst: peer, Proto: 6, SrcPort: port}},
				{xfrm.In, xfrm.Selector{Src: peer, Dst: self, Proto: 6, SrcPort: port}},
				{xfrm.In, xfrm.Selector{Src: peer, Dst: self, Proto: 6, DstPort: port}},
			} {
				out = append(out, xfrm.Policy{Dir: sel.dir, Selector: sel.s, Action: xfrm.Pass, Priority: bypassPriority})
			}
		}
	}
	return out
}

type bypassKey struct {
	dir xfrm.Direction
	sel xfrm.Selector
}

// syncBypass makes the agent's pass policies exactly want: new ones are
// installed, those no longer wanted (a removed member, the cluster off)
// deleted.
func (a *Agent) syncBypass(ctx context.Context, want []xfrm.Policy) error {
	if a.Kernel == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bypass == nil {
		a.bypass = map[bypassKey]xfrm.Policy{}
	}
	keep := map[bypassKey]bool{}
	var errs []error
	for _, p := range want {
		k := bypassKey{p.Dir, p.Selector}
		keep[k] = true
		if _, ok := a.bypass[k]; ok {
			continue
		}
		if err := a.Kernel.InstallPolicy(ctx, &p); err != nil {
			errs = append(errs, err)
			continue
		}
		a.bypass[k] = p
	}
	for k, p := range a.bypass {
		if keep[k] {
			continue
		}
		if err := a.Kernel.DeletePolicy(ctx, &p); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(a.bypass, k)
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster: store bypass policies: %w", errs[0])
	}
	return nil
}

// wantBypass is the bypass for the members in nodes, or none when the
// cluster is off.
func (a *Agent) wantBypass(nodes []Node, d Desired) []xfrm.Policy {
	if d.Phase == PhaseOff {
		return nil
	}
	self, err := netip.ParseAddr(a.NC.Advertise)
	if err != nil {
		return nil
	}
	var peers []netip.Addr
	for _, n := range nodes {
		if addr, err := netip.ParseAddr(n.Addr); err == nil {
			peers = append(peers, addr)
		}
	}
	return bypassPolicies(self, peers, a.storePorts())
}
