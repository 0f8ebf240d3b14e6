package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// fanOutPage is how many notifications one fan-out transaction reads.
const fanOutPage = 500

// Run delivers until ctx ends. It fans the feed out and expires
// deliveries every Config.Poll, and keeps up to Workers sends in flight:
// it claims as many due deliveries as it has free workers, again as soon
// as one finishes, so a slow endpoint (at most PerEndpoint of them) does
// not hold the others back. What fails (the database is away) is tried
// again at the next poll; errors go to logf. When ctx ends it waits for
// the sends in flight, each bounded by the client's timeout.
func (s *Service) Run(ctx context.Context, logf func(err error)) {
	report := func(what string, err error) {
		if err != nil && logf != nil && ctx.Err() == nil {
			logf(fmt.Errorf("webhook: %s: %w", what, err))
		}
	}
	free := make(chan struct{}, s.cfg.Workers) // a token per idle worker
	for range s.cfg.Workers {
		free <- struct{}{}
	}
	finished := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	bg := context.WithoutCancel(ctx)
	var lastPoll time.Time
	for ctx.Err() == nil {
		if time.Since(lastPoll) >= s.cfg.Poll {
			lastPoll = time.Now()
			report("fan-out", s.fanOut(ctx))
			report("expire", s.expire(ctx))
		}
		var jobs []job
		if n := len(free); n > 0 {
			var err error
			jobs, err = s.claim(ctx, min(n, s.cfg.Batch))
			report("claim", err)
		}
		for _, j := range jobs {
			<-free
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.deliver(bg, j)
				report("record", err)
				free <- struct{}{}
				select {
				case finished <- struct{}{}:
				default:
				}
			}()
		}
		if len(jobs) > 0 && len(free) > 0 {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
		case <-finished:
		case <-time.After(s.cfg.Poll - time.Since(lastPoll)):
		}
	}
}

// Step is one round of the dispatcher: it fans out every notification the
// feed has past its cursor, marks failed the pending deliveries past their
// deadline that cannot be tried again, then claims the due deliveries (and
// one probe for each open endpoint whose cool-down is over), sends them
// and records how each went, each followed by its customer's next ones
// while they are due and accepted (deliver). It returns how many it sent.
//
// Several processes may step at once: the feed's cursor is locked while it
// advances, and a delivery is leased to one sender at a time.
func (s *Service) Step(ctx context.Context) (int, error) {
	if err := s.fanOut(ctx); err != nil {
		return 0, fmt.Errorf("webhook: fan-out: %w", err)
	}
	if err := s.expire(ctx); err != nil {
		return 0, fmt.Errorf("webhook: expire: %w", err)
	}
	jobs, err := s.claim(ctx, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("webhook: claim: %w", err)
	}
	// In-flight sends finish (within the client's timeout) and are
	// recorded even when ctx ends meanwhile.
	bg := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Workers)
	errs, sent := make([]error, len(jobs)), make([]int, len(jobs))
	for i := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sent[i], errs[i] = s.deliver(bg, jobs[i])
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range sent {
		total += n
	}
	return total, errors.Join(errs...)
}

// fanOut creates the deliveries of the notifications past the feed's
// cursor, a page at a time, and advances the cursor in the same
// transaction: a notification gets its deliveries exactly once, whatever
// crashes or runs at the same time.
func (s *Service) fanOut(ctx context.Context) error {
	for {
		var n int
		err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
			var text string
			if err := tx.QueryRow(ctx, `SELECT cursor FROM webhook_feed FOR UPDATE`).Scan(&text); err != nil {
				return err
			}
			after, err := notify.ParseCursor(text)
			if err != nil {
				return err
			}
			list, next, err := notify.Feed(ctx, s.l, after, fanOutPage, notify.Filter{})
			if err != nil || len(list) == 0 {
				n = 0
				return err
			}
			n = len(list)
			ids := make([]int64, len(list))
			for i, x := range list {
				ids[i] = x.Seq
			}
			now := s.now()
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
    (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT e.id, n.id, n.xid, n.customer_id, 'pending', $2, $2, $3
FROM notifications n
JOIN webhook_endpoints e ON n.type = ANY (e.types)
    AND (e.partner_id IS NULL OR n.partner_id IS NULL OR n.partner_id = e.partner_id)
WHERE n.id = ANY ($1)
ORDER BY n.xid, n.id, e.id
ON CONFLICT (endpoint_id, notification_id) DO NOTHING`, ids, now, now.Add(s.cfg.RetryFor)); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE webhook_feed SET cursor = $1`, next.String())
			return err
		})
		if err != nil || n < fanOutPage {
			return err
		}
	}
}

