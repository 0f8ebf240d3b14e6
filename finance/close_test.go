package finance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// February 2026 in Asia/Shanghai, the zone months are counted in
// (DOMAIN.md): from its first instant to March's.
var (
	febStarts = time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai)
	febEnds   = time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
)

// februaryBusiness records a shipment and a deposit of C1 in February 2026
// and a shipment in March, then puts the clock back at March 15.
func februaryBusiness(t *testing.T, e *env) {
	t.Helper()
	e.Clock.Set(shanghaiAt(2026, time.February, 10, 12))
	e.Customer("C1")
	e.Ship("C1", "S1", "100", e.Clock.Now().Add(-time.Minute))
	e.MustMoney(prepaid.Deposit, "C1", "1000")
	e.Clock.Set(servicetest.Start)
	e.Ship("C1", "S2", "200", e.Clock.Now().Add(-time.Minute))
}

// tamper runs q as an attacker with access to the database would: in
// replica mode, so that no trigger of the ledger refuses or records it.
func tamper(t *testing.T, e *env, q string) {
	t.Helper()
	err := pgx.BeginFunc(e.Ctx, e.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(e.Ctx, `SET LOCAL session_replication_role = replica; `+q)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantOpen checks the status of February before any close: its bounds, not
// closed, no digest to compare, an empty (not null) history.
func wantOpen(t *testing.T, st finance.PeriodStatus) {
	t.Helper()
	if st.Month != "2026-02" || !st.StartsAt.Equal(febStarts) || !st.EndsAt.Equal(febEnds) {
		t.Errorf("status of %s from %s to %s, want 2026-02 from %s to %s", st.Month, st.StartsAt, st.EndsAt, febStarts, febEnds)
	}
	if st.Closed || st.Period != nil || st.Unchanged != nil {
		t.Errorf("an open month: closed %v, period %+v, unchanged %v", st.Closed, st.Period, st.Unchanged)
	}
	if st.History == nil || len(st.History) != 0 {
		t.Errorf("an open month's history %#v, want an empty list", st.History)
	}
}

// TestClosingAMonthNeedsReconciliationToPass: while a check of
// reconciliation fails, February does not close (fault.ReconciliationFailed
// naming the check) and stays open; once the books are sound again it
// closes.
func TestClosingAMonthNeedsReconciliationToPass(t *testing.T) {
	e := newEnv(t)
	februaryBusiness(t, e)
	tamperBy := func(delta string) {
		t.Helper()
		tamper(t, e, `UPDATE balance_buckets SET balance = balance + `+delta+`
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`)
	}
	tamperBy("5")
	_, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "finance")
	servicetest.WantCode(t, err, fault.ReconciliationFailed)
	if !strings.Contains(err.Error(), "balances_match_postings") {
		t.Errorf("refusal %q does not name the failing check balances_match_postings", err)
	}
	st, err := e.Finance.Period(e.Ctx, "2026-02")
	if err != nil {
		t.Fatal(err)
	}
	wantOpen(t, st)

	tamperBy("-5")
	p, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "finance")
	if err != nil {
		t.Fatalf("close with sound books: %v", err)
	}
	if p.Month != "2026-02" || !p.StartsAt.Equal(febStarts) || !p.EndsAt.Equal(febEnds) {
		t.Errorf("closed %+v, want 2026-02 from %s to %s", p, febStarts, febEnds)
	}
}

