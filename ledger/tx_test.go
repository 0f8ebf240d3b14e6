package ledger_test

import (
	"context"
	"errors"
	"github.com/tally-ledger/tally/internal/fault"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/ledger"
)

// Entries posted in a transaction commit with the caller's own rows, or
// not at all.
func TestTxPostCommitsWithTheTransaction(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	var e *ledger.Entry
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		var err error
		if e, err = tx.Post(ctx, earn("C1", "5")); err != nil {
			return err
		}
		if e.ID == 0 || len(e.Postings) != 2 {
			t.Errorf("Tx.Post = %+v, want the recorded entry", e)
		}
		// The transaction sees its own entry.
		a, err := tx.Balances(ctx, "customer:C1:points")
		if err != nil || len(a) != 1 || !a[0].Equal(d("5")) {
			t.Errorf("Balances in the transaction = %v, %v; want [5]", a, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	if got := l.Stats().Posted.Load(); got != 1 {
		t.Errorf("Stats.Posted = %d, want 1", got)
	}

	refused := errors.New("the caller's own work failed")
	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Post(ctx, earn("C1", "7")); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("InTx = %v, want the caller's error", err)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	if n := countRows(t, pool, "entries"); n != 1 {
		t.Errorf("%d entries, want the first only", n)
	}
	if got := l.Stats().Posted.Load(); got != 1 {
		t.Errorf("Stats.Posted = %d after a rolled-back transaction, want 1", got)
	}
}

func TestTxPostRefusals(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	keyed := earn("C1", "5")
	keyed.IdempotencyKey = "k1"
	if _, _, err := l.Post(ctx, keyed); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   ledger.EntryInput
		code fault.Code
	}{
		// A transaction does not replay: a key already used is a conflict,
		// even for the same request.
		{"KeyAlreadyUsed", keyed, fault.IdempotencyConflict},
		{"TooFewPoints", redeem("C1", "6"), fault.InsufficientFunds},
		{"Invalid", ledger.EntryInput{Kind: "earn", Postings: keyed.Postings}, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			l.InTx(ctx, func(tx *ledger.Tx) error {
				_, err = tx.Post(ctx, tc.in)
				return err
			})
			wantCode(t, err, tc.code)
		})
	}
	wantBalance(t, l, "customer:C1:points", "5")
	mustReconcile(t, l)
}

func TestTxReverse(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "5"))
	mustPost(t, l, earn("C2", "9"))
	reverse := func(id int64, reason string) (*ledger.Entry, error) {
		var rev *ledger.Entry
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			var err error
			rev, err = tx.Reverse(ctx, id, ledger.ReversalInput{Actor: "ops", Reason: reason, Kind: "correction"})
			return err
		})
		return rev, err
	}
	rev, err := reverse(e.ID, "posted to the wrong customer")
	if err != nil {
		t.Fatal(err)
	}
	if rev.Kind != "correction" || rev.ReversalOf == nil || *rev.ReversalOf != e.ID || len(rev.Postings) != 2 {
		t.Fatalf("reversal %+v, want a correction of entry %d", rev, e.ID)
	}
	wantBalance(t, l, "customer:C1:points", "0")
	wantBalance(t, l, "platform:points:earned:volume", "-9")

	_, err = reverse(e.ID, "again")
	wantCode(t, err, fault.AlreadyReversed)
	_, err = reverse(rev.ID, "undo the correction")
	wantCode(t, err, fault.NotReversible)
	_, err = reverse(e.ID+100, "no such entry")
	wantCode(t, err, fault.NotFound)
	_, err = reverse(e.ID+1, " ")
	wantCode(t, err, fault.Invalid)
	wantBalance(t, l, "customer:C2:points", "9")
	mustReconcile(t, l)
}

