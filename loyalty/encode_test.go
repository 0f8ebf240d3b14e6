package loyalty

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/jsonw"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/rules"
)

// TestEncodersMatchEncodingJSON: the hand-written JSON of a result and of
// the notices' payloads (encode.go) is, byte for byte, what encoding/json
// writes with HTML escaping off, over random values: every optional part
// present or absent, zero and negative numbers, strings with quotes,
// control characters, HTML characters, non-ASCII, invalid UTF-8 and the
// line separators encoding/json escapes, times in any zone with or without
// fractions of a second.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 29))
	std := func(v any) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	g := gen{r}
	nonZero := map[string]bool{} // "Type.Field" seen set: a field the generator never sets is not tested
	for i := range 20000 {
		res := g.result()
		if got, want := res.AppendJSON(nil), std(res); !bytes.Equal(got, want) {
			t.Fatalf("result %d:\n got %s\nwant %s", i, got, want)
		}
		earned := Earned{Points: g.int(), Channel: g.str(), EntryID: g.int(), EventID: g.str(), ShipmentID: g.str(),
			Pricing: Pricing{RuleVersion: r.IntN(5), Tier: res.Tier, Contribution: res.Contribution, Earning: res.Earning,
				Referral: res.Referral, Feedback: res.Feedback}}
		if r.IntN(2) == 0 {
			at := g.time()
			earned.AvailableAt = &at
		}
		if got, want := earned.AppendJSON(nil), std(earned); !bytes.Equal(got, want) {
			t.Fatalf("points.earned %d:\n got %s\nwant %s", i, got, want)
		}
		change := TierChange{From: g.tier(), To: g.tier(), Direction: g.str(), Month: rules.Month(g.str())}
		if r.IntN(2) == 0 {
			change.EventID = g.str()
		}
		if got, want := change.AppendJSON(nil), std(change); !bytes.Equal(got, want) {
			t.Fatalf("customer.tier_changed %d:\n got %s\nwant %s", i, got, want)
		}
		for _, v := range []any{res, earned, change} {
			markNonZero(reflect.ValueOf(v), nonZero)
		}
	}
	for _, v := range []any{Result{}, Earned{}, TierChange{}} {
		checkAllSeen(t, reflect.TypeOf(v), nonZero)
	}
}

// markNonZero records the exported fields of v's structs (through
// pointers) that hold a value other than their zero.
func markNonZero(v reflect.Value, seen map[string]bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type().PkgPath() == "time" || v.Type() == reflect.TypeFor[decimal.Decimal]() {
		return
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !v.Field(i).IsZero() {
			seen[v.Type().Name()+"."+f.Name] = true
		}
		markNonZero(v.Field(i), seen)
	}
}

// checkAllSeen fails for an exported field of t's structs that the
// generator never set.
func checkAllSeen(t *testing.T, typ reflect.Type, seen map[string]bool) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ.PkgPath() == "time" || typ == reflect.TypeFor[decimal.Decimal]() {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if !seen[typ.Name()+"."+f.Name] {
			t.Errorf("%s.%s: the generator never sets it, so its JSON is not compared", typ.Name(), f.Name)
		}
		checkAllSeen(t, f.Type, seen)
	}
}

type gen struct{ r *rand.Rand }

