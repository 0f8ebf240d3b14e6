package rules_test

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/rules"
)

// The worked examples of docs/RULES.md are checked here against the rules
// package with the default rule set. Every table of that file preceded by a
// line `<!-- example: NAME -->` is read, and each of its rows is checked by
// the function named NAME below; a marked table without a check, a check
// without its table, or a row that does not parse fails the test. So the
// document and the code cannot drift apart silently: a change to either
// that alters an example turns this test red until both say the same.
//
// The figures in the document were computed by hand from the rules as
// written there, never copied from the code's answers.
//
// Two tables are not answered by the rules package: the charge split
// (principal first, then rebate) is priced by the prepaid code, which
// loyalty's TestChargeDrawsPrincipalThenRebate checks on the same three
// rows; here the charge table is checked against the rule as the document
// states it. What a refund leaves owed when the customer no longer holds the
// points (the prose example after the take-back table) is likewise the
// loyalty code's, checked by TestRefundShortfallIsOwedAsTheRulesSay; its
// take-back figures are rows of the take-back table.

const rulesDoc = "../docs/RULES.md"

var exampleChecks = map[string]struct {
	columns int
	check   func(t *testing.T, rs rules.RuleSet, row []string)
}{
	"segments":        {5, checkSegmentRow},
	"levels":          {4, checkLevelRow},
	"tier":            {4, checkTierRow},
	"progress":        {4, checkProgressRow},
	"earning":         {7, checkEarningRow},
	"campaign-window": {3, checkCampaignWindowRow},
	"referral":        {7, checkReferralRow},
	"take-back":       {6, checkTakeBackRow},
	"expiry":          {3, checkExpiryRow},
	"rebate-schedule": {2, checkRebateScheduleRow},
	"rebate":          {4, checkRebateRow},
	"charge":          {7, checkChargeRow},
	"clawback":        {6, checkClawbackRow},
	"deposit-entry":   {3, nil}, // the whole table is one entry: checkDepositEntry
	"back-dating":     {4, checkBackdatingRow},
	"lifecycle":       {6, checkLifecycleRow},
}

func TestRulesDocExamplesAreWhatTheRulesAnswer(t *testing.T) {
	tables := readExampleTables(t, rulesDoc)
	for name := range tables {
		if _, ok := exampleChecks[name]; !ok {
			t.Errorf("%s marks a table %q that no check reads", rulesDoc, name)
		}
	}
	for name, ex := range exampleChecks {
		t.Run(name, func(t *testing.T) {
			rows, ok := tables[name]
			if !ok || len(rows) == 0 {
				t.Fatalf("%s has no rows under <!-- example: %s -->", rulesDoc, name)
			}
			for i, row := range rows {
				if len(row) != ex.columns {
					t.Fatalf("row %d has %d columns, want %d: %q", i+1, len(row), ex.columns, row)
				}
			}
			rs := rules.Default()
			if ex.check == nil {
				checkDepositEntry(t, rs, rows)
				return
			}
			for i, row := range rows {
				t.Run(fmt.Sprintf("%d_%s", i+1, row[0]), func(t *testing.T) { ex.check(t, rs, row) })
			}
		})
	}
}

var exampleMarker = regexp.MustCompile(`^<!-- example: ([a-z-]+) -->$`)

// readExampleTables returns the body rows (header and separator left out)
// of each marked table, cells trimmed and without backticks.
func readExampleTables(t *testing.T, path string) map[string][][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the rules document: %v", err)
	}
	defer f.Close()
	tables := map[string][][]string{}
	var current string
	var line int // within the current table: 1 header, 2 separator
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if m := exampleMarker.FindStringSubmatch(text); m != nil {
			if _, dup := tables[m[1]]; dup {
				t.Fatalf("%s marks two tables %q", path, m[1])
			}
			current, line = m[1], 0
			tables[current] = nil
			continue
		}
		if current == "" {
			continue
		}
		if !strings.HasPrefix(text, "|") {
			if line > 0 { // the table has ended
				current = ""
			}
			continue
		}
		line++
		if line <= 2 {
			continue
		}
		cells := strings.Split(strings.Trim(text, "|"), "|")
		for i, c := range cells {
			cells[i] = strings.TrimSpace(strings.ReplaceAll(c, "`", ""))
		}
		tables[current] = append(tables[current], cells)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// cny reads an amount as the document writes it: "12,345.67", "-493.82".
