package auth

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// OIDExtKeyUsageIPsecIKE is id-kp-ipsecIKE (RFC 4945 5.1.3.12), which
// crypto/x509 reports in UnknownExtKeyUsage.
var OIDExtKeyUsageIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}

// VerifyChain checks that leaf chains to one of roots (the configured CA
// certificates) through intermediates (typically the peer's further CERT
// payloads) at time now, and that no certificate in the chain is revoked by
// crls.
//
// Path validation is crypto/x509's: signatures, validity periods, basic
// constraints, name constraints, path length. On top of that:
//
//   - Extended key usage, as strongSwan treats it: a leaf without EKU is
//     accepted, and so is one listing serverAuth, clientAuth, ipsecIKE
//     (RFC 4945 5.1.3.12), or anyExtendedKeyUsage. serverAuth is not
//     required on either side. EKUs of CAs are not checked.
//   - CRLs: for every certificate of the chain, each CRL whose issuer name
//     is the certificate's issuer must be signed by that issuer's key
//     (else: error, a forged or misfiled CRL), must be current at now
//     (thisUpdate <= now < nextUpdate; an expired CRL is an error, not a
//     pass), and must not list the certificate's serial. A certificate
//     whose issuer has no CRL given is not checked (strongSwan's default
//     "crlcheck" without strictcrlpolicy behaves the same).
//
// The key usage extension is not checked, as strongSwan does not; SHA-1
// certificate signatures are refused (crypto/x509). Revocation information
// comes only from crls: no OCSP, no fetching from CRL distribution points.
//
// If several chains validate, the first that passes the CRL checks is
// enough; the error of the first chain is returned otherwise.
func VerifyChain(leaf *x509.Certificate, intermediates, roots []*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	if leaf == nil {
		return errors.New("auth: no end-entity certificate")
	}
	if len(roots) == 0 {
		return fmt.Errorf("auth: certificate %q: no trusted CA certificates configured", printDN(leaf.RawSubject))
	}
	if err := checkEKU(leaf); err != nil {
		return err
	}
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, c := range intermediates {
		interPool.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		CurrentTime:   now,
		// EKU is checked by checkEKU with IKE's rules.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("auth: certificate %q (serial %s, issuer %q): %w",
			printDN(leaf.RawSubject), serialString(leaf), printDN(leaf.RawIssuer), err)
	}
	var first error
	for _, chain := range chains {
		err := checkCRLs(chain, crls, now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// checkEKU applies the extended key usage rules of VerifyChain to leaf.
func checkEKU(leaf *x509.Certificate) error {
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageAny:
			return nil
		}
	}
	for _, oid := range leaf.UnknownExtKeyUsage {
		if oid.Equal(OIDExtKeyUsageIPsecIKE) {
			return nil
		}
	}
	return fmt.Errorf("auth: certificate %q: extended key usage allows none of serverAuth, clientAuth, ipsecIKE", printDN(leaf.RawSubject))
}

// checkCRLs checks every non-root certificate of a verified chain (leaf
// first, root last) against the CRLs of its issuer.
func checkCRLs(chain []*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, crl := range crls {
			if crl == nil || !bytes.Equal(crl.RawIssuer, cert.RawIssuer) {
				continue
			}
			ca := printDN(issuer.RawSubject)
			if err := crl.CheckSignatureFrom(issuer); err != nil {
				return fmt.Errorf("auth: CRL of CA %q is not signed by that CA's key: %w", ca, err)
			}
			if now.Before(crl.ThisUpdate) {
				return fmt.Errorf("auth: CRL of CA %q is not valid before %s", ca, crl.ThisUpdate.UTC().Format(time.RFC3339))
			}
			if !crl.NextUpdate.IsZero() && !now.Before(crl.NextUpdate) {
				return fmt.Errorf("auth: CRL of CA %q expired at %s", ca, crl.NextUpdate.UTC().Format(time.RFC3339))
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("auth: certificate %q serial %s revoked by CA %q on %s",
						printDN(cert.RawSubject), serialString(cert), ca, e.RevocationTime.UTC().Format(time.RFC3339))
				}
			}
		}
	}
	return nil
}

// serialString prints a serial number as colon-separated hex, as
// strongSwan and OpenSSL show it.
func serialString(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return "none"
	}
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	out := make([]byte, 0, 3*len(b))
	const digits = "0123456789abcdef"
	for i, x := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}
