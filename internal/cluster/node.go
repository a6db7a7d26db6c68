package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// DefaultStateDir holds a node's cluster identity: its key, certificate,
// the CA certificate (and key on the first node), the embedded store.
const DefaultStateDir = "/var/lib/cygnet/cluster"

// Default ports: etcd's own client and peer ports, and the join endpoint.
const (
	DefaultClientPort = 2379
	DefaultPeerPort   = 2380
	DefaultJoinPort   = 2381
)

// NodeConfig is what a node remembers of its membership (node.json).
type NodeConfig struct {
	Name      string   `json:"name"`
	Advertise string   `json:"advertise"` // IP used for IKE and the store
	Endpoints []string `json:"endpoints"` // store client URLs
	Embedded  bool     `json:"embedded"`  // runs an etcd member
	// Voters is how many etcd members the cluster keeps (init's
	// --voters); the join endpoint of the first node reads it.
	Voters int `json:"voters,omitempty"`
	// InitialCluster is the member list a voter's etcd starts with when
	// it joins an existing store (ignored once its data dir exists).
	InitialCluster string `json:"initial_cluster,omitempty"`
	// External etcd (instead of the cluster CA's mTLS).
	EtcdCA   string `json:"etcd_ca,omitempty"`
	EtcdCert string `json:"etcd_cert,omitempty"`
	EtcdKey  string `json:"etcd_key,omitempty"`

	ClientPort int `json:"client_port"`
	PeerPort   int `json:"peer_port"`
	JoinPort   int `json:"join_port"`
}

// Paths in the state dir.
type Paths struct{ Dir string }

func (p Paths) CACert() string  { return filepath.Join(p.Dir, "ca.crt") }
func (p Paths) CAKey() string   { return filepath.Join(p.Dir, "ca.key") }
func (p Paths) Cert() string    { return filepath.Join(p.Dir, "node.crt") }
func (p Paths) Key() string     { return filepath.Join(p.Dir, "node.key") }
func (p Paths) Config() string  { return filepath.Join(p.Dir, "node.json") }
func (p Paths) EtcdDir() string { return filepath.Join(p.Dir, "etcd") }
func (p Paths) Applied() string { return filepath.Join(p.Dir, "applied.json") }

// LoadNodeConfig reads node.json.
func LoadNodeConfig(dir string) (NodeConfig, error) {
	var nc NodeConfig
	b, err := os.ReadFile(Paths{dir}.Config())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nc, fmt.Errorf("%w (no %s): run cygnet cluster init or join", ErrNotMember, Paths{dir}.Config())
		}
		return nc, fmt.Errorf("cluster: %w", err)
	}
	if err := json.Unmarshal(b, &nc); err != nil {
		return nc, fmt.Errorf("cluster: %s: %w", Paths{dir}.Config(), err)
	}
	if nc.ClientPort == 0 {
		nc.ClientPort = DefaultClientPort
	}
	if nc.PeerPort == 0 {
		nc.PeerPort = DefaultPeerPort
	}
	if nc.JoinPort == 0 {
		nc.JoinPort = DefaultJoinPort
	}
	return nc, nil
}

// writeFile writes atomically (temp file + rename), so a crash never
// leaves half a key or half a config behind.
func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

func saveNodeConfig(dir string, nc NodeConfig) error {
	b, _ := json.MarshalIndent(nc, "", "  ")
	return writeFile(Paths{dir}.Config(), append(b, '\n'), 0o600)
}

