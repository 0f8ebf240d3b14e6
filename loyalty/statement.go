package loyalty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
)

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
	err := s.ledger.InTxGeneric(ctx, func(tx *ledger.Tx) error {
		out, next = []StatementEntry{}, 0
		if _, err := customer(ctx, tx, customerID, false); err != nil {
			return err
		}
		entries, n, err := tx.AccountsStatement(ctx, []string{ledger.CustomerAccount(customerID, "points"),
			ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate")}, before, limit)
		if err != nil {
			return err
		}
		next = n
		for _, e := range entries {
			se := StatementEntry{EntryID: e.ID, Kind: e.Kind, EffectiveAt: e.EffectiveAt, RecordedAt: e.RecordedAt}
			for _, p := range e.Postings {
				// A customer's account may not go negative: it records its
				// balance after every posting.
				if p.BalanceAfter == nil {
					return fmt.Errorf("statement: posting %d on %s has no balance after it", p.ID, p.Account)
				}
				se.Movements = append(se.Movements, Movement{Account: p.Account, Asset: p.Asset, Amount: p.Amount,
					BalanceAfter: *p.BalanceAfter})
			}
			se.Description = describe(se, customerID, e.Metadata, e.Reason)
			out = append(out, se)
		}
		return nil
	})
	return out, next, err
}

var segmentNames = map[string]string{"mid": "mid-tier", "vip": "VIP"}

// describe says in words what an entry meant for the customer.
func describe(e StatementEntry, customerID string, metadata []byte, reason string) string {
	// Numbers as written (json.Number): points are whole numbers, never
	// put in exponent notation.
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(metadata))
	dec.UseNumber()
	_ = dec.Decode(&m)
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
			d := fmt.Sprintf("%d referral points cancelled: %s's shipment %s refunded in full", abs, str("customer_id"), str("shipment_id"))
			if owed := str("referral_points_owed"); owed != "" {
				d += fmt.Sprintf("; %s more owed, settled from the next points you receive", owed)
			}
			return d
		}
		d := fmt.Sprintf("%d points taken back for the refund of shipment %s", abs, str("shipment_id"))
		if rating := str("rating_points"); rating != "" && rating != "0" {
			d += fmt.Sprintf(" (in full: its rating's %s points too)", rating)
		}
		if owed := str("points_owed"); owed != "" && owed != "0" {
			d += fmt.Sprintf("; %s more owed, settled from the next points you receive", owed)
		}
		return d
	case KindSettlement:
		var settles struct {
			Settles []Settled `json:"settles"`
			Expired bool      `json:"from_expired_returns"`
		}
		_ = json.Unmarshal(metadata, &settles)
		var shipments []string
		for _, st := range settles.Settles {
			shipments = append(shipments, fmt.Sprintf("%d for shipment %s", st.Points, st.ShipmentID))
		}
		d := fmt.Sprintf("%d points settle what refunds could not take back (%s)", abs, strings.Join(shipments, ", "))
		if settles.Expired {
			d += ", from points returned after they expired"
		}
		return d
	case FeedbackSubmitted:
		return fmt.Sprintf("%d points for rating shipment %s", abs, str("shipment_id"))
	case "redemption":
		return fmt.Sprintf("%d points redeemed for %s x %s (%s)", abs, str("quantity"), str("product"), str("sku"))
	case "redemption.cancelled":
		return fmt.Sprintf("%d points returned: redemption cancelled (%s)", abs, reason)
	case "expiry":
		return fmt.Sprintf("%d points expired", abs)
	case KindExpiryUndone:
		return fmt.Sprintf("%d expired points restored: expiry run %s undone (%s)", abs, str("run_id"), reason)
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
