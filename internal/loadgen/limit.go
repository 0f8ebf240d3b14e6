package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/ledger"
)

// The schema's own limit (scenario 3L): the rows scenario 3's shipment
// events write, written by SQL alone, with no HTTP, no Go and no pricing
// between the load and the tables: each group of limitGroupSize events is
// one transaction of two round trips (the lock and the entry ids, then one
// multi-row statement per table and the commit), sent by as many clients as
// scenario 3 has, each on its own share of the customers (as the service's
// event writers each own theirs), against a database of its own on the
// same cluster (a copy of the bench's database made at setup: the same
// schema, customers, accounts and balances).
//
// Each statement below names the row of the real path it stands for
// (loyalty/shipments.go's writeShipments, ledger/many.go's PostMany,
// loyalty/notifications.go, ledger/chain.go's Seal). The points of a
// shipment are floor(amount), what the default rules give a customer of
// the first tier; whatever a customer's tier, an event writes the same
// rows. TestLimitWritesTheRowsOfTheRealPath proves, table by table, that
// a group written here writes as many rows as the same group written by
// the service, so that these statements cannot drift from the real path
// unnoticed.
//
// What the limit leaves out, by design: the reads of the real path (the
// stored events, the months, the campaigns, the completed shipments),
// the pricing, the customer.tier_changed notice (one more notification
// when a shipment raises its customer's tier, which the rules decide),
// and the sealer's read of the entries it links (the links are written
// here in the group's own transaction, a block per group). The real path
// splits a submission between its two writers, so it updates the platform
// account's balance twice per 500 events where the limit updates it once.

// limitGroupSize is scenario 3's batch: the events of one transaction.
const limitGroupSize = batchSize

// limitRun is where and as whom the limit writes.
type limitRun struct {
	url    string
	keyID  int64  // the partner key the events are recorded under
	space  string // its event space
	actor  string // as the API records a partner key's writes
	zone   string // the rules' time zone (months and expiry)
	expiry int    // months after the month of a shipment that its points expire
}

// limitGroup is one group: the events' ids, customers, shipments and
// amounts, in order.
type limitGroup struct {
	events, customers, shipments, amounts []string
	at                                    time.Time // when the shipments completed
}

// newLimitGroup is n events spread over the first customers customers, as
// scenario 3's batches are (shipment, in scenarios.go), but only over the
// share of them client w of clients owns (those whose number is w modulo
// clients): the service's event writers each own their customers, so that
// their groups never wait for each other's locks, and so do the limit's
// clients.
func newLimitGroup(r *rand.Rand, n, customers, w, clients int, at time.Time) limitGroup {
	g := limitGroup{at: at}
	owned := (customers - w + clients - 1) / clients
	for range n {
		k := seq.Add(1)
		g.events = append(g.events, fmt.Sprintf("lim-%d", k))
		g.customers = append(g.customers, fmt.Sprintf("B%05d", w+clients*r.IntN(owned)))
		g.shipments = append(g.shipments, fmt.Sprintf("LS%d", k))
		g.amounts = append(g.amounts, fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)))
	}
	return g
}

// The first round trip: the group's transaction begins and locks its
// customers, and takes an entry id per event.
const (
	// The group's plans, as the real path's (loyalty/group.go, queueLock).
	qLimitPlans = `SET LOCAL plan_cache_mode = force_generic_plan`
	// The lock of the group's customers, in byte order of their ids (queueLock).
	qLimitLock = `SELECT c.id FROM (SELECT id FROM (SELECT DISTINCT u.id FROM unnest($1::text[]) AS u (id)) d ORDER BY id COLLATE "C") ids
CROSS JOIN LATERAL (SELECT id FROM customers WHERE id = ids.id FOR NO KEY UPDATE) c`
	// The entry ids (ledger.QueueEntryIDs).
	qLimitIDs = `SELECT nextval((SELECT pg_get_serial_sequence('entries', 'id')::regclass)) FROM generate_series(1, $1::int)`
)

