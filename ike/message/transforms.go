package message

import "fmt"

// This file holds the IANA "Internet Key Exchange Version 2 (IKEv2) Parameters"
// registries that name transforms and identities. They are shared by the codec,
// the suite table and the engine configuration, so they live in the lowest
// package. String methods print the names the RFCs use, so logs read like the
// specifications.

// TransformType is the Transform Type of a transform substructure (RFC 7296 3.3.2).
type TransformType uint8

// Transform types (RFC 7296 3.3.2).
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformKE    TransformType = 4 // "D-H" in RFC 7296, "Key Exchange Method" since RFC 9370
	TransformESN   TransformType = 5
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformKE:
		return "KE"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("TRANSFORM_TYPE_%d", uint8(t))
}

// EncrID is a Transform ID of type ENCR (RFC 7296 3.3.2, RFC 4106, RFC 5282).
type EncrID uint16

// Encryption algorithms.
const (
	Encr3DES             EncrID = 3 // RFC 2451, 168-bit key, no Key Length attribute
	EncrAESCBC           EncrID = 12
	EncrAESCTR           EncrID = 13
	EncrAESGCM8          EncrID = 18
	EncrAESGCM12         EncrID = 19
	EncrAESGCM16         EncrID = 20
	EncrChaCha20Poly1305 EncrID = 28
)

