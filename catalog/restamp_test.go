package catalog_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestARedemptionSpendsPointsThatCameBackAfterItsStartDatedAfterThem: a
// group of redemptions begins; before it locks its customer, a
// cancellation of the customer's earlier redemption (a second later, so
// dated later) gives the points back and commits; the group then spends
// them. Dated at its transaction's start, the redemption came by date
// before the points it spent, and reconciliation's never_below_zero_by_date
// named the account. It is dated from when it held the lock, as the
// cancellation's points were there (ledger.Tx.Restamp).
func TestARedemptionSpendsPointsThatCameBackAfterItsStartDatedAfterThem(t *testing.T) {
	e := servicetest.NewWith(t, servicetest.Config{})
	e.Customer("C1")
	e.Ship("C1", "S1", "100", servicetest.Start.Add(-time.Hour)) // 100 points
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var cancelled time.Time
	catalog.SetBeforeLocks(e.Catalog, func() {
		once.Do(func() {
			e.Clock.Add(time.Second)
			c, err := e.Catalog.CancelRedemption(e.Ctx, "", "r1", "changed my mind", "test")
			if err != nil {
				t.Error(err)
				return
			}
			cancelled = e.Entry(*c.CancelEntryID).EffectiveAt
			e.Clock.Add(time.Second)
		})
	})
	rs, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r2", CustomerID: "C1", SKU: "pen", Quantity: 1}}, "test", false)
	if errs[0] != nil {
		t.Fatalf("the second redemption: %v", errs[0])
	}
	if spent := e.Entry(rs[0].EntryID).EffectiveAt; spent.Before(cancelled) {
		t.Errorf("the redemption is dated %v, before the cancellation (%v) whose points it spent", spent, cancelled)
	}
	e.Reconcile()
}

// TestAnEventGroupSettlesOnlyPointsThereByItsDate: a group of partner
// events begins, then waits for a customer's lock (held here, as another
// writer would); meanwhile a cancellation of C1's redemption, dated later,
// gives points back and commits. The group's refund of C1's shipment,
// dated back, owes what it cannot take by date and settles the debt at
// once from what C1 holds: the cancellation's points. Dated at the group's
// start, the settlement came by date before them (never_below_zero_by_date
// named the account); the group is dated from when it held its locks.
func TestAnEventGroupSettlesOnlyPointsThereByItsDate(t *testing.T) {
	e := servicetest.NewWith(t, servicetest.Config{})
	e.Customer("A0")
	e.Customer("C1", "A0")                                       // the group locks A0, then C1
	e.Ship("C1", "S1", "100", servicetest.Start.Add(-time.Hour)) // 100 points
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(10 * time.Second)
	release := e.Hold(`SELECT 1 FROM customers WHERE id = 'A0' FOR UPDATE`)
	refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", servicetest.Start.Add(-30*time.Minute))
	done := make(chan []loyalty.Outcome)
	go func() { done <- e.ProcessBatch(e.Key, []loyalty.Event{refund}) }()
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		t.Fatal("the group never waited for A0")
	}
	e.Clock.Add(10 * time.Second)
	c, err := e.Catalog.CancelRedemption(e.Ctx, "", "r1", "changed my mind", "test")
	if err != nil {
		t.Fatal(err)
	}
	cancelled := e.Entry(*c.CancelEntryID).EffectiveAt
	release()
	for _, o := range <-done {
		if o.Err != nil {
			t.Fatalf("the refund: %v", o.Err)
		}
	}
	var settled []time.Time
	for _, l := range e.Lines(`SELECT to_char(effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM entries WHERE kind = 'points.settled'`) {
		at, err := time.Parse(time.RFC3339Nano, l)
		if err != nil {
			t.Fatal(err)
		}
		settled = append(settled, at)
	}
	if len(settled) == 0 {
		t.Fatal("no settlement: the test no longer plays the race")
	}
	for _, at := range settled {
		if at.Before(cancelled) {
			t.Errorf("a settlement dated %v spent points the cancellation dated %v gave back", at, cancelled)
		}
	}
	e.Reconcile()
}

// TestARedemptionDoesNotSpendPointsGivenBackAfterItsDate: a redemption
// holds its customer's lock and is dated (ledger.Tx.Restamp); then, before
// it spends, a write begun later (so dated later) gives the customer points
// the redemption could draw: a hand reversal of a manual debit (the points
// back in their lots), a manual credit (into the shared lot of its expiry,
// available since the customer's earlier credit). Had the write not waited
// for the customer's lock, it would commit there and the redemption would
// spend its points dated before them (never_below_zero_by_date). It waits:
// the redemption finds no points (refused), and the write commits after.
func TestARedemptionDoesNotSpendPointsGivenBackAfterItsDate(t *testing.T) {
	for name, giveBack := range map[string]func(e *servicetest.Env) (*ledger.Entry, error){
		"a hand reversal of a manual debit": func(e *servicetest.Env) (*ledger.Entry, error) {
			debit, err := strconv.ParseInt(e.Lines(`SELECT id FROM entries WHERE kind = 'manual'`)[0], 10, 64)
			if err != nil {
				return nil, err
			}
			en, _, err := e.Prepaid.ReverseEntry(e.Ctx, debit, ledger.ReversalInput{Actor: "admin", Reason: "the debit was a mistake"}, nil)
			return en, err
		},
		"a manual credit": func(e *servicetest.Env) (*ledger.Entry, error) {
			lot, err := e.Loyalty.LotAt(e.Ctx, e.Ledger.Now())
			if err != nil {
				return nil, err
			}
			en, _, err := e.Prepaid.PostEntry(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "goodwill",
				EffectiveAt: e.Ledger.Now(), Postings: []ledger.PostingInput{
					{Account: "customer:C1:points", Amount: decimal.NewFromInt(100), Lot: lot},
					{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-100)},
				}})
			return en, err
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := servicetest.NewWith(t, servicetest.Config{})
			e.Customer("C1")
			e.Ship("C1", "S1", "100", servicetest.Start.Add(-time.Hour)) // 100 points, in a shared lot
			e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
			if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "taken by mistake",
				Postings: []ledger.PostingInput{
					{Account: "customer:C1:points", Amount: decimal.NewFromInt(-100)},
					{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(100)},
				}}); err != nil {
				t.Fatal(err)
			}
			back := make(chan *ledger.Entry, 1)
			var once sync.Once
			catalog.SetAfterRestamp(e.Catalog, func() {
				once.Do(func() {
					e.Clock.Add(10 * time.Second)
					go func() {
						en, err := giveBack(e)
						if err != nil {
							t.Error(err)
						}
						back <- en
					}()
					// The write commits meanwhile, or waits for C1.
					e.LockWaitersWithin(3*time.Second, 1)
					time.Sleep(100 * time.Millisecond)
				})
			})
			_, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}}, "test", true)
			given := <-back
			if given == nil {
				t.FailNow()
			}
			if errs[0] == nil {
				r, err := e.Catalog.Redemption(e.Ctx, "", "r1")
				if err != nil {
					t.Fatal(err)
				}
				if spent := e.Entry(r.EntryID).EffectiveAt; spent.Before(given.EffectiveAt) {
					t.Errorf("the redemption is dated %v, before the points it spent came back (%v)", spent, given.EffectiveAt)
				}
			}
			e.Reconcile()
		})
	}
}
