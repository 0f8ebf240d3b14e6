package webhook

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// directBudget is how long a page's sends may start for: after it, what
// has not been sent is queued, so that a slow endpoint holds a page back by
// directBudget and one request's timeout at most.
const directBudget = 2 * time.Second

// errFeedLeaseLost: the page took longer than the feed's lease, which
// another process may have taken since; what it sent is sent again.
var errFeedLeaseLost = errors.New("the feed's lease ended before the page was recorded")

// directEndpoint is an endpoint as a page's sends need it.
type directEndpoint struct {
	id       int64
	partner  *int64
	url      string
	types    []string
	secrets  []string
	closed   bool
	failures int             // its failures in a row before the page
	waiting  map[string]bool // customers with a pending delivery to it
}

// qHears is hears in SQL, beside the match of the types, for an endpoint e
// and a notification n.
var qHears = `(e.partner_id IS NULL OR (n.partner_id IS NULL OR n.partner_id = e.partner_id)
    AND n.type <> ALL (ARRAY['` + strings.Join(notify.PlatformTypes, "', '") + `']))`

// hears says whether e is sent n: a type it subscribed to, not meant for
// another partner only, and, for an endpoint a partner owns, not of the
// platform's own types (qHears, in SQL).
func (e *directEndpoint) hears(n notify.Notification) bool {
	return slices.Contains(e.types, n.Type) &&
		(e.partner == nil || (n.Partner == 0 || n.Partner == *e.partner) && !notify.PlatformOnly(n.Type))
}

func (e *directEndpoint) owner() int64 {
	if e.partner != nil {
		return *e.partner
	}
	return -e.id
}

// directItem is one notification to one endpoint in a page, and how far
// its send went.
type directItem struct {
	e     *directEndpoint
	n     notify.Notification
	state itemState
	sent  *sent // when done: the send
	end   int   // when done: its place in the order the page's sends ended
	// when in flight as the page is recorded: its delivery's id, set
	// before recorded is closed (0: not recorded)
	delivery int64
}

type itemState int

const (
	queued   itemState = iota // not sent: a pending delivery, due now
	inFlight                  // being sent
	done                      // sent; sent says how it went
)

// fanOutDirect takes the next page of the feed past its cursor and sends
// it straight away: each notification to each endpoint that hears it,
// unless the endpoint's circuit is open, the customer has an earlier
// notification pending to it, or its owner has no room. A customer's
// notifications to one endpoint go one after the other, each once the one
// before was accepted. When every send has ended, or directBudget after
// they began, it records the page in one transaction: the attempts, a
// delivery for each notification and endpoint not accepted at once, the
// circuits, and the cursor past the page. A send that was accepted is its
// attempt alone; one that failed is pending for its retry; one still in flight is a pending delivery leased
// to this process, recorded as the queue's sends are when it ends; one not
// sent (after a customer's failure, past the budget, or BreakAfter
// failures of its endpoint in the page) is pending and due. So a slow
// endpoint holds the feed back by directBudget at most.
//
// The feed is leased meanwhile, so one process at a time sends a page; one
// that dies before it records sends the page again when the lease ends,
// with the same webhook-ids: at least once, never lost.
//
// It returns how many notifications the page held and how many requests
// it sent.
func (s *Service) fanOutDirect(ctx context.Context, busy int) (page, requests int, err error) {
	now := s.now()
	lease := rand.Int64()
	var text string
	// The lease, as the rest of the bookkeeping, need not wait for the
	// disk: a crash that forgets it leaves the feed free.
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		b := &pgx.Batch{}
		bookkeeping(b)
		b.Queue(`UPDATE webhook_feed SET lease = $2, lease_until = $3
WHERE lease_until IS NULL OR lease_until <= $1 RETURNING cursor`,
			now, lease, now.Add(directBudget+s.cfg.Timeout+30*time.Second)).QueryRow(func(row pgx.Row) error { return row.Scan(&text) })
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil // another process is sending a page
	}
	if err != nil {
		return 0, 0, err
	}
	release := func() error {
		return s.l.InTx(ctx, func(tx *ledger.Tx) error {
			b := &pgx.Batch{}
			bookkeeping(b)
			b.Queue(`UPDATE webhook_feed SET lease = NULL, lease_until = NULL WHERE lease = $1`, lease)
			return tx.SendBatch(ctx, b).Close()
		})
	}
	after, err := notify.ParseCursor(text)
	if err != nil {
		return 0, 0, errors.Join(err, release())
	}
	if !s.heard.Load() {
		skipped, err := s.skipAll(ctx, after, lease)
		if err != nil {
			return 0, 0, errors.Join(err, release())
		}
		if skipped { // the cursor moved and the lease with it
			return 0, 0, nil
		}
	}
	list, next, err := notify.Feed(ctx, s.l, after, fanOutPage, notify.Filter{})
	if err != nil || len(list) == 0 {
		return 0, 0, errors.Join(err, release())
	}
	items, room, err := s.match(ctx, list)
	if err != nil {
		return 0, 0, errors.Join(err, release())
	}
	p := s.sendPage(context.WithoutCancel(ctx), items, room, s.cfg.Workers-busy)
	p.mu.Lock() // sends still in flight now are recorded later, by themselves
	p.cut = true
	for _, it := range p.items {
		if it.state != queued {
			requests++
		}
		if it.state == inFlight {
			s.late.Add(1)
			s.lateN.Add(1)
		}
	}
	err = s.recordPage(context.WithoutCancel(ctx), p, next, lease)
	p.mu.Unlock()
	close(p.recorded)
	if err != nil {
		return len(list), requests, errors.Join(err, release())
	}
	return len(list), requests, nil
}