func (e EncrID) String() string {
	switch e {
	case Encr3DES:
		return "ENCR_3DES"
	case EncrAESCBC:
		return "ENCR_AES_CBC"
	case EncrAESCTR:
		return "ENCR_AES_CTR"
	case EncrAESGCM8:
		return "ENCR_AES_GCM_8"
	case EncrAESGCM12:
		return "ENCR_AES_GCM_12"
	case EncrAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return fmt.Sprintf("ENCR_%d", uint16(e))
}

// IsAEAD reports whether e is a combined-mode cipher, which takes no separate
// integrity transform (RFC 5282 8).
func (e EncrID) IsAEAD() bool {
	switch e {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return true
	}
	return false
}

// PRFID is a Transform ID of type PRF (RFC 7296 3.3.2, RFC 4868).
type PRFID uint16

// Pseudo-random functions.
const (
	PRFHMACMD5     PRFID = 1
	PRFHMACSHA1    PRFID = 2
	PRFAES128XCBC  PRFID = 4
	PRFHMACSHA2256 PRFID = 5
	PRFHMACSHA2384 PRFID = 6
	PRFHMACSHA2512 PRFID = 7
)

func (p PRFID) String() string {
	switch p {
	case PRFHMACMD5:
		return "PRF_HMAC_MD5"
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFAES128XCBC:
		return "PRF_AES128_XCBC"
	case PRFHMACSHA2256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA2384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA2512:
		return "PRF_HMAC_SHA2_512"
	}
	return fmt.Sprintf("PRF_%d", uint16(p))
}

// IntegID is a Transform ID of type INTEG (RFC 7296 3.3.2, RFC 4868).
type IntegID uint16

// Integrity algorithms.
const (
	IntegNone           IntegID = 0
	IntegHMACSHA196     IntegID = 2
	IntegAESXCBC96      IntegID = 5
	IntegHMACSHA2256128 IntegID = 12
	IntegHMACSHA2384192 IntegID = 13
	IntegHMACSHA2512256 IntegID = 14
)

func (i IntegID) String() string {
	switch i {
	case IntegNone:
		return "NONE"
	case IntegHMACSHA196:
		return "AUTH_HMAC_SHA1_96"
	case IntegAESXCBC96:
		return "AUTH_AES_XCBC_96"
	case IntegHMACSHA2256128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA2384192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA2512256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("AUTH_%d", uint16(i))
}

// DHGroup is a Transform ID of type KE (RFC 7296 3.3.2, RFC 5903, RFC 8031, RFC 9370).
type DHGroup uint16

// Key exchange methods.
const (
	DHNone     DHGroup = 0
	DHMODP1024 DHGroup = 2 // RFC 2409 6.2
	DHMODP1536 DHGroup = 5 // RFC 3526 2
	DHMODP2048 DHGroup = 14
	DHMODP3072 DHGroup = 15
	DHMODP4096 DHGroup = 16
	DHECP256   DHGroup = 19
	DHECP384   DHGroup = 20
	DHECP521   DHGroup = 21
	// DHMODP2048S256 is RFC 5114 2.3's 2048-bit MODP group with a 256-bit
	// prime order subgroup.
	DHMODP2048S256 DHGroup = 24
	DHECP224BP     DHGroup = 27 // RFC 6954, brainpoolP224r1
	DHECP256BP     DHGroup = 28 // RFC 6954, brainpoolP256r1
	DHECP384BP     DHGroup = 29 // RFC 6954, brainpoolP384r1
	DHECP512BP     DHGroup = 30 // RFC 6954, brainpoolP512r1
	DHCurve25519   DHGroup = 31
	DHCurve448     DHGroup = 32
	DHMLKEM512     DHGroup = 35
	DHMLKEM768     DHGroup = 36
	DHMLKEM1024    DHGroup = 37
)

func (g DHGroup) String() string {
	switch g {
	case DHNone:
		return "NONE"
	case DHMODP1024:
		return "MODP_1024"
	case DHMODP1536:
		return "MODP_1536"
	case DHMODP2048:
		return "MODP_2048"
	case DHMODP3072:
		return "MODP_3072"
	case DHMODP4096:
		return "MODP_4096"
	case DHECP256:
		return "ECP_256"
	case DHECP384:
		return "ECP_384"
	case DHECP521:
		return "ECP_521"
	case DHMODP2048S256:
		return "MODP_2048_256"
	case DHECP224BP:
		return "ECP_224_BP"
	case DHECP256BP:
		return "ECP_256_BP"
	case DHECP384BP:
		return "ECP_384_BP"
	case DHECP512BP:
		return "ECP_512_BP"
	case DHCurve25519:
		return "CURVE_25519"
	case DHCurve448:
		return "CURVE_448"
	case DHMLKEM512:
		return "ML_KEM_512"
	case DHMLKEM768:
		return "ML_KEM_768"
	case DHMLKEM1024:
		return "ML_KEM_1024"
	}
	return fmt.Sprintf("KE_%d", uint16(g))
}

// ESNID is a Transform ID of type ESN (RFC 7296 3.3.2).
type ESNID uint16

// Extended sequence numbers.
const (
	ESNNo  ESNID = 0
	ESNYes ESNID = 1
)

func (e ESNID) String() string {
	switch e {
	case ESNNo:
		return "NO_EXT_SEQ"
	case ESNYes:
		return "EXT_SEQ"
	}
	return fmt.Sprintf("ESN_%d", uint16(e))
}

// ProtocolID names the protocol of a proposal, Delete or Notify (RFC 7296 3.3.1).
type ProtocolID uint8

// Protocol IDs.
const (
	ProtoIKE ProtocolID = 1
	ProtoAH  ProtocolID = 2
	ProtoESP ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return fmt.Sprintf("PROTO_%d", uint8(p))
}

// IDType is the ID Type of an identification payload (RFC 7296 3.5).
type IDType uint8

// Identification types.
const (
	IDIPv4      IDType = 1
	IDFQDN      IDType = 2
	IDRFC822    IDType = 3
	IDIPv6      IDType = 5
	IDDERASN1DN IDType = 9
	IDDERASN1GN IDType = 10
	IDKeyID     IDType = 11
)

func (t IDType) String() string {
	switch t {
	case IDIPv4:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822:
		return "ID_RFC822_ADDR"
	case IDIPv6:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDERASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return fmt.Sprintf("ID_%d", uint8(t))
}

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 3.8, RFC 4754, RFC 7427).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASig           AuthMethod = 1
	AuthSharedKey        AuthMethod = 2
	AuthDSS              AuthMethod = 3
	AuthECDSA256         AuthMethod = 9
	AuthECDSA384         AuthMethod = 10
	AuthECDSA521         AuthMethod = 11
	AuthNull             AuthMethod = 13
	AuthDigitalSignature AuthMethod = 14
)

func (a AuthMethod) String() string {
	switch a {
	case AuthRSASig:
		return "RSA_DIGITAL_SIGNATURE"
	case AuthSharedKey:
		return "SHARED_KEY_MESSAGE_INTEGRITY_CODE"
	case AuthDSS:
		return "DSS_DIGITAL_SIGNATURE"
	case AuthECDSA256:
		return "ECDSA_SHA256_P256"
	case AuthECDSA384:
		return "ECDSA_SHA384_P384"
	case AuthECDSA521:
		return "ECDSA_SHA512_P521"
	case AuthNull:
		return "NULL_AUTH"
	case AuthDigitalSignature:
		return "DIGITAL_SIGNATURE"
	}
	return fmt.Sprintf("AUTH_METHOD_%d", uint8(a))
}

// Transform is one transform substructure (RFC 7296 3.3.2). KeyBits is the
// Key Length attribute (RFC 7296 3.3.5), 0 when absent.
type Transform struct {
	Type    TransformType
	ID      uint16
	KeyBits int
}

func (t Transform) String() string {
	var name string
	switch t.Type {
	case TransformENCR:
		name = EncrID(t.ID).String()
	case TransformPRF:
		name = PRFID(t.ID).String()
	case TransformINTEG:
		name = IntegID(t.ID).String()
	case TransformKE:
		name = DHGroup(t.ID).String()
	case TransformESN:
		name = ESNID(t.ID).String()
	default:
		name = fmt.Sprintf("%v_%d", t.Type, t.ID)
	}
	if t.KeyBits != 0 {
		return fmt.Sprintf("%s_%d", name, t.KeyBits)
	}
	return name
}

// Proposal is one proposal substructure of an SA payload (RFC 7296 3.3.1).
// Transforms keep wire order.
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte
	Transforms []Transform
}
