package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
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
// deliveries every Config.Poll, and keeps up to Workers sends in flight.
// It claims as many due deliveries as it has free workers and sends them
// at once; as sends end, it records them together, waiting at most
// flushAfter for the others in flight, and claims again for the workers
// they free, in the same transaction (record), until a claim comes back
// short. A slow endpoint (at most PerEndpoint sends in flight) so holds
// the others back by flushAfter at most. What fails (the database is
// away) is tried again at the next poll; errors go to logf. When ctx ends
// it waits for the sends in flight (the queue's and those of pages still
// in flight after their page was recorded), each bounded by the client's
// timeout, and records them.
func (s *Service) Run(ctx context.Context, logf func(err error)) {
	report := func(what string, err error) {
		if err != nil && logf != nil && ctx.Err() == nil {
			logf(fmt.Errorf("webhook: %s: %w", what, err))
		}
	}
	// Sends in flight finish (within the client's timeout) and are
	// recorded even when ctx ends meanwhile.
	bg := context.WithoutCancel(ctx)
	ended := make(chan sent, s.cfg.Workers) // at most Workers sends are unrecorded: never blocks
	unrecorded := 0                         // sends started and not yet recorded
	start := func(jobs []job) {
		for _, j := range jobs {
			unrecorded++
			go func() { ended <- sent{j, s.send(bg, j)} }()
		}
	}
	var batch []sent
	var lastPoll time.Time
	more := false // a claim may find work: something changed since the last one came back short
	for ctx.Err() == nil {
		if time.Since(lastPoll) >= s.cfg.Poll {
			lastPoll = time.Now()
			_, err := s.fanOut(ctx, unrecorded)
			report("fan-out", err)
			report("expire", s.expire(ctx))
			more = true
		}
		if len(batch) > 0 {
			// Gather the sends that end meanwhile, so that one
			// transaction records many.
			linger := time.NewTimer(flushAfter)
		gather:
			for len(batch) < unrecorded {
				select {
				case x := <-ended:
					batch = append(batch, x)
				case <-linger.C:
					break gather
				}
			}
			linger.Stop()
			// A customer whose notification was accepted goes on with its
			// next (chained, found through its own order); a claim, which
			// reads the due deliveries of every customer, runs only when
			// the last one may have left some due (more) or at the poll.
			// The chained sends take slots the batch frees: the claim
			// gets the others, so that at most Workers are in flight.
			n := 0
			if more {
				n = max(min(s.cfg.Workers-unrecorded+len(batch)-chainable(batch)-int(s.lateN.Load()), s.cfg.Batch), 0)
			}
			jobs, err := s.record(bg, batch, true, n)
			report("record", err)
			recorded := len(batch)
			unrecorded -= len(batch)
			batch = batch[:0]
			start(jobs)
			claimed := 0
			for _, j := range jobs {
				if j.chain == 0 {
					claimed++
				}
			}
			// A full claim (or none, for want of room) may have left
			// some due; so may a send whose slot no chained send took (it
			// failed, or its customer had no next due): the room it
			// freed, a worker's and its owner's, is claimed at once.
			more = err == nil && (more && claimed >= n || len(jobs)-claimed < recorded)
		} else if free := s.cfg.Workers - unrecorded - int(s.lateN.Load()); free > 0 && more {
			n := min(free, s.cfg.Batch)
			jobs, err := s.claim(ctx, n)
			report("claim", err)
			start(jobs)
			more = len(jobs) >= n
		}
		if more && unrecorded+int(s.lateN.Load()) < s.cfg.Workers {
			continue // more may be due, and there is a worker to send it
		}
		select {
		case <-ctx.Done():
		case x := <-ended:
			batch = append(batch, x)
		case <-time.After(s.cfg.Poll - time.Since(lastPoll)):
		}
	}
	for len(batch) < unrecorded {
		batch = append(batch, <-ended)
	}
	if _, err := s.record(bg, batch, false, 0); err != nil && logf != nil {
		logf(fmt.Errorf("webhook: record: %w", err))
	}
	s.late.Wait() // the sends of pages, which record themselves
}

// flushAfter is how long Run waits for more sends to end before it
// records those that did.
const flushAfter = 5 * time.Millisecond

