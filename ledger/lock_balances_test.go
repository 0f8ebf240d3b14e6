package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// LockBalances answers the balances in the order asked (repeats and
// accounts never opened included) and holds their rows until the
// transaction ends: another transaction's update of one waits (NOWAIT
// refuses it) until then. An account that may go negative is refused.
func TestLockBalancesReadsInOrderAndHoldsTheRows(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, money("B1", "10"))
	mustPost(t, l, money("A1", "3.50"))
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		got, err := tx.LockBalances(ctx, "customer:B1:prepaid", "customer:N:prepaid", "customer:A1:prepaid", "customer:B1:prepaid")
		if err != nil {
			return err
		}
		if len(got) != 4 || !got[0].Equal(d("10")) || !got[1].IsZero() || !got[2].Equal(d("3.50")) || !got[3].Equal(d("10")) {
			t.Errorf("balances %v, want 10 0 3.50 10", got)
		}
		for _, code := range []string{"customer:A1:prepaid", "customer:B1:prepaid"} {
			err := pgx.BeginFunc(ctx, pool, func(other pgx.Tx) error {
				_, err := other.Exec(ctx, `SELECT 1 FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = $1 FOR UPDATE OF b NOWAIT`, code)
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
				t.Errorf("%s: another transaction's lock: %v, want lock_not_available", code, err)
			}
		}
		_, err = tx.LockBalances(ctx, "platform:cash")
		wantCode(t, err, fault.Invalid)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
