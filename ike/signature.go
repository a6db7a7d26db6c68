package ike

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// localCertPayloads returns the CERT payloads this end sends: its
// certificate when it authenticates with one (RFC 7296 3.6).
func (sa *ikeSA) localCertPayloads(c *Connection) ([]message.Payload, error) {
	if c.Local.Auth != AuthPubkey || c.Local.Cert == nil {
		return nil, nil
	}
	return []message.Payload{&message.Cert{Encoding: message.CertX509Signature, Data: c.Local.Cert.Raw}}, nil
}

// signAuth signs the AUTH octets with this end's private key.
func (sa *ikeSA) signAuth(c *Connection, signed []byte) (*message.Auth, error) {
	return nil, fmt.Errorf("ike: conn %s: public key authentication is not built into this engine yet", c.Name)
}

// verifySignature checks a signature AUTH payload.
func (sa *ikeSA) verifySignature(c *Connection, peer Identity, auth *message.Auth, ps message.Payloads, signed []byte) error {
	return fmt.Errorf("%w: conn %s: public key authentication is not built into this engine yet", errAuthFailed, c.Name)
}