// skipAll moves the feed's cursor past what no endpoint hears
// (skipUnheard) and gives the feed's lease back, in one transaction; it
// reports whether it did.
func (s *Service) skipAll(ctx context.Context, after notify.Cursor, lease int64) (skipped bool, err error) {
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		skipped = false // each attempt anew
		next, ok, err := s.skipUnheard(ctx, tx, after)
		if err != nil || !ok {
			return err
		}
		b := &pgx.Batch{}
		bookkeeping(b)
		b.Queue(`UPDATE webhook_feed SET cursor = $1, lease = NULL, lease_until = NULL WHERE lease = $2`,
			next.String(), lease).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return errFeedLeaseLost
			}
			return nil
		})
		skipped = true
		return tx.SendBatch(ctx, b).Close()
	})
	return skipped, err
}

// directPage is a page being sent.
type directPage struct {
	mu       sync.Mutex
	items    []directItem
	cut      bool          // recorded (or being recorded): sends that end now record themselves
	recorded chan struct{} // closed once the page's record has ended
	finished int           // sends ended before the cut
	lease    int64         // the lease of the deliveries of sends in flight at the cut
}

// match pairs the page's notifications with the endpoints that hear them,
// in feed order and by endpoint id, and returns each owner's room: how
// many more requests it may have in flight (PerEndpoint less those of its
// deliveries leased now).
func (s *Service) match(ctx context.Context, list []notify.Notification) ([]directItem, map[int64]int, error) {
	customers := make([]string, 0, len(list))
	for _, n := range list {
		if n.Customer != "" {
			customers = append(customers, n.Customer)
		}
	}
	var endpoints []*directEndpoint
	room := map[int64]int{}
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		endpoints = endpoints[:0]
		clear(room)
		b := &pgx.Batch{}
		queueMatch(b, s.now(), customers, &endpoints, room)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, nil, err
	}
	s.heard.Store(len(endpoints) > 0)
	owners := map[int64]bool{}
	for _, e := range endpoints {
		if !owners[e.owner()] {
			owners[e.owner()] = true
			room[e.owner()] += s.cfg.PerEndpoint
		}
	}
	var items []directItem
	for _, n := range list {
		for _, e := range endpoints {
			if e.hears(n) {
				items = append(items, directItem{e: e, n: n})
			}
		}
	}
	return items, room, nil
}

