package ledger_test

import (
	"context"
	"github.com/tally-ledger/tally/internal/fault"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
)

// newProbe creates a one-row table that transactions can be made to
// conflict on.
func newProbe(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(),
		`CREATE TABLE retry_probe (id int PRIMARY KEY, n int NOT NULL); INSERT INTO retry_probe VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
}

// conflict makes tx meet a real serialization failure: tx reads the probe
// row in a REPEATABLE READ snapshot, another connection updates the row and
// commits, then tx's own update of the row fails with SQLSTATE 40001.
func conflict(ctx context.Context, tx *ledger.Tx, pool *pgxpool.Pool) error {
	if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT n FROM retry_probe WHERE id = 1`).Scan(&n); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `UPDATE retry_probe SET n = n + 1 WHERE id = 1`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE retry_probe SET n = n + 100 WHERE id = 1`)
	return err
}

func probe(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT n FROM retry_probe WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// InTx runs the whole function again after a serialization failure, as
// many times as it takes (up to its limit), and the caller never sees the
// failures.
func TestInTxRetriesSerializationFailures(t *testing.T) {
	l, pool := newLedger(t)
	newProbe(t, pool)
	ctx := context.Background()
	attempts := 0
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		attempts++
		if attempts <= 3 {
			return conflict(ctx, tx, pool)
		}
		_, err := tx.Post(ctx, earn("C1", "5"))
		return err
	})
	if err != nil {
		t.Fatalf("InTx = %v, want the fourth attempt to commit", err)
	}
	if attempts != 4 {
		t.Errorf("fn ran %d times, want 4", attempts)
	}
	if got := l.Stats().Retries.Load(); got != 3 {
		t.Errorf("Stats.Retries = %d, want 3", got)
	}
	if got := l.Stats().Posted.Load(); got != 1 {
		t.Errorf("Stats.Posted = %d, want 1", got)
	}
	// The failed attempts left nothing: only the other connection's three
	// updates count, and the entry is recorded once.
	if got := probe(t, pool); got != 3 {
		t.Errorf("probe = %d, want 3", got)
	}
	wantBalance(t, l, "customer:C1:points", "5")
	mustReconcile(t, l)
}

func TestInTxGivesUpAfterTwentyAttempts(t *testing.T) {
	l, pool := newLedger(t)
	newProbe(t, pool)
	ctx := context.Background()
	attempts := 0
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		attempts++
		return conflict(ctx, tx, pool)
	})
	if !fault.Transient(err) {
		t.Fatalf("InTx = %v, want the serialization failure after the last attempt", err)
	}
	if attempts != 20 {
		t.Errorf("fn ran %d times, want 20", attempts)
	}
	if got := l.Stats().Retries.Load(); got != 19 {
		t.Errorf("Stats.Retries = %d, want 19", got)
	}
	if got := probe(t, pool); got != 20 {
		t.Errorf("probe = %d, want 20", got)
	}
}

func TestIsTransient(t *testing.T) {
	if fault.Transient(nil) {
		t.Error("nil is transient")
	}
	if fault.Transient(fault.Errorf(fault.InsufficientFunds, "no")) {
		t.Error("a refusal is transient")
	}
}
