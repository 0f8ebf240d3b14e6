package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// October and November 2026 in Asia/Shanghai (UTC+8), and a clock in
// December, after both have ended.
var (
	octStart = time.Date(2026, 9, 30, 16, 0, 0, 0, time.UTC)
	novStart = time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC)
	decStart = time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	inDec    = time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
)

func closingLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	return ledger.New(testdb.Pool(t), ledger.WithClock(func() time.Time { return inDec }))
}

func at(in ledger.EntryInput, t time.Time) ledger.EntryInput {
	in.EffectiveAt = t
	return in
}

func TestAClosedMonthRefusesEntriesEffectiveInItAndBefore(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	mustPost(t, l, at(earn("C1", "100"), octStart.Add(time.Hour)))
	p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	if err != nil {
		t.Fatal(err)
	}
	for name, eff := range map[string]time.Time{"in the month": novStart.Add(-time.Microsecond), "before it": octStart.Add(-time.Hour)} {
		_, _, err := l.Post(ctx, at(earn("C1", "5"), eff))
		if fault.CodeOf(err) != fault.PeriodClosed {
			t.Errorf("an entry effective %s: err = %v, want period_closed", name, err)
		}
	}
	// PostMany, one statement for many entries, is refused whole.
	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{at(earn("C2", "1"), novStart), at(earn("C2", "1"), novStart.Add(-time.Second))}, nil, nil)
	})
	wantCode(t, err, fault.PeriodClosed)
	// The first instant of November is open.
	mustPost(t, l, at(earn("C1", "7"), novStart))
	wantBalance(t, l, "customer:C1:points", "107")

	// The close's digest is the SHA-256 of the month's figures, which
	// render C1's October: nothing before, 100 earned.
	figures, err := l.PeriodFigures(ctx, "2026-10", octStart, novStart)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(figures))
	if p.Digest != hex.EncodeToString(sum[:]) {
		t.Errorf("close digest %s is not the SHA-256 of the figures\n%s", p.Digest, figures)
	}
	const c1 = "account customer:C1:points PTS opening 0 closing 100\n  earn 100\n"
	if !strings.Contains(figures, c1) {
		t.Errorf("figures do not render C1's October as %q:\n%s", c1, figures)
	}
}

