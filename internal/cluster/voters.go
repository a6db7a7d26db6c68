package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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

// addLearner adds a node's etcd member as a learner and returns the
// initial-cluster string its member starts with (every member, itself
// included).
func (s *Store) addLearner(ctx context.Context, name, addr string, peerPort int) (string, error) {
	pu := peerURL(addr, peerPort)
	var resp *clientv3.MemberAddResponse
	var err error
	for {
		resp, err = s.C.MemberAddAsLearner(ctx, []string{pu})
		// etcd refuses membership changes until its leader has been
		// connected to every voter for a few seconds (a voter promoted a
		// moment ago), and takes one learner at a time (the previous
		// voter to join is promoted once it has caught up): wait for
		// that, as long as the caller lets us.
		desc := rpctypes.ErrorDesc(err)
		if err == nil || (desc != rpctypes.ErrorDesc(rpctypes.ErrGRPCUnhealthy) && desc != rpctypes.ErrorDesc(rpctypes.ErrGRPCTooManyLearners)) {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("cluster: adding %s to the store as a learner: %w", name, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		return "", fmt.Errorf("cluster: adding %s to the store as a learner: %w", name, err)
	}
	var parts []string
	for _, m := range resp.Members {
		mname := m.Name
		if m.ID == resp.Member.ID {
			mname = name // not started yet: it has no name in the list
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, mname+"="+u)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ","), nil
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
// names promoted.
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
		if _, err := s.C.MemberPromote(ctx, m.ID); err != nil {
			if errors.Is(err, rpctypes.ErrMemberLearnerNotReady) || rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(rpctypes.ErrGRPCLearnerNotReady) {
				continue
			}
			return done, fmt.Errorf("cluster: promoting %s: %w", m.Name, err)
		}
		done = append(done, m.Name)
	}
	return done, nil
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
