package xfrm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrorCounters are the kernel's XFRM error counters of a namespace
// (/proc/net/xfrm_stat), by the kernel's names (XfrmInNoStates, ...), in
// the kernel's order.
type ErrorCounters []Counter

// Counter is one named counter.
type Counter struct {
	Name  string
	Value uint64
}

// Get returns the named counter, 0 when absent.
func (e ErrorCounters) Get(name string) uint64 {
	for _, c := range e {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

// ErrorCounters reads the namespace's XFRM error counters.
func (h *Handle) ErrorCounters(ctx context.Context) (ErrorCounters, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	err := h.inNamespace(func() error {
		var err error
		// thread-self: /proc/net follows the reading thread's namespace.
		data, err = os.ReadFile("/proc/thread-self/net/xfrm_stat")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("xfrm: error counters in %s: %w", h.nsPath, err)
	}
	return parseXfrmStat(data)
}

func parseXfrmStat(data []byte) (ErrorCounters, error) {
	var out ErrorCounters
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("xfrm: xfrm_stat line %d: want NAME VALUE, got %q", n, sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("xfrm: xfrm_stat line %d: %w", n, err)
		}
		out = append(out, Counter{Name: f[0], Value: v})
	}
	return out, sc.Err()
}
