// Package books proves a test database's books the way finance reads them:
// the trial balance against the stored balances, the rebate and points
// roll-forwards against the balances as of their periods' ends (over the
// whole history, and split at an entry in the middle of it), and every
// reconciliation invariant. Every test that writes runs it when it ends:
// each test package hands Check to testdb.CheckBooks.
//
// The expected figures come from the ledger's own balance reads (the stored
// balance rows, and BalanceAsOf, which sums one account's postings), never
// from the report SQL under test. It only reads.
package books

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// maxReported is how many discrepancies Check reports one by one.
const maxReported = 20

// Check proves the books of the database at url and reports every
// discrepancy on tb. It is a testdb.Books.
func Check(tb testing.TB, url string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Errorf("books: %v", err)
		return
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Errorf("books: %v", err)
		return
	}
	defer pool.Close()
	proof, err := Verify(ctx, pool)
	if err != nil {
		tb.Errorf("books: %v", err)
		return
	}
	for i, p := range proof.Problems {
		if i == maxReported {
			tb.Errorf("books: and %d more discrepancies", len(proof.Problems)-i)
			break
		}
		tb.Errorf("books: %s", p)
	}
	tb.Logf("books: %s", proof.Summary)
}

// Proof is what Verify found.
type Proof struct {
	// Problems lists each discrepancy between a report and the balances, and
	// each failed invariant; none means the books are proven.
	Problems []string
	// Summary says what was compared.
	Summary string
}

// Verify proves the books of the database (see the package comment).
func Verify(ctx context.Context, pool *pgxpool.Pool) (Proof, error) {
	l := ledger.New(pool)
	p := &prover{ctx: ctx, pool: pool, l: l, fin: newFinance(pool, l), stored: map[string]decimal.Decimal{}, assets: map[string]ledger.Asset{}}
	if err := p.run(); err != nil {
		return Proof{}, err
	}
	return Proof{Problems: p.problems, Summary: p.summary}, nil
}

// newFinance is finance's reports on the database, wired as cmd/tally wires
// them.
func newFinance(pool *pgxpool.Pool, l *ledger.Ledger) *finance.Service {
	customers := loyalty.New(pool, l)
	return finance.New(l, customers, prepaid.New(l, customers))
}

type prover struct {
	ctx      context.Context
	pool     *pgxpool.Pool // to find the history's instants
	l        *ledger.Ledger
	fin      *finance.Service
	codes    []string                   // every account, in code order
	stored   map[string]decimal.Decimal // stored balances (the balance rows)
	assets   map[string]ledger.Asset
	problems []string
	summary  string
}

