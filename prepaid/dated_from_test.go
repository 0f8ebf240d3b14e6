package prepaid

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestDatedFromIsTheWalkOfTheHistory: for random accounts (what is dated
// on them before and after a movement's date, deposits and debits, ties on
// the date and within the clock skew, amounts to the fen, amounts finer
// than the fen and past an int64 of fen, which take the decimal walk) and
// debits, datedFrom answers what trying every instant of the accounts'
// histories answers: the same instant, or the same refusal or error.
// Both the fen and the decimal walks, and refusals and instants past the
// date, must each be common.
func TestDatedFromIsTheWalkOfTheHistory(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 148))
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	amount := func(kind int) decimal.Decimal {
		switch kind {
		case 1: // finer than the fen
			return decimal.New(r.Int64N(2_000_000)-1_000_000, -4)
		case 2: // past an int64 of fen
			return decimal.New(r.Int64N(2_000_000)-1_000_000, 17)
		case 3: // each within an int64 of fen, their sums past it
			sign := int64(-1) // mostly: walked back, they add up
			if r.IntN(5) == 0 {
				sign = 1
			}
			return decimal.New(sign*(900_000_000_000_000_000+r.Int64N(1_000_000)), -2)
		}
		return decimal.New(r.Int64N(200_000)-100_000, -2)
	}
	counts := map[string]int{}
	for run := range 20_000 {
		kind := 0
		if run%5 == 3 {
			kind = 1 + r.IntN(3)
		}
		var held, debits []decimal.Decimal
		var moved [][]ledger.Dated
		for range 2 {
			var ms []ledger.Dated
			for range r.IntN(12) {
				d := time.Duration(r.IntN(600)-120) * time.Second // from 2 minutes before the date to 8 after
				if r.IntN(4) == 0 {
					d = loyalty.ClockSkew + time.Duration(r.IntN(3)-1)*time.Second // about the skew
				}
				ms = append(ms, ledger.Dated{At: at.Add(d), Balance: amount(kind)})
			}
			slices.SortFunc(ms, func(a, b ledger.Dated) int { return a.At.Compare(b.At) })
			ms = slices.CompactFunc(ms, func(a, b ledger.Dated) bool { return a.At.Equal(b.At) })
			moved = append(moved, ms)
			h := amount(kind).Abs()
			held = append(held, h)
			debit := decimal.Zero
			if r.IntN(3) > 0 {
				debit = h.Mul(decimal.New(r.Int64N(101), -2)).Truncate(2) // at most what is held now
			}
			if r.IntN(20) == 0 {
				debit = h.Add(decimal.New(1, -2)) // more than is held: not reached
			}
			debits = append(debits, debit)
		}
		m := &MoneyMovement{Kind: Charge, ID: fmt.Sprint(run), CustomerID: "C1", OccurredAt: at}
		history := [][]ledger.Dated{ledger.HistorySince(at, held[0], moved[0]), ledger.HistorySince(at, held[1], moved[1])}
		want, wantErr := datedFromHistory(m, debits, history)
		got, err := datedFrom(m, debits, held, slices.Clone(moved))
		var wantRefusal, refusal *fault.Error
		switch {
		case errors.As(wantErr, &wantRefusal):
			counts["refused"]++
			if !errors.As(err, &refusal) || refusal.Code != wantRefusal.Code || refusal.Message != wantRefusal.Message {
				t.Fatalf("run %d: %v, the history's walk refuses %v (held %v, debits %v, moved %v)", run, err, wantErr, held, debits, moved)
			}
		case wantErr != nil:
			counts["not reached"]++
			if err == nil || errors.As(err, &refusal) {
				t.Fatalf("run %d: %v, %v; the history's walk fails %v", run, got, err, wantErr)
			}
		default:
			if err != nil || !got.Equal(want) {
				t.Fatalf("run %d: %v, %v; the history's walk answers %v (held %v, debits %v, moved %v)", run, got, err, want, held, debits, moved)
			}
			if got.After(at) {
				counts["later"]++
			}
		}
		if kind > 0 {
			counts["decimal walk"]++
		}
	}
	for _, c := range []string{"refused", "not reached", "later", "decimal walk"} {
		if counts[c] < 200 {
			t.Errorf("%d runs %s: too few to prove anything (%v)", counts[c], c, counts)
		}
	}
}

