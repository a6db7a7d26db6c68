package interop

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/internal/evaltest"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// connName is the connection every case configures, the name strongSwan's
// host2host scenarios use.
const connName = "host-host"

// tcase is one cell of the matrix. moon initiates, sun responds; which
// implementation runs where gives the direction.
type tcase struct {
	name         string
	moon, sun    kind
	auth         authKind
	dn           bool   // certificate IDs as subject DNs rather than FQDNs
	ike, esp     string // ipsec.conf proposals (strict, with !)
	v6           bool
	conn         string // extra conn lines for both nodes, tab-indented
	connMoon     string // extra conn lines for moon only
	connSun      string // extra conn lines for sun only
	charon       string // extra lines in strongswan.conf's charon section (charon and cygnet)
	setup        string // extra lines in ipsec.conf's config setup (both nodes), tab-indented
	autoStart    bool   // both ends auto=start instead of `ipsec up` on moon
	autoMoon     string // moon's auto= when not add/start (route: trap policies hold traffic until an SA exists)
	simultaneous bool   // `ipsec up` on both ends at the same moment
	// linkDelay is a netem delay on both ends of the link (each way), so
	// that the two IKE_SA_INITs of a simultaneous start cross in flight
	// however fast either daemon reacts: a real collision every run.
	linkDelay string
	encap     bool // ESP must travel in UDP (forceencaps, NAT)
	nat       bool // a NAT namespace (nftables masquerade) between moon and sun
	lifecycle func(t *testing.T, r *run)
	patterns  []string // pattern files checked after lifecycle; DIALECT is replaced by the node's
}

// ikeText and espText are how strongSwan (and cygnet) print proposals in
// `ipsec statusall`.
var ikeText = map[string]string{
	"aes128gcm16-prfsha256-ecp256": "AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256",
	"aes256gcm16-prfsha384-ecp384": "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384",
	"aes256gcm16-prfsha512-x25519": "AES_GCM_16_256/PRF_HMAC_SHA2_512/CURVE_25519",
	"aes256-sha256-modp2048":       "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
}

// espText is the CHILD_SA's suite in statusall. The CHILD_SA made with
// IKE_AUTH never runs a key exchange (RFC 7296 1.2: the KE payloads of the
// ESP proposal apply to CREATE_CHILD_SA), so a PFS group shows neither in
// the status nor in the negotiated transforms until the first rekey.
var espText = map[string]string{
	"aes128gcm16":            "AES_GCM_16_128",
	"aes256gcm16":            "AES_GCM_16_256",
	"aes256gcm16-ecp384":     "AES_GCM_16_256",
	"aes128gcm16-ecp256":     "AES_GCM_16_128",
	"aes256gcm16-x25519":     "AES_GCM_16_256",
	"aes256gcm16-esn":        "AES_GCM_16_256/ESN",
	"aes128gcm16-esn":        "AES_GCM_16_128/ESN",
	"aes256gcm16-x25519-esn": "AES_GCM_16_256/ESN",
	"aes256-sha256":          "AES_CBC_256/HMAC_SHA2_256_128",
	"aes256-sha256-modp2048": "AES_CBC_256/HMAC_SHA2_256_128",
}

// node is one host of a case.
type node struct {
	name  string // moon or sun
	ns    *nstest.NS
	addr  netip.Addr
	iface string
	peer  peer
	// peerHost is the other end as this node's ipsec.conf names it (empty:
	// its address); seesPeerAs is the address the other end's packets
	// arrive from (behind NAT: the NAT's outer address).
	peerHost   string
	seesPeerAs netip.Addr
}

func (n *node) peerConfHost(r *run) string {
	if n.peerHost != "" {
		return n.peerHost
	}
	return n.other(r).addr.String()
}

func (n *node) peerSeenAs(r *run) netip.Addr {
	if n.seesPeerAs.IsValid() {
		return n.seesPeerAs
	}
	return n.other(r).addr
}

// run is a case in progress.
type run struct {
	c          *tcase
	moon, sun  *node
	capSummary string
	// stale are ESP states a SIGKILLed daemon left in its kernel (SPI to
	// packet count at the crash): the restarted daemon does not know them,
	// so they have no counterpart at the peer; they must carry nothing more.
	stale map[uint32]uint64
	// sunInitiates: the surviving IKE_SA was started by sun (a restarted
	// cygnet renegotiates the SAs it finds in the kernel at once, with
	// INITIAL_CONTACT, before the peer's DPD notices anything).
	sunInitiates bool
}