func cny(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	v, err := decimal.NewFromString(strings.ReplaceAll(strings.TrimSpace(s), ",", ""))
	if err != nil {
		t.Fatalf("not an amount: %q", s)
	}
	return v
}

func points(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("not a number of points: %q", s)
	}
	return n
}

func instant(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("not an RFC 3339 instant: %q", s)
	}
	return v
}

func yes(t *testing.T, s string) bool {
	t.Helper()
	switch s {
	case "yes":
		return true
	case "no":
		return false
	}
	t.Fatalf("not yes or no: %q", s)
	return false
}

// percent reads "4%" as 0.04.
func percent(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	p, ok := strings.CutSuffix(s, "%")
	if !ok {
		t.Fatalf("not a percentage: %q", s)
	}
	return cny(t, p).Shift(-2)
}

var tierCell = regexp.MustCompile(`^([a-z]+), level (\d+)$`)

// tier reads "mid, level 11".
func tier(t *testing.T, s string) rules.Tier {
	t.Helper()
	m := tierCell.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("not a tier: %q", s)
	}
	level, _ := strconv.Atoi(m[2])
	return rules.Tier{Segment: m[1], Level: level}
}

// exactOrElided checks a cell showing an exact quotient a/b: either all of
// it, or its first digits followed by "…" when it does not end there.
func exactOrElided(t *testing.T, what, cell string, a, b decimal.Decimal) {
	t.Helper()
	shown, elided := strings.CutSuffix(cell, "…")
	want := cny(t, shown)
	q, r := a.QuoRem(b, -want.Exponent())
	if !q.Equal(want) || r.IsZero() == elided {
		t.Errorf("%s: the document shows %s; %s / %s is %s", what, cell, a, b, a.DivRound(b, 12))
	}
}

var rangeCell = regexp.MustCompile(`^(?:below ([\d,.]+)|([\d,.]+) up to ([\d,.]+)|([\d,.]+) and more)$`)

// lowerBound reads "below 300", "300 up to 2,000" or "100,000 and more".
func lowerBound(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	m := rangeCell.FindStringSubmatch(s)
	switch {
	case m == nil:
		t.Fatalf("not a range: %q", s)
	case m[1] != "":
		return decimal.Zero
	case m[2] != "":
		return cny(t, m[2])
	}
	return cny(t, m[4])
}

func checkSegmentRow(t *testing.T, rs rules.RuleSet, row []string) {
	code := row[1]
	seg, ok := rs.Segment(code)
	if !ok {
		t.Fatalf("no segment %q in the default rules", code)
	}
	if from := lowerBound(t, row[2]); !seg.Min.Equal(from) {
		t.Errorf("%s starts at %s, the document says %s", code, seg.Min, from)
	}
	if want := fmt.Sprintf("%d to %d", seg.FirstLevel, seg.LastLevel); row[3] != want {
		t.Errorf("%s has levels %s, the document says %s", code, want, row[3])
	}
	if m := cny(t, row[4]); !seg.Multiplier.Equal(m) {
		t.Errorf("%s multiplies by %s, the document says %s", code, seg.Multiplier, m)
	}
	// The range's upper end is where the next segment starts.
	if m := rangeCell.FindStringSubmatch(row[2]); m[1] != "" || m[3] != "" {
		end := cny(t, m[1]+m[3])
		if got := rs.TierOf(end); got.Segment == code {
			t.Errorf("%s is still %s, the document says %s ends there", end, code, code)
		}
		if got := rs.TierOf(end.Sub(decimal.New(1, -2))); got.Segment != code {
			t.Errorf("a fen below %s is %s, the document says %s", end, got.Segment, code)
		}
	}
}

var lastResult = regexp.MustCompile(`= (\d+)$`)

func checkLevelRow(t *testing.T, rs rules.RuleSet, row []string) {
	c := cny(t, row[0])
	want := rules.Tier{Segment: row[1], Level: int(points(t, row[2]))}
	if got := rs.TierOf(c); got != want {
		t.Errorf("contribution %s: %s level %d, the document says %s level %d", c, got.Segment, got.Level, want.Segment, want.Level)
	}
	if m := lastResult.FindStringSubmatch(row[3]); m == nil || m[1] != row[2] {
		t.Errorf("the working %q does not end in the level %s", row[3], row[2])
	}
}

