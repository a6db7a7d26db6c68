package message

import "fmt"

// This file holds the IANA "Internet Key Exchange Version 2 (IKEv2)
// Parameters" registries the codec itself needs: exchange, payload, notify,
// certificate encoding, traffic selector and hash algorithm numbers. Values
// were checked against the IANA registry and the RFC cited next to each.

// ExchangeType is the Exchange Type field of the IKE header (RFC 7296 3.1).
type ExchangeType uint8

// Exchange types.
const (
	IKESAInit        ExchangeType = 34 // RFC 7296
	IKEAuth          ExchangeType = 35 // RFC 7296
	CreateChildSA    ExchangeType = 36 // RFC 7296
	Informational    ExchangeType = 37 // RFC 7296
	IKESessionResume ExchangeType = 38 // RFC 5723
	IKEIntermediate  ExchangeType = 43 // RFC 9242
	IKEFollowupKE    ExchangeType = 44 // RFC 9370
)

func (e ExchangeType) String() string {
	switch e {
	case IKESAInit:
		return "IKE_SA_INIT"
	case IKEAuth:
		return "IKE_AUTH"
	case CreateChildSA:
		return "CREATE_CHILD_SA"
	case Informational:
		return "INFORMATIONAL"
	case IKESessionResume:
		return "IKE_SESSION_RESUME"
	case IKEIntermediate:
		return "IKE_INTERMEDIATE"
	case IKEFollowupKE:
		return "IKE_FOLLOWUP_KE"
	}
	return fmt.Sprintf("EXCHANGE_%d", uint8(e))
}

// Flags are the flag bits of the IKE header (RFC 7296 3.1).
type Flags uint8

// Header flags. The remaining bits are reserved: sent as zero, ignored and
// preserved on receipt.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: sender can speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response
)

func (f Flags) String() string {
	s := ""
	add := func(name string) {
		if s != "" {
			s += "|"
		}
		s += name
	}
	if f&FlagInitiator != 0 {
		add("I")
	}
	if f&FlagVersion != 0 {
		add("V")
	}
	if f&FlagResponse != 0 {
		add("R")
	}
	if rest := f &^ (FlagInitiator | FlagVersion | FlagResponse); rest != 0 {
		add(fmt.Sprintf("0x%02x", uint8(rest)))
	}
	if s == "" {
		return "0"
	}
	return s
}

// PayloadType is a Next Payload value (RFC 7296 3.2).
type PayloadType uint8

// Payload types.
const (
	PayloadNone    PayloadType = 0  // No Next Payload
	PayloadSA      PayloadType = 33 // RFC 7296 3.3
	PayloadKE      PayloadType = 34 // RFC 7296 3.4
	PayloadIDi     PayloadType = 35 // RFC 7296 3.5
	PayloadIDr     PayloadType = 36 // RFC 7296 3.5
	PayloadCERT    PayloadType = 37 // RFC 7296 3.6
	PayloadCERTREQ PayloadType = 38 // RFC 7296 3.7
	PayloadAUTH    PayloadType = 39 // RFC 7296 3.8
	PayloadNonce   PayloadType = 40 // RFC 7296 3.9
	PayloadNotify  PayloadType = 41 // RFC 7296 3.10
	PayloadDelete  PayloadType = 42 // RFC 7296 3.11
	PayloadVendor  PayloadType = 43 // RFC 7296 3.12
	PayloadTSi     PayloadType = 44 // RFC 7296 3.13
	PayloadTSr     PayloadType = 45 // RFC 7296 3.13
	PayloadSK      PayloadType = 46 // RFC 7296 3.14
	PayloadCP      PayloadType = 47 // RFC 7296 3.15
	PayloadEAP     PayloadType = 48 // RFC 7296 3.16
	PayloadGSPM    PayloadType = 49 // RFC 6467
	PayloadSKF     PayloadType = 53 // RFC 7383 2.5
	PayloadPS      PayloadType = 54 // RFC 8019
)

func (p PayloadType) String() string {
	switch p {
	case PayloadNone:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "Nonce"
	case PayloadNotify:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendor:
		return "V"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadGSPM:
		return "GSPM"
	case PayloadSKF:
		return "SKF"
	case PayloadPS:
		return "PS"
	}
	return fmt.Sprintf("PAYLOAD_%d", uint8(p))
}

// NotifyType is the Notify Message Type of a Notify payload (RFC 7296 3.10.1).
// Types below 16384 report errors; 16384 and above carry status.
type NotifyType uint16