// Step is one round of the dispatcher: it fans out every notification the
// feed has past its cursor (sending it straight away, fanOutDirect, unless
// Config.QueueFirst is set), marks failed the pending deliveries past their
// deadline that cannot be tried again, then claims the due deliveries (and
// one probe for each open endpoint whose cool-down is over), sends them at
// once and records how they went in one transaction; then, in the same
// way, the next notification of each customer whose delivery was
// accepted, while there is one due (at most maxChain of a customer in a
// row). It returns how many it sent.
//
// Several processes may step at once: the feed is leased to one process
// while it sends a page (locked, when queued first), and a delivery is
// leased to one sender at a time.
func (s *Service) Step(ctx context.Context) (int, error) {
	total, err := s.fanOut(ctx, 0)
	if err != nil {
		return total, fmt.Errorf("webhook: fan-out: %w", err)
	}
	if err := s.expire(ctx); err != nil {
		return total, fmt.Errorf("webhook: expire: %w", err)
	}
	var jobs []job
	if n := min(s.cfg.Batch, s.cfg.Workers-int(s.lateN.Load())); n > 0 { // a page's sends in flight take workers
		if jobs, err = s.claim(ctx, n); err != nil {
			return total, fmt.Errorf("webhook: claim: %w", err)
		}
	}
	// In-flight sends finish (within the client's timeout) and are
	// recorded even when ctx ends meanwhile.
	bg := context.WithoutCancel(ctx)
	for len(jobs) > 0 {
		done := s.sendAll(bg, jobs)
		total += len(done)
		if jobs, err = s.record(bg, done, true, 0); err != nil {
			return total, fmt.Errorf("webhook: record: %w", err)
		}
	}
	return total, nil
}

// sendAll sends the jobs, Workers at a time, and returns how each went in
// the order the sends ended.
func (s *Service) sendAll(ctx context.Context, jobs []job) []sent {
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := make([]sent, 0, len(jobs))
	sem := make(chan struct{}, s.cfg.Workers)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := s.send(ctx, j)
			mu.Lock()
			done = append(done, sent{j, o})
			mu.Unlock()
		}()
	}
	wg.Wait()
	return done
}

// fanOut takes the notifications past the feed's cursor, a page at a
// time, and sends them straight away (fanOutDirect), or only queues them
// when Config.QueueFirst is set (fanOutQueued). busy is how many of the
// queue's sends this process has in flight: with those of pages in
// flight, they leave a page fewer of the Workers. It returns how many
// requests it sent.
func (s *Service) fanOut(ctx context.Context, busy int) (int, error) {
	if s.cfg.QueueFirst {
		return 0, s.fanOutQueued(ctx)
	}
	total := 0
	for {
		page, n, err := s.fanOutDirect(ctx, busy+int(s.lateN.Load()))
		total += n
		if err != nil || page < fanOutPage {
			return total, err
		}
	}
}

// skipUnheard answers the feed's position past every notification that
// has committed after after (those below the horizon), when no endpoint
// exists to hear them: the fan-out moves its cursor there without reading
// them (their payloads, their matches), which was about 4% of PostgreSQL's
// statement time in a service with no endpoint. ok is false when an
// endpoint exists (s.heard is set then) or nothing is past after: the
// fan-out reads its page. The check and the position are one statement,
// one snapshot: an endpoint it does not see was saved after every
// notification it skips had committed (each was below the horizon, read
// before), so the endpoint hears every notification that commits once it
// exists.
func (s *Service) skipUnheard(ctx context.Context, tx *ledger.Tx, after notify.Cursor) (next notify.Cursor, ok bool, err error) {
	h, err := tx.Horizon(ctx)
	if err != nil {
		return after, false, err
	}
	var heard bool
	var last *string
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints),
    (SELECT n.xid::text || '.' || n.id FROM notifications n
     WHERE n.xid < $1::text::xid8 AND (n.xid, n.id) > ($2::text::xid8, $3)
     ORDER BY n.xid DESC, n.id DESC LIMIT 1)`, strconv.FormatUint(h, 10), strconv.FormatUint(after.XID(), 10), after.Seq()).Scan(&heard, &last)
	if err != nil {
		return after, false, err
	}
	s.heard.Store(heard)
	if heard || last == nil {
		return after, false, nil
	}
	next, err = notify.ParseCursor(*last)
	return next, err == nil, err
}

// fanOutQueued creates the deliveries of the notifications past the
// feed's cursor, pending, a page at a time, and advances the cursor in the
// same transaction: a notification gets its deliveries exactly once,
// whatever crashes or runs at the same time.
func (s *Service) fanOutQueued(ctx context.Context) error {
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
			if !s.heard.Load() {
				if next, ok, err := s.skipUnheard(ctx, tx, after); err != nil || ok {
					if ok {
						_, err = tx.Exec(ctx, `UPDATE webhook_feed SET cursor = $1`, next.String())
					}
					return err
				}
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
    AND `+qHears+`
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
	return s.l.InTx(ctx, func(tx *ledger.Tx) error { return s.expireIn(ctx, tx) })
}

func (s *Service) expireIn(ctx context.Context, tx *ledger.Tx) error {
	_, err := tx.Exec(ctx, `UPDATE webhook_deliveries d SET status = 'failed', failed_at = $1, lease = NULL, lease_until = NULL