// TestClosedMonthStatus: closing February answers the month from its
// first instant to March's, in Shanghai, with the digest of its figures as
// the ledger renders them; its status then says closed, that digest,
// unchanged, and one close in its history. ClosedPeriod finds it for
// exactly its bounds and for no others. Once a posting of February is
// edited in the database directly, the status still holds the digest it
// was closed with and says it no longer matches the books.
func TestClosedMonthStatus(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("a posting of the closed month is edited behind the ledger's back")
	februaryBusiness(t, e)

	st, err := e.Finance.Period(e.Ctx, "2026-02")
	if err != nil {
		t.Fatal(err)
	}
	wantOpen(t, st)
	figures, err := e.Ledger.PeriodFigures(e.Ctx, "2026-02", febStarts, febEnds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(figures, "customer:C1:prepaid") {
		t.Fatalf("February's figures do not hold its deposit:\n%s", figures)
	}
	sum := sha256.Sum256([]byte(figures))
	digest := hex.EncodeToString(sum[:])

	p, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "ana")
	if err != nil {
		t.Fatal(err)
	}
	if p.Month != "2026-02" || !p.StartsAt.Equal(febStarts) || !p.EndsAt.Equal(febEnds) || p.ClosedBy != "ana" || p.Digest != digest {
		t.Fatalf("closed %+v, want 2026-02 from %s to %s by ana, digest %s", p, febStarts, febEnds, digest)
	}

	closed := func(t *testing.T) finance.PeriodStatus {
		t.Helper()
		st, err := e.Finance.Period(e.Ctx, "2026-02")
		if err != nil {
			t.Fatal(err)
		}
		if !st.Closed || st.Period == nil || st.Period.Digest != digest || !st.StartsAt.Equal(febStarts) || !st.EndsAt.Equal(febEnds) {
			t.Fatalf("status of the closed month: closed %v, period %+v, from %s to %s", st.Closed, st.Period, st.StartsAt, st.EndsAt)
		}
		if len(st.History) != 1 || st.History[0].Action != "close" || st.History[0].Actor != "ana" || st.History[0].Digest != digest {
			t.Errorf("history %+v, want one close by ana with digest %s", st.History, digest)
		}
		if st.Unchanged == nil {
			t.Fatal("a closed month's status says nothing of its figures")
		}
		return st
	}
	if st := closed(t); !*st.Unchanged {
		t.Error("the closed month's figures are the same, but its status says they changed")
	}

	t.Run("ClosedPeriodIsExactlyTheMonth", func(t *testing.T) {
		day := 24 * time.Hour
		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     bool
		}{
			{"February", febStarts, febEnds, true},
			{"FebruaryAndADay", febStarts, febEnds.Add(day), false},
			{"FebruaryFromItsSecondDay", febStarts.Add(day), febEnds, false},
			{"FebruaryInUTC", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), false},
			{"JanuaryNeverClosed", time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai), febStarts, false},
			{"MarchOpen", febEnds, time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai), false},
		} {
			got, err := e.Finance.ClosedPeriod(e.Ctx, tc.from, tc.to)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			switch {
			case tc.want && (got == nil || got.Month != "2026-02" || got.Digest != digest):
				t.Errorf("%s: %+v, want February closed with digest %s", tc.name, got, digest)
			case !tc.want && got != nil:
				t.Errorf("%s: %+v, want none", tc.name, got)
			}
		}
	})

	// The attacker triples the amounts of February's deposit.
	tamper(t, e, `UPDATE postings SET amount = amount * 3
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:prepaid')`)
	if st := closed(t); *st.Unchanged {
		t.Error("a posting of the closed month was edited, but its status says its figures are unchanged")
	}
}

// A month is written YYYY-MM, in the years 1971 to 2998: anything else is
// refused before the books are read. (Closed, 0000-01 was answered as
// invalid JSON and held every real month's close back; 9999-12's period
// could not be answered at all.)
func TestPeriodRefusesWhatIsNotAMonth(t *testing.T) {
	e := newEnv(t)
	for _, month := range []rules.Month{"2026-13", "2026-2", "02-2026", "", "0000-01", "1970-12", "2999-01", "9999-12"} {
		_, err := e.Finance.ClosePeriod(e.Ctx, month, "ana")
		servicetest.WantCode(t, err, fault.Invalid)
		_, err = e.Finance.Period(e.Ctx, month)
		servicetest.WantCode(t, err, fault.Invalid)
	}
	if got := e.TableRows("period_closes"); got != 0 {
		t.Errorf("%d months closed, want none", got)
	}
}

