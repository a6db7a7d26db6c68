package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// WriteJSON writes r as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// WriteText writes r for a person.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := fmt.Sprintf("closed loop, %d in flight", r.Inflight)
	if r.Rate > 0 {
		mode = fmt.Sprintf("open loop, %.0f/s", r.Rate)
		if r.Inflight > 0 {
			mode += fmt.Sprintf(", at most %d in flight", r.Inflight)
		}
	}
	fmt.Fprintf(&b, "responder    %s  ike=%s esp=%s auth=%s\n", r.Target, r.IKE, r.ESP, r.Auth)
	fmt.Fprintf(&b, "run          %d SAs, %s (%d engines, %d sockets)\n", r.SAs, mode, r.Engines, r.Readers)
	fmt.Fprintf(&b, "completed    %d\n", r.Completed)
	fmt.Fprintf(&b, "failed       %d", r.Failed)
	reasons := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		reasons = append(reasons, k)
	}
	slices.Sort(reasons)
	for i, k := range reasons {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s %d", sep, k, r.Failures[k])
	}
	b.WriteString("\n")
	for _, k := range reasons {
		fmt.Fprintf(&b, "  %s e.g. %s\n", k, r.Examples[k])
	}
	if r.NotStarted > 0 {
		fmt.Fprintf(&b, "not started  %d (interrupted)\n", r.NotStarted)
	}
	fmt.Fprintf(&b, "retransmits  %d\n", r.Retransmits)
	if r.Rate > 0 {
		fmt.Fprintf(&b, "late starts  %d\n", r.Late)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(&b, "dropped      %d datagrams\n", r.Dropped)
	}
	fmt.Fprintf(&b, "elapsed      %s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "setups/s     %.1f\n", r.SetupsPerS)
	l := r.LatencyMS
	fmt.Fprintf(&b, "latency ms   min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n",
		l.Min, l.P50, l.P90, l.P99, l.Max, l.Mean)
	fmt.Fprintf(&b, "cpu          user %.2fs  sys %.2fs  %.3f ms per setup (this process)\n",
		r.CPU.UserS, r.CPU.SysS, r.CPU.PerSetupMS)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
