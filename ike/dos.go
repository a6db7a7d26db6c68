package ike

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// Denial-of-service defences of the responder (RFC 7296 2.6, RFC 8019):
// IKE_SA_INIT is the one exchange an unauthenticated peer can make the
// responder spend a Diffie-Hellman computation and memory on. The
// responder answers it statelessly with a COOKIE when many SAs are
// half-open, limits how many half-open SAs one source address may hold,
// bounds the half-open table as a whole and the size of what each entry
// keeps, and expires half-open SAs after halfOpenTimeout.

const (
	// cookieSecretLifetime is how long a cookie secret stays current; it
	// is then kept one more lifetime as the previous secret, so a cookie
	// is accepted for at least one and at most two lifetimes after it was
	// made (RFC 7296 2.6: "the responder should change the value of
	// <secret> frequently"). Rotation is on time only, never on the number
	// of cookies sent (charon changes its secret every 10000 cookies): a
	// flood of spoofed requests would then rotate the secret twice within
	// a legitimate initiator's round trip and have its cookie refused, so
	// the attacker would control the defence. Five minutes is far above
	// any round trip, and short enough that a cookie learnt by an on-path
	// observer is soon useless.
	cookieSecretLifetime = 5 * time.Minute
	// cookieLen is the COOKIE notification's data: a version byte and an
	// HMAC-SHA-256 (RFC 7296 2.6 allows 1 to 64 octets).
	cookieLen = 1 + sha256.Size

	// defaultBlockThreshold is strongswan.conf charon.block_threshold's
	// default: half-open IKE SAs one source address may have.
	defaultBlockThreshold = 5

	// maxInitRequest bounds the IKE_SA_INIT requests the responder
	// accepts (charon.max_packet's default, 10000 bytes). A half-open SA
	// keeps its request for the AUTH computation (RFC 7296 2.15), so this
	// bounds its memory; IKE_SA_INIT cannot be fragmented (RFC 7383 2.5)
	// and real ones are well under 2 KB.
	maxInitRequest = 10000

	// unauthLogBurst lines per unauthLogWindow may be logged about
	// IKE_SA_INIT requests answered without state (no connection, no
	// common proposal, another KE group). Those requests need no cookie,
	// since they make no state, and cost the sender one datagram, so
	// without a limit anyone could fill the log; the next line allowed
	// says how many were suppressed.
	unauthLogBurst  = 10
	unauthLogWindow = 10 * time.Second
)

// cookieSecret is one generation of the cookie key.
type cookieSecret struct {
	version byte
	key     [32]byte
}

// cookieJar holds the current and the previous cookie secret (RFC 7296
// 2.6) and rotates them on the engine's clock, lazily when a cookie is
// made or checked, as if a timer fired every cookieSecretLifetime.
type cookieJar struct {
	mu      sync.Mutex
	cur     cookieSecret
	prev    cookieSecret
	hasPrev bool
	// epoch is when cur became current.
	epoch time.Time
}

// init draws the first secret.
func (j *cookieJar) init(r io.Reader, now time.Time) error {
	if _, err := io.ReadFull(r, j.cur.key[:]); err != nil {
		return fmt.Errorf("ike: cookie secret: %w", err)
	}
	j.epoch = now
	return nil
}

// secrets returns the current secret and, when hasPrev, the previous one,
// rotating first if lifetimes have passed. The secrets come from r.
func (j *cookieJar) secrets(r io.Reader, now time.Time) (cur, prev cookieSecret, hasPrev bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := now.Sub(j.epoch) / cookieSecretLifetime; n >= 1 {
		next := cookieSecret{version: j.cur.version + 1}
		if _, err := io.ReadFull(r, next.key[:]); err != nil {
			return cookieSecret{}, cookieSecret{}, false, fmt.Errorf("ike: cookie secret rotation: %w", err)
		}
		if n == 1 {
			j.prev, j.hasPrev = j.cur, true
		} else {
			// Idle for two lifetimes or more: the current secret would
			// have been retired by the rotation before this one.
			clear(j.prev.key[:])
			j.prev, j.hasPrev = cookieSecret{}, false
		}
		j.cur = next
		j.epoch = j.epoch.Add(n * cookieSecretLifetime)
	}
	return j.cur, j.prev, j.hasPrev, nil
}