func newPeer(k kind) peer {
	switch k {
	case kCygnet:
		return &cygnetPeer{}
	case kStrongSwan:
		return &swanPeer{}
	case kLibreswan:
		return &lswPeer{}
	}
	panic("interop: unknown kind " + string(k))
}

func (n *node) other(r *run) *node {
	if n == r.moon {
		return r.sun
	}
	return r.moon
}

// id is the IKE identity of host in this case, in ipsec.conf form.
func (c *tcase) id(host string) string {
	if c.dn && (c.auth == authECDSA || c.auth == authRSA) {
		return dn(host)
	}
	return "@" + host + ".strongswan.org"
}

// idText is how status output prints id(host).
func (c *tcase) idText(host string) string { return strings.TrimPrefix(c.id(host), "@") }

// swanConf renders the strongSwan-form configuration of n, which cygnet
// reads unchanged.
func (c *tcase) swanConf(t *testing.T, r *run, n *node) nodeConf {
	t.Helper()
	o := n.other(r)
	auto := "add"
	if c.autoStart {
		auto = "start"
	}
	if c.autoMoon != "" && n.name == "moon" {
		auto = c.autoMoon
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config setup\n%s\n", c.setup)
	fmt.Fprintf(&b, `conn %%default
	ikelifetime=60m
	keylife=20m
	rekeymargin=3m
	keyingtries=1
	mobike=no
	keyexchange=ikev2

conn %s
	left=%v
	leftid="%s"
	right=%s
	rightid="%s"
	type=transport
	ike=%s!
	esp=%s!
	auto=%s
`, connName, n.addr, c.id(n.name), n.peerConfHost(r), c.id(o.name), c.ike, c.esp, auto)
	nc := nodeConf{ipsecD: map[string][]byte{}, charon: c.charon}
	switch c.auth {
	case authPSK:
		b.WriteString("\tauthby=secret\n")
		nc.secrets = fmt.Sprintf("%s %s : PSK \"%s\"\n", c.id("moon"), c.id("sun"), psk)
	case authECDSA, authRSA:
		cr := credsByKey[c.auth]
		me := cr.moon
		if n.name == "sun" {
			me = cr.sun
		}
		files, err := me.IPsecD(n.name)
		if err != nil {
			t.Fatal(err)
		}
		nc.ipsecD = files
		fmt.Fprintf(&b, "\tleftauth=pubkey\n\trightauth=pubkey\n\tleftcert=%s.pem\n", n.name)
		nc.secrets = me.SecretsLine(n.name) + "\n"
	case authPubkey:
		for _, h := range []string{n.name, o.name} {
			pub, err := authtest.PublicKeyPEM(rawKeys[h].Public())
			if err != nil {
				t.Fatal(err)
			}
			nc.ipsecD["certs/"+h+".pub"] = pub
		}
		key, err := authtest.LegacyKeyPEM(rawKeys[n.name])
		if err != nil {
			t.Fatal(err)
		}
		nc.ipsecD["private/"+n.name+".pem"] = key
		fmt.Fprintf(&b, "\tleftauth=pubkey\n\trightauth=pubkey\n\tleftsigkey=%s.pub\n\trightsigkey=%s.pub\n", n.name, o.name)
		nc.secrets = ": ECDSA " + n.name + ".pem\n"
	}
	b.WriteString(c.conn)
	if n.name == "moon" {
		b.WriteString(c.connMoon)
	} else {
		b.WriteString(c.connSun)
	}
	nc.ipsecConf = b.String()
	return nc
}

func (c *tcase) confFor(t *testing.T, r *run, n *node) nodeConf {
	if n.peer.kind() == kLibreswan {
		return c.lswConf(t, r, n)
	}
	return c.swanConf(t, r, n)
}

// subst are the placeholders of the pattern files.
// n's view: behind NAT, sun sees moon as the NAT's outer address.
func (r *run) subst(n *node) map[string]string {
	return r.substNo(n, 1, 1)
}

// substNo is subst with the IKE_SA and CHILD_SA numbers status shows
// (PH_IKE_SA_NO, PH_CHILD_SA_NO): 1 and 1 right after the first exchange,
// higher once a rekey, reauthentication or restart made new ones.
func (r *run) substNo(n *node, ikeNo, childNo int) map[string]string {
	bits := "32"
	if r.c.v6 {
		bits = "128"
	}
	moonIP, sunIP := r.moon.addr, r.sun.addr
	if n == r.sun {
		moonIP = n.peerSeenAs(r)
	}
	spis := "ESP SPIs"
	if r.c.encap {
		spis = "ESP in UDP SPIs"
	}
	// statusall names the IKE_SA's renewal by what reauth= makes of it:
	// "pre-shared key reauthentication in ..." or just "rekeying in ...".
	ikeRenewal := "public key reauthentication"
	if r.c.auth == authPSK {
		ikeRenewal = "pre-shared key reauthentication"
	}
	if strings.Contains(r.c.conn+r.c.connMoon, "reauth=no") {
		ikeRenewal = "rekeying"
	}
	// statusall marks the local end's SPI with *: _i* on the initiator.
	moonI, moonR, sunI, sunR := `\*`, "", "", `\*`
	if r.sunInitiates {
		moonI, moonR, sunI, sunR = sunI, sunR, moonI, moonR
	}
	return map[string]string{
		"PH_MOON_I_MARK":  moonI,
		"PH_MOON_R_MARK":  moonR,
		"PH_SUN_I_MARK":   sunI,
		"PH_SUN_R_MARK":   sunR,
		"PH_IKE_RENEWAL":  ikeRenewal,
		"PH_ESP_SPIS":     spis,
		"PH_IP_MOON":      moonIP.String(),
		"PH_IP_SUN":       sunIP.String(),
		"PH_BITS":         bits,
		"PH_ID_MOON":      r.c.idText("moon"),
		"PH_ID_SUN":       r.c.idText("sun"),
		"PH_IKE_PROPOSAL": ikeText[r.c.ike],
		"PH_ESP_SUITE":    espText[r.c.esp],
		"PH_CONN":         connName,
		"PH_LSW_IKE":      lswIKEText[r.c.ike],
		"PH_LSW_ESP":      lswESPText[r.c.esp],
		"PH_CERT_MOON":    dn("moon"),
		"PH_CERT_SUN":     dn("sun"),
		"PH_IKE_SA_NO":    fmt.Sprint(ikeNo),
		"PH_CHILD_SA_NO":  fmt.Sprint(childNo),
	}
}

// dialect is the status format a kind prints: cygnet prints strongSwan's.
func dialect(k kind) string {
	if k == kLibreswan {
		return "libreswan"
	}
	return "strongswan"
}

func (c *tcase) patternFile(k kind) string {
	if c.simultaneous {
		// Which IKE_SA survives, and so its number and roles, is the
		// tie-break's choice.
		return dialect(k) + "-simultaneous.evaltest"
	}
	a := c.auth
	if a == authRSA {
		a = authECDSA
	}
	name := map[authKind]string{authPSK: "psk", authECDSA: "cert", authPubkey: "pubkey"}[a]
	return dialect(k) + "-" + name + ".evaltest"
}

// checkPatterns applies a pattern file's lines for each node to that node.
func (r *run) checkPatterns(t *testing.T, file string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		r.checkPatternsNo(t, file, n, 1, 1)
	}
}

