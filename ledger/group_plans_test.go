package ledger_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A group of money movements or redemptions runs on generic plans
// (loyalty.WriteGroup): each statement Tx.Post and the group's reads run
// must find its rows through an index on them, whatever the plan guessed of
// its arrays, never by scanning the accounts, their balances or their lots.
func TestTheStatementsOfAGroupProbeTheirIndexesOnGenericPlans(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	// 3,000 customers with three lots each, written as the ledger writes them.
	l := ledger.New(pool)
	var ins []ledger.EntryInput
	for i := range 3000 {
		for k := range 3 {
			ins = append(ins, ledger.EntryInput{Kind: "earn", Actor: "test", Postings: []ledger.PostingInput{
				{Account: "platform:points:earned:volume", Amount: decimal.NewFromInt(-10)},
				{Account: fmt.Sprintf("customer:G%d:points", i), Amount: decimal.NewFromInt(10),
					Lot: &ledger.Lot{ExpiresAt: time.Now().AddDate(1, k, 0)}},
			}})
		}
	}
	if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, ins, nil, nil) }); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE accounts; ANALYZE balance_buckets; ANALYZE points_lots; ANALYZE postings`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expiry := now.AddDate(1, 0, 0)
	codes := []string{"customer:G7:points", "platform:points:redeemed"}
	for name, c := range map[string]struct {
		query string
		args  []any
	}{
		"postings": {ledger.QInsertPostings, []any{codes, []decimal.Decimal{decimal.NewFromInt(5), decimal.NewFromInt(-5)}, now,
			[]*time.Time{&expiry, nil}}},
		"balance":             {ledger.QAddBalance, []any{codes[0], decimal.NewFromInt(-5)}},
		"platform":            {ledger.QManyBalances, []any{codes[1:], []string{"5"}, 0}},
		"balances":            {ledger.QBalances, []any{codes}},
		"lots summary":        {ledger.QLotSummary, []any{codes[0], now, now}},
		"shared lot":          {ledger.QCreateLot, []any{codes[0], int64(5), now, expiry, true}},
		"own lot":             {ledger.QCreateLot, []any{codes[0], int64(5), now.AddDate(0, 0, 14), expiry, false}},
		"available":           {ledger.QAvailablePoints, []any{codes, now}},
		"open to lock":        {ledger.QOpenToLock, []any{codes[:1], []string{"PTS"}, now}},
		"lock":                {ledger.QLockBalances, []any{codes[:1]}},
		"accounts of entries": {ledger.QAccountsOfEntries, []any{[]int64{1, 2}}},
	} {
		plan := testdb.GenericPlan(t, pool, c.query, c.args...)
		if scan := regexp.MustCompile(`Seq Scan on (accounts|balance_buckets|points_lots|postings)\b`).FindString(plan); scan != "" {
			t.Errorf("%s: the generic plan has a %s:\n%s", name, scan, plan)
		}
	}
}

// A statement page runs on its generic plan (InTxGeneric): each account's
// index scan starts at the page's bound, the cursor's posting or the
// horizon, an index condition whatever the page, not a filter of every
// posting newer than it, which "$2 = 0 OR (xid, entry_id) < cursor" was.
func TestAStatementPageStartsAtItsCursorOnItsGenericPlan(t *testing.T) {
	pool := testdb.Pool(t)
	plan := testdb.GenericPlanWith(t, pool, []string{"enable_seqscan = off"}, ledger.QAccountsStatement,
		[]string{"customer:C1:points"}, int64(0), 50, uint64(0))
	scan := regexp.MustCompile(`(?m)^.*Scan Backward using postings_account_xid on postings.*\n\s*Index Cond: (.*)$`).FindStringSubmatch(plan)
	if scan == nil || !strings.Contains(scan[1], "(ROW(xid, entry_id) < ROW(") {
		t.Errorf("each account's newest postings are not read from the page's bound on:\n%s", plan)
	}
	if strings.Contains(plan, "Filter: ((") && strings.Contains(plan, "= 0) OR") {
		t.Errorf("the generic plan tests the cursor row by row:\n%s", plan)
	}
}

// An account's statement (Ledger.Statement) on its generic plans: a page
// starts its index scan at its cursor, of an account that may not go
// negative (by posting id) or of a hot one (by xid and entry, as does the
// sum of the postings above the page), instead of testing each posting
// above the cursor, as "$2 = 0 OR ..." made the generic plan do: a page
// deep in a platform account's million postings read all those before it.
func TestAnAccountsStatementPageStartsAtItsCursorOnItsGenericPlans(t *testing.T) {
	pool := testdb.Pool(t)
	for _, c := range []struct {
		name, query, index, cond string
		args                     []any
	}{
		{"a page by posting id", ledger.QStatementPage, "postings_account_id_nonnegative", "(id < $2)", []any{int64(1), int64(9), 51}},
		{"a hot account's page", ledger.QHotStatementPage, "postings_account_xid", "(ROW(xid, entry_id) < ROW($2, $3))",
			[]any{int64(1), uint64(5), int64(9), 51}},
		{"the sum above a hot account's page", ledger.QHotStatementAbove, "postings_account_xid", "(ROW(xid, entry_id) >= ROW($2, $3))",
			[]any{int64(1), uint64(5), int64(9)}},
		{"the sum below a hot account's page", ledger.QHotStatementBelow, "postings_account_xid", "(ROW(xid, entry_id) < ROW($2, $3))",
			[]any{int64(1), uint64(5), int64(9)}},
		{"the sum of at most so many above a hot account's page", ledger.QHotAboveAtMost, "postings_account_xid", "(ROW(xid, entry_id) >= ROW($2, $3))",
			[]any{int64(1), uint64(5), int64(9), 2001}},
		{"a hot account's least and greatest xid", ledger.QHotEnds, "postings_account_xid", "(account_id = $1)", []any{int64(1)}},
		{"a hot account's cursor posting", ledger.QHotCursor, "postings_pkey", "(entry_id = $2)", []any{int64(1), int64(9)}},
	} {
		plan := testdb.GenericPlanWith(t, pool, []string{"enable_seqscan = off", "enable_bitmapscan = off"}, c.query, c.args...)
		cond := regexp.MustCompile(`(?m)^.*Index (Only )?Scan (Backward )?using ` + c.index + ` on postings.*\n\s*Index Cond: (.*)$`).FindStringSubmatch(plan)
		if cond == nil || !strings.Contains(cond[3], "(account_id = $1)") || !strings.Contains(cond[3], c.cond) {
			t.Errorf("%s: the generic plan does not start at the cursor, %s on %s:\n%s", c.name, c.cond, c.index, plan)
		}
		if strings.Contains(plan, "Filter:") {
			t.Errorf("%s: the generic plan filters postings one by one:\n%s", c.name, plan)
		}
	}
}

// What a group reads of the postings dated after its debits
// (QueuePostedAfter, in every money group, on its generic plan) starts
// each account's index scan at the account's instant: an index condition,
// not a filter of every posting the account ever had, which a join on the
// account alone made it (the read of a customer with a long history cost
// that history, in every group, however little was dated after).
func TestWhatIsDatedAfterADebitIsReadFromItsInstantOnItsGenericPlan(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	var ins []ledger.EntryInput
	at := time.Now().Add(-time.Hour)
	for i := range 300 {
		for k := range 30 {
			ins = append(ins, ledger.EntryInput{Kind: "deposit", Actor: "test", EffectiveAt: at.Add(time.Duration(k) * time.Second),
				Postings: []ledger.PostingInput{
					{Account: "platform:cash", Amount: decimal.NewFromInt(-10)},
					{Account: fmt.Sprintf("customer:G%d:prepaid", i), Amount: decimal.NewFromInt(10)},
				}})
		}
	}
	if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, ins, nil, nil) }); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE accounts; ANALYZE postings`); err != nil {
		t.Fatal(err)
	}
	plan := testdb.GenericPlan(t, pool, ledger.QPostedAfter, []string{"customer:G7:prepaid", "customer:G8:prepaid"},
		[]time.Time{time.Now(), time.Now()})
	cond := regexp.MustCompile(`(?m)^.*(Scan using postings_account_effective on postings|Bitmap Index Scan on postings_account_effective).*\n\s*Index Cond: (.*)$`).
		FindStringSubmatch(plan)
	if cond == nil || !strings.Contains(cond[2], "(effective_at > ") {
		t.Errorf("each account's postings are not read from its instant on:\n%s", plan)
	}
	if strings.Contains(plan, "Join Filter: (") || strings.Contains(plan, "Seq Scan on postings") {
		t.Errorf("the generic plan tests the account's postings one by one:\n%s", plan)
	}
}
