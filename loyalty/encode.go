package loyalty

import (
	"encoding/json"

	"github.com/tally-ledger/tally/internal/jsonw"
	"github.com/tally-ledger/tally/rules"
)

// The JSON of what an event writes once per event (its result, stored and
// answered, and the payloads of its notices), appended by hand: the same
// bytes encoding/json writes for these types, member for member
// (TestEncodersMatchEncodingJSON), at a fraction of the cost. A field
// added to one of these types must be added here too: the test fails until
// its generator sets the field, and then until it is written here.

// AppendJSON appends the result's JSON.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "event_id"), r.EventID)
	b = jsonw.String(jsonw.Key(b, "type"), r.Type)
	b = jsonw.String(jsonw.Key(b, "customer_id"), r.CustomerID)
	b = jsonw.String(jsonw.Key(b, "shipment_id"), r.ShipmentID)
	b = jsonw.Time(jsonw.Key(b, "occurred_at"), r.OccurredAt)
	b = jsonw.Key(b, "entry_id")
	if r.EntryID == nil {
		b = jsonw.Null(b)
	} else {
		b = jsonw.Int(b, *r.EntryID)
	}
	b = jsonw.Int(jsonw.Key(b, "rule_version"), int64(r.RuleVersion))
	b = appendPriced(b, r.Tier, r.Contribution, r.Earning, r.Referral, r.Refund, r.Feedback)
	b = jsonw.QuotedInt(jsonw.Key(b, "points"), r.Points)
	if r.Preview {
		b = jsonw.Bool(jsonw.Key(b, "preview"), true)
	}
	return append(b, '}')
}

func appendTier(b []byte, t rules.Tier) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "segment"), t.Segment)
	b = jsonw.Int(jsonw.Key(b, "level"), int64(t.Level))
	return append(b, '}')
}

func appendEarning(b []byte, e *rules.Earning) []byte {
	b = append(b, '{')
	b = jsonw.Decimal(jsonw.Key(b, "base"), e.Base)
	b = jsonw.Decimal(jsonw.Key(b, "multiplier"), e.Multiplier)
	b = jsonw.Key(b, "campaign")
	if e.Campaign == nil {
		b = jsonw.Null(b)
	} else {
		b = jsonw.String(b, *e.Campaign)
	}
	b = jsonw.Decimal(jsonw.Key(b, "campaign_multiplier"), e.CampaignMultiplier)
	b = jsonw.QuotedInt(jsonw.Key(b, "volume"), e.Volume)
	b = jsonw.QuotedInt(jsonw.Key(b, "campaign_points"), e.CampaignPoints)
	b = jsonw.QuotedInt(jsonw.Key(b, "points"), e.Points)
	return append(b, '}')
}

func (c *Change) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "month"), string(c.Month))
	b = c.Before.AppendJSON(jsonw.Key(b, "before"))
	b = c.After.AppendJSON(jsonw.Key(b, "after"))
	return append(b, '}')
}

func (r *Referral) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "referrer_id"), r.ReferrerID)
	b = jsonw.String(jsonw.Key(b, "status"), r.Status)
	b = jsonw.QuotedInt(jsonw.Key(b, "points"), r.Points)
	if r.PointsOwed != 0 {
		b = jsonw.QuotedInt(jsonw.Key(b, "points_owed"), r.PointsOwed)
	}
	b = jsonw.Time(jsonw.Key(b, "available_at"), r.AvailableAt)
	return append(b, '}')
}

func (r *Refund) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = r.Refunded.AppendJSON(jsonw.Key(b, "refunded"))
	b = r.TotalRefunded.AppendJSON(jsonw.Key(b, "total_refunded"))
	b = jsonw.QuotedInt(jsonw.Key(b, "points_due"), r.PointsDue)
	b = jsonw.QuotedInt(jsonw.Key(b, "points_taken_back"), r.PointsTakenBack)
	b = jsonw.QuotedInt(jsonw.Key(b, "points_owed"), r.PointsOwed)
	if r.RatingPoints != 0 {
		b = jsonw.QuotedInt(jsonw.Key(b, "rating_points"), r.RatingPoints)
	}
	return append(b, '}')
}

func (f *Feedback) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.Int(jsonw.Key(b, "rating"), int64(f.Rating))
	b = jsonw.QuotedInt(jsonw.Key(b, "points"), f.Points)
	return append(b, '}')
}

// AppendJSON appends the points.earned payload's JSON.
func (e Earned) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.QuotedInt(jsonw.Key(b, "points"), e.Points)
	b = jsonw.String(jsonw.Key(b, "channel"), e.Channel)
	b = jsonw.Int(jsonw.Key(b, "entry_id"), e.EntryID)
	b = jsonw.String(jsonw.Key(b, "event_id"), e.EventID)
	b = jsonw.String(jsonw.Key(b, "shipment_id"), e.ShipmentID)
	if e.AvailableAt != nil {
		b = jsonw.Time(jsonw.Key(b, "available_at"), *e.AvailableAt)
	}
	b = e.Pricing.appendJSON(jsonw.Key(b, "pricing"))
	return append(b, '}')
}

