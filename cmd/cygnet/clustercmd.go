package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/cluster"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

func init() {
	register("cluster", "cluster-wide IPsec: init, join, enable, disable, status, remove, leave, agent", runCluster)
}

const clusterUsage = `usage: cygnet cluster COMMAND [flags]
  init --advertise ADDR [--name N] [--auth pubkey|psk]   create the cluster on this node, print a join token
  join --token T --advertise ADDR [--name N] SERVER       join through SERVER (a node holding the CA)
  token create [--ttl 1h] [--uses N]                       make another join token
  enable | disable                                         switch IPsec on or off on every node
  status [--json]                                          desired state, nodes and the pair matrix
  remove NODE                                              remove a member (also a dead one)
  leave                                                    remove this node
  backup FILE | restore FILE                               save or bring back the cluster's setting and members
  agent [--confdir DIR] [--ipsec PATH] [--metrics ADDR]    the per-node agent (cygnet-cluster.service)
common flags: --state-dir DIR (default ` + cluster.DefaultStateDir + `)`

func runCluster(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, clusterUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "init":
		err = clusterInit(ctx, args[1:])
	case "join":
		err = clusterJoin(ctx, args[1:])
	case "token":
		err = clusterToken(ctx, args[1:])
	case "enable", "disable":
		err = clusterSwitch(ctx, args[0] == "enable", args[1:])
	case "status":
		return clusterStatus(ctx, args[1:])
	case "remove":
		err = clusterRemove(ctx, args[1:], false)
	case "leave":
		err = clusterRemove(ctx, args[1:], true)
	case "backup", "restore":
		err = clusterBackup(ctx, args[0] == "backup", args[1:])
	case "agent":
		err = clusterAgent(ctx, args[1:])
	default:
		fmt.Fprintf(os.Stderr, "cygnet cluster: unknown command %q\n%s\n", args[0], clusterUsage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(os.Stderr, "cygnet cluster %s: %v\n", args[0], err)
		// 3: not (or no longer) a member; cygnet-cluster.service does not
		// restart the agent for it.
		if errors.Is(err, cluster.ErrNotMember) || errors.Is(err, cluster.ErrRemoved) {
			return 3
		}
		return 1
	}
	return 0
}

func stateFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("cygnet cluster "+name, flag.ContinueOnError)
	dir := fs.String("state-dir", envOr("CYGNET_CLUSTER_DIR", cluster.DefaultStateDir), "the node's cluster state directory")
	return fs, dir
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseFlags(fs *flag.FlagSet, args []string, nargs int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != nargs {
		return fmt.Errorf("want %d argument(s), got %d (%s)", nargs, fs.NArg(), strings.Join(fs.Args(), " "))
	}
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	return h
}

// startAgent starts the installed unit when systemd runs; otherwise it
// says how to run the agent.
func startAgent(noStart bool) {
	if noStart {
		return
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		if out, err := exec.Command("systemctl", "enable", "--now", "cygnet-cluster.service").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "cygnet cluster: could not start cygnet-cluster.service: %v: %s\n", err, strings.TrimSpace(string(out)))
		}
		return
	}
	fmt.Fprintln(os.Stderr, "cygnet cluster: no systemd here: run `cygnet cluster agent` to serve this node")
}