// expire marks failed the pending deliveries past their deadline that
// cannot be tried now: their endpoint is paused, or they wait behind an
// earlier notification of their customer. Any other is tried once more
// (its retries are never later than its deadline, so it is due) and
// marked failed when that attempt fails.
func (s *Service) expire(ctx context.Context) error {
	return s.l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries d SET status = 'failed', lease = NULL, lease_until = NULL
FROM webhook_endpoints e
WHERE e.id = d.endpoint_id AND d.status = 'pending' AND d.deliver_by <= $1
  AND (d.lease_until IS NULL OR d.lease_until <= $1)
  AND (e.circuit = 'open' OR NOT `+qHead+`)`, s.now())
		return err
	})
}

// job is a delivery leased to this process for one attempt.
type job struct {
	delivery, endpoint int64
	attempt            int   // this attempt's number, from 1
	lease              int64 // the lease's token
	probe              bool  // the one probe of an open endpoint
	customer           string
	url                string
	secrets            []string // the current secret, then the previous one while it is valid
	id                 string   // the notification's id, webhook-id
	body               []byte
}

// qHead says that delivery d is the first pending one of its customer to
// its endpoint: a customer's later notification waits while an earlier
// one is pending (in flight or waiting for a retry).
const qHead = `NOT EXISTS (SELECT 1 FROM webhook_deliveries p
    WHERE p.endpoint_id = d.endpoint_id AND p.customer_id = d.customer_id AND p.status = 'pending'
      AND (p.ntf_xid, p.notification_id) < (d.ntf_xid, d.notification_id))`

// qOwner is whose in-flight bound delivery d (of endpoint e) counts
// against: its endpoint's partner, all of whose endpoints share one, or an
// admin's endpoint alone.
const qOwner = `coalesce(e.partner_id, -e.id)`

// claim leases the due deliveries of closed endpoints, at most limit and
// at most PerEndpoint in flight per admin endpoint or per partner, all its
// endpoints together (counting those already in flight), and one delivery
// of each open endpoint whose probe is due and has none in flight, and
// loads what sending them needs.
func (s *Service) claim(ctx context.Context, limit int) ([]job, error) {
	var jobs []job
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		jobs = jobs[:0]
		if err := bookkeeping(ctx, tx); err != nil {
			return err
		}
		now := s.now()
		until := now.Add(s.cfg.Timeout + 30*time.Second)
		lease := rand.Int64()
		// eligible ranks the due deliveries per owner (qOwner); busy
		// counts each owner's sends in flight, once (not once per eligible
		// row: with thousands pending that made a claim take seconds);
		// due locks those within the owner's room, checking again that no
		// one leased them since eligible's snapshot.
		rows, err := tx.Query(ctx, `WITH eligible AS (
    SELECT d.id, `+qOwner+` AS owner, d.next_attempt_at,
           row_number() OVER (PARTITION BY `+qOwner+` ORDER BY d.next_attempt_at, d.id) AS rank
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
      AND e.circuit = 'closed' AND `+qHead+`
), busy AS (
    SELECT `+qOwner+` AS owner, count(*) AS n
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.lease_until > $1
    GROUP BY 1
), room AS (
    SELECT x.id, x.next_attempt_at FROM eligible x LEFT JOIN busy b ON b.owner = x.owner
    WHERE x.rank + coalesce(b.n, 0) <= $5
), due AS (
    SELECT d.id FROM webhook_deliveries d JOIN room r ON r.id = d.id
    WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
    ORDER BY r.next_attempt_at, d.id LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET lease_until = $2, lease = $3 FROM due WHERE d.id = due.id
RETURNING d.id, false`, now, until, lease, limit, s.cfg.PerEndpoint)
		if err != nil {
			return err
		}
		type claimed struct {
			id    int64
			probe bool
		}
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := row.Scan(&c.id, &c.probe)
			return c, err
		})
		if err != nil {
			return err
		}
		// Probes: an open endpoint past its cool-down with no probe in
		// flight sends its first eligible delivery, one, and marks it
		// in flight until the lease ends.
		rows, err = tx.Query(ctx, `SELECT id FROM webhook_endpoints
WHERE circuit = 'open' AND probe_at <= $1 AND (probe_until IS NULL OR probe_until <= $1)
ORDER BY id FOR UPDATE SKIP LOCKED`, now)
		if err != nil {
			return err
		}
		open, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, e := range open {
			var id int64
			err := tx.QueryRow(ctx, `UPDATE webhook_deliveries SET lease_until = $3, lease = $4 WHERE id = (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.endpoint_id = $1 AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $2) AND `+qHead+`
    ORDER BY d.next_attempt_at, d.id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id`, e, now, until, lease).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // nothing to probe with yet
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET probe_until = $2 WHERE id = $1`, e, until); err != nil {
				return err
			}
			got = append(got, claimed{id, true})
		}
		if len(got) == 0 {
			return nil
		}
		ids := make([]int64, len(got))
		probes := map[int64]bool{}
		for i, c := range got {
			ids[i], probes[c.id] = c.id, c.probe
		}
		jobs, err = load(ctx, tx, ids, probes, lease, now)
		return err
	})
	return jobs, err
}