func TestMonthsCloseInOrderOnceEndedAndReopenLatestFirst(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	_, err := l.ClosePeriod(ctx, "2026-12", decStart, decStart.AddDate(0, 1, 0), "finance")
	wantCode(t, err, fault.PeriodNotEnded)
	if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
	_, err = l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	wantCode(t, err, fault.PeriodClosed)
	_, err = l.ClosePeriod(ctx, "2026-09", octStart.AddDate(0, -1, 0), octStart, "finance")
	wantCode(t, err, fault.PeriodClosed)
	// Closing December before November would leave November open inside
	// the closed prefix (and it has not ended anyway at this clock).
	later := ledger.New(testdb.Pool(t), ledger.WithClock(func() time.Time { return decStart.AddDate(0, 1, 1) }))
	if _, err := later.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
	_, err = later.ClosePeriod(ctx, "2026-12", decStart, decStart.AddDate(0, 1, 0), "finance")
	wantCode(t, err, fault.PeriodOutOfOrder)
	nov, err := l.ClosePeriod(ctx, "2026-11", novStart, decStart, "finance")
	if err != nil {
		t.Fatal(err)
	}

	_, err = l.ReopenPeriod(ctx, "2026-10", "admin", "late invoices")
	wantCode(t, err, fault.PeriodOutOfOrder)
	_, err = l.ReopenPeriod(ctx, "2026-11", "admin", " ")
	wantCode(t, err, fault.Invalid)
	_, err = l.ReopenPeriod(ctx, "2026-12", "admin", "never closed")
	wantCode(t, err, fault.PeriodNotClosed)
	ev, err := l.ReopenPeriod(ctx, "2026-11", "admin", "late invoices")
	if err != nil || ev.Digest != nov.Digest || ev.Action != "reopen" {
		t.Fatalf("reopen = %+v, %v; want the closed digest %s kept", ev, err, nov.Digest)
	}
	// November takes entries again; October still refuses them.
	mustPost(t, l, at(earn("C1", "3"), novStart.Add(time.Hour)))
	_, _, err = l.Post(ctx, at(earn("C1", "3"), novStart.Add(-time.Hour)))
	wantCode(t, err, fault.PeriodClosed)

	// Closed again, with the new entry: a new digest, and the history has
	// all three events with who, why and the digest of each.
	again, err := l.ClosePeriod(ctx, "2026-11", novStart, decStart, "finance2")
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest == nov.Digest {
		t.Errorf("November closed again with an entry more has the same digest %s", again.Digest)
	}
	p, history, err := l.ClosedPeriod(ctx, "2026-11")
	if err != nil || p == nil || p.Digest != again.Digest || p.ClosedBy != "finance2" {
		t.Fatalf("ClosedPeriod = %+v, %v", p, err)
	}
	want := []ledger.PeriodEvent{
		{Action: "close", Actor: "finance", At: inDec, Digest: nov.Digest},
		{Action: "reopen", Actor: "admin", Reason: "late invoices", At: inDec, Digest: nov.Digest},
		{Action: "close", Actor: "finance2", At: inDec, Digest: again.Digest},
	}
	if len(history) != len(want) {
		t.Fatalf("history %+v, want %+v", history, want)
	}
	for i := range want {
		if h := history[i]; h.Action != want[i].Action || h.Actor != want[i].Actor || h.Reason != want[i].Reason ||
			!h.At.Equal(want[i].At) || h.Digest != want[i].Digest {
			t.Errorf("history[%d] = %+v, want %+v", i, h, want[i])
		}
	}
}