// checkPatternsNo checks a pattern file's lines for n with the IKE_SA and
// CHILD_SA numbers n's status must show.
func (r *run) checkPatternsNo(t *testing.T, file string, n *node, ikeNo, childNo int) {
	t.Helper()
	for _, f := range r.patternFailures(t, file, n, ikeNo, childNo) {
		t.Error(f)
	}
}

// patternFailures is checkPatternsNo's verdict: the lines that did not hold.
func (r *run) patternFailures(t *testing.T, file string, n *node, ikeNo, childNo int) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "interop", file))
	if err != nil {
		t.Fatal(err)
	}
	checks, err := evaltest.Parse(data, r.substNo(n, ikeNo, childNo))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var mine []evaltest.Check
	for _, ch := range checks {
		if ch.Host == n.name {
			mine = append(mine, ch)
		}
	}
	if len(mine) == 0 {
		t.Fatalf("%s has no checks for %s", file, n.name)
	}
	// Each command runs once: under emulation a status call takes a
	// good fraction of a second.
	outs := map[string]string{}
	errs := map[string]error{}
	run := func(_, cmd string) (string, error) {
		if out, ok := outs[cmd]; ok {
			return out, errs[cmd]
		}
		out, err := n.peer.command(cmd)
		outs[cmd], errs[cmd] = out, err
		return out, err
	}
	var fails []string
	for _, f := range evaltest.Run(mine, run) {
		fails = append(fails, fmt.Sprintf("%s (%s on %s): %s", file, n.peer.kind(), n.name, f))
	}
	return fails
}

