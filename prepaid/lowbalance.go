package prepaid

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// Low balances. A partner sets a threshold; a charge or a withdrawal that
// takes a customer's prepaid balance (principal and rebate together, what
// a charge may draw) from at or above it to below it tells that partner
// alone (prepaid.low_balance, Event.Partner), in the movement's
// transaction, once per movement and partner. A threshold of 0 tells
// nothing: no balance goes below 0.

// LowBalanceThreshold is a partner's threshold.
type LowBalanceThreshold struct {
	PartnerID int64     `json:"partner_id"`
	Threshold money.CNY `json:"threshold"`
	// UpdatedAt is when it was last set; nil when it never was (0).
	UpdatedAt *time.Time `json:"updated_at"`
}

// LowBalanceNotice is the payload of prepaid.low_balance: the balances
// after the movement that crossed the threshold.
type LowBalanceNotice struct {
	Balance    string `json:"balance"` // principal + rebate
	Threshold  string `json:"threshold"`
	Principal  string `json:"principal"`
	Rebate     string `json:"rebate"`
	Movement   string `json:"movement"` // charge or withdrawal
	MovementID string `json:"movement_id"`
	EntryID    int64  `json:"entry_id"`
}

// LowBalanceThreshold reads the partner's threshold: 0 when it never set
// one.
//
// Errors: fault.NotFound (no such partner).
func (s *Service) LowBalanceThreshold(ctx context.Context, partnerID int64) (LowBalanceThreshold, error) {
	t := LowBalanceThreshold{PartnerID: partnerID}
	err := s.ledger.ReadTx(ctx, func(tx *ledger.Tx) error {
		return tx.QueryRow(ctx, `SELECT threshold, updated_at FROM low_balance_thresholds WHERE partner_id = $1`,
			partnerID).Scan(&t.Threshold, &t.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) { // none set, or no such partner (partners are never deleted)
		known, err := s.ledger.PartnerExists(ctx, partnerID)
		if err == nil && !known {
			err = fault.Errorf(fault.NotFound, "no partner %d", partnerID)
		}
		return t, err
	}
	return t, err
}

// SetLowBalanceThreshold sets the partner's threshold (0: none), recorded
// by actor.
//
// Errors: fault.Invalid, fault.InvalidAmount, fault.NotFound (no such
// partner).
func (s *Service) SetLowBalanceThreshold(ctx context.Context, partnerID int64, threshold decimal.Decimal, actor string) (LowBalanceThreshold, error) {
	if threshold.IsNegative() || threshold.GreaterThan(maxMoney) {
		return LowBalanceThreshold{}, &fault.Error{Code: fault.Invalid, Message: "the threshold is a CNY amount from 0 to 1,000,000,000,000",
			Fields: map[string]string{"threshold": "from 0 to 1000000000000"}}
	}
	if err := ledger.CNY.CheckScale(threshold); err != nil {
		return LowBalanceThreshold{}, &fault.Error{Code: fault.InvalidAmount, Message: "threshold " + threshold.String() + " is finer than the fen",
			Fields: map[string]string{"threshold": "at most 2 decimals"}}
	}
	t := LowBalanceThreshold{PartnerID: partnerID, Threshold: money.Of(threshold)}
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		now := tx.Now()
		t.UpdatedAt = &now
		_, err := tx.Exec(ctx, `INSERT INTO low_balance_thresholds (partner_id, threshold, updated_at, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (partner_id) DO UPDATE SET threshold = EXCLUDED.threshold, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
			partnerID, threshold, now, actor)
		if fault.ForeignKeyViolation(err, "") {
			return fault.Errorf(fault.NotFound, "no partner %d", partnerID)
		}
		return err
	})
	return t, err
}

// balancesAfter is the customer's principal and rebate once the postings
// are added to principal and rebate.
func balancesAfter(customerID string, principal, rebate decimal.Decimal, postings []ledger.PostingInput) (decimal.Decimal, decimal.Decimal) {
	prepaidAcct, rebateAcct := ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate")
	for _, p := range postings {
		switch p.Account {
		case prepaidAcct:
			principal = principal.Add(p.Amount)
		case rebateAcct:
			rebate = rebate.Add(p.Amount)
		}
	}
	return principal, rebate
}

// queueLowBalance queues the read of the prepaid.low_balance notices of a
// movement, to be written in its transaction, into b; they are appended to
// out when b is sent: one for each partner whose threshold the movement
// took the customer's prepaid balance below, from before (principal and
// rebate) to principal+rebate, what its postings leave (balancesAfter).
func queueLowBalance(b *pgx.Batch, m *MoneyMovement, entryID int64, before, principal, rebate decimal.Decimal, out *[]notify.Event) {
	after := principal.Add(rebate)
	if !after.LessThan(before) {
		return
	}
	b.Queue(`SELECT partner_id, threshold FROM low_balance_thresholds
WHERE threshold > $1 AND threshold <= $2 ORDER BY partner_id`, after, before).Query(func(rows pgx.Rows) error {
		var t LowBalanceThreshold
		_, err := pgx.ForEachRow(rows, []any{&t.PartnerID, &t.Threshold}, func() error {
			*out = append(*out, lowBalanceNotice(m, entryID, t, principal, rebate))
			return nil
		})
		return err
	})
}

// lowBalanceNotices appends to out the prepaid.low_balance notices of a
// movement (those queueLowBalance finds), given every partner's threshold,
// in partner order.
func lowBalanceNotices(out []notify.Event, thresholds []LowBalanceThreshold, m *MoneyMovement, entryID int64,
	before, principal, rebate decimal.Decimal) []notify.Event {
	after := principal.Add(rebate)
	for _, t := range thresholds {
		if t.Threshold.GreaterThan(after) && !t.Threshold.GreaterThan(before) {
			out = append(out, lowBalanceNotice(m, entryID, t, principal, rebate))
		}
	}
	return out
}

// lowBalanceNotice tells the partner of t that the movement m (its entry
// entryID) left principal and rebate below t's threshold.
func lowBalanceNotice(m *MoneyMovement, entryID int64, t LowBalanceThreshold, principal, rebate decimal.Decimal) notify.Event {
	return notify.Event{Type: notify.PrepaidLowBalance, Customer: m.CustomerID, Partner: t.PartnerID,
		Payload: LowBalanceNotice{Balance: principal.Add(rebate).StringFixed(2), Threshold: t.Threshold.StringFixed(2),
			Principal: principal.StringFixed(2), Rebate: rebate.StringFixed(2), Movement: m.Kind, MovementID: m.ID, EntryID: entryID},
		OnceKey: notify.PrepaidLowBalance + ":" + strconv.FormatInt(entryID, 10) + ":" + strconv.FormatInt(t.PartnerID, 10)}
}
