package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// CertAuth is what the engine has in hand when a peer authenticates with a
// certificate: its IKE_AUTH payloads and our trust configuration.
type CertAuth struct {
	Certs []*message.Cert // the peer's CERT payloads, in order
	// Roots are the configured CA certificates (ipsec.d/cacerts, or
	// rightca); Intermediates are further configured CA certificates that
	// may complete the peer's chain (strongSwan loads intermediates from
	// cacerts too).
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	CRLs          []*x509.RevocationList
	Now           time.Time

	IDType message.IDType // the peer's IDi or IDr
	IDData []byte

	Method   message.AuthMethod // the peer's AUTH payload
	AuthData []byte
	Octets   []byte // the peer's signed octets (RFC 7296 2.15)
}

// VerifyCertAuth authenticates a peer that sent certificates, in the order
// that gives the clearest error: parse the CERT payloads, validate the
// chain (VerifyChain), check that the end-entity certificate vouches for
// the identity the peer claimed (MatchCertID), then verify the AUTH
// signature with its key (Verify). On success it returns the peer's
// end-entity certificate; the engine still compares the peer's identity
// with the configured remote ID.
func VerifyCertAuth(a CertAuth) (*x509.Certificate, error) {
	leaf, sent, err := ParseCertPayloads(a.Certs)
	if err != nil {
		return nil, err
	}
	inters := make([]*x509.Certificate, 0, len(sent)+len(a.Intermediates))
	inters = append(inters, sent...)
	inters = append(inters, a.Intermediates...)
	if err := VerifyChain(leaf, inters, a.Roots, a.CRLs, a.Now); err != nil {
		return nil, err
	}
	if err := MatchCertID(leaf, a.IDType, a.IDData); err != nil {
		return nil, err
	}
	if err := Verify(leaf.PublicKey, a.Method, a.AuthData, a.Octets); err != nil {
		return nil, fmt.Errorf("auth: AUTH of %q: %w", printDN(leaf.RawSubject), err)
	}
	return leaf, nil
}

// ErrNoCredential is returned by ChooseCredential when none fits.
var ErrNoCredential = errors.New("auth: no local certificate")

// ChooseCredential picks among our certificate chains (each leaf first,
// optionally up to the root, see SelectChain) using the peer's CERTREQ
// payloads, and returns the CERT payloads to send and the index of the
// chosen candidate, so the engine can sign with the matching key.
func ChooseCredential(candidates [][]*x509.Certificate, certReqs []*message.CertReq) (index int, certs []*message.Cert, err error) {
	if len(candidates) == 0 {
		return 0, nil, ErrNoCredential
	}
	requested, err := ParseCertReqs(certReqs)
	if err != nil {
		return 0, nil, err
	}
	chain, _ := SelectChain(candidates, requested)
	if len(chain) == 0 {
		return 0, nil, ErrNoCredential
	}
	for i, c := range candidates {
		if len(c) > 0 && c[0] == chain[0] {
			index = i
			break
		}
	}
	return index, CertPayloads(chain), nil
}
