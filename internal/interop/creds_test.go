package interop

import (
	"crypto"
	"crypto/x509/pkix"
	"fmt"
	"sync"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
)

// authKind is how the two ends authenticate.
type authKind string

const (
	authPSK    authKind = "psk"
	authECDSA  authKind = "ecdsa"
	authRSA    authKind = "rsa"
	authPubkey authKind = "pubkey" // raw public keys, leftsigkey/rightsigkey
)

const psk = "cygnet interop pre-shared key 0123456789"

// creds are the certificates and keys of one key type, made once per test
// binary: RSA key generation under emulation takes seconds.
type creds struct {
	ca        *authtest.Credential
	moon, sun *authtest.Credential
}

var (
	credsOnce  sync.Once
	credsByKey map[authKind]*creds
	rawKeys    map[string]crypto.Signer
	credsErr   error
)

func subject(host string) pkix.Name {
	return pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: host + ".strongswan.org"}
}

// dn is the ipsec.conf form of subject(host).
func dn(host string) string { return fmt.Sprintf("C=CH, O=Cygnet, CN=%s.strongswan.org", host) }

func loadCreds(t testing.TB) {
	t.Helper()
	credsOnce.Do(func() {
		credsByKey = map[authKind]*creds{}
		for _, kt := range []struct {
			a authKind
			k authtest.KeyType
		}{{authECDSA, authtest.ECDSAP256}, {authRSA, authtest.RSA2048}} {
			ca, err := authtest.NewCA(authtest.Options{Subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "Cygnet " + string(kt.a) + " Root CA"}, Key: kt.k})
			if err != nil {
				credsErr = err
				return
			}
			c := &creds{ca: ca}
			for _, h := range []string{"moon", "sun"} {
				leaf, err := ca.Issue(authtest.Options{Subject: subject(h), DNSNames: []string{h + ".strongswan.org"}, Key: kt.k})
				if err != nil {
					credsErr = err
					return
				}
				if h == "moon" {
					c.moon = leaf
				} else {
					c.sun = leaf
				}
			}
			credsByKey[kt.a] = c
		}
		rawKeys = map[string]crypto.Signer{}
		for _, h := range []string{"moon", "sun"} {
			k, err := authtest.NewKey(authtest.ECDSAP256)
			if err != nil {
				credsErr = err
				return
			}
			rawKeys[h] = k
		}
	})
	if credsErr != nil {
		t.Fatalf("interop: credentials: %v", credsErr)
	}
}
