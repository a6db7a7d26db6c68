package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func TestValues(t *testing.T) {
	for in, want := range map[string]int{"100%": 100, "0%": 0, "250%": 250} {
		if got, err := parsePercent(in); err != nil || got != want {
			t.Errorf("percent %q: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"100", "%", "-5%", "+5%", "5 %", "1.5%"} {
		if _, err := parsePercent(bad); err == nil {
			t.Errorf("percent %q accepted", bad)
		}
	}
	subnets, err := parseSubnets("10.1.0.0/16, 10.2.0.1,2001:db8::/32")
	if err != nil || len(subnets.prefixes) != 3 || subnets.prefixes[1] != netip.MustParsePrefix("10.2.0.1/32") || subnets.hasPP || subnets.dynamic {
		t.Errorf("subnets: %v %v", subnets, err)
	}
	for _, bad := range []string{"10.1.0.1/16", "10.0.0.1-10.0.0.9", "10.1.0.0/16[tcp/80", "x", ","} {
		if _, err := parseSubnets(bad); err == nil {
			t.Errorf("subnet %q accepted", bad)
		}
	}
	for in, want := range map[string]Mark{
		"42":               {Value: 42, Mask: 0xffffffff},
		"0x10/0xff":        {Value: 0x10, Mask: 0xff},
		"%unique":          {Unique: true, Mask: 0xffffffff},
		"%unique-dir/0xf0": {UniqueDir: true, Mask: 0xf0},
	} {
		got, err := parseMark(in)
		if err != nil || got != want {
			t.Errorf("mark %q: %+v %v", in, got, err)
		}
		if back, _ := parseMark(formatMark(got)); back != got {
			t.Errorf("mark %q written as %q", in, formatMark(got))
		}
	}
	for _, bad := range []string{"", "x", "1/", "-1", "0x1ffffffff"} {
		if _, err := parseMark(bad); err == nil {
			t.Errorf("mark %q accepted", bad)
		}
	}
	for _, v := range []string{"plain", "two words", `quo"te`, "back\\slash", "tab\there", "new\nline", "", "a#b", "k=v"} {
		raw, ds := ParseIPsecConf("q.conf", []byte("conn a\n\tleftupdown="+quoteValue(v)+"\n"))
		if ds.HasErrors() {
			t.Errorf("%q quoted as %s: %v", v, quoteValue(v), ds)
			continue
		}
		st, _ := raw.Conn("a").lookup("leftupdown")
		if st.Value != v && !(v == "" && st.Clear) {
			t.Errorf("%q quoted as %s reads back as %q", v, quoteValue(v), st.Value)
		}
	}
}

func TestEnumsMapOntoEngine(t *testing.T) {
	c := NewConn("x")
	for _, tt := range []struct {
		set  func()
		got  func() any
		want any
	}{
		{func() { c.DPDAction = "clear" }, func() any { return peerAction(c.DPDAction) }, ike.ActionClear},
		{func() { c.DPDAction = "hold" }, func() any { return peerAction(c.DPDAction) }, ike.ActionHold},
		{func() { c.DPDAction = "restart" }, func() any { return peerAction(c.DPDAction) }, ike.ActionRestart},
		{func() { c.Fragmentation = "no" }, func() any { return fragmentation(c.Fragmentation) }, ike.FragmentationNo},
		{func() { c.Fragmentation = "accept" }, func() any { return fragmentation(c.Fragmentation) }, ike.FragmentationAccept},
		{func() { c.Fragmentation = "force" }, func() any { return fragmentation(c.Fragmentation) }, ike.FragmentationForce},
		{func() { c.Type = "pass" }, func() any { return c.Mode() }, ike.ModePass},
		{func() { c.Type = "drop" }, func() any { return c.Mode() }, ike.ModeDrop},
		{func() { c.Auto = "route" }, func() any { return c.AutoAction() }, ike.AutoRoute},
		{func() { c.AuthBy = "secret" }, func() any { l, r := c.AuthClasses(); return [2]ike.AuthClass{l, r} }, [2]ike.AuthClass{ike.AuthPSK, ike.AuthPSK}},
		{func() { c.Left.Auth = "psk" }, func() any { l, r := c.AuthClasses(); return [2]ike.AuthClass{l, r} }, [2]ike.AuthClass{ike.AuthPSK, ike.AuthPubkey}},
	} {
		tt.set()
		if got := tt.got(); got != tt.want {
			t.Errorf("got %v, want %v", got, tt.want)
		}
	}
	s := Setup{}
	for v, want := range map[string]ike.UniqueIDPolicy{"yes": ike.UniqueIDsYes, "no": ike.UniqueIDsNo, "never": ike.UniqueIDsNever, "replace": ike.UniqueIDsReplace, "keep": ike.UniqueIDsKeep} {
		s.UniqueIDs = v
		if s.UniqueIDPolicy() != want {
			t.Errorf("uniqueids=%s: %v", v, s.UniqueIDPolicy())
		}
	}
}

func TestDiagnosticsOverflow(t *testing.T) {
	var d diags
	for i := 0; i < maxCollected; i++ {
		d.add(Info, Pos{File: "f", Line: i + 1}, "", "", "note %d", i)
	}
	d.add(Error, Pos{File: "f", Line: 99999}, "", "", "the error that matters")
	ds := dedupe(d.list)
	if !ds.HasErrors() {
		t.Fatal("an error past the limit was lost: the configuration would look valid")
	}
	err := ds.Err()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "too many diagnostics") {
		t.Errorf("Err: %v", err)
	}
	if (Diagnostics{{Severity: Warning}}).Err() != nil {
		t.Errorf("warnings make an error")
	}
}
