package loyalty_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

func TestLotsExpireAtTheEndOfTheTwelfthMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(15, 10))                                // earned 2026-03-15: expires 2027-04-01 00:00 Shanghai
	e.Ship("C1", "S2", "50", time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)) // 1 February in Shanghai
	var expires time.Time
	e.Scan(t, `SELECT min(expires_at) FILTER (WHERE amount = 100) FROM points_lots`, &expires)
	if want := time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai); !expires.Equal(want) {
		t.Errorf("lot expires %s, want %s", expires, want)
	}
	e.WantLots(t, "C1", "2027-04-01:100", "2027-03-01:50")
}

func TestExpiryJob(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"C1", "C2", "C3"} {
		e.Customer(c)
	}
	e.Ship("C1", "S1", "100", time.Date(2026, 1, 15, 9, 0, 0, 0, shanghai)) // expires 2027-02-01
	e.Ship("C1", "S2", "40", march(10, 9))                                  // expires 2027-04-01
	e.Ship("C2", "S3", "70", time.Date(2026, 1, 20, 9, 0, 0, 0, shanghai))  // expires 2027-02-01
	e.Ship("C3", "S4", "10", march(10, 9))

	expiring, err := e.Loyalty.Expiring(e.Ctx, "C1", 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(expiring) != 2 || expiring[0].Date != "2027-02-01" || expiring[0].Points != 100 || expiring[1].Points != 40 {
		t.Errorf("expiring %+v, want 100 on 2027-02-01 then 40", expiring)
	}

	asOf := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai)
	e.Clock.Set(asOf) // the job acts as of now, never ahead
	rep, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2 || rep.Points != 170 {
		t.Errorf("expiry %+v, want 2 customers, 170 points", rep)
	}
	if p := e.Points("C1"); p.Balance != 40 {
		t.Errorf("C1 after expiry: %d, want 40", p.Balance)
	}
	again, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || again.Customers != 0 || again.Points != 0 {
		t.Errorf("second run %+v %v, want nothing posted", again, err)
	}
	var entries int
	e.Scan(t, `SELECT count(*) FROM entries WHERE kind = 'expiry'`, &entries)
	if entries != 2 {
		t.Errorf("%d expiry entries, want one per customer: 2", entries)
	}
	e.Reconcile()
}

// expiryScene: C1 earned 100 points on 10 February (expiring 2027-03-01)
// and spent 30 of them on a pen, then 40 on 10 March (2027-04-01); C2 70 on
// 20 February; C3 10 on 10 March. An expiry as of 2027-03-01 takes C1's 70
// left of February's lot and C2's 70.
func expiryScene(t *testing.T) (*env, time.Time) {
	e := newEnv(t)
	for _, c := range []string{"C1", "C2", "C3"} {
		e.Customer(c)
	}
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S2", "40", march(10, 9))
	e.Ship("C2", "S3", "70", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	e.Ship("C3", "S4", "10", march(10, 9))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 30})
	if _, err := e.Redeem("C1", "pen", 1); err != nil {
		t.Fatal(err)
	}
	e.WantLots(t, "C1", "2027-03-01:70", "2027-04-01:40")
	return e, time.Date(2027, 3, 1, 0, 0, 0, 0, shanghai)
}

// heldAndLots is every lot (its entry, amount, remaining and expiry) and every
// account's balance but zero ones (an account, once created, stays): what
// an undo must give back exactly.
func (e *env) heldAndLots() []string {
	e.T.Helper()
	return e.Lines(`SELECT 'lot ' || l.entry_id || ' ' || a.code || ' ' || l.amount || ' ' || l.remaining || ' ' || l.expires_at
FROM points_lots l JOIN accounts a ON a.id = l.account_id
UNION ALL
SELECT 'balance ' || a.code || ' ' || sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
GROUP BY a.code HAVING sum(b.balance) <> 0
ORDER BY 1`)
}

// TestExpiryRefusesAnAsOfAheadOfNowBeyondTheClockSkew: a run as of an
// instant later than now plus the clock skew is refused and writes nothing
// (a preview of it is answered); exactly the skew ahead runs, its entries
// effective now.
func TestExpiryRefusesAnAsOfAheadOfNowBeyondTheClockSkew(t *testing.T) {
	e, asOf := expiryScene(t)
	before, entries := e.heldAndLots(), e.TableRows("entries")
	e.Clock.Set(asOf.Add(-loyalty.ClockSkew - time.Microsecond))
	_, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	servicetest.WantCode(t, err, fault.AsOfInFuture)
	// A preview acts on nothing: it may look ahead.
	preview, err := e.Loyalty.PreviewExpiry(e.Ctx, asOf)
	if err != nil || preview.Points != 140 || preview.Customers != 2 {
		t.Errorf("preview ahead of now: %+v, %v; want C1's 70 and C2's 70", preview, err)
	}
	if got := e.heldAndLots(); e.TableRows("entries") != entries || e.TableRows("expiry_runs") != 0 || !slices.Equal(got, before) {
		t.Errorf("a refused run and a preview wrote: %d entries, %d runs", e.TableRows("entries")-entries, e.TableRows("expiry_runs"))
	}

	// Exactly the skew ahead is accepted, and the points go now.
	now := asOf.Add(-loyalty.ClockSkew)
	e.Clock.Set(now)
	rep, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || rep.Customers != 2 || rep.Points != 140 {
		t.Fatalf("run the clock skew ahead: %+v, %v; want C1's 70 and C2's 70", rep, err)
	}
	var effective time.Time
	e.Scan(t, `SELECT min(effective_at) FROM entries WHERE kind = 'expiry'`, &effective)
	if !effective.Equal(now) {
		t.Errorf("expiry effective %s, want now, %s", effective, now)
	}
	e.Reconcile()
}

