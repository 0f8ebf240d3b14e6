package loyalty_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// createCampaign stores a campaign of multiplier 2 for the window.
func (e *env) createCampaign(id string, from, to time.Time) {
	e.T.Helper()
	if _, _, err := e.createCampaignAhead(loyalty.Campaign{Name: id, Campaign: rules.Campaign{ID: id,
		StartsAt: from, EndsAt: to, Multiplier: d("2")}}); err != nil {
		e.T.Fatal(err)
	}
}

func campaignIDs(cs []loyalty.Campaign) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// Campaigns page by id: a page of one continues after its campaign, a last
// page exactly full has no cursor, and asked at an instant only the
// campaigns active then (starts_at <= t < ends_at) are paged.
func TestCampaignPagesEndWhereTheCampaignsDo(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"a", "b", "c"} {
		e.createCampaign(id, march(1, 0), march(31, 0))
	}
	e.createCampaign("d", march(1, 0), march(5, 0)) // over by March 15

	for _, p := range []struct {
		at        time.Time
		after     string
		limit     int
		want      []string
		wantAfter string
	}{
		{time.Time{}, "", 1, []string{"a"}, "a"},
		{time.Time{}, "a", 3, []string{"b", "c", "d"}, ""},
		{time.Time{}, "", 4, []string{"a", "b", "c", "d"}, ""},
		{march(15, 0), "", 1, []string{"a"}, "a"},
		{march(15, 0), "a", 2, []string{"b", "c"}, ""},
		{march(15, 0), "", 3, []string{"a", "b", "c"}, ""},
	} {
		page, next, err := e.Loyalty.CampaignPage(e.Ctx, p.at, p.after, p.limit)
		if err != nil {
			t.Fatalf("at %v after %q, %d: %v", p.at, p.after, p.limit, err)
		}
		if got := campaignIDs(page); !slices.Equal(got, p.want) || next != p.wantAfter {
			t.Errorf("at %v after %q, %d: %v next %q; want %v next %q", p.at, p.after, p.limit, got, next, p.want, p.wantAfter)
		}
	}
	for _, limit := range []int{0, loyalty.MaxCampaignPage + 1} {
		_, _, err := e.Loyalty.CampaignPage(e.Ctx, time.Time{}, "", limit)
		servicetest.WantCode(t, err, fault.Invalid)
	}
}

// Campaigns reads on past a full page: MaxCampaignPage + 1 campaigns are
// all listed, in id order.
func TestCampaignsListsMoreThanAPage(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range loyalty.MaxCampaignPage + 1 {
		id := fmt.Sprintf("c%04d", i)
		e.createCampaign(id, march(1, 0), march(31, 0))
		want = append(want, id)
	}
	for _, at := range []time.Time{{}, march(15, 0)} {
		got, err := e.Loyalty.Campaigns(e.Ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if ids := campaignIDs(got); !slices.Equal(ids, want) {
			t.Errorf("campaigns at %v: %d of them, %v ... ; want %d", at, len(ids), ids[max(0, len(ids)-2):], len(want))
		}
	}
}
