package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestAClaimDoesNotReadADeadEndpointsBacklog: an endpoint whose circuit is
// open keeps every notification it hears as a pending delivery, due, until
// it answers again or their deadline passes: a partner's endpoint down for
// an hour holds millions. A claim takes the due deliveries of closed
// endpoints only, and the process claims at every poll (and the expiry
// looks for deliveries past their deadline): neither may read the dead
// endpoint's backlog to find the few it wants. Here a claim of the three
// due deliveries of a live endpoint, behind 20,000 of a dead one (all due
// earlier), must lease those three and read at most a few dozen rows and
// index entries of webhook_deliveries, and the expiry, with none past its
// deadline, as few.
// qPause opens endpoint $1's circuit at $2, as BreakAfter failures in a
// row do, its probe due 10 minutes later.
const qPause = `UPDATE webhook_endpoints SET circuit = 'open', failures = 3, opened_at = $2::timestamptz,
    probe_at = $2::timestamptz + interval '10 minutes' WHERE id = $1`

// deadAndLive is a fixture with two endpoints hearing points.earned, the
// first for the test to pause, and, for each i below n, a notification of
// each customer(i), emitted in one transaction.
func deadAndLive(t *testing.T, n int, customers ...func(i int) string) (f *fixture, s *webhook.Service, dead, live webhook.WithSecret) {
	t.Helper()
	f = newFixture(t)
	s = f.service()
	dead = f.subscribe(s, newReceiver(t), webhook.Owner{}, "points.earned")
	live = f.subscribe(s, newReceiver(t), webhook.Owner{}, "points.earned")
	var events []notify.Event
	for i := range n {
		for _, c := range customers {
			events = append(events, earned(c(i), "1"))
		}
	}
	f.emit(events...)
	return f, s, dead, live
}

func TestAClaimDoesNotReadADeadEndpointsBacklog(t *testing.T) {
	ctx := context.Background()
	f, s, dead, live := deadAndLive(t, 20000, func(i int) string { return fmt.Sprintf("C%04d", i) })
	// As the fan-out leaves them: the dead endpoint's circuit open and a
	// pending delivery of every notification, due since before the live
	// endpoint's three (its customers' first, not leased).
	now := f.clock.now()
	for _, q := range []string{
		qPause,
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT $1, id, xid, customer_id, 'pending', $2::timestamptz, $2::timestamptz - interval '1 hour' + id * interval '1 ms', $2::timestamptz + interval '3 days' FROM notifications`,
	} {
		if _, err := f.pool.Exec(ctx, q, dead.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := f.pool.Query(ctx, `INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at, deliver_by)
SELECT $1, id, xid, customer_id, 'pending', $2::timestamptz, $2::timestamptz - interval '1 minute', $2::timestamptz + interval '3 days' FROM notifications ORDER BY id LIMIT 3
RETURNING id`, live.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if _, err := f.pool.Exec(ctx, `ANALYZE webhook_deliveries`); err != nil {
		t.Fatal(err)
	}

	got, read := claimReading(t, f, s, 16)
	if !slices.Equal(got, want) {
		t.Errorf("the claim leased %v; want the live endpoint's %v", got, want)
	}
	if read > 60 {
		t.Errorf("the claim read %d rows and index entries of webhook_deliveries to lease 3; want at most 60, not the dead endpoint's backlog", read)
	}
	f.clock.add(time.Minute)
	err = f.l.InTx(ctx, func(tx *ledger.Tx) error {
		before := readDeliveries(t, tx)
		if err := s.ExpireInTx(ctx, tx); err != nil {
			return err
		}
		if n := readDeliveries(t, tx) - before; n > 60 {
			t.Errorf("the expiry read %d rows and index entries of webhook_deliveries with none past its deadline; want at most 60", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
