package prepaid_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestTwoInstancesWritingGroupsAtOnceAnswerEachIDOnce: two servers on one
// database (each its own prepaid service and group writer) take random
// deposits, charges and withdrawals of ten customers at once; some ids are
// sent to both, for two different customers (one is recorded, the other
// refused with idempotency_conflict, nothing of it written), some are the
// same request sent to both (recorded once, the other answer a replay of
// it). Afterwards every id is recorded at most once, every answer names
// the entry its movement recorded, and each customer's principal and
// rebate in the ledger are what the recorded movements say they moved.
func TestTwoInstancesWritingGroupsAtOnceAnswerEachIDOnce(t *testing.T) {
	e := newEnv(t)
	other := servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock}) // the second server
	const customers = 10
	for c := range customers {
		e.Customer(fmt.Sprintf("T%d", c))
		e.MustMoney(prepaid.Deposit, fmt.Sprintf("T%d", c), "500")
	}
	at := e.Clock.Now().Add(-time.Minute)
	type request struct {
		server *prepaid.Service
		kind   string
		in     prepaid.MoneyInput
	}
	type answer struct {
		m        prepaid.MoneyMovement
		replayed bool
		err      error
	}
	var reqs []request
	r := rand.New(rand.NewPCG(16, 1))
	kinds := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}
	for i := range 300 {
		kind := kinds[r.IntN(len(kinds))]
		in := prepaid.MoneyInput{ID: fmt.Sprintf("m%d", i), CustomerID: fmt.Sprintf("T%d", r.IntN(customers)),
			Amount: d(fmt.Sprintf("%d.%02d", 1+r.IntN(150), r.IntN(100))), OccurredAt: at}
		switch i % 5 {
		case 0: // the same id, another customer, on the other server
			twin := in
			twin.CustomerID = fmt.Sprintf("T%d", (r.IntN(customers-1)+1+int(in.CustomerID[1]-'0'))%customers)
			reqs = append(reqs, request{e.Prepaid, kind, in}, request{other.Prepaid, kind, twin})
		case 1: // a retry, on the other server
			reqs = append(reqs, request{e.Prepaid, kind, in}, request{other.Prepaid, kind, in})
		default:
			srv := e.Prepaid
			if r.IntN(2) == 0 {
				srv = other.Prepaid
			}
			reqs = append(reqs, request{srv, kind, in})
		}
	}
	answers := make([]answer, len(reqs))
	var wg sync.WaitGroup
	const workers = 24
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(reqs); i += workers {
				q := reqs[i]
				var a answer
				switch q.kind {
				case prepaid.Deposit:
					a.m, a.replayed, a.err = q.server.Deposit(e.Ctx, q.in, "test")
				case prepaid.Charge:
					a.m, a.replayed, a.err = q.server.Charge(e.Ctx, q.in, "test")
				default:
					a.m, a.replayed, a.err = q.server.Withdraw(e.Ctx, q.in, "test")
				}
				answers[i] = a
			}
		})
	}
	wg.Wait()

	// What is recorded, by kind and id: its customer and entry.
	type recorded struct {
		customer string
		entry    int64
	}
	type row struct {
		key string
		recorded
	}
	rows, err := e.Pool.Query(e.Ctx, `SELECT kind || ' ' || id, customer_id, entry_id FROM money_movements WHERE id LIKE 'm%'`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.key, &x.customer, &x.entry)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]recorded{}
	for _, x := range all {
		if _, dup := stored[x.key]; dup {
			t.Errorf("%s recorded twice", x.key)
		}
		stored[x.key] = x.recorded
	}
	fresh := map[string]int{} // answers that recorded the id (not replays)
	for i, q := range reqs {
		a, key := answers[i], q.kind+" "+q.in.ID
		rec, ok := stored[key]
		switch code := fault.CodeOf(a.err); {
		case a.err == nil:
			if !ok || rec.customer != q.in.CustomerID || rec.entry != a.m.EntryID {
				t.Errorf("%s for %s answered entry %d, recorded: %+v (%v)", key, q.in.CustomerID, a.m.EntryID, rec, ok)
			}
			if !a.replayed {
				fresh[key]++
			}
		case code == fault.IdempotencyConflict:
			if !ok || rec.customer == q.in.CustomerID {
				t.Errorf("%s for %s refused as a conflict, recorded: %+v (%v)", key, q.in.CustomerID, rec, ok)
			}
		case code == fault.InsufficientFunds:
		default:
			t.Errorf("%s for %s: %v", key, q.in.CustomerID, a.err)
		}
	}
	for key := range stored {
		if fresh[key] != 1 {
			t.Errorf("%s: %d answers recorded it, want exactly 1", key, fresh[key])
		}
	}
	// Each customer's principal and rebate, from the movements recorded.
	type moved struct{ customer, principal, rebate string }
	rows, err = e.Pool.Query(e.Ctx, `SELECT customer_id,
    sum(CASE kind WHEN 'deposit' THEN amount WHEN 'charge' THEN -from_principal ELSE -amount END)::text,
    coalesce(sum(CASE kind WHEN 'deposit' THEN rebate WHEN 'charge' THEN -from_rebate ELSE -clawback END), 0)::text
FROM money_movements GROUP BY customer_id ORDER BY customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (moved, error) {
		var m moved
		err := r.Scan(&m.customer, &m.principal, &m.rebate)
		return m, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		for acct, want := range map[string]string{"prepaid": m.principal, "rebate": m.rebate} {
			var held decimal.Decimal // an account never opened holds nothing
			if a, err := e.Ledger.Account(e.Ctx, ledger.CustomerAccount(m.customer, acct)); err == nil {
				held = a.Balance
			} else if fault.CodeOf(err) != fault.NotFound {
				t.Fatal(err)
			}
			if !held.Equal(decimal.RequireFromString(want)) {
				t.Errorf("%s's %s: the ledger holds %s, the movements recorded %s", m.customer, acct, held, want)
			}
		}
	}
	if len(got) != customers {
		t.Errorf("movements of %d customers, want %d", len(got), customers)
	}
}

// TestAnIDInFlightOnTwoInstancesIsRecordedOnce: the same deposit id, for
// two customers, sent to two servers at the same instant. A server's group
// reads the ids recorded before it writes; when the other's is recorded
// after that read, its insert fails on the id, and the group is written
// again movement by movement (a fallback), where the id is found. Pairs
// are sent until one has taken that path (at most 300); every pair has one
// deposit recorded and the other refused as a conflict, and the books hold
// exactly the recorded ones.
func TestAnIDInFlightOnTwoInstancesIsRecordedOnce(t *testing.T) {
	e := newEnv(t)
	other := servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock})
	e.Customer("A")
	e.Customer("B")
	fallbacks := func() int64 { return e.Prepaid.Stats().Fallbacks.Load() + other.Prepaid.Stats().Fallbacks.Load() }
	pairs := 0
	for ; pairs < 300 && fallbacks() == 0; pairs++ {
		id := fmt.Sprintf("x%d", pairs)
		var (
			wg   sync.WaitGroup
			errs [2]error
		)
		start := make(chan struct{})
		for i, srv := range []*prepaid.Service{e.Prepaid, other.Prepaid} {
			wg.Go(func() {
				<-start
				_, _, errs[i] = srv.Deposit(e.Ctx, prepaid.MoneyInput{ID: id, CustomerID: []string{"A", "B"}[i], Amount: d("10")}, "test")
			})
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || fault.CodeOf(errors.Join(errs[0], errs[1])) != fault.IdempotencyConflict {
			t.Fatalf("%s: answers %v and %v, want one recorded and one idempotency_conflict", id, errs[0], errs[1])
		}
	}
	if fallbacks() == 0 {
		t.Fatalf("no group fell back in %d pairs: the ids were never in flight at once", pairs)
	}
	var recorded int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE id LIKE 'x%'`, &recorded)
	a, b := e.Balances(t, "A"), e.Balances(t, "B")
	if held := a.Prepaid.Principal.Add(b.Prepaid.Principal.Decimal); recorded != pairs || !held.Equal(d(fmt.Sprint(10*pairs))) {
		t.Errorf("%d pairs: %d deposits recorded, %s held; want %d and %d", pairs, recorded, held, pairs, 10*pairs)
	}
	e.Reconcile()
}