// TestFenIsAWholeNumberOfFen: fen answers a CNY amount in fen when it is
// a whole number of them and its coefficient has at most 18 digits and
// fits an int64 once in fen, and declines otherwise.
func TestFenIsAWholeNumberOfFen(t *testing.T) {
	for _, tc := range []struct {
		amount string
		fen    int64
		ok     bool
	}{
		{"0", 0, true}, {"1", 100, true}, {"-1.5", -150, true}, {"12.34", 1234, true}, {"12.340", 1234, true},
		{"0.0000000000000000000000", 0, true}, {"12.345", 0, false}, {"0.001", 0, false}, {"-0.0001", 0, false},
		{"9999999999999999.99", 999999999999999999, true}, {"-9999999999999999.99", -999999999999999999, true},
		{"92233720368547758.07", 0, false}, // 19 digits: left to decimals
		{"1e16", 1e18, true}, {"1e17", 0, false}, {"0e30", 0, true},
	} {
		got, ok := fen(decimal.RequireFromString(tc.amount))
		if got != tc.fen || ok != tc.ok {
			t.Errorf("fen(%s) = %d, %v; want %d, %v", tc.amount, got, ok, tc.fen, tc.ok)
		}
	}
}

// datedFromHistory is datedFrom as it was before 31: each account's
// history by date built whole (ledger.HistorySince), then every instant of
// them tried in turn. The oracle of TestDatedFromIsTheWalkOfTheHistory.
func datedFromHistory(m *MoneyMovement, debits []decimal.Decimal, history [][]ledger.Dated) (time.Time, error) {
	at := m.OccurredAt
	// least[i][k]: the least balance of account i from its k-th date on.
	least := make([][]decimal.Decimal, len(history))
	var instants []time.Time
	for i, h := range history {
		least[i] = make([]decimal.Decimal, len(h))
		for k := len(h) - 1; k >= 0; k-- {
			least[i][k] = h[k].Balance
			if k+1 < len(h) {
				least[i][k] = decimal.Min(least[i][k], least[i][k+1])
			}
			instants = append(instants, h[k].At)
		}
	}
	slices.SortFunc(instants, time.Time.Compare)
	instants = slices.CompactFunc(instants, time.Time.Equal)
	for _, c := range instants {
		covered := true
		for i, h := range history {
			k, _ := slices.BinarySearchFunc(h, c, func(d ledger.Dated, c time.Time) int { return d.At.Compare(c) })
			if k == len(h) || h[k].At.After(c) {
				k-- // the balance as of c is that of the last date up to c (h[0] is at's)
			}
			if debits[i].GreaterThan(least[i][k]) {
				covered = false
				break
			}
		}
		if !covered {
			continue
		}
		if c.Sub(at) > loyalty.ClockSkew {
			// As every refusal of a movement, it names the principal and
			// says no balance (nor which one fell short, nor when), which
			// a partner may not read.
			return time.Time{}, &fault.Error{Code: fault.InsufficientFunds, Account: ledger.CustomerAccount(m.CustomerID, "prepaid"),
				Message: fmt.Sprintf("a %s dated %s takes more than the customer's principal and rebate held from then on: a movement may take money dated at most %s after it",
					m.Kind, at.UTC().Format(time.RFC3339Nano), loyalty.ClockSkew)}
		}
		return c, nil
	}
	// Not reached: priced from held, the movement is covered as of the last date, where the balances are held.
	return time.Time{}, fmt.Errorf("prepaid: %s %s is not covered by the balances it was priced from", m.Kind, m.ID)
}