FROM webhook_endpoints e
WHERE e.id = d.endpoint_id AND d.status = 'pending' AND d.deliver_by <= $1
  AND (d.lease_until IS NULL OR d.lease_until <= $1)
  AND (e.circuit = 'open' OR NOT `+qHead+`)`, s.now())
	return err
}

// job is a delivery leased to this process for one attempt.
type job struct {
	delivery, endpoint int64
	attempt            int   // this attempt's number, from 1
	lease              int64 // the lease's token
	probe              bool  // the one probe of an open endpoint
	chain              int   // how many of the customer's notifications were sent just before it, in a row
	customer           string
	url                string
	secrets            []string // the current secret, then the previous one while it is valid
	id                 string   // the notification's id, webhook-id
	body               []byte
}

// qHead says that delivery d is the first pending one of its customer to
// its endpoint: a customer's later notification waits while an earlier
// one is pending (in flight or waiting for a retry). (OFFSET 0 keeps it a
// test of each row as it is read, one probe of the order index, so that
// a claim reading the due index in order stops once it has enough; as an
// anti-join the planner would test every pending delivery first.)
const qHead = `NOT EXISTS (SELECT 1 FROM webhook_deliveries p
    WHERE p.endpoint_id = d.endpoint_id AND p.customer_id = d.customer_id AND p.status = 'pending'
      AND (p.ntf_xid, p.notification_id) < (d.ntf_xid, d.notification_id) OFFSET 0)`

// qOwner is whose in-flight bound delivery d (of endpoint e) counts
// against: its endpoint's partner, all of whose endpoints share one, or an
// admin's endpoint alone.
const qOwner = `coalesce(e.partner_id, -e.id)`

// qLoad reads what sending the deliveries a CTE named leased returns
// (id, endpoint_id, attempts, notification_id) needs; $1 is now. The
// columns are those scanJob reads.
const qLoad = `SELECT d.id, d.endpoint_id, d.attempts + 1, e.url, e.secret,
       CASE WHEN e.previous_valid_until > $1 THEN e.previous_secret END,
       n.id, n.type, coalesce(n.customer_id, ''), n.occurred_at, n.payload
