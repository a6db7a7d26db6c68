package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"crypto/rand"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Keys in the store. Everything lives under one prefix so a cluster can
// share an external etcd with other users and a backup holds all of it.
const (
	prefix       = "/cygnet/"
	keyDesired   = prefix + "desired"
	prefixNodes  = prefix + "nodes/"
	prefixAlive  = prefix + "alive/"
	prefixStatus = prefix + "status/"
	prefixTokens = prefix + "tokens/"
)

// Phases of the desired state. Enabling goes off -> loaded -> routed ->
// enforced; disabling goes enforced -> unrouted -> off. A phase moves on
// only when every live node reports it has applied the current one, so no
// node requires ESP from a peer that cannot answer IKE yet, and no node
// stops protecting before its peers stop requiring.
const (
	PhaseOff      = "off"      // no conns
	PhaseLoaded   = "loaded"   // conns loaded with auto=add: answer IKE, require nothing
	PhaseRouted   = "routed"   // auto=route: trap policies, SAs come up; nothing leaves in clear
	PhaseEnforced = "enforced" // every pair reported ESTABLISHED
	PhaseUnrouted = "unrouted" // disabling: policies removed, conns still loaded
)

// Desired is the cluster's switch. Generation grows with every enable or
// disable; writes are compare-and-swap on the key's revision.
type Desired struct {
	State      string    `json:"state"` // "on" or "off"
	Generation int64     `json:"generation"`
	Phase      string    `json:"phase"`
	Auth       string    `json:"auth"`          // "pubkey" or "psk"
	PSK        string    `json:"psk,omitempty"` // psk mode only: the cluster key (base64)
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}

// Node is a member's identity as published in the store.
type Node struct {
	Name    string    `json:"name"`
	Addr    string    `json:"addr"`
	CertPEM string    `json:"cert"`
	Voter   bool      `json:"voter"`
	Joined  time.Time `json:"joined"`
}

