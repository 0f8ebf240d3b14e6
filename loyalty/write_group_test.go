package loyalty_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// groupJob is a job of a test group: it marks its customer's name, then
// fails with fail(attempt) when that is not nil.
type groupJob struct {
	customer string
	fail     func(attempt int) error
}

// writeGroup runs the jobs as one group and answers each one's result
// ("ok" or "refused: why"), the group's error, how many times each job was
// written, and each customer's id with the marks its name got.
func (e *env) writeGroup(jobs ...groupJob) (outs []string, err error, writes map[string]int, names []string) {
	e.T.Helper()
	writes = map[string]int{}
	outs, err = loyalty.WriteGroup(e.Ctx, e.Ledger, jobs, func(j groupJob) string { return j.customer }, nil,
		func(tx *ledger.Tx, j groupJob, locked bool) (string, error) {
			writes[j.customer]++
			if !locked {
				return "", fmt.Errorf("%s was not locked", j.customer)
			}
			if _, err := tx.Exec(e.Ctx, `UPDATE customers SET name = name || '+' WHERE id = $1`, j.customer); err != nil {
				return "", err
			}
			if j.fail != nil {
				if err := j.fail(writes[j.customer]); err != nil {
					return "", err
				}
			}
			return "ok", nil
		},
		func(err error) string { return "refused: " + err.Error() })
	for _, j := range jobs {
		names = append(names, e.Lines(`SELECT id || repeat('+', length(name) - length(rtrim(name, '+')))
FROM customers WHERE id = $1`, j.customer)...)
	}
	return outs, err, writes, names
}

// A refused job undoes only its own writes and becomes its result; the
// jobs around it commit.
func TestWriteGroupUndoesOnlyARefusedJob(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"G1", "G2", "G3"} {
		e.Customer(c)
	}
	refuse := func(int) error { return errors.New("too little") }
	outs, err, _, names := e.writeGroup(groupJob{"G1", nil}, groupJob{"G2", refuse}, groupJob{"G3", nil})
	if err != nil {
		t.Fatalf("a group with one refusal failed whole: %v", err)
	}
	if got, want := fmt.Sprint(outs), "[ok refused: too little ok]"; got != want {
		t.Errorf("results %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(names), fmt.Sprint([]string{"G1+", "G2", "G3+"}); got != want {
		t.Errorf("names after %s, want %s (the refused job's write undone, the others kept)", got, want)
	}
}

// A deadlock met by one job is not its refusal: the whole group is written
// again, and the second attempt's results are the answer, each job's
// writes made once.
func TestWriteGroupRetriesWholeOnADeadlock(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"G1", "G2", "G3"} {
		e.Customer(c)
	}
	deadlockFirst := func(attempt int) error {
		if attempt == 1 {
			return &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
		}
		return nil
	}
	outs, err, writes, names := e.writeGroup(groupJob{"G1", nil}, groupJob{"G2", deadlockFirst}, groupJob{"G3", nil})
	if err != nil {
		t.Fatalf("the group's retry failed: %v", err)
	}
	if got, want := fmt.Sprint(outs), "[ok ok ok]"; got != want {
		t.Errorf("results %s, want %s", got, want)
	}
	if writes["G2"] != 2 || writes["G1"] != 2 || writes["G3"] != 1 {
		t.Errorf("writes per job %v, want G1 and G2 twice (before and after the deadlock), G3 once", writes)
	}
	if got, want := fmt.Sprint(names), fmt.Sprint([]string{"G1+", "G2+", "G3+"}); got != want {
		t.Errorf("names after %s, want %s (the first attempt undone)", got, want)
	}
}