// The second round trip: one statement per table, then the commit. In
// every statement $1, $2 and $3 are the events' entry ids, customers and
// amounts, in order.
const (
	// A shipment's entry (PostMany's qManyEntries), with the metadata an
	// earning records (loyalty.entryMetadata). $4 events, $5 shipments,
	// $6 when they completed, $7 now, $8 the actor.
	qLimitEntries = `INSERT INTO entries (id, kind, effective_at, metadata, actor, reason, rule_version, recorded_at)
OVERRIDING SYSTEM VALUE
SELECT u.id, 'shipment.completed', $6::timestamptz,
    jsonb_build_object('event_id', u.event, 'customer_id', u.customer, 'shipment_id', u.shipment,
                       'segment', 'floating', 'level', 1, 'multiplier', '1'),
    $8::text, '', 1, $7::timestamptz
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u (id, customer, amount, event, shipment)`
	// The customers' points balances (PostMany's qManyBalances, bucket 0):
	// one row per customer of the group, in account order.
	qLimitCustomerBalances = `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, 0, false, u.points
FROM (SELECT 'customer:' || u.customer || ':points' AS code, sum(floor(u.amount::numeric)) AS points
      FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, customer, amount) GROUP BY 1) u
CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a
ORDER BY u.code
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance + excluded.balance`
	// The platform's side (PostMany's qManyBalances on the hot account
	// platform:points:earned:volume): the transaction's one bucket, $4.
	qLimitPlatformBalance = `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, $4::int, true, -(SELECT sum(floor(u.amount::numeric)) FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, customer, amount))
FROM accounts a WHERE a.code = 'platform:points:earned:volume'
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance + excluded.balance`
	// Two postings per entry, the customer's credit with its balance after
	// and the platform's debit (PostMany's qManyPostings). $4 when the
	// shipments completed.
	qLimitPostings = `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at, lot_id)
SELECT u.id, x.account_id, 'PTS', x.amount, x.after, $4::timestamptz, x.lot_id
FROM (SELECT u.id, u.ord, floor(u.amount::numeric) AS points, a.id AS account_id, s.id AS lot_id,
             b.balance - coalesce(sum(floor(u.amount::numeric)) OVER (PARTITION BY a.id ORDER BY u.ord DESC
                                                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS after
      FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS u (id, customer, amount, ord)
      CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = 'customer:' || u.customer || ':points' OFFSET 0) a
      CROSS JOIN LATERAL (SELECT balance FROM balance_buckets WHERE account_id = a.id AND bucket = 0 OFFSET 0) b
      CROSS JOIN LATERAL (SELECT id FROM points_lots WHERE account_id = a.id AND expires_at = ` + limitExpiry + ` AND shared OFFSET 0) s) u
CROSS JOIN LATERAL (VALUES (0, u.account_id, u.points, u.after, u.lot_id),
                           (1, (SELECT id FROM accounts WHERE code = 'platform:points:earned:volume'), -u.points, NULL, NULL))
    AS x (line, account_id, amount, after, lot_id)
ORDER BY u.ord, x.line`
	// The credits to the customers' shared points lots, one row per
	// customer (PostMany's qManySharedLots), available when the shipments
	// completed ($4) and expiring as the rules say.
	qLimitLots = `INSERT INTO points_lots AS p (account_id, entry_id, amount, remaining, available_at, expires_at, shared)
SELECT a.id, u.id, u.points, u.points, $4::timestamptz, ` + limitExpiry + `, true
FROM (SELECT u.customer, min(u.id) AS id, sum(floor(u.amount::numeric))::bigint AS points, min(u.ord) AS ord
      FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS u (id, customer, amount, ord)
      GROUP BY u.customer) u
CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = 'customer:' || u.customer || ':points' OFFSET 0) a
ORDER BY u.ord
ON CONFLICT (account_id, expires_at) WHERE shared DO UPDATE
SET amount = p.amount + excluded.amount, remaining = p.remaining + excluded.remaining,
    available_at = least(p.available_at, excluded.available_at)`
	// limitExpiry is when the points of shipments completed at $4 expire:
	// at the start of the month $6 months after the shipment's, in the
	// rules' zone $5.
	limitExpiry = `(date_trunc('month', $4::timestamptz AT TIME ZONE $5::text) + make_interval(months => $6::int + 1)) AT TIME ZONE $5::text`
	// The month's contribution of each customer of the group
	// (writeShipments' upsert of customer_months). $4 when the shipments
	// completed, $5 the rules' zone.
	qLimitMonths = `INSERT INTO customer_months (customer_id, month, contribution, shipments)
SELECT u.customer, to_char($4::timestamptz AT TIME ZONE $5::text, 'YYYY-MM'), sum(u.amount::numeric), count(*)
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, customer, amount)
GROUP BY u.customer ORDER BY u.customer
ON CONFLICT (customer_id, month) DO UPDATE SET contribution = customer_months.contribution + excluded.contribution,
    shipments = customer_months.shipments + excluded.shipments`
	// The event row with its shipment and its result (loyalty's
	// shipmentRows.queue), the result shaped as the service's. $4 events,
	// $5 shipments, $6 when they completed, $7 now, $8 the key, $9 its
	// space, $10 the rules' zone.
	qLimitEvents = `INSERT INTO events (key_id, space, event_id, type, customer_id, request_hash, result, entry_id, created_at,
    shipment_id, amount, refunded, occurred_at, month, points_volume, points_campaign, points_reversed, points_dropped,
    points_owed, rule_version)
SELECT $8::bigint, $9::text, u.event, 'shipment.completed', u.customer, sha256(convert_to(u.event, 'UTF8')),
    json_build_object('event_id', u.event, 'type', 'shipment.completed', 'customer_id', u.customer, 'shipment_id', u.shipment,
        'occurred_at', $6::timestamptz, 'entry_id', u.id, 'rule_version', 1,
        'tier', json_build_object('segment', 'floating', 'level', 1),
        'contribution', json_build_object('month', to_char($6::timestamptz AT TIME ZONE $10::text, 'YYYY-MM'), 'before', '0', 'after', u.amount),
        'earning', json_build_object('base', u.amount, 'multiplier', '1', 'campaign', NULL, 'campaign_multiplier', '1',
            'volume', floor(u.amount::numeric)::text, 'campaign_points', '0', 'points', floor(u.amount::numeric)::text),
        'points', floor(u.amount::numeric)::text),
    u.id, $7::timestamptz,
    u.shipment, u.amount::numeric, 0, $6::timestamptz, to_char($6::timestamptz AT TIME ZONE $10::text, 'YYYY-MM'),
    floor(u.amount::numeric), 0, 0, 0, 0, 1
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u (id, customer, amount, event, shipment)`
	// The points.earned notification each earning announces
	// (loyalty/notifications.go, notify.Queue), its payload shaped as the
	// service's. $4 events, $5 shipments, $6 when they completed, $7 the
	// rules' zone.
	qLimitNotifications = `INSERT INTO notifications (type, customer_id, partner_id, occurred_at, payload, once_key)
SELECT 'points.earned', u.customer, NULL, $6::timestamptz,
    json_build_object('points', floor(u.amount::numeric)::text, 'channel', 'volume', 'entry_id', u.id, 'event_id', u.event,
        'shipment_id', u.shipment, 'pricing', json_build_object('rule_version', 1,
            'tier', json_build_object('segment', 'floating', 'level', 1),
            'contribution', json_build_object('month', to_char($6::timestamptz AT TIME ZONE $7::text, 'YYYY-MM'), 'before', '0', 'after', u.amount),
            'earning', json_build_object('base', u.amount, 'multiplier', '1', 'campaign', NULL, 'campaign_multiplier', '1',
                'volume', floor(u.amount::numeric)::text, 'campaign_points', '0', 'points', floor(u.amount::numeric)::text))),
    NULL
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u (id, customer, amount, event, shipment)`
	// The chain's link of each entry (ledger.Seal, which writes them after
	// the commit, in blocks): seq is the entry's id here, so that
	// concurrent groups never collide, and the link a stand-in of its size.
	// The block is the group's first entry id.
	qLimitLinks = `INSERT INTO chain_links (seq, entry_id, xid, link, block)
SELECT u.id, u.id, pg_current_xact_id(), sha256(int8send(u.id)), min(u.id) OVER ()
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, customer, amount)`
	// The block those links make (ledger.Seal), one per group. $4 now.
	qLimitBlock = `INSERT INTO chain_blocks (id, first_seq, last_seq, head, sealed_at)
SELECT min(u.id), min(u.id), max(u.id), sha256(int8send(max(u.id))), $4::timestamptz
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, customer, amount)`
)

