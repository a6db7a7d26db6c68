package ike

import (
	"crypto/x509"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/auth"
	"github.com/cygnet-ipsec/cygnet/ike/keymat"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// buildAuth computes this end's AUTH payload over signed (RFC 7296 2.15).
// peer is the peer's identity, which selects the pre-shared key.
func (sa *ikeSA) buildAuth(c *Connection, signed []byte, peer Identity) (*message.Auth, error) {
	switch c.Local.Auth {
	case AuthPSK:
		key, ok := sa.e.config().Credentials.LookupPSK(sa.localID, peer)
		if !ok {
			return nil, fmt.Errorf("ike: conn %s: no pre-shared key for %v - %v", c.Name, sa.localID, peer)
		}
		return &message.Auth{Method: message.AuthSharedKey, Data: keymat.PSKAuth(sa.prf, key.Secret, signed)}, nil
	case AuthPubkey:
		return sa.signAuth(c, signed)
	}
	return nil, fmt.Errorf("ike: conn %s: local authentication %v cannot be used", c.Name, c.Local.Auth)
}

// verifyAuth checks the peer's AUTH payload (RFC 7296 2.15) for the
// connection's remote authentication class. PSK comparisons are constant
// time (keymat.VerifyPSKAuth).
func (sa *ikeSA) verifyAuth(c *Connection, peer Identity, auth *message.Auth, ps message.Payloads, signed []byte) error {
	switch c.Remote.Auth {
	case AuthPSK:
		if auth.Method != message.AuthSharedKey {
			return fmt.Errorf("%w: peer used %v, conn %s expects a pre-shared key", ErrAuthFailed, auth.Method, c.Name)
		}
		// As strongSwan's PSK authenticator, every key that applies to
		// the pair is tried: the two ends may rank their files
		// differently (each puts its peer's match first), and the peer
		// then signs with a key this end would not have chosen.
		keys := sa.e.config().Credentials.PSKCandidates(sa.localID, peer)
		if len(keys) == 0 {
			return fmt.Errorf("%w: no pre-shared key for %v - %v", ErrAuthFailed, sa.localID, peer)
		}
		for _, key := range keys {
			if keymat.VerifyPSKAuth(sa.prf, key.Secret, signed, auth.Data) {
				return nil
			}
		}
		return fmt.Errorf("%w: pre-shared key AUTH of %v does not verify with any of %d key(s)", ErrAuthFailed, peer, len(keys))
	case AuthPubkey:
		return sa.verifySignature(c, peer, auth, ps, signed)
	}
	return fmt.Errorf("%w: conn %s: remote authentication %v cannot be used", ErrAuthFailed, c.Name, c.Remote.Auth)
}

// certReq returns the CERTREQ payload naming the CAs we accept (RFC 7296
// 3.7) when a connection of this SA authenticates its peer with
// certificates: rightca, or every configured CA.
func (sa *ikeSA) certReq() *message.CertReq {
	var cas []*x509.Certificate
	for _, c := range append([]*Connection{sa.conn}, sa.candidates...) {
		if c == nil || c.Remote.Auth != AuthPubkey || c.Remote.SigKey != nil {
			continue
		}
		if c.Remote.CA != nil {
			cas = append(cas, c.Remote.CA)
		} else {
			cas = append(cas, sa.e.config().Credentials.CACerts...)
		}
	}
	return auth.CertReqPayload(cas)
}
