package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ParseCertificate parses one DER X.509 certificate, naming what failed.
func ParseCertificate(der []byte) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("auth: empty certificate")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("auth: parse X.509 certificate (%d octets): %w", len(der), err)
	}
	return c, nil
}

// CertPayload returns the CERT payload carrying cert as an X.509
// signature certificate (encoding 4, RFC 7296 3.6).
func CertPayload(cert *x509.Certificate) *message.Cert {
	return &message.Cert{Encoding: message.CertX509Signature, Data: cert.Raw}
}

// CertPayloads returns the CERT payloads for chain, end-entity first as
// RFC 7296 3.6 requires ("the first certificate provided MUST contain the
// public key used to verify the AUTH field").
func CertPayloads(chain []*x509.Certificate) []*message.Cert {
	out := make([]*message.Cert, 0, len(chain))
	for _, c := range chain {
		out = append(out, CertPayload(c))
	}
	return out
}

// MaxPeerCerts bounds the CERT payloads a peer may send: every one is
// parsed and offered to path building before the peer is authenticated,
// and real chains are a handful of certificates deep.
const MaxPeerCerts = 16

// ParseCertPayloads turns received CERT payloads into the peer's
// end-entity certificate (the first, RFC 7296 3.6) and the rest as
// candidate intermediates. Only X.509 signature certificates (encoding 4)
// are accepted; any other encoding is an error naming it, since silently
// skipping a peer's certificate would only move the failure to a less
// clear place.
func ParseCertPayloads(certs []*message.Cert) (leaf *x509.Certificate, intermediates []*x509.Certificate, err error) {
	if len(certs) == 0 {
		return nil, nil, errors.New("auth: no CERT payload")
	}
	if len(certs) > MaxPeerCerts {
		return nil, nil, fmt.Errorf("auth: %d CERT payloads, at most %d are accepted", len(certs), MaxPeerCerts)
	}
	for i, c := range certs {
		if c == nil {
			return nil, nil, fmt.Errorf("auth: CERT payload %d is empty", i+1)
		}
		if c.Encoding != message.CertX509Signature {
			return nil, nil, fmt.Errorf("auth: CERT payload %d has encoding %v (%d); only X.509 signature certificates (4) are supported", i+1, c.Encoding, uint8(c.Encoding))
		}
		x, err := ParseCertificate(c.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: CERT payload %d: %w", i+1, err)
		}
		if i == 0 {
			leaf = x
		} else {
			intermediates = append(intermediates, x)
		}
	}
	return leaf, intermediates, nil
}

// CAKeyHashSize is the size of one Certification Authority entry of an
// X.509 CERTREQ (RFC 7296 3.7).
const CAKeyHashSize = sha1.Size

// CAKeyHash is the RFC 7296 3.7 identifier of a CA: the SHA-1 hash of its
// subjectPublicKeyInfo. SHA-1 here is an identifier fixed by the RFC, not
// a security property.
func CAKeyHash(ca *x509.Certificate) [CAKeyHashSize]byte {
	return sha1.Sum(ca.RawSubjectPublicKeyInfo)
}

// CertReqData is the Certification Authority field of a CERTREQ payload
// (encoding 4) naming the given trusted CAs: their key hashes
// concatenated, in order, duplicates dropped.
func CertReqData(cas []*x509.Certificate) []byte {
	out := make([]byte, 0, CAKeyHashSize*len(cas))
	for _, ca := range cas {
		h := CAKeyHash(ca)
		dup := false
		for i := 0; i < len(out); i += CAKeyHashSize {
			if bytes.Equal(out[i:i+CAKeyHashSize], h[:]) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, h[:]...)
		}
	}
	return out
}

// CertReqPayload is the CERTREQ payload for cas, or nil if there are none.
func CertReqPayload(cas []*x509.Certificate) *message.CertReq {
	if len(cas) == 0 {
		return nil
	}
	return &message.CertReq{Encoding: message.CertX509Signature, Data: CertReqData(cas)}
}

// ParseCertReqs collects the CA key hashes of received CERTREQ payloads
// (RFC 7296 3.7). CERTREQs of other encodings are ignored, as the RFC
// allows; an X.509 one whose length is not a multiple of 20 is an error.
// An X.509 CERTREQ with no hashes is legal and adds nothing.
func ParseCertReqs(reqs []*message.CertReq) ([][CAKeyHashSize]byte, error) {
	var out [][CAKeyHashSize]byte
	for i, r := range reqs {
		if r == nil || r.Encoding != message.CertX509Signature {
			continue
		}
		if len(r.Data)%CAKeyHashSize != 0 {
			return nil, fmt.Errorf("auth: CERTREQ payload %d: %d octets of CA hashes is not a multiple of %d", i+1, len(r.Data), CAKeyHashSize)
		}
		for j := 0; j < len(r.Data); j += CAKeyHashSize {
			out = append(out, [CAKeyHashSize]byte(r.Data[j:j+CAKeyHashSize]))
		}
	}
	return out, nil
}

// SelectChain chooses which of our certificate chains to send and how much
// of it. Each candidate is leaf first, then its issuers in order, ideally
// up to and including the root (which is never sent, but whose key hash a
// peer may request).
//
// With requested CA hashes (from CERTREQ), the first candidate with a
// certificate whose key hash is requested wins, and the chain is cut just
// before that certificate: the peer already trusts it. Without a match, or
// without CERTREQ, the first candidate is sent without its self-signed
// root; ok reports whether a requested CA matched (false also when nothing
// was requested). With no candidates chain is nil.
func SelectChain(candidates [][]*x509.Certificate, requested [][CAKeyHashSize]byte) (chain []*x509.Certificate, ok bool) {
	for _, cand := range candidates {
		for i := 1; i < len(cand); i++ {
			h := CAKeyHash(cand[i])
			for _, r := range requested {
				if h == r {
					return cand[:i], true
				}
			}
		}
	}
	if len(candidates) == 0 || len(candidates[0]) == 0 {
		return nil, false
	}
	c := candidates[0]
	if len(c) > 1 && isSelfSigned(c[len(c)-1]) {
		c = c[:len(c)-1]
	}
	return c, false
}

// BuildChain orders leaf's issuers from pool into a chain (leaf first),
// following subject/issuer names and checking each signature, until a
// self-signed certificate (included) or no issuer is found. Use it to make
// SelectChain candidates from configured certificates.
func BuildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	cur := leaf
	for len(chain) <= len(pool) && !isSelfSigned(cur) {
		var next *x509.Certificate
		for _, c := range pool {
			if c == cur || containsCert(chain, c) {
				continue
			}
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// isSelfSigned reports whether c names itself as issuer and its signature
// verifies with its own key.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
