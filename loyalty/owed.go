package loyalty

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
)

// Points owed. A refund takes back what the customer still holds of what
// it is due; the rest is owed (a row of points_owed, and a debit of the
// customer's points_owed account). Whatever points reach the customer next
// settle what they owe first, oldest refund first, each settlement an entry
// of its own (KindSettlement): every write that credits or spends a
// customer's points (an event of theirs, a redemption, a cancelled
// redemption) settles before it spends and after it credits. Points that
// reach the customer without a write of theirs (a pending referral bonus
// becoming available, a manual credit) are settled by their next such
// write, before anything is spent; until then the customer's available
// points are shown net of what they owe.

// KindSettlement is the kind of the entry that settles points owed: Dr the
// customer's points, Cr their points_owed account.
const KindSettlement = "points.settled"

// Settled is one refund's share of a settlement.
type Settled struct {
	RefundEntryID int64  `json:"refund_entry_id"`
	ShipmentID    string `json:"shipment_id"`
	Points        int64  `json:"points,string"`
}

// SettleOwed settles what the customer owes from their available points,
// oldest refund first, in one entry recorded by actor, and returns the
// points settled: 0 when they owe nothing or hold nothing available. The
// caller holds the customer's lock (LockCustomer), as every write of their
// points does; SettleOwed locks their points balance.
func SettleOwed(ctx context.Context, tx *ledger.Tx, customerID, actor string) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT refund_entry_id, shipment_id, owed - settled FROM points_owed
WHERE customer_id = $1 AND settled < owed ORDER BY refund_entry_id FOR UPDATE`, customerID)
	if err != nil {
		return 0, err
	}
	open, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Settled, error) {
		var s Settled
		err := row.Scan(&s.RefundEntryID, &s.ShipmentID, &s.Points)
		return s, err
	})
	if err != nil || len(open) == 0 {
		return 0, err
	}
	held, owedNow, err := holding(ctx, tx, customerID)
	if err != nil {
		return 0, err
	}
	// What the account says is owed bounds a settlement too: a correction
	// posted by hand to the account may have forgiven part of it.
	left := min(held.Available, owedNow)
	var settles []Settled
	var total int64
	for _, o := range open {
		if left <= 0 {
			break
		}
		o.Points = min(o.Points, left)
		left -= o.Points
		total += o.Points
		settles = append(settles, o)
	}
	return total, settle(ctx, tx, customerID, actor, settles, lotsFrom{})
}

// SettleOwedOnReturn settles what the customer owes once the entry
// returned has put back the points the redemption entry redeemed had
// spent: first from the points it put back into lots that have expired
// since, then from their available points (SettleOwed). It returns the
// points settled.
//
// Points returned expired settle a debt only where, had the redemption not
// been, the take-back that left the debt would have found them: a debt
// left after the redemption, by a refund of the customer's own shipment
// (which takes available points, soonest to expire first) from the points
// of any lot that expired after it, or by a cancelled referral bonus
// (which takes what is left of the bonus's own lot) from the points of
// that lot if it expired after the refund. Points that had expired before
// the refund, and debts from before the redemption, stay as they are: the
// debt owed, the points for the expiry run. Oldest debt first, each from
// the soonest-expiring points it may take, in one entry drawing from
// exactly those lots.
//
// What points reaching the customer between the refund and the
// cancellation settled stays settled: it is not given back when the
// returned points could have settled it.
func SettleOwedOnReturn(ctx context.Context, tx *ledger.Tx, customerID, actor string, redeemed, returned int64) (int64, error) {
	points := ledger.CustomerAccount(customerID, "points")
	lots, err := tx.ReturnedExpired(ctx, points, returned)
	if err != nil {
		return 0, err
	}
	if len(lots) == 0 { // nothing came back expired
		return SettleOwed(ctx, tx, customerID, actor)
	}
	// own: a refund of the customer's own shipment; bonus: a referral
	// bonus's debt, the entry that paid the bonus.
	rows, err := tx.Query(ctx, `SELECT o.refund_entry_id, o.shipment_id, o.owed - o.settled, e.recorded_at,
    EXISTS (SELECT FROM shipments s WHERE s.shipment_id = o.shipment_id AND s.customer_id = o.customer_id),
    (SELECT rb.entry_id FROM referral_bonuses rb WHERE rb.shipment_id = o.shipment_id AND rb.referrer_id = o.customer_id)
