package servicetest

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// FailOnce makes the first statement that inserts into table fail with
// the SQLSTATE errcode (40P01, a deadlock, to see a transaction retried),
// and every statement after it succeed.
func (e *Env) FailOnce(t testing.TB, table, errcode string) {
	t.Helper()
	name := "test_fail_once_" + table
	if _, err := e.Pool.Exec(e.Ctx, `CREATE SEQUENCE `+name+`;
CREATE FUNCTION `+name+`() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('`+name+`') = 1 THEN
    RAISE EXCEPTION 'injected by the test' USING ERRCODE = '`+errcode+`';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER `+name+` AFTER INSERT ON `+pgx.Identifier{table}.Sanitize()+` FOR EACH STATEMENT EXECUTE FUNCTION `+name+`();`); err != nil {
		t.Fatal(err)
	}
}

// Deadlock runs group while a writer of its own takes on the ledger what
// hold locks, waits until the group waits for it, then runs then (which
// should want a lock the group holds, so that PostgreSQL aborts one of the
// two as a deadlock), and commits; hold runs again, then at once, should
// the writer be the one retried. It answers once both are done, with how
// many transactions the ledger retried meanwhile, and fails the test if the
// writer failed or the group never waited for it.
func (e *Env) Deadlock(t testing.TB, hold, then func(tx *ledger.Tx) error, group func()) (retries int64) {
	t.Helper()
	held, goOn, writer := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		first := true
		writer <- e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
			if err := hold(tx); err != nil {
				return err
			}
			if first {
				first = false
				close(held)
				<-goOn
			}
			return then(tx)
		})
	}()
	<-held
	before := e.Ledger.Stats().Retries.Load()
	done := make(chan struct{})
	go func() {
		defer close(done)
		group()
	}()
	waited := e.LockWaitersWithin(time.Minute, 1) >= 1
	close(goOn)
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	<-done
	if !waited {
		t.Fatal("the group never waited for the writer")
	}
	return e.Ledger.Stats().Retries.Load() - before
}
