package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/rules"
)

// What partner events announce (package notify), written in the group's
// transaction with one statement for the whole group: points.earned for
// every credit of points to a customer (a shipment's, a referral bonus to
// the referrer, a rating's) and customer.tier_changed when a shipment
// raises its customer's tier in effect. Replays and refusals announce
// nothing. The notices are made from the events' results, so an event
// written in a group and the same event written alone announce the same.

// Earned is the payload of a points.earned notification.
type Earned struct {
	Points      int64      `json:"points,string"`
	Channel     string     `json:"channel"` // volume, referral or feedback
	EntryID     int64      `json:"entry_id"`
	EventID     string     `json:"event_id"`
	ShipmentID  string     `json:"shipment_id"`
	AvailableAt *time.Time `json:"available_at,omitempty"` // a referral bonus: pending until then
	Pricing     Pricing    `json:"pricing"`
}

// Pricing is how an event was priced, as its Result explains it.
type Pricing struct {
	RuleVersion  int            `json:"rule_version"`
	Tier         *rules.Tier    `json:"tier,omitempty"`
	Contribution *Change        `json:"contribution,omitempty"`
	Earning      *rules.Earning `json:"earning,omitempty"`
	Referral     *Referral      `json:"referral,omitempty"`
	Feedback     *Feedback      `json:"feedback,omitempty"`
}

// TierChange is the payload of a customer.tier_changed notification.
type TierChange struct {
	From      rules.Tier  `json:"from"`
	To        rules.Tier  `json:"to"`
	Direction string      `json:"direction"` // up or down
	Month     rules.Month `json:"month"`
	EventID   string      `json:"event_id,omitempty"`
}

// notices are what an event recorded with result res announces.
func notices(res Result) []notify.Event {
	if res.EntryID == nil && res.raised == nil {
		return nil
	}
	pricing := Pricing{RuleVersion: res.RuleVersion, Tier: res.Tier, Contribution: res.Contribution, Earning: res.Earning,
		Referral: res.Referral, Feedback: res.Feedback}
	earned := func(customer, channel string, points int64, availableAt *time.Time) notify.Event {
		return notify.Event{Type: notify.PointsEarned, Customer: customer, OccurredAt: res.OccurredAt, Payload: Earned{
			Points: points, Channel: channel, EntryID: *res.EntryID, EventID: res.EventID, ShipmentID: res.ShipmentID,
			AvailableAt: availableAt, Pricing: pricing}}
	}
	var out []notify.Event
	if res.EntryID != nil {
		if e := res.Earning; e != nil && e.Points > 0 {
			out = append(out, earned(res.CustomerID, "volume", e.Points, nil))
		}
		if f := res.Feedback; f != nil && f.Points > 0 {
			out = append(out, earned(res.CustomerID, "feedback", f.Points, nil))
		}
		if r := res.Referral; r != nil && r.Status == string(rules.ReferralPending) && r.Points > 0 {
			out = append(out, earned(r.ReferrerID, "referral", r.Points, &r.AvailableAt))
		}
	}
	if res.raised != nil && res.Tier != nil {
		out = append(out, notify.Event{Type: notify.TierChanged, Customer: res.CustomerID, OccurredAt: res.OccurredAt,
			Payload: TierChange{From: *res.Tier, To: *res.raised, Direction: "up", Month: res.Contribution.Month, EventID: res.EventID}})
	}
	return out
}

// groupNotices gathers what a group's events announce, to be written with
// one statement: queued into a batch the group sends anyway when it can,
// else on its own at the group's end.
type groupNotices struct {
	events []notify.Event
	queued bool
}

// add gathers what an outcome announces: nothing for a refusal or a replay.
func (g *groupNotices) add(o Outcome) {
	if o.Err == nil && !o.Replayed {
		g.events = append(g.events, notices(o.Result)...)
	}
}

// queue queues the notices gathered into b, the group's last batch.
func (g *groupNotices) queue(b *pgx.Batch, now time.Time) error {
	g.queued = true
	return notify.Queue(b, now, g.events...)
}

// write writes the notices gathered, unless they were queued.
func (g *groupNotices) write(ctx context.Context, tx *ledger.Tx) error {
	if g.queued {
		return nil
	}
	_, err := notify.Emit(ctx, tx, g.events...)
	return err
}
