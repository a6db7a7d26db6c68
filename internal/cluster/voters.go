package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The store's voters: the first node runs the only etcd member unless the
// cluster was initialised with --voters 3 or 5, in which case the next
// nodes to join also run one, until there are that many. A new voter
// joins as a learner (it receives the log without voting, so a slow or
// failed start never costs the cluster its quorum) and is promoted by the
// agents once it has caught up. Other nodes are clients only.

// ValidVoters reports whether n is a supported number of voters: an odd
// number, so that a quorum survives (n-1)/2 failures.
func ValidVoters(n int) bool { return n == 1 || n == 3 || n == 5 }

// peerURL is the etcd peer URL of a node.
func peerURL(addr string, port int) string {
	return (&url.URL{Scheme: "https", Host: hostPort(addr, port)}).String()
}

// addLearner adds a node's etcd member as a learner and returns its
// member ID and the initial-cluster string its member starts with (every
// member, itself included). While it waits for the store to take a new
// member it calls still, and gives up with its error (a join whose token
// was used meanwhile by another join).
func (s *Store) addLearner(ctx context.Context, name, addr string, peerPort int, still func(context.Context) error) (uint64, string, error) {
	pu := peerURL(addr, peerPort)
	for {
		// Each attempt is bounded: a membership change whose answer is
		// lost (etcd can time out a change that it then applies) must not
		// hold the join, and the next attempt finds the member added.
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := s.C.MemberAddAsLearner(actx, []string{pu})
		cancel()
		if err == nil {
			return resp.Member.ID, initialCluster(resp.Members, resp.Member.ID, name), nil
		}
		desc := rpctypes.ErrorDesc(err)
		lost := errors.Is(err, context.DeadlineExceeded) || desc == rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeout) || desc == rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeoutDueToConnectionLost)
		if desc == rpctypes.ErrorDesc(rpctypes.ErrGRPCPeerURLExist) || lost {
			if l, lerr := s.C.MemberList(ctx); lerr == nil {
				for _, m := range l.Members {
					if m.IsLearner && m.Name == "" && slices.Contains(m.PeerURLs, pu) {
						return m.ID, initialCluster(l.Members, m.ID, name), nil
					}
				}
			}
		}
		// etcd refuses membership changes until its leader has been
		// connected to every voter for a few seconds (a voter promoted a
		// moment ago), and takes one learner at a time (the previous
		// voter to join is promoted by the agents once it has caught up):
		// wait for that, as long as the caller lets us.
		if desc != rpctypes.ErrorDesc(rpctypes.ErrGRPCUnhealthy) && desc != rpctypes.ErrorDesc(rpctypes.ErrGRPCTooManyLearners) && !lost {
			return 0, "", fmt.Errorf("cluster: adding %s to the store as a learner: %w", name, err)
		}
		if still != nil {
			if err := still(ctx); err != nil {
				return 0, "", err
			}
		}
		select {
		case <-ctx.Done():
			return 0, "", fmt.Errorf("cluster: adding %s to the store as a learner (the store takes one new member at a time, once the previous one has caught up): %w", name, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// initialCluster is the initial-cluster string of a member about to start:
// every member's peer URLs, the new one under its name (it has none in the
// list until it starts).
func initialCluster(members []*etcdserverpb.Member, id uint64, name string) string {
	var parts []string
	for _, m := range members {
		mname := m.Name
		if m.ID == id {
			mname = name
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, mname+"="+u)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// clientURLs lists the client URLs of the store's voting members.
func (s *Store) clientURLs(ctx context.Context) ([]string, error) {
	resp, err := s.C.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: store members: %w", err)
	}
	var urls []string
	for _, m := range resp.Members {
		if !m.IsLearner {
			urls = append(urls, m.ClientURLs...)
		}
	}
	slices.Sort(urls)
	return urls, nil
}

// promoteLearners promotes every learner that has caught up with the
// leader; the others stay learners until a later round. It returns the
// names promoted. Only the leader's agent calls it, so that one promotion
// is in flight at a time.
func (s *Store) promoteLearners(ctx context.Context) ([]string, error) {
	resp, err := s.C.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: store members: %w", err)
	}
	var done []string
	for _, m := range resp.Members {
		if !m.IsLearner || m.Name == "" {
			continue // not a learner, or not started yet
		}
		// Bounded, as the learner add is: a promotion etcd applied but
		// answered too late is found done at the next round.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.C.MemberPromote(pctx, m.ID)
		cancel()
		switch desc := rpctypes.ErrorDesc(err); {
		case err == nil:
			done = append(done, m.Name)
		case desc == rpctypes.ErrorDesc(rpctypes.ErrGRPCLearnerNotReady), desc == rpctypes.ErrorDesc(rpctypes.ErrGRPCMemberNotLearner),
			errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			// not caught up yet, promoted meanwhile, or the answer was
			// lost: the next round sees which
		default:
			return done, fmt.Errorf("cluster: promoting %s: %w", m.Name, err)
		}
	}
	return done, nil
}

// leads reports whether the store member serving at endpoint is the raft
// leader.
func (s *Store) leads(ctx context.Context, endpoint string) bool {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.ep.Lock()
	defer s.ep.Unlock()
	st, err := s.C.Status(sctx, endpoint)
	return err == nil && st.Header != nil && st.Leader == st.Header.MemberId
}

// RemoveMember takes a node's etcd member (voter or learner) out of the
// store's membership, if it has one.
func (s *Store) RemoveMember(ctx context.Context, name, addr string) error {
	resp, err := s.C.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("cluster: store members: %w", err)
	}
	for _, m := range resp.Members {
		match := m.Name == name
		for _, u := range m.PeerURLs {
			if pu, err := url.Parse(u); err == nil && pu.Hostname() == addr {
				match = true
			}
		}
		if !match {
			continue
		}
		if len(resp.Members) == 1 {
			return fmt.Errorf("cluster: %s runs the store's only member: it cannot be removed", name)
		}
		if _, err := s.C.MemberRemove(ctx, m.ID); err != nil {
			return fmt.Errorf("cluster: removing %s from the store: %w", name, err)
		}
	}
	return nil
}