var pieces = []string{"", "a", "C00042", "evt-1", "ship.7:x", `"`, `\`, "\n", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&",
	"积分", "é", "\u2028", "\u2029", "\xff", "\xe2\x82", "😀", " ", "/", "{", "}"}

func (g gen) str() string {
	var s string
	for range g.r.IntN(5) {
		s += pieces[g.r.IntN(len(pieces))]
	}
	return s
}

func (g gen) int() int64 {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -g.r.Int64N(1 << 40)
	}
	return g.r.Int64N(1 << 50)
}

func (g gen) dec() decimal.Decimal {
	return decimal.New(g.int(), -int32(g.r.IntN(8)))
}

func (g gen) time() time.Time {
	t := time.Unix(g.r.Int64N(4_000_000_000), 0)
	if g.r.IntN(2) == 0 {
		t = t.Add(time.Duration(g.r.Int64N(int64(time.Second))))
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 8*3600), time.FixedZone("", -5*3600-1800)}
	return t.In(zones[g.r.IntN(len(zones))])
}

func (g gen) tier() rules.Tier { return rules.Tier{Segment: g.str(), Level: g.r.IntN(7) - 1} }

func (g gen) maybe() bool { return g.r.IntN(2) == 0 }

func (g gen) result() Result {
	res := Result{EventID: g.str(), Type: g.str(), CustomerID: g.str(), ShipmentID: g.str(), OccurredAt: g.time(),
		RuleVersion: g.r.IntN(9), Points: g.int(), Preview: g.maybe()}
	if g.maybe() {
		id := g.int()
		res.EntryID = &id
	}
	if g.maybe() {
		tier := g.tier()
		res.Tier = &tier
	}
	if g.maybe() {
		res.Contribution = &Change{Month: rules.Month(g.str()), Before: money.Of(g.dec()), After: money.Of(g.dec())}
	}
	if g.maybe() {
		e := rules.Earning{Base: g.dec(), Multiplier: g.dec(), CampaignMultiplier: g.dec(), Volume: g.int(),
			CampaignPoints: g.int(), Points: g.int()}
		if g.maybe() {
			c := g.str()
			e.Campaign = &c
		}
		res.Earning = &e
	}
	if g.maybe() {
		res.Referral = &Referral{ReferrerID: g.str(), Status: g.str(), Points: g.int(), AvailableAt: g.time()}
		if g.maybe() {
			res.Referral.PointsOwed = g.int()
		}
	}
	if g.maybe() {
		res.Refund = &Refund{Refunded: money.Of(g.dec()), TotalRefunded: money.Of(g.dec()), PointsDue: g.int(), PointsTakenBack: g.int(),
			PointsOwed: g.int()}
		if g.maybe() {
			res.Refund.RatingPoints = g.int()
		}
	}
	if g.maybe() {
		res.Feedback = &Feedback{Rating: g.r.IntN(7) - 1, Points: g.int()}
	}
	return res
}

// TestMarshalledMatchesJSONMarshal: an event (whose hash tells a retry from
// a conflicting reuse of its id, against hashes stored by earlier releases)
// and an entry's metadata are written, byte for byte, as json.Marshal
// writes them (HTML escaping on), over random values: plain strings, which
// are written by hand, and strings that need escaping, and times out of
// json's range, which go through json.Marshal.
func TestMarshalledMatchesJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 7))
	g := gen{r}
	plain := []string{"", "a", "C00042", "evt-1", "ship.7:x", "shipment.completed", "Gold level/2", "x y~z"}
	word := func() string {
		if g.maybe() {
			return plain[r.IntN(len(plain))] + plain[r.IntN(len(plain))]
		}
		return g.str()
	}
	byHand := 0
	nonZero := map[string]bool{}
	for i := range 20000 {
		ev := Event{EventID: word(), Type: word(), CustomerID: word(), OccurredAt: g.time(), ShipmentID: word()}
		if r.IntN(50) == 0 {
			ev.OccurredAt = time.Date(10000+r.IntN(5), 1, 2, 3, 4, 5, 0, time.UTC)
		}
		if g.maybe() {
			a := g.dec()
			ev.Amount = &a
		}
		if g.maybe() {
			n := r.IntN(11) - 5
			ev.Rating = &n
		}
		want, _ := json.Marshal(ev)
		if got := ev.appendMarshalled(nil); !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
		res := g.result()
		if res.Tier != nil && g.maybe() {
			res.Tier.Segment = word() // plain more often than g.str
		}
		m := metadataOf(ev, res)
		want, _ = json.Marshal(m)
		if got := m.appendMarshalled(nil); !bytes.Equal(got, want) {
			t.Fatalf("metadata %d:\n got %s\nwant %s", i, got, want)
		}
		if jsonw.Plain(ev.EventID) && jsonw.Plain(ev.Type) && jsonw.Plain(ev.CustomerID) && jsonw.Plain(ev.ShipmentID) {
			byHand++
		}
		markNonZero(reflect.ValueOf(ev), nonZero)
		markNonZero(reflect.ValueOf(m), nonZero)
	}
	if byHand < 1000 {
		t.Errorf("only %d events written by hand: the test does not exercise that path", byHand)
	}
	for _, v := range []any{Event{}, entryMeta{}} {
		checkAllSeen(t, reflect.TypeOf(v), nonZero)
	}
}