// cookieMAC is RFC 7296 2.6's Hash(Ni | IPi | SPIi | <secret>) in keyed
// form, HMAC-SHA-256 with the secret as key. The address is always 16
// bytes and the nonce, whose length varies, comes last after its length,
// so that no two (Ni, IPi, SPIi) share an input: with plain concatenation
// a cookie for an IPv4 address would also be valid for the IPv6 addresses
// ending in it.
func cookieMAC(s *cookieSecret, ni []byte, ip netip.Addr, spiI uint64) []byte {
	mac := hmac.New(sha256.New, s.key[:])
	a := ip.Unmap().As16()
	mac.Write(a[:])
	mac.Write(putUint64(spiI))
	mac.Write([]byte{byte(len(ni) >> 8), byte(len(ni))})
	mac.Write(ni)
	return mac.Sum([]byte{s.version})
}

// cookie returns the COOKIE for an initiator, made with the current
// secret: <VersionIDofSecret> | HMAC (RFC 7296 2.6).
func (e *Engine) cookie(ni []byte, ip netip.Addr, spiI uint64) ([]byte, error) {
	cur, _, _, err := e.cookies.secrets(e.rand, e.clock.Now())
	if err != nil {
		return nil, err
	}
	return cookieMAC(&cur, ni, ip, spiI), nil
}

// cookieValid reports whether c is a cookie this engine made for the
// initiator with the current or the previous secret. The MAC is compared
// in constant time; the version byte is public.
func (e *Engine) cookieValid(c, ni []byte, ip netip.Addr, spiI uint64) bool {
	if len(c) != cookieLen {
		return false
	}
	cur, prev, hasPrev, err := e.cookies.secrets(e.rand, e.clock.Now())
	if err != nil {
		return false
	}
	var s *cookieSecret
	switch {
	case c[0] == cur.version:
		s = &cur
	case hasPrev && c[0] == prev.version:
		s = &prev
	default:
		return false
	}
	return hmac.Equal(c, cookieMAC(s, ni, ip, spiI))
}

// halfOpenSource counts one source address's half-open responder SAs:
// all of them, and those whose request carried a valid cookie, which
// proves the initiator receives at the address.
type halfOpenSource struct {
	all, verified int
}

// halfOpenEntry is what a half-open SA counts against its source.
type halfOpenEntry struct {
	addr     netip.Addr
	verified bool
}

// limits are the responder's DoS settings with defaults applied; a
// negative value means none (for cookies: always demanded).
type limits struct {
	halfOpen, cookie, block int
}

func (e *Engine) limits() limits {
	cfg := e.config()
	l := limits{halfOpen: cfg.HalfOpenLimit, cookie: cfg.CookieThreshold, block: cfg.BlockThreshold}
	if l.halfOpen == 0 {
		l.halfOpen = defaultHalfOpenLimit
	}
	if l.cookie == 0 {
		l.cookie = defaultCookieThreshold
	}
	if l.block == 0 {
		l.block = defaultBlockThreshold
	}
	return l
}

// initVerdict is what admitInit decided about an IKE_SA_INIT request.
type initVerdict uint8

const (
	initProceed  initVerdict = iota // go on, unverified source
	initVerified                    // go on, the request carried a valid cookie
	initDropped                     // dropped or answered; counted
)

