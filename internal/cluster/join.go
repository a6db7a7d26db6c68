package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sync"
	"time"
)

type joinRequest struct {
	Token     string `json:"token"`
	Name      string `json:"name"`
	Advertise string `json:"advertise"`
	CSR       []byte `json:"csr"`
	// The joiner's store ports, for its etcd member if it becomes a
	// voter.
	ClientPort int `json:"client_port,omitempty"`
	PeerPort   int `json:"peer_port,omitempty"`
	// EtcdCreds: the joiner has its own client credentials for an
	// external etcd.
	EtcdCreds bool `json:"etcd_creds,omitempty"`
}

type joinResponse struct {
	CACert    string   `json:"ca_cert"`
	Cert      string   `json:"cert"`
	Endpoints []string `json:"endpoints"`
	// Voter: the joiner runs an etcd member, added as a learner with
	// InitialCluster as its start-up membership.
	Voter          bool   `json:"voter,omitempty"`
	InitialCluster string `json:"initial_cluster,omitempty"`
	Error          string `json:"error,omitempty"`
}

var nodeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// ValidName reports whether s can name a node (it becomes a conn name, an
// IKE identity and a store key).
func ValidName(s string) bool { return nodeName.MatchString(s) }

// joinWait bounds how long the join server waits for the store to take a
// new voter.
const joinWait = 2 * time.Minute

// JoinServer admits nodes: it runs on a node holding the CA key.
type JoinServer struct {
	Dir   string
	Store *Store
	NC    NodeConfig
	Now   func() time.Time

	// mu serialises admissions: etcd handles concurrent membership changes
	// badly (a change rejected when applied can leave its caller waiting
	// for a reply that never comes), and a join racing another for a
	// single-use token should see it used, not race it.
	mu sync.Mutex
}

func (j *JoinServer) admit(ctx context.Context, req joinRequest) (joinResponse, int, error) {
	p := Paths{j.Dir}
	ca, err := readCert(p.CACert())
	if err != nil {
		return joinResponse{}, 500, err
	}
	caKey, err := readKey(p.CAKey())
	if err != nil {
		return joinResponse{}, 500, err
	}
	tok, err := ParseToken(req.Token)
	if err != nil {
		return joinResponse{}, 403, err
	}
	if tok.CAHash != CAHash(ca) {
		return joinResponse{}, 403, fmt.Errorf("%w: it pins CA %s, this cluster's CA is %s", ErrTokenInvalid, tok.CAHash, CAHash(ca))
	}
	if !ValidName(req.Name) {
		return joinResponse{}, 400, fmt.Errorf("cluster: node name %q: want lower-case letters, digits, '.' and '-'", req.Name)
	}
	ip := net.ParseIP(req.Advertise)
	if ip == nil {
		return joinResponse{}, 400, fmt.Errorf("cluster: advertise address %q is not an IP", req.Advertise)
	}
	if (j.NC.EtcdCA != "" || j.NC.EtcdCert != "") && !req.EtcdCreds {
		return joinResponse{}, 400, fmt.Errorf("cluster: this cluster's store is an external etcd: join with --etcd-ca, --etcd-cert and --etcd-key")
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return joinResponse{}, 400, fmt.Errorf("cluster: csr: %w", err)
	}
	nodes, err := j.Store.Nodes(ctx)
	if err != nil {
		return joinResponse{}, 503, err
	}
	for _, n := range nodes {
		if n.Name == req.Name {
			return joinResponse{}, 409, fmt.Errorf("cluster: a node named %q is already a member (remove it first)", req.Name)
		}
		if n.Addr == ip.String() {
			return joinResponse{}, 409, fmt.Errorf("cluster: address %s is already used by node %q", ip, n.Name)
		}
	}
	cert, err := (&CA{Cert: ca, Key: caKey}).Sign(csr, req.Name, ip)
	if err != nil {
		return joinResponse{}, 400, err
	}
	// The token is checked before the store's membership changes, and its
	// use is taken together with the node's record at the end: a refused
	// join writes nothing (a learner added for it is removed again).
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.Store.CheckToken(ctx, tok, j.now()); err != nil {
		return joinResponse{}, 403, err
	}
	resp := joinResponse{CACert: string(certPEM(ca)), Cert: string(certPEM(cert)), Endpoints: j.NC.Endpoints}
	if urls, err := j.Store.clientURLs(ctx); err == nil && len(urls) > 0 && j.NC.EtcdCA == "" && j.NC.EtcdCert == "" {
		resp.Endpoints = urls
	}
	voters := 0
	for _, n := range nodes {
		if n.Voter {
			voters++
		}
	}
	var learner uint64
	if j.NC.Embedded && voters < j.NC.Voters {
		peerPort := req.PeerPort
		if peerPort == 0 {
			peerPort = DefaultPeerPort
		}
		id, ic, err := j.Store.addLearner(ctx, req.Name, ip.String(), peerPort, func(ctx context.Context) error {
			return j.Store.CheckToken(ctx, tok, j.now())
		})
		if err != nil {
			code := 503
			if errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenUsed) {
				code = 403
			}
			return joinResponse{}, code, err
		}
		learner = id
		resp.Voter, resp.InitialCluster = true, ic
	}
	node := Node{Name: req.Name, Addr: ip.String(), CertPEM: string(certPEM(cert)), Voter: resp.Voter, Joined: j.now().UTC()}
	if err := j.Store.AdmitNode(ctx, tok, j.now(), node); err != nil {
		if learner != 0 {
			// A fresh context: the request's may be what ended.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, rerr := j.Store.C.MemberRemove(rctx, learner); rerr != nil {
				err = fmt.Errorf("%w (and removing its store learner %x failed: %v)", err, learner, rerr)
			}
			cancel()
		}
		code := 503
		switch {
		case errors.Is(err, ErrNodeExists):
			code = 409
		case errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenUsed):
			code = 403
		}
		return joinResponse{}, code, err
	}
	return resp, 200, nil
}

