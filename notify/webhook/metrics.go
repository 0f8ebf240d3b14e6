package webhook

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// stats are the dispatcher's counters since it started.
type stats struct {
	attempts *prometheus.CounterVec
}

func newStats() *stats {
	return &stats{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tally_webhook_attempts_total",
		Help: "Webhook delivery attempts by outcome: delivered (a 2xx), http_error (another status), network_error (no answer).",
	}, []string{"outcome"})}
}

// Collectors are the service's metrics: counted, the attempts by outcome;
// read from the database at each collection, the queue's depth, the age of
// its oldest delivery, the feed's backlog and the endpoints paused by their
// circuit breaker.
func (s *Service) Collectors() (counted, read []prometheus.Collector) {
	return []prometheus.Collector{s.stats.attempts}, []prometheus.Collector{queue{s}}
}

var (
	queueDepth = prometheus.NewDesc("tally_webhook_queue_depth",
		"Webhook deliveries pending (not yet delivered, not failed).", nil, nil)
	oldestAge = prometheus.NewDesc("tally_webhook_oldest_pending_age_seconds",
		"Age of the oldest pending webhook delivery (0 when none is pending).", nil, nil)
	feedBacklog = prometheus.NewDesc("tally_webhook_feed_backlog",
		"Notifications committed past the dispatcher's place in the feed: not yet sent or queued to any endpoint (counted up to 100,000; NaN when the database does not answer within a second).", nil, nil)
	openCircuits = prometheus.NewDesc("tally_webhook_open_circuits",
		"Webhook endpoints paused by their circuit breaker.", nil, nil)
)

// queue reads the queue's gauges when scraped; when the database does not
// answer within a second it reports none of them. The feed's backlog is
// read apart, within its own second: NaN when it could not be counted.
type queue struct{ s *Service }

func (q queue) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- oldestAge
	ch <- feedBacklog
	ch <- openCircuits
}

// maxBacklog is as far as the backlog gauge counts.
const maxBacklog = 100_000

func (q queue) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(feedBacklog, prometheus.GaugeValue, q.backlog())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var depth, open int64
	var oldest *time.Time
	err := q.s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),
       (SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending'),
       (SELECT count(*) FROM webhook_endpoints WHERE circuit = 'open')`).Scan(&depth, &oldest, &open)
	})
	if err != nil {
		return
	}
	age := 0.0
	if oldest != nil {
		age = max(q.s.now().Sub(*oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(oldestAge, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(openCircuits, prometheus.GaugeValue, float64(open))
}

// backlog counts the notifications past the dispatcher's cursor, up to
// maxBacklog, or is NaN when the database does not answer within a second.
func (q queue) backlog() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var n int64
	err := q.s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		var cursor string
		if err := tx.QueryRow(ctx, `SELECT cursor FROM webhook_feed`).Scan(&cursor); err != nil {
			return err
		}
		after, err := notify.ParseCursor(cursor)
		if err != nil {
			return err
		}
		n, err = notify.Backlog(ctx, tx, after, maxBacklog)
		return err
	})
	if err != nil {
		return math.NaN()
	}
	return float64(n)
}