// A month closed before months were bounded (0000-01, by a release that
// took any year) held every later close back; it can still be reopened,
// and then the real months close.
func TestAMonthClosedOutsideTheYearsReopens(t *testing.T) {
	e := newEnv(t)
	februaryBusiness(t, e)
	if _, err := e.Ledger.ClosePeriod(e.Ctx, "0000-01", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 2, 1, 0, 0, 0, 0, time.UTC), "ana"); err != nil {
		t.Fatal(err)
	}
	_, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "ana")
	servicetest.WantCode(t, err, fault.PeriodOutOfOrder)
	if _, err := e.Finance.ReopenPeriod(e.Ctx, "0000-01", "root", "closed by mistake"); err != nil {
		t.Fatalf("reopening 0000-01: %v", err)
	}
	if _, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "ana"); err != nil {
		t.Errorf("closing 2026-02 after 0000-01 reopened: %v", err)
	}
	_, err = e.Finance.ReopenPeriod(e.Ctx, "0000-13", "root", "no such month")
	servicetest.WantCode(t, err, fault.Invalid)
}

// The reads and the close stop at the first error of the database: a
// cancelled context fails them, closes nothing and answers no status.
func TestCloseAndPeriodStopAtTheDatabasesError(t *testing.T) {
	e := newEnv(t)
	februaryBusiness(t, e)
	ctx, cancel := context.WithCancel(e.Ctx)
	cancel()
	if p, err := e.Finance.ClosePeriod(ctx, "2026-02", "ana"); !errors.Is(err, context.Canceled) {
		t.Errorf("close with a cancelled context = %+v, %v; want context canceled", p, err)
	}
	if st, err := e.Finance.Period(ctx, "2026-02"); !errors.Is(err, context.Canceled) {
		t.Errorf("status with a cancelled context = %+v, %v; want context canceled", st, err)
	}
	if p, err := e.Finance.ClosedPeriod(ctx, febStarts, febEnds); p != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("ClosedPeriod with a cancelled context = %+v, %v; want context canceled", p, err)
	}
	if got := e.TableRows("period_closes"); got != 0 {
		t.Errorf("%d months closed, want none", got)
	}
}

// TestARefusedCloseDoesNotReconcile: a month that cannot close (closed
// already, out of order, not ended) is refused for that, by one probe of
// the closes, before the reconciliation a close needs, which reads the
// whole books (seconds of the database per request on large books: a
// finance key sending such closes at once held every connection of the
// pool, and partners' events waited). Here reconciliation fails meanwhile:
// each refusal still names the month's reason, not reconciliation_failed,
// and announces no failure.
func TestARefusedCloseDoesNotReconcile(t *testing.T) {
	e := newEnv(t)
	februaryBusiness(t, e)
	if _, err := e.Finance.ClosePeriod(e.Ctx, "2026-02", "finance"); err != nil {
		t.Fatalf("close February: %v", err)
	}
	tamper(t, e, `UPDATE balance_buckets SET balance = balance + 5
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`)
	announced := func() int {
		var n int
		if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM notifications WHERE type = 'reconciliation.failed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := announced()
	for month, code := range map[rules.Month]fault.Code{
		"2026-02": fault.PeriodClosed,     // closed already
		"2026-01": fault.PeriodClosed,     // before the latest close
		"2026-04": fault.PeriodOutOfOrder, // March is next
		"2026-05": fault.PeriodOutOfOrder,
	} {
		_, err := e.Finance.ClosePeriod(e.Ctx, month, "finance")
		servicetest.WantCode(t, err, code)
	}
	if after := announced(); after != before {
		t.Errorf("refused closes announced %d reconciliation failures: they reconciled", after-before)
	}
	// March may close but has not ended (the clock is at March 15): refused
	// for that, without reconciling either.
	_, err := e.Finance.ClosePeriod(e.Ctx, "2026-03", "finance")
	servicetest.WantCode(t, err, fault.PeriodNotEnded)
	if after := announced(); after != before {
		t.Errorf("a close of a month not ended announced %d reconciliation failures", after-before)
	}
	// A month that may close still needs reconciliation to pass.
	e.Clock.Set(shanghaiAt(2026, time.April, 2, 12))
	_, err = e.Finance.ClosePeriod(e.Ctx, "2026-03", "finance")
	servicetest.WantCode(t, err, fault.ReconciliationFailed)
	tamper(t, e, `UPDATE balance_buckets SET balance = balance - 5
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`)
}
