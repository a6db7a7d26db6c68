package xfrm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestLegacyAlgorithmsReadBack installs a 3DES / HMAC-SHA1-96 state, what
// strongSwan's esp=3des-sha1 negotiates, and reads it back: the kernel
// knows it as cbc(des3_ede) with hmac(sha1) truncated to 96 bits. It needs
// ESP in the kernel (real-kernel VM).
func TestLegacyAlgorithmsReadBack(t *testing.T) {
	vmtest.Require(t)
	ns := nstest.New(t)
	h := open(t, ns)
	enc := make([]byte, 24)
	for i := range enc {
		enc[i] = byte(0x11 * (i + 1))
	}
	s := xfrm.State{Src: addrA, Dst: addrB, SPI: 0x7001, ReqID: xfrm.ReqIDMin + 200, Dir: xfrm.Out,
		Encryption: xfrm.TripleDESCBC, EncKey: enc, Integrity: xfrm.HMACSHA1_96, IntegKey: key(20, 9)}
	if err := h.InstallState(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	got := find(t, h, s.SPI)
	if got.Encryption != xfrm.TripleDESCBC || got.Integrity != xfrm.HMACSHA1_96 {
		t.Errorf("read back %v / %v", got.Encryption, got.Integrity)
	}
	out := ns.Run(t, "ip", "xfrm", "state")
	if !strings.Contains(out, "cbc(des3_ede)") || !strings.Contains(out, "hmac(sha1)") || !strings.Contains(out, " 96") {
		t.Errorf("ip xfrm state:\n%s", out)
	}
}
