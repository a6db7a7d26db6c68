// Package auth signs and verifies the IKEv2 AUTH payload for every
// public-key authentication method, and handles the certificates and raw
// public keys behind them.
//
// The engine computes the signed octets (RFC 7296 2.15, keymat.SignedOctets)
// and hands them here; shared-key (PSK) AUTH stays in package keymat.
//
// Methods:
//
//   - RSA Digital Signature (method 1, RFC 7296 3.8): RSASSA-PKCS1-v1_5 with
//     SHA-1. SHA-1 is used only because method 1 fixes it; it is what every
//     IKEv2 implementation (strongSwan included) produces for method 1.
//   - ECDSA with SHA-256/384/512 on P-256/384/521 (methods 9, 10, 11,
//     RFC 4754): the signature is r||s, each zero-padded to the curve size.
//   - Digital Signature (method 14, RFC 7427): a length-prefixed ASN.1
//     AlgorithmIdentifier followed by the signature. Sign uses it whenever
//     the peer sent SIGNATURE_HASH_ALGORITHMS (RFC 7427 4). Supported:
//     RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256/384/512, ECDSA with
//     SHA-256/384/512 (DER Ecdsa-Sig-Value, RFC 7427 3) and Ed25519
//     (RFC 8420). SHA-1 is refused for method 14: RFC 7427 lets peers pick
//     any hash, so accepting SHA-1 there would let an attacker-chosen weak
//     hash in; method 1 remains for peers that only speak RFC 7296.
//
// Certificates (RFC 7296 3.6, 3.7): CERT payloads carrying X.509 signature
// certificates (encoding 4), CERTREQ CA key hashes (SHA-1 of the CA's
// subjectPublicKeyInfo), chain verification against configured CAs with
// optional CRLs, and matching a certificate against an IKE identity.
//
// Raw public keys (strongSwan's leftsigkey/rightsigkey): ParsePublicKey
// reads PEM or DER SubjectPublicKeyInfo and PKCS#1 RSA public keys; the
// peer is then authenticated by Verify with that key.
//
// Nothing here handles secrets except the private key passed to Sign, which
// never appears in errors. All inputs that come from the peer (AUTH data,
// certificates, CERTREQ data) are validated and bad input returns an error
// prefixed "auth: ", never a panic.
package auth