func clusterInit(ctx context.Context, args []string) error {
	fs, dir := stateFlags("init")
	adv := fs.String("advertise", "", "this node's address for IKE and the store (required)")
	name := fs.String("name", hostname(), "this node's name")
	auth := fs.String("auth", "pubkey", "peer authentication: pubkey (a key pair per node, CA-signed) or psk (one random 256-bit key)")
	cp := fs.Int("client-port", cluster.DefaultClientPort, "store client port")
	pp := fs.Int("peer-port", cluster.DefaultPeerPort, "store peer port")
	jp := fs.Int("join-port", cluster.DefaultJoinPort, "join endpoint port")
	voters := fs.Int("voters", 1, "how many nodes run a store (etcd) member: 1, or 3 or 5 for a store that survives 1 or 2 failed nodes (the next nodes to join become voters)")
	eps := fs.String("etcd-endpoints", "", "an external etcd's client URLs, comma-separated, instead of the embedded store")
	eca, ecert, ekey := etcdFlags(fs)
	noStart := fs.Bool("no-start", false, "do not start cygnet-cluster.service")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *adv == "" {
		return errors.New("--advertise is required")
	}
	if !cluster.ValidVoters(*voters) {
		return fmt.Errorf("--voters %d: want 1, 3 or 5", *voters)
	}
	var endpoints []string
	for _, e := range strings.Split(*eps, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if !cluster.ValidName(*name) {
		return fmt.Errorf("--name %q: want lower-case letters, digits, '.' and '-'", *name)
	}
	tok, err := cluster.InitWith(ctx, *dir, cluster.InitOptions{Name: *name, Advertise: *adv, ClientPort: *cp, PeerPort: *pp,
		JoinPort: *jp, Auth: *auth, Voters: *voters, EtcdEndpoints: endpoints, EtcdCA: *eca, EtcdCert: *ecert, EtcdKey: *ekey})
	if err != nil {
		return err
	}
	if len(endpoints) > 0 {
		fmt.Printf("cluster created in the etcd at %s; node %s is its first member and holds the CA.\n", strings.Join(endpoints, ","), *name)
	} else {
		fmt.Printf("cluster created; node %s is its first member and holds the store and the CA.\n", *name)
	}
	fmt.Printf("join token (valid 24h, any number of uses):\n%s\n", tok)
	fmt.Printf("on another node: cygnet cluster join --token %s --advertise ADDR %s:%d\n", tok, *adv, *jp)
	startAgent(*noStart)
	return nil
}

func clusterJoin(ctx context.Context, args []string) error {
	fs, dir := stateFlags("join")
	tok := fs.String("token", "", "join token from `cygnet cluster init` or `token create` (required)")
	adv := fs.String("advertise", "", "this node's address (required)")
	name := fs.String("name", hostname(), "this node's name")
	cp := fs.Int("client-port", cluster.DefaultClientPort, "store client port, if this node becomes a store voter")
	pp := fs.Int("peer-port", cluster.DefaultPeerPort, "store peer port, if this node becomes a store voter")
	eca, ecert, ekey := etcdFlags(fs)
	noStart := fs.Bool("no-start", false, "do not start cygnet-cluster.service")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if *tok == "" || *adv == "" {
		return errors.New("--token and --advertise are required")
	}
	nc, err := cluster.JoinWith(ctx, *dir, *tok, fs.Arg(0), cluster.JoinOptions{Name: *name, Advertise: *adv,
		ClientPort: *cp, PeerPort: *pp, EtcdCA: *eca, EtcdCert: *ecert, EtcdKey: *ekey})
	if err != nil {
		return err
	}
	fmt.Printf("node %s joined the cluster\n", *name)
	if nc.Embedded {
		fmt.Printf("it runs one of the store's voters (a learner until it has caught up)\n")
	}
	startAgent(*noStart)
	return nil
}

// etcdFlags are this node's client credentials for an external etcd.
func etcdFlags(fs *flag.FlagSet) (ca, cert, key *string) {
	ca = fs.String("etcd-ca", "", "external etcd: CA certificate file that signed its server certificates")
	cert = fs.String("etcd-cert", "", "external etcd: this node's client certificate file")
	key = fs.String("etcd-key", "", "external etcd: this node's client key file")
	return ca, cert, key
}

func connect(ctx context.Context, dir string) (*cluster.Store, cluster.NodeConfig, error) {
	nc, err := cluster.LoadNodeConfig(dir)
	if err != nil {
		return nil, nc, err
	}
	st, err := cluster.Connect(ctx, dir, nc)
	return st, nc, err
}

func clusterToken(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: cygnet cluster token create [--ttl 1h] [--uses N]")
	}
	fs, dir := stateFlags("token create")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	uses := fs.Int("uses", 0, "how many joins it admits (0: any number until it expires)")
	if err := parseFlags(fs, args[1:], 0); err != nil {
		return err
	}
	st, _, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer st.C.Close()
	ca, err := cluster.ReadCACert(*dir)
	if err != nil {
		return err
	}
	tok, err := st.CreateToken(ctx, cluster.CAHash(ca), *ttl, *uses)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func clusterSwitch(ctx context.Context, on bool, args []string) error {
	fs, dir := stateFlags("enable")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	st, nc, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer st.C.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if on {
		// Documented rule: a live member whose kernel cannot do ESP would
		// block (never leak) its traffic forever; enable refuses instead.
		r, err := st.BuildReport(ctx)
		if err != nil {
			return err
		}
		var bad []string
		for _, n := range r.Nodes {
			if n.Alive && n.Daemon != "" && !n.ESP {
				bad = append(bad, n.Name)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("refused: the kernel of %s has no ESP support (load esp4/esp6 or remove the node)", strings.Join(bad, ", "))
		}
	}
	d, err := st.SetSwitch(ctx, on, nc.Name)
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("%w: run cygnet cluster status and try again", err)
	}
	if err != nil {
		return err
	}
	fmt.Printf("cluster %s: generation %d, phase %s; the agents roll it out (cygnet cluster status)\n", d.State, d.Generation, d.Phase)
	return nil
}

func clusterStatus(ctx context.Context, args []string) int {
	fs, dir := stateFlags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		fmt.Fprintf(os.Stderr, "cygnet cluster status: %v\n", err)
		return 2
	}
	st, _, err := connect(ctx, *dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cygnet cluster status: %v\n", err)
		return 1
	}
	defer st.C.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := st.BuildReport(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cygnet cluster status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		r.WriteText(os.Stdout)
	}
	if !r.OK {
		return 1
	}
	return 0
}

