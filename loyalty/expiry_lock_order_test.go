package loyalty_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// An expiry run and its undo lock balances in their codes' byte order, as
// every writer does, on a database whose collation sorts otherwise (under
// ICU's en-US, customer:a… before customer:B…; in bytes after). A writer
// crediting B1 then a1 (in byte order) holds B1 when the run, had it
// locked in the collation's order, would hold a1 and wait for B1: a
// deadlock, which PostgreSQL breaks after a second by aborting one, and
// the aborted transaction runs again. (Found by review.)
func TestExpiryLocksBalancesInByteOrderWhateverTheCollation(t *testing.T) {
	expiresAt := time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
	seed := func(t *testing.T, customers ...string) *env {
		e := &env{servicetest.NewWith(t, servicetest.Config{Pool: testdb.PoolCollated(t, "en-US")})}
		in := make([]ledger.EntryInput, 0, len(customers))
		for _, c := range customers {
			in = append(in, ledger.EntryInput{Kind: "adjustment", Actor: "test", Postings: []ledger.PostingInput{
				{Account: ledger.CustomerAccount(c, "points"), Amount: d("10"), Lot: &ledger.Lot{ExpiresAt: expiresAt}},
				{Account: "platform:points:earned:adjustment", Amount: d("-10")}}})
		}
		if err := e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error { return tx.PostMany(e.Ctx, in, nil, nil) }); err != nil {
			t.Fatal(err)
		}
		e.Clock.Set(expiresAt.Add(time.Hour))
		return e
	}
	credit := func(e *env, customer string) func(tx *ledger.Tx) error {
		return func(tx *ledger.Tx) error {
			_, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Postings: []ledger.PostingInput{
				{Account: ledger.CustomerAccount(customer, "points"), Amount: decimal.NewFromInt(1),
					Lot: &ledger.Lot{ExpiresAt: expiresAt.AddDate(1, 0, 0)}},
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-1)}}})
			return err
		}
	}

	t.Run("run", func(t *testing.T) {
		e := seed(t, "a1", "B1")
		var (
			rep loyalty.ExpiryReport
			err error
		)
		retries := e.Deadlock(t, credit(e, "B1"), credit(e, "a1"),
			func() { rep, err = e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil) })
		if err != nil {
			t.Fatal(err)
		}
		if retries != 0 {
			t.Errorf("%d transactions ran again, want none", retries)
		}
		if rep.Customers != 2 || rep.Points != 20 {
			t.Errorf("the run expired %d customers' %d points, want 2 customers' 20", rep.Customers, rep.Points)
		}
		e.Reconcile()
	})

	// A preview locks nothing: it lists its customers in the collation's
	// order, its pages' order, across pages as within them.
	t.Run("preview", func(t *testing.T) {
		customers := []string{"a1", "B1", "Z9"}
		for i := range loyalty.ExpiryChunk {
			customers = append(customers, fmt.Sprintf("z%03d", i))
		}
		e := seed(t, customers...)
		rep, err := e.Loyalty.PreviewExpiry(e.Ctx, expiresAt)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, c := range rep.ByCustomer {
			listed = append(listed, c.CustomerID)
		}
		var want []string
		if err := e.Pool.QueryRow(e.Ctx, `SELECT array_agg(c ORDER BY c) FROM unnest($1::text[]) c`, listed).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if rep.Chunks != 2 || !slices.Equal(listed, want) {
			t.Errorf("the preview took %d chunks and listed %v…, want 2 chunks in the collation's order %v…", rep.Chunks, listed[:4], want[:4])
		}
	})

	// The undo reverses a whole run in one transaction: its chunks follow
	// the collation (a000…a499, then B1), so entry order is not byte order
	// across them.
	t.Run("undo", func(t *testing.T) {
		customers := []string{"B1"}
		for i := range loyalty.ExpiryChunk {
			customers = append(customers, fmt.Sprintf("a%03d", i))
		}
		e := seed(t, customers...)
		rep, err := e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Chunks != 2 {
			t.Fatalf("the run took %d chunks, want 2 (B1 after the a's, in the collation)", rep.Chunks)
		}
		var undo loyalty.ExpiryUndo
		retries := e.Deadlock(t, credit(e, "B1"), credit(e, "a000"),
			func() {
				undo, _, err = e.Loyalty.UndoExpiry(e.Ctx, rep.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"})
			})
		if err != nil {
			t.Fatal(err)
		}
		if retries != 0 {
			t.Errorf("%d transactions ran again, want none", retries)
		}
		if undo.Customers != len(customers) || undo.Points != rep.Points {
			t.Errorf("the undo gave back %d customers' %d points, want %d customers' %d", undo.Customers, undo.Points, len(customers), rep.Points)
		}
		e.Reconcile()
	})
}
