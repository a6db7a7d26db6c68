package interop

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// matrix is the pairwise cover of the dimensions against strongSwan: in
// each direction every auth method (PSK, ECDSA and RSA certificates with
// DN and FQDN IDs, raw keys), every proposal, ESP with and without PFS,
// with ESN, IPv4 and IPv6 appear at least once.
var matrix = []tcase{
	// cygnet initiates, strongSwan responds.
	{name: "c2s-psk-ecp256-v4", moon: kCygnet, sun: kStrongSwan, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	{name: "c2s-ecdsa-fqdn-ecp384-pfs-v6", moon: kCygnet, sun: kStrongSwan, auth: authECDSA,
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16-ecp384", v6: true},
	{name: "c2s-rsa-dn-x25519-pfs-esn-v4", moon: kCygnet, sun: kStrongSwan, auth: authRSA, dn: true,
		ike: "aes256gcm16-prfsha512-x25519", esp: "aes256gcm16-x25519-esn"},
	{name: "c2s-pubkey-modp2048-v6", moon: kCygnet, sun: kStrongSwan, auth: authPubkey,
		ike: "aes256-sha256-modp2048", esp: "aes256-sha256", v6: true},
	{name: "c2s-psk-x25519-esn-v6", moon: kCygnet, sun: kStrongSwan, auth: authPSK,
		ike: "aes256gcm16-prfsha512-x25519", esp: "aes128gcm16-esn", v6: true},
	// strongSwan initiates, cygnet responds.
	{name: "s2c-psk-ecp256-v4", moon: kStrongSwan, sun: kCygnet, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
	{name: "s2c-ecdsa-dn-x25519-esn-v6", moon: kStrongSwan, sun: kCygnet, auth: authECDSA, dn: true,
		ike: "aes256gcm16-prfsha512-x25519", esp: "aes256gcm16-esn", v6: true},
	{name: "s2c-rsa-fqdn-modp2048-pfs-v4", moon: kStrongSwan, sun: kCygnet, auth: authRSA,
		ike: "aes256-sha256-modp2048", esp: "aes256-sha256-modp2048"},
	{name: "s2c-pubkey-ecp384-pfs-v4", moon: kStrongSwan, sun: kCygnet, auth: authPubkey,
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16-ecp384"},
	{name: "s2c-psk-ecp256-pfs-v6", moon: kStrongSwan, sun: kCygnet, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16-ecp256", v6: true},
}

// result is one row of the printed table.
type result struct {
	name, moon, sun string
	pass            bool
	dur             time.Duration
}

// runMatrix runs cases one after another (one guest, fresh namespaces per
// case) and prints the table.
func runMatrix(t *testing.T, title string, cases []tcase) {
	t.Helper()
	vmtest.Require(t)
	start := time.Now()
	var rows []result
	for i := range cases {
		c := &cases[i]
		t0 := time.Now()
		ran := false
		ok := t.Run(c.name, func(t *testing.T) { ran = true; runCase(t, c) })
		if !ran {
			continue // filtered out by -run
		}
		rows = append(rows, result{name: c.name, moon: string(c.moon), sun: string(c.sun), pass: ok, dur: time.Since(t0)})
	}
	fmt.Print(table(title, rows, time.Since(start)))
}

// table renders the results with the peer versions.
func table(title string, rows []result, total time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %s (moon initiates, sun responds)\n", title)
	kinds := map[string]bool{}
	for _, r := range rows {
		kinds[r.moon], kinds[r.sun] = true, true
	}
	for _, k := range []kind{kCygnet, kStrongSwan, kLibreswan} {
		if kinds[string(k)] {
			fmt.Fprintf(&b, "%-11s %s\n", string(k)+":", peerVersion(k))
		}
	}
	fmt.Fprintf(&b, "| %-34s | %-10s | %-10s | %-6s | %8s |\n", "case", "moon", "sun", "result", "duration")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 36), strings.Repeat("-", 12), strings.Repeat("-", 12), strings.Repeat("-", 8), strings.Repeat("-", 10))
	pass := 0
	for _, r := range rows {
		res := "FAIL"
		if r.pass {
			res = "pass"
			pass++
		}
		fmt.Fprintf(&b, "| %-34s | %-10s | %-10s | %-6s | %7.1fs |\n", r.name, r.moon, r.sun, res, r.dur.Seconds())
	}
	fmt.Fprintf(&b, "%d of %d passed in %.0fs\n", pass, len(rows), total.Seconds())
	return b.String()
}

// TestInterop is the strongSwan matrix.
func TestInterop(t *testing.T) {
	runMatrix(t, "cygnet and strongSwan", matrix)
}

// TestInteropPending holds cases that need engine features still being
// built (rekeying, reauthentication, DPD, NAT traversal, migration). They
// run only with CYGNET_INTEROP_PENDING=1, so `make test` stays green while
// they fail; each reports its real result when run.
func TestInteropPending(t *testing.T) {
	if os.Getenv(envPending) != "1" {
		t.Skipf("set %s=1 to run the cases waiting for engine features", envPending)
	}
	runMatrix(t, "cygnet lifecycle, NAT and migration (pending)", pending)
}