// write writes the group in one transaction: two round trips, the second
// ending with the commit. Any failure rolls it back and is returned.
func (lr limitRun) write(ctx context.Context, conn *pgx.Conn, g limitGroup, bucket int, now time.Time) error {
	var first pgx.Batch
	first.Queue(`BEGIN`)
	first.Queue(qLimitPlans)
	first.Queue(qLimitLock, g.customers)
	var ids []int64
	first.Queue(qLimitIDs, len(g.events)).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		slices.Sort(ids)
		return err
	})
	if err := conn.SendBatch(ctx, &first).Close(); err != nil {
		return lr.rollback(ctx, conn, err)
	}
	at, cs, am := g.at, g.customers, g.amounts
	var b pgx.Batch
	b.Queue(qLimitEntries, ids, cs, am, g.events, g.shipments, at, now, lr.actor)
	b.Queue(qLimitCustomerBalances, ids, cs, am)
	b.Queue(qLimitPlatformBalance, ids, cs, am, bucket)
	b.Queue(qLimitLots, ids, cs, am, at, lr.zone, lr.expiry)
	b.Queue(qLimitPostings, ids, cs, am, at, lr.zone, lr.expiry)
	b.Queue(qLimitMonths, ids, cs, am, at, lr.zone)
	b.Queue(qLimitEvents, ids, cs, am, g.events, g.shipments, at, now, lr.keyID, lr.space, lr.zone)
	b.Queue(qLimitNotifications, ids, cs, am, g.events, g.shipments, at, lr.zone)
	b.Queue(qLimitLinks, ids, cs, am)
	b.Queue(qLimitBlock, ids, cs, am, now)
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return lr.rollback(ctx, conn, err)
	}
	return nil
}

