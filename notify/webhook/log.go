package webhook

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Attempt is one attempt to deliver a notification, as the delivery log
// shows it, with where its delivery stands now.
type Attempt struct {
	ID             int64     `json:"id"`
	NotificationID string    `json:"notification_id"`
	Type           string    `json:"type"`
	Attempt        int       `json:"attempt"`
	At             time.Time `json:"at"`
	StatusCode     *int      `json:"status_code"`
	Error          *string   `json:"error"`
	LatencyMS      int       `json:"latency_ms"`
	Response       string    `json:"response_excerpt"`
	Probe          bool      `json:"probe"`
	// DeliveryStatus is the delivery's status now: pending, delivered or
	// failed; NextAttemptAt, while pending, when it is tried again.
	DeliveryStatus string     `json:"delivery_status"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
}

// Attempts reads up to limit attempts of the owner's endpoint, newest
// first, older than the attempt before (0: from the newest).
//
// Errors: fault.NotFound.
func (s *Service) Attempts(ctx context.Context, o Owner, endpoint, before int64, limit int) ([]Attempt, error) {
	var list []Attempt
	if before <= 0 { // from the newest: a.id < $2 alone stays an index condition on any plan
		before = math.MaxInt64
	}
	err := s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		if err := owned(ctx, tx, o, endpoint, false); err != nil {
			return err
		}
		// An attempt names its delivery, or (since migration 0025) only
		// its notification: a page's send recorded without a delivery,
		// accepted, whose notification stands where its delivery written
		// since by a redelivery (or a racing one) stands, if any.
		rows, err := tx.Query(ctx, `SELECT a.id, 'ntf_' || n.id, n.type, a.attempt, a.at, a.status_code, a.error, a.latency_ms,
       a.response, a.probe,
       coalesce(d.status, l.status, CASE WHEN a.status_code BETWEEN 200 AND 299 THEN 'delivered' ELSE 'pending' END),
       CASE WHEN coalesce(d.status, l.status) = 'pending' THEN coalesce(d.next_attempt_at, l.next_attempt_at) END
FROM webhook_attempts a
LEFT JOIN webhook_deliveries d ON d.id = a.delivery_id
LEFT JOIN webhook_deliveries l ON a.delivery_id IS NULL
    AND l.endpoint_id = a.endpoint_id AND l.notification_id = a.notification_id
JOIN notifications n ON n.id = coalesce(a.notification_id, d.notification_id)
WHERE a.endpoint_id = $1 AND a.id < $2
ORDER BY a.id DESC LIMIT $3`, endpoint, before, limit)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Attempt])
		return err
	})
	return list, err
}

// owned checks that the endpoint exists and is the owner's, and locks it
// against a delete when lock is set.
func owned(ctx context.Context, tx *ledger.Tx, o Owner, endpoint int64, lock bool) error {
	q := `SELECT id FROM webhook_endpoints WHERE id = $1 AND ($2::bigint = 0 OR partner_id = $2)`
	if lock {
		q += ` FOR SHARE`
	}
	var id int64
	err := tx.QueryRow(ctx, q, endpoint, o.Partner).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(endpoint)
	}
	return err
}

// Redelivery is what to deliver again: one notification, or every one
// that occurred in [From, To).
type Redelivery struct {
	Notification string // "ntf_<n>"
	From, To     time.Time
}

// MaxRedeliveryRange is the longest time range one redelivery covers.
const MaxRedeliveryRange = 31 * 24 * time.Hour

// MaxRedeliveries is the most notifications one redelivery queues.
const MaxRedeliveries = 10000

// Redeliver queues the notifications again for the owner's endpoint, those
// it would hear (its types; not another partner's), and returns how many
// it queued. Each goes again with its own webhook-id, retried for
// RetryFor from now, whether it was delivered, failed, or never sent to
// this endpoint.
//
// Errors: fault.NotFound (the endpoint), fault.UnknownNotification,
// fault.Invalid (also a range holding more than MaxRedeliveries).
func (s *Service) Redeliver(ctx context.Context, o Owner, endpoint int64, r Redelivery) (int, error) {
	var seq int64
	if r.Notification != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(r.Notification, "ntf_"), 10, 64)
		if !strings.HasPrefix(r.Notification, "ntf_") || err != nil || n <= 0 {
			return 0, fault.InvalidField("notification_id", "a notification id such as ntf_42")
		}
		seq = n
	} else if !r.To.After(r.From) || r.To.Sub(r.From) > MaxRedeliveryRange {
		return 0, fault.InvalidField("to", "after from, at most 31 days later")
	}
	var queued int
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		if err := owned(ctx, tx, o, endpoint, true); err != nil {
			return err
		}
		now := s.now()
		// A notification sent by a page without a delivery row has its
		// attempts alone (webhook_attempts_lone): the new delivery counts
		// them, so that its attempts number on and its backoff goes on.
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
    (endpoint_id, notification_id, ntf_xid, customer_id, status, attempts, created_at, next_attempt_at, deliver_by)
SELECT e.id, n.id, n.xid, n.customer_id, 'pending',
    (SELECT count(*) FROM webhook_attempts a WHERE a.endpoint_id = e.id AND a.notification_id = n.id AND a.delivery_id IS NULL),
    $3, $3, $4
FROM notifications n
JOIN webhook_endpoints e ON e.id = $1 AND n.type = ANY (e.types)
    AND `+qHears+`
WHERE CASE WHEN $2::bigint > 0 THEN n.id = $2 ELSE n.occurred_at >= $5 AND n.occurred_at < $6 END
ORDER BY n.xid, n.id
LIMIT $7
ON CONFLICT (endpoint_id, notification_id) DO UPDATE
SET status = 'pending', next_attempt_at = $3, deliver_by = $4, delivered_at = NULL, failed_at = NULL`,
			endpoint, seq, now, now.Add(s.cfg.RetryFor), r.From, r.To, MaxRedeliveries+1)
		if err != nil {
			return err
		}
		queued = int(tag.RowsAffected())
		if queued > MaxRedeliveries { // refused whole: the transaction rolls back
			return fault.InvalidField("to", fmt.Sprintf("the range holds more than %d notifications this endpoint hears: narrow it", MaxRedeliveries))
		}
		if seq > 0 && queued == 0 {
			return &fault.Error{Code: fault.UnknownNotification, Message: "no notification " + r.Notification + " this endpoint hears",
				Fields: map[string]string{"notification_id": "unknown, or not of the endpoint's types"}}
		}
		return nil
	})
	return queued, err
}
