package daemon

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func exampleSA(now time.Time) IKEView {
	return IKEView{
		Name: "node", UID: 1, State: "ESTABLISHED", Since: now.Add(-8 * time.Second),
		Local: netip.MustParseAddr("10.9.0.1"), Remote: netip.MustParseAddr("10.9.0.2"),
		LocalID: "10.9.0.1", RemoteID: "10.9.0.2",
		SPIi: 0xb51b5b811f3fd95c, SPIr: 0x17df4c402ced7e48, Initiator: true,
		Auth: "pre-shared key", Reauth: true, Renew: now.Add(2*time.Hour + 30*time.Minute),
		Proposal: "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384",
		Children: []ChildView{{
			Name: "node", UID: 1, State: "INSTALLED", Mode: "TRANSPORT", ReqID: 1,
			SPIIn: 0xcc95217a, SPIOut: 0xc5d8dfbf, Proposal: "AES_GCM_16_256",
			Rekey:   now.Add(47*time.Minute + 30*time.Second),
			LocalTS: []string{"10.9.0.1/32"}, RemoteTS: []string{"10.9.0.2/32"},
		}},
	}
}

// TestStatusAllMatchesStrongSwan compares with the statusall of
// strongSwan 5.9.8 on a transport-mode pair, as recorded in
// ../shared/design/strongswan-compat.md (indentation included).
func TestStatusAllMatchesStrongSwan(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	WriteSAs(&b, now, []IKEView{exampleSA(now)}, true, "")
	want := `Security Associations (1 up, 0 connecting):
        node[1]: ESTABLISHED 8 seconds ago, 10.9.0.1[10.9.0.1]...10.9.0.2[10.9.0.2]
        node[1]: IKEv2 SPIs: b51b5b811f3fd95c_i* 17df4c402ced7e48_r, pre-shared key reauthentication in 2 hours
        node[1]: IKE proposal: AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384
        node{1}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: cc95217a_i c5d8dfbf_o
        node{1}:  AES_GCM_16_256, 0 bytes_i, 0 bytes_o, rekeying in 47 minutes
        node{1}:   10.9.0.1/32 === 10.9.0.2/32
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestStatusEvaltestPatterns checks `ipsec status` against the patterns of
// strongSwan's host2host-transport scenario (evaltest.dat).
func TestStatusEvaltestPatterns(t *testing.T) {
	now := time.Now()
	sa := exampleSA(now)
	sa.Name, sa.Children[0].Name = "host-host", "host-host"
	sa.LocalID, sa.RemoteID = "moon.strongswan.org", "sun.strongswan.org"
	var b strings.Builder
	WriteSAs(&b, now, []IKEView{sa}, false, "")
	for _, p := range []string{
		`host-host.*ESTABLISHED.*moon.strongswan.org.*sun.strongswan.org`,
		`host-host.*INSTALLED, TRANSPORT`,
	} {
		if !regexp.MustCompile(p).MatchString(b.String()) {
			t.Errorf("pattern %q does not match:\n%s", p, b.String())
		}
	}
	if strings.Contains(b.String(), "IKE proposal") {
		t.Error("status (not statusall) shows the proposal")
	}
	b.Reset()
	WriteSAs(&b, now, []IKEView{sa}, false, "other")
	if b.String() != "Security Associations (1 up, 0 connecting):\n  no match\n" {
		t.Errorf("filtered: %q", b.String())
	}
}

func TestDeltaString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                     "1 second",
		8 * time.Second:                 "8 seconds",
		120 * time.Second:               "120 seconds",
		121 * time.Second:               "2 minutes",
		47*time.Minute + 30*time.Second: "47 minutes",
		2*time.Hour + 1*time.Second:     "2 hours",
		9833 * time.Second:              "2 hours",
		3 * 24 * time.Hour:              "3 days",
	} {
		if got := deltaString(d); got != want {
			t.Errorf("deltaString(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTrafficString(t *testing.T) {
	now := time.Now()
	if got := trafficString(84, 1, now.Add(-2*time.Second), now, "i"); got != "84 bytes_i (1 pkt, 2s ago)" {
		t.Errorf("got %q", got)
	}
	if got := trafficString(168, 2, time.Time{}, now, "o"); got != "168 bytes_o (2 pkts)" {
		t.Errorf("got %q", got)
	}
}

// TestStatusRekeyAndEncap: without reauthentication strongSwan prints only
// "rekeying in", and a UDP-encapsulated CHILD_SA shows "ESP in UDP SPIs".
func TestStatusRekeyAndEncap(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sa := exampleSA(now)
	sa.Reauth = false
	sa.Children[0].Encap = true
	var b strings.Builder
	WriteSAs(&b, now, []IKEView{sa}, true, "")
	for _, want := range []string{
		"node[1]: IKEv2 SPIs: b51b5b811f3fd95c_i* 17df4c402ced7e48_r, rekeying in 2 hours\n",
		"node{1}:  INSTALLED, TRANSPORT, reqid 1, ESP in UDP SPIs: cc95217a_i c5d8dfbf_o\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

// TestStatusAllRawKeysAndTraffic: strongSwan names a raw public key
// (leftsigkey / rightsigkey) on a "cert:" line under each end, and adds the
// packet count and last use to a used CHILD_SA's byte counts (both seen in
// the interop runs against strongSwan 5.9.8).
func TestStatusAllRawKeysAndTraffic(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sa := exampleSA(now)
	sa.Children[0].BytesIn, sa.Children[0].PacketsIn, sa.Children[0].LastIn = 1288, 37, now.Add(-8*time.Second)
	sa.Children[0].BytesOut, sa.Children[0].PacketsOut, sa.Children[0].LastOut = 65800, 53, now.Add(-8*time.Second)
	conn := ConnView{Name: "host-host", LocalHost: "10.70.0.1", RemoteHost: "10.70.0.2",
		LocalID: "moon.strongswan.org", RemoteID: "sun.strongswan.org", LocalAuth: "public key", RemoteAuth: "public key",
		LocalCert: "moon.strongswan.org", RemoteCert: "sun.strongswan.org", LocalTS: "dynamic", RemoteTS: "dynamic", Mode: "TRANSPORT"}
	var b strings.Builder
	WriteStatusAll(&b, now, DaemonView{Version: Version, Started: now.Add(-time.Minute)}, []ConnView{conn}, []IKEView{sa}, "")
	for _, want := range []string{
		"host-host:   local:  [moon.strongswan.org] uses public key authentication\n   host-host:    cert:  \"moon.strongswan.org\"\n",
		"host-host:   remote: [sun.strongswan.org] uses public key authentication\n   host-host:    cert:  \"sun.strongswan.org\"\n",
		"node{1}:  AES_GCM_16_256, 1288 bytes_i (37 pkts, 8s ago), 65800 bytes_o (53 pkts, 8s ago), rekeying in 47 minutes\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

// TestCountersReported: the engine's drop counters reach `ipsec status
// --json` and VICI's stats, so an operator sees why messages were dropped.
func TestCountersReported(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, "conn ab\n\tleft=10.0.0.1\n\tright=10.0.0.2\n\ttype=transport\n\tauthby=psk\n\tauto=add\n")
	d := startTestDaemon(t, dir, &memLink{}, netip.MustParseAddr("10.0.0.1"))
	t.Cleanup(func() { d.engine.Close() })
	from := netip.MustParseAddrPort("10.0.0.2:500")
	for range 3 {
		d.engine.HandlePacket(ike.Packet{Local: netip.MustParseAddrPort("10.0.0.1:500"), Remote: from, Data: []byte("not IKE")})
	}
	var out bytes.Buffer
	if rc := d.cmdStatus(&out, true, []string{"--json"}); rc != 0 {
		t.Fatalf("status --json: exit %d", rc)
	}
	var st struct {
		Counters map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	if st.Counters["received"] != 3 || st.Counters["malformed"] != 3 {
		t.Errorf("status --json counters: %v, want 3 received, 3 malformed", st.Counters)
	}
	if _, ok := st.Counters["overrun"]; !ok {
		t.Errorf("status --json counters lack overrun: %v", st.Counters)
	}
	c := d.viciStats().Section("counters")
	if c == nil || c.Get("malformed") != "3" || c.Get("received") != "3" {
		t.Errorf("vici stats counters: %v", c)
	}
}
