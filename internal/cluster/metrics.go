package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the agent's Prometheus series, on its own registry so an
// embedding program's default registry is not touched.
type metrics struct {
	reg        *prometheus.Registry
	events     *prometheus.CounterVec
	pairUp     *prometheus.GaugeVec
	pairBytes  *prometheus.GaugeVec
	generation prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg:        prometheus.NewRegistry(),
		events:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cygnet_cluster_agent_events_total", Help: "Agent events: applies, apply_errors, store_errors."}, []string{"event"}),
		pairUp:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cygnet_cluster_pair_established", Help: "1 when this node's SA to the peer is installed."}, []string{"peer"}),
		pairBytes:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cygnet_cluster_pair_bytes", Help: "Bytes through the pair's current CHILD_SA."}, []string{"peer", "dir"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cygnet_cluster_applied_generation", Help: "Generation of the desired state this node applied."}),
	}
	m.reg.MustRegister(m.events, m.pairUp, m.pairBytes, m.generation)
	return m
}

func (a *Agent) m() *metrics {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metrics == nil {
		a.metrics = newMetrics()
	}
	return a.metrics
}

func (a *Agent) count(ev string) { a.m().events.WithLabelValues(ev).Inc() }

func (a *Agent) observe(o Observed) {
	m := a.m()
	m.generation.Set(float64(o.Generation))
	m.pairUp.Reset()
	m.pairBytes.Reset()
	for peer, ps := range o.Pairs {
		v := 0.0
		if ps.State == "ESTABLISHED" {
			v = 1
		}
		m.pairUp.WithLabelValues(peer).Set(v)
		m.pairBytes.WithLabelValues(peer, "in").Set(float64(ps.BytesIn))
		m.pairBytes.WithLabelValues(peer, "out").Set(float64(ps.BytesOut))
	}
}

// ServeMetrics serves /metrics on addr (a local address) until ctx ends.
func (a *Agent) ServeMetrics(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cluster: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.m().reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cluster: metrics: %w", err)
	}
	return nil
}