// load reads what sending the leased deliveries needs.
func load(ctx context.Context, tx *ledger.Tx, ids []int64, probes map[int64]bool, lease int64, now time.Time) ([]job, error) {
	rows, err := tx.Query(ctx, `SELECT d.id, d.endpoint_id, d.attempts + 1, e.url, e.secret,
       CASE WHEN e.previous_valid_until > $2 THEN e.previous_secret END,
       n.id, n.type, coalesce(n.customer_id, ''), n.occurred_at, n.payload
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
JOIN notifications n ON n.id = d.notification_id
WHERE d.id = ANY ($1) ORDER BY d.id`, ids, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (job, error) {
		j := job{lease: lease}
		var secret string
		var previous *string
		var n notify.Notification
		if err := row.Scan(&j.delivery, &j.endpoint, &j.attempt, &j.url, &secret, &previous,
			&n.Seq, &n.Type, &n.Customer, &n.OccurredAt, &n.Payload); err != nil {
			return j, err
		}
		j.probe = probes[j.delivery]
		j.customer = n.Customer
		j.secrets = []string{secret}
		if previous != nil {
			j.secrets = append(j.secrets, *previous)
		}
		j.id = n.ID()
		var err error
		j.body, err = notify.Envelope(n) // the pull feed's bytes
		return j, err
	})
}

// outcome is how one attempt went.
type outcome struct {
	at      time.Time
	status  int    // the answer's status; 0 when none came
	err     string // why it failed, "" when it did not
	latency time.Duration
	excerpt string // the answer's first MaxExcerpt bytes, as valid UTF-8
}

func (o outcome) ok() bool { return o.err == "" && o.status >= 200 && o.status < 300 }

// label is the outcome as the attempts metric counts it.
func (o outcome) label() string {
	switch {
	case o.ok():
		return "delivered"
	case o.status != 0:
		return "http_error"
	}
	return "network_error"
}

