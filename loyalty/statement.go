package loyalty

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Balances is what a customer checks most: points by availability, prepaid
// money, and tier.
type Balances struct {
	CustomerID string        `json:"customer_id"`
	Segment    string        `json:"segment"`
	Level      int           `json:"level"`
	Points     PointsSummary `json:"points"`
	Prepaid    Prepaid       `json:"prepaid"`
}

// Prepaid is a customer's prepaid money: principal and rebate, CNY.
type Prepaid struct {
	Principal decimal.Decimal `json:"principal"`
	Rebate    decimal.Decimal `json:"rebate"`
}

// Balances reads the customer's balances now, in one statement: one round
// trip and one snapshot, so that it stays fast while events are written.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Balances(ctx context.Context, customerID string) (Balances, error) {
	b := Balances{CustomerID: customerID}
	if !ledger.ValidCustomerID(customerID) {
		return b, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + customerID}
	}
	now := s.now()
	pool := s.ledger.Pool()
	rs, err := s.rulesAt(ctx, pool, now)
	if err != nil {
		return b, err
	}
	this := rs.MonthOf(now)
	var (
		known             bool
		last, thisMonth   decimal.Decimal
		principal, rebate decimal.Decimal
	)
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1),
    coalesce((SELECT contribution FROM customer_months WHERE customer_id = $1 AND month = $2), 0),
    coalesce((SELECT contribution FROM customer_months WHERE customer_id = $1 AND month = $3), 0),
    l.balance, l.available, l.pending, l.expiring,
    coalesce((SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
              WHERE a.code = $7), 0),
    coalesce((SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
              WHERE a.code = $8), 0)
FROM (SELECT coalesce(sum(l.remaining), 0) AS balance,
        coalesce(sum(l.remaining) FILTER (WHERE l.available_at <= $4 AND l.expires_at > $4), 0) AS available,
        coalesce(sum(l.remaining) FILTER (WHERE l.available_at > $4), 0) AS pending,
        coalesce(sum(l.remaining) FILTER (WHERE l.available_at <= $4 AND l.expires_at > $4 AND l.expires_at <= $5), 0) AS expiring
      FROM points_lots l JOIN accounts a ON a.id = l.account_id
      WHERE a.code = $6 AND l.remaining > 0) l`,
		customerID, string(this.Prev()), string(this), now, now.Add(expiringSoon), ledger.CustomerAccount(customerID, "points"),
		ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate")).
		Scan(&known, &last, &thisMonth, &b.Points.Balance, &b.Points.Available, &b.Points.Pending, &b.Points.ExpiringSoon,
			&principal, &rebate)
	if err != nil {
		return b, err
	}
	if !known {
		return b, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + customerID}
	}
	tier, _ := rs.TierInEffect(last, thisMonth)
	b.Segment, b.Level = tier.Segment, tier.Level
	b.Prepaid = Prepaid{Principal: principal.Round(2), Rebate: rebate.Round(2)}
	return b, nil
}

// StatementEntry is an entry of a customer's statement.
type StatementEntry struct {
	EntryID     int64      `json:"entry_id"`
	Kind        string     `json:"kind"`
	EffectiveAt time.Time  `json:"effective_at"`
	RecordedAt  time.Time  `json:"recorded_at"`
	Description string     `json:"description"`
	Movements   []Movement `json:"movements"`
}

// Movement is what an entry did to one of the customer's accounts.
type Movement struct {
	Account      string          `json:"account"`
	Asset        ledger.Asset    `json:"asset"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
}

