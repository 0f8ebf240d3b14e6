package loyalty_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/prepaid"
)

// A batch of events over A, B and C is written as one group, which locks
// its customers in id order in one statement and gets its transaction id
// at A's lock. With B held elsewhere, it waits; meanwhile a write of C
// alone commits a notification of C, with a later transaction id. The
// feed (and the webhooks) give a customer's notifications in transaction
// id order: the group's points.earned of C must still come after the
// notification committed before it (helper-154's finding, for the writers
// of money and redemptions; the event groups lock the same way). The
// group is run again once it holds its locks (notices_follow), with an id
// after it.
func TestAGroupsNoticesFollowThoseCommittedWhileItWaitedForALock(t *testing.T) {
	// One event writer: the three events are one group (with two, each
	// customer's events go to one of them, and A, B and C may be split).
	e := servicetest.NewWith(t, servicetest.Config{Loyalty: []loyalty.Option{loyalty.WithEventWriters(1)}})
	for _, c := range []string{"A", "B", "C"} {
		e.Customer(c)
	}
	hold, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(e.Ctx)
	if _, err := hold.Exec(e.Ctx, `SELECT FROM customers WHERE id = 'B' FOR NO KEY UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan []loyalty.Outcome, 1)
	go func() {
		done <- e.ProcessBatch(e.Key, []loyalty.Event{
			e.Event(loyalty.ShipmentCompleted, "A", "SA", "10", servicetest.Start),
			e.Event(loyalty.ShipmentCompleted, "B", "SB", "10", servicetest.Start),
			e.Event(loyalty.ShipmentCompleted, "C", "SC", "10", servicetest.Start),
		})
	}()
	testdb.WaitForLockWaiters(t, e.Pool, 1)
	if err := e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
		if _, err := loyalty.LockCustomers(e.Ctx, tx, []string{"C"}); err != nil {
			return err
		}
		_, err := notify.Emit(e.Ctx, tx, notify.Event{Type: notify.TierChanged, Customer: "C", Payload: map[string]any{"by": "C alone"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := hold.Commit(e.Ctx); err != nil {
		t.Fatal(err)
	}
	for i, o := range <-done {
		if o.Err != nil {
			t.Fatalf("event %d: %v", i, o.Err)
		}
	}
	list, _, err := notify.Feed(e.Ctx, e.Ledger, notify.Cursor{}, 100, notify.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ofC []string
	for _, n := range list {
		if n.Customer == "C" {
			var p struct {
				By string `json:"by"`
			}
			_ = json.Unmarshal(n.Payload, &p)
			ofC = append(ofC, n.Type+" "+p.By)
		}
	}
	if len(ofC) != 2 || ofC[0] != notify.TierChanged+" C alone" {
		t.Errorf("C's notifications in the feed: %q; want the one committed first (C alone) first", ofC)
	}
}

// numberAtCommit installs, in the test's database, a deferred trigger
// that numbers each notification of a customer as its transaction commits
// (at pre-commit, with the customer's lock still held, so in commit order
// for the writers that lock the customer): helper-155's oracle.
func numberAtCommit(t *testing.T, e *servicetest.Env) {
	if _, err := e.Pool.Exec(e.Ctx, `
CREATE SEQUENCE commit_seq;
CREATE TABLE commit_seen (id bigint PRIMARY KEY, customer_id text NOT NULL, seq bigint NOT NULL);
CREATE FUNCTION commit_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commit_seen VALUES (NEW.id, NEW.customer_id, nextval('commit_seq'));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER commit_seen AFTER INSERT ON notifications DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL) EXECUTE FUNCTION commit_seen();`); err != nil {
		t.Fatal(err)
	}
}

// outOfCommitOrder lists, per customer, the notifications the feed gives
// (xid, id order) after one that committed later.
func outOfCommitOrder(t *testing.T, e *servicetest.Env) []string {
	return e.Lines(`SELECT customer_id || ': ' || string_agg(seq::text || ' ' || type, ', ' ORDER BY xid, id)
FROM (SELECT n.customer_id, n.xid, n.id, n.type, s.seq, bool_or(s.seq < p.seq) OVER (PARTITION BY n.customer_id) AS bad
      FROM notifications n JOIN commit_seen s ON s.id = n.id
      LEFT JOIN LATERAL (SELECT max(s2.seq) AS seq FROM notifications n2 JOIN commit_seen s2 ON s2.id = n2.id
                         WHERE n2.customer_id = n.customer_id AND (n2.xid, n2.id) < (n.xid, n.id)) p ON true) x
WHERE bad GROUP BY customer_id ORDER BY 1`)
}

// Many writers over few customers (helper-155's stress): events (batches
// over several customers, some with referrers), deposits and charges,
// redemptions, half of them cancelled (a cancellation locks its redemption
// before its customer). Every request
// must succeed or be refused for a business reason, the books reconcile,
// and each customer's notifications in the feed's order are the order they
// committed in.
func TestManyWritersOfFewCustomersNotifyInCommitOrder(t *testing.T) {
	e := newEnv(t)
	customers, writers, perWriter := 10, 32, 15
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("K%d", i)
		if i >= 5 {
			e.Customer(ids[i], ids[i-5])
		} else {
			e.Customer(ids[i])
		}
		e.Ship(ids[i], "S0-"+ids[i], "500", servicetest.Start.Add(-time.Hour))
		e.MustMoney(prepaid.Deposit, ids[i], "100.00")
	}
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1})
	numberAtCommit(t, e.Env)

	var failures atomic.Int64
	var mu sync.Mutex
	var failed []string
	fail := func(what string, err error) {
		var fe *fault.Error
		if err == nil || errors.As(err, &fe) {
			return
		}
		failures.Add(1)
		mu.Lock()
		if len(failed) < 10 {
			failed = append(failed, what+": "+err.Error())
		}
		mu.Unlock()
	}
	var shipSeq atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range perWriter {
				c := ids[r.IntN(customers)]
				switch w % 4 {
				case 0, 1: // a batch of events over 3 customers
					var evs []loyalty.Event
					for range 3 {
						evs = append(evs, e.Event(loyalty.ShipmentCompleted, ids[r.IntN(customers)],
							fmt.Sprintf("S%d", shipSeq.Add(1)), "10", servicetest.Start))
					}
					for i, o := range e.ProcessBatch(e.Key, evs) {
						fail(fmt.Sprintf("event %d", i), o.Err)
					}
				case 2:
					kind := prepaid.Deposit
					if r.IntN(2) == 0 {
						kind = prepaid.Charge
					}
					_, err := e.Money(kind, c, "1.00")
					fail("money", err)
				case 3:
					r, err := e.Redeem(c, "pen", 1)
					fail("redeem", err)
					if err == nil && rand.IntN(2) == 0 { // and cancel it: locks the redemption, then the customer
						_, err = e.Catalog.CancelRedemption(e.Ctx, ledger.AnySpace, r.ID, "", "test")
						fail("cancel", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%s; notice retries %d, other retries %d; fallbacks: events %d, money %d, redemptions %d", time.Since(start),
		e.Ledger.Stats().NoticeRetries.Load(), e.Ledger.Stats().Retries.Load(),
		e.Loyalty.Stats().Fallbacks.Load(), e.Prepaid.Stats().Fallbacks.Load(), e.Catalog.Stats().Fallbacks.Load())
	if n := failures.Load(); n > 0 {
		t.Errorf("%d requests failed, e.g. %q", n, failed)
	}
	if bad := outOfCommitOrder(t, e.Env); len(bad) > 0 {
		t.Errorf("notifications out of commit order: %q", bad)
	}
	var seen int
	e.Scan(t, `SELECT count(*) FROM commit_seen`, &seen)
	t.Logf("%d notifications numbered", seen)
	e.Reconcile()
}

// An expiry run locked its customers' points accounts one by one, never
// the customers, so never checked its notices' order (helper-155's
// finding): it gets its transaction id at
// C1's account and waits for C2's, while a deposit of C2 commits a
// notification with a later id. The run then writes C2's points.expired
// with the earlier id: the feed gives C2's notifications out of the order
// they committed in (numberAtCommit numbers them at commit).
func TestAnExpiryRunsNoticesFollowCommitOrder(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai)) // expires 2027-03-01
	e.Ship("C2", "S2", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	asOf := time.Date(2027, 3, 2, 0, 0, 0, 0, shanghai)
	e.Clock.Set(asOf)
	numberAtCommit(t, e.Env)
	release := e.Hold(`SELECT FROM accounts a JOIN balance_buckets b ON b.account_id = a.id AND b.bucket = 0
WHERE a.code = 'customer:C2:points' FOR UPDATE OF b`)
	done := make(chan error, 1)
	go func() {
		_, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
		done <- err
	}()
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		t.Fatal("the run is not waiting for C2's account")
	}
	depositWhileHeld(t, e, "C2", release, done)
}

// depositWhileHeld deposits for customer while a writer is held (done
// reports its end), waiting up to 2 s for the deposit to commit first (it
// may wait for the writer instead, should that hold the customer), then
// lets the writer go with release, and wants every customer's notifications
// in the order they committed.
func depositWhileHeld(t *testing.T, e *env, customer string, release func(), done <-chan error) {
	t.Helper()
	deposited := make(chan error, 1)
	go func() {
		_, err := e.Money(prepaid.Deposit, customer, "5.00")
		deposited <- err
	}()
	select {
	case err := <-deposited:
		deposited <- err
	case <-time.After(2 * time.Second):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-deposited; err != nil {
		t.Fatal(err)
	}
	if bad := outOfCommitOrder(t, e.Env); len(bad) > 0 {
		t.Errorf("notifications out of commit order (commit numbers in feed order): %q", bad)
	}
}

// The notice jobs (points.expiring, tier downgrades, referral bonuses)
// wrote notifications of customers whose lock they never took
// (helper-155's finding): the referral job got its transaction id at its
// UPDATE of referral_bonuses and wrote R's referral.bonus_available after.
// Should its insert wait (here: on an uncommitted row holding the same
// once_key; in production a slow insert of 500 notices, or its commit), a
// deposit of R, with a later transaction id, committed first: the feed gave
// R's notifications out of the order they committed in (numberAtCommit
// numbers them at commit). The jobs now lock the customers they announce to
// first (lockNoticed; the referral job its referrers, before the bonuses):
// each of the three is held so while its customer deposits.
func TestANoticeJobsNoticesFollowCommitOrder(t *testing.T) {
	for _, c := range []struct {
		name     string
		customer string // whose notice the job writes, and who deposits meanwhile
		setup    func(e *env) (asOf time.Time)
		onceKey  string
		typ      string
	}{
		{"referral", "R", func(e *env) time.Time {
			e.Customer("R")
			e.Customer("E", "R")
			e.Ship("E", "S1", "80", march(2, 9))
			e.Clock.Set(march(17, 10))
			return march(17, 10)
		}, "referral.bonus_available:E", notify.ReferralBonusAvailable},
		{"expiring", "C1", func(e *env) time.Time {
			e.Customer("C1")
			e.Ship("C1", "S1", "100", march(10, 9))
			e.Clock.Set(c1Expires.Add(-3 * day))
			return c1Expires.Add(-3 * day)
		}, loyalty.ExpiringOnceKey("C1", c1Expires, 7), notify.PointsExpiring},
		{"downgrade", "C1", func(e *env) time.Time {
			e.Customer("C1")
			e.Ship("C1", "S1", "5000", servicetest.Start.AddDate(0, -1, 0)) // February: mid-tier for March, floating from April
			april := time.Date(2026, 4, 1, 0, 0, 10, 0, shanghai)
			e.Clock.Set(april)
			return april
		}, notify.TierChanged + ":down:C1:2026-04", notify.TierChanged},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			asOf := c.setup(e)
			numberAtCommit(t, e.Env)
			hold, err := e.Pool.Begin(e.Ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer hold.Rollback(e.Ctx)
			if _, err := hold.Exec(e.Ctx, `INSERT INTO notifications (type, customer_id, occurred_at, payload, once_key)
VALUES ($1, $2, now(), '{}', $3)`, c.typ, c.customer, c.onceKey); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := e.Loyalty.Notices(e.Ctx, asOf)
				done <- err
			}()
			if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
				t.Fatal("the job is not waiting")
			}
			depositWhileHeld(t, e, c.customer, func() { hold.Rollback(e.Ctx) }, done)
			var n int
			if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM notifications WHERE once_key = $1`, c.onceKey).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d notices of once_key %s, want the job's", n, c.onceKey)
			}
		})
	}
}
