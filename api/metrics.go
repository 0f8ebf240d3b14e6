package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify/webhook"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry, l *ledger.Ledger, svc *loyalty.Service, hooks *webhook.Service) *metrics {
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
			Name: "tally_tx_notice_order_retries_total",
			Help: "Transactions retried because a notification of a customer they lock committed with a later transaction id while they waited for the lock.",
		}, func() float64 { return float64(stats.NoticeRetries.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_period_closes_read_under_lock_total",
			Help: "Month closes that read their figures while holding writers back (closable only once locked, or books from another cluster).",
		}, func() float64 { return float64(stats.ClosesReadUnderLock.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_event_group_fallbacks_total",
			Help: "Groups of partner events whose grouped write failed and that were written again event by event.",
		}, func() float64 { return float64(events.Fallbacks.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_event_groups_total",
			Help: "Groups of partner events written, each in one transaction: events over groups is what a commit carries.",
		}, func() float64 { return float64(events.Groups.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tally_event_group_events_total", Help: "Partner events those groups carried, refused ones included.",
		}, func() float64 { return float64(events.GroupedEvents.Load()) }),
	)
	// Webhook deliveries: attempts by outcome, the queue's depth and the
	// age of its oldest delivery.
	counted, read := hooks.Collectors()
	reg.MustRegister(counted...)
	// The chain's window: committed entries not sealed yet. The sealer
	// cannot pass a transaction in flight, and waits without failing, so
	// only this gauge shows a sealer held back.
	read = append(read, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tally_chain_unsealed_entries",
		Help: "Committed entries not yet sealed into the tamper-evident chain (NaN when the database does not answer within a second).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, err := l.Head(ctx)
		switch {
		case err != nil:
			return math.NaN()
		case h == nil:
			return 0
		}
		return float64(h.Unsealed)
	}))
	// /metrics needs no key: what reads the database is read at most once
	// a readEvery, whatever the rate of scrapes, and scrapes run a few at a
	// time, the others answered 503.
	reg.MustRegister(&recent{cs: read, every: readEvery})
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
	return m
}

// readEvery is how often /metrics reads its gauges from the database at
// most: a scrape within it answers the last reading.
const readEvery = time.Second

// recent collects the collectors it holds, which read the database,
// together and at most once an every (counted from the end of the last
// reading), and writes down each metric's value as it reads it (a
// GaugeFunc would read its own when written, at every scrape): a
// collection within that answers the last reading, and
// collections that arrive while a reading runs wait for it. A client that
// scrapes in a loop (the endpoint takes no key) costs the database one
// reading an every, however long a reading takes.
type recent struct {
	cs    []prometheus.Collector
	every time.Duration

	mu   sync.Mutex
	at   time.Time // when the last reading ended
	last []prometheus.Metric
}

func (r *recent) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range r.cs {
		c.Describe(ch)
	}
}

func (r *recent) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	if time.Since(r.at) >= r.every { // the zero time: never read yet
		got := make(chan prometheus.Metric)
		go func() {
			defer close(got)
			for _, c := range r.cs {
				c.Collect(got)
			}
		}()
		r.last = r.last[:0:0]
		for m := range got {
			// A GaugeFunc sends itself and reads its value when written:
			// the value is read now, and kept.
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				r.last = append(r.last, prometheus.NewInvalidMetric(m.Desc(), err))
				continue
			}
			r.last = append(r.last, frozen{m.Desc(), &pb})
		}
		r.at = time.Now()
	}
	last := r.last
	r.mu.Unlock()
	for _, m := range last {
		ch <- m
	}
}

func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// methodLabel is the request's method as a metrics label or log field: a
// method of HTTP's own is itself, any other (a client may send any token,
// of any length) is OTHER, so the labels are a fixed set.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// maxLoggedPath is how much of a request's path a log line holds.
const maxLoggedPath = 256

// clipPath is a client's path as a log field: at most maxLoggedPath bytes, cut
// at a character boundary and marked when cut.
func clipPath(path string) string {
	if len(path) <= maxLoggedPath {
		return path
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(path[cut]) {
		cut--
	}
	return path[:cut] + "…"
}

// maxRequestID is the longest X-Request-ID a client's request may set.
const maxRequestID = 64

// safeRequestID drops a client's X-Request-ID unless it is at most
// maxRequestID characters of [A-Za-z0-9._-], so the server makes a new one:
// the id is echoed in every answer and written in every log line.
func safeRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !validRequestID(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

func validRequestID(id string) bool {
	if len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// frozen is a metric as it was written once.
type frozen struct {
	desc *prometheus.Desc
	pb   *dto.Metric
}

func (f frozen) Desc() *prometheus.Desc { return f.desc }

func (f frozen) Write(out *dto.Metric) error {
	proto.Merge(out, f.pb)
	return nil
}
