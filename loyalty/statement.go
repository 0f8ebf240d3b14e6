package loyalty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/dectext"
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
	// Wording is Description in pieces, for pages in other languages.
	Wording Wording `json:"-"`
}

// Movement is what an entry did to one of the customer's accounts.
type Movement struct {
	Account      string          `json:"account"`
	Asset        ledger.Asset    `json:"asset"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
}

// MarshalJSON writes the amounts at the asset's scale, as the ledger's
// answers do: "120" PTS, "400.00" CNY (a movement holds either asset, so
// its amounts are decimals, not money.CNY).
func (m Movement) MarshalJSON() ([]byte, error) {
	scale := m.Asset.Scale()
	return json.Marshal(struct {
		Account      string       `json:"account"`
		Asset        ledger.Asset `json:"asset"`
		Amount       string       `json:"amount"`
		BalanceAfter string       `json:"balance_after"`
	}{m.Account, m.Asset, dectext.Fixed(m.Amount, scale), dectext.Fixed(m.BalanceAfter, scale)})
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
			se.Wording = describe(se, customerID, e.Metadata, e.Reason)
			se.Description = se.Wording.String()
			out = append(out, se)
		}
		return nil
	})
	return out, next, err
}

// describe says in words what an entry meant for the customer.
func describe(e StatementEntry, customerID string, metadata []byte, reason string) Wording {
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
	say := func(msg string, args ...any) Phrase { return Phrase{Msg: msg, Args: args} }
	var points int64
	var money []Phrase
	for _, mv := range e.Movements {
		if mv.Asset == ledger.PTS {
			points += mv.Amount.IntPart()
		} else {
			money = append(money, say("money", mv.Amount.StringFixed(2), Account(strings.TrimPrefix(mv.Account, "customer:"+customerID+":"))))
		}
	}
	abs := max(points, -points)
	own := str("customer_id") == customerID
	switch e.Kind {
	case ShipmentCompleted:
		if !own {
			return Wording{say("referral", abs, str("customer_id"), str("shipment_id"))}
		}
		w := Wording{say("shipment", abs, str("shipment_id"), Segment(str("segment")), str("multiplier"))}
		if c := str("campaign"); c != "" {
			w = append(w, say("campaign", c, str("campaign_multiplier")))
		}
		return append(w, say("close"))
	case ShipmentRefunded:
		if !own {
			w := Wording{say("referral_cancelled", abs, str("customer_id"), str("shipment_id"))}
			if owed := str("referral_points_owed"); owed != "" {
				w = append(w, say("owed", owed))
			}
			return w
		}
		w := Wording{say("refund", abs, str("shipment_id"))}
		if rating := str("rating_points"); rating != "" && rating != "0" {
			w = append(w, say("refund_rating", rating))
		}
		if owed := str("points_owed"); owed != "" && owed != "0" {
			w = append(w, say("owed", owed))
		}
		return w
	case KindSettlement:
		var settles struct {
			Settles []Settled `json:"settles"`
			Expired bool      `json:"from_expired_returns"`
		}
		_ = json.Unmarshal(metadata, &settles)
		w := Wording{say("settlement", abs)}
		for i, st := range settles.Settles {
			if i > 0 {
				w = append(w, say("separator"))
			}
			w = append(w, say("settled", st.Points, st.ShipmentID))
		}
		w = append(w, say("close"))
		if settles.Expired {
			w = append(w, say("settled_expired"))
		}
		return w
	case FeedbackSubmitted:
		return Wording{say("feedback", abs, str("shipment_id"))}
	case "redemption":
		return Wording{say("redemption", abs, str("quantity"), str("product"), str("sku"))}
	case "redemption.cancelled":
		return Wording{say("redemption_cancel", abs, reason)}
	case "expiry":
		return Wording{say("expiry", abs)}
	case KindExpiryUndone:
		return Wording{say("expiry_undone", abs, str("run_id"), reason)}
	case "reversal":
		return Wording{say("reversal", Kind(str("reversed_kind")), reason)}
	}
	w := Wording{say("other", Kind(e.Kind))}
	parts := money
	if points != 0 {
		parts = append([]Phrase{say("points", points)}, parts...)
	}
	for i, p := range parts {
		if i > 0 {
			w = append(w, say("separator"))
		}
		w = append(w, p)
	}
	if reason != "" {
		w = append(w, say("reason", reason))
	}
	return w
}
