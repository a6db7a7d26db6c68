package ike

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/auth"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// localCredential finds this end's signing key and, unless it
// authenticates with a raw public key, its certificate: Local.Cert, else a
// known certificate (Credentials.Certs) that vouches for the local ID and
// whose private key is loaded.
func (sa *ikeSA) localCredential(c *Connection) (crypto.Signer, *x509.Certificate, error) {
	creds := &sa.e.config().Credentials
	keyFor := func(pub crypto.PublicKey) crypto.Signer {
		for _, k := range creds.PrivateKeys {
			if auth.KeyMatches(k, pub) {
				return k
			}
		}
		return nil
	}
	switch {
	case c.Local.Cert != nil:
		if k := keyFor(c.Local.Cert); k != nil {
			return k, c.Local.Cert, nil
		}
		return nil, nil, fmt.Errorf("ike: conn %s: no private key for certificate %q", c.Name, c.Local.Cert.Subject.String())
	case c.Local.SigKey != nil:
		if k := keyFor(c.Local.SigKey); k != nil {
			return k, nil, nil
		}
		return nil, nil, fmt.Errorf("ike: conn %s: no private key for the configured raw public key", c.Name)
	}
	for _, cert := range creds.Certs {
		if !c.Local.ID.IsZero() && auth.MatchCertID(cert, c.Local.ID.Type, c.Local.ID.Data) != nil {
			continue
		}
		if k := keyFor(cert); k != nil {
			return k, cert, nil
		}
	}
	return nil, nil, fmt.Errorf("ike: conn %s: no certificate with a private key for %v", c.Name, c.Local.ID)
}

// localCertPayloads returns the CERT payloads this end sends (RFC 7296
// 3.6): its certificate and the intermediates the peer did not say it
// trusts (its CERTREQ), or nothing for PSK and raw-key authentication.
func (sa *ikeSA) localCertPayloads(c *Connection) ([]message.Payload, error) {
	if c.Local.Auth != AuthPubkey {
		return nil, nil
	}
	_, cert, err := sa.localCredential(c)
	if err != nil || cert == nil {
		return nil, err
	}
	creds := &sa.e.config().Credentials
	pool := append(append([]*x509.Certificate(nil), creds.Certs...), creds.CACerts...)
	chain := auth.BuildChain(cert, pool)
	_, certs, err := auth.ChooseCredential([][]*x509.Certificate{chain}, sa.peerCertReqs)
	if err != nil {
		return nil, fmt.Errorf("ike: conn %s: %w", c.Name, err)
	}
	out := make([]message.Payload, 0, len(certs))
	for _, p := range certs {
		out = append(out, p)
	}
	return out, nil
}

// localCertID is the identity a certificate implies when no local ID is
// configured (its subject DN, as strongSwan uses).
func localCertID(cert *x509.Certificate) Identity {
	t, d := auth.CertID(cert)
	return Identity{Type: t, Data: d}
}

// signAuth signs the AUTH octets with this end's private key (RFC 7296
// 2.15), with RFC 7427 Digital Signature when the peer announced hash
// algorithms it shares with us.
func (sa *ikeSA) signAuth(c *Connection, signed []byte) (*message.Auth, error) {
	key, _, err := sa.localCredential(c)
	if err != nil {
		return nil, err
	}
	method, data, err := auth.Sign(key, signed, sa.peerHashes, sa.e.rand)
	if err != nil {
		return nil, fmt.Errorf("ike: conn %s: signing AUTH: %w", c.Name, err)
	}
	return &message.Auth{Method: method, Data: data}, nil
}

// verifySignature checks a signature AUTH payload: against the configured
// raw public key (rightsigkey), else against the peer's certificate, which
// must chain to a configured CA (rightca, or any CA), pass the CRLs and
// vouch for the identity the peer claimed.
func (sa *ikeSA) verifySignature(c *Connection, peer Identity, a *message.Auth, ps message.Payloads, signed []byte) error {
	if a.Method == message.AuthSharedKey || a.Method == message.AuthNull {
		return fmt.Errorf("%w: peer used %v, conn %s expects a signature", ErrAuthFailed, a.Method, c.Name)
	}
	if c.Remote.SigKey != nil {
		if err := auth.Verify(c.Remote.SigKey, a.Method, a.Data, signed); err != nil {
			return fmt.Errorf("%w: raw public key: %w", ErrAuthFailed, err)
		}
		return nil
	}
	var certs []*message.Cert
	for _, p := range ps {
		if x, ok := p.(*message.Cert); ok {
			certs = append(certs, x)
		}
	}
	creds := &sa.e.config().Credentials
	if len(certs) == 0 {
		// The peer may rely on us having its certificate (rightcert).
		if c.Remote.Cert == nil {
			return fmt.Errorf("%w: peer sent no certificate and none is configured", ErrAuthFailed)
		}
		certs = []*message.Cert{auth.CertPayload(c.Remote.Cert)}
	}
	roots := creds.CACerts
	if c.Remote.CA != nil {
		roots = []*x509.Certificate{c.Remote.CA}
	}
	leaf, err := auth.VerifyCertAuth(auth.CertAuth{
		Certs: certs, Roots: roots, Intermediates: creds.CACerts, CRLs: creds.CRLs, Now: sa.e.clock.Now(),
		IDType: peer.Type, IDData: peer.Data, Method: a.Method, AuthData: a.Data, Octets: signed,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	if c.Remote.Cert != nil && !leaf.Equal(c.Remote.Cert) {
		return fmt.Errorf("%w: peer's certificate %q is not the configured one", ErrAuthFailed, leaf.Subject.String())
	}
	return nil
}

// peerCapabilities records what the peer's IKE_SA_INIT message announced
// for signature authentication: its hash algorithms (RFC 7427 4) and the
// CAs it trusts (CERTREQ, RFC 7296 3.7).
func (sa *ikeSA) peerCapabilities(ps message.Payloads) {
	if n := ps.Notify(message.SignatureHashAlgorithms); n != nil {
		if hs, err := message.DecodeHashAlgorithms(n.Data); err == nil {
			sa.peerHashes = hs
		}
	}
	sa.addCertReqs(ps)
}

func (sa *ikeSA) addCertReqs(ps message.Payloads) {
	for _, p := range ps {
		if cr, ok := p.(*message.CertReq); ok {
			sa.peerCertReqs = append(sa.peerCertReqs, &message.CertReq{Encoding: cr.Encoding, Data: clone(cr.Data)})
		}
	}
}