// Notify error types.
const (
	UnsupportedCriticalPayload NotifyType = 1  // RFC 7296
	InvalidIKESPI              NotifyType = 4  // RFC 7296
	InvalidMajorVersion        NotifyType = 5  // RFC 7296
	InvalidSyntax              NotifyType = 7  // RFC 7296
	InvalidMessageID           NotifyType = 9  // RFC 7296
	InvalidSPI                 NotifyType = 11 // RFC 7296
	NoProposalChosen           NotifyType = 14 // RFC 7296
	InvalidKEPayload           NotifyType = 17 // RFC 7296
	AuthenticationFailed       NotifyType = 24 // RFC 7296
	SinglePairRequired         NotifyType = 34 // RFC 7296
	NoAdditionalSAs            NotifyType = 35 // RFC 7296
	InternalAddressFailure     NotifyType = 36 // RFC 7296
	FailedCPRequired           NotifyType = 37 // RFC 7296
	TSUnacceptable             NotifyType = 38 // RFC 7296
	InvalidSelectors           NotifyType = 39 // RFC 7296
	UnacceptableAddresses      NotifyType = 40 // RFC 4555
	UnexpectedNATDetected      NotifyType = 41 // RFC 4555
	UseAssignedHoA             NotifyType = 42 // RFC 5026
	TemporaryFailure           NotifyType = 43 // RFC 7296
	ChildSANotFound            NotifyType = 44 // RFC 7296
	InvalidGroupID             NotifyType = 45 // G-IKEv2 (draft-ietf-ipsecme-g-ikev2)
	AuthorizationFailed        NotifyType = 46 // G-IKEv2 (draft-ietf-ipsecme-g-ikev2)
	StateNotFound              NotifyType = 47 // RFC 9370
)

// Notify status types.
const (
	InitialContact                  NotifyType = 16384 // RFC 7296
	SetWindowSize                   NotifyType = 16385 // RFC 7296
	AdditionalTSPossible            NotifyType = 16386 // RFC 7296
	IPCompSupported                 NotifyType = 16387 // RFC 7296
	NATDetectionSourceIP            NotifyType = 16388 // RFC 7296
	NATDetectionDestinationIP       NotifyType = 16389 // RFC 7296
	Cookie                          NotifyType = 16390 // RFC 7296
	UseTransportMode                NotifyType = 16391 // RFC 7296
	HTTPCertLookupSupported         NotifyType = 16392 // RFC 7296
	RekeySA                         NotifyType = 16393 // RFC 7296
	ESPTFCPaddingNotSupported       NotifyType = 16394 // RFC 7296
	NonFirstFragmentsAlso           NotifyType = 16395 // RFC 7296
	MOBIKESupported                 NotifyType = 16396 // RFC 4555
	AdditionalIP4Address            NotifyType = 16397 // RFC 4555
	AdditionalIP6Address            NotifyType = 16398 // RFC 4555
	NoAdditionalAddresses           NotifyType = 16399 // RFC 4555
	UpdateSAAddresses               NotifyType = 16400 // RFC 4555
	Cookie2                         NotifyType = 16401 // RFC 4555
	NoNATsAllowed                   NotifyType = 16402 // RFC 4555
	AuthLifetime                    NotifyType = 16403 // RFC 4478
	MultipleAuthSupported           NotifyType = 16404 // RFC 4739
	AnotherAuthFollows              NotifyType = 16405 // RFC 4739
	RedirectSupported               NotifyType = 16406 // RFC 5685
	Redirect                        NotifyType = 16407 // RFC 5685
	RedirectedFrom                  NotifyType = 16408 // RFC 5685
	TicketLTOpaque                  NotifyType = 16409 // RFC 5723
	TicketRequest                   NotifyType = 16410 // RFC 5723
	TicketAck                       NotifyType = 16411 // RFC 5723
	TicketNack                      NotifyType = 16412 // RFC 5723
	TicketOpaque                    NotifyType = 16413 // RFC 5723
	LinkID                          NotifyType = 16414 // RFC 5739
	UseWESPMode                     NotifyType = 16415 // RFC 5840
	ROHCSupported                   NotifyType = 16416 // RFC 5857
	EAPOnlyAuthentication           NotifyType = 16417 // RFC 5998
	ChildlessIKEv2Supported         NotifyType = 16418 // RFC 6023
	QuickCrashDetection             NotifyType = 16419 // RFC 6290
	IKEv2MessageIDSyncSupported     NotifyType = 16420 // RFC 6311
	IPsecReplayCounterSyncSupported NotifyType = 16421 // RFC 6311
	IKEv2MessageIDSync              NotifyType = 16422 // RFC 6311
	IPsecReplayCounterSync          NotifyType = 16423 // RFC 6311
	SecurePasswordMethods           NotifyType = 16424 // RFC 6467
	PSKPersist                      NotifyType = 16425 // RFC 6631
	PSKConfirm                      NotifyType = 16426 // RFC 6631
	ERXSupported                    NotifyType = 16427 // RFC 6867
	IFOMCapability                  NotifyType = 16428 // 3GPP TS 24.303
	SenderRequestID                 NotifyType = 16429 // G-IKEv2 (draft-ietf-ipsecme-g-ikev2)
	IKEv2FragmentationSupported     NotifyType = 16430 // RFC 7383
	SignatureHashAlgorithms         NotifyType = 16431 // RFC 7427
	CloneIKESASupported             NotifyType = 16432 // RFC 7791
	CloneIKESA                      NotifyType = 16433 // RFC 7791
	Puzzle                          NotifyType = 16434 // RFC 8019
	UsePPK                          NotifyType = 16435 // RFC 8784
	PPKIdentity                     NotifyType = 16436 // RFC 8784
	NoPPKAuth                       NotifyType = 16437 // RFC 8784
	IntermediateExchangeSupported   NotifyType = 16438 // RFC 9242
	IP4Allowed                      NotifyType = 16439 // RFC 8983
	IP6Allowed                      NotifyType = 16440 // RFC 8983
	AdditionalKeyExchange           NotifyType = 16441 // RFC 9370
	UseAggfrag                      NotifyType = 16442 // RFC 9347
	SupportedAuthMethods            NotifyType = 16443 // RFC 9593
	SAResourceInfo                  NotifyType = 16444 // RFC 9611
)

