package prepaid_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// movementRows is how many movements of the kind are recorded under id.
func (e *env) movementRows(t *testing.T, kind, id string) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM money_movements WHERE kind = $1 AND id = $2`, kind, id).
		Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func asJSON(t *testing.T, m prepaid.MoneyMovement) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRetryRacingItsOriginalIsRecordedOnceAndAnsweredAlike: 40 times, a
// charge and its retry (same id, same body) are sent at once: exactly one
// charge is recorded, neither is refused, exactly one answer is a replay and
// both answers are the same bytes. Then 40 times a charge id is sent at once
// with two different amounts, and 40 times with two different customers:
// exactly one is recorded, the other refused with idempotency_conflict.
func TestRetryRacingItsOriginalIsRecordedOnceAndAnsweredAlike(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	start := map[string]string{} // each customer's balance before the races: the deposit's answer
	for _, c := range []string{"C1", "C2"} {
		m := e.MustMoney(prepaid.Deposit, c, "10000")
		start[c] = m.Principal.Add(m.RebateBalance.Decimal).String()
	}
	at := e.Clock.Now().Add(-time.Minute)
	twice := func(a, b prepaid.MoneyInput) (ms [2]prepaid.MoneyMovement, rs [2]bool, errs [2]error) {
		var wg sync.WaitGroup
		for i, in := range []prepaid.MoneyInput{a, b} {
			wg.Go(func() { ms[i], rs[i], errs[i] = e.Prepaid.Charge(e.Ctx, in, "test") })
		}
		wg.Wait()
		return
	}
	const rounds = 40
	for r := range rounds {
		in := prepaid.MoneyInput{ID: fmt.Sprintf("twin-%d", r), CustomerID: "C1", Amount: d("1.50"), OccurredAt: at,
			ShipmentID: "S1"}
		ms, rs, errs := twice(in, in)
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: a retry racing its original was refused: %v / %v", r, errs[0], errs[1])
		}
		if rs[0] == rs[1] {
			t.Errorf("round %d: replayed %v and %v, want exactly one replay", r, rs[0], rs[1])
		}
		if a, b := asJSON(t, ms[0]), asJSON(t, ms[1]); a != b {
			t.Errorf("round %d: the original and its retry answered differently:\n%s\n%s", r, a, b)
		}
		if n := e.movementRows(t, prepaid.Charge, in.ID); n != 1 {
			t.Errorf("round %d: %d charges recorded under one id", r, n)
		}
	}
	for r := range rounds {
		a := prepaid.MoneyInput{ID: fmt.Sprintf("amounts-%d", r), CustomerID: "C1", Amount: d("1.00"), OccurredAt: at}
		b := a
		b.Amount = d("2.00")
		c := a
		c.ID, c.CustomerID = fmt.Sprintf("customers-%d", r), "C2"
		a2 := a
		a2.ID = c.ID
		for _, pair := range [][2]prepaid.MoneyInput{{a, b}, {a2, c}} {
			_, _, errs := twice(pair[0], pair[1])
			ok, conflicts := 0, 0
			for _, err := range errs {
				switch fault.CodeOf(err) {
				case "":
					ok++
				case fault.IdempotencyConflict:
					conflicts++
				default:
					t.Errorf("round %d, id %s: %v", r, pair[0].ID, err)
				}
			}
			if ok != 1 || conflicts != 1 {
				t.Errorf("round %d, id %s: %d recorded and %d conflicts, want 1 and 1", r, pair[0].ID, ok, conflicts)
			}
			if n := e.movementRows(t, prepaid.Charge, pair[0].ID); n != 1 {
				t.Errorf("round %d: %d charges recorded under id %s", r, n, pair[0].ID)
			}
		}
	}
	// Each customer's books hold what the deposit left less exactly what the
	// charges recorded took.
	var spent1, spent2 string
	e.Scan(t, `SELECT coalesce(sum(amount) FILTER (WHERE customer_id = 'C1'), 0)::text,
  coalesce(sum(amount) FILTER (WHERE customer_id = 'C2'), 0)::text FROM money_movements WHERE kind = 'charge'`, &spent1, &spent2)
	for c, spent := range map[string]string{"C1": spent1, "C2": spent2} {
		if got, want := e.booksBalance(c), d(start[c]).Sub(d(spent)); !got.Equal(want) {
			t.Errorf("%s: books %s, want %s (%s less %s charged)", c, got, want, start[c], spent)
		}
	}
}

// TestCallerGivingUpMidGroupLeavesItsJobWholeAndItsNeighboursAlone: 60
// deposits of 1,000 for one customer are sent at once, every third by a
// caller whose context is cancelled as soon as it has sent it. Every
// caller that stayed is answered with its deposit; each deposit of a
// caller who left is recorded once or not at all, and its retry answers
// what is recorded (a replay) or records it now; the customer's balance is
// 1,020 (2% rebate) for each deposit recorded, no more.
func TestCallerGivingUpMidGroupLeavesItsJobWholeAndItsNeighboursAlone(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	at := e.Clock.Now().Add(-time.Minute)
	const n = 60
	ins := make([]prepaid.MoneyInput, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("dep-%d", i), CustomerID: "C1", Amount: d("1000"), OccurredAt: at}
		wg.Go(func() {
			ctx, cancel := context.WithCancel(e.Ctx)
			defer cancel()
			if i%3 == 0 {
				cancel()
			}
			_, _, errs[i] = e.Prepaid.Deposit(ctx, ins[i], "test")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%3 != 0 && err != nil {
			t.Errorf("deposit %d, whose caller stayed: %v", i, err)
		}
		if i%3 == 0 && err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("deposit %d, whose caller left: %v", i, err)
		}
	}
	for i := range n {
		if i%3 != 0 {
			continue
		}
		before := e.movementRows(t, prepaid.Deposit, ins[i].ID)
		m, replayed, err := e.Prepaid.Deposit(e.Ctx, ins[i], "test")
		if err != nil {
			t.Fatalf("retry of deposit %d: %v", i, err)
		}
		if replayed != (before == 1) {
			t.Errorf("retry of deposit %d: replayed %v with %d recorded before it", i, replayed, before)
		}
		if m.ID != ins[i].ID || !m.Amount.Equal(d("1000")) {
			t.Errorf("retry of deposit %d answered %s of %s", i, m.ID, m.Amount)
		}
	}
	var rows int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE kind = 'deposit' AND customer_id = 'C1'`, &rows)
	if rows != n {
		t.Errorf("%d deposits recorded, want %d", rows, n)
	}
	if got, want := e.booksBalance("C1"), d("1020").Mul(d(fmt.Sprint(n))); !got.Equal(want) {
		t.Errorf("balance %s, want %s", got, want)
	}
}