func TestOpenAccountsAndBalanceOfAnAccountNeverPosted(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		// Not opened yet: zero, with the chart's terms.
		a, err := tx.Balances(ctx, "customer:C1:prepaid")
		if err != nil || len(a) != 1 || !a[0].IsZero() {
			t.Errorf("Balances of an account never opened = %v, %v; want [0]", a, err)
		}
		_, err = tx.Balances(ctx, "customer:C1:wallet")
		wantCode(t, err, fault.UnknownAccount)
		wantCode(t, tx.OpenAccounts(ctx, "customer:C1:prepaid", "customer:C1:wallet"), fault.UnknownAccount)
		return tx.OpenAccounts(ctx, "customer:C1:prepaid", "platform:cash")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"customer:C1:prepaid", "platform:cash"} {
		a, err := l.Account(ctx, code)
		if err != nil || !a.Balance.IsZero() {
			t.Errorf("account %s after OpenAccounts = %+v, %v; want it open at 0", code, a, err)
		}
	}
	// An opened account that may not go negative has its balance row, so
	// a debit is checked against it.
	_, _, err = l.Post(ctx, ledger.EntryInput{Kind: "charge", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "customer:C1:prepaid", Amount: d("-0.01")},
		{Account: "platform:revenue:shipping", Amount: d("0.01")},
	}})
	wantCode(t, err, fault.InsufficientFunds)
	mustReconcile(t, l)
}

// OpenAccounts reports a failure to open: in a transaction that an earlier
// statement aborted, nothing can be opened.
func TestOpenAccountsInAnAbortedTransactionFails(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	var err error
	l.InTx(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1/0`); err == nil {
			t.Error("1/0 succeeded")
		}
		err = tx.OpenAccounts(ctx, "customer:C1:points")
		return err
	})
	if got := pgErrCode(err); got != "25P02" { // in_failed_sql_transaction
		t.Errorf("OpenAccounts in an aborted transaction = %v, want in_failed_sql_transaction", err)
	}
	if _, err := l.Account(ctx, "customer:C1:points"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("customer:C1:points: %v, want not opened", err)
	}
}

// A savepoint undoes what its function did when the function fails, and the
// transaction goes on; when it succeeds, its entries commit with the rest.
func TestSavepoint(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	refused := errors.New("refused")
	var spErr error
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Post(ctx, earn("C1", "5")); err != nil {
			return err
		}
		spErr = tx.Savepoint(ctx, func(tx *ledger.Tx) error {
			if _, err := tx.Post(ctx, earn("C2", "7")); err != nil {
				return err
			}
			return refused
		})
		return tx.Savepoint(ctx, func(tx *ledger.Tx) error {
			_, err := tx.Post(ctx, earn("C3", "9"))
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(spErr, refused) {
		t.Errorf("failed savepoint = %v, want its function's error", spErr)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	wantBalance(t, l, "customer:C3:points", "9")
	wantBalance(t, l, "platform:points:earned:volume", "-14")
	if _, err := l.Account(ctx, "customer:C2:points"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("customer:C2:points: %v, want the rolled-back savepoint to leave no account", err)
	}
	if n := countRows(t, pool, "entries"); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	if got := l.Stats().Posted.Load(); got != 2 {
		t.Errorf("Stats.Posted = %d, want 2", got)
	}
	mustReconcile(t, l)
}

// A caller's own savepoint can undo the opening of an account that the
// ledger then believes in: Post finds out and opens it again.
func TestPostOpensAnAccountWhoseOpeningWasRolledBack(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		sp, err := tx.Begin(ctx) // a savepoint of the caller's own
		if err != nil {
			return err
		}
		if _, err := tx.Post(ctx, earn("C1", "5")); err != nil {
			return err
		}
		return sp.Rollback(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Account(ctx, "customer:C1:points"); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("customer:C1:points: %v, want it rolled back", err)
	}
	if _, _, err := l.Post(ctx, earn("C1", "5")); err != nil {
		t.Fatalf("Post after the rolled-back opening: %v", err)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	wantBalance(t, l, "platform:points:earned:volume", "-5")
	mustReconcile(t, l)
}

func TestReadTxIsReadOnly(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "5"))
	var n int
	err := l.ReadTx(ctx, func(tx *ledger.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO accounts (code, asset, allow_negative) VALUES ('platform:cash', 'CNY', true)`)
		return err
	})
	if n != 1 {
		t.Errorf("ReadTx saw %d entries, want 1", n)
	}
	if pe := pgErrCode(err); pe != "25006" { // read_only_sql_transaction
		t.Errorf("a write in ReadTx: %v, want refused as read-only", err)
	}
}

func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
