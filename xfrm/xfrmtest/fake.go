// Package xfrmtest provides a fake xfrm.Installer that records what would
// be installed in the kernel and renders it as `ip xfrm` lines, for engine
// tests that run without root or a kernel with ESP.
package xfrmtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Fake is an in-memory xfrm.Installer. The zero value is ready to use. It
// enforces the kernel's rules that matter to callers: inbound SPIs must be
// allocated first, SPIs are unique per destination, and a state or policy is
// added once.
type Fake struct {
	mu       sync.Mutex
	nextSPI  uint32
	larval   map[xfrm.StateID]bool
	states   []xfrm.State // installation order
	policies []xfrm.Policy
	packets  map[xfrm.StateID]uint64 // Carry

	// Fail, when set, is called before each operation with its name
	// ("allocspi", "state", "delstate", "policy", "delpolicy", "encap") and object;
	// a non-nil result fails the operation, to test rollback.
	Fail func(op string, obj any) error

	// Log records every successful operation as one line, in order.
	Log []string
}

var _ xfrm.Installer = (*Fake)(nil)

func (f *Fake) fail(op string, obj any) error {
	if f.Fail != nil {
		return f.Fail(op, obj)
	}
	return nil
}

// AllocSPI hands out SPIs in sequence from 0xc0000100, like a kernel
// would hand out unused ones; deterministic for tests.
func (f *Fake) AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("allocspi", dst); err != nil {
		return 0, err
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("%w: allocspi %v->%v", xfrm.ErrInvalid, src, dst)
	}
	if f.larval == nil {
		f.larval = map[xfrm.StateID]bool{}
		f.nextSPI = 0xc0000100
	}
	spi := f.nextSPI
	f.nextSPI++
	f.larval[xfrm.StateID{Dst: dst, SPI: spi}] = true
	f.Log = append(f.Log, fmt.Sprintf("allocspi %v->%v spi 0x%08x", src, dst, spi))
	return spi, nil
}

func (f *Fake) findState(id xfrm.StateID) int {
	return slices.IndexFunc(f.states, func(s xfrm.State) bool { return s.ID() == id })
}

// InstallState records s; inbound states need an SPI from AllocSPI.
func (f *Fake) InstallState(ctx context.Context, s *xfrm.State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("state", s); err != nil {
		return err
	}
	id := s.ID()
	if f.findState(id) >= 0 {
		return fmt.Errorf("xfrm: install %v: file exists", s)
	}
	if s.Dir == xfrm.In {
		if !f.larval[id] {
			return fmt.Errorf("xfrm: install %v: no SPI allocated for it: %w", s, xfrm.ErrNotFound)
		}
		delete(f.larval, id)
	}
	c := *s
	c.EncKey = slices.Clone(s.EncKey)
	c.IntegKey = slices.Clone(s.IntegKey)
	f.states = append(f.states, c)
	f.Log = append(f.Log, "add "+s.String())
	return nil
}

// DeleteState removes a state or larval SPI; absent ones are fine.
func (f *Fake) DeleteState(ctx context.Context, id xfrm.StateID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("delstate", id); err != nil {
		return err
	}
	delete(f.larval, id)
	if i := f.findState(id); i >= 0 {
		f.Log = append(f.Log, "del "+f.states[i].String())
		f.states = slices.Delete(f.states, i, i+1)
	}
	return nil
}

func samePolicy(a, b *xfrm.Policy) bool { return a.Dir == b.Dir && a.Selector == b.Selector }

// InstallPolicy adds or replaces a policy.
func (f *Fake) InstallPolicy(ctx context.Context, p *xfrm.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("policy", p); err != nil {
		return err
	}
	f.Log = append(f.Log, "add "+p.String())
	for i := range f.policies {
		if samePolicy(&f.policies[i], p) {
			f.policies[i] = *p
			return nil
		}
	}
	f.policies = append(f.policies, *p)
	return nil
}

// DeletePolicy removes a policy; absent ones are fine.
func (f *Fake) DeletePolicy(ctx context.Context, p *xfrm.Policy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("delpolicy", p); err != nil {
		return err
	}
	for i := range f.policies {
		if samePolicy(&f.policies[i], p) {
			f.Log = append(f.Log, "del "+p.String())
			f.policies = slices.Delete(f.policies, i, i+1)
			return nil
		}
	}
	return nil
}

// InstallChildSA installs both states and policies or nothing.
func (f *Fake) InstallChildSA(ctx context.Context, c *xfrm.ChildSA) error {
	return xfrm.InstallChildSA(ctx, f, c)
}

// DeleteChildSA removes c's states and, when no state with its reqid
// remains, its policies.
func (f *Fake) DeleteChildSA(ctx context.Context, c *xfrm.ChildSA) error {
	err := errors.Join(f.DeleteState(ctx, c.Out.ID()), f.DeleteState(ctx, c.In.ID()))
	f.mu.Lock()
	// As the kernel handle: larval ACQUIRE states (SPI 0) are no sibling.
	shared := slices.ContainsFunc(f.states, func(s xfrm.State) bool { return s.ReqID == c.ReqID && s.SPI != 0 })
	f.mu.Unlock()
	if !shared && !c.NoPolicies {
		for _, p := range c.Policies() {
			err = errors.Join(err, f.DeletePolicy(ctx, &p))
		}
	}
	return err
}

