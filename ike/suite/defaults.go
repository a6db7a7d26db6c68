package suite

import "github.com/cygnet-ipsec/cygnet/ike/message"

// strongSwan 5.9's defaults, restricted to what cygnet implements.
//
// With ipsec.conf, charon uses ike=aes128-sha256-modp3072 and
// esp=aes128-sha256 when the keywords are absent, and unless a proposal
// list ends in '!' (strict) it appends its own default proposals after the
// configured ones (strongSwan ipsec.conf(5), "ike" and "esp"; proposal.c
// proposal_create_default and proposal_create_default_aead). Those default
// proposals list, for IKE, every algorithm of at least 128-bit strength the
// loaded plugins offer, then weaker ones (SHA-1, 3DES, MODP_2048); for ESP
// AES-GCM-16 then AES-CBC with HMAC-SHA2 and SHA-1/XCBC.
//
// cygnet keeps the same proposals and the same order but drops what it does
// not implement or considers insecure: 3DES, AES-CTR, Camellia, CCM,
// ChaCha20-Poly1305, HMAC-SHA1-96, AES-XCBC/CMAC, PRF_HMAC_SHA1, the
// Brainpool curves, Curve448, MODP_6144/8192. Peers that negotiate from
// strongSwan's defaults pick AES, SHA-2 and ECP/Curve25519/MODP_3072 first,
// so the result against a stock strongSwan is what two stock strongSwans
// would negotiate. The order of KE groups within strongSwan's default
// proposal depends on its plugin load order; the one below is the common
// openssl-plugin order (ECC first, then MODP >= 3072, then MODP_2048).
//
// The slices are shared: callers copy before modifying (Numbered copies).
var (
	// DefaultIKE is the IKE proposal list of a strongSwan 5.9 ipsec.conf conn
	// without ike=: the ike= default, then the non-AEAD then the AEAD default
	// proposal.
	DefaultIKE = []message.Proposal{
		{Protocol: message.ProtoIKE, Transforms: []message.Transform{
			EncrTransform(message.EncrAESCBC, 128),
			IntegTransform(message.IntegHMACSHA2256128),
			PRFTransform(message.PRFHMACSHA2256),
			KETransform(message.DHMODP3072),
		}},
		{Protocol: message.ProtoIKE, Transforms: []message.Transform{
			EncrTransform(message.EncrAESCBC, 128),
			EncrTransform(message.EncrAESCBC, 192),
			EncrTransform(message.EncrAESCBC, 256),
			IntegTransform(message.IntegHMACSHA2256128),
			IntegTransform(message.IntegHMACSHA2384192),
			IntegTransform(message.IntegHMACSHA2512256),
			PRFTransform(message.PRFHMACSHA2256),
			PRFTransform(message.PRFHMACSHA2384),
			PRFTransform(message.PRFHMACSHA2512),
			KETransform(message.DHECP256),
			KETransform(message.DHECP384),
			KETransform(message.DHECP521),
			KETransform(message.DHCurve25519),
			KETransform(message.DHMODP3072),
			KETransform(message.DHMODP4096),
			KETransform(message.DHMODP2048),
		}},
		{Protocol: message.ProtoIKE, Transforms: []message.Transform{
			EncrTransform(message.EncrAESGCM16, 128),
			EncrTransform(message.EncrAESGCM16, 192),
			EncrTransform(message.EncrAESGCM16, 256),
			PRFTransform(message.PRFHMACSHA2256),
			PRFTransform(message.PRFHMACSHA2384),
			PRFTransform(message.PRFHMACSHA2512),
			KETransform(message.DHECP256),
			KETransform(message.DHECP384),
			KETransform(message.DHECP521),
			KETransform(message.DHCurve25519),
			KETransform(message.DHMODP3072),
			KETransform(message.DHMODP4096),
			KETransform(message.DHMODP2048),
		}},
	}

	// DefaultESP is the ESP proposal list of a strongSwan 5.9 ipsec.conf conn
	// without esp=: the esp= default, then the AEAD and the non-AEAD default
	// proposal. None has PFS.
	DefaultESP = []message.Proposal{
		{Protocol: message.ProtoESP, Transforms: []message.Transform{
			EncrTransform(message.EncrAESCBC, 128),
			IntegTransform(message.IntegHMACSHA2256128),
			ESNTransform(message.ESNNo),
		}},
		{Protocol: message.ProtoESP, Transforms: []message.Transform{
			EncrTransform(message.EncrAESGCM16, 128),
			EncrTransform(message.EncrAESGCM16, 192),
			EncrTransform(message.EncrAESGCM16, 256),
			ESNTransform(message.ESNNo),
		}},
		{Protocol: message.ProtoESP, Transforms: []message.Transform{
			EncrTransform(message.EncrAESCBC, 128),
			EncrTransform(message.EncrAESCBC, 192),
			EncrTransform(message.EncrAESCBC, 256),
			IntegTransform(message.IntegHMACSHA2256128),
			IntegTransform(message.IntegHMACSHA2384192),
			IntegTransform(message.IntegHMACSHA2512256),
			ESNTransform(message.ESNNo),
		}},
	}
)