// IsError reports whether n is in the error range (RFC 7296 3.10.1): an
// unrecognised error type in a response means the request failed.
func (n NotifyType) IsError() bool { return n < 16384 }

var notifyNames = map[NotifyType]string{
	UnsupportedCriticalPayload:      "UNSUPPORTED_CRITICAL_PAYLOAD",
	InvalidIKESPI:                   "INVALID_IKE_SPI",
	InvalidMajorVersion:             "INVALID_MAJOR_VERSION",
	InvalidSyntax:                   "INVALID_SYNTAX",
	InvalidMessageID:                "INVALID_MESSAGE_ID",
	InvalidSPI:                      "INVALID_SPI",
	NoProposalChosen:                "NO_PROPOSAL_CHOSEN",
	InvalidKEPayload:                "INVALID_KE_PAYLOAD",
	AuthenticationFailed:            "AUTHENTICATION_FAILED",
	SinglePairRequired:              "SINGLE_PAIR_REQUIRED",
	NoAdditionalSAs:                 "NO_ADDITIONAL_SAS",
	InternalAddressFailure:          "INTERNAL_ADDRESS_FAILURE",
	FailedCPRequired:                "FAILED_CP_REQUIRED",
	TSUnacceptable:                  "TS_UNACCEPTABLE",
	InvalidSelectors:                "INVALID_SELECTORS",
	UnacceptableAddresses:           "UNACCEPTABLE_ADDRESSES",
	UnexpectedNATDetected:           "UNEXPECTED_NAT_DETECTED",
	UseAssignedHoA:                  "USE_ASSIGNED_HoA",
	TemporaryFailure:                "TEMPORARY_FAILURE",
	ChildSANotFound:                 "CHILD_SA_NOT_FOUND",
	InvalidGroupID:                  "INVALID_GROUP_ID",
	AuthorizationFailed:             "AUTHORIZATION_FAILED",
	StateNotFound:                   "STATE_NOT_FOUND",
	InitialContact:                  "INITIAL_CONTACT",
	SetWindowSize:                   "SET_WINDOW_SIZE",
	AdditionalTSPossible:            "ADDITIONAL_TS_POSSIBLE",
	IPCompSupported:                 "IPCOMP_SUPPORTED",
	NATDetectionSourceIP:            "NAT_DETECTION_SOURCE_IP",
	NATDetectionDestinationIP:       "NAT_DETECTION_DESTINATION_IP",
	Cookie:                          "COOKIE",
	UseTransportMode:                "USE_TRANSPORT_MODE",
	HTTPCertLookupSupported:         "HTTP_CERT_LOOKUP_SUPPORTED",
	RekeySA:                         "REKEY_SA",
	ESPTFCPaddingNotSupported:       "ESP_TFC_PADDING_NOT_SUPPORTED",
	NonFirstFragmentsAlso:           "NON_FIRST_FRAGMENTS_ALSO",
	MOBIKESupported:                 "MOBIKE_SUPPORTED",
	AdditionalIP4Address:            "ADDITIONAL_IP4_ADDRESS",
	AdditionalIP6Address:            "ADDITIONAL_IP6_ADDRESS",
	NoAdditionalAddresses:           "NO_ADDITIONAL_ADDRESSES",
	UpdateSAAddresses:               "UPDATE_SA_ADDRESSES",
	Cookie2:                         "COOKIE2",
	NoNATsAllowed:                   "NO_NATS_ALLOWED",
	AuthLifetime:                    "AUTH_LIFETIME",
	MultipleAuthSupported:           "MULTIPLE_AUTH_SUPPORTED",
	AnotherAuthFollows:              "ANOTHER_AUTH_FOLLOWS",
	RedirectSupported:               "REDIRECT_SUPPORTED",
	Redirect:                        "REDIRECT",
	RedirectedFrom:                  "REDIRECTED_FROM",
	TicketLTOpaque:                  "TICKET_LT_OPAQUE",
	TicketRequest:                   "TICKET_REQUEST",
	TicketAck:                       "TICKET_ACK",
	TicketNack:                      "TICKET_NACK",
	TicketOpaque:                    "TICKET_OPAQUE",
	LinkID:                          "LINK_ID",
	UseWESPMode:                     "USE_WESP_MODE",
	ROHCSupported:                   "ROHC_SUPPORTED",
	EAPOnlyAuthentication:           "EAP_ONLY_AUTHENTICATION",
	ChildlessIKEv2Supported:         "CHILDLESS_IKEV2_SUPPORTED",
	QuickCrashDetection:             "QUICK_CRASH_DETECTION",
	IKEv2MessageIDSyncSupported:     "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	IPsecReplayCounterSyncSupported: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	IKEv2MessageIDSync:              "IKEV2_MESSAGE_ID_SYNC",
	IPsecReplayCounterSync:          "IPSEC_REPLAY_COUNTER_SYNC",
	SecurePasswordMethods:           "SECURE_PASSWORD_METHODS",
	PSKPersist:                      "PSK_PERSIST",
	PSKConfirm:                      "PSK_CONFIRM",
	ERXSupported:                    "ERX_SUPPORTED",
	IFOMCapability:                  "IFOM_CAPABILITY",
	SenderRequestID:                 "SENDER_REQUEST_ID",
	IKEv2FragmentationSupported:     "IKEV2_FRAGMENTATION_SUPPORTED",
	SignatureHashAlgorithms:         "SIGNATURE_HASH_ALGORITHMS",
	CloneIKESASupported:             "CLONE_IKE_SA_SUPPORTED",
	CloneIKESA:                      "CLONE_IKE_SA",
	Puzzle:                          "PUZZLE",
	UsePPK:                          "USE_PPK",
	PPKIdentity:                     "PPK_IDENTITY",
	NoPPKAuth:                       "NO_PPK_AUTH",
	IntermediateExchangeSupported:   "INTERMEDIATE_EXCHANGE_SUPPORTED",
	IP4Allowed:                      "IP4_ALLOWED",
	IP6Allowed:                      "IP6_ALLOWED",
	AdditionalKeyExchange:           "ADDITIONAL_KEY_EXCHANGE",
	UseAggfrag:                      "USE_AGGFRAG",
	SupportedAuthMethods:            "SUPPORTED_AUTH_METHODS",
	SAResourceInfo:                  "SA_RESOURCE_INFO",
}

