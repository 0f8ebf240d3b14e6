package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestSealEverythingWaitsPastAHeldHorizon: entries that commit after a
// transaction still in flight are past the sealer's horizon; the
// footprint's quiet moment must not begin until they are linked, or their
// links are counted as the next window's rows.
func TestSealEverythingWaitsPastAHeldHorizon(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	l := ledger.New(pool)

	holder, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	held, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // an xid: the horizon stays below it
		t.Fatal(err)
	}
	const entries = 3
	for range entries {
		_, _, err := l.Post(ctx, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: decimal.RequireFromString("-1.00")},
			{Account: ledger.CustomerAccount("C1", "prepaid"), Amount: decimal.RequireFromString("1.00")},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := l.Head(ctx); err != nil || h == nil || h.Unsealed != entries {
		t.Fatalf("SealAll behind a transaction in flight: head %+v, %v; want %d entries left unsealed", h, err, entries)
	}

	done := make(chan error, 1)
	go func() { done <- sealEverything(ctx, l) }()
	select {
	case err := <-done:
		t.Fatalf("sealEverything returned (%v) while a transaction held the horizon", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sealEverything still waiting 30 s after the horizon was released")
	}
	if h, err := l.Head(ctx); err != nil || h == nil || h.Unsealed != 0 {
		t.Fatalf("after sealEverything: head %+v, %v; want every entry sealed", h, err)
	}
}