func clusterRemove(ctx context.Context, args []string, self bool) error {
	fs, dir := stateFlags("remove")
	n := 1
	if self {
		n = 0
	}
	if err := parseFlags(fs, args, n); err != nil {
		return err
	}
	st, nc, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer st.C.Close()
	name := nc.Name
	if !self {
		name = fs.Arg(0)
	}
	nodes, err := st.Nodes(ctx)
	if err != nil {
		return err
	}
	addr := ""
	for _, n := range nodes {
		if n.Name == name {
			addr = n.Addr
		}
	}
	// Its store member goes first (a dead voter would count against the
	// quorum forever); the store's only member is refused here, before
	// anything changed.
	if addr != "" {
		if err := st.RemoveMember(ctx, name, addr); err != nil {
			return err
		}
	}
	if err := st.RemoveNode(ctx, name); err != nil {
		return err
	}
	fmt.Printf("node %s removed; every member drops its conn to it\n", name)
	return nil
}

func clusterBackup(ctx context.Context, backup bool, args []string) error {
	fs, dir := stateFlags("backup")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	st, _, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer st.C.Close()
	if backup {
		f, err := os.OpenFile(fs.Arg(0), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if err := st.Backup(ctx, f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	return st.Restore(ctx, f)
}

func clusterAgent(ctx context.Context, args []string) error {
	fs, dir := stateFlags("agent")
	confdir := fs.String("confdir", "/etc", "where the agent writes ipsec.conf, ipsec.secrets and ipsec.d/")
	ipsec := fs.String("ipsec", "ipsec", "the ipsec command of the node's daemon (cygnet's or strongSwan's)")
	passConfdir := fs.Bool("pass-confdir", false, "pass --confdir to the ipsec command (cygnet only)")
	metrics := fs.String("metrics", "127.0.0.1:9720", "address of the Prometheus /metrics endpoint (empty: none)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	nc, err := cluster.LoadNodeConfig(*dir)
	if err != nil {
		return err
	}
	if nc.Embedded {
		e, err := cluster.StartEmbedded(ctx, *dir, nc)
		if err != nil {
			return err
		}
		defer e.Close()
	}
	st, err := cluster.Connect(ctx, *dir, nc)
	if err != nil {
		return err
	}
	defer st.C.Close()
	d := cluster.IpsecCommand{Path: *ipsec}
	if *passConfdir {
		d.ConfDir = *confdir
	}
	a := &cluster.Agent{Dir: *dir, NC: nc, Store: st, Daemon: d, ConfDir: *confdir, Log: log, Sysctl: "/proc/sys"}
	// The store's ports bypass IPsec between members (pass policies in
	// this namespace's XFRM layer).
	if k, err := xfrm.Open("/proc/self/ns/net"); err != nil {
		log.Warn("cluster: no XFRM access: the store's traffic does not bypass IPsec", "err", err)
	} else {
		defer k.Close()
		a.Kernel = k
	}
	if cluster.HasCAKey(*dir) {
		js := &cluster.JoinServer{Dir: *dir, Store: st, NC: nc}
		go func() {
			if err := js.ListenJoin(ctx); err != nil {
				log.Error("cluster: join endpoint", "err", err)
			}
		}()
	}
	if *metrics != "" {
		go func() {
			if err := a.ServeMetrics(ctx, *metrics); err != nil {
				log.Error("cluster: metrics", "err", err)
			}
		}()
	}
	log.Info("cluster agent running", "node", nc.Name, "store", nc.Endpoints, "confdir", *confdir)
	err = a.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if errors.Is(err, cluster.ErrRemoved) {
		if ferr := cluster.Forget(*dir); ferr != nil {
			log.Error("cluster: forgetting membership", "err", ferr)
		}
	}
	return err
}
