package prepaid_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/migrations"
	"github.com/tally-ledger/tally/prepaid"
)

// linguisticPool is a fresh database of the current migrations whose
// default collation is ICU's root locale, as a cluster made by most
// distributions' initdb (en_US.UTF-8) sorts text: "alice" before "Bob".
func linguisticPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	target := testdb.Empty(t, "TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'und'")
	if err := migrations.Up(ctx, target); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var before bool
	if err := pool.QueryRow(ctx, `SELECT 'alice' < 'Bob'`).Scan(&before); err != nil || !before {
		t.Fatalf("the database does not sort alice before Bob (%v)", err)
	}
	return pool
}

// TestGroupsLockCustomersInOneOrderUnderALinguisticCollation: on a
// database whose text sorts linguistically (as an en_US.UTF-8 cluster
// sorts it: "ax" before "Bx", where bytes put "Bx" first), charges of 12
// customers in groups race shipments of the same customers in partner
// batches, whose groups lock several customers each too. Every writer must
// take customers in one order, so no transaction waits in a cycle: none
// is retried, none fails; the books hold.
func TestGroupsLockCustomersInOneOrderUnderALinguisticCollation(t *testing.T) {
	e := &env{servicetest.NewWith(t, servicetest.Config{Pool: linguisticPool(t)})}
	// Lower and upper case in turn: bytes put every upper-case id first,
	// the database interleaves them.
	var ids []string
	for _, c := range "aBcDeFgHiJkL" {
		ids = append(ids, string(c)+"x")
	}
	for _, c := range ids {
		e.Customer(c)
		e.MustMoney(prepaid.Deposit, c, "10000")
	}
	at := e.Clock.Now().Add(-time.Minute)
	retries := e.Ledger.Stats().Retries.Load()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad []string
	)
	for g := range 16 {
		wg.Go(func() {
			for k := range 5 {
				kinds, ins := []string{}, []prepaid.MoneyInput{}
				for _, c := range ids {
					kinds = append(kinds, prepaid.Charge)
					ins = append(ins, prepaid.MoneyInput{ID: fmt.Sprintf("c-%d-%d-%s", g, k, c), CustomerID: c, Amount: d("1"),
						OccurredAt: at})
				}
				_, _, errs := e.Prepaid.MoveTogether(e.Ctx, kinds, ins, "test")
				for i, err := range errs {
					if err != nil {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s: %v", ins[i].ID, err))
						mu.Unlock()
					}
				}
			}
		})
		wg.Go(func() {
			for k := range 5 {
				var evs []loyalty.Event
				for _, c := range ids {
					evs = append(evs, e.Event(loyalty.ShipmentCompleted, c, fmt.Sprintf("S-%d-%d-%s", g, k, c), "30",
						e.Clock.Now().Add(-time.Hour)))
				}
				for i, o := range e.ProcessBatch(e.Key, evs) {
					if fault.CodeOf(o.Err) != "" {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("shipment %s: %v", evs[i].ShipmentID, o.Err))
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	if n := e.Ledger.Stats().Retries.Load() - retries; n != 0 {
		t.Errorf("%d transactions retried (deadlocks): the writers took the customers in different orders", n)
	}
	e.Reconcile() // the books: this database is not testdb's, whose check runs by itself
}