// waitInstalled waits until both nodes show the CHILD_SA.
func (r *run) waitInstalled(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range []*node{r.moon, r.sun} {
		for {
			ok, out := n.peer.installed(connName)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (%s): no CHILD_SA after %v:\n%s", n.name, n.peer.kind(), timeout, out)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// setup builds the namespaces and starts both daemons, sun first.
func setup(t *testing.T, c *tcase) *run {
	t.Helper()
	if c.auth != authPSK {
		loadCreds(t)
	}
	a, b := netip.MustParseAddr("10.70.0.1"), netip.MustParseAddr("10.70.0.2")
	if c.v6 {
		// No run of zero groups: evaltest splits lines on "::".
		a, b = netip.MustParseAddr("fd00:70:7:7:7:7:7:1"), netip.MustParseAddr("fd00:70:7:7:7:7:7:2")
	}
	// The first TempDir call registers the removal of the test's temporary
	// folder; made now, that cleanup runs after the one below that prints
	// the daemons' logs kept there (cleanups run last-in, first-out).
	t.TempDir()
	var r *run
	if c.nat {
		n := newNATTopology(t)
		r = &run{c: c,
			moon: &node{name: "moon", ns: n.moon, addr: n.moonAddr, iface: n.moonIface, peer: newPeer(c.moon)},
			sun:  &node{name: "sun", ns: n.sun, addr: n.sunAddr, iface: n.sunIface, peer: newPeer(c.sun), peerHost: "%any", seesPeerAs: n.natOuter},
		}
	} else {
		p := nstest.NewPair(t, a, b)
		r = &run{c: c,
			moon: &node{name: "moon", ns: p.A, addr: a, iface: p.IfaceA, peer: newPeer(c.moon)},
			sun:  &node{name: "sun", ns: p.B, addr: b, iface: p.IfaceB, peer: newPeer(c.sun)},
		}
	}
	if c.linkDelay != "" {
		for _, n := range []*node{r.moon, r.sun} {
			n.ns.Run(t, "tc", "qdisc", "add", "dev", n.iface, "root", "netem", "delay", c.linkDelay)
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range []*node{r.moon, r.sun} {
			if n.peer.kind() == kStrongSwan {
				continue // internal/swan prints charon's log itself
			}
			t.Logf("=== %s (%s) log:\n%s", n.name, n.peer.kind(), n.peer.log())
		}
		if r.capSummary != "" {
			t.Logf("=== capture on moon's link:\n%s", r.capSummary)
		} else {
			t.Logf("=== capture on moon's link: none taken (the case failed before its first traffic check)")
		}
	})
	for _, n := range []*node{r.sun, r.moon} {
		n.peer.start(t, n.ns, c.confFor(t, r, n))
	}
	return r
}

// establish brings the connection up from moon (or waits for auto=start).
func (r *run) establish(t *testing.T) {
	t.Helper()
	if r.c.simultaneous {
		r.establishBoth(t)
		return
	}
	if !r.c.autoStart {
		if out, err := r.moon.peer.up(connName); err != nil {
			t.Errorf("moon (%s): up %s: %v\n%s", r.moon.peer.kind(), connName, err, out)
		}
	}
	r.waitInstalled(t, 90*time.Second)
}

// runCase is the whole of one case: setup, establish, status patterns,
// traffic with capture and counters, then the lifecycle step if any.
func runCase(t *testing.T, c *tcase) {
	vmtest.Require(t)
	t0 := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(t0).Seconds(), what) }
	r := setup(t, c)
	phase("daemons started")
	r.establish(t)
	phase("SA installed on both")
	if c.linkDelay != "" {
		// The delay served the collision; delayed packets still in
		// flight would make the counters below disagree.
		for _, n := range []*node{r.moon, r.sun} {
			n.ns.Run(t, "tc", "qdisc", "del", "dev", n.iface, "root")
		}
	}
	if t.Failed() {
		return
	}
	for _, n := range []*node{r.moon, r.sun} {
		r.checkPatterns(t, c.patternFile(n.peer.kind()), n)
	}
	phase("status patterns checked")
	r.traffic(t, "established")
	phase("traffic checked")
	// The lifecycle step runs even after a status or traffic failure: its
	// own result is what a pending case reports.
	if c.lifecycle != nil {
		c.lifecycle(t, r)
	}
	for _, f := range c.patterns {
		for _, n := range []*node{r.moon, r.sun} {
			r.checkPatterns(t, strings.ReplaceAll(f, "DIALECT", dialect(n.peer.kind())), n)
		}
	}
}