func checkTierRow(t *testing.T, rs rules.RuleSet, row []string) {
	want := tier(t, row[2])
	wantBasis := map[string]rules.Basis{"last month": rules.BasisLastMonth, "this month": rules.BasisThisMonth}[row[3]]
	if wantBasis == "" {
		t.Fatalf("set by %q: want last month or this month", row[3])
	}
	got, basis := rs.TierInEffect(cny(t, row[0]), cny(t, row[1]))
	if got != want || basis != wantBasis {
		t.Errorf("%s level %d set by %s, the document says %s level %d set by %s", got.Segment, got.Level, basis,
			want.Segment, want.Level, wantBasis)
	}
}

var targetCell = regexp.MustCompile(`^(?:([a-z]+), )?level (\d+): ([\d,.]+)$`)

func checkProgressRow(t *testing.T, rs rules.RuleSet, row []string) {
	nextLevel, nextSegment := rs.Progress(tier(t, row[0]), cny(t, row[1]))
	for _, c := range []struct {
		what string
		got  *rules.Target
		cell string
	}{{"next level", nextLevel, row[2]}, {"next segment", nextSegment, row[3]}} {
		if c.cell == "none" {
			if c.got != nil {
				t.Errorf("%s: %+v, the document says none", c.what, *c.got)
			}
			continue
		}
		m := targetCell.FindStringSubmatch(c.cell)
		if m == nil {
			t.Fatalf("%s: not a target: %q", c.what, c.cell)
		}
		if c.got == nil {
			t.Errorf("%s: none, the document says %s", c.what, c.cell)
			continue
		}
		level, _ := strconv.Atoi(m[2])
		if c.got.Level != level || !c.got.Needed.Equal(cny(t, m[3])) || (m[1] != "" && c.got.Segment != m[1]) {
			t.Errorf("%s: %s level %d needing %s, the document says %s", c.what, c.got.Segment, c.got.Level, c.got.Needed, c.cell)
		}
	}
}

// earningAt is when the document's earning examples happen, inside every
// campaign they list.
var earningAt = time.Date(2026, 11, 11, 10, 0, 0, 0, shanghai)

// shanghai is UTC+8, as the document writes its instants.
var shanghai = time.FixedZone("CST", 8*3600)

var campaignCell = regexp.MustCompile(`^×([\d.]+) for ([a-z, ]+)$`)

// campaigns reads "none" or "×1.5 for all; ×2 for mid, vip": each running
// through the whole of 11 November 2026 in Shanghai.
func campaigns(t *testing.T, s string) []rules.Campaign {
	t.Helper()
	if s == "none" {
		return nil
	}
	var out []rules.Campaign
	for i, part := range strings.Split(s, "; ") {
		m := campaignCell.FindStringSubmatch(part)
		if m == nil {
			t.Fatalf("not a campaign: %q", part)
		}
		c := rules.Campaign{ID: fmt.Sprintf("c%d", i+1), Multiplier: cny(t, m[1]),
			StartsAt: time.Date(2026, 11, 11, 0, 0, 0, 0, shanghai), EndsAt: time.Date(2026, 11, 12, 0, 0, 0, 0, shanghai)}
		if m[2] != "all" {
			c.Segments = strings.Split(m[2], ", ")
		}
		out = append(out, c)
	}
	return out
}

func checkEarningRow(t *testing.T, rs rules.RuleSet, row []string) {
	amount := cny(t, row[1])
	e := rs.EarnShipment(amount, rules.Tier{Segment: row[0]}, earningAt, campaigns(t, row[2]))
	if want := cny(t, row[3]); !e.CampaignMultiplier.Equal(want) {
		t.Errorf("campaign multiplier %s, the document says %s", e.CampaignMultiplier, want)
	}
	if !e.Base.Equal(amount) { // one point per CNY
		t.Errorf("base %s, want the shipment's %s", e.Base, amount)
	}
	if v, c, p := points(t, row[4]), points(t, row[5]), points(t, row[6]); e.Volume != v || e.CampaignPoints != c || e.Points != p {
		t.Errorf("volume %d + campaign %d = %d, the document says %d + %d = %d", e.Volume, e.CampaignPoints, e.Points, v, c, p)
	}
}

