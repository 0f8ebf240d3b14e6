package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// TestALockOnAnAccountNotOpenedHoldsIt: a transaction locks N's prepaid
// balance before N has an account, and reads 0. Another writer then opens
// the account and puts 1000 in: it must wait for the lock, so that the
// first transaction's posting of 10, decided from 0, leaves 10, and the
// other's lands after it, leaving 1010. (Found by review: the lock opened
// nothing, so held nothing, and the posting of 10 left 1010.)
func TestALockOnAnAccountNotOpenedHoldsIt(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	other := make(chan error, 1)
	var read, after string
	attempt := 0
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if attempt++; attempt > 1 {
			t.Fatal("retried")
		}
		got, err := tx.LockBalances(ctx, "customer:N:prepaid")
		if err != nil {
			return err
		}
		read = got[0].String()
		go func() {
			_, _, err := l.Post(ctx, money("N", "1000"))
			other <- err
		}()
		for waiting := 0; waiting == 0; {
			select {
			case err := <-other:
				other <- err
				return nil // not held: the other writer went through
			case <-time.After(10 * time.Millisecond):
			}
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				return err
			}
		}
		e, err := tx.Post(ctx, money("N", "10"))
		if err != nil {
			return err
		}
		for _, p := range e.Postings {
			if p.Account == "customer:N:prepaid" {
				after = p.BalanceAfter.String()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if read != "0" || after != "10" {
		t.Errorf("locked and read %s, posted 10: the posting left %s, want 10 (another writer's money landed in between)", read, after)
	}
	var balance string
	if err := pool.QueryRow(ctx, `SELECT sum(b.balance)::text FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = 'customer:N:prepaid'`).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if balance != "1010.00" && balance != "1010" {
		t.Errorf("N's balance %s, want 1010", balance)
	}
}