// TestExpiryPreviewWritesNothingAndSaysWhatTheRunThenDoes: the preview
// lists per customer what the rules say expires, writes nothing, and the
// run then does the same, its entries carrying its run id.
func TestExpiryPreviewWritesNothingAndSaysWhatTheRunThenDoes(t *testing.T) {
	e, asOf := expiryScene(t)
	e.Clock.Set(asOf.Add(time.Hour))
	before, entries := e.heldAndLots(), e.TableRows("entries")
	preview, err := e.Loyalty.PreviewExpiry(e.Ctx, asOf)
	if err != nil {
		t.Fatal(err)
	}
	want := []loyalty.CustomerExpiry{{CustomerID: "C1", Points: 70}, {CustomerID: "C2", Points: 70}}
	if !preview.DryRun || preview.RunID != 0 || preview.Customers != 2 || preview.Points != 140 || preview.Truncated ||
		!slices.Equal(preview.ByCustomer, want) {
		t.Errorf("preview %+v, want C1's 70 and C2's 70, no run id", preview)
	}
	if got := e.heldAndLots(); e.TableRows("entries") != entries || e.TableRows("expiry_runs") != 0 || !slices.Equal(got, before) {
		t.Errorf("the preview wrote: %d entries, %d runs, books\n%v\nwere\n%v", e.TableRows("entries")-entries,
			e.TableRows("expiry_runs"), got, before)
	}

	rep, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || rep.RunID == 0 || rep.Customers != 2 || rep.Points != 140 || rep.Chunks != preview.Chunks || rep.ByCustomer != nil {
		t.Errorf("run %+v after preview %+v", rep, preview)
	}
	// Every entry of the run carries its id.
	if got := e.Lines(`SELECT metadata->>'run_id' FROM entries WHERE kind = 'expiry'`); !slices.Equal(got, []string{
		fmt.Sprint(rep.RunID), fmt.Sprint(rep.RunID)}) {
		t.Errorf("run ids of the expiry entries %v, want %d twice", got, rep.RunID)
	}
	e.Reconcile()
}