// doubleEleven is the campaign of the document's campaign-window table.
var doubleEleven = rules.Campaign{ID: "double-11",
	StartsAt:   time.Date(2026, 11, 11, 0, 0, 0, 0, shanghai),
	EndsAt:     time.Date(2026, 11, 12, 0, 0, 0, 0, shanghai),
	Multiplier: decimal.NewFromInt(2), Segments: []string{"mid", "vip"}}

func checkCampaignWindowRow(t *testing.T, _ rules.RuleSet, row []string) {
	if got, want := doubleEleven.Applies(instant(t, row[0]), row[1]), yes(t, row[2]); got != want {
		t.Errorf("applies %v, the document says %s", got, row[2])
	}
}

// referralAt is when the document's referral examples happen.
var referralAt = time.Date(2026, 3, 15, 10, 0, 0, 0, shanghai)

func checkReferralRow(t *testing.T, rs rules.RuleSet, row []string) {
	st := rules.ReferralState{HasReferrer: yes(t, row[0]), AlreadyQualified: yes(t, row[2]), PaidThisMonth: int(points(t, row[3]))}
	outcome, bonus, availableAt := rs.ReferralFor(cny(t, row[1]), referralAt, st)
	want := map[string]rules.ReferralOutcome{"none": rules.ReferralNone, "pending": rules.ReferralPending,
		"capped": rules.ReferralCapped}
	wantOutcome, ok := want[row[4]]
	if !ok {
		t.Fatalf("outcome %q: want none, pending or capped", row[4])
	}
	if outcome != wantOutcome || bonus != points(t, row[5]) {
		t.Errorf("outcome %q with %d points, the document says %s with %s", outcome, bonus, row[4], row[5])
	}
	if row[6] != "—" && !availableAt.Equal(instant(t, row[6])) {
		t.Errorf("available from %s, the document says %s", availableAt.Format(time.RFC3339), row[6])
	}
	if row[6] == "—" && outcome == rules.ReferralPending {
		t.Error("a pending bonus needs its available-from instant in the document")
	}
}

func checkTakeBackRow(t *testing.T, _ rules.RuleSet, row []string) {
	got := rules.TakeBack(points(t, row[0]), cny(t, row[1]), cny(t, row[2]), cny(t, row[3]), points(t, row[4]))
	if want := points(t, row[5]); got != want {
		t.Errorf("takes back %d, the document says %d", got, want)
	}
}

func checkExpiryRow(t *testing.T, rs rules.RuleSet, row []string) {
	earned := instant(t, row[0])
	if local := earned.In(rs.Location()).Format("2006-01-02 15:04"); local != row[1] {
		t.Errorf("%s is %s in %s, the document says %s", row[0], local, rs.Timezone, row[1])
	}
	if got := rs.ExpiresAt(earned); !got.Equal(instant(t, row[2])) {
		t.Errorf("expires at %s, the document says %s", got.Format(time.RFC3339), row[2])
	}
}

// checkBackdatingRow: the occurred_at is accepted exactly when it is not
// before the earliest instant the window of backdating_days allows.
func checkBackdatingRow(t *testing.T, rs rules.RuleSet, row []string) {
	recorded, occurred := instant(t, row[0]), instant(t, row[1])
	days, err := strconv.Atoi(row[2])
	if err != nil {
		t.Fatalf("not a number of days: %q", row[2])
	}
	rs.BackdatingDays = days
	if got := !occurred.Before(rs.EarliestOccurredAt(recorded)); got != yes(t, row[3]) {
		t.Errorf("recorded at %s, occurred at %s, window %d days: accepted %v, the document says %s", row[0], row[1], days, got, row[3])
	}
}

func checkRebateScheduleRow(t *testing.T, rs rules.RuleSet, row []string) {
	from, rate := lowerBound(t, row[0]), percent(t, row[1])
	for _, tier := range rs.Rebates {
		if tier.Min.Equal(from) {
			if !tier.Rate.Equal(rate) {
				t.Errorf("from %s the rate is %s, the document says %s", from, tier.Rate, row[1])
			}
			return
		}
	}
	t.Errorf("no rebate tier starts at %s", from)
}

func checkRebateRow(t *testing.T, rs rules.RuleSet, row []string) {
	deposit, wantRate := cny(t, row[0]), percent(t, row[1])
	if exact := cny(t, row[2]); !deposit.Mul(wantRate).Equal(exact) {
		t.Errorf("the document's product %s is not %s × %s", row[2], deposit, wantRate)
	}
	rate, rebate := rs.Rebate(deposit)
	if want := cny(t, row[3]); !rate.Equal(wantRate) || !rebate.Equal(want) || rebate.Exponent() < -2 {
		t.Errorf("rate %s rebate %s, the document says %s and %s", rate, rebate, row[1], row[3])
	}
}