FROM points_owed o JOIN entries e ON e.id = o.refund_entry_id
WHERE o.customer_id = $1 AND o.settled < o.owed AND o.refund_entry_id > $2
ORDER BY o.refund_entry_id FOR UPDATE OF o`, customerID, redeemed)
	if err != nil {
		return 0, err
	}
	type debt struct {
		Settled
		refundedAt time.Time
		own        bool
		bonus      *int64 // the entry that paid the bonus
		bonusLot   int64  // and the lot it went into
	}
	debts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (debt, error) {
		var d debt
		err := row.Scan(&d.RefundEntryID, &d.ShipmentID, &d.Points, &d.refundedAt, &d.own, &d.bonus)
		return d, err
	})
	if err != nil {
		return 0, err
	}
	for i := range debts {
		if d := &debts[i]; !d.own && d.bonus != nil {
			if d.bonusLot, err = tx.CreditedLot(ctx, points, *d.bonus); err != nil {
				return 0, err
			}
		}
	}
	var total int64
	if len(debts) > 0 {
		held, owedNow, err := holding(ctx, tx, customerID)
		if err != nil {
			return 0, err
		}
		// Bounded by what the account says is owed (see SettleOwed) and by
		// the expired points the account holds.
		left := min(held.Balance-held.Available-held.Pending, owedNow)
		var settles []Settled
		taken := map[int64]int64{}
		for _, d := range debts {
			s := d.Settled
			s.Points = 0
			for i := range lots {
				l := &lots[i]
				may := l.ExpiresAt.After(d.refundedAt) && (d.own || d.bonusLot == l.LotID)
				if take := min(d.Points-s.Points, l.Points, left); take > 0 && may {
					s.Points += take
					l.Points -= take
					left -= take
					taken[l.LotID] += take
				}
			}
			if s.Points > 0 {
				settles = append(settles, s)
				total += s.Points
			}
		}
		var from []ledger.LotTake
		for _, l := range lots { // in the order they were read
			if taken[l.LotID] > 0 {
				from = append(from, ledger.LotTake{LotID: l.LotID, Points: taken[l.LotID]})
			}
		}
		if err := settle(ctx, tx, customerID, actor, settles, lotsFrom{expired: from}); err != nil {
			return 0, err
		}
	}
	more, err := SettleOwed(ctx, tx, customerID, actor)
	return total + more, err
}

// holding locks the customer's points balance and reads their lots as of
// the transaction's Now, and what their points_owed account says they owe.
func holding(ctx context.Context, tx *ledger.Tx, customerID string) (ledger.LotSummary, int64, error) {
	points := ledger.CustomerAccount(customerID, "points")
	if err := tx.LockBalance(ctx, points); err != nil {
		return ledger.LotSummary{}, 0, err
	}
	held, err := tx.LotSummary(ctx, points, tx.Now())
	if err != nil {
		return held, 0, err
	}
	owed, err := tx.Balances(ctx, ledger.CustomerAccount(customerID, "points_owed"))
	if err != nil {
		return held, 0, err
	}
	return held, -owed[0].IntPart(), nil
}

// lotsFrom are the lots a settlement draws from: by default the available
// ones; or exactly the points of the expired lots expired names; or the
// lot the entry bonus credited (a cancelled referral bonus's, pending or
// not).
type lotsFrom struct {
	expired []ledger.LotTake
	bonus   int64
}

// settle records a settlement of what the customer owes: an entry of
// KindSettlement moving the settles' points from their points account
// (the lots from names) to their points_owed account, and each refund's
// share. Nothing settles nothing.
func settle(ctx context.Context, tx *ledger.Tx, customerID, actor string, settles []Settled, from lotsFrom) error {
	var total int64
	for _, s := range settles {
		total += s.Points
	}
	if total <= 0 {
		return nil
	}
	meta, err := json.Marshal(struct {
		CustomerID string    `json:"customer_id"`
		Settles    []Settled `json:"settles"`
		Expired    bool      `json:"from_expired_returns,omitempty"`
		Bonus      bool      `json:"from_cancelled_bonus,omitempty"`
	}{customerID, settles, from.expired != nil, from.bonus != 0})
	if err != nil {
		return err
	}
	points := ledger.CustomerAccount(customerID, "points")
	entry, err := tx.Post(ctx, ledger.EntryInput{Kind: KindSettlement, Actor: actor, Metadata: meta,
		Postings: []ledger.PostingInput{
			{Account: points, Amount: decimal.NewFromInt(-total), FromLots: from.expired, DrawFrom: from.bonus},
			{Account: ledger.CustomerAccount(customerID, "points_owed"), Amount: decimal.NewFromInt(total)},
		}})
	if err != nil {
		return err
	}
	refunds, amounts := make([]int64, len(settles)), make([]int64, len(settles))
	for i, s := range settles {
		refunds[i], amounts[i] = s.RefundEntryID, s.Points
	}
	var b pgx.Batch
	b.Queue(`INSERT INTO points_settlements (settlement_entry_id, refund_entry_id, customer_id, points)
SELECT $1, u.refund, $4, u.points FROM unnest($2::bigint[], $3::bigint[]) AS u (refund, points)`, entry.ID, refunds, amounts,
		customerID)
	b.Queue(`UPDATE points_owed o SET settled = o.settled + u.points
FROM unnest($1::bigint[], $2::bigint[]) AS u (refund, points) WHERE o.refund_entry_id = u.refund AND o.customer_id = $3`,
		refunds, amounts, customerID)
	return tx.SendBatch(ctx, &b).Close()
}

// recordOwed records what the refund entry could not take back from the
// customer (the refunded shipment's customer, or the referrer whose bonus
// it cancels).
func recordOwed(ctx context.Context, tx *ledger.Tx, refundEntryID int64, customerID, shipmentID string, due, owed int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO points_owed (refund_entry_id, customer_id, shipment_id, due, owed)
VALUES ($1, $2, $3, $4, $5)`, refundEntryID, customerID, shipmentID, due, owed)
	return err
}
