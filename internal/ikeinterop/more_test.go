package ikeinterop

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/internal/swan"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// TestCertificatesWithCharon authenticates with X.509 certificates from
// one CA: charon is moon, the engine is sun; both roles, ECDSA and RSA.
func TestCertificatesWithCharon(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	for _, k := range []authtest.KeyType{authtest.ECDSAP256, authtest.RSA2048} {
		ca := authtest.Must(authtest.NewCA(authtest.Options{Subject: pkix.Name{CommonName: "cygnet interop CA"}, Key: k}))
		issue := func(cn, addr string) *authtest.Credential {
			return authtest.Must(ca.Issue(authtest.Options{
				Subject:     pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: cn},
				DNSNames:    []string{cn + ".example.org"},
				IPAddresses: []netip.Addr{netip.MustParseAddr(addr)}, Key: k,
			}))
		}
		moon, sun := issue("moon", "10.77.0.1"), issue("sun", "10.77.0.2")
		files := authtest.Must(moon.IPsecD("moon"))
		for _, role := range []string{"cygnet-initiator", "charon-initiator"} {
			t.Run(k.String()+"/"+role, func(t *testing.T) {
				s := newSetupWith(t, setupOptions{
					ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16",
					charonConn: `leftauth=pubkey
	rightauth=pubkey
	leftcert=moon.pem
	leftid="C=CH, O=Cygnet, CN=moon"
	rightid="C=CH, O=Cygnet, CN=sun"`,
					charonFiles:   files,
					charonSecrets: moon.SecretsLine("moon") + "\n",
					engine: func(cfg *ike.Config) {
						c := &cfg.Connections[0]
						c.Local.Auth, c.Remote.Auth = ike.AuthPubkey, ike.AuthPubkey
						c.Local.Cert = sun.Cert
						c.Remote.ID = ike.Identity{Type: message.IDDERASN1DN, Data: moon.Cert.RawSubject}
						cfg.Credentials = ike.Credentials{PrivateKeys: []crypto.Signer{sun.Key}, CACerts: []*x509.Certificate{ca.Cert}}
					},
				})
				if role == "cygnet-initiator" {
					ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
					defer cancel()
					err := s.engine.Initiate(ctx, "swan")
					if err != nil && (hostKernelHasESP() || !strings.Contains(err.Error(), "CHILD_SA failed")) {
						t.Fatal(err)
					}
				} else {
					s.charon.Up("cyg")
				}
				checkCharon(t, s.charon, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384")
				sa := checkEngine(t, s.engine, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", role == "cygnet-initiator")
				if sa.RemoteID.String() != "C=CH, O=Cygnet, CN=moon" || sa.RemoteAuth != ike.AuthPubkey {
					t.Errorf("engine sees %v with %v", sa.RemoteID, sa.RemoteAuth)
				}
				if log := s.charon.Log(); !strings.Contains(log, "authentication of 'C=CH, O=Cygnet, CN=sun' with") {
					t.Errorf("charon did not authenticate sun's certificate:\n%s", log)
				}
			})
		}
	}
}

// TestLivenessAndDelete: charon's dead peer detection (empty INFORMATIONAL
// requests, RFC 7296 1.4) is answered, and a Delete from either side
// removes the IKE_SA on both.
func TestLivenessAndDelete(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	s := newSetupWith(t, setupOptions{ike: "aes128gcm16-prfsha256-x25519", esp: "aes128gcm16",
		charonConn: "authby=psk\n\tdpddelay=1s\n\tdpdaction=clear"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.engine.Initiate(ctx, "swan"); err != nil && hostKernelHasESP() {
		t.Fatal(err)
	}
	checkCharon(t, s.charon, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.charon.Log(), "parsed INFORMATIONAL response") {
		if time.Now().After(deadline) {
			t.Fatalf("charon got no answer to its DPD:\n%s", s.charon.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := s.engine.Status().IKESAs; len(st) != 1 || st[0].State != "ESTABLISHED" {
		t.Fatalf("engine after DPD: %+v", st)
	}
	// Delete from the engine.
	if err := s.engine.Terminate(ctx, "swan"); err != nil {
		t.Fatal(err)
	}
	if out, ok := s.charon.WaitStatus("Security Associations (0 up", 10*time.Second); !ok {
		t.Fatalf("charon keeps the IKE_SA after our Delete:\n%s", out)
	}
	// Delete from charon.
	s.charon.Up("cyg")
	checkCharon(t, s.charon, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519")
	checkEngine(t, s.engine, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", false)
	if out, err := s.charon.Run("ipsec", "down", "cyg"); err != nil {
		t.Fatalf("ipsec down: %v\n%s", err, out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(s.engine.Status().IKESAs) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("engine keeps %+v after charon's Delete", s.engine.Status().IKESAs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(s.log.String(), "deleted by peer") {
		t.Errorf("engine log lacks the deletion:\n%s", s.log.String())
	}
}

// TestNATTWithCharon: charon's forceencaps fakes a NAT (RFC 7296 2.23):
// the engine sees the peer "behind a NAT", moves IKE to port 4500 and
// installs UDP-encapsulated ESP (RFC 3948); with ESP in the kernel a ping
// passes over it.
func TestNATTWithCharon(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	for _, role := range []string{"cygnet-initiator", "charon-initiator"} {
		t.Run(role, func(t *testing.T) {
			s := newSetupWith(t, setupOptions{ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16",
				charonConn: "authby=psk\n\tforceencaps=yes"})
			if role == "cygnet-initiator" {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				if err := s.engine.Initiate(ctx, "swan"); err != nil && hostKernelHasESP() {
					t.Fatal(err)
				}
			} else {
				s.charon.Up("cyg")
			}
			checkCharon(t, s.charon, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384")
			sa := checkEngine(t, s.engine, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", role == "cygnet-initiator")
			if !sa.NATRemote || sa.Local.Port() != 4500 || sa.Remote.Port() != 4500 {
				t.Errorf("engine: NAT remote %v, %v <-> %v; want the peer behind a NAT on 4500", sa.NATRemote, sa.Local, sa.Remote)
			}
			if !hostKernelHasESP() {
				return
			}
			if len(sa.Children) != 1 || !sa.Children[0].Encap {
				t.Fatalf("engine children %+v, want one UDP-encapsulated", sa.Children)
			}
			if out, ok := s.charon.WaitStatus("INSTALLED, TRANSPORT, reqid 1, ESP in UDP", 60*time.Second); !ok {
				t.Fatalf("charon has no UDP-encapsulated CHILD_SA:\n%s", out)
			}
			if out, err := s.pair.A.Output("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2"); err != nil {
				t.Fatalf("ping over ESP in UDP: %v\n%s", err, out)
			}
			if ch := s.engine.Status().IKESAs[0].Children[0]; ch.BytesIn == 0 || ch.BytesOut == 0 {
				t.Errorf("ESP byte counters in %d out %d", ch.BytesIn, ch.BytesOut)
			}
		})
	}
}

// TestFailuresWithCharon: a wrong pre-shared key and disjoint proposals
// fail cleanly in both roles, with the reasons in the engine's log and
// error.
func TestFailuresWithCharon(t *testing.T) {
	vmtest.RequireRoot(t)
	swan.Require(t)
	wrongPSK := func(cfg *ike.Config) { cfg.Credentials.SharedKeys[0].Secret = []byte("not the key charon has") }
	otherProposal := func(cfg *ike.Config) {
		cfg.Connections[0].IKE = []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESCBC, KeyBits: 128}},
			Integ: []message.IntegID{message.IntegHMACSHA2256128}, PRF: []message.PRFID{message.PRFHMACSHA2256},
			DH: []message.DHGroup{message.DHMODP2048}}}
	}
	cases := []struct {
		name    string
		engine  func(*ike.Config)
		role    string
		wantErr string // engine's Initiate error (cygnet-initiator)
		wantLog string // engine's log
	}{
		{"wrong psk", wrongPSK, "cygnet-initiator", "AUTHENTICATION_FAILED", "authentication failed"},
		{"wrong psk", wrongPSK, "charon-initiator", "", "authentication failed"},
		{"disjoint proposals", otherProposal, "cygnet-initiator", "NO_PROPOSAL_CHOSEN", "NO_PROPOSAL_CHOSEN"},
		{"disjoint proposals", otherProposal, "charon-initiator", "",
			"peer offered [AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384], we accept [AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048]"},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.role, func(t *testing.T) {
			s := newSetupWith(t, setupOptions{ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16", engine: c.engine})
			if c.role == "cygnet-initiator" {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				err := s.engine.Initiate(ctx, "swan")
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Initiate: %v, want %s", err, c.wantErr)
				}
			} else {
				// `ipsec up` exits 0 whatever happens; the logs and
				// status tell.
				s.charon.Up("cyg")
			}
			if log := s.log.String(); !strings.Contains(log, c.wantLog) || !strings.Contains(log, "conn=swan") {
				t.Errorf("engine log lacks %q:\n%s", c.wantLog, log)
			}
			if st := s.engine.Status(); len(st.IKESAs) != 0 {
				t.Errorf("engine keeps %+v", st.IKESAs)
			}
			if st := s.charon.StatusAll(); strings.Contains(st, "ESTABLISHED") {
				t.Errorf("charon established:\n%s", st)
			}
		})
	}
}
