package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// qMovementsOracle is the movements report's query before MovementsEach:
// every posting effective before to, by account and kind, read from the
// postings alone (no kept balance), one period at a time, a reversal in the
// kind of the entry it reversed, read from that entry. The tests hold
// MovementsEach to it.
const qMovementsOracle = `SELECT a.code, coalesce(r.kind, e.kind),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at < $1), 0),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at >= $1), 0)
FROM postings p
JOIN accounts a ON a.id = p.account_id
JOIN entries e ON e.id = p.entry_id
LEFT JOIN entries r ON r.id = e.reversal_of
WHERE starts_with(a.code, $3)
  AND (cardinality($4::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($4::text[]) s WHERE right(a.code, length(s)) = s))
  AND p.effective_at < $2
GROUP BY a.code, 2
ORDER BY split_part(a.code, ':', 2), a.code`

// oracleMovements is what the movements report said before MovementsEach,
// computed as it computed it, rendered by renderMovements; accounts the
// filter does not want by kind are rendered without their kinds.
func oracleMovements(t *testing.T, pool *pgxpool.Pool, f ledger.MovementFilter, from, to time.Time) []string {
	t.Helper()
	suffixes := f.Suffixes
	if suffixes == nil {
		suffixes = []string{}
	}
	rows, err := pool.Query(context.Background(), qMovementsOracle, from, to, f.Prefix, suffixes)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ledger.Movements
	for rows.Next() {
		var code, kind string
		var before, during decimal.Decimal
		if err := rows.Scan(&code, &kind, &before, &during); err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 || out[len(out)-1].Account != code {
			out = append(out, ledger.Movements{Account: code, ByKind: map[string]decimal.Decimal{}})
		}
		m := &out[len(out)-1]
		m.Opening = m.Opening.Add(before)
		m.Closing = m.Closing.Add(before).Add(during)
		if !during.IsZero() {
			m.ByKind[kind] = m.ByKind[kind].Add(during)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range out {
		if !wantedByKind(f, m.Account) {
			m.ByKind = nil
		}
		lines = append(lines, renderMovements(m))
	}
	return lines
}

func wantedByKind(f ledger.MovementFilter, code string) bool {
	if len(f.ByKind) == 0 {
		return true
	}
	return slices.ContainsFunc(f.ByKind, func(s string) bool { return strings.HasSuffix(code, s) })
}

// renderMovements renders an account's movements exactly: amounts as
// values (decimal.String), kinds in order.
func renderMovements(m ledger.Movements) string {
	kinds := make([]string, 0, len(m.ByKind))
	for k, v := range m.ByKind {
		kinds = append(kinds, fmt.Sprintf("%q %s", k, v.String()))
	}
	slices.Sort(kinds)
	return fmt.Sprintf("%s opens %s, %v, closes %s", m.Account, m.Opening.String(), kinds, m.Closing.String())
}

// TestMovementsEachEqualsTheOldReportOverEveryPart: random books of a few
// customers (points earned, redeemed, owed and settled; money deposited,
// charged, rebated and withdrawn; deposits reversed, some within their
// month, so that a kind nets to zero; manual entries whose metadata names
// a reversed_kind, the empty one too) are written over June 2026 to
// January 2027, with entries exactly on months' first instants (Asia/
// Shanghai, as the console counts them, and UTC). Read before any month
// is closed, with June to September closed (their balances kept), after
// more entries in the open months, and with September reopened, every
// filter's MovementsEach over random bounds (months, random instants,
// before and after every posting, on a close's end) equals, account by
// account and part by part, the old query's report over the whole period
// and over each part alone, and Movements equals it over the whole.
func TestMovementsEachEqualsTheOldReportOverEveryPart(t *testing.T) {
	pool := testdb.Pool(t)
	now := time.Date(2027, 2, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 2026))
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	var months []time.Time // Shanghai months June 2026 to February 2027
	for m := time.Date(2026, 6, 1, 0, 0, 0, 0, sh); !m.After(time.Date(2027, 2, 1, 0, 0, 0, 0, sh)); m = m.AddDate(0, 1, 0) {
		months = append(months, m)
	}
	customers := []string{"C1", "C2", "C3", "C4", "C5"}
	post := func(in ledger.EntryInput) *ledger.Entry {
		t.Helper()
		in.Actor = "test"
		e, _, err := l.Post(ctx, in)
		if err != nil {
			t.Fatalf("%s at %s: %v", in.Kind, in.EffectiveAt, err)
		}
		return e
	}
	line := func(account string, amount int64, scale int32) ledger.PostingInput {
		return ledger.PostingInput{Account: account, Amount: decimal.New(amount, -scale)}
	}
	// Each customer starts, before June, with enough points and money
	// that nothing after can take them below zero, and owing enough points
	// that settlements never settle more.
	for _, c := range customers {
		earn := line("customer:"+c+":points", 1_000_000, 0)
		earn.Lot = farFuture
		post(ledger.EntryInput{Kind: "shipment.completed", EffectiveAt: months[0].Add(-48 * time.Hour),
			Postings: []ledger.PostingInput{line("platform:points:earned:volume", -1_000_000, 0), earn}})
		post(ledger.EntryInput{Kind: "deposit", EffectiveAt: months[0].Add(-47 * time.Hour), Postings: []ledger.PostingInput{
			line("platform:cash", -100_000_000, 2), line("customer:"+c+":prepaid", 100_000_000, 2),
			line("platform:rebate:expense", -2_000_000, 2), line("customer:"+c+":rebate", 2_000_000, 2)}})
		post(ledger.EntryInput{Kind: "shipment.refunded", EffectiveAt: months[0].Add(-46 * time.Hour), Postings: []ledger.PostingInput{
			line("platform:points:earned:volume", 100_000, 0), line("customer:"+c+":points_owed", -100_000, 0)}})
	}
	// write posts n random entries effective in [from, to).
	write := func(n int, from, to time.Time) {
		t.Helper()
		for range n {
			c := customers[r.IntN(len(customers))]
			eff := from.Add(time.Duration(r.Int64N(int64(to.Sub(from)))))
			if r.IntN(4) == 0 { // exactly on a month's first instant, in Shanghai or UTC
				m := months[r.IntN(len(months))]
				if r.IntN(2) == 0 {
					m = time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, time.UTC)
				}
				if !m.Before(from) && m.Before(to) {
					eff = m
				}
			}
			v := int64(1 + r.IntN(500))
			var in ledger.EntryInput
			switch r.IntN(11) {
			case 0, 1:
				earn := line("customer:"+c+":points", v, 0)
				earn.Lot = farFuture
				channel := []string{"volume", "referral", "feedback", "campaign", "adjustment"}[r.IntN(5)]
				in = ledger.EntryInput{Kind: "earn." + channel, Postings: []ledger.PostingInput{line("platform:points:earned:"+channel, -v, 0), earn}}
			case 2:
				sink := []string{"redeemed", "expired"}[r.IntN(2)]
				in = ledger.EntryInput{Kind: sink, Postings: []ledger.PostingInput{line("customer:"+c+":points", -v, 0), line("platform:points:"+sink, v, 0)}}
			case 3:
				in = ledger.EntryInput{Kind: "shipment.refunded", Postings: []ledger.PostingInput{line("platform:points:earned:volume", v, 0), line("customer:"+c+":points_owed", -v, 0)}}
			case 4:
				in = ledger.EntryInput{Kind: "points.settled", Postings: []ledger.PostingInput{line("customer:"+c+":points", -v, 0), line("customer:"+c+":points_owed", v, 0)}}
			case 5, 6:
				in = ledger.EntryInput{Kind: "deposit", Postings: []ledger.PostingInput{line("platform:cash", -v*100, 2), line("customer:"+c+":prepaid", v*100, 2),
					line("platform:rebate:expense", -v*2, 2), line("customer:"+c+":rebate", v*2, 2)}}
			case 7:
				in = ledger.EntryInput{Kind: "charge", Postings: []ledger.PostingInput{line("platform:revenue:shipping", v*7+v%3, 2),
					line("customer:"+c+":prepaid", -v*7, 2), line("customer:"+c+":rebate", -(v % 3), 2)}}
				if v%3 == 0 {
					in.Postings = in.Postings[:2]
				}
			case 8:
				in = ledger.EntryInput{Kind: "withdrawal", Postings: []ledger.PostingInput{line("platform:cash", v, 2), line("customer:"+c+":prepaid", -v, 2)}}
			case 9: // a manual entry naming a reversed kind, the empty one too
				md, _ := json.Marshal(map[string]string{"reversed_kind": []string{"", "deposit", "charge"}[r.IntN(3)]})
				in = ledger.EntryInput{Kind: "adjustment", Metadata: md, Postings: []ledger.PostingInput{line("platform:rebate:expense", -v, 2), line("customer:"+c+":rebate", v, 2)}}
			case 10: // a deposit and its reversal, now or by hand
				e := post(ledger.EntryInput{Kind: "deposit", EffectiveAt: eff, Postings: []ledger.PostingInput{line("platform:cash", -v, 2),
					line("customer:"+c+":prepaid", v, 2), line("platform:rebate:expense", -1, 2), line("customer:"+c+":rebate", 1, 2)}})
				switch r.IntN(3) {
				case 0: // effective now
					if _, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "test", Reason: "twice"}); err != nil {
						t.Fatal(err)
					}
				case 1: // by hand, a minute later: "deposit" nets to zero in most parts
					md, _ := json.Marshal(map[string]string{"reversed_kind": "deposit"})
					post(ledger.EntryInput{Kind: "reversal", Metadata: md, EffectiveAt: eff.Add(time.Minute), Postings: []ledger.PostingInput{
						line("platform:cash", v, 2), line("customer:"+c+":prepaid", -v, 2), line("platform:rebate:expense", 1, 2), line("customer:"+c+":rebate", -1, 2)}})
				}
				continue
			}
			in.EffectiveAt = eff
			post(in)
		}
	}
	filters := []ledger.MovementFilter{
		{},
		{Prefix: "customer:", Suffixes: []string{":rebate", ":prepaid"}},
		{Suffixes: []string{"platform:points:redeemed", "platform:points:expired", "platform:points:earned:volume",
			"platform:points:earned:referral", "platform:points:earned:feedback", "platform:points:earned:campaign",
			"platform:points:earned:adjustment", ":points_owed"}, ByKind: []string{":points_owed"}},
		{Prefix: "platform:", ByKind: []string{"platform:cash"}},
		{Prefix: "customer:C3:"},
		{Prefix: "nobody:"},
	}
	// check compares MovementsEach with the oracle over random bounds.
	check := func(step string, closes []time.Time) {
		t.Helper()
		var boundSets [][]time.Time
		boundSets = append(boundSets, months, months[2:5], []time.Time{months[0].AddDate(-1, 0, 0), months[0].AddDate(0, 0, -1)},
			[]time.Time{now.Add(time.Hour), now.Add(2 * time.Hour)}, []time.Time{months[0].AddDate(-1, 0, 0), now.Add(time.Hour)})
		for _, c := range closes {
			boundSets = append(boundSets, []time.Time{c, c.Add(time.Microsecond), c.AddDate(0, 1, 3)}, []time.Time{c.Add(-time.Microsecond), c, now})
		}
		for range 6 {
			var bs []time.Time
			for range 2 + r.IntN(5) {
				bs = append(bs, months[0].Add(-72*time.Hour).Add(time.Duration(r.Int64N(int64(now.Sub(months[0])+96*time.Hour)))))
			}
			slices.SortFunc(bs, time.Time.Compare)
			bs = slices.CompactFunc(bs, time.Time.Equal)
			if len(bs) >= 2 {
				boundSets = append(boundSets, bs)
			}
		}
		for fi, f := range filters {
			for _, bounds := range boundSets {
				whole := oracleMovements(t, pool, f, bounds[0], bounds[len(bounds)-1])
				parts := make([][]string, len(bounds)-1)
				for i := range parts {
					parts[i] = oracleMovements(t, pool, f, bounds[i], bounds[i+1])
				}
				var gotWhole []string
				gotParts := make([][]string, len(bounds)-1)
				err := l.MovementsEach(ctx, f, bounds, func(m ledger.PeriodMovements) error {
					gotWhole = append(gotWhole, renderMovements(m.Whole))
					if len(m.Each) != len(parts) {
						t.Fatalf("%d parts, want %d", len(m.Each), len(parts))
					}
					for i, p := range m.Each {
						if p != nil {
							gotParts[i] = append(gotParts[i], renderMovements(*p))
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(gotWhole, whole) {
					t.Errorf("%s, filter %d, bounds %v: whole\n  %q\nwant\n  %q", step, fi, bounds, gotWhole, whole)
				}
				for i := range parts {
					if !slices.Equal(gotParts[i], parts[i]) {
						t.Errorf("%s, filter %d, bounds %v: part %d\n  %q\nwant\n  %q", step, fi, bounds, i, gotParts[i], parts[i])
					}
				}
				var single []string
				if err := l.Movements(ctx, f, bounds[0], bounds[len(bounds)-1], func(m ledger.Movements) error {
					single = append(single, renderMovements(m))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(single, whole) {
					t.Errorf("%s, filter %d, bounds %v: Movements\n  %q\nwant\n  %q", step, fi, bounds, single, whole)
				}
			}
		}
	}
	write(300, months[0], now)
	check("nothing closed", nil)
	var closes []time.Time
	for i := range 4 { // June to September
		if _, err := l.ClosePeriod(ctx, months[i].Format("2006-01"), months[i], months[i+1], "finance"); err != nil {
			t.Fatal(err)
		}
		closes = append(closes, months[i+1])
	}
	var kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM period_balances`).Scan(&kept); err != nil || kept == 0 {
		t.Fatalf("%d balances kept (%v): the closes keep none, and the test proves nothing of them", kept, err)
	}
	check("June to September closed", closes)
	write(150, months[4], now)
	check("more entries in the open months", closes)
	if _, err := l.ReopenPeriod(ctx, months[3].Format("2006-01"), "finance", "a late invoice"); err != nil {
		t.Fatal(err)
	}
	write(50, months[3], now)
	check("September reopened", closes[:3])
}

// TestMovementsEachRefusesBoundsThatDoNotAscend: fewer than two bounds,
// or bounds out of order or equal, are a caller's mistake.
func TestMovementsEachRefusesBoundsThatDoNotAscend(t *testing.T) {
	l, _ := newLedger(t)
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, bounds := range [][]time.Time{nil, {at}, {at, at}, {at, at.Add(time.Hour), at.Add(time.Minute)}} {
		if err := l.MovementsEach(context.Background(), ledger.MovementFilter{}, bounds, func(ledger.PeriodMovements) error { return nil }); err == nil {
			t.Errorf("bounds %v: no error", bounds)
		}
	}
}