func (p *Pricing) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonw.Int(jsonw.Key(b, "rule_version"), int64(p.RuleVersion))
	b = appendPriced(b, p.Tier, p.Contribution, p.Earning, p.Referral, nil, p.Feedback)
	return append(b, '}')
}

// appendPriced appends the members a result and its pricing share, in the
// order both declare them (a pricing has no refund), each omitted when nil.
func appendPriced(b []byte, tier *rules.Tier, c *Change, e *rules.Earning, ref *Referral, refund *Refund, f *Feedback) []byte {
	if tier != nil {
		b = appendTier(jsonw.Key(b, "tier"), *tier)
	}
	if c != nil {
		b = c.appendJSON(jsonw.Key(b, "contribution"))
	}
	if e != nil {
		b = appendEarning(jsonw.Key(b, "earning"), e)
	}
	if ref != nil {
		b = ref.appendJSON(jsonw.Key(b, "referral"))
	}
	if refund != nil {
		b = refund.appendJSON(jsonw.Key(b, "refund"))
	}
	if f != nil {
		b = f.appendJSON(jsonw.Key(b, "feedback"))
	}
	return b
}

// AppendJSON appends the customer.tier_changed payload's JSON.
func (t TierChange) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendTier(jsonw.Key(b, "from"), t.From)
	b = appendTier(jsonw.Key(b, "to"), t.To)
	b = jsonw.String(jsonw.Key(b, "direction"), t.Direction)
	b = jsonw.String(jsonw.Key(b, "month"), string(t.Month))
	if t.EventID != "" {
		b = jsonw.String(jsonw.Key(b, "event_id"), t.EventID)
	}
	return append(b, '}')
}

// What json.Marshal writes (HTML escaping on) for an event, which its hash
// is taken of, and for an entry's metadata: appended by hand when every
// string in them is plain (jsonw.Plain) and json writes the event's time
// at all (jsonw.TimeEncodes), through json.Marshal otherwise, so that the bytes are
// json.Marshal's always (TestMarshalledMatchesJSONMarshal): a stored
// event's hash must not change.

func (ev *Event) appendMarshalled(b []byte) []byte {
	if !jsonw.TimeEncodes(ev.OccurredAt) ||
		!jsonw.Plain(ev.EventID) || !jsonw.Plain(ev.Type) || !jsonw.Plain(ev.CustomerID) || !jsonw.Plain(ev.ShipmentID) {
		m, _ := json.Marshal(ev) // a time json refuses: nil, as hashEvent always took it
		return append(b, m...)
	}
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "event_id"), ev.EventID)
	b = jsonw.String(jsonw.Key(b, "type"), ev.Type)
	b = jsonw.String(jsonw.Key(b, "customer_id"), ev.CustomerID)
	b = jsonw.Time(jsonw.Key(b, "occurred_at"), ev.OccurredAt)
	b = jsonw.String(jsonw.Key(b, "shipment_id"), ev.ShipmentID)
	if ev.Amount != nil {
		b = jsonw.Decimal(jsonw.Key(b, "amount"), *ev.Amount)
	}
	if ev.Rating != nil {
		b = jsonw.Int(jsonw.Key(b, "rating"), int64(*ev.Rating))
	}
	return append(b, '}')
}

func (m *entryMeta) appendMarshalled(b []byte) []byte {
	if !jsonw.Plain(m.EventID) || !jsonw.Plain(m.CustomerID) || !jsonw.Plain(m.ShipmentID) || !jsonw.Plain(m.Segment) ||
		m.Campaign != nil && !jsonw.Plain(*m.Campaign) {
		j, _ := json.Marshal(m)
		return append(b, j...)
	}
	b = append(b, '{')
	b = jsonw.String(jsonw.Key(b, "event_id"), m.EventID)
	b = jsonw.String(jsonw.Key(b, "customer_id"), m.CustomerID)
	b = jsonw.String(jsonw.Key(b, "shipment_id"), m.ShipmentID)
	if m.Segment != "" {
		b = jsonw.String(jsonw.Key(b, "segment"), m.Segment)
	}
	if m.Level != 0 {
		b = jsonw.Int(jsonw.Key(b, "level"), int64(m.Level))
	}
	if m.Multiplier != nil {
		b = jsonw.Decimal(jsonw.Key(b, "multiplier"), *m.Multiplier)
	}
	if m.Campaign != nil {
		b = jsonw.String(jsonw.Key(b, "campaign"), *m.Campaign)
	}
	if m.CampaignMultiplier != nil {
		b = jsonw.Decimal(jsonw.Key(b, "campaign_multiplier"), *m.CampaignMultiplier)
	}
	if m.PointsDue != nil {
		b = jsonw.Int(jsonw.Key(b, "points_due"), *m.PointsDue)
	}
	if m.PointsOwed != nil {
		b = jsonw.Int(jsonw.Key(b, "points_owed"), *m.PointsOwed)
	}
	if m.RatingPoints != 0 {
		b = jsonw.Int(jsonw.Key(b, "rating_points"), m.RatingPoints)
	}
	if m.ReferralOwed != 0 {
		b = jsonw.Int(jsonw.Key(b, "referral_points_owed"), m.ReferralOwed)
	}
	return append(b, '}')
}
