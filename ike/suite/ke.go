package suite

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// KeyExchange is one side's ephemeral key exchange for a KE payload
// (RFC 7296 3.4). Public is the Key Exchange Data to send; SharedSecret
// validates the peer's Key Exchange Data and returns g^ir in the encoding
// RFC 7296 2.14 and the group's RFC prescribe. A KeyExchange is meant for a
// single exchange.
type KeyExchange interface {
	Group() message.DHGroup
	Public() []byte
	SharedSecret(peer []byte) ([]byte, error)
}

// ErrInvalidPeerKey is wrapped by SharedSecret errors about the peer's
// value; the exchange layer answers them with INVALID_SYNTAX (RFC 7296 3.4).
var ErrInvalidPeerKey = errors.New("suite: invalid peer key exchange data")

// NewKeyExchange generates an ephemeral key pair for group g.
//
// rand is used for the MODP groups. For the elliptic-curve groups
// crypto/ecdh.GenerateKey takes rand but, since Go 1.26, ignores it unless
// GODEBUG=cryptocustomrand=1 is set, always drawing from the system's
// secure source: nothing in cygnet relies on deterministic EC keys (tests
// use KeyExchangeFromPrivate for known answers; testing/cryptotest's
// SetGlobalRandom is the supported way to make the whole process
// deterministic).
func NewKeyExchange(g message.DHGroup, rand io.Reader) (KeyExchange, error) {
	if rand == nil {
		return nil, errors.New("suite: nil random source")
	}
	if m := modpGroup(g); m != nil {
		x, err := m.randomExponent(rand)
		if err != nil {
			return nil, err
		}
		return m.newKE(x), nil
	}
	if g == message.DHMLKEM768 {
		return newMLKEM768()
	}
	if c := ecdhCurve(g); c != nil {
		k, err := c.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("suite: generating %v key: %w", g, err)
		}
		return &ecKE{group: g, priv: k}, nil
	}
	return nil, fmt.Errorf("suite: unsupported key exchange method %v", g)
}

// KeyExchangeFromPrivate rebuilds a KeyExchange from a private value: a
// big-endian exponent for MODP groups, the scalar in crypto/ecdh's encoding
// for ECP groups and X25519, the 64-octet seed (d | z) for ML-KEM-768. It exists for known-answer tests and for
// replaying recorded exchanges; a private value must never be reused in
// production.
func KeyExchangeFromPrivate(g message.DHGroup, priv []byte) (KeyExchange, error) {
	if m := modpGroup(g); m != nil {
		x := new(big.Int).SetBytes(priv)
		if !m.validExponent(x) {
			return nil, fmt.Errorf("suite: %v private exponent out of range", g)
		}
		return m.newKE(x), nil
	}
	if g == message.DHMLKEM768 {
		dk, err := mlkem.NewDecapsulationKey768(priv)
		if err != nil {
			return nil, fmt.Errorf("suite: %v seed: %w", g, err)
		}
		return &mlkemKE{dk: dk}, nil
	}
	if c := ecdhCurve(g); c != nil {
		k, err := c.NewPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("suite: %v private key: %w", g, err)
		}
		return &ecKE{group: g, priv: k}, nil
	}
	return nil, fmt.Errorf("suite: unsupported key exchange method %v", g)
}

// PublicLen returns the length of group g's Key Exchange Data as sent by
// the initiator, and 0 for groups cygnet does not implement.
func PublicLen(g message.DHGroup) int {
	if m := modpGroup(g); m != nil {
		return m.size
	}
	switch g {
	case message.DHECP256:
		return 64
	case message.DHECP384:
		return 96
	case message.DHECP521:
		return 132
	case message.DHCurve25519:
		return 32
	case message.DHMLKEM768:
		// The initiator's encapsulation key; the responder's ciphertext is
		// shorter (see Respond).
		return mlkem768PublicLen
	}
	return 0
}

// --- MODP groups (RFC 2409, RFC 3526, RFC 5114) ---

// modp is a finite-field Diffie-Hellman group. The RFC 2409 and RFC 3526
// groups have generator 2 and a safe prime (p = 2q + 1, q prime); the
// RFC 5114 group has its own generator of a small prime-order subgroup,
// whose order q is then kept to check peer values against (RFC 6989 2.2).
type modp struct {
	group message.DHGroup
	p     *big.Int
	pm1   *big.Int // p - 1
	g     *big.Int // the generator
	// q is the order of the subgroup g generates when it is much smaller
	// than p (RFC 5114); nil for safe primes.
	q    *big.Int
	size int // bytes of the modulus, the length of KE data and g^ir
	// expBits is the private exponent length for the safe-prime groups.
	// RFC 3526 8 estimates the exponent needed for each group at 2x the
	// group's strength: at most 320, 420 and 480 bits for 2048, 3072 and
	// 4096-bit groups. 512 bits covers all of them with margin and keeps
	// the exponentiation far cheaper than a full-length exponent. With a
	// subgroup order q the exponent is drawn from [1, q-1] instead.
	expBits int
}

