package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// NodeReport is one node's line in the cluster status.
type NodeReport struct {
	Name       string `json:"name"`
	Addr       string `json:"addr"`
	Alive      bool   `json:"alive"`
	Generation int64  `json:"applied_generation"`
	Phase      string `json:"applied_phase"`
	Daemon     string `json:"daemon"`
	Version    string `json:"version"`
	ESP        bool   `json:"esp"`
	Error      string `json:"error,omitempty"`
	// Stale lists removed members this node still has a conn to.
	Stale []string `json:"stale,omitempty"`
}

// PairReport is one pair of the matrix, as seen from both ends.
type PairReport struct {
	A        string `json:"a"`
	B        string `json:"b"`
	StateAB  string `json:"state_a"` // what A reports of its SA to B
	StateBA  string `json:"state_b"`
	SAAge    string `json:"sa_age,omitempty"`
	BytesAB  uint64 `json:"bytes_a_out"`
	BytesBA  uint64 `json:"bytes_b_out"`
	AsWanted bool   `json:"as_desired"`
	Hint     string `json:"hint,omitempty"`
}

// Report is `cygnet cluster status`.
type Report struct {
	Desired Desired      `json:"desired"`
	Nodes   []NodeReport `json:"nodes"`
	Pairs   []PairReport `json:"pairs"`
	OK      bool         `json:"ok"` // every pair as desired, every node caught up
}

// BuildReport reads the store into a Report.
func (s *Store) BuildReport(ctx context.Context) (Report, error) {
	var r Report
	d, _, err := s.Desired(ctx)
	if err != nil {
		return r, err
	}
	d.PSK = "" // never shown
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return r, err
	}
	alive, err := s.Alive(ctx)
	if err != nil {
		return r, err
	}
	obs, err := s.Observed(ctx)
	if err != nil {
		return r, err
	}
	r.Desired = d
	r.OK = true
	for _, n := range nodes {
		o := obs[n.Name]
		nr := NodeReport{Name: n.Name, Addr: n.Addr, Alive: alive[n.Name], Generation: o.Generation, Phase: o.Phase,
			Daemon: o.Daemon, Version: o.Version, ESP: o.ESP, Error: o.Error}
		if !nr.Alive || nr.Generation != d.Generation || nr.Phase != d.Phase || nr.Error != "" {
			r.OK = false
		}
		r.Nodes = append(r.Nodes, nr)
	}
	// A node still holding a conn to a removed member has not caught up:
	// removal is done only when every member dropped it.
	member := map[string]bool{}
	for _, n := range nodes {
		member[n.Name] = true
	}
	for i, n := range nodes {
		for peer := range obs[n.Name].Pairs {
			if !member[peer] && alive[n.Name] {
				r.OK = false
				r.Nodes[i].Stale = append(r.Nodes[i].Stale, peer)
			}
		}
	}
	on := d.State == "on"
	if on && d.Phase != PhaseEnforced {
		r.OK = false
	}
	if !on && d.Phase != PhaseOff {
		r.OK = false
	}
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			a, b := nodes[i], nodes[j]
			ab, ba := pairState(obs, a.Name, b.Name, on, alive), pairState(obs, b.Name, a.Name, on, alive)
			p := PairReport{A: a.Name, B: b.Name, StateAB: ab.State, StateBA: ba.State, SAAge: ab.SAAge,
				BytesAB: ab.BytesOut, BytesBA: ba.BytesOut}
			if on {
				p.AsWanted = ab.State == "ESTABLISHED" && ba.State == "ESTABLISHED"
			} else {
				p.AsWanted = ab.State == "cleartext" && ba.State == "cleartext"
			}
			if on && !p.AsWanted && (ab.State == "connecting" || ab.State == "blocked" || ba.State == "connecting" || ba.State == "blocked") {
				p.Hint = fmt.Sprintf("IKE does not complete: UDP 500/4500 or ESP (IP protocol 50) blocked between %s and %s?", a.Addr, b.Addr)
			}
			if !p.AsWanted {
				r.OK = false
			}
			r.Pairs = append(r.Pairs, p)
		}
	}
	return r, nil
}

