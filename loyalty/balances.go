package loyalty

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
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
	Principal money.CNY `json:"principal"`
	Rebate    money.CNY `json:"rebate"`
}

// Balances reads the customer's balances now in one round trip: the
// customer and the contributions that make their tier, and their holdings
// from the ledger, so that it stays fast while events are written.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Balances(ctx context.Context, customerID string) (Balances, error) {
	b := Balances{CustomerID: customerID}
	if !ledger.ValidCustomerID(customerID) {
		return b, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + customerID}
	}
	now := s.now()
	rs, err := s.rulesAt(ctx, s.db, now)
	if err != nil {
		return b, err
	}
	this := rs.MonthOf(now)
	var (
		known           bool
		last, thisMonth decimal.Decimal
		held            ledger.Holdings
		batch           pgx.Batch
	)
	// One snapshot for both statements, in the same round trip: the tier
	// and the holdings agree even while a group commits between them.
	batch.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`)
	batch.Queue(ledger.QGenericPlans) // asked most of all: planned once per connection
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1),
    coalesce((SELECT contribution FROM customer_months WHERE customer_id = $1 AND month = $2), 0),
    coalesce((SELECT contribution FROM customer_months WHERE customer_id = $1 AND month = $3), 0)`,
		customerID, string(this.Prev()), string(this)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&known, &last, &thisMonth)
	})
	ledger.QueueHoldings(&batch, customerID, now, now.Add(expiringSoon), &held)
	batch.Queue(`COMMIT`)
	if err := s.db.SendBatch(ctx, &batch).Close(); err != nil {
		return b, err
	}
	if !known {
		return b, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + customerID}
	}
	tier, _ := rs.TierInEffect(last, thisMonth)
	b.Segment, b.Level = tier.Segment, tier.Level
	b.Points = summarise(held.Points, held.Owed)
	b.Prepaid = Prepaid{Principal: money.Of(held.Prepaid.Round(2)), Rebate: money.Of(held.Rebate.Round(2))}
	return b, nil
}