func (n NotifyType) String() string {
	if s, ok := notifyNames[n]; ok {
		return s
	}
	if n.IsError() {
		return fmt.Sprintf("ERROR_%d", uint16(n))
	}
	return fmt.Sprintf("STATUS_%d", uint16(n))
}

// CertEncoding is the Cert Encoding of a CERT or CERTREQ payload (RFC 7296 3.6).
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7X509         CertEncoding = 1  // RFC 7296
	CertPGP               CertEncoding = 2  // RFC 7296
	CertDNSSignedKey      CertEncoding = 3  // RFC 7296
	CertX509Signature     CertEncoding = 4  // RFC 7296
	CertKerberos          CertEncoding = 6  // RFC 7296
	CertCRL               CertEncoding = 7  // RFC 7296
	CertARL               CertEncoding = 8  // RFC 7296
	CertSPKI              CertEncoding = 9  // RFC 7296
	CertX509Attribute     CertEncoding = 10 // RFC 7296
	CertRawRSAKey         CertEncoding = 11 // RFC 7296, deprecated by RFC 7670
	CertHashURLX509       CertEncoding = 12 // RFC 7296
	CertHashURLX509Bundle CertEncoding = 13 // RFC 7296
	CertOCSPContent       CertEncoding = 14 // RFC 4806
	CertRawPublicKey      CertEncoding = 15 // RFC 7670
)