FROM leased d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
JOIN notifications n ON n.id = d.notification_id
ORDER BY d.id`

// claim leases and loads the due deliveries (queueClaim) in one
// transaction, its statements sent together.
func (s *Service) claim(ctx context.Context, limit int) ([]job, error) {
	var jobs []job
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		jobs = jobs[:0]
		b := &pgx.Batch{}
		bookkeeping(b)
		s.queueClaim(b, &jobs, s.now(), limit)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err // rolled back: nothing is leased
	}
	return jobs, nil
}

// queueClaim queues the statements that lease the due deliveries of
// closed endpoints, at most limit and at most PerEndpoint in flight per
// admin endpoint or per partner, all its endpoints together (counting
// those already in flight), and one delivery of each open endpoint whose
// probe is due and has none in flight, and load what sending them needs
// into jobs.
//
// Due deliveries are taken oldest first (by next_attempt_at): of the
// first limit × PerEndpoint that could go (their customer's first pending
// one, to a closed endpoint whose owner has room, not in flight), as many
// of each owner as its room allows. An owner with many old deliveries may
// take the whole of a claim, and the others follow as soon as it has no
// room or no older ones.
//
// The due deliveries are read endpoint by endpoint, closed ones only, each
// through its own order of due deliveries (webhook_deliveries_endpoint_due)
// up to limit × PerEndpoint of its own, then merged: the oldest of all are
// among them. An endpoint whose circuit is open keeps every notification
// it hears as a due delivery, millions within hours of a partner's outage;
// read in one order across endpoints, as it once was, every claim (one a
// poll at least) went through them all to find the few it could send.
func (s *Service) queueClaim(b *pgx.Batch, jobs *[]job, now time.Time, limit int) {
	s.claims.Add(1)
	until := now.Add(s.cfg.Timeout + 30*time.Second)
	lease := rand.Int64()
	// busy counts each owner's (qOwner) sends in flight, once;
	// candidates reads the due index in order until it has enough; due
	// locks those within their owner's room, checking again that no one
	// leased them since the statement's snapshot.
	queueJobs(b, jobs, lease, false, `WITH busy AS (
    SELECT `+qOwner+` AS owner, count(*) AS n
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.lease_until > $1
    GROUP BY 1
), candidates AS (
    SELECT c.id, `+qOwner+` AS owner, c.next_attempt_at
    FROM webhook_endpoints e
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1
          AND (d.lease_until IS NULL OR d.lease_until <= $1) AND `+qHead+`
        ORDER BY d.next_attempt_at LIMIT $6) c
    WHERE e.circuit = 'closed' AND `+qOwner+` NOT IN (SELECT b.owner FROM busy b WHERE b.n >= $5)
    ORDER BY c.next_attempt_at LIMIT $6
), room AS (
    SELECT x.id, x.next_attempt_at FROM (
        SELECT c.id, c.owner, c.next_attempt_at,
               row_number() OVER (PARTITION BY c.owner ORDER BY c.next_attempt_at, c.id) AS rank
        FROM candidates c) x
    LEFT JOIN busy b ON b.owner = x.owner
    WHERE x.rank + coalesce(b.n, 0) <= $5
), due AS (
    SELECT d.id FROM webhook_deliveries d JOIN room r ON r.id = d.id
    WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
    ORDER BY r.next_attempt_at, d.id LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE webhook_deliveries d SET lease_until = $2, lease = $3 FROM due WHERE d.id = due.id
    RETURNING d.id, d.endpoint_id, d.attempts, d.notification_id
)
`+qLoad, now, until, lease, limit, s.cfg.PerEndpoint, limit*s.cfg.PerEndpoint)
	// Probes: an open endpoint past its cool-down with no probe in
	// flight sends its first eligible delivery, one, and marks it in
	// flight until the lease ends.
	queueJobs(b, jobs, lease, true, `WITH open AS (
    SELECT id FROM webhook_endpoints
    WHERE circuit = 'open' AND probe_at <= $1 AND (probe_until IS NULL OR probe_until <= $1)
    ORDER BY id FOR UPDATE SKIP LOCKED
), due AS (
    SELECT x.id FROM open o CROSS JOIN LATERAL (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.endpoint_id = o.id AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
          AND `+qHead+`
        ORDER BY d.next_attempt_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED) x
), leased AS (
    UPDATE webhook_deliveries d SET lease_until = $2, lease = $3 FROM due WHERE d.id = due.id
    RETURNING d.id, d.endpoint_id, d.attempts, d.notification_id
), probing AS (
    UPDATE webhook_endpoints e SET probe_until = $2 FROM leased l WHERE e.id = l.endpoint_id
)
`+qLoad, now, until, lease)
}

// queueJobs queues a statement that leases deliveries and loads them
// (its last part is qLoad), appending them to jobs as leased with lease.
func queueJobs(b *pgx.Batch, jobs *[]job, lease int64, probe bool, q string, args ...any) {
	b.Queue(q, args...).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (job, error) {
			return scanJob(row, lease, probe)
		})
		*jobs = append(*jobs, got...)
		return err
	})
}

// scanJob reads a row of qLoad.
func scanJob(row pgx.CollectableRow, lease int64, probe bool) (job, error) {
	j := job{lease: lease, probe: probe}
	var secret string
	var previous *string
	var n notify.Notification
	if err := row.Scan(&j.delivery, &j.endpoint, &j.attempt, &j.url, &secret, &previous,
		&n.Seq, &n.Type, &n.Customer, &n.OccurredAt, &n.Payload); err != nil {
		return j, err
	}
	j.customer = n.Customer
	j.secrets = []string{secret}
	if previous != nil {
		j.secrets = append(j.secrets, *previous)
	}
	j.id = n.ID()
	var err error
	j.body, err = notify.Envelope(n) // the pull feed's bytes
	return j, err
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
	u, err := s.hosts.parseURL(j.url, s.cfg.AllowLoopback)
	if err != nil {
		return fail(err)
	}
	sig, err := signatures(j.secrets, j.id, o.at, j.body)
	if err != nil {
		return fail(err)
	}
	// The request is sent by the transport itself, as http.Client would
	// with redirects refused (a 3xx is the answer): the client's copy of
	// the headers for redirects, and its timer and goroutine per request
	// for its timeout, are what this path need not pay for; the context's
	// deadline bounds the request and the reading of its answer instead.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	values := [...]string{"application/json", "Tally-Webhooks/1", j.id, strconv.FormatInt(o.at.Unix(), 10), sig}
	req := (&http.Request{
		Method: http.MethodPost, URL: u, Host: u.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":      values[0:1:1],
			"User-Agent":        values[1:2:2],
			"Webhook-Id":        values[2:3:3],
			"Webhook-Timestamp": values[3:4:4],
			"Webhook-Signature": values[4:5:5],
		},
		Body: io.NopCloser(bytes.NewReader(j.body)), ContentLength: int64(len(j.body)),
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(j.body)), nil },
	}).WithContext(ctx)
	start := time.Now()
	res, err := s.transport.RoundTrip(req)
	if err != nil {
		o.latency = time.Since(start)
		// The context's deadline, or one of the transport's own bounds
		// (the TLS handshake's, the answer's headers'), each cfg.Timeout.
		if ne, ok := errors.AsType[net.Error](err); errors.Is(err, context.DeadlineExceeded) || ok && ne.Timeout() {
			err = fmt.Errorf("timeout: no answer within %v", s.cfg.Timeout)
		}
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

// sent is a job and how its send went.
type sent struct {
	job
	outcome
}

// record logs attempts and moves their deliveries and their endpoints'
// circuits on, all in one transaction whose statements are sent together.
// Each attempt gets a row in the log, in the order given (the order the
// sends ended). A 2xx delivers its delivery; anything else schedules its
// next retry (or marks it failed past its deadline). An endpoint's circuit
// takes the attempts in that order too: a 2xx closes it and starts its
// count of failures in a row again, each failure adds one, BreakAfter in a
// row open it, and a failed probe keeps it open for another cool-down.
//
// With chain set, record then leases, and returns to be sent, the next
// notification of each customer whose delivery was accepted to an
// endpoint that is closed, when it is due and no one has it (at most
// maxChain in a row of a customer). With claim > 0 it then claims up to
// that many due deliveries (queueClaim), in the same transaction: the
// room its records made is seen at once.
func (s *Service) record(ctx context.Context, done []sent, chain bool, claim int) (next []job, err error) {
	if len(done) == 0 {
		return nil, nil
	}
	for _, x := range done {
		s.stats.attempts.WithLabelValues(x.label()).Inc()
	}
	var (
		n                                    = len(done)
		deliveries, endpoints, leases        = make([]int64, n), make([]int64, n), make([]int64, n)
		attempts, latencies                  = make([]int32, n), make([]int32, n)
		at                                   = make([]time.Time, n)
		statuses                             = make([]*int32, n)
		reasons                              = make([]*string, n)
		excerpts                             = make([]string, n)
		probes                               = make([]bool, n)
		okIDs, okLeases, failIDs, failLeases []int64
		failNext                             []time.Time
		chainEndpoints                       []int64
		chainCustomers                       []string
	)
	depth := map[chainKey]int{}
	for i, x := range done {
		deliveries[i], endpoints[i], leases[i] = x.delivery, x.endpoint, x.lease
		attempts[i], at[i], latencies[i] = int32(x.attempt), x.at, int32(min(x.latency.Milliseconds(), 1<<31-1))
		if x.status != 0 {
			statuses[i] = ptr(int32(x.status))
		}
		if x.err != "" {
			reasons[i] = ptr(x.err)
		}
		excerpts[i], probes[i] = x.excerpt, x.probe
	}
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		next = next[:0]
		now := s.now()
		okIDs, okLeases, failIDs, failLeases, failNext = okIDs[:0], okLeases[:0], failIDs[:0], failLeases[:0], failNext[:0]
		chainEndpoints, chainCustomers = chainEndpoints[:0], chainCustomers[:0]
		clear(depth)
		for _, x := range done {
			if !x.ok() {
				failIDs, failLeases = append(failIDs, x.delivery), append(failLeases, x.lease)
				failNext = append(failNext, now.Add(max(s.cfg.Backoff(x.attempt), 0)))
				continue
			}
			okIDs, okLeases = append(okIDs, x.delivery), append(okLeases, x.lease)
			if k := (chainKey{x.endpoint, x.customer}); chain && x.chains() && depth[k] == 0 {
				chainEndpoints, chainCustomers = append(chainEndpoints, k.endpoint), append(chainCustomers, k.customer)
				depth[k] = x.chain + 1
			}
		}
		c := circuits(done)
		b := &pgx.Batch{}
		bookkeeping(b)
		// The endpoint may have been deleted meanwhile, with its
		// deliveries: then there is nothing left to record of them.
		b.Queue(`INSERT INTO webhook_attempts
    (delivery_id, endpoint_id, attempt, at, status_code, error, latency_ms, response, probe)