// tlsConfig is the mTLS config of a member: its node cert, trusting only
// the cluster CA.
func tlsConfig(dir string) (*tls.Config, error) {
	p := Paths{dir}
	cert, err := tls.LoadX509KeyPair(p.Cert(), p.Key())
	if err != nil {
		return nil, fmt.Errorf("cluster: node credentials: %w", err)
	}
	ca, err := readCert(p.CACert())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

// Connect opens the store client of a member node.
func Connect(ctx context.Context, dir string, nc NodeConfig) (*Store, error) {
	var tc *tls.Config
	var err error
	if nc.EtcdCA != "" || nc.EtcdCert != "" {
		tc, err = (transport.TLSInfo{CertFile: nc.EtcdCert, KeyFile: nc.EtcdKey, TrustedCAFile: nc.EtcdCA}).ClientConfig()
	} else {
		tc, err = tlsConfig(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: store tls: %w", err)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   nc.Endpoints,
		TLS:         tc,
		DialTimeout: 5 * time.Second,
		// The store's TCP connection crosses the SAs the cluster switches
		// on and off: while one end has dropped an SA and the other has not
		// yet, its packets are black-holed and TCP backs off for minutes.
		// gRPC keepalives notice a dead connection in seconds and redial.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		PermitWithoutStream:  true,
		// No AutoSyncInterval: its goroutine changes the endpoint list
		// unlocked against dials (see Store.ep); the agent syncs the
		// endpoints with the membership itself, every round (tendStore).
		// gRPC's reconnect back-off grows to 2 minutes by default: after
		// the store was down a while, agents would notice its return
		// only that late. 5 s at most.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		})},
		Logger:  zap.NewNop(),
		Context: ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: store connect %v: %w", nc.Endpoints, err)
	}
	return &Store{C: c}, nil
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// StartEmbedded runs this node's etcd member with mTLS on the cluster CA,
// for both clients and peers. It returns when the member serves.
func StartEmbedded(ctx context.Context, dir string, nc NodeConfig) (*embed.Etcd, error) {
	p := Paths{dir}
	cfg := embed.NewConfig()
	cfg.Name = nc.Name
	cfg.Dir = p.EtcdDir()
	cu := url.URL{Scheme: "https", Host: hostPort(nc.Advertise, nc.ClientPort)}
	pu := url.URL{Scheme: "https", Host: hostPort(nc.Advertise, nc.PeerPort)}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = nc.Name + "=" + pu.String()
	if nc.InitialCluster != "" {
		// A voter that joined: it starts as the learner the join added.
		cfg.InitialCluster = nc.InitialCluster
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.InitialClusterToken = "cygnet"
	tls := transport.TLSInfo{CertFile: p.Cert(), KeyFile: p.Key(), TrustedCAFile: p.CACert(), ClientCertAuth: true}
	cfg.ClientTLSInfo = tls
	// Peers are members by their CA-signed certificate; etcd's extra check
	// that a peer's certificate names the address it connects from fails
	// behind NAT and whenever the kernel picks another source address (on
	// loopback it always picks 127.0.0.1).
	peer := tls
	peer.SkipClientSANVerify = true
	cfg.PeerTLSInfo = peer
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	// The store's own log goes to a file beside its data: its shutdown
	// chatter at error level is not the agent's.
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: start embedded store: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("cluster: embedded store: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("cluster: embedded store: %w", ctx.Err())
	}
}

// Init creates a cluster on this node: CA, node identity, the store's
// first member and the switch (off). It returns the first join token. The
// embedded store is stopped again; the agent runs it from then on.
func Init(ctx context.Context, dir, name, advertise string, clientPort, peerPort, joinPort int, auth string, voters int) (string, error) {
	return InitWith(ctx, dir, InitOptions{Name: name, Advertise: advertise, ClientPort: clientPort, PeerPort: peerPort,
		JoinPort: joinPort, Auth: auth, Voters: voters})
}

// InitOptions are the settings of a new cluster.
type InitOptions struct {
	Name, Advertise                string
	ClientPort, PeerPort, JoinPort int
	Auth                           string // pubkey or psk
	Voters                         int    // embedded store members: 1, 3 or 5
	// External etcd instead of the embedded store: its client URLs and
	// this node's client credentials for it (CA, certificate, key files).
	EtcdEndpoints             []string
	EtcdCA, EtcdCert, EtcdKey string
}

// InitWith is Init with every option.
func InitWith(ctx context.Context, dir string, o InitOptions) (string, error) {
	name, advertise, clientPort, peerPort, joinPort, auth, voters := o.Name, o.Advertise, o.ClientPort, o.PeerPort, o.JoinPort, o.Auth, o.Voters
	external := len(o.EtcdEndpoints) > 0
	if external {
		voters = 1
		if o.EtcdCA == "" || o.EtcdCert == "" || o.EtcdKey == "" {
			return "", fmt.Errorf("cluster: an external etcd needs --etcd-ca, --etcd-cert and --etcd-key (mutual TLS)")
		}
		for _, f := range []string{o.EtcdCA, o.EtcdCert, o.EtcdKey} {
			if _, err := os.Stat(f); err != nil {
				return "", fmt.Errorf("cluster: external etcd credentials: %w", err)
			}
		}
	}
	if !ValidVoters(voters) {
		return "", fmt.Errorf("cluster: --voters %d: want 1, 3 or 5", voters)
	}
	ip := net.ParseIP(advertise)
	if ip == nil {
		return "", fmt.Errorf("cluster: --advertise %q is not an IP address", advertise)
	}
	if auth != "pubkey" && auth != "psk" {
		return "", fmt.Errorf("cluster: --auth %q: want pubkey or psk", auth)
	}
	p := Paths{dir}
	if _, err := os.Stat(p.Config()); err == nil {
		return "", fmt.Errorf("cluster: %s exists: this node is already a member", p.Config())
	}
	ca, err := NewCA("cygnet cluster CA")
	if err != nil {
		return "", err
	}
	k, csr, err := NewCSR(name)
	if err != nil {
		return "", err
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	cert, err := ca.Sign(req, name, ip)
	if err != nil {
		return "", err
	}
	caKeyPEM, err := keyPEM(ca.Key)
	if err != nil {
		return "", err
	}
	nodeKeyPEM, err := keyPEM(k)
	if err != nil {
		return "", err
	}
	for _, f := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{
		{p.CAKey(), caKeyPEM, 0o600},
		{p.CACert(), certPEM(ca.Cert), 0o644},
		{p.Key(), nodeKeyPEM, 0o600},
		{p.Cert(), certPEM(cert), 0o644},
	} {
		if err := writeFile(f.path, f.b, f.mode); err != nil {
			return "", err
		}
	}
	nc := NodeConfig{Name: name, Advertise: advertise, Embedded: true, Voters: voters, ClientPort: clientPort, PeerPort: peerPort, JoinPort: joinPort}
	nc.Endpoints = []string{"https://" + hostPort(advertise, clientPort)}
	if external {
		nc.Embedded, nc.Voters = false, 0
		nc.Endpoints = o.EtcdEndpoints
		nc.EtcdCA, nc.EtcdCert, nc.EtcdKey = absPath(o.EtcdCA), absPath(o.EtcdCert), absPath(o.EtcdKey)
	} else {
		e, err := StartEmbedded(ctx, dir, nc)
		if err != nil {
			return "", err
		}
		defer e.Close()
	}
	st, err := Connect(ctx, dir, nc)
	if err != nil {
		return "", err
	}
	defer st.C.Close()
	if external {
		// One cluster per store: an etcd that already holds one is not
		// taken over.
		if _, _, err := st.Desired(ctx); err == nil {
			return "", fmt.Errorf("cluster: the etcd at %v already holds a cygnet cluster", o.EtcdEndpoints)
		} else if !errors.Is(err, ErrNoCluster) {
			return "", err
		}
	}
	d := Desired{State: "off", Phase: PhaseOff, Auth: auth, By: name, At: time.Now().UTC()}
	if auth == "psk" {
		if d.PSK, err = randomPSK(); err != nil {
			return "", err
		}
	}
	if err := st.CASDesired(ctx, 0, d); err != nil {
		return "", err
	}
	if err := st.PutNode(ctx, Node{Name: name, Addr: advertise, CertPEM: string(certPEM(cert)), Voter: true, Joined: time.Now().UTC()}); err != nil {
		return "", err
	}
	tok, err := st.CreateToken(ctx, CAHash(ca.Cert), 24*time.Hour, 0)
	if err != nil {
		return "", err
	}
	// node.json last: its presence means "member", so a failed init can be
	// retried after removing the state dir's partial contents.
	if err := saveNodeConfig(dir, nc); err != nil {
		return "", err
	}
	return tok, nil
}

// absPath makes a credential path absolute, as the agent runs from
// another working directory.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// randomPSK is the cluster-wide key of --auth psk: 256 random bits.
func randomPSK() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster: random: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ErrNotMember: this node has no cluster identity (never joined, or left).
var ErrNotMember = errors.New("cluster: this node is not a cluster member")

// Forget moves the node's membership file aside after its removal, so
// the agent is not restarted into a cluster that no longer has it; the
// keys stay for inspection, and a new join starts clean.
func Forget(dir string) error {
	p := Paths{dir}
	if err := os.Rename(p.Config(), p.Config()+".removed"); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// ReadCACert reads the cluster CA certificate of a member.
func ReadCACert(dir string) (*x509.Certificate, error) { return readCert(Paths{dir}.CACert()) }

// HasCAKey reports whether this node can admit others.
func HasCAKey(dir string) bool {
	_, err := os.Stat(Paths{dir}.CAKey())
	return err == nil
}