func (c CertEncoding) String() string {
	switch c {
	case CertPKCS7X509:
		return "PKCS #7 wrapped X.509 certificate"
	case CertPGP:
		return "PGP Certificate"
	case CertDNSSignedKey:
		return "DNS Signed Key"
	case CertX509Signature:
		return "X.509 Certificate - Signature"
	case CertKerberos:
		return "Kerberos Token"
	case CertCRL:
		return "Certificate Revocation List (CRL)"
	case CertARL:
		return "Authority Revocation List (ARL)"
	case CertSPKI:
		return "SPKI Certificate"
	case CertX509Attribute:
		return "X.509 Certificate - Attribute"
	case CertRawRSAKey:
		return "Raw RSA Key"
	case CertHashURLX509:
		return "Hash and URL of X.509 certificate"
	case CertHashURLX509Bundle:
		return "Hash and URL of X.509 bundle"
	case CertOCSPContent:
		return "OCSP Content"
	case CertRawPublicKey:
		return "Raw Public Key"
	}
	return fmt.Sprintf("CERT_ENCODING_%d", uint8(c))
}

// TSType is the TS Type of a traffic selector (RFC 7296 3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7  // RFC 7296
	TSIPv6AddrRange TSType = 8  // RFC 7296
	TSFCAddrRange   TSType = 9  // RFC 4595
	TSSecLabel      TSType = 10 // RFC 9478
)

func (t TSType) String() string {
	switch t {
	case TSIPv4AddrRange:
		return "TS_IPV4_ADDR_RANGE"
	case TSIPv6AddrRange:
		return "TS_IPV6_ADDR_RANGE"
	case TSFCAddrRange:
		return "TS_FC_ADDR_RANGE"
	case TSSecLabel:
		return "TS_SECLABEL"
	}
	return fmt.Sprintf("TS_%d", uint8(t))
}

// HashAlgorithm is an IKEv2 hash algorithm identifier carried in the
// SIGNATURE_HASH_ALGORITHMS notification (RFC 7427 4).
type HashAlgorithm uint16

// Hash algorithms.
const (
	HashSHA1     HashAlgorithm = 1 // RFC 7427
	HashSHA2_256 HashAlgorithm = 2 // RFC 7427
	HashSHA2_384 HashAlgorithm = 3 // RFC 7427
	HashSHA2_512 HashAlgorithm = 4 // RFC 7427
	HashIdentity HashAlgorithm = 5 // RFC 8420
)

func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA2_256:
		return "SHA2_256"
	case HashSHA2_384:
		return "SHA2_384"
	case HashSHA2_512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return fmt.Sprintf("HASH_%d", uint16(h))
}

// EncodeHashAlgorithms encodes the data of a SIGNATURE_HASH_ALGORITHMS
// notification (RFC 7427 4): the identifiers as 2-octet values in order.
func EncodeHashAlgorithms(algs []HashAlgorithm) []byte {
	out := make([]byte, 0, 2*len(algs))
	for _, a := range algs {
		out = append(out, byte(a>>8), byte(a))
	}
	return out
}

// DecodeHashAlgorithms decodes the data of a SIGNATURE_HASH_ALGORITHMS
// notification (RFC 7427 4).
func DecodeHashAlgorithms(data []byte) ([]HashAlgorithm, error) {
	if len(data)%2 != 0 {
		return nil, syntaxf("SIGNATURE_HASH_ALGORITHMS data of %d bytes", len(data))
	}
	out := make([]HashAlgorithm, 0, len(data)/2)
	for i := 0; i < len(data); i += 2 {
		out = append(out, HashAlgorithm(data[i])<<8|HashAlgorithm(data[i+1]))
	}
	return out, nil
}
