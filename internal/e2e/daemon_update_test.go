package e2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

var espSPIs = regexp.MustCompile(`host-host\{\d+\}:  INSTALLED, TRANSPORT, reqid \d+, ESP SPIs: ([0-9a-f]{8}_i [0-9a-f]{8}_o)`)

// TestDaemonUpdate adds a second conn to both nodes' ipsec.conf and runs
// `ipsec update`: the new conn comes up (moon has auto=start) while the
// first keeps its SPIs, and `ipsec rereadsecrets` and `purgeike` leave the
// SAs alone.
func TestDaemonUpdate(t *testing.T) {
	vmtest.Require(t)
	moon, sun := newNodes(t, netip.MustParseAddr("10.23.0.1"), netip.MustParseAddr("10.23.0.2"))
	sun.start(t)
	moon.start(t)
	st := moon.waitInstalled(t, 90*time.Second)
	before := espSPIs.FindStringSubmatch(st)
	if before == nil {
		t.Fatalf("no SPIs in:\n%s", st)
	}
	for _, n := range []*node{moon, sun} {
		me, peer, auto := moon, sun, "start"
		if n == sun {
			me, peer, auto = sun, moon, "add"
		}
		appendConf(t, n, "\nconn db\n\tleft="+me.addr.String()+"\n\tright="+peer.addr.String()+
			"\n\tleftid=@"+me.name+".strongswan.org\n\trightid=@"+peer.name+".strongswan.org\n\tauthby=secret\n\ttype=transport"+
			"\n\tleftprotoport=tcp\n\trightprotoport=tcp/5432\n\tike=aes128gcm16-prfsha256-x25519!\n\tesp=aes128gcm16!\n\tauto="+auto+"\n")
	}
	// strongSwan's leftprotoport is this end's; sun's view of the db conn
	// mirrors moon's.
	confSun := sun.dir + "/ipsec.conf"
	b := readFile(t, confSun)
	b = strings.Replace(b, "\tleftprotoport=tcp\n\trightprotoport=tcp/5432\n", "\tleftprotoport=tcp/5432\n\trightprotoport=tcp\n", 1)
	writeFile(t, confSun, b, 0o644)

	if out, code := sun.ipsec(t, "update"); code != 0 {
		t.Fatalf("sun: ipsec update %d:\n%s", code, out)
	}
	if out, code := moon.ipsec(t, "update"); code != 0 {
		t.Fatalf("moon: ipsec update %d:\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "db conn INSTALLED", func() bool {
		out, _ := moon.ipsec(t, "status", "db")
		return strings.Contains(out, "db{") && strings.Contains(out, "INSTALLED, TRANSPORT")
	})
	out, _ := moon.ipsec(t, "status")
	after := espSPIs.FindStringSubmatch(out)
	if after == nil || after[1] != before[1] {
		t.Fatalf("host-host SPIs changed by update: before %q, after:\n%s", before[1], out)
	}
	if !strings.Contains(out, "db{") || !strings.Contains(out, "10.23.0.1/32[tcp] === 10.23.0.2/32[tcp/5432]") {
		t.Errorf("db conn status:\n%s", out)
	}
	js, code := moon.ipsec(t, "status", "--json")
	var js2 struct {
		Version string `json:"version"`
		SAs     []struct {
			Name     string
			State    string
			Children []struct{ SPIIn, SPIOut uint32 }
		} `json:"sas"`
	}
	if err := json.Unmarshal([]byte(js), &js2); err != nil || code != 0 || len(js2.SAs) != 2 || js2.SAs[0].State != "ESTABLISHED" || len(js2.SAs[1].Children) != 1 {
		t.Fatalf("status --json (exit %d, %v):\n%s", code, err, js)
	}
	for _, cmd := range []string{"rereadsecrets", "purgeike"} {
		if o, code := moon.ipsec(t, cmd); code != 0 {
			t.Fatalf("ipsec %s: %d\n%s", cmd, code, o)
		}
	}
	out, _ = moon.ipsec(t, "status")
	if a := espSPIs.FindStringSubmatch(out); a == nil || a[1] != before[1] || !strings.Contains(out, "db{") {
		t.Fatalf("SAs changed by rereadsecrets/purgeike:\n%s", out)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
