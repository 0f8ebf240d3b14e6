package loyalty_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// A manual entry may be effective at most the back-dating window (60 days
// of 24 hours by default) before it is recorded: exactly 60 days is
// accepted, a nanosecond more refused.
func TestCheckEffectiveAtAllowsTheBackdatingWindowAndNoMore(t *testing.T) {
	e := newEnv(t)
	now := servicetest.Start
	earliest := now.Add(-rules.DefaultBackdatingDays * 24 * time.Hour)
	if err := e.Loyalty.CheckEffectiveAt(e.Ctx, now, earliest); err != nil {
		t.Errorf("effective exactly 60 days before: %v", err)
	}
	servicetest.WantCode(t, e.Loyalty.CheckEffectiveAt(e.Ctx, now, earliest.Add(-time.Nanosecond)), fault.OccurredAtTooOld)
}

// A lot credited outside of events is available at once and expires at the
// end of the 12th calendar month after (DOMAIN.md: earned 2026-03-15,
// expires 2027-04-01T00:00:00+08:00).
func TestLotAtExpiresAtTheEndOfThe12thMonthAfter(t *testing.T) {
	e := newEnv(t)
	at := march(15, 12)
	lot, err := e.Loyalty.LotAt(e.Ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai); lot == nil || !lot.AvailableAt.Equal(at) || !lot.ExpiresAt.Equal(want) {
		t.Errorf("lot %+v, want available at %v, expiring at %v", lot, at, want)
	}
}

// Rule versions page by version: the defaults (version 1) first, a page of
// one continues after its version, a last page exactly full has no cursor;
// a page is 1 to MaxRuleVersionPage versions, after a version (0: from the
// first).
func TestRuleVersionPagesEndWhereTheVersionsDo(t *testing.T) {
	e := newEnv(t)
	for _, m := range []time.Month{4, 5} {
		rs := rules.Default()
		rs.EffectiveFrom = time.Date(2026, m, 1, 0, 0, 0, 0, shanghai)
		if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		after, limit int
		want         []int
		next         int
	}{
		{0, 1, []int{1}, 1},
		{0, 2, []int{1, 2}, 2},
		{1, 2, []int{2, 3}, 0},
		{0, 3, []int{1, 2, 3}, 0},
		{2, 1, []int{3}, 0},
		{0, loyalty.MaxRuleVersionPage, []int{1, 2, 3}, 0},
	} {
		page, next, err := e.Loyalty.RuleVersionPage(e.Ctx, p.after, p.limit)
		if err != nil {
			t.Fatalf("after %d, %d: %v", p.after, p.limit, err)
		}
		var got []int
		for _, rs := range page {
			got = append(got, rs.Version)
		}
		if !slices.Equal(got, p.want) || next != p.next {
			t.Errorf("after %d, %d: versions %v next %d; want %v next %d", p.after, p.limit, got, next, p.want, p.next)
		}
	}
	for _, p := range [][2]int{{0, 0}, {0, loyalty.MaxRuleVersionPage + 1}, {-1, 1}} {
		_, _, err := e.Loyalty.RuleVersionPage(e.Ctx, p[0], p[1])
		servicetest.WantCode(t, err, fault.Invalid)
	}
}

// A new version starts at least 5.5 minutes after it is stored (docs/RULES.md:
// events may arrive 5 minutes ahead and servers trust their list of
// versions for 30 seconds): 5.5 minutes ahead is accepted, a microsecond
// less refused naming effective_from, and none given means exactly then.
func TestPutRulesStartsAtLeastFiveAndAHalfMinutesAhead(t *testing.T) {
	e := newEnv(t)
	earliest := servicetest.Start.Add(5*time.Minute + 30*time.Second)
	rs := rules.Default()
	rs.EffectiveFrom = earliest.Add(-time.Microsecond)
	_, err := e.Loyalty.PutRules(e.Ctx, rs, "test")
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"effective_from"}) {
		t.Errorf("a version a microsecond short of 5.5 minutes ahead: %v, want invalid naming effective_from", err)
	}
	rs.EffectiveFrom = time.Time{}
	if stored, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil || !stored.EffectiveFrom.Equal(earliest) {
		t.Errorf("a version of no effective_from: from %v, %v; want from %v", stored.EffectiveFrom, err, earliest)
	}
	rs.EffectiveFrom = earliest.Add(time.Minute)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Errorf("a version after the latest: %v", err)
	}
}

// RuleVersions reads on past a full page: the defaults and
// MaxRuleVersionPage versions more are all listed, oldest first.
func TestRuleVersionsListsMoreThanAPage(t *testing.T) {
	e := newEnv(t)
	want := []int{1}
	for i := range loyalty.MaxRuleVersionPage {
		rs := rules.Default()
		rs.EffectiveFrom = servicetest.Start.Add(time.Hour + time.Duration(i)*time.Minute)
		stored, err := e.Loyalty.PutRules(e.Ctx, rs, "test")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, stored.Version)
	}
	all, err := e.Loyalty.RuleVersions(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, rs := range all {
		got = append(got, rs.Version)
	}
	if !slices.Equal(got, want) || want[len(want)-1] != loyalty.MaxRuleVersionPage+1 {
		t.Errorf("%d versions listed (last %v), want %d: 1 to %d", len(got), got[max(0, len(got)-1):], len(want), loyalty.MaxRuleVersionPage+1)
	}
}
