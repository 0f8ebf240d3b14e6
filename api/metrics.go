package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry, l *ledger.Ledger, svc *loyalty.Service) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tally_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	stats, events := l.Stats(), svc.Stats()
	reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_entries_posted_total", Help: "Ledger entries committed.",
		}, func() float64 { return float64(stats.Posted.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_idempotent_replays_total", Help: "Requests answered from an earlier identical request.",
		}, func() float64 { return float64(stats.Replayed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_tx_retries_total", Help: "Transactions retried after a serialization failure or deadlock.",
		}, func() float64 { return float64(stats.Retries.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_event_group_fallbacks_total",
			Help: "Groups of partner events whose grouped write failed and that were written again event by event.",
		}, func() float64 { return float64(events.Fallbacks.Load()) }),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}