// send makes one attempt: POST the envelope, signed.
func (s *Service) send(ctx context.Context, j job) outcome {
	o := outcome{at: s.now()}
	fail := func(err error) outcome {
		o.err = clipText(err.Error(), MaxExcerpt)
		return o
	}
	if err := s.hosts.checkURL(j.url, s.cfg.AllowLoopback); err != nil {
		return fail(err)
	}
	sig, err := signatures(j.secrets, j.id, o.at, j.body)
	if err != nil {
		return fail(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tally-Webhooks/1")
	req.Header.Set("webhook-id", j.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(o.at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		o.latency = time.Since(start)
		return fail(err)
	}
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, MaxExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // let the connection be reused
	res.Body.Close()
	o.latency = time.Since(start)
	o.status = res.StatusCode
	o.excerpt = clipText(string(excerpt), MaxExcerpt)
	if !o.ok() {
		o.err = "answered " + strconv.Itoa(res.StatusCode)
	}
	return o
}

// clipText is s as text PostgreSQL stores: valid UTF-8, no NUL, at most
// max bytes.
func clipText(s string, max int) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.ToValidUTF8(s, "")
}

// record logs an attempt and moves its delivery and its endpoint's
// circuit on: a 2xx delivers it and closes the circuit; anything else
// schedules the next retry (or marks the delivery failed past its
// deadline), counts a failure, and opens the circuit at BreakAfter
// failures in a row, or keeps it open for another cool-down after a
// failed probe.
func (s *Service) record(ctx context.Context, j job, o outcome) (next *job, err error) {
	s.stats.attempts.WithLabelValues(o.label()).Inc()
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		next = nil
		if err := bookkeeping(ctx, tx); err != nil {
			return err
		}
		now := s.now()
		var status *int
		var reason *string
		if o.status != 0 {
			status = &o.status
		}
		if o.err != "" {
			reason = &o.err
		}
		// The endpoint may have been deleted meanwhile, with its deliveries:
		// then there is nothing left to record.
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_attempts
    (delivery_id, endpoint_id, attempt, at, status_code, error, latency_ms, response, probe)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)`,
			j.delivery, j.endpoint, j.attempt, o.at, status, reason, int(o.latency.Milliseconds()), o.excerpt, j.probe)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if o.ok() {
			if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
    delivered_at = $3, lease = NULL, lease_until = NULL
WHERE id = $1 AND lease = $2`, j.delivery, j.lease, now); err != nil {
				return err
			}
			// (A healthy endpoint's row is left alone: every success would
			// otherwise queue on its lock.)
			if _, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET failures = 0, circuit = 'closed', opened_at = NULL,
    probe_at = NULL, probe_until = NULL WHERE id = $1 AND (failures <> 0 OR circuit <> 'closed' OR probe_until IS NOT NULL)`,
				j.endpoint); err != nil || j.customer == "" {
				return err
			}
			// The customer's next notification to the endpoint, when due,
			// goes next on this worker: its order needs this one
			// acknowledged first, which it now is.
			var id int64
			err = tx.QueryRow(ctx, `UPDATE webhook_deliveries SET lease_until = $4, lease = $5 WHERE id = (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.endpoint_id = $1 AND d.customer_id = $2 AND d.status = 'pending' AND d.next_attempt_at <= $3
      AND (d.lease_until IS NULL OR d.lease_until <= $3) AND `+qHead+`
    ORDER BY d.ntf_xid, d.notification_id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id`, j.endpoint, j.customer, now, now.Add(s.cfg.Timeout+30*time.Second), j.lease).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			jobs, err := load(ctx, tx, []int64{id}, nil, j.lease, now)
			if err == nil && len(jobs) == 1 {
				next = &jobs[0]
			}
			return err
		}
		next := now.Add(max(s.cfg.Backoff(j.attempt), 0))
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1,
    status = CASE WHEN $3 >= deliver_by THEN 'failed' ELSE 'pending' END,
    next_attempt_at = least($4, deliver_by), lease = NULL, lease_until = NULL
WHERE id = $1 AND lease = $2`, j.delivery, j.lease, now, next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET failures = failures + 1,
    circuit = CASE WHEN circuit = 'open' OR failures + 1 >= $2 THEN 'open' ELSE 'closed' END,
    opened_at = CASE WHEN circuit = 'closed' AND failures + 1 >= $2 THEN $3 ELSE opened_at END,
    probe_at = CASE WHEN (circuit = 'closed' AND failures + 1 >= $2) OR $5 THEN $4 ELSE probe_at END,
    probe_until = CASE WHEN $5 THEN NULL ELSE probe_until END
WHERE id = $1`, j.endpoint, s.cfg.BreakAfter, now, now.Add(s.cfg.CoolDown), j.probe)
		return err
	})
	return next, err
}

// bookkeeping makes the transaction commit without waiting for its WAL to
// reach the disk (synchronous_commit off): the claims and the records of
// sends. A crash may forget the last of them (a few hundred milliseconds
// at most); a forgotten claim lapses, and a forgotten record leaves its
// delivery pending, so it is sent again with the same webhook-id: never
// lost, at least once as promised. The notifications themselves, and the
// fan-out that creates the deliveries, commit durably.
func bookkeeping(ctx context.Context, tx *ledger.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// maxChain bounds how many of one customer's notifications a worker sends
// in a row before it lets the others have a turn.
const maxChain = 50

// deliver sends the job, records it, and goes on with the customer's next
// notification to the endpoint while there is one due (record leases it),
// at most maxChain in all; it returns how many it sent.
func (s *Service) deliver(ctx context.Context, j job) (int, error) {
	for n := 1; ; n++ {
		next, err := s.record(ctx, j, s.send(ctx, j))
		if err != nil || next == nil || n == maxChain {
			if next != nil { // leased, not sent: due again when the lease lapses
				err = errors.Join(err, s.release(ctx, *next))
			}
			return n, err
		}
		j = *next
	}
}

// release gives back a leased delivery that was not sent.
func (s *Service) release(ctx context.Context, j job) error {
	return s.l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET lease = NULL, lease_until = NULL WHERE id = $1 AND lease = $2`,
			j.delivery, j.lease)
		return err
	})
}