// Reconcile makes the fake's contents exactly desired. The fake holds only
// cygnet's objects, so everything else is removed.
func (f *Fake) Reconcile(ctx context.Context, desired []xfrm.ChildSA) error {
	for i := range desired {
		if err := desired[i].Validate(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	var states []xfrm.State
	var policies []xfrm.Policy
	f.larval = nil
	for i := range desired {
		c := &desired[i]
		states = append(states, c.In, c.Out)
		if !c.NoPolicies {
			for _, p := range c.Policies() {
				if !slices.ContainsFunc(policies, func(q xfrm.Policy) bool { return samePolicy(&p, &q) }) {
					policies = append(policies, p)
				}
			}
		}
	}
	f.states, f.policies = states, policies
	f.Log = append(f.Log, fmt.Sprintf("reconcile %d child sas", len(desired)))
	f.mu.Unlock()
	return nil
}

// States returns copies of the installed states in installation order.
func (f *Fake) States() []xfrm.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.states)
}

// Policies returns copies of the installed policies.
func (f *Fake) Policies() []xfrm.Policy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.policies)
}

// State returns the state with the given SPI and destination.
func (f *Fake) State(id xfrm.StateID) (xfrm.State, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.findState(id); i >= 0 {
		return f.states[i], true
	}
	return xfrm.State{}, false
}

// Larval returns the number of allocated SPIs not yet filled in.
func (f *Fake) Larval() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.larval)
}

// Render prints the contents as `ip xfrm state` and `ip xfrm policy` would
// (keys omitted: they are secrets even in test logs), states first.
func (f *Fake) Render() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.states {
		out = append(out, fmt.Sprintf("src %v dst %v proto esp spi 0x%08x reqid %d mode transport", s.Src, s.Dst, s.SPI, s.ReqID))
		flags := ""
		if s.ESN {
			flags = " flag esn"
		}
		out = append(out, fmt.Sprintf("\treplay-window %d%s", s.ReplayWindow, flags))
		if s.Encryption.AEAD() {
			out = append(out, "\taead rfc4106(gcm(aes)) [key omitted] 128")
		} else {
			enc := "cbc(aes)"
			if s.Encryption == xfrm.TripleDESCBC {
				enc = "cbc(des3_ede)"
			}
			out = append(out, "\tauth-trunc "+strings.ToLower(s.Integrity.String())+" [key omitted]", "\tenc "+enc+" [key omitted]")
		}
		if s.Encap != nil {
			out = append(out, fmt.Sprintf("\tencap type espinudp sport %d dport %d addr 0.0.0.0", s.Encap.SrcPort, s.Encap.DstPort))
		}
		out = append(out, "\t"+renderSel(s.Selector))
	}
	for _, p := range f.policies {
		out = append(out, renderSel(p.Selector))
		action := ""
		if p.Action == xfrm.Block {
			action = " action block"
		}
		out = append(out, fmt.Sprintf("\tdir %v priority %d%s", p.Dir, p.Priority, action))
		out = append(out, fmt.Sprintf("\ttmpl src %v dst %v", p.Selector.Src, p.Selector.Dst))
		out = append(out, fmt.Sprintf("\t\tproto esp reqid %d mode transport", p.ReqID))
	}
	return out
}

func renderSel(s xfrm.Selector) string {
	if !s.Src.IsValid() {
		return "sel src 0.0.0.0/0 dst 0.0.0.0/0"
	}
	bits := s.Src.BitLen()
	line := fmt.Sprintf("src %v/%d dst %v/%d", s.Src, bits, s.Dst, bits)
	if s.Proto != 0 {
		line += fmt.Sprintf(" proto %d", s.Proto)
	}
	if s.SrcPort != 0 {
		line += fmt.Sprintf(" sport %d", s.SrcPort)
	}
	if s.DstPort != 0 {
		line += fmt.Sprintf(" dport %d", s.DstPort)
	}
	return line
}

// UpdateEncap implements xfrm.EncapUpdater: the state keeps its keys and
// takes s's encapsulation.
func (f *Fake) UpdateEncap(ctx context.Context, s *xfrm.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("encap", s); err != nil {
		return err
	}
	i := f.findState(s.ID())
	if i < 0 {
		return fmt.Errorf("xfrm: update encapsulation of %v: %w", s, xfrm.ErrNotFound)
	}
	if s.Encap == nil {
		return fmt.Errorf("xfrm: update encapsulation of %v: no encapsulation given", s)
	}
	e := *s.Encap
	f.states[i].Encap = &e
	f.Log = append(f.Log, "update-encap "+f.states[i].String())
	return nil
}

// Carry records that n packets arrived on (or left through) the state id,
// as traffic would count them in a kernel (xfrm.UsageReader).
func (f *Fake) Carry(id xfrm.StateID, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.packets == nil {
		f.packets = map[xfrm.StateID]uint64{}
	}
	f.packets[id] += n
}

// StatePackets implements xfrm.UsageReader.
func (f *Fake) StatePackets(ctx context.Context, id xfrm.StateID) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.findState(id) < 0 {
		return 0, fmt.Errorf("xfrm: state spi 0x%08x dst %v: %w", id.SPI, id.Dst, xfrm.ErrNotFound)
	}
	return f.packets[id], nil
}

var (
	_ xfrm.EncapUpdater = (*Fake)(nil)
	_ xfrm.UsageReader  = (*Fake)(nil)
)