// Statement lists the entries that moved the customer's accounts, newest
// first, limit at a time; before is the keyset cursor (0 for the first page,
// then the previous page's next). next is 0 on the last page.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Statement(ctx context.Context, customerID string, before int64, limit int) ([]StatementEntry, int64, error) {
	var (
		out  []StatementEntry
		next int64
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		out, next = []StatementEntry{}, 0
		if _, err := customer(ctx, tx, customerID, false); err != nil {
			return err
		}
		codes := []string{ledger.CustomerAccount(customerID, "points"), ledger.CustomerAccount(customerID, "prepaid"),
			ledger.CustomerAccount(customerID, "rebate")}
		// Each account's newest entries from its own index (account_id,
		// entry_id), then merged: never a walk over everyone's postings.
		rows, err := tx.Query(ctx, `WITH accts AS (SELECT id FROM accounts WHERE code = ANY($1)),
ids AS (
    SELECT DISTINCT x.entry_id FROM accts CROSS JOIN LATERAL (
        SELECT p.entry_id FROM postings p
        WHERE p.account_id = accts.id AND ($2 = 0 OR p.entry_id < $2)
        ORDER BY p.entry_id DESC LIMIT $3) x
    ORDER BY x.entry_id DESC LIMIT $3)
SELECT e.id, e.kind, e.effective_at, e.recorded_at, e.metadata, e.reason, a.code, p.asset, p.amount, p.balance_after
FROM ids JOIN entries e ON e.id = ids.entry_id
JOIN postings p ON p.entry_id = e.id AND p.account_id IN (SELECT id FROM accts)
JOIN accounts a ON a.id = p.account_id
ORDER BY e.id DESC, a.code`, codes, before, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		var meta []byte
		var reason string
		metas := map[int64][]byte{}
		reasons := map[int64]string{}
		for rows.Next() {
			var e StatementEntry
			var m Movement
			if err := rows.Scan(&e.EntryID, &e.Kind, &e.EffectiveAt, &e.RecordedAt, &meta, &reason, &m.Account, &m.Asset,
				&m.Amount, &m.BalanceAfter); err != nil {
				return err
			}
			if n := len(out); n == 0 || out[n-1].EntryID != e.EntryID {
				out = append(out, e)
				metas[e.EntryID], reasons[e.EntryID] = meta, reason
			}
			last := &out[len(out)-1]
			last.Movements = append(last.Movements, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) > limit {
			out = out[:limit]
			next = out[limit-1].EntryID
		}
		for i := range out {
			out[i].Description = describe(out[i], customerID, metas[out[i].EntryID], reasons[out[i].EntryID])
		}
		return nil
	})
	return out, next, err
}

var segmentNames = map[string]string{"mid": "mid-tier", "vip": "VIP"}

// describe says in words what an entry meant for the customer.
func describe(e StatementEntry, customerID string, metadata []byte, reason string) string {
	var m map[string]any
	_ = json.Unmarshal(metadata, &m)
	str := func(k string) string {
		if v, ok := m[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	var points int64
	var money []string
	for _, mv := range e.Movements {
		if mv.Asset == ledger.PTS {
			points += mv.Amount.IntPart()
		} else {
			money = append(money, fmt.Sprintf("%s CNY %s", mv.Amount.StringFixed(2), strings.TrimPrefix(mv.Account, "customer:"+customerID+":")))
		}
	}
	abs := max(points, -points)
	own := str("customer_id") == customerID
	switch e.Kind {
	case ShipmentCompleted:
		if !own {
			return fmt.Sprintf("%d referral points for %s's shipment %s", abs, str("customer_id"), str("shipment_id"))
		}
		seg := str("segment")
		if name, ok := segmentNames[seg]; ok {
			seg = name
		}
		d := fmt.Sprintf("%d points for shipment %s (%s x%s", abs, str("shipment_id"), seg, str("multiplier"))
		if c := str("campaign"); c != "" {
			d += fmt.Sprintf(", campaign %s x%s", c, str("campaign_multiplier"))
		}
		return d + ")"
	case ShipmentRefunded:
		if !own {
			return fmt.Sprintf("%d referral points cancelled: %s's shipment %s refunded in full", abs, str("customer_id"), str("shipment_id"))
		}
		return fmt.Sprintf("%d points taken back for the refund of shipment %s", abs, str("shipment_id"))
	case FeedbackSubmitted:
		return fmt.Sprintf("%d points for rating shipment %s", abs, str("shipment_id"))
	case "redemption":
		return fmt.Sprintf("%d points redeemed for %s x %s (%s)", abs, str("quantity"), str("product"), str("sku"))
	case "redemption.cancelled":
		return fmt.Sprintf("%d points returned: redemption cancelled (%s)", abs, reason)
	case "expiry":
		return fmt.Sprintf("%d points expired", abs)
	case "reversal":
		return fmt.Sprintf("correction of an earlier %s: %s", str("reversed_kind"), reason)
	}
	parts := money
	if points != 0 {
		parts = append([]string{fmt.Sprintf("%+d points", points)}, parts...)
	}
	d := e.Kind + ": " + strings.Join(parts, ", ")
	if reason != "" {
		d += " (" + reason + ")"
	}
	return d
}
