package message

import (
	"errors"
	"reflect"
	"testing"
)

func TestEncodeFragmentsReassemble(t *testing.T) {
	g := newGCMSealer(t)
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}}
	inner := ikeAuthInner()
	const maxLen = 120
	frags, err := m.EncodeFragments(inner, maxLen, g)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) < 3 {
		t.Fatalf("%d fragments, want several", len(frags))
	}
	var r Reassembly
	// Deliver out of order with a duplicate, as the network may.
	order := []int{len(frags) - 1, 0, 0}
	for i := 1; i < len(frags)-1; i++ {
		order = append(order, i)
	}
	for k, i := range order {
		if len(frags[i]) > maxLen {
			t.Errorf("fragment %d is %d bytes, limit %d", i+1, len(frags[i]), maxLen)
		}
		d, err := DecodeMessage(frags[i])
		if err != nil {
			t.Fatal(err)
		}
		f := d.Fragment()
		pt, err := g.open(d.AssociatedData(), f.Data)
		if err != nil {
			t.Fatal(err)
		}
		done, err := r.Add(f, pt)
		if err != nil {
			t.Fatal(err)
		}
		if done != (k == len(order)-1) {
			t.Fatalf("delivery %d: done = %v", k, done)
		}
	}
	ps, err := r.Payloads()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(forgetRaw(ps), Payloads(inner)) {
		t.Error("reassembled payloads differ")
	}
}

func TestReassemblyRules(t *testing.T) {
	var r Reassembly
	if _, err := r.Payloads(); err == nil {
		t.Error("empty reassembly decoded")
	}
	// RFC 7383 2.6: a larger Total restarts, a smaller one is stale.
	if done, err := r.Add(&EncryptedFragment{FirstInner: PayloadVendor, Number: 1, Total: 2}, []byte{0, 0, 0, 5}); done || err != nil {
		t.Fatalf("first: %v %v", done, err)
	}
	if done, err := r.Add(&EncryptedFragment{FirstInner: PayloadVendor, Number: 1, Total: 3}, []byte{0, 0}); done || err != nil {
		t.Fatalf("restart: %v %v", done, err)
	}
	if _, err := r.Add(&EncryptedFragment{Number: 2, Total: 2}, []byte{1}); !errors.Is(err, ErrStaleFragment) {
		t.Fatalf("stale: err = %v", err)
	}
	r.Add(&EncryptedFragment{Number: 2, Total: 3}, []byte{0})
	done, err := r.Add(&EncryptedFragment{Number: 3, Total: 3}, []byte{5, 0x41})
	if !done || err != nil {
		t.Fatalf("complete: %v %v", done, err)
	}
	ps, err := r.Payloads()
	if err != nil || len(ps) != 1 || string(ps[0].(*VendorID).Data) != "A" {
		t.Fatalf("payloads = %v, %v", ps, err)
	}
	for _, f := range []*EncryptedFragment{{Number: 0, Total: 1}, {Number: 2, Total: 1}, {Number: 1, Total: MaxFragments + 1}} {
		var r Reassembly
		if _, err := r.Add(f, nil); err == nil {
			t.Errorf("fragment %d/%d accepted", f.Number, f.Total)
		}
	}
	var big Reassembly
	big.Add(&EncryptedFragment{Number: 1, Total: 2}, make([]byte, MaxReassembledLen))
	if _, err := big.Add(&EncryptedFragment{Number: 2, Total: 2}, []byte{1}); err == nil {
		t.Error("reassembly beyond MaxReassembledLen accepted")
	}
}

func TestEncodeFragmentsErrors(t *testing.T) {
	g := newGCMSealer(t)
	m := &Message{Header: Header{Exchange: IKEAuth}}
	if _, err := m.EncodeFragments(ikeAuthInner(), HeaderLen+8+g.SealedLen(0), g); err == nil {
		t.Error("fragments with no room for content accepted")
	}
	if _, err := m.EncodeFragments([]Payload{&VendorID{Data: make([]byte, 2*MaxFragments)}}, HeaderLen+8+g.SealedLen(1), g); err == nil {
		t.Error("more than MaxFragments accepted")
	}
	m.Payloads = Payloads{&VendorID{Data: []byte{1}}}
	if _, err := m.EncodeFragments(nil, 1000, g); err == nil {
		t.Error("unencrypted payloads in a fragmented message accepted")
	}
}
