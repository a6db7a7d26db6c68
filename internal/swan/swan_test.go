package swan

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// TestCharonPair checks the driver: two charons in two namespaces
// establish an IKE_SA with a PSK (on a kernel without ESP only the CHILD_SA
// install fails).
func TestCharonPair(t *testing.T) {
	vmtest.RequireRoot(t)
	Require(t)
	a, b := netip.MustParseAddr("10.66.0.1"), netip.MustParseAddr("10.66.0.2")
	p := nstest.NewPair(t, a, b)
	conf := func(l, r netip.Addr, auto string) string {
		return "conn %default\n\tkeyexchange=ikev2\n\nconn host-host\n\tleft=" + l.String() + "\n\tright=" + r.String() +
			"\n\tauthby=psk\n\ttype=transport\n\tike=aes256gcm16-prfsha384-ecp384!\n\tesp=aes256gcm16!\n\tauto=" + auto + "\n"
	}
	secrets := a.String() + " " + b.String() + " : PSK \"swan-driver-test\"\n"
	ca := Start(t, p.A, Files{IPsecConf: conf(a, b, "add"), IPsecSecrets: secrets})
	cb := Start(t, p.B, Files{IPsecConf: conf(b, a, "add"), IPsecSecrets: secrets})
	if out, err := cb.Up("host-host"); err != nil || testing.Verbose() {
		t.Logf("ipsec up: %v\n%s", err, out)
	}
	out, ok := ca.WaitStatus("ESTABLISHED", 60*time.Second)
	if !ok {
		t.Fatalf("no IKE_SA:\n%s\nA log:\n%s\nB log:\n%s", out, ca.Log(), cb.Log())
	}
	if !strings.Contains(out, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384") {
		t.Errorf("unexpected proposal:\n%s", out)
	}
	if !strings.Contains(ca.Log(), "IKE_SA_INIT") {
		t.Errorf("charon log of the responder lacks the exchange: %q", ca.Log())
	}
}

func TestLoadedConns(t *testing.T) {
	conf := "config setup\n\nconn %default\n\tkeyexchange=ikev2\n\nconn a\n\tauto=add\n\nconn tmpl\n\tauto=ignore\n\nconn b\n\tleft=1.2.3.4\n"
	got := strings.Join(loadedConns(conf), ",")
	if got != "a,b" {
		t.Fatalf("loadedConns = %q", got)
	}
	if !allListed("   a:  x\n   b:  y", []string{"a", "b"}) || allListed("   a:  x", []string{"a", "b"}) {
		t.Fatal("allListed")
	}
	// A name of 12 characters or more is not padded: it starts the line.
	if !allListed("Connections:\nhost-host-cert:  10.1.0.1...10.1.0.2  IKEv2\n", []string{"host-host-cert"}) ||
		allListed("Connections:\n   x-host-cert:  y\n", []string{"host-cert"}) {
		t.Fatal("allListed with a long name")
	}
}