func (j *JoinServer) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// ServeHTTP answers POST /v1/join.
func (j *JoinServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/join" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var req joinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, 400, joinResponse{Error: "cluster: bad join request: " + err.Error()})
		return
	}
	// A voter's join can wait for the previous voter to catch up and be
	// promoted (the store takes one learner at a time): that wait is
	// bounded here, inside the joiner's own timeout.
	ctx, cancel := context.WithTimeout(r.Context(), joinWait)
	defer cancel()
	resp, code, err := j.admit(ctx, req)
	if err != nil {
		resp = joinResponse{Error: err.Error()}
	}
	writeJSON(w, code, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ListenJoin serves the join endpoint on the node's advertise address
// until ctx ends.
func (j *JoinServer) ListenJoin(ctx context.Context) error {
	tc, err := tlsConfig(j.Dir)
	if err != nil {
		return err
	}
	tc.ClientAuth = tls.NoClientCert // joiners have no certificate yet
	// The CA goes in the chain: the joiner checks it against the token's pin.
	ca, err := readCert(Paths{j.Dir}.CACert())
	if err != nil {
		return err
	}
	tc.Certificates[0].Certificate = append(tc.Certificates[0].Certificate, ca.Raw)
	l, err := tls.Listen("tcp", hostPort(j.NC.Advertise, j.NC.JoinPort), tc)
	if err != nil {
		return fmt.Errorf("cluster: join endpoint: %w", err)
	}
	srv := &http.Server{Handler: j, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cluster: join endpoint: %w", err)
	}
	return nil
}

// pinnedClient trusts exactly the CA whose key hash the token carries:
// the joiner authenticates the server before sending its token.
func pinnedClient(caHash string) *http.Client {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate's pin check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("cluster: join server sent no certificate")
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return fmt.Errorf("cluster: join server certificate: %w", err)
			}
			// The server sends only its leaf; it must be signed by a CA key
			// with the pinned hash, which the joiner fetches nowhere: it
			// tries the chain the server sent and reports the mismatch.
			for _, r := range raw[1:] {
				c, err := x509.ParseCertificate(r)
				if err == nil && CAHash(c) == caHash && leaf.CheckSignatureFrom(c) == nil {
					return nil
				}
			}
			return fmt.Errorf("cluster: the join server's certificate is not signed by the CA the token pins (%s): wrong server or wrong token", caHash)
		},
	}
	return &http.Client{Timeout: joinWait + 30*time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// Join admits this node to a cluster through server (host:port of a node
// holding the CA key) and writes its identity into dir. The key pair is
// made here and its private half never leaves the node.
func Join(ctx context.Context, dir, token, name, advertise, server string) (NodeConfig, error) {
	return JoinPorts(ctx, dir, token, name, advertise, server, DefaultClientPort, DefaultPeerPort)
}

// JoinPorts is Join with this node's store client and peer ports (used if
// it becomes one of the store's voters).
func JoinPorts(ctx context.Context, dir, token, name, advertise, server string, clientPort, peerPort int) (NodeConfig, error) {
	return JoinWith(ctx, dir, token, server, JoinOptions{Name: name, Advertise: advertise, ClientPort: clientPort, PeerPort: peerPort})
}

// JoinOptions are a joining node's settings.
type JoinOptions struct {
	Name, Advertise      string
	ClientPort, PeerPort int // if it becomes a store voter
	// This node's client credentials for a cluster on an external etcd.
	EtcdCA, EtcdCert, EtcdKey string
}

// JoinWith is Join with every option.
func JoinWith(ctx context.Context, dir, token, server string, o JoinOptions) (NodeConfig, error) {
	name, advertise, clientPort, peerPort := o.Name, o.Advertise, o.ClientPort, o.PeerPort
	if clientPort == 0 {
		clientPort = DefaultClientPort
	}
	if peerPort == 0 {
		peerPort = DefaultPeerPort
	}
	creds := o.EtcdCA != "" || o.EtcdCert != "" || o.EtcdKey != ""
	if creds && (o.EtcdCA == "" || o.EtcdCert == "" || o.EtcdKey == "") {
		return NodeConfig{}, fmt.Errorf("cluster: an external etcd needs --etcd-ca, --etcd-cert and --etcd-key")
	}
	var nc NodeConfig
	tok, err := ParseToken(token)
	if err != nil {
		return nc, err
	}
	p := Paths{dir}
	if _, err := os.Stat(p.Config()); err == nil {
		return nc, fmt.Errorf("cluster: %s exists: this node is already a member (cygnet cluster leave first)", p.Config())
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = hostPort(server, DefaultJoinPort)
	}
	k, csr, err := NewCSR(name)
	if err != nil {
		return nc, err
	}
	body, _ := json.Marshal(joinRequest{Token: token, Name: name, Advertise: advertise, CSR: csr,
		ClientPort: clientPort, PeerPort: peerPort, EtcdCreds: creds})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+server+"/v1/join", bytes.NewReader(body))
	if err != nil {
		return nc, fmt.Errorf("cluster: %w", err)
	}
	resp, err := pinnedClient(tok.CAHash).Do(req)
	if err != nil {
		return nc, fmt.Errorf("cluster: join %s: %w", server, err)
	}
	defer resp.Body.Close()
	var jr joinResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&jr); err != nil {
		return nc, fmt.Errorf("cluster: join %s: bad answer (HTTP %d): %w", server, resp.StatusCode, err)
	}
	if jr.Error != "" || resp.StatusCode != 200 {
		return nc, fmt.Errorf("cluster: join refused by %s: %s", server, jr.Error)
	}
	ca, err := parseCertPEM([]byte(jr.CACert))
	if err != nil || CAHash(ca) != tok.CAHash {
		return nc, fmt.Errorf("cluster: join %s: the CA certificate returned does not match the token's pin", server)
	}
	keyB, err := keyPEM(k)
	if err != nil {
		return nc, err
	}
	for _, f := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{{p.CACert(), []byte(jr.CACert), 0o644}, {p.Key(), keyB, 0o600}, {p.Cert(), []byte(jr.Cert), 0o644}} {
		if err := writeFile(f.path, f.b, f.mode); err != nil {
			return nc, err
		}
	}
	nc = NodeConfig{Name: name, Advertise: advertise, Endpoints: jr.Endpoints,
		Embedded: jr.Voter, InitialCluster: jr.InitialCluster,
		ClientPort: clientPort, PeerPort: peerPort, JoinPort: DefaultJoinPort}
	if creds {
		nc.EtcdCA, nc.EtcdCert, nc.EtcdKey = absPath(o.EtcdCA), absPath(o.EtcdCert), absPath(o.EtcdKey)
	}
	return nc, saveNodeConfig(dir, nc)
}
