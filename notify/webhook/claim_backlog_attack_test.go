package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// readDeliveries is how many rows and index entries of webhook_deliveries
// the transaction has read so far.
func readDeliveries(t *testing.T, tx *ledger.Tx) int64 {
	t.Helper()
	var n int64
	if err := tx.QueryRow(context.Background(), `SELECT pg_stat_get_xact_tuples_returned('webhook_deliveries'::regclass)
    + (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index WHERE indrelid = 'webhook_deliveries'::regclass)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// claimReading runs one claim of up to limit in a transaction it rolls
// back, and returns the deliveries it leased and what it read.
func claimReading(t *testing.T, f *fixture, s *webhook.Service, limit int) ([]int64, int64) {
	t.Helper()
	ctx := context.Background()
	var got []int64
	var read int64
	err := f.l.InTx(ctx, func(tx *ledger.Tx) error {
		before := readDeliveries(t, tx)
		var err error
		if got, err = s.ClaimInTx(ctx, tx, limit); err != nil {
			return err
		}
		read = readDeliveries(t, tx) - before
		return fmt.Errorf("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got, read
}

// A live endpoint (circuit closed) with a long due backlog, every delivery
// its customer's first (as after an outage it recovered from, or a burst):
// a claim reads it only as far as limit × PerEndpoint, not the whole of
// it. This is what the per-endpoint LIMIT of queueClaim's candidates buys;
// TestAClaimDoesNotReadADeadEndpointsBacklog passes with the former
// candidates CTE too once migration 0032's indexes are in (the dead
// endpoint is left out by its circuit before any delivery is read), so it
// does not pin the rewrite; this does (20,000+ rows read by the former).
func TestAClaimReadsALiveEndpointsBacklogOnlyAsFarAsItTakes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.cfg.PerEndpoint = 8
	s := f.service()
	live := f.subscribe(s, newReceiver(t), webhook.Owner{}, "points.earned")
	var events []notify.Event
	for i := range 20000 {
		events = append(events, earned(fmt.Sprintf("C%05d", i), "1"))
	}
	f.emit(events...)
	now := f.clock.now()
	if _, err := f.pool.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT $1, id, xid, customer_id, 'pending', $2::timestamptz, $2::timestamptz - interval '1 hour' + id * interval '1 ms', $2::timestamptz + interval '3 days' FROM notifications`,
		live.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE webhook_deliveries`); err != nil {
		t.Fatal(err)
	}
	got, read := claimReading(t, f, s, 16)
	if len(got) != 8 {
		t.Errorf("the claim leased %d; want 8 (PerEndpoint)", len(got))
	}
	// limit × PerEndpoint = 128 candidates, each with its head check, and
	// the few leased: a few hundred at most.
	if read > 600 {
		t.Errorf("the claim read %d rows and index entries of webhook_deliveries to lease 8; want at most 600, not the backlog of 20,000", read)
	}
}

// A page of the feed (fanOutDirect's match) asks of every endpoint which
// of the page's customers have a pending delivery to it (those wait). A
// paused endpoint holds 20,000 of a busy customer's, and 10 each of 2,000
// others (a live one 1 each of theirs): a page naming the busy customer
// and one of the others must learn who waits where with a probe or so per
// endpoint and customer, not by reading the customer's 20,000, nor every
// pending delivery of each endpoint (as SELECT DISTINCT over them did, by
// a bitmap scan of the endpoint's, at every page).
func TestAPageDoesNotReadACustomersBacklogOnAPausedEndpoint(t *testing.T) {
	ctx := context.Background()
	f, s, dead, live := deadAndLive(t, 20000, func(int) string { return "BUSY" },
		func(i int) string { return fmt.Sprintf("C%04d", i%2000) })
	now := f.clock.now()
	for _, q := range []string{
		qPause + ` AND $3::bigint > 0`,
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT $1, id, xid, customer_id, 'pending', $2::timestamptz, $2::timestamptz, $2::timestamptz + interval '3 days' FROM notifications WHERE $3::bigint > 0`,
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT $3, id, xid, customer_id, 'pending', $2::timestamptz, $2::timestamptz, $2::timestamptz + interval '3 days' FROM notifications
WHERE customer_id <> 'BUSY' AND id % 20 = 0 AND $1::bigint > 0`,
	} {
		if _, err := f.pool.Exec(ctx, q, dead.ID, now, live.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE webhook_deliveries`); err != nil {
		t.Fatal(err)
	}
	var other string // a customer waiting at both endpoints
	if err := f.pool.QueryRow(ctx, `SELECT min(customer_id) FROM webhook_deliveries WHERE endpoint_id = $1`, live.ID).Scan(&other); err != nil {
		t.Fatal(err)
	}
	err := f.l.InTx(ctx, func(tx *ledger.Tx) error {
		before := readDeliveries(t, tx)
		waiting, err := s.MatchWaitingInTx(ctx, tx, []string{"BUSY", other, "NOBODY", "BUSY"})
		if err != nil {
			return err
		}
		if got, want := waiting[dead.ID], []string{"BUSY", other}; !slices.Equal(got, want) {
			t.Errorf("the paused endpoint's waiting customers are %v; want %v", got, want)
		}
		if got := waiting[live.ID]; !slices.Equal(got, []string{other}) {
			t.Errorf("the live endpoint's waiting customers are %v; want [%s]", got, other)
		}
		if n := readDeliveries(t, tx) - before; n > 60 {
			t.Errorf("the page's match read %d rows and index entries of webhook_deliveries; want at most 60, not the customer's 20,000 on the paused endpoint", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
