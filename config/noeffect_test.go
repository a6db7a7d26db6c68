package config

import "testing"

// TestNoEffectWarnings: the settings the audit found accepted without
// effect are reported at their line, and left alone where they do act.
func TestNoEffectWarnings(t *testing.T) {
	text := `config setup
	charondebug="ike 2, knl 3"

conn quiet
	type=transport
	mobike=yes
	dpddelay=10s
	marginbytes=1000
	marginpackets=10
	mark=0x10/0xff

conn acting
	type=transport
	mobike=no
	dpddelay=10s
	dpdaction=restart
	lifebytes=1000000
	marginbytes=1000
	lifepackets=100000
	marginpackets=10
`
	_, ds := parseConf(t, text)
	if ds.HasErrors() {
		t.Fatalf("errors:\n%s", listDiags(ds))
	}
	wantDiag(t, ds, Info, "ipsec.conf", 2, "charondebug", "stderr log (the journal under systemd) to 3")
	wantDiag(t, ds, Warning, "ipsec.conf", 6, "mobike", "neither announces nor uses MOBIKE")
	wantDiag(t, ds, Warning, "ipsec.conf", 7, "dpddelay", "no effect with dpdaction=none")
	wantDiag(t, ds, Warning, "ipsec.conf", 8, "marginbytes", "no effect without lifebytes")
	wantDiag(t, ds, Warning, "ipsec.conf", 9, "marginpackets", "no effect without lifepackets")
	wantDiag(t, ds, Warning, "ipsec.conf", 10, "mark", "installed without the mark, so they apply to all traffic between the hosts, not only to packets marked 0x10/0xff")
	for _, d := range ds {
		if d.Section == "conn acting" && d.Severity >= Warning {
			t.Errorf("conn acting: %v", d)
		}
	}

	for _, bad := range []string{"ike", "ike 2 knl 1", "ike two", "ike 5", "ike 2, knl", "ike -2"} {
		_, ds := parseConf(t, "config setup\n\tcharondebug=\""+bad+"\"\n")
		wantDiag(t, ds, Error, "ipsec.conf", 2, "charondebug", "bad charondebug")
	}
	for _, good := range []string{"ike 2", "dmn 3, ike 1, net -1", " ike 0 ,knl 4", "ike 2,"} {
		if _, err := charonDebugLevel(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}