SELECT u.delivery, u.endpoint, u.attempt, u.at, u.status, u.error, u.latency, u.response, u.probe
FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[], $5::int[], $6::text[], $7::int[], $8::text[], $9::bool[])
    WITH ORDINALITY AS u(delivery, endpoint, attempt, at, status, error, latency, response, probe, n)
WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = u.delivery)
ORDER BY u.n`, deliveries, endpoints, attempts, at, statuses, reasons, latencies, excerpts, probes)
		if len(okIDs) > 0 {
			b.Queue(`UPDATE webhook_deliveries d SET status = 'delivered', attempts = d.attempts + 1,
    delivered_at = $3, lease = NULL, lease_until = NULL
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, lease)
WHERE d.id = u.id AND d.lease = u.lease`, okIDs, okLeases, now)
		}
		if len(failIDs) > 0 {
			b.Queue(`UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
    status = CASE WHEN $4 >= d.deliver_by THEN 'failed' ELSE 'pending' END,
    failed_at = CASE WHEN $4 >= d.deliver_by THEN $4::timestamptz END,
    next_attempt_at = least(u.next, d.deliver_by), lease = NULL, lease_until = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS u(id, lease, next)
WHERE d.id = u.id AND d.lease = u.lease`, failIDs, failLeases, failNext, now)
		}
		queueCircuits(b, c, s.cfg.BreakAfter, now, s.cfg.CoolDown)
		if len(chainEndpoints) > 0 {
			// The customer's next notification to the endpoint can go: its
			// order needs this one acknowledged first, which it now is.
			lease := rand.Int64()
			b.Queue(`WITH due AS (
    SELECT x.id FROM unnest($4::bigint[], $5::text[]) AS k(endpoint, customer)
    JOIN webhook_endpoints e ON e.id = k.endpoint AND e.circuit = 'closed'
    CROSS JOIN LATERAL (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.endpoint_id = k.endpoint AND d.customer_id = k.customer AND d.status = 'pending'
          AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1) AND `+qHead+`
        ORDER BY d.ntf_xid, d.notification_id LIMIT 1 FOR UPDATE OF d SKIP LOCKED) x
), leased AS (
    UPDATE webhook_deliveries d SET lease_until = $2, lease = $3 FROM due WHERE d.id = due.id
    RETURNING d.id, d.endpoint_id, d.attempts, d.notification_id
)
`+qLoad, now, now.Add(s.cfg.Timeout+30*time.Second), lease, chainEndpoints, chainCustomers).Query(func(rows pgx.Rows) error {
				got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (job, error) {
					j, err := scanJob(row, lease, false)
					j.chain = depth[chainKey{j.endpoint, j.customer}]
					return j, err
				})
				next = append(next, got...)
				return err
			})
		}
		if claim > 0 {
			s.queueClaim(b, &next, now, claim)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err // rolled back: nothing is leased
	}
	return next, nil
}

// queueCircuits queues the update of the endpoints' circuits by the
// changes c (circuits) that attempts made now.
func queueCircuits(b *pgx.Batch, c circuitChanges, breakAfter int, now time.Time, coolDown time.Duration) {
	// failures is the endpoint's failures in a row after the batch.
	// (A healthy endpoint's row is left alone: every batch would
	// otherwise queue on its lock.)
	const failures = `(CASE WHEN u.reset THEN u.failures ELSE e.failures + u.failures END)`
	const opens = `(` + failures + ` >= $2 AND (u.reset OR e.circuit = 'closed'))`
	b.Queue(`UPDATE webhook_endpoints e SET failures = `+failures+`,
    circuit = CASE WHEN `+failures+` >= $2 OR (e.circuit = 'open' AND NOT u.reset) THEN 'open' ELSE 'closed' END,
    opened_at = CASE WHEN `+opens+` THEN $3 WHEN u.reset THEN NULL ELSE e.opened_at END,
    probe_at = CASE WHEN `+opens+` OR u.probe_failed THEN $4 WHEN u.reset THEN NULL ELSE e.probe_at END,
    probe_until = CASE WHEN u.probed OR u.reset THEN NULL ELSE e.probe_until END
