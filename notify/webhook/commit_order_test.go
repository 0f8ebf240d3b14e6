package webhook_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// A group of writes over several customers (loyalty.LockCustomers, as the
// money-movement and redemption writers take it) gets its transaction id
// at its first row lock, on the lowest customer. If it then waits for a
// later customer's lock, another writer can lock, write and commit a
// notification for a third customer C meanwhile, with a later transaction
// id (helper-154's finding). The feed, and each endpoint's per-customer
// order (qHead's (ntf_xid, notification_id)), go by transaction id: the
// group's notification of C came first though it committed second. Once
// it holds its locks, the group now finds that notification
// (notices_follow) and runs again, with a later id.
func TestACustomersNotificationsComeInCommitOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	if _, err := f.pool.Exec(ctx, `INSERT INTO customers (id, name) VALUES ('A', 'a'), ('B', 'b'), ('C', 'c')`); err != nil {
		t.Fatal(err)
	}
	// T0 holds customer B (a long group of B's events, an expiry chunk...).
	hold, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT FROM customers WHERE id = 'B' FOR NO KEY UPDATE`); err != nil {
		t.Fatal(err)
	}
	// T1: a group over A, B and C: locks A (its xid is assigned), waits on B.
	t1 := make(chan error, 1)
	go func() {
		t1 <- f.l.InTx(ctx, func(tx *ledger.Tx) error {
			if _, err := loyalty.LockCustomers(ctx, tx, []string{"A", "B", "C"}); err != nil {
				return err
			}
			_, err := notify.Emit(ctx, tx, earned("C", "2")) // written, and committed, second
			return err
		})
	}()
	testdb.WaitForLockWaiters(t, f.pool, 1)
	// T2: a write of C alone (another writer's queue) commits now.
	if err := f.l.InTx(ctx, func(tx *ledger.Tx) error {
		if _, err := loyalty.LockCustomers(ctx, tx, []string{"C"}); err != nil {
			return err
		}
		_, err := notify.Emit(ctx, tx, earned("C", "1")) // written, and committed, first
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-t1; err != nil {
		t.Fatal(err)
	}

	points := func(payload []byte) string {
		var m struct {
			Points string `json:"points"`
			Data   struct {
				Points string `json:"points"`
			} `json:"data"`
		}
		_ = json.Unmarshal(payload, &m)
		if m.Points != "" {
			return m.Points
		}
		return m.Data.Points
	}
	var feed []string
	for _, n := range f.feed() {
		feed = append(feed, points(n.Payload))
	}
	if len(feed) != 2 || feed[0] != "1" {
		f.explainOrder("/hook", "C")
		t.Errorf("the feed gives C's notifications as points %v, want [1 2] (the order they committed in)", feed)
	}
	step(t, s)
	var sent []string
	for _, q := range r.requests() {
		sent = append(sent, points(q.body))
	}
	if len(sent) != 2 || sent[0] != "1" {
		t.Errorf("the endpoint received C's notifications as points %v, want [1 2] (the order they committed in)", sent)
	}
}
