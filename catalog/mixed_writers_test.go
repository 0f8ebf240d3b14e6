package catalog_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestMixedWritersOnTwoServersKeepEveryRefusalExact: two servers on
// one database take, from many goroutines at once, groups of redemptions
// and of money movements (new ids, retries, conflicts across customers),
// cancellations, shipments, and manual entries on the customers' prepaid
// accounts (which take no customer lock). Afterwards: every answer is
// what the rows say; a movement's answered balances are what its postings
// left; stock is its first stock less what the redemptions not cancelled
// took, never below zero; no customer holds more of a product than its
// limit; nothing failed with anything but a refusal the rules allow.
func TestMixedWritersOnTwoServersKeepEveryRefusalExact(t *testing.T) {
	e := newEnv(t)
	o := servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock})
	type server struct {
		catalog *catalog.Service
		prepaid *prepaid.Service
		env     *servicetest.Env
	}
	servers := []server{{e.Catalog, e.Prepaid, e.Env}, {o.Catalog, o.Prepaid, o}}
	const customers, stock, limit = 6, 12, 3
	e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(stock), PerCustomerLimit: ptr(limit)})
	e.Product(catalog.Product{SKU: "cap", Name: "Cap", Kind: catalog.Featured, PointsPrice: 3,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(1000), PerCustomerLimit: ptr(2)})
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 7})
	for i := range customers {
		id := fmt.Sprintf("C%d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "400", march(1, 9))
		e.MustMoney(prepaid.Deposit, id, "300")
	}
	var (
		mu       sync.Mutex
		problems []string
		issued   atomic.Int64
		wg       sync.WaitGroup
	)
	problem := func(f string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(f, args...))
		mu.Unlock()
	}
	type movement struct {
		kind string
		in   prepaid.MoneyInput
		m    prepaid.MoneyMovement
		rep  bool
		err  error
	}
	type redemption struct {
		in  catalog.RedemptionInput
		r   catalog.Redemption
		rep bool
		err error
	}
	var movements []movement
	var redemptions []redemption
	kinds := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}
	for w := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for range 30 {
				s := servers[r.IntN(len(servers))]
				switch op := r.IntN(10); {
				case op < 3: // redemptions
					ins := make([]catalog.RedemptionInput, 1+r.IntN(4))
					for i := range ins {
						n := issued.Add(1)
						if r.IntN(5) == 0 {
							n = r.Int64N(n) + 1
						}
						ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("r%d", n), CustomerID: fmt.Sprintf("C%d", n%customers),
							SKU: []string{"kite", "cap", "pen"}[n%3], Quantity: 1 + int(n%2)}
						if r.IntN(12) == 0 { // the same id for another customer
							ins[i].CustomerID = fmt.Sprintf("C%d", (n+1)%customers)
						}
					}
					rs, rep, errs := s.catalog.RedeemTogether(e.Ctx, ins, "test")
					mu.Lock()
					for i := range ins {
						redemptions = append(redemptions, redemption{ins[i], rs[i], rep[i], errs[i]})
					}
					mu.Unlock()
				case op < 6: // money
					n := 1 + r.IntN(4)
					ks, ins := make([]string, n), make([]prepaid.MoneyInput, n)
					for i := range ins {
						id := issued.Add(1)
						if r.IntN(5) == 0 {
							id = r.Int64N(id) + 1
						}
						ks[i] = kinds[id%4]
						ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("m%d", id), CustomerID: fmt.Sprintf("C%d", id%customers),
							Amount: decimal.NewFromInt(5 + id%90), OccurredAt: servicetest.Start}
						if r.IntN(12) == 0 {
							ins[i].CustomerID = fmt.Sprintf("C%d", (id+1)%customers)
						}
					}
					ms, rep, errs := make([]prepaid.MoneyMovement, n), make([]bool, n), make([]error, n)
					var each sync.WaitGroup
					for i := range ins {
						each.Go(func() {
							switch ks[i] {
							case prepaid.Deposit:
								ms[i], rep[i], errs[i] = s.prepaid.Deposit(e.Ctx, ins[i], "test")
							case prepaid.Charge:
								ms[i], rep[i], errs[i] = s.prepaid.Charge(e.Ctx, ins[i], "test")
							default:
								ms[i], rep[i], errs[i] = s.prepaid.Withdraw(e.Ctx, ins[i], "test")
							}
						})
					}
					each.Wait()
					mu.Lock()
					for i := range ins {
						movements = append(movements, movement{ks[i], ins[i], ms[i], rep[i], errs[i]})
					}
					mu.Unlock()
				case op < 7: // a cancellation
					id := fmt.Sprintf("r%d", r.Int64N(issued.Load()+1))
					if _, err := s.catalog.CancelRedemption(e.Ctx, "", id, "review", "test"); err != nil {
						if c := fault.CodeOf(err); c != fault.NotFound && c != fault.AlreadyCancelled {
							problem("cancelling %s: %v", id, err)
						}
					}
				case op < 8: // a shipment
					c := fmt.Sprintf("C%d", r.IntN(customers))
					ev := e.Event(loyalty.ShipmentCompleted, c, fmt.Sprintf("X%d", issued.Add(1)), "30", march(2, 9))
					for _, out := range s.env.ProcessBatch(e.Key, []loyalty.Event{ev}) {
						if out.Err != nil {
							problem("shipment of %s: %v", c, out.Err)
						}
					}
				default: // a manual entry on a prepaid account
					c := fmt.Sprintf("C%d", r.IntN(customers))
					amount := decimal.NewFromInt(int64(1 + r.IntN(40)))
					if r.IntN(2) == 0 {
						amount = amount.Neg()
					}
					_, _, err := s.env.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "review",
						Postings: []ledger.PostingInput{
							{Account: ledger.CustomerAccount(c, "prepaid"), Amount: amount},
							{Account: "platform:cash", Amount: amount.Neg()},
						}})
					if err != nil && fault.CodeOf(err) != fault.InsufficientFunds {
						problem("manual entry on %s: %v", c, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}

	codes := map[string]int{}
	for _, a := range movements {
		code := string(fault.CodeOf(a.err))
		codes["money "+code]++
		switch fault.CodeOf(a.err) {
		case "":
			var entry int64
			var customer string
			if err := e.Pool.QueryRow(e.Ctx, `SELECT entry_id, customer_id FROM money_movements WHERE kind = $1 AND id = $2`,
				a.kind, a.in.ID).Scan(&entry, &customer); err != nil {
				t.Errorf("%s %s answered recorded: %v", a.kind, a.in.ID, err)
				continue
			}
			if entry != a.m.EntryID || customer != a.in.CustomerID {
				t.Errorf("%s %s answered entry %d for %s, recorded %d for %s", a.kind, a.in.ID, a.m.EntryID, a.in.CustomerID, entry, customer)
			}
			if a.rep {
				continue
			}
			for acct, want := range map[string]decimal.Decimal{"prepaid": a.m.Principal.Decimal, "rebate": a.m.RebateBalance.Decimal} {
				var after decimal.Decimal
				var n int
				if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*), coalesce(max(p.balance_after), 0) FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.entry_id = $1 AND a.code = $2`, entry, ledger.CustomerAccount(customer, acct)).Scan(&n, &after); err != nil {
					t.Fatal(err)
				}
				if n == 1 && !after.Equal(want) {
					t.Errorf("%s %s answered %s %s, its posting left %s", a.kind, a.in.ID, acct, want, after)
				}
			}
		case fault.InsufficientFunds, fault.IdempotencyConflict:
		default:
			t.Errorf("%s %s (%+v): %v", a.kind, a.in.ID, a.in, a.err)
		}
	}
	for _, a := range redemptions {
		codes["redeem "+string(fault.CodeOf(a.err))]++
		switch fault.CodeOf(a.err) {
		case "":
			var entry int64
			var customer string
			if err := e.Pool.QueryRow(e.Ctx, `SELECT coalesce(entry_id, 0), customer_id FROM redemptions WHERE id = $1`, a.in.ID).
				Scan(&entry, &customer); err != nil {
				t.Errorf("%s answered made: %v", a.in.ID, err)
				continue
			}
			if entry != a.r.EntryID || customer != a.in.CustomerID {
				t.Errorf("%s answered entry %d for %s, recorded %d for %s", a.in.ID, a.r.EntryID, a.in.CustomerID, entry, customer)
			}
		case fault.InsufficientPoints, fault.OutOfStock, fault.LimitReached, fault.IdempotencyConflict:
		default:
			t.Errorf("%s (%+v): %v", a.in.ID, a.in, a.err)
		}
	}
	t.Logf("answers %v; fallbacks: catalog %d+%d, prepaid %d+%d; retries %d+%d", codes,
		e.Catalog.Stats().Fallbacks.Load(), o.Catalog.Stats().Fallbacks.Load(),
		e.Prepaid.Stats().Fallbacks.Load(), o.Prepaid.Stats().Fallbacks.Load(),
		e.Ledger.Stats().Retries.Load(), o.Ledger.Stats().Retries.Load())
	var kiteLeft, kiteTaken, overLimit int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT
  (SELECT stock FROM products WHERE sku = 'kite'),
  (SELECT coalesce(sum(quantity), 0) FROM redemptions WHERE sku = 'kite' AND cancelled_at IS NULL),
  (SELECT count(*) FROM (SELECT customer_id, sku, sum(quantity) AS q FROM redemptions r WHERE cancelled_at IS NULL
      GROUP BY 1, 2) x JOIN products p ON p.sku = x.sku WHERE x.q > p.per_customer_limit)`).Scan(&kiteLeft, &kiteTaken, &overLimit); err != nil {
		t.Fatal(err)
	}
	if kiteLeft < 0 || kiteLeft != stock-kiteTaken {
		t.Errorf("kite: %d left, %d taken of %d", kiteLeft, kiteTaken, stock)
	}
	if overLimit > 0 {
		t.Errorf("%d customers over a product's limit", overLimit)
	}
}