// admitInit applies the defences that come before any work on an
// IKE_SA_INIT request, in charon's order: the cookie check first, so that
// nothing a spoofed source does counts against the address it spoofs,
// then the per-source limit, then the global half-open limit. cookie is
// the data of the request's first payload when that is a COOKIE
// notification (RFC 7296 2.6), else nil.
func (e *Engine) admitInit(p Packet, h message.Header, ni, cookie []byte) initVerdict {
	l := e.limits()
	src := p.Remote.Addr().Unmap()
	e.mu.Lock()
	nHalf := e.nHalfOpen
	counts := e.halfSrc[src]
	e.mu.Unlock()

	verified := cookie != nil && e.cookieValid(cookie, ni, src, h.SPIi)
	// RFC 7296 2.6: demand a cookie when many SAs are half-open; also
	// when this source already has its share of them, so that a source
	// spoofed by someone else can prove itself instead of being blocked.
	required := l.cookie < 0 || nHalf >= l.cookie || (l.block > 0 && counts.all >= l.block)
	if required && !verified {
		c, err := e.cookie(ni, src, h.SPIi)
		if err != nil {
			e.log.Error("ike: cannot make a cookie, dropping IKE_SA_INIT", "err", err)
			return initDropped
		}
		e.counters.cookiesSent.Add(1)
		e.stateless(p, h, &message.Notify{NotifyType: message.Cookie, Data: c})
		return initDropped
	}
	// charon.block_threshold, counted only over SAs whose source proved
	// its address: unverified SAs made it demand the cookie above.
	if verified && l.block > 0 && counts.verified >= l.block {
		e.counters.blocked.Add(1)
		return initDropped
	}
	if l.halfOpen > 0 && nHalf >= l.halfOpen {
		e.counters.halfOpenRejected.Add(1)
		return initDropped
	}
	if verified {
		return initVerified
	}
	return initProceed
}

// addHalfOpen enters a new responder SA in the half-open tables, checking
// the limits again under the engine lock (requests are handled
// concurrently, so the counts admitInit saw may have grown while the SA's
// keys were computed). It reports whether the SA was admitted; if not,
// the caller destroys it. The caller holds sa's lock.
func (e *Engine) addHalfOpen(sa *ikeSA, key halfOpenKey, verified bool) bool {
	l := e.limits()
	src := key.remote.Addr().Unmap()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inits[key] != nil {
		// A concurrent copy of the same request won the race.
		return false
	}
	counts := e.halfSrc[src]
	if l.halfOpen > 0 && e.nHalfOpen >= l.halfOpen {
		e.counters.halfOpenRejected.Add(1)
		return false
	}
	if l.block > 0 && (counts.verified >= l.block && verified || counts.all >= l.block && !verified) {
		// The first: as in admitInit. The second: unverified requests
		// from this source raced past admitInit's cookie demand.
		e.counters.blocked.Add(1)
		return false
	}
	e.inits[key] = sa
	e.nHalfOpen++
	sa.isHalfOpen = true
	counts.all++
	if verified {
		counts.verified++
	}
	e.halfSrc[src] = counts
	e.halfOf[sa] = halfOpenEntry{addr: src, verified: verified}
	return true
}

// releaseSourceLocked removes sa from the per-source counts, once: when
// it is established (halfOpenDone) or leaves the tables. The caller holds
// e.mu.
func (e *Engine) releaseSourceLocked(sa *ikeSA) {
	ent, ok := e.halfOf[sa]
	if !ok {
		return
	}
	delete(e.halfOf, sa)
	c := e.halfSrc[ent.addr]
	c.all--
	if ent.verified {
		c.verified--
	}
	if c.all <= 0 {
		delete(e.halfSrc, ent.addr)
	} else {
		e.halfSrc[ent.addr] = c
	}
}

// halfOpenDone releases sa's per-source count once it is no longer
// half-open (IKE_AUTH completed); the global count is decremented where
// the SA is established.
func (e *Engine) halfOpenDone(sa *ikeSA) {
	e.mu.Lock()
	e.releaseSourceLocked(sa)
	e.mu.Unlock()
}

// logLimiter admits unauthLogBurst lines per unauthLogWindow.
type logLimiter struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether a line may be logged at now, and how many lines
// were suppressed since the last one allowed.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= unauthLogWindow || now.Before(l.start) {
		l.start, l.n = now, 0
	}
	if l.n >= unauthLogBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// logUnauth logs a line about an unauthenticated IKE_SA_INIT request,
// rate limited.
func (e *Engine) logUnauth(level slog.Level, msg string, args ...any) {
	if !e.log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := e.unauthLog.allow(e.clock.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	e.log.Log(context.Background(), level, msg, args...)
}
