package webhook

import (
	"context"
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

// Collectors are the service's metrics: attempts by outcome, and, read
// from the database at each scrape, the queue's depth, the age of its
// oldest delivery and the endpoints paused by their circuit breaker.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.stats.attempts, queue{s}}
}

var (
	queueDepth = prometheus.NewDesc("tally_webhook_queue_depth",
		"Webhook deliveries pending (not yet delivered, not failed).", nil, nil)
	oldestAge = prometheus.NewDesc("tally_webhook_oldest_pending_age_seconds",
		"Age of the oldest pending webhook delivery (0 when none is pending).", nil, nil)
	feedBacklog = prometheus.NewDesc("tally_webhook_feed_backlog",
		"Notifications committed past the dispatcher's place in the feed: not yet sent or queued to any endpoint (counted up to 1,000,000).", nil, nil)
	openCircuits = prometheus.NewDesc("tally_webhook_open_circuits",
		"Webhook endpoints paused by their circuit breaker.", nil, nil)
)

// queue reads the queue's gauges when scraped; when the database does not
// answer within a second it reports none of them.
type queue struct{ s *Service }

func (q queue) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- oldestAge
	ch <- feedBacklog
	ch <- openCircuits
}

func (q queue) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var depth, open, backlog int64
	var oldest *time.Time
	err := q.s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		var cursor string
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),
       (SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending'),
       (SELECT count(*) FROM webhook_endpoints WHERE circuit = 'open'),
       (SELECT cursor FROM webhook_feed)`).Scan(&depth, &oldest, &open, &cursor)
		if err != nil {
			return err
		}
		after, err := notify.ParseCursor(cursor)
		if err != nil {
			return err
		}
		backlog, err = notify.Backlog(ctx, tx, after, 1_000_000)
		return err
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
	ch <- prometheus.MustNewConstMetric(feedBacklog, prometheus.GaugeValue, float64(backlog))
	ch <- prometheus.MustNewConstMetric(openCircuits, prometheus.GaugeValue, float64(open))
}