// PairStatus is what one node sees of its SA to one peer.
type PairStatus struct {
	State    string `json:"state"` // ESTABLISHED, connecting, down, cleartext, blocked
	SAAge    string `json:"sa_age,omitempty"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	SPIs     string `json:"spis,omitempty"`
}

// Observed is a node's report of what it applied and sees.
type Observed struct {
	Generation int64                 `json:"generation"`
	Phase      string                `json:"phase"`
	Daemon     string                `json:"daemon"`
	Version    string                `json:"version"`
	ESP        bool                  `json:"esp"`
	Error      string                `json:"error,omitempty"`
	Pairs      map[string]PairStatus `json:"pairs"`
	// Conns names the peers the node's daemon has a conn to, as of its
	// last successful apply; peers route a pair only once it is there.
	Conns []string  `json:"conns,omitempty"`
	At    time.Time `json:"at"`
}

// Sentinel errors callers test with errors.Is.
var (
	ErrConflict     = errors.New("cluster: the desired state was changed concurrently by another node")
	ErrTokenInvalid = errors.New("cluster: join token is not valid")
	ErrTokenExpired = errors.New("cluster: join token has expired")
	ErrTokenUsed    = errors.New("cluster: join token has no uses left")
	ErrNoCluster    = errors.New("cluster: no desired state in the store (not initialised)")
	ErrNodeExists   = errors.New("cluster: node exists")
)

// Store wraps the etcd client with the cluster's schema.
type Store struct {
	C *clientv3.Client
	// ep serialises changing the client's endpoint list (Sync) with
	// dialling one member (Status): clientv3 (v3.7.3) reads that list
	// without its lock when it dials, a data race the race detector
	// caught between its own auto-sync goroutine and an agent round.
	ep sync.Mutex
}

// syncEndpoints points the client at the store's current voters.
func (s *Store) syncEndpoints(ctx context.Context) error {
	s.ep.Lock()
	defer s.ep.Unlock()
	return s.C.Sync(ctx)
}

func getJSON(ctx context.Context, c *clientv3.Client, key string, v any) (int64, bool, error) {
	r, err := c.Get(ctx, key)
	if err != nil {
		return 0, false, fmt.Errorf("cluster: store get %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return 0, false, nil
	}
	if err := json.Unmarshal(r.Kvs[0].Value, v); err != nil {
		return 0, false, fmt.Errorf("cluster: store %s: %w", key, err)
	}
	return r.Kvs[0].ModRevision, true, nil
}

// Desired reads the switch and its revision.
func (s *Store) Desired(ctx context.Context) (Desired, int64, error) {
	var d Desired
	rev, ok, err := getJSON(ctx, s.C, keyDesired, &d)
	if err != nil {
		return d, 0, err
	}
	if !ok {
		return d, 0, ErrNoCluster
	}
	return d, rev, nil
}

// CASDesired writes d if the key still has revision rev (0: must not exist).
func (s *Store) CASDesired(ctx context.Context, rev int64, d Desired) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	r, err := s.C.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(keyDesired), "=", rev)).
		Then(clientv3.OpPut(keyDesired, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("cluster: store write desired: %w", err)
	}
	if !r.Succeeded {
		return ErrConflict
	}
	return nil
}

// SetSwitch turns the cluster on or off from state (read at rev): a new
// generation, phase restarted. The caller's read revision makes a
// concurrent enable and disable resolve to exactly one winner.
func (s *Store) SetSwitch(ctx context.Context, on bool, by string) (Desired, error) {
	d, rev, err := s.Desired(ctx)
	if err != nil {
		return d, err
	}
	want := "off"
	phase := PhaseUnrouted
	if on {
		want, phase = "on", PhaseLoaded
	}
	if d.State == want {
		return d, nil
	}
	if !on && d.Phase == PhaseLoaded {
		phase = PhaseOff
	}
	d.State, d.Phase, d.By, d.At = want, phase, by, time.Now().UTC()
	d.Generation++
	if err := s.CASDesired(ctx, rev, d); err != nil {
		return d, err
	}
	return d, nil
}

// Nodes lists the members.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	r, err := s.C.Get(ctx, prefixNodes, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("cluster: store list nodes: %w", err)
	}
	out := make([]Node, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("cluster: store %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// PutNode publishes a member's identity.
func (s *Store) PutNode(ctx context.Context, n Node) error {
	b, _ := json.Marshal(n)
	if _, err := s.C.Put(ctx, prefixNodes+n.Name, string(b)); err != nil {
		return fmt.Errorf("cluster: store put node %s: %w", n.Name, err)
	}
	return nil
}

// RemoveNode deletes a member's identity, liveness and status in one
// transaction; every agent then drops its conn to it.
func (s *Store) RemoveNode(ctx context.Context, name string) error {
	r, err := s.C.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(prefixNodes+name), ">", 0)).Then(
		clientv3.OpDelete(prefixNodes+name),
		clientv3.OpDelete(prefixAlive+name),
		clientv3.OpDelete(prefixStatus+name),
	).Commit()
	if err != nil {
		return fmt.Errorf("cluster: store remove %s: %w", name, err)
	}
	if !r.Succeeded {
		return fmt.Errorf("cluster: no node named %q", name)
	}
	return nil
}

// Alive lists the nodes whose liveness lease is held.
func (s *Store) Alive(ctx context.Context) (map[string]bool, error) {
	r, err := s.C.Get(ctx, prefixAlive, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("cluster: store list alive: %w", err)
	}
	m := map[string]bool{}
	for _, kv := range r.Kvs {
		m[strings.TrimPrefix(string(kv.Key), prefixAlive)] = true
	}
	return m, nil
}

// Observed reads every node's report.
func (s *Store) Observed(ctx context.Context) (map[string]Observed, error) {
	r, err := s.C.Get(ctx, prefixStatus, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: store list status: %w", err)
	}
	m := map[string]Observed{}
	for _, kv := range r.Kvs {
		var o Observed
		if err := json.Unmarshal(kv.Value, &o); err != nil {
			return nil, fmt.Errorf("cluster: store %s: %w", kv.Key, err)
		}
		m[strings.TrimPrefix(string(kv.Key), prefixStatus)] = o
	}
	return m, nil
}

// PutObserved writes this node's report.
func (s *Store) PutObserved(ctx context.Context, name string, o Observed) error {
	b, _ := json.Marshal(o)
	// Only while the node is a member: a removed node's agent must not
	// resurrect its status.
	r, err := s.C.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(prefixNodes+name), ">", 0)).
		Then(clientv3.OpPut(prefixStatus+name, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("cluster: store put status: %w", err)
	}
	if !r.Succeeded {
		return ErrRemoved
	}
	return nil
}

// ErrRemoved tells an agent its node is no longer a member.
var ErrRemoved = errors.New("cluster: this node was removed from the cluster")

// Tokens. A token is "cyg1.<id>.<secret>.<cahash>": the id names the store
// record, the secret is checked against its sha256, the CA hash lets the
// joiner authenticate the server before it sends anything.
type tokenRecord struct {
	SecretHash string    `json:"secret_sha256"`
	Expires    time.Time `json:"expires"`
	Uses       int       `json:"uses"` // 0: unlimited until expiry
	Created    time.Time `json:"created"`
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func randToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster: random: %w", err)
	}
	return strings.ToLower(b32.EncodeToString(b)), nil
}

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return fmt.Sprintf("%x", sum)
}

// CreateToken stores a new token and returns its text.
func (s *Store) CreateToken(ctx context.Context, caHash string, ttl time.Duration, uses int) (string, error) {
	if ttl <= 0 {
		return "", errors.New("cluster: token ttl must be positive")
	}
	if uses < 0 {
		return "", errors.New("cluster: token uses must not be negative")
	}
	id, err := randToken(5)
	if err != nil {
		return "", err
	}
	secret, err := randToken(20)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(tokenRecord{SecretHash: secretHash(secret), Expires: now.Add(ttl), Uses: uses, Created: now})
	// The lease removes the record after expiry (plus a margin so an
	// expired token is reported as expired, not unknown, for a while).
	lease, err := s.C.Grant(ctx, int64((ttl+time.Hour)/time.Second))
	if err != nil {
		return "", fmt.Errorf("cluster: store lease: %w", err)
	}
	if _, err := s.C.Put(ctx, prefixTokens+id, string(b), clientv3.WithLease(lease.ID)); err != nil {
		return "", fmt.Errorf("cluster: store put token: %w", err)
	}
	return "cyg1." + id + "." + secret + "." + caHash, nil
}

// Token is a parsed join token.
type Token struct {
	ID, Secret, CAHash string
}

// ParseToken checks a token's shape.
func ParseToken(t string) (Token, error) {
	p := strings.Split(strings.TrimSpace(t), ".")
	if len(p) != 4 || p[0] != "cyg1" || p[1] == "" || p[2] == "" || !strings.HasPrefix(p[3], "sha256:") || len(p[3]) != 7+64 {
		return Token{}, fmt.Errorf("%w: malformed (want cyg1.ID.SECRET.sha256:HASH)", ErrTokenInvalid)
	}
	return Token{ID: p[1], Secret: p[2], CAHash: p[3]}, nil
}

// checkToken reads a token's record and checks the secret, the expiry
// and the uses left, writing nothing: a join checks its token before it
// changes the store's membership. It returns the record's revision and the
// record as it must be after one more use.
func (s *Store) checkToken(ctx context.Context, tok Token, now time.Time) (int64, tokenRecord, error) {
	var rec tokenRecord
	rev, ok, err := getJSON(ctx, s.C, prefixTokens+tok.ID, &rec)
	if err != nil {
		return 0, rec, err
	}
	if !ok {
		return 0, rec, fmt.Errorf("%w: unknown token id %s", ErrTokenInvalid, tok.ID)
	}
	if subtle.ConstantTimeCompare([]byte(secretHash(tok.Secret)), []byte(rec.SecretHash)) != 1 {
		return 0, rec, fmt.Errorf("%w: wrong secret for token id %s", ErrTokenInvalid, tok.ID)
	}
	if now.After(rec.Expires) {
		return 0, rec, fmt.Errorf("%w: token %s expired at %s", ErrTokenExpired, tok.ID, rec.Expires.Format(time.RFC3339))
	}
	switch {
	case rec.Uses == 0: // unlimited
	case rec.Uses == -1:
		return 0, rec, fmt.Errorf("%w: token %s", ErrTokenUsed, tok.ID)
	case rec.Uses == 1:
		rec.Uses = -1 // kept so a reuse says "used", not "unknown"
	default:
		rec.Uses--
	}
	return rev, rec, nil
}

// CheckToken checks a token without taking a use.
func (s *Store) CheckToken(ctx context.Context, tok Token, now time.Time) error {
	_, _, err := s.checkToken(ctx, tok, now)
	return err
}

// AdmitNode takes one use of a token and publishes the node in one
// transaction: two joins racing for a single-use token (or for one name)
// cannot both succeed, and a refused join writes nothing.
func (s *Store) AdmitNode(ctx context.Context, tok Token, now time.Time, n Node) error {
	nb, _ := json.Marshal(n)
	for range 10 {
		rev, rec, err := s.checkToken(ctx, tok, now)
		if err != nil {
			return err
		}
		ops := []clientv3.Op{clientv3.OpPut(prefixNodes+n.Name, string(nb))}
		if rec.Uses != 0 {
			b, _ := json.Marshal(rec)
			ops = append(ops, clientv3.OpPut(prefixTokens+tok.ID, string(b), clientv3.WithIgnoreLease()))
		}
		r, err := s.C.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(prefixTokens+tok.ID), "=", rev),
			clientv3.Compare(clientv3.CreateRevision(prefixNodes+n.Name), "=", 0),
		).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("cluster: store admit %s: %w", n.Name, err)
		}
		if r.Succeeded {
			return nil
		}
		if g, err := s.C.Get(ctx, prefixNodes+n.Name, clientv3.WithCountOnly()); err == nil && g.Count > 0 {
			return fmt.Errorf("%w: a node named %q is already a member (remove it first)", ErrNodeExists, n.Name)
		}
	}
	return fmt.Errorf("cluster: token %s: too much contention", tok.ID)
}