func (lr limitRun) rollback(ctx context.Context, conn *pgx.Conn, err error) error {
	if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
		return fmt.Errorf("%w (and the rollback: %v)", err, rerr)
	}
	return err
}

// limitKind is how a failed group is counted: by SQLSTATE when
// PostgreSQL answered one.
func limitKind(err error) string {
	if pe, ok := err.(*pgconn.PgError); ok {
		return "SQLSTATE " + pe.Code + " " + pe.ConstraintName
	}
	return "group failed: " + err.Error()
}

// openLimit finds, in the limit's database, the partner key and the rules
// the limit writes with: the bench's partner key (the database is a copy
// of the bench's), the rule set in effect now.
func openLimit(ctx context.Context, url string) (limitRun, error) {
	lr := limitRun{url: url}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return lr, err
	}
	defer conn.Close(ctx)
	var name string
	var partner int64
	if err := conn.QueryRow(ctx, `SELECT id, name, partner_id FROM api_keys WHERE role = 'partner' AND revoked_at IS NULL ORDER BY id LIMIT 1`).
		Scan(&lr.keyID, &name, &partner); err != nil {
		return lr, fmt.Errorf("the limit's partner key: %w", err)
	}
	lr.space = fmt.Sprintf("partner:%d", partner)
	lr.actor = fmt.Sprintf("partner:%d/key:%d:%s", partner, lr.keyID, name)
	// The rules in effect now; with none stored, the default rules' zone
	// and expiry (rules.Default).
	lr.zone, lr.expiry = "Asia/Shanghai", 12
	err = conn.QueryRow(ctx, `SELECT document->>'timezone', (document->>'expiry_months')::int FROM rule_sets
WHERE effective_from <= now() ORDER BY effective_from DESC LIMIT 1`).Scan(&lr.zone, &lr.expiry)
	if err != nil && err != pgx.ErrNoRows {
		return lr, fmt.Errorf("the limit's rules: %w", err)
	}
	return lr, nil
}

// driveLimit is scenario 3L (or 1L): n clients write groups of size
// events for d, each on a connection of its own, and the throughput is
// the events of the groups committed.
func driveLimit(name string, lr limitRun, n int, d time.Duration, size int) measure {
	logf("%s (%s)", name, d)
	ctx := context.Background()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  = map[string]int64{}
		ok        atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var mine []time.Duration
			mine2 := map[string]int64{}
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				for k, v := range mine2 {
					failures[k] += v
				}
				mu.Unlock()
			}()
			conn, err := pgx.Connect(ctx, lr.url)
			if err != nil {
				mine2["no connection: "+err.Error()] += int64(size)
				return
			}
			defer conn.Close(ctx)
			for time.Now().Before(stop) {
				now := time.Now()
				g := newLimitGroup(r, size, *customers, w, n, now.Add(-time.Second))
				t0 := time.Now()
				if err := lr.write(ctx, conn, g, r.IntN(ledger.DefaultHotBuckets), now); err != nil {
					mine2[limitKind(err)] += int64(size)
					continue
				}
				mine = append(mine, time.Since(t0))
				ok.Add(int64(size))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	m := measure{name: name, clients: n, unit: "events/s", ok: ok.Load(), failures: failures, elapsed: elapsed, noServer: true}
	m.answered = int64(len(latencies))
	m.p50, m.p99 = percentiles(latencies)
	logf("  %.0f %s, p50 %s, p99 %s per group, %d errors %v", m.rate(), m.unit, m.p50, m.p99, m.failed(), m.failures)
	return m
}
