package bench

import (
	"slices"
	"time"
)

// Latency summarises the setup times of the completed SAs.
type Latency struct {
	Min, Mean, P50, P90, P99, Max time.Duration
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p percent of
// the values are at or below it. sorted must be in ascending order; an
// empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// rank = ceil(p/100 * n), computed in integers where possible so that
	// p = 50 of 100 values is exactly the 50th, not the 51st through a
	// rounding error.
	x := p * float64(n) / 100
	rank := int(x)
	if float64(rank) < x {
		rank++
	}
	rank = max(rank, 1)
	return sorted[rank-1]
}

// Summarize computes the latency summary of ds, which it does not modify.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{
		Min:  s[0],
		Mean: sum / time.Duration(len(s)),
		P50:  Percentile(s, 50),
		P90:  Percentile(s, 90),
		P99:  Percentile(s, 99),
		Max:  s[len(s)-1],
	}
}
