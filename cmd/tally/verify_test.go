package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestVerifyCommand: tally verify reports a sound chain with its head and
// its progress on stderr, then names the entry whose posting was edited
// behind the ledger's back, and fails.
func TestVerifyCommand(t *testing.T) {
	url := testdb.New(t)
	testdb.SkipBooks(t, "a posting is edited behind the ledger's back")
	vars := map[string]string{"DATABASE_URL": url}
	ctx := context.Background()
	pool := openPool(t, url)
	l := ledger.New(pool)
	var ids []int64
	for i := range 3 {
		e, _, err := l.Post(ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "goodwill", Postings: []ledger.PostingInput{
			{Account: "customer:C1:prepaid", Amount: decimal.NewFromInt(int64(10 + i))},
			{Account: "platform:cash", Amount: decimal.NewFromInt(int64(-10 - i))}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// Sealed until nothing committed is left: a transaction in flight that
	// the horizon counts (autovacuum's analyze, say) only delays it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := l.SealAll(ctx); err != nil {
			t.Fatal(err)
		}
		if head, err := l.Head(ctx); err != nil || head.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
	}
	tally := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, getenv(vars), nil, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	out, progress, err := tally("verify")
	if err != nil || !strings.HasPrefix(out, "ok: 3 links; head link 3 (entry "+fmt.Sprint(ids[2])+") ") ||
		!strings.Contains(progress, "3 of 3 links checked") {
		t.Fatalf("verify printed %q and %q, %v; want 3 links ok and the progress", out, progress, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
UPDATE postings SET amount = amount * 2 WHERE entry_id = `+fmt.Sprint(ids[1]))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = tally("verify")
	if !errors.Is(err, errBroken) || !strings.HasPrefix(out, fmt.Sprintf("broken at link 2, entry %d: altered", ids[1])) {
		t.Fatalf("verify after an edit printed %q, %v; want entry %d named", out, err, ids[1])
	}
}