// The prime's hex digits of each group as its RFC prints them. The groups
// below 2048 bits and the RFC 5114 group are weak or of doubtful origin
// (RFC 8247 2.4 has 2 and 5 at SHOULD NOT / MUST NOT for new
// implementations, 22-24 at SHOULD NOT); they are implemented because
// strongSwan 5.9 still negotiates them with ike=/esp=, are never in
// cygnet's defaults and are marked Insecure in the table.
const (
	// RFC 2409 6.2, the second Oakley group:
	// 2^1024 - 2^960 - 1 + 2^64 * { [2^894 pi] + 129093 }.
	modp1024Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	// RFC 3526 2: 2^1536 - 2^1472 - 1 + 2^64 * { [2^1406 pi] + 741804 }.
	modp1536Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
	// RFC 3526 3: 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }.
	modp2048Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718" +
		"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
	// RFC 3526 4: 2^3072 - 2^3008 - 1 + 2^64 * { [2^2942 pi] + 1690314 }.
	modp3072Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718" +
		"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33" +
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864" +
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2" +
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
	// RFC 3526 5: 2^4096 - 2^4032 - 1 + 2^64 * { [2^3966 pi] + 240904 }.
	modp4096Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718" +
		"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33" +
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864" +
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2" +
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7" +
		"88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8" +
		"DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2" +
		"233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9" +
		"93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"

	// RFC 5114 2.3: 2048-bit MODP group with 256-bit prime order subgroup.
	modp2048s256P = "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00" +
		"E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C" +
		"209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B" +
		"6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76" +
		"B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8E" +
		"F6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026" +
		"C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103" +
		"A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597"
	modp2048s256G = "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA125" +
		"10DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62" +
		"901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B" +
		"777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193" +
		"B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0A" +
		"DB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915" +
		"B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C3" +
		"2F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659"
	modp2048s256Q = "8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3"
)

var (
	modp1024     = newMODP(message.DHMODP1024, modp1024Hex, "2", "")
	modp1536     = newMODP(message.DHMODP1536, modp1536Hex, "2", "")
	modp2048     = newMODP(message.DHMODP2048, modp2048Hex, "2", "")
	modp3072     = newMODP(message.DHMODP3072, modp3072Hex, "2", "")
	modp4096     = newMODP(message.DHMODP4096, modp4096Hex, "2", "")
	modp2048s256 = newMODP(message.DHMODP2048S256, modp2048s256P, modp2048s256G, modp2048s256Q)
)

func newMODP(grp message.DHGroup, hexPrime, hexGen, hexOrder string) *modp {
	num := func(h string) *big.Int {
		n, ok := new(big.Int).SetString(h, 16)
		if !ok {
			panic("suite: bad built-in parameter for " + grp.String())
		}
		return n
	}
	p := num(hexPrime)
	m := &modp{
		group:   grp,
		p:       p,
		pm1:     new(big.Int).Sub(p, big.NewInt(1)),
		g:       num(hexGen),
		size:    (p.BitLen() + 7) / 8,
		expBits: 512,
	}
	if hexOrder != "" {
		m.q = num(hexOrder)
	}
	return m
}

func modpGroup(g message.DHGroup) *modp {
	switch g {
	case message.DHMODP1024:
		return modp1024
	case message.DHMODP1536:
		return modp1536
	case message.DHMODP2048:
		return modp2048
	case message.DHMODP3072:
		return modp3072
	case message.DHMODP4096:
		return modp4096
	case message.DHMODP2048S256:
		return modp2048s256
	}
	return nil
}

func (m *modp) randomExponent(rand io.Reader) (*big.Int, error) {
	if m.q != nil {
		// Uniform in [1, q-1]: 64 more random bits than q has, reduced
		// modulo q-1, leave a bias below 2^-64 (FIPS 186-5 A.2.1's
		// "extra random bits" method).
		buf := make([]byte, (m.q.BitLen()+64+7)/8)
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("suite: reading random exponent: %w", err)
		}
		qm1 := new(big.Int).Sub(m.q, big.NewInt(1))
		x := new(big.Int).Mod(new(big.Int).SetBytes(buf), qm1)
		return x.Add(x, big.NewInt(1)), nil
	}
	buf := make([]byte, m.expBits/8)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return nil, fmt.Errorf("suite: reading random exponent: %w", err)
	}
	// Force the top bit so the exponent has its full length; x < p-1 holds
	// since expBits is below the modulus length of every safe-prime group.
	buf[0] |= 0x80
	return new(big.Int).SetBytes(buf), nil
}

// validExponent reports whether x is a usable private exponent: 0 < x <
// p-1, and below the subgroup order where there is one.
func (m *modp) validExponent(x *big.Int) bool {
	limit := m.pm1
	if m.q != nil {
		limit = m.q
	}
	return x.Sign() > 0 && x.Cmp(limit) < 0
}