func (p *prover) fail(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// balances is a balance per account code; a missing code is zero.
type balances map[string]decimal.Decimal

func (p *prover) run() error {
	for after := ""; ; {
		page, err := p.l.Accounts(p.ctx, ledger.AccountFilter{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range page {
			p.codes = append(p.codes, a.Code)
			p.stored[a.Code], p.assets[a.Code] = a.Balance, a.Asset
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Code
	}

	// The history's instants: its first and last, and (with two or more) a
	// split at the middle one, s, whose predecessor is prev.
	var first, last *time.Time
	var instants int
	if err := p.pool.QueryRow(p.ctx, `SELECT min(effective_at), max(effective_at), count(DISTINCT effective_at)
FROM postings`).Scan(&first, &last, &instants); err != nil {
		return err
	}
	if instants == 0 {
		now := time.Now()
		first, last = &now, &now
	}
	end := last.Add(time.Microsecond) // a period's end is exclusive
	none := balances{}

	p.trialBalance(*last, p.stored, "all history")
	p.points(*first, end, none, p.stored)
	p.rebates(*first, end, none, p.stored)
	p.summary = fmt.Sprintf("%d accounts, %d instants from %s to %s", len(p.codes), instants,
		first.UTC().Format(time.RFC3339Nano), last.UTC().Format(time.RFC3339Nano))

	if instants >= 2 {
		var s, prev time.Time
		if err := p.pool.QueryRow(p.ctx, `SELECT s, (SELECT max(effective_at) FROM postings WHERE effective_at < s)
FROM (SELECT DISTINCT effective_at AS s FROM postings ORDER BY 1 OFFSET $1 LIMIT 1) x`, instants/2).Scan(&s, &prev); err != nil {
			return err
		}
		atPrev, err := p.asOf(prev)
		if err != nil {
			return err
		}
		atS, err := p.asOf(s)
		if err != nil {
			return err
		}
		p.trialBalance(s, atS, "mid-history")
		p.points(*first, s, none, atPrev)
		p.points(s, end, atPrev, p.stored)
		p.rebates(*first, s, none, atPrev)
		p.rebates(s, end, atPrev, p.stored)
		p.summary += fmt.Sprintf(", split at %s", s.UTC().Format(time.RFC3339Nano))
	}
	if err := p.reconcile(); err != nil {
		return err
	}
	p.summary += fmt.Sprintf("; %d discrepancies", len(p.problems))
	return nil
}

// asOf is every account's balance as of t (entries effective at or before
// it), summed from the postings alone; the ledger's own read
// (BalanceAsOf, which starts from the balances kept by closes) must say
// the same.
func (p *prover) asOf(t time.Time) (balances, error) {
	out := balances{}
	rows, err := p.pool.Query(p.ctx, `SELECT a.code, coalesce(sum(p.amount), 0) FROM accounts a
LEFT JOIN postings p ON p.account_id = a.id AND p.effective_at <= $1 GROUP BY a.code`, t)
	if err != nil {
		return nil, err
	}
	var (
		code string
		sum  decimal.Decimal
	)
	if _, err := pgx.ForEachRow(rows, []any{&code, &sum}, func() error {
		out[code] = sum
		return nil
	}); err != nil {
		return nil, err
	}
	for _, code := range p.codes {
		b, err := p.l.BalanceAsOf(p.ctx, code, t)
		if err != nil {
			return nil, err
		}
		if !b.Equal(out[code]) {
			p.fail("balance of %s as of %s: %s, its postings sum to %s", code, t.UTC().Format(time.RFC3339Nano), b, out[code])
		}
	}
	return out, nil
}

// trialBalance compares the trial balance as of asOf with want: every
// account once, on its side, and debits equal to credits per asset.
func (p *prover) trialBalance(asOf time.Time, want balances, what string) {
	seen := map[string]bool{}
	sums := map[ledger.Asset]*ledger.AssetTotal{}
	totals, err := p.l.TrialBalance(p.ctx, asOf, func(r ledger.TrialRow) error {
		if seen[r.Account] {
			p.fail("trial balance (%s): %s listed twice", what, r.Account)
		}
		seen[r.Account] = true
		asset, known := p.assets[r.Account]
		if !known {
			p.fail("trial balance (%s): %s is no account", what, r.Account)
		} else if r.Asset != asset {
			p.fail("trial balance (%s): %s in %s, the account holds %s", what, r.Account, r.Asset, asset)
		}
		if !r.Balance.Equal(want[r.Account]) {
			p.fail("trial balance (%s): %s = %s, its balance is %s", what, r.Account, r.Balance, want[r.Account])
		}
		debit, credit := decimal.Zero, r.Balance
		if r.Balance.IsNegative() {
			debit, credit = r.Balance.Neg(), decimal.Zero
		}
		if !r.Debit.Equal(debit) || !r.Credit.Equal(credit) {
			p.fail("trial balance (%s): %s debit %s credit %s for a balance of %s", what, r.Account, r.Debit, r.Credit, r.Balance)
		}
		s := sums[r.Asset]
		if s == nil {
			s = &ledger.AssetTotal{Asset: r.Asset}
			sums[r.Asset] = s
		}
		s.Debits, s.Credits = s.Debits.Add(debit), s.Credits.Add(credit)
		return nil
	})
	if err != nil {
		p.fail("trial balance (%s): %v", what, err)
		return
	}
	for _, code := range p.codes {
		if !seen[code] {
			p.fail("trial balance (%s): %s (balance %s) missing", what, code, want[code])
		}
	}
	for _, t := range totals {
		s := sums[t.Asset]
		if s == nil {
			p.fail("trial balance (%s): a total for %s, which has no rows", what, t.Asset)
			continue
		}
		delete(sums, t.Asset)
		if !t.Debits.Equal(s.Debits) || !t.Credits.Equal(s.Credits) {
			p.fail("trial balance (%s): %s totals %s / %s, its rows sum to %s / %s", what, t.Asset, t.Debits, t.Credits,
				s.Debits, s.Credits)
		}
		if !s.Debits.Equal(s.Credits) || !t.Balanced {
			p.fail("trial balance (%s): %s debits %s, credits %s, balanced=%v", what, t.Asset, s.Debits, s.Credits, t.Balanced)
		}
	}
	for asset := range sums {
		p.fail("trial balance (%s): no total for %s", what, asset)
	}
}

// points compares the points roll-forward for [from, to) with the balances
// at the period's opening and closing: the liability with the customers'
// points accounts, each movement with its platform account's change.
func (p *prover) points(from, to time.Time, open, close balances) {
	what := period(from, to)
	rep, err := p.fin.PointsRollForward(p.ctx, from, to)
	if err != nil {
		p.fail("points roll-forward %s: %v", what, err)
		return
	}
	var opening, closing decimal.Decimal
	for _, code := range p.codes {
		if _, ok := ledger.CustomerOf(code); ok && strings.HasSuffix(code, ":points") {
			opening, closing = opening.Add(open[code]), closing.Add(close[code])
		}
	}
	moved := func(code string) decimal.Decimal { return close[code].Sub(open[code]) }
	check := func(name string, got int64, want decimal.Decimal) {
		if !decimal.NewFromInt(got).Equal(want) {
			p.fail("points roll-forward %s: %s %d, the balances say %s", what, name, got, want)
		}
	}
	check("opening", rep.Opening, opening)
	check("closing", rep.Closing, closing)
	check("redeemed", rep.Redeemed, moved("platform:points:redeemed"))
	check("expired", rep.Expired, moved("platform:points:expired"))
	for _, ch := range finance.PointsChannels {
		check("earned "+ch, rep.Earned[ch], moved("platform:points:earned:"+ch).Neg())
	}
	var owedMoved decimal.Decimal
	for _, code := range p.codes {
		if _, ok := ledger.CustomerOf(code); ok && strings.HasSuffix(code, ":points_owed") {
			owedMoved = owedMoved.Add(moved(code))
		}
	}
	check("owed less settled", rep.Owed-rep.Settled, owedMoved.Neg())
	if rep.Owed < 0 || rep.Settled < 0 {
		p.fail("points roll-forward %s: owed %d, settled %d, neither may be negative", what, rep.Owed, rep.Settled)
	}
	if len(rep.Earned) != len(finance.PointsChannels) {
		p.fail("points roll-forward %s: channels %v, want %v", what, rep.Earned, finance.PointsChannels)
	}
	if rep.Opening+rep.EarnedTotal()-rep.Redeemed-rep.Expired+rep.Owed-rep.Settled != rep.Closing {
		p.fail("points roll-forward %s: %d + %d - %d - %d + %d - %d is not the closing %d", what, rep.Opening, rep.EarnedTotal(),
			rep.Redeemed, rep.Expired, rep.Owed, rep.Settled, rep.Closing)
	}
}

// rebates compares the rebate roll-forward for [from, to) with the
// customers' rebate balances at the period's opening and closing, per
// customer and in total.
func (p *prover) rebates(from, to time.Time, open, close balances) {
	what := period(from, to)
	rows := map[string]finance.RebateRow{}
	var sum finance.RebateRow
	total, err := p.fin.RebateReport(p.ctx, from, to, func(r finance.RebateRow) error {
		if _, dup := rows[r.CustomerID]; dup {
			p.fail("rebate roll-forward %s: %s listed twice", what, r.CustomerID)
		}
		rows[r.CustomerID] = r
		sum.Opening, sum.Granted, sum.Used = sum.Opening.Add(r.Opening), sum.Granted.Add(r.Granted), sum.Used.Add(r.Used)
		sum.ClawedBack, sum.Adjustments = sum.ClawedBack.Add(r.ClawedBack), sum.Adjustments.Add(r.Adjustments)
		sum.Closing, sum.Deposits = sum.Closing.Add(r.Closing), sum.Deposits.Add(r.Deposits)
		return nil
	})
	if err != nil {
		p.fail("rebate roll-forward %s: %v", what, err)
		return
	}
	var opening, closing decimal.Decimal
	customers := map[string]bool{}
	for _, code := range p.codes {
		c, ok := ledger.CustomerOf(code)
		if !ok || !(strings.HasSuffix(code, ":rebate") || strings.HasSuffix(code, ":prepaid")) {
			continue
		}
		customers[c] = true
		rebate := ledger.CustomerAccount(c, "rebate")
		if !strings.HasSuffix(code, ":rebate") {
			if _, has := p.assets[rebate]; has {
				continue // seen with its rebate account
			}
		}
		opening, closing = opening.Add(open[rebate]), closing.Add(close[rebate])
		r, listed := rows[c]
		if !listed {
			if !open[rebate].IsZero() || !close[rebate].IsZero() || !close[ledger.CustomerAccount(c, "prepaid")].IsZero() {
				p.fail("rebate roll-forward %s: %s missing (rebate %s to %s)", what, c, open[rebate], close[rebate])
			}
			continue
		}
		if !r.Opening.Equal(open[rebate]) || !r.Closing.Equal(close[rebate]) {
			p.fail("rebate roll-forward %s: %s opens %s and closes %s, the balances say %s and %s", what, c, r.Opening,
				r.Closing, open[rebate], close[rebate])
		}
	}
	for _, c := range sortedKeys(rows) {
		r := rows[c]
		if !customers[c] {
			p.fail("rebate roll-forward %s: a row for %s, who has no prepaid or rebate account", what, c)
		}
		identity(p, what, r)
	}
	identity(p, what, total)
	if !total.Opening.Equal(opening) || !total.Closing.Equal(closing) {
		p.fail("rebate roll-forward %s: the total opens %s and closes %s, the balances say %s and %s", what, total.Opening,
			total.Closing, opening, closing)
	}
	if !sum.Opening.Equal(total.Opening) || !sum.Granted.Equal(total.Granted) || !sum.Used.Equal(total.Used) ||
		!sum.ClawedBack.Equal(total.ClawedBack) || !sum.Adjustments.Equal(total.Adjustments) ||
		!sum.Closing.Equal(total.Closing) || !sum.Deposits.Equal(total.Deposits) {
		p.fail("rebate roll-forward %s: the customers sum to %+v, the total is %+v", what, sum, total)
	}
}

func identity(p *prover, what string, r finance.RebateRow) {
	if got := r.Opening.Add(r.Granted).Sub(r.Used).Sub(r.ClawedBack).Add(r.Adjustments); !got.Equal(r.Closing) {
		p.fail("rebate roll-forward %s: %s: %s + %s - %s - %s + %s = %s, not the closing %s", what, r.CustomerID,
			r.Opening, r.Granted, r.Used, r.ClawedBack, r.Adjustments, got, r.Closing)
	}
}

// reconcile runs every invariant, as finance reconciles.
func (p *prover) reconcile() error {
	r, err := p.fin.Reconcile(p.ctx)
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range r.Checks {
		if !c.Pass {
			failed++
			p.fail("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
	if len(r.Checks) == 0 || r.Pass != (failed == 0) {
		p.fail("reconciliation: pass=%v with %d checks, %d failed", r.Pass, len(r.Checks), failed)
	}
	return nil
}

func period(from, to time.Time) string {
	return "[" + from.UTC().Format(time.RFC3339Nano) + ", " + to.UTC().Format(time.RFC3339Nano) + ")"
}

// sortedKeys orders the messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
