package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// PostMany records each entry as Post would: its postings with the balance
// after each, its lots, its metadata and rule version, under the ids given;
// what the caller queues in then runs in the same transaction with the ids.
func TestPostManyRecordsEachEntry(t *testing.T) {
	at := time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)
	now := at.Add(time.Hour)
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	expires := time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)
	version := 3

	first := earn("C1", "5")
	first.EffectiveAt, first.Metadata, first.RuleVersion = at, json.RawMessage(`{"event":"e1"}`), &version
	first.Postings[1].Lot = &ledger.Lot{ExpiresAt: expires}
	second := earn("C1", "7")
	second.EffectiveAt = at.Add(time.Minute)
	second.Postings[1].Lot = &ledger.Lot{AvailableAt: at.AddDate(0, 0, 14), ExpiresAt: expires}
	deposit := ledger.EntryInput{Kind: "deposit", Actor: "test", EffectiveAt: at, Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-1000.00")},
		{Account: "customer:C2:prepaid", Amount: d("1000.00")},
		{Account: "platform:rebate:expense", Amount: d("-20.00")},
		{Account: "customer:C2:rebate", Amount: d("20.00")},
	}}

	var ids, seen []int64
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		var b pgx.Batch
		ledger.QueueEntryIDs(&b, 3, &ids)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seen (entry_id bigint) ON COMMIT DROP`); err != nil {
			return err
		}
		if err := tx.PostMany(ctx, []ledger.EntryInput{first, second, deposit}, ids, func(ids []int64, b *pgx.Batch) error {
			b.Queue(`INSERT INTO seen SELECT unnest($1::bigint[])`, ids)
			return nil
		}); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT s.entry_id FROM seen s JOIN entries e ON e.id = s.entry_id ORDER BY 1`)
		if err != nil {
			return err
		}
		seen, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || !slices.IsSorted(ids) || !slices.Equal(seen, ids) {
		t.Fatalf("reserved ids %v; then saw %v of them as entries, want all three", ids, seen)
	}
	if got := l.Stats().Posted.Load(); got != 3 {
		t.Errorf("Stats.Posted = %d, want 3", got)
	}

	e1, err := l.Entry(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if e1.Kind != "earn" || !e1.EffectiveAt.Equal(at) || e1.RuleVersion == nil || *e1.RuleVersion != 3 ||
		!jsonEqual(e1.Metadata, `{"event":"e1"}`) {
		t.Errorf("entry %+v, want earn at %s, rule version 3, its metadata", e1, at)
	}
	e2, err := l.Entry(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if e2.RuleVersion != nil || !jsonEqual(e2.Metadata, `{}`) {
		t.Errorf("entry %d: rule version %v, metadata %s; want none and {}", e2.ID, e2.RuleVersion, e2.Metadata)
	}
	// The same account in two entries of one call: each posting's balance
	// after is the running balance.
	wantAfter := map[int64]string{ids[0]: "5", ids[1]: "12"}
	for _, e := range []*ledger.Entry{e1, e2} {
		for _, p := range e.Postings {
			if p.Account != "customer:C1:points" {
				continue
			}
			if p.BalanceAfter == nil || !p.BalanceAfter.Equal(d(wantAfter[e.ID])) {
				t.Errorf("entry %d: balance after %v, want %s", e.ID, p.BalanceAfter, wantAfter[e.ID])
			}
		}
	}
	wantBalance(t, l, "customer:C1:points", "12")
	wantBalance(t, l, "platform:points:earned:volume", "-12")
	wantBalance(t, l, "customer:C2:prepaid", "1000")
	wantBalance(t, l, "customer:C2:rebate", "20")
	wantBalance(t, l, "platform:cash", "-1000")

	// One lot per points credit, with its terms; the second is pending.
	rows, err := pool.Query(ctx, `SELECT entry_id, amount, remaining, available_at, expires_at FROM points_lots ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type lot struct {
		entry, amount, remaining int64
		available, expires       time.Time
	}
	lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lot, error) {
		var x lot
		err := r.Scan(&x.entry, &x.amount, &x.remaining, &x.available, &x.expires)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A lot without an available time is available from the ledger's now.
	if len(lots) != 2 ||
		lots[0].entry != ids[0] || lots[0].amount != 5 || lots[0].remaining != 5 || !lots[0].available.Equal(now) || !lots[0].expires.Equal(expires) ||
		lots[1].entry != ids[1] || lots[1].amount != 7 || !lots[1].available.Equal(at.AddDate(0, 0, 14)) || !lots[1].expires.Equal(expires) {
		t.Errorf("lots %+v, want 5 available from %s (entry %d) and 7 from %s (entry %d), expiring %s",
			lots, now, ids[0], at.AddDate(0, 0, 14), ids[1], expires)
	}
	mustReconcile(t, l)
}

func jsonEqual(got json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil &&
		string(mustJSON(a)) == string(mustJSON(b))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestPostManyReservesIDsItself(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{earn("C1", "5"), earn("C2", "6")}, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	wantBalance(t, l, "customer:C2:points", "6")
	wantBalance(t, l, "platform:points:earned:volume", "-11")
	mustReconcile(t, l)
}

func TestPostManyOfNothingWritesNothing(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	called := false
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, nil, nil, func(ids []int64, b *pgx.Batch) error { called = len(ids) == 0; return nil })
	})
	if err != nil || !called {
		t.Fatalf("PostMany(nil) = %v, then called with no ids: %v", err, called)
	}
	if n := countRows(t, pool, "entries"); n != 0 {
		t.Errorf("%d entries, want none", n)
	}
}

// PostMany takes only what a group of earnings, money movements or
// redemptions needs and refuses the rest whole: nothing of the call is
// written.
func TestPostManyRefuses(t *testing.T) {
	keyed := earn("C1", "5")
	keyed.IdempotencyKey = "k1"
	restore := earn("C1", "5")
	restore.Postings[1].Lot, restore.Postings[1].RestoreOf = nil, 1
	drawFrom := redeem("C1", "1")
	drawFrom.Postings[0].DrawFrom = 1
	expiring := redeem("C1", "1")
	expiry := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	expiring.Postings[0].ExpiringBy = &expiry
	transfer := redeem("C2", "1") // C2 draws, C1 is credited a lot
	transfer.Postings[1] = ledger.PostingInput{Account: "customer:C1:points", Amount: d("1"), Lot: farFuture}
	unbalanced := earn("C1", "5")
	unbalanced.Postings[0].Amount = d("-4")
	l, pool := newLedger(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		ins     []ledger.EntryInput
		ids     []int64
		code    fault.Code
		account string
	}{
		{"AnIdempotencyKey", []ledger.EntryInput{earn("C2", "1"), keyed}, nil, fault.Invalid, ""},
		{"ADrawFromAnEntrysLots", []ledger.EntryInput{earn("C2", "1"), drawFrom}, nil, fault.Invalid, "customer:C1:points"},
		{"ACreditAndADrawOfOneAccount", []ledger.EntryInput{earn("C1", "3"), redeem("C1", "1")}, nil, fault.Invalid, "customer:C1:points"},
		{"ADrawOfPointsExpiringBy", []ledger.EntryInput{earn("C2", "1"), expiring}, nil, fault.Invalid, "customer:C1:points"},
		{"ADrawThenACreditOfOneAccount", []ledger.EntryInput{redeem("C1", "1"), earn("C1", "3")}, nil, fault.Invalid, "customer:C1:points"},
		{"ACreditInAnEntryThenADrawOfItsAccount", []ledger.EntryInput{transfer, redeem("C1", "1")}, nil, fault.Invalid, "customer:C1:points"},
		{"APointsCreditWithoutANewLot", []ledger.EntryInput{restore}, nil, fault.Invalid, "customer:C1:points"},
		{"AnUnbalancedEntry", []ledger.EntryInput{earn("C2", "1"), unbalanced}, nil, fault.Unbalanced, ""},
		{"TooFewIDs", []ledger.EntryInput{earn("C2", "1"), earn("C3", "1")}, []int64{1}, fault.Invalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			txErr := l.InTx(ctx, func(tx *ledger.Tx) error {
				err = tx.PostMany(ctx, tc.ins, tc.ids, nil)
				return nil
			})
			if txErr != nil {
				t.Fatal(txErr)
			}
			wantCode(t, err, tc.code)
			var e *fault.Error
			if errors.As(err, &e); e.Account != tc.account {
				t.Errorf("error names account %q, want %q", e.Account, tc.account)
			}
			if n := countRows(t, pool, "entries"); n != 0 {
				t.Errorf("%d entries written, want none", n)
			}
		})
	}
}

// money is an entry moving CNY between the platform's cash and the
// customer's prepaid principal (a deposit when positive, a withdrawal
// when negative).
func money(customer, amount string) ledger.EntryInput {
	return ledger.EntryInput{Kind: "money", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d(amount).Neg()},
		{Account: "customer:" + customer + ":prepaid", Amount: d(amount)},
	}}
}

// PostMany debits an account that may not go negative (money) as the
// entries come: each posting records the balance it leaves.
func TestPostManyDebitsMoney(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, money("C1", "10"))
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{money("C1", "-4"), money("C2", "3"), money("C1", "7.50"), money("C1", "-13.50")}, nil, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, l, "customer:C1:prepaid"); !got.Equal(d("0")) {
		t.Errorf("C1's prepaid = %s, want 0", got)
	}
	var after []string
	rows, err := pool.Query(ctx, `SELECT trim_scale(p.balance_after)::text FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code = 'customer:C1:prepaid' ORDER BY p.id`)
	if err != nil {
		t.Fatal(err)
	}
	if after, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(after, " "); got != "10 6 13.5 0" {
		t.Errorf("C1's balances after each posting: %s, want 10 6 13.5 0", got)
	}
}

// A debit PostMany's caller did not check fails the whole call, even
// where a later credit of the same call would cover it in the end: no
// posting may leave the account below zero.
func TestPostManyRefusesADebitBelowZeroThatALaterCreditWouldCover(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, money("C1", "10"))
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{money("C1", "-15"), money("C1", "20")}, nil, nil)
	})
	wantCode(t, err, fault.InsufficientFunds)
	if n := countRows(t, pool, "entries"); n != 1 {
		t.Errorf("%d entries, want the first deposit's alone", n)
	}
	if got := balance(t, l, "customer:C1:prepaid"); !got.Equal(d("10")) {
		t.Errorf("C1's prepaid = %s, want 10", got)
	}
}

// Tx.Post records entries one after another in one transaction, lot draws
// included; a refusal of any one fails the transaction, naming the account
// of the entry that failed, and nothing of it is written.
func TestTxPostRecordsEachEntryOrNone(t *testing.T) {
	postAll := func(tx *ledger.Tx, ins ...ledger.EntryInput) ([]*ledger.Entry, error) {
		var entries []*ledger.Entry
		for _, in := range ins {
			e, err := tx.Post(context.Background(), in)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		return entries, nil
	}
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "50"))
	var entries []*ledger.Entry
	if err := l.InTx(ctx, func(tx *ledger.Tx) (err error) {
		entries, err = postAll(tx, redeem("C1", "20"), earn("C2", "5"), redeem("C1", "30"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[2].Postings[0].Account != "customer:C1:points" || !entries[2].Postings[0].BalanceAfter.Equal(d("0")) {
		t.Errorf("entries answered: %+v", entries)
	}
	mustPost(t, l, earn("C1", "10"))
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := postAll(tx, redeem("C1", "4"), redeem("C1", "7"))
		return err
	})
	wantCode(t, err, fault.InsufficientFunds)
	var e *fault.Error
	if errors.As(err, &e); e == nil || e.Account != "customer:C1:points" {
		t.Errorf("the refusal names %v, want customer:C1:points", err)
	}
	if n := countRows(t, pool, "entries"); n != 5 {
		t.Errorf("%d entries, want the 5 recorded before the refused call", n)
	}
	if got := balance(t, l, "customer:C1:points"); !got.Equal(d("10")) {
		t.Errorf("C1's points = %s, want 10", got)
	}
}