FROM unnest($1::bigint[], $5::bool[], $6::int[], $7::bool[], $8::bool[]) AS u(id, reset, failures, probed, probe_failed)
WHERE e.id = u.id
  AND NOT (u.reset AND u.failures = 0 AND e.failures = 0 AND e.circuit = 'closed' AND e.probe_until IS NULL)`,
		c.ids, breakAfter, now, now.Add(coolDown), c.reset, c.failures, c.probed, c.probeFailed)
}

// chainable is how many of the customers' next notifications a record of
// done with chain set may lease at most: one for each customer and
// endpoint with a send that chains.
func chainable(done []sent) int {
	keys := map[chainKey]bool{}
	for _, x := range done {
		if x.chains() {
			keys[chainKey{x.endpoint, x.customer}] = true
		}
	}
	return len(keys)
}

// chains reports whether the send leads its customer's next notification
// to the endpoint to be leased at once: it was accepted, it is about a
// customer, and it is not the maxChain-th of them in a row.
func (x sent) chains() bool { return x.ok() && x.customer != "" && x.chain+1 < maxChain }

// chainKey is a customer's notifications to an endpoint.
type chainKey struct {
	endpoint int64
	customer string
}

func ptr[T any](v T) *T { return &v }

// circuitChanges are the changes a batch of attempts makes to its
// endpoints' circuits, one element per endpoint, by endpoint id.
type circuitChanges struct {
	ids []int64
	// reset: an attempt succeeded, which closes the circuit and starts
	// the count of failures in a row again.
	reset []bool
	// failures: the attempts that failed after the last that succeeded
	// (all of them when none did).
	failures []int32
	// probed: a probe's attempt is among them: none is in flight now.
	probed []bool
	// probeFailed: a probe failed after the last attempt that succeeded,
	// so the next waits for another cool-down.
	probeFailed []bool
}

// circuits takes the attempts, in order, as each endpoint's circuit does.
func circuits(done []sent) circuitChanges {
	type change struct {
		reset, probed, probeFailed bool
		failures                   int32
	}
	by := map[int64]*change{}
	var c circuitChanges
	for _, x := range done {
		ch := by[x.endpoint]
		if ch == nil {
			ch = &change{}
			by[x.endpoint] = ch
			c.ids = append(c.ids, x.endpoint)
		}
		ch.probed = ch.probed || x.probe
		if x.ok() {
			ch.reset, ch.failures, ch.probeFailed = true, 0, false
			continue
		}
		ch.failures++
		ch.probeFailed = ch.probeFailed || x.probe
	}
	slices.Sort(c.ids) // lock the endpoints' rows in one order
	for _, id := range c.ids {
		ch := by[id]
		c.reset = append(c.reset, ch.reset)
		c.failures = append(c.failures, ch.failures)
		c.probed = append(c.probed, ch.probed)
		c.probeFailed = append(c.probeFailed, ch.probeFailed)
	}
	return c
}

// bookkeeping makes the transaction commit without waiting for its WAL to
// reach the disk (synchronous_commit off): the claims and the records of
// sends. A crash may forget the last of them (a few hundred milliseconds
// at most); a forgotten claim lapses, and a forgotten record leaves its
// delivery pending, so it is sent again with the same webhook-id: never
// lost, at least once as promised. The notifications themselves, and the
// fan-out that creates the deliveries, commit durably. It is queued first
// in the transaction's batch of statements.
func bookkeeping(b *pgx.Batch) {
	b.Queue(`SET LOCAL synchronous_commit = off`)
}

// maxChain bounds how many of one customer's notifications are sent in a
// row, each after the one before was accepted, before the others have a
// turn.
const maxChain = 50
