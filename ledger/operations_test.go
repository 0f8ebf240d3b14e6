package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// The operations other packages use instead of the ledger's tables.

func TestLockBalanceHoldsOffOtherPostsUntilTheTransactionEnds(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "10"))
	lock := func(code string) error {
		return l.InTx(ctx, func(tx *ledger.Tx) error { return tx.LockBalance(ctx, code) })
	}
	wantCode(t, lock("platform:cash"), fault.Invalid)
	wantCode(t, lock("customer:C1:nothing"), fault.UnknownAccount)
	if err := lock("customer:NEW:points"); err != nil {
		t.Errorf("an account not opened yet: %v, want nothing to lock", err)
	}

	posted := make(chan error, 1)
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if err := tx.LockBalance(ctx, "customer:C1:points"); err != nil {
			return err
		}
		go func() {
			_, _, err := l.Post(ctx, redeem("C1", "3"))
			posted <- err
		}()
		// The debit must wait on the lock: either a backend waits on a
		// lock (then commit), or the debit got through (the lock held
		// nothing off).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			select {
			case err := <-posted:
				return fmt.Errorf("a debit went through while the balance was locked (%v)", err)
			default:
			}
			var waiting int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				return nil
			}
		}
		return fmt.Errorf("the debit neither waited nor went through in 30 s")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-posted; err != nil {
		t.Fatalf("the debit once the lock is released: %v", err)
	}
	wantBalance(t, l, "customer:C1:points", "7")
}