func pairState(obs map[string]Observed, self, peer string, on bool, alive map[string]bool) PairStatus {
	if !alive[self] {
		return PairStatus{State: "unknown"}
	}
	ps, ok := obs[self].Pairs[peer]
	switch {
	case !ok && on:
		return PairStatus{State: "down"}
	case !ok:
		return PairStatus{State: "cleartext"}
	case ps.State == "routed":
		ps.State = "blocked" // trap policy, no SA yet: packets wait for IKE, none leave in clear
	case ps.State == "down" && !on:
		ps.State = "cleartext"
	}
	return ps
}

// WriteText prints the report for people.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "cluster: %s (generation %d, phase %s, set by %s at %s)\n", strings.ToUpper(r.Desired.State),
		r.Desired.Generation, r.Desired.Phase, r.Desired.By, r.Desired.At.Format("2006-01-02 15:04:05Z"))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tALIVE\tAPPLIED\tDAEMON\tESP\tERROR")
	for _, n := range r.Nodes {
		esp := "yes"
		if !n.ESP {
			esp = "NO"
		}
		errs := n.Error
		if len(n.Stale) > 0 {
			errs = strings.TrimSpace(errs + " still has conns to removed " + strings.Join(n.Stale, ","))
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d/%s\t%s\t%s\t%s\n", n.Name, n.Addr, n.Alive, n.Generation, n.Phase, n.Version, esp, errs)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tA->B\tB->A\tSA AGE\tBYTES A->B\tBYTES B->A\tOK")
	for _, p := range r.Pairs {
		fmt.Fprintf(tw, "%s<->%s\t%s\t%s\t%s\t%d\t%d\t%v\n", p.A, p.B, p.StateAB, p.StateBA, p.SAAge, p.BytesAB, p.BytesBA, p.AsWanted)
	}
	tw.Flush()
	for _, p := range r.Pairs {
		if p.Hint != "" {
			fmt.Fprintf(w, "hint: %s\n", p.Hint)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "every pair is as desired")
	} else {
		fmt.Fprintln(w, "NOT every pair is as desired yet")
	}
}

// Backup is the cluster's durable state (switch, members, tokens): what a
// restore needs to bring the setting back. Liveness and reports are not
// kept; agents rewrite them.
type Backup struct {
	Format string            `json:"format"`
	KVs    map[string]string `json:"kvs"`
}

// Backup exports the durable keys.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	r, err := s.C.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("cluster: backup: %w", err)
	}
	b := Backup{Format: "cygnet-cluster-backup/1", KVs: map[string]string{}}
	for _, kv := range r.Kvs {
		k := string(kv.Key)
		if strings.HasPrefix(k, prefixAlive) || strings.HasPrefix(k, prefixStatus) || strings.HasPrefix(k, prefixTokens) {
			continue
		}
		b.KVs[k] = string(kv.Value)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// Restore writes a backup's keys back in one transaction. The switch gets
// a new generation, so every agent re-applies it.
func (s *Store) Restore(ctx context.Context, rd io.Reader) error {
	var b Backup
	if err := json.NewDecoder(rd).Decode(&b); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	if b.Format != "cygnet-cluster-backup/1" {
		return fmt.Errorf("cluster: restore: unknown format %q", b.Format)
	}
	raw, ok := b.KVs[keyDesired]
	if !ok {
		return fmt.Errorf("cluster: restore: backup holds no desired state")
	}
	var d Desired
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	if cur, _, err := s.Desired(ctx); err == nil && cur.Generation >= d.Generation {
		d.Generation = cur.Generation + 1
	} else {
		d.Generation++
	}
	// Restart the rollout from its first phase: the restored cluster's
	// kernels may hold anything.
	if d.State == "on" {
		d.Phase = PhaseLoaded
	} else {
		d.Phase = PhaseUnrouted
	}
	nb, _ := json.Marshal(d)
	b.KVs[keyDesired] = string(nb)
	keys := make([]string, 0, len(b.KVs))
	for k := range b.KVs {
		if !strings.HasPrefix(k, prefix) {
			return fmt.Errorf("cluster: restore: key %q outside %s", k, prefix)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Members the backup does not know are dropped (a txn may not name a
	// key twice, so no blanket delete of the prefix).
	cur, err := s.C.Get(ctx, prefixNodes, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	var ops []clientv3.Op
	for _, kv := range cur.Kvs {
		if _, keep := b.KVs[string(kv.Key)]; !keep {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
	}
	for _, k := range keys {
		ops = append(ops, clientv3.OpPut(k, b.KVs[k]))
	}
	if _, err := s.C.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	return nil
}