// checkChargeRow checks the row against the rule as the document states it
// (principal first, then rebate; refused whole when both are short): the
// charge split is not the rules package's (see the comment at the top).
func checkChargeRow(t *testing.T, _ rules.RuleSet, row []string) {
	principal, rebate, charge := cny(t, row[0]), cny(t, row[1]), cny(t, row[2])
	afterP, afterR := cny(t, row[5]), cny(t, row[6])
	if charge.GreaterThan(principal.Add(rebate)) {
		if row[3] != "refused" || row[4] != "refused" || !afterP.Equal(principal) || !afterR.Equal(rebate) {
			t.Errorf("a charge over principal and rebate is refused whole and changes nothing: %q", row)
		}
		return
	}
	fromP := decimal.Min(charge, principal)
	fromR := charge.Sub(fromP)
	if !cny(t, row[3]).Equal(fromP) || !cny(t, row[4]).Equal(fromR) || !afterP.Equal(principal.Sub(fromP)) ||
		!afterR.Equal(rebate.Sub(fromR)) {
		t.Errorf("principal first: %s from principal, %s from rebate, leaving %s and %s; the document says %q",
			fromP, fromR, principal.Sub(fromP), rebate.Sub(fromR), row)
	}
}

func checkClawbackRow(t *testing.T, _ rules.RuleSet, row []string) {
	principal, rebate, w := cny(t, row[0]), cny(t, row[1]), cny(t, row[2])
	exactOrElided(t, "rebate × principal after ÷ principal before", row[3], rebate.Mul(principal.Sub(w)), principal)
	claw := rules.Clawback(rebate, principal, w)
	if left, want := rebate.Sub(claw), cny(t, row[4]); !left.Equal(want) {
		t.Errorf("leaves rebate %s, the document says %s", left, want)
	}
	if want := cny(t, row[5]); !claw.Equal(want) {
		t.Errorf("claws back %s, the document says %s", claw, want)
	}
}

// checkDepositEntry: the postings of one deposit balance, debits are the
// negative ones, and the rebate is the rate table's for the deposit.
func checkDepositEntry(t *testing.T, rs rules.RuleSet, rows [][]string) {
	byAccount := map[string]decimal.Decimal{}
	sum := decimal.Zero
	for _, row := range rows {
		amount := cny(t, row[1])
		if side := map[bool]string{true: "debit", false: "credit"}[amount.IsNegative()]; row[2] != side {
			t.Errorf("%s %s is a %s, the document says %s", row[0], row[1], side, row[2])
		}
		byAccount[row[0]] = amount
		sum = sum.Add(amount)
	}
	if !sum.IsZero() {
		t.Errorf("the postings sum to %s, not zero", sum)
	}
	deposit := byAccount["customer:C1:prepaid"]
	_, rebate := rs.Rebate(deposit)
	want := map[string]decimal.Decimal{"platform:cash": deposit.Neg(), "customer:C1:prepaid": deposit,
		"platform:rebate:expense": rebate.Neg(), "customer:C1:rebate": rebate}
	if len(byAccount) != len(want) {
		t.Errorf("postings to %d accounts, want %d", len(byAccount), len(want))
	}
	for account, amount := range want {
		if got, ok := byAccount[account]; !ok || !got.Equal(amount) {
			t.Errorf("%s: the document says %s, want %s", account, got, amount)
		}
	}
}

// checkLifecycleRow: first month (or "-"), the contributions of March to
// June 2026, and the stage at the end of June.
func checkLifecycleRow(t *testing.T, rs rules.RuleSet, row []string) {
	first := rules.Month(row[0])
	if row[0] == "-" {
		first = ""
	}
	months := map[rules.Month]decimal.Decimal{}
	for i, m := range []rules.Month{"2026-03", "2026-04", "2026-05", "2026-06"} {
		months[m] = cny(t, row[1+i])
	}
	if got := rs.Lifecycle.StageOf("2026-06", first, months).Stage; got != row[5] {
		t.Errorf("first %s, March to June %v: %s, the document says %s", row[0], row[1:5], got, row[5])
	}
}