// A close racing many writers: every entry effective in the month either
// committed before the close (and is in its figures) or was refused with
// period_closed. The month's figures after the race are those the close
// digested, and its balances are the sums of the entries accepted.
func TestACloseRacingWritersLeavesTheClosedFiguresUnchanged(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	const writers = 8
	var (
		accepted  [writers]decimal.Decimal
		successes atomic.Int64
		enough    = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			customer := fmt.Sprintf("W%d", w)
			for i := 1; ; i++ {
				in := at(earn(customer, fmt.Sprint(i)), octStart.Add(time.Duration(i)*time.Minute))
				if i%2 == 0 { // and some in one transaction of many
					err := l.InTx(ctx, func(tx *ledger.Tx) error {
						return tx.PostMany(ctx, []ledger.EntryInput{in}, nil, nil)
					})
					if fault.CodeOf(err) == fault.PeriodClosed {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				} else {
					_, _, err := l.Post(ctx, in)
					if fault.CodeOf(err) == fault.PeriodClosed {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
				accepted[w] = accepted[w].Add(decimal.NewFromInt(int64(i)))
				if successes.Add(1) >= 40 {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	<-enough
	p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Every writer ended on a refusal; the books hold exactly what was
	// accepted.
	for w := range writers {
		code := fmt.Sprintf("customer:W%d:points", w)
		if accepted[w].IsZero() { // refused from its first entry (a busy machine): the account was never opened
			if _, err := l.Account(ctx, code); fault.CodeOf(err) != fault.NotFound {
				t.Errorf("%s, of a writer refused from its first entry: %v, want not found", code, err)
			}
			continue
		}
		wantBalance(t, l, code, accepted[w].String())
	}
	now, err := l.PeriodDigest(ctx, "2026-10", octStart, novStart)
	if err != nil || now != p.Digest {
		t.Fatalf("October's digest after the race = %s, %v; closed with %s", now, err, p.Digest)
	}
}

// The figures a close digests, rendered for a small October: every
// account with a posting before the month ends, in code order, with its
// opening and closing balances and the month's movements by kind, at the
// asset's scale; an account that did not move in the month has no kind
// lines, and November's entry is not counted.
func TestPeriodFiguresRenderTheMonthCanonically(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	mustPost(t, l, at(earn("C2", "5"), octStart.Add(-time.Hour)))
	mustPost(t, l, at(earn("C1", "100"), octStart))
	mustPost(t, l, at(ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-12.5")}, {Account: "customer:C1:prepaid", Amount: d("12.5")}}},
		novStart.Add(-time.Microsecond)))
	mustPost(t, l, at(earn("C3", "7"), novStart))
	const want = `tally period figures v1
month 2026-10
from 2026-09-30T16:00:00Z
to 2026-10-31T16:00:00Z
account customer:C1:points PTS opening 0 closing 100
  earn 100
account customer:C1:prepaid CNY opening 0.00 closing 12.50
  deposit 12.50
account customer:C2:points PTS opening 5 closing 5
account platform:cash CNY opening 0.00 closing -12.50
  deposit -12.50
account platform:points:earned:volume PTS opening -5 closing -105
  earn -100
`
	got, err := l.PeriodFigures(ctx, "2026-10", octStart, novStart)
	if err != nil || got != want {
		t.Fatalf("figures = %v\n%s\nwant\n%s", err, got, want)
	}
}

// ClosedAt finds the closed month an instant falls in: from its first
// instant to just before the next month's.
func TestClosedAtIsTheClosedMonthOfAnInstant(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{octStart.Add(-time.Microsecond), ""}, {octStart, "2026-10"}, {novStart.Add(-time.Microsecond), "2026-10"}, {novStart, ""}} {
		p, err := l.ClosedAt(ctx, c.at)
		got := ""
		if p != nil {
			got = p.Month
		}
		if err != nil || got != c.want {
			t.Errorf("ClosedAt(%s) = %q, %v; want %q", c.at.Format(time.RFC3339Nano), got, err, c.want)
		}
	}
	// The refusal names the first instant still open.
	_, _, err := l.Post(ctx, at(earn("C1", "1"), octStart))
	if fault.CodeOf(err) != fault.PeriodClosed || !strings.Contains(err.Error(), "2026-10-31T16:00:00Z") {
		t.Errorf("refusal %v, want period_closed naming 2026-10-31T16:00:00Z", err)
	}
}

// A close waits for the transactions writing entries, and every writer
// that starts meanwhile queues behind the close's lock: so a close behind
// a long writer (a big expiry run, a session left open) gives up within
// ledger.CloseLockWait, writing nothing, instead of holding every writer
// back for as long as that writer lasts.
func TestACloseBehindALongWriterGivesUpInsteadOfHoldingEveryWriterBack(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	inFlight, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	releaseWriter := sync.OnceFunc(func() { close(release) })
	defer func() { releaseWriter(); <-done }() // on failure too: the books check waits for it
	go func() {
		done <- l.InTx(ctx, func(tx *ledger.Tx) error {
			if _, err := tx.Post(ctx, at(earn("Long", "7"), novStart.Add(time.Hour))); err != nil {
				return err
			}
			close(inFlight)
			<-release
			return nil
		})
	}()
	<-inFlight
	// Far above CloseLockWait: only a close that waits for the writer
	// reaches it.
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := l.ClosePeriod(bounded, "2026-10", octStart, novStart, "finance")
	if fault.CodeOf(err) != fault.PeriodBusy {
		t.Fatalf("close behind a writer in flight: %v, want %s", err, fault.PeriodBusy)
	}
	releaseWriter()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if p, _, err := l.ClosedPeriod(ctx, "2026-10"); err != nil || p != nil {
		t.Fatalf("October after the close gave up = %+v, %v; want not closed", p, err)
	}
	// Once the writer has ended the close goes through.
	if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
}
