package auth_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/auth"
	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// The IKE_AUTH certificate flow, both sides. In the engine the signed
// octets come from keymat.SignedOctets (RFC 7296 2.15) and the hash lists
// from the SIGNATURE_HASH_ALGORITHMS notifications of IKE_SA_INIT.
func Example() {
	ca := authtest.Must(authtest.NewCA(authtest.Options{Subject: pkix.Name{CommonName: "Cygnet CA"}}))
	moon := authtest.Must(ca.Issue(authtest.Options{
		Subject:  pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "moon"},
		DNSNames: []string{"moon.example.org"},
	}))

	// Initiator (sun) sent CERTREQ for its CA and announced its hashes.
	certReq := auth.CertReqPayload([]*x509.Certificate{ca.Cert})
	peerHashes, _ := message.DecodeHashAlgorithms(message.EncodeHashAlgorithms(auth.SupportedHashes()))

	// Responder (moon): choose the chain, sign, send IDr + CERT + AUTH.
	idx, certs, err := auth.ChooseCredential([][]*x509.Certificate{moon.Chain()}, []*message.CertReq{certReq})
	if err != nil {
		panic(err)
	}
	idType, idData := auth.CertID(moon.Cert)
	octets := []byte("responder signed octets")
	method, data, err := auth.Sign(moon.Key, octets, peerHashes, rand.Reader)
	if err != nil {
		panic(err)
	}
	fmt.Println("candidate", idx, "sends", len(certs), "CERT,", idType, "and AUTH method", method)

	// Initiator: authenticate the responder, then match the configured
	// rightid.
	leaf, err := auth.VerifyCertAuth(auth.CertAuth{
		Certs: certs, Roots: []*x509.Certificate{ca.Cert}, Now: time.Now(),
		IDType: idType, IDData: idData,
		Method: method, AuthData: data, Octets: octets,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("authenticated", leaf.Subject.CommonName)
	fmt.Println("rightid=@moon.example.org:", auth.MatchCertID(leaf, message.IDFQDN, []byte("moon.example.org")) == nil)
	fmt.Println("rightid=@sun.example.org:", auth.MatchCertID(leaf, message.IDFQDN, []byte("sun.example.org")))
	// Output:
	// candidate 0 sends 1 CERT, ID_DER_ASN1_DN and AUTH method DIGITAL_SIGNATURE
	// authenticated moon
	// rightid=@moon.example.org: true
	// rightid=@sun.example.org: auth: identity "sun.example.org" is not among the certificate's subjectAltName DNS names ["moon.example.org"]
}