// TestPreviewsRacingMovementsWriteNothingAndTakeNoID: while 8 submissions
// of 6 real deposits run, 48 previews are sent at once: 24 of ids no
// real movement uses, 24 of a charge id that the test then records for
// real with another amount (a preview must not have taken the id). The
// previews write no movement, no entry and no notification: the counts
// are those of the real deposits alone.
func TestPreviewsRacingMovementsWriteNothingAndTakeNoID(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.MustMoney(prepaid.Deposit, "C2", "1000")
	at := e.Clock.Now().Add(-time.Minute)
	count := func() (moves, entries, notices int) {
		e.Scan(t, `SELECT (SELECT count(*) FROM money_movements), (SELECT count(*) FROM entries),
  (SELECT count(*) FROM notifications)`, &moves, &entries, &notices)
		return
	}
	m0, en0, n0 := count()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail []string
	)
	for r := range 8 {
		wg.Go(func() {
			kinds, ins := make([]string, 6), make([]prepaid.MoneyInput, 6)
			for i := range ins {
				kinds[i] = prepaid.Deposit
				ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("real-%d-%d", r, i), CustomerID: []string{"C1", "C2"}[i%2],
					Amount: d("5"), OccurredAt: at}
			}
			_, _, errs := e.Prepaid.MoveTogether(e.Ctx, kinds, ins, "test")
			for i, err := range errs {
				if err != nil {
					mu.Lock()
					fail = append(fail, fmt.Sprintf("deposit %s: %v", ins[i].ID, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range 48 {
		wg.Go(func() {
			in := prepaid.MoneyInput{ID: fmt.Sprintf("preview-%d", i), CustomerID: "C2", Amount: d("3"), OccurredAt: at,
				Preview: true}
			var err error
			var replayed bool
			if i%2 == 0 {
				_, replayed, err = e.Prepaid.Deposit(e.Ctx, in, "test")
			} else {
				in.ID = fmt.Sprintf("taken-%d", i)
				_, replayed, err = e.Prepaid.Charge(e.Ctx, in, "test")
			}
			if err != nil || replayed {
				mu.Lock()
				fail = append(fail, fmt.Sprintf("preview %s: replayed %v, %v", in.ID, replayed, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, f := range fail {
		t.Error(f)
	}
	m1, en1, n1 := count()
	// 48 real deposits: one movement, one entry, one deposit.received each.
	if m1-m0 != 48 || en1-en0 != 48 || n1-n0 != 48 {
		t.Errorf("after 48 deposits and 48 previews: %d movements, %d entries, %d notifications more; want 48 each",
			m1-m0, en1-en0, n1-n0)
	}
	for i := 1; i < 48; i += 2 {
		in := prepaid.MoneyInput{ID: fmt.Sprintf("taken-%d", i), CustomerID: "C2", Amount: d("4"), OccurredAt: at}
		m, replayed, err := e.Prepaid.Charge(e.Ctx, in, "test")
		if err != nil || replayed || !m.Amount.Equal(d("4")) {
			t.Errorf("charge %s after its preview: %s, replayed %v, %v", in.ID, m.Amount, replayed, err)
		}
	}
}

// TestLowBalanceInGroupsIsToldOncePerCrossing: a partner's threshold is
// 100; C1 holds 1,020 (1,000 and its rebate). Three times, 48 charges of
// 30 in eight submissions of six race down the balance, and a deposit
// then lifts it back over the threshold. Each charge recorded answers the
// balance after it; the charges that crossed (before >= 100, after < 100)
// are computed from those answers: exactly one per race, and the
// notifications are exactly those charges, each once.
func TestLowBalanceInGroupsIsToldOncePerCrossing(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	p := e.partner("P")
	e.threshold(p, "100")
	crossed := map[string]bool{}
	for round := range 3 {
		e.MustMoney(prepaid.Deposit, "C1", "1000")
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for r := range 8 {
			wg.Go(func() {
				kinds, ins := make([]string, 6), make([]prepaid.MoneyInput, 6)
				for i := range ins {
					kinds[i] = prepaid.Charge
					ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("low-%d-%d-%d", round, r, i), CustomerID: "C1", Amount: d("30"),
						OccurredAt: e.Clock.Now().Add(-time.Minute)}
				}
				ms, _, errs := e.Prepaid.MoveTogether(e.Ctx, kinds, ins, "test")
				mu.Lock()
				defer mu.Unlock()
				for i, err := range errs {
					switch fault.CodeOf(err) {
					case "":
						after := ms[i].Principal.Add(ms[i].RebateBalance.Decimal)
						before := after.Add(ms[i].Amount.Decimal)
						if !before.LessThan(d("100")) && after.LessThan(d("100")) {
							crossed[ms[i].ID] = true
						}
					case fault.InsufficientFunds:
					default:
						t.Errorf("charge %s: %v", ins[i].ID, err)
					}
				}
			})
		}
		wg.Wait()
	}
	if len(crossed) != 3 {
		t.Errorf("%d charges crossed the threshold by their answers, want 3 (one per race)", len(crossed))
	}
	told := map[string]int{}
	for _, n := range e.lowNotices() {
		if n.Partner != p {
			t.Errorf("a low balance told to partner %d", n.Partner)
		}
		told[n.Payload.MovementID]++
	}
	for id := range crossed {
		if told[id] != 1 {
			t.Errorf("charge %s crossed the threshold; told %d times", id, told[id])
		}
	}
	for id, k := range told {
		if !crossed[id] {
			t.Errorf("charge %s told a low balance (%d times) without crossing the threshold", id, k)
		}
	}
}
