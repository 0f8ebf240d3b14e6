package loyalty_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// A campaign's name may be 200 bytes once trimmed, not 201 and not empty;
// a refusal names the field.
func TestCampaignNameAtMost200Bytes(t *testing.T) {
	e := newEnv(t)
	campaign := func(id, name string) loyalty.Campaign {
		return loyalty.Campaign{Name: name, Campaign: rules.Campaign{ID: id, StartsAt: march(1, 0), EndsAt: march(31, 0),
			Multiplier: d("2")}}
	}
	if _, created, err := e.createCampaignAhead(campaign("long", " "+strings.Repeat("n", 200)+" ")); err != nil || !created {
		t.Errorf("a name of 200 bytes: created %t, %v", created, err)
	}
	for name, n := range map[string]string{"201": strings.Repeat("n", 201), "spaces": "   "} {
		_, _, err := e.createCampaignAhead(campaign("c"+name, n))
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Code != fault.Invalid || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"name"}) {
			t.Errorf("a name of %s: %v, want invalid naming the name", name, err)
		}
	}
}

// Campaigns read back carry the segments they were created with, sorted and
// without repeats, and none for a campaign that applies to every segment.
func TestCampaignsReadBackWithTheirSegments(t *testing.T) {
	e := newEnv(t)
	for id, segs := range map[string][]string{"all": nil, "some": {"vip", "mid", "vip"}} {
		if _, _, err := e.createCampaignAhead(loyalty.Campaign{Name: id, Campaign: rules.Campaign{ID: id,
			StartsAt: march(1, 0), EndsAt: march(31, 0), Multiplier: d("2"), Segments: segs}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []time.Time{{}, march(15, 0)} {
		got, err := e.Loyalty.Campaigns(e.Ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		segments := map[string][]string{}
		for _, c := range got {
			segments[c.ID] = c.Segments
		}
		if len(got) != 2 || len(segments["all"]) != 0 || !slices.Equal(segments["some"], []string{"mid", "vip"}) {
			t.Errorf("campaigns at %v: %v; want all with no segments, some with [mid vip]", at, segments)
		}
	}
}

// A new campaign starts at least 5.5 minutes ahead, as a rule version does:
// one starting sooner, or in the past, would price an event recorded late
// differently from one of the same instant recorded on time. (Found by
// review: a x5 campaign for 1 to 12 March, created on 15 March, gave 500
// points to a shipment of 10 March posted after it, where one posted
// before it had earned 100.) The same campaign sent again once it has
// started is still a no-op.
func TestACampaignStartsAhead(t *testing.T) {
	e := newEnv(t)
	now := e.Clock.Now()
	for name, start := range map[string]time.Time{
		"InThePast":          march(1, 0),
		"Now":                now,
		"InsideTheClockSkew": now.Add(5 * time.Minute),
		"JustShortOfTheLead": now.Add(5*time.Minute + 29*time.Second),
	} {
		_, _, err := e.Loyalty.CreateCampaign(e.Ctx, loyalty.Campaign{Name: name, Campaign: rules.Campaign{ID: name,
			StartsAt: start, EndsAt: march(31, 0), Multiplier: d("5")}})
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Code != fault.Invalid || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"starts_at"}) {
			t.Errorf("%s: %v, want invalid naming starts_at", name, err)
		}
	}
	if n := e.TableRows("campaigns"); n != 0 {
		t.Errorf("%d campaigns stored, want none", n)
	}
	ahead := loyalty.Campaign{Name: "ahead", Campaign: rules.Campaign{ID: "ahead",
		StartsAt: e.Clock.Now().Add(6 * time.Minute), EndsAt: march(31, 0), Multiplier: d("5")}}
	if _, created, err := e.Loyalty.CreateCampaign(e.Ctx, ahead); err != nil || !created {
		t.Fatalf("a campaign 6 minutes ahead: created %t, %v", created, err)
	}
	e.Clock.Add(time.Hour)
	if _, created, err := e.Loyalty.CreateCampaign(e.Ctx, ahead); err != nil || created {
		t.Errorf("the same campaign again, once started: created %t, %v; want a no-op", created, err)
	}
}
