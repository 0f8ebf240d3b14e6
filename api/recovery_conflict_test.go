package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAReadAStandbyCancelsForARecoveryConflictIsAnsweredByThePrimary: a
// standby cancels a query whose locks or snapshot stand in the way of
// replaying the primary's WAL (SQLSTATE 40001, "canceling statement due to
// conflict with recovery"), here at once (max_standby_streaming_delay =
// 0). A report (one REPEATABLE READ snapshot, ledger.ReadTx, never
// retried) cancelled before its first row, and a small read (retried by
// the ledger, on the same standby, before OnStandby), are answered by the
// primary, and counted as such.
//
// The conflict is made deterministic with locks: the primary holds an
// ACCESS EXCLUSIVE lock on postings, which the standby's replay takes too,
// so the read on the standby, having locked accounts, waits for postings;
// then the primary locks accounts, whose replay conflicts with the read's
// lock on it, and the standby cancels the read. The primary's read waits
// for the primary's locks, released once the standby has cancelled.
func TestAReadAStandbyCancelsForARecoveryConflictIsAnsweredByThePrimary(t *testing.T) {
	ctx := context.Background()
	r := newStandbyRig(t, "pgconflict", map[string]string{"max_standby_streaming_delay": "0"})
	var delay string
	if err := r.sbPool.QueryRow(ctx, `SHOW max_standby_streaming_delay`).Scan(&delay); err != nil || delay != "0" {
		t.Fatalf("standby's max_standby_streaming_delay %q (%v), want 0", delay, err)
	}
	if res, body, err := r.do("POST", "/v1/customers", "", `{"id":"P1","name":"P"}`); err != nil || res.StatusCode != 201 {
		t.Fatalf("customer: %v %s", err, body)
	}
	res, body, err := r.do("POST", "/v1/entries", "", `{"reason":"r","postings":[`+
		`{"account":"platform:points:earned:adjustment","amount":"-5"},{"account":"customer:P1:points","asset":"PTS","amount":"5"}]}`)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("entry: %v %s", err, body)
	}
	r.caughtUp(res.Header.Get(ConsistencyHeader))

	for _, tc := range []struct {
		name, path, want string
	}{
		{"report", "/v1/reports/trial-balance", `"customer:P1:points"`},
		// As of an instant: the account, then its postings, in one
		// transaction (ledger.inTx, which retries a serialization failure).
		{"small read", "/v1/accounts/customer:P1:points/balance?as_of=" + url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), `"5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.counter("tally_standby_fallbacks_total", "reason", "recovery_conflict")
			// The primary's first lock, replayed on the standby.
			postings, err := r.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer postings.Rollback(ctx)
			if _, err := postings.Exec(ctx, `LOCK TABLE postings IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			r.flush(t)
			var held int
			if err := r.sbPool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'relation'
				AND relation = 'postings'::regclass AND mode = 'AccessExclusiveLock' AND granted`).Scan(&held); err != nil || held != 1 {
				t.Fatalf("the standby's replay holds postings' lock %d times (%v), want once", held, err)
			}
			type answer struct {
				res  *http.Response
				body []byte
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				res, body, err := r.do("GET", tc.path, "", "")
				done <- answer{res, body, err}
			}()
			until(t, "the read on the standby holds accounts' lock and waits for postings'", func() bool {
				var n int
				err := r.sbPool.QueryRow(ctx, `SELECT count(*) FROM pg_locks w JOIN pg_locks h USING (pid)
					WHERE w.locktype = 'relation' AND w.relation = 'postings'::regclass AND NOT w.granted
					AND h.locktype = 'relation' AND h.relation = 'accounts'::regclass AND h.granted`).Scan(&n)
				return err == nil && n > 0
			})
			// The second lock: its replay conflicts with the read's.
			accounts, err := r.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer accounts.Rollback(ctx)
			if _, err := accounts.Exec(ctx, `LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			r.flush(t)
			// The standby cancels the read; it is answered at once (the
			// error), or the primary's read waits for the primary's locks.
			var got *answer
			until(t, "the read answered, or waiting on the primary (not while the standby retries it: it waits there)", func() bool {
				select {
				case a := <-done:
					got = &a
					return true
				default:
				}
				var n int
				err := r.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE backend_type = 'client backend' AND wait_event_type = 'Lock'`).Scan(&n)
				return err == nil && n > 0
			})
			accounts.Rollback(ctx)
			postings.Rollback(ctx)
			if got == nil {
				a := <-done
				got = &a
			}
			if got.err != nil {
				t.Fatal(got.err)
			}
			if got.res.StatusCode != 200 || got.res.Header.Get(readFromHeader) != "primary" ||
				!strings.Contains(string(got.body), tc.want) {
				t.Fatalf("GET %s: %d from %q, want 200 from the primary with %s: %s", tc.path, got.res.StatusCode,
					got.res.Header.Get(readFromHeader), tc.want, got.body)
			}
			if n := r.counter("tally_standby_fallbacks_total", "reason", "recovery_conflict") - before; n != 1 {
				t.Errorf("tally_standby_fallbacks_total{reason=\"recovery_conflict\"} grew by %v, want 1", n)
			}
		})
	}
}