func TestLotReadsSplitPointsByTheStateOfTheirLots(t *testing.T) {
	now := time.Date(2026, 3, 15, 4, 0, 0, 0, time.UTC)
	l, pool, _ := clockedLedger(t, now)
	ctx := context.Background()
	day := 24 * time.Hour
	soon := mustPost(t, l, earnLot("C1", "10", ledger.Lot{ExpiresAt: now.Add(10 * day)}))
	mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: now.Add(100 * day)}))
	mustPost(t, l, earnLot("C1", "5", ledger.Lot{AvailableAt: now.Add(2 * day), ExpiresAt: now.Add(200 * day)}))
	mustPost(t, l, earnLot("C1", "7", ledger.Lot{AvailableAt: now.Add(-2 * day), ExpiresAt: now.Add(-day)}))
	other := mustPost(t, l, earnLot("C2", "3", ledger.Lot{ExpiresAt: now.Add(300 * day)}))
	mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-100")}, {Account: "customer:C1:prepaid", Amount: d("100")},
		{Account: "platform:rebate:expense", Amount: d("-4.5")}, {Account: "customer:C1:rebate", Amount: d("4.5")},
	}})
	// 42 points: 10 + 20 available, 5 pending, 7 expired; of the
	// available, 10 expire within 30 days.
	want := ledger.LotSummary{Balance: 42, Available: 30, Pending: 5, Expiring: 10}
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		got, err := tx.LotSummary(ctx, "customer:C1:points", now.Add(30*day))
		if got != want {
			t.Errorf("lot summary %+v, want %+v", got, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var b pgx.Batch
	var held ledger.Holdings
	ledger.QueueHoldings(&b, "C1", now, now.Add(30*day), &held)
	if err := pool.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}
	if held.Points != want || !held.Prepaid.Equal(d("100")) || !held.Rebate.Equal(d("4.5")) {
		t.Errorf("holdings %+v, want points %+v, prepaid 100, rebate 4.5", held, want)
	}

	codes, err := l.ExpiringAccounts(ctx, now, "", 10)
	if err != nil || !slices.Equal(codes, []string{"customer:C1:points"}) {
		t.Errorf("accounts with lots expired by now: %v %v, want C1's", codes, err)
	}
	first, err := l.ExpiringAccounts(ctx, now.Add(365*day), "", 1)
	if err != nil || !slices.Equal(first, []string{"customer:C1:points"}) {
		t.Errorf("first page of accounts expiring within a year: %v %v, want C1's", first, err)
	}
	rest, err := l.ExpiringAccounts(ctx, now.Add(365*day), first[0], 10)
	if err != nil || !slices.Equal(rest, []string{"customer:C2:points"}) {
		t.Errorf("the page after C1: %v %v, want C2's", rest, err)
	}

	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		ahead, err := tx.ExpiringLots(ctx, "customer:C1:points", now, now.Add(150*day))
		if err != nil {
			return err
		}
		if want := []ledger.ExpiryGroup{{now.Add(10 * day), 10}, {now.Add(100 * day), 20}}; !sameGroups(ahead, want) {
			t.Errorf("lots expiring in the next 150 days %v, want %v", ahead, want)
		}
		due, err := tx.ExpiringLots(ctx, "customer:C1:points", time.Time{}, now)
		if err != nil {
			return err
		}
		if want := []ledger.ExpiryGroup{{now.Add(-day), 7}}; !sameGroups(due, want) {
			t.Errorf("lots expired by now %v, want %v", due, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	mustPost(t, l, redeem("C1", "4")) // from the lot expiring soonest
	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		for _, c := range []struct {
			code  string
			entry int64
			want  int64
		}{{"customer:C1:points", soon.ID, 6}, {"customer:C1:points", other.ID, 0}, {"customer:C2:points", other.ID, 3}} {
			left, err := tx.LotRemaining(ctx, c.code, c.entry)
			if err != nil {
				return err
			}
			if left != c.want {
				t.Errorf("what is left of entry %d's lot on %s: %d, want %d", c.entry, c.code, left, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sameGroups(a, b []ledger.ExpiryGroup) bool {
	return slices.EqualFunc(a, b, func(x, y ledger.ExpiryGroup) bool { return x.ExpiresAt.Equal(y.ExpiresAt) && x.Points == y.Points })
}

func TestBalancesReadsSeveralAccountsInOrder(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "12"))
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		got, err := tx.Balances(ctx, "customer:C2:points", "customer:C1:points", "platform:points:earned:volume")
		if err != nil {
			return err
		}
		if want := []decimal.Decimal{d("0"), d("12"), d("-12")}; !slices.EqualFunc(got, want, decimal.Decimal.Equal) {
			t.Errorf("balances %v, want %v", got, want)
		}
		_, err = tx.Balances(ctx, "customer:C1:points", "nobody")
		wantCode(t, err, fault.UnknownAccount)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAccountsStatementMergesTheAccountsNewestFirst(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	deposit := func(customer, amount string) *ledger.Entry {
		return mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d(amount).Neg()}, {Account: "customer:" + customer + ":prepaid", Amount: d(amount)},
			{Account: "platform:rebate:expense", Amount: d("-1")}, {Account: "customer:" + customer + ":rebate", Amount: d("1")},
		}})
	}
	e1 := mustPost(t, l, earn("C1", "10"))
	mustPost(t, l, earn("C2", "99"))
	e3 := deposit("C1", "50")
	deposit("C2", "70")
	mustPost(t, l, earn("C2", "1"))
	e5 := mustPost(t, l, redeem("C1", "4"))
	codes := []string{"customer:C1:points", "customer:C1:prepaid", "customer:C1:rebate"}

	var pages [][]ledger.AccountsEntry
	var cursors []int64
	for before := int64(0); ; {
		var page []ledger.AccountsEntry
		var next int64
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			var err error
			page, next, err = tx.AccountsStatement(ctx, codes, before, 2)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		pages, cursors = append(pages, page), append(cursors, next)
		if next == 0 || len(pages) > 3 {
			break
		}
		before = next
	}
	var ids []int64
	for _, p := range pages {
		for _, e := range p {
			ids = append(ids, e.ID)
		}
	}
	if want := []int64{e5.ID, e3.ID, e1.ID}; !slices.Equal(ids, want) || len(pages) != 2 || len(pages[0]) != 2 ||
		cursors[0] != e3.ID || cursors[1] != 0 {
		t.Fatalf("entries %v in pages of %d, cursors %v; want %v in two pages, cursors [%d 0]", ids, len(pages[0]), cursors, want, e3.ID)
	}
	dep := pages[0][1]
	var lines []string
	for _, p := range dep.Postings {
		lines = append(lines, fmt.Sprintf("%s %s after %s", p.Account, p.Amount, p.BalanceAfter))
	}
	if want := []string{"customer:C1:prepaid 50 after 50", "customer:C1:rebate 1 after 1"}; dep.Kind != "deposit" ||
		!slices.Equal(lines, want) {
		t.Errorf("the deposit %s shows %q, want only C1's accounts %q", dep.Kind, lines, want)
	}
	if p := pages[0][0].Postings; len(p) != 1 || p[0].Account != "customer:C1:points" || !p[0].Amount.Equal(d("-4")) ||
		!p[0].BalanceAfter.Equal(d("6")) {
		t.Errorf("the redemption shows %+v, want -4 on C1's points leaving 6", p)
	}
}

func TestMovementsSumsByKindWithReversalsInTheKindTheyReverse(t *testing.T) {
	now := time.Date(2026, 3, 15, 4, 0, 0, 0, time.UTC)
	l, _, _ := clockedLedger(t, now)
	ctx := context.Background()
	move := func(kind, customer, amount string, at time.Time) *ledger.Entry {
		return mustPost(t, l, ledger.EntryInput{Kind: kind, Actor: "test", EffectiveAt: at, Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d(amount).Neg()}, {Account: "customer:" + customer + ":prepaid", Amount: d(amount)},
		}})
	}
	from, to := now.Add(-10*time.Hour), now.Add(time.Hour)
	move("deposit", "B", "100", from.Add(-time.Hour)) // before the period
	late := move("deposit", "B", "50", from.Add(time.Hour))
	move("charge", "B", "-30", from.Add(2*time.Hour))
	move("deposit", "A", "20", from.Add(3*time.Hour))
	move("deposit", "C", "5", to) // after the period: C has no row
	if _, _, err := l.Reverse(ctx, late.ID, ledger.ReversalInput{Actor: "test", Reason: "entered twice"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := l.Movements(ctx, ledger.MovementFilter{Prefix: "customer:", Suffixes: []string{":prepaid", ":rebate"}}, from, to,
		func(m ledger.Movements) error {
			kinds := make([]string, 0, len(m.ByKind))
			for k, v := range m.ByKind {
				kinds = append(kinds, k+" "+v.String())
			}
			slices.Sort(kinds)
			got = append(got, fmt.Sprintf("%s opens %s, %v, closes %s", m.Account, m.Opening, kinds, m.Closing))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// B's deposit of 50 and its reversal net out of "deposit".
	if want := []string{
		"customer:A:prepaid opens 0, [deposit 20], closes 20",
		"customer:B:prepaid opens 100, [charge -30], closes 70",
	}; !slices.Equal(got, want) {
		t.Errorf("movements\n  %q\nwant\n  %q", got, want)
	}
	got = nil
	err = l.Movements(ctx, ledger.MovementFilter{Prefix: "platform:"}, from, to, func(m ledger.Movements) error {
		got = append(got, fmt.Sprintf("%s opens %s, closes %s", m.Account, m.Opening, m.Closing))
		return nil
	})
	if want := []string{"platform:cash opens -100, closes -90"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("platform movements %q %v, want %q", got, err, want)
	}
}

func TestPostedAmountsAndMissingEntries(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "10"))
	const nowhere = 999_999_999
	err := l.ReadTx(ctx, func(tx *ledger.Tx) error {
		amounts, err := tx.PostedAmounts(ctx, []int64{e.ID, e.ID, nowhere},
			[]string{"customer:C1:points", "platform:cash", "customer:C1:points"})
		if err != nil {
			return err
		}
		if want := []decimal.Decimal{d("10"), d("0"), d("0")}; !slices.EqualFunc(amounts, want, decimal.Decimal.Equal) {
			t.Errorf("posted amounts %v, want %v", amounts, want)
		}
		missing, err := tx.MissingEntries(ctx, []int64{e.ID, nowhere, e.ID})
		if err != nil {
			return err
		}
		if !slices.Equal(missing, []int64{nowhere}) {
			t.Errorf("missing entries %v, want [%d]", missing, nowhere)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