func (m *modp) newKE(x *big.Int) *modpKE {
	y := new(big.Int).Exp(m.g, x, m.p)
	return &modpKE{m: m, x: x, pub: y.FillBytes(make([]byte, m.size))}
}

// modpKE is a MODP exchange. math/big is not constant time; the exponent
// is ephemeral and used for one exponentiation of a public base and one of
// the peer's value, which limits what timing can reveal. Prefer the
// elliptic-curve groups.
type modpKE struct {
	m   *modp
	x   *big.Int
	pub []byte
}

func (k *modpKE) Group() message.DHGroup { return k.m.group }
func (k *modpKE) Public() []byte         { return append([]byte(nil), k.pub...) }

func (k *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	// RFC 7296 3.4: the value is padded with zeros to the modulus length.
	if len(peer) != k.m.size {
		return nil, fmt.Errorf("%w: %v value is %d bytes, want %d", ErrInvalidPeerKey, k.m.group, len(peer), k.m.size)
	}
	y := new(big.Int).SetBytes(peer)
	// RFC 6989 2.1: check 1 < y < p-1. For the safe-prime groups (RFC 2409,
	// RFC 3526: p = 2q+1 with q prime) y in that range generates a
	// subgroup of order q or 2q, so nothing small can be confined and the
	// full-order check of RFC 6989 2.2 is not needed (its last paragraph).
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(k.m.pm1) >= 0 {
		return nil, fmt.Errorf("%w: %v value out of range (RFC 6989 2.1)", ErrInvalidPeerKey, k.m.group)
	}
	// RFC 6989 2.2: in a group whose generator has a small prime order q
	// (RFC 5114) p-1 has many small factors, and a value outside the
	// order-q subgroup would let the peer learn the private exponent
	// modulo those factors. y^q = 1 (mod p) proves y is in the subgroup.
	if k.m.q != nil && new(big.Int).Exp(y, k.m.q, k.m.p).Cmp(big.NewInt(1)) != 0 {
		return nil, fmt.Errorf("%w: %v value is not in the prime order subgroup (RFC 6989 2.2)", ErrInvalidPeerKey, k.m.group)
	}
	z := new(big.Int).Exp(y, k.x, k.m.p)
	// RFC 7296 2.14: g^ir padded with zeros to the modulus length.
	return z.FillBytes(make([]byte, k.m.size)), nil
}

// --- Elliptic curves: ECP (RFC 5903) and Curve25519 (RFC 8031) ---

func ecdhCurve(g message.DHGroup) ecdh.Curve {
	switch g {
	case message.DHECP256:
		return ecdh.P256()
	case message.DHECP384:
		return ecdh.P384()
	case message.DHECP521:
		return ecdh.P521()
	case message.DHCurve25519:
		return ecdh.X25519()
	}
	return nil
}

type ecKE struct {
	group message.DHGroup
	priv  *ecdh.PrivateKey
}

func (k *ecKE) Group() message.DHGroup { return k.group }

func (k *ecKE) Public() []byte {
	b := k.priv.PublicKey().Bytes()
	if k.group == message.DHCurve25519 {
		return b
	}
	// RFC 5903 7: the KE data is x | y without SEC 1's 0x04 prefix.
	return b[1:]
}

func (k *ecKE) SharedSecret(peer []byte) ([]byte, error) {
	want := PublicLen(k.group)
	if len(peer) != want {
		return nil, fmt.Errorf("%w: %v value is %d bytes, want %d", ErrInvalidPeerKey, k.group, len(peer), want)
	}
	enc := peer
	if k.group != message.DHCurve25519 {
		enc = make([]byte, 1+len(peer))
		enc[0] = 4 // SEC 1 2.3.3 uncompressed point
		copy(enc[1:], peer)
	}
	// NewPublicKey checks the point is on the curve and not the point at
	// infinity (RFC 5903 7 and RFC 6989 2.3 require that check).
	pub, err := k.priv.Curve().NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrInvalidPeerKey, k.group, err)
	}
	// For the ECP groups ECDH returns the x coordinate only, fixed length,
	// which is g^ir per RFC 5903 7. For X25519 it returns the 32-byte
	// u-coordinate and fails on an all-zero result.
	z, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrInvalidPeerKey, k.group, err)
	}
	// RFC 8031 2.3: an all-zero X25519 result (a low-order peer point) MUST
	// be rejected. crypto/ecdh already does; check again so that this rule
	// does not depend on a library detail.
	if k.group == message.DHCurve25519 && subtle.ConstantTimeCompare(z, make([]byte, len(z))) == 1 {
		return nil, fmt.Errorf("%w: %v: all-zero shared secret (RFC 8031 2.3)", ErrInvalidPeerKey, k.group)
	}
	return z, nil
}