// queueMatch queues the statements that read, as of now, every endpoint
// into endpoints, with those of customers that have a pending delivery to
// it (one index probe per endpoint and customer, not every pending
// delivery of the customer's, which a paused endpoint may hold by the
// hundred thousand), and each owner's sends in flight, negated, into room.
func queueMatch(b *pgx.Batch, now time.Time, customers []string, endpoints *[]*directEndpoint, room map[int64]int) {
	b.Queue(`SELECT e.id, e.partner_id, e.url, e.types, e.secret,
       CASE WHEN e.previous_valid_until > $1 THEN e.previous_secret END, e.circuit = 'closed', e.failures,
       ARRAY(SELECT DISTINCT c FROM unnest($2::text[]) c WHERE EXISTS (SELECT 1 FROM webhook_deliveries d
             WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.customer_id = c OFFSET 0))
FROM webhook_endpoints e ORDER BY e.id`, now, customers).Query(func(rows pgx.Rows) error {
		var err error
		*endpoints, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*directEndpoint, error) {
			e := &directEndpoint{}
			var secret string
			var previous *string
			var waiting []string
			err := row.Scan(&e.id, &e.partner, &e.url, &e.types, &secret, &previous, &e.closed, &e.failures, &waiting)
			e.secrets = []string{secret}
			if previous != nil {
				e.secrets = append(e.secrets, *previous)
			}
			e.waiting = make(map[string]bool, len(waiting))
			for _, c := range waiting {
				e.waiting[c] = true
			}
			return e, err
		})
		return err
	})
	b.Queue(`SELECT `+qOwner+`, count(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.status = 'pending' AND d.lease_until > $1 GROUP BY 1`, now).Query(func(rows pgx.Rows) error {
		var owner, n int64
		_, err := pgx.ForEachRow(rows, []any{&owner, &n}, func() error {
			room[owner] = -int(n)
			return nil
		})
		return err
	})
}

// sendPage starts the sends of the items that may go straight away
// (fanOutDirect), at most workers at once (none: every item is queued) and
// at most each owner's room, and returns once they have all ended or
// directBudget has passed.
func (s *Service) sendPage(ctx context.Context, items []directItem, room map[int64]int, workers int) *directPage {
	p := &directPage{items: items, recorded: make(chan struct{}), lease: rand.Int64()}
	if workers <= 0 {
		return p
	}
	// A customer's items to one endpoint are one sequence, sent in order;
	// items about no customer are each their own.
	type key struct {
		endpoint int64
		customer string
	}
	var seqs [][]int
	index := map[key]int{}
	for i, it := range items {
		if !it.e.closed || it.e.waiting[it.n.Customer] || room[it.e.owner()] <= 0 {
			continue
		}
		if it.n.Customer == "" {
			seqs = append(seqs, []int{i})
			continue
		}
		k := key{it.e.id, it.n.Customer}
		if j, ok := index[k]; ok {
			seqs[j] = append(seqs[j], i)
		} else {
			index[k] = len(seqs)
			seqs = append(seqs, []int{i})
		}
	}
	var (
		failures = map[int64]int{} // failures in a row in this page, by endpoint (under p.mu)
		slots    = make(chan struct{}, workers)
		wg       sync.WaitGroup
	)
	for _, it := range items {
		failures[it.e.id] = it.e.failures // a circuit counts failures in a row across pages
	}
	// send sends item i, unless the page was cut or its endpoint failed
	// BreakAfter times, and reports whether the customer's next may go.
	send := func(i int) bool {
		it := &items[i]
		slots <- struct{}{}
		defer func() { <-slots }()
		p.mu.Lock()
		if p.cut || failures[it.e.id] >= s.cfg.BreakAfter {
			p.mu.Unlock()
			return false
		}
		it.state = inFlight
		p.mu.Unlock()
		j := job{endpoint: it.e.id, attempt: 1, customer: it.n.Customer, url: it.e.url, secrets: it.e.secrets, id: it.n.ID()}
		var x sent
		if body, err := notify.Envelope(it.n); err != nil {
			x = sent{j, outcome{at: s.now(), err: clipText(err.Error(), MaxExcerpt)}}
		} else {
			j.body = body
			x = sent{j, s.send(ctx, j)}
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			// Recorded as leased to this process: record it as the
			// queue's sends are, once its delivery exists.
			<-p.recorded
			if it.delivery != 0 {
				x.delivery, x.lease = it.delivery, p.lease
				_, _ = s.record(ctx, []sent{x}, false, 0) // on failure the lease lapses and the queue sends it again
			}
			s.lateN.Add(-1)
			s.late.Done()
			return false
		}
		it.state, it.sent, it.end = done, &x, p.finished
		p.finished++
		if x.ok() {
			failures[it.e.id] = 0
		} else {
			failures[it.e.id]++
		}
		p.mu.Unlock()
		return x.ok()
	}
	// Each owner's sequences are taken, in order, by as many senders as
	// it has room for (and no more than there are sequences or workers):
	// so an owner never has more requests in flight than its room, a
	// sender holds no slot while it has nothing to send (the page's
	// workers are shared by all owners, each taken for one request), and
	// a page starts a few goroutines, not one per customer (each would
	// grow its stack anew for the HTTP client).
	byOwner := map[int64][][]int{}
	var owners []int64
	for _, seq := range seqs {
		o := items[seq[0]].e.owner()
		if byOwner[o] == nil {
			owners = append(owners, o)
		}
		byOwner[o] = append(byOwner[o], seq)
	}
	for _, o := range owners {
		queue := byOwner[o]
		var next atomic.Int64
		for range min(room[o], len(queue), workers) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := next.Add(1) - 1; k < int64(len(queue)); k = next.Add(1) - 1 {
					for _, i := range queue[k] {
						if !send(i) {
							break // the customer's later ones are queued
						}
					}
				}
			}()
		}
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	budget := time.NewTimer(directBudget)
	defer budget.Stop()
	select {
	case <-all:
	case <-budget.C:
	}
	return p
}