// TestUndoExpiryRestoresLotsAndBalancesExactlyOnce: an undo needs a
// bounded reason and a known run; it gives back every lot's remaining
// points and every balance as before the run, as new entries (the run's
// are untouched) that the statement explains; it is done once (a retry
// with its key replays, anything else is refused); a later run takes the
// restored points again and can itself be undone.
func TestUndoExpiryRestoresLotsAndBalancesExactlyOnce(t *testing.T) {
	e, asOf := expiryScene(t)
	e.Clock.Set(asOf.Add(time.Hour))
	before := e.heldAndLots()
	run, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || run.Points != 140 {
		t.Fatalf("run %+v, %v", run, err)
	}
	expired := e.heldAndLots()
	expiryEntries := e.Lines(`SELECT id || ' ' || metadata::text FROM entries WHERE kind = 'expiry' ORDER BY id`)

	for name, reason := range map[string]string{"NoReason": "", "Blank": " \t", "TooLong": strings.Repeat("x", loyalty.MaxUndoReason+1)} {
		_, _, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: reason, Actor: "ops"})
		servicetest.WantCode(t, err, fault.Invalid)
		if got := e.heldAndLots(); !slices.Equal(got, expired) {
			t.Errorf("%s: a refused undo changed the books", name)
		}
	}
	_, _, err = e.Loyalty.UndoExpiry(e.Ctx, run.RunID+1, loyalty.UndoInput{Reason: "mistake", Actor: "ops"})
	servicetest.WantCode(t, err, fault.NotFound)

	e.Clock.Add(time.Hour)
	undoneAt := e.Clock.Now()
	in := loyalty.UndoInput{Reason: " run by mistake ", Actor: "ops", IdempotencyKey: "undo-1", RequestHash: []byte("h1")}
	u, replayed, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, in)
	if err != nil || replayed {
		t.Fatalf("undo: %+v, %v, %v", u, replayed, err)
	}
	wantUndo := loyalty.ExpiryUndo{RunID: run.RunID, AsOf: asOf.UTC(), UndoneAt: undoneAt.UTC(), Actor: "ops", Reason: "run by mistake",
		Customers: 2, Points: 140}
	if u != wantUndo {
		t.Errorf("undo %+v, want %+v", u, wantUndo)
	}
	if got := e.heldAndLots(); !slices.Equal(got, before) {
		t.Errorf("books after the undo\n%v\nwant as before the run\n%v", got, before)
	}
	// New entries, one per customer, each reversing one of the run's; the
	// run's own entries are as they were.
	if got := e.Lines(`SELECT id || ' ' || metadata::text FROM entries WHERE kind = 'expiry' ORDER BY id`); !slices.Equal(got, expiryEntries) {
		t.Errorf("expiry entries changed: %v, were %v", got, expiryEntries)
	}
	undos := e.Lines(`SELECT u.actor || ' ' || u.reason || ' ' || (u.metadata->>'run_id') || ' ' || e.kind
FROM entries u JOIN entries e ON e.id = u.reversal_of WHERE u.kind = 'expiry.undone' ORDER BY u.id`)
	line := fmt.Sprintf("ops run by mistake %d expiry", run.RunID)
	if !slices.Equal(undos, []string{line, line}) {
		t.Errorf("undo entries %v, want two of %q", undos, line)
	}
	// The restored points are past their expiry: held, not spendable.
	if p := e.Points("C1"); p.Balance != 110 || p.Available != 40 {
		t.Errorf("C1 after the undo: %+v, want 110 held, 40 available", p)
	}
	if got := e.statementLines("C1")[0]; !strings.Contains(got, fmt.Sprintf("70 expired points restored: expiry run %d undone (run by mistake)", run.RunID)) {
		t.Errorf("C1's newest statement line %q", got)
	}

	// Once: a retry of the same request replays; anything else is refused.
	again, replayed, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, in)
	if err != nil || !replayed || again != u {
		t.Errorf("retried undo: %+v, %v, %v; want the first, replayed", again, replayed, err)
	}
	_, _, err = e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"})
	servicetest.WantCode(t, err, fault.AlreadyUndone)
	_, _, err = e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops", IdempotencyKey: "undo-2"})
	servicetest.WantCode(t, err, fault.AlreadyUndone)
	_, _, err = e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "other", Actor: "ops", IdempotencyKey: "undo-1", RequestHash: []byte("h2")})
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if n := e.TableRows("entries WHERE kind = 'expiry.undone'"); n != 2 {
		t.Errorf("%d undo entries after the refusals, want 2", n)
	}

	// The next run at (or after) the lots' expiry takes them again, as a
	// run of its own, which can be undone too (a reason of exactly
	// MaxUndoReason characters, not bytes, is accepted).
	second, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || second.RunID == run.RunID || second.Customers != 2 || second.Points != 140 {
		t.Fatalf("run after the undo: %+v, %v; want a new run taking the 140 again", second, err)
	}
	if got := e.heldAndLots(); !slices.Equal(got, expired) {
		t.Errorf("books after the second run\n%v\nwant as after the first\n%v", got, expired)
	}
	_, _, err = e.Loyalty.UndoExpiry(e.Ctx, second.RunID, loyalty.UndoInput{Reason: "again", Actor: "ops", IdempotencyKey: "undo-1", RequestHash: []byte("h1")})
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	long := strings.Repeat("点", loyalty.MaxUndoReason)
	if u, _, err := e.Loyalty.UndoExpiry(e.Ctx, second.RunID, loyalty.UndoInput{Reason: long, Actor: "ops"}); err != nil || u.Points != 140 {
		t.Errorf("undo with a %d-character reason: %+v, %v", loyalty.MaxUndoReason, u, err)
	}
	e.Reconcile()
}

// TestExpiryRunLateDatesItsEntriesNoEarlierThanTheBackdatingWindow: a run
// made long after its as_of (the job did not run for months) expires what
// expired by then, but dates its entries no earlier than the back-dating
// window allows business recorded now (60 days by default): months before
// the window, which finance has reported, do not change.
func TestExpiryRunLateDatesItsEntriesNoEarlierThanTheBackdatingWindow(t *testing.T) {
	e, asOf := expiryScene(t)
	now := asOf.AddDate(0, 0, 200)
	e.Clock.Set(now)
	rep, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || rep.Customers != 2 || rep.Points != 140 {
		t.Fatalf("late run: %+v, %v; want C1's 70 and C2's 70", rep, err)
	}
	var earliest, latest time.Time
	e.Scan(t, `SELECT min(effective_at), max(effective_at) FROM entries WHERE kind = 'expiry'`, &earliest, &latest)
	if want := now.Add(-60 * 24 * time.Hour); !earliest.Equal(want) || !latest.Equal(want) {
		t.Errorf("expiry entries effective %s to %s, want both at the window's start, %s", earliest, latest, want)
	}
	// Within the window, the entries keep the as_of.
	e2, asOf2 := expiryScene(t)
	e2.Clock.Set(asOf2.AddDate(0, 0, 59))
	if _, err := e2.Loyalty.Expire(e2.Ctx, asOf2, "test", nil); err != nil {
		t.Fatal(err)
	}
	e2.Scan(t, `SELECT min(effective_at) FROM entries WHERE kind = 'expiry'`, &earliest)
	if !earliest.Equal(asOf2) {
		t.Errorf("a run 59 days late dated its entries %s, want its as_of, %s", earliest, asOf2)
	}
	e.Reconcile()
	e2.Reconcile()
}