// endpointIDs is the ids of the items' endpoints.
func endpointIDs(items []directItem) []int64 {
	var ids []int64
	for _, it := range items {
		if !slices.Contains(ids, it.e.id) {
			ids = append(ids, it.e.id)
		}
	}
	return ids
}

// ended is a send of a page and its place in the order they ended.
type ended struct {
	sent
	end int
}

// recordPage records a page sent by fanOutDirect, cut (p.mu held), and
// moves the cursor past it, in one transaction that does not wait for its
// WAL to reach the disk (bookkeeping): a crash that forgets it forgets the
// cursor's move too, and the page is sent again. A send accepted at once
// is recorded as its attempt alone; every other item gets a delivery row
// (pending, for its retry or its first send), and a failed send its
// attempt too. It sets the delivery of each item in flight.
func (s *Service) recordPage(ctx context.Context, p *directPage, next notify.Cursor, feedLease int64) error {
	var (
		endpoints, ntfs   []int64 // the deliveries
		attempts          []int32
		nextAt            []time.Time
		leases            []*int64
		ends              []ended
		aEndpoints, aNtfs []int64 // the attempts
		aAt               []time.Time
		aStatus           []*int32
		aReason           []*string
		aLatency          []int32
		aExcerpt          []string
	)
	now := s.now()
	for _, it := range p.items {
		var lease *int64
		tries, due := int32(0), now
		switch it.state {
		case inFlight:
			lease = &p.lease
		case done:
			x := it.sent
			s.stats.attempts.WithLabelValues(x.label()).Inc()
			ends = append(ends, ended{*x, it.end})
			var status *int32
			if x.status != 0 {
				status = ptr(int32(x.status))
			}
			var reason *string
			if x.err != "" {
				reason = ptr(x.err)
			}
			aEndpoints, aNtfs = append(aEndpoints, it.e.id), append(aNtfs, it.n.Seq)
			aAt, aStatus, aReason = append(aAt, x.at), append(aStatus, status), append(aReason, reason)
			aLatency = append(aLatency, int32(min(x.latency.Milliseconds(), 1<<31-1)))
			aExcerpt = append(aExcerpt, x.excerpt)
			if x.ok() {
				continue // its attempt is its record
			}
			tries, due = 1, now.Add(max(s.cfg.Backoff(1), 0))
		}
		endpoints, ntfs = append(endpoints, it.e.id), append(ntfs, it.n.Seq)
		attempts, nextAt, leases = append(attempts, tries), append(nextAt, due), append(leases, lease)
	}
	type key struct{ endpoint, ntf int64 }
	leased := map[key]int64{}
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		clear(leased)
		b := &pgx.Batch{}
		bookkeeping(b)
		// An endpoint deleted meanwhile gets nothing: its deliveries went
		// with it. Its row is locked first, in a statement of its own,
		// which waits for a delete in flight and skips the row it deleted;
		// the insert, reading afresh, then no longer sees the endpoint
		// (its foreign key would fail the whole page).
		b.Queue(`SELECT id FROM webhook_endpoints WHERE id = ANY ($1) ORDER BY id FOR KEY SHARE`, endpointIDs(p.items))
		b.Queue(`WITH created AS (
    INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, attempts,
        created_at, next_attempt_at, deliver_by, lease, lease_until)
    SELECT u.endpoint, u.ntf, n.xid, n.customer_id, 'pending', u.attempts, $6, u.next, $7,
        u.lease, CASE WHEN u.lease IS NOT NULL THEN $8::timestamptz END
    FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[], $5::bigint[])
        WITH ORDINALITY AS u(endpoint, ntf, attempts, next, lease, k)
    JOIN notifications n ON n.id = u.ntf
    JOIN webhook_endpoints e ON e.id = u.endpoint
    ORDER BY u.k
    ON CONFLICT (endpoint_id, notification_id) DO NOTHING
    RETURNING id, endpoint_id, notification_id, lease
), logged AS (
    INSERT INTO webhook_attempts (delivery_id, notification_id, endpoint_id, attempt, at, status_code, error,
        latency_ms, response, probe)
    SELECT c.id, a.ntf, a.endpoint, 1, a.at, a.status, a.error, a.latency, a.response, false
    FROM unnest($9::bigint[], $10::bigint[], $11::timestamptz[], $12::int[], $13::text[], $14::int[], $15::text[])
        WITH ORDINALITY AS a(endpoint, ntf, at, status, error, latency, response, k)
    JOIN webhook_endpoints e ON e.id = a.endpoint
    LEFT JOIN created c ON c.endpoint_id = a.endpoint AND c.notification_id = a.ntf
    ORDER BY a.k
)
SELECT id, endpoint_id, notification_id FROM created WHERE lease IS NOT NULL`,
			endpoints, ntfs, attempts, nextAt, leases, now, now.Add(s.cfg.RetryFor),
			now.Add(s.cfg.Timeout+30*time.Second),
			aEndpoints, aNtfs, aAt, aStatus, aReason, aLatency, aExcerpt).Query(func(rows pgx.Rows) error {
			var id, endpoint, ntf int64
			_, err := pgx.ForEachRow(rows, []any{&id, &endpoint, &ntf}, func() error {
				leased[key{endpoint, ntf}] = id
				return nil
			})
			return err
		})
		if len(ends) > 0 {
			// The circuits take the attempts in the order they ended.
			slices.SortFunc(ends, func(a, b ended) int { return a.end - b.end })
			inOrder := make([]sent, len(ends))
			for i, x := range ends {
				inOrder[i] = x.sent
			}
			queueCircuits(b, circuits(inOrder), s.cfg.BreakAfter, now, s.cfg.CoolDown)
		}
		b.Queue(`UPDATE webhook_feed SET cursor = $1, lease = NULL, lease_until = NULL WHERE lease = $2`,
			next.String(), feedLease).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return errFeedLeaseLost
			}
			return nil
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	for i := range p.items {
		it := &p.items[i]
		if it.state == inFlight {
			it.delivery = leased[key{it.e.id, it.n.Seq}]
		}
	}
	return nil
}
