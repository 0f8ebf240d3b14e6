package prepaid

import (
	"context"

	"github.com/tally-ledger/tally/ledger"
)

// QHistory is History's statement: a customer's ($1) latest movements, at
// most $2, read in the order of money_movements_customer_latest (a test of
// the migrations reads its plan).
const QHistory = `SELECT kind, id, customer_id, amount, occurred_at, shipment_id, rule_version, rate, rebate,
    from_principal, from_rebate, clawback, entry_id, reversal_entry_id
FROM money_movements WHERE customer_id = $1 ORDER BY occurred_at DESC, entry_id DESC LIMIT $2`

// History lists the customer's money movements, the latest first, at most
// limit of them, each with its rate and rebate (deposits), its split
// (charges) or its clawback (withdrawals). Principal and RebateBalance are
// left zero: the customer's balances are read once, not per movement.
func (s *Service) History(ctx context.Context, customerID string, limit int) ([]MoneyMovement, error) {
	var out []MoneyMovement
	err := s.ledger.ReadTx(ctx, func(tx *ledger.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, QHistory, customerID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m MoneyMovement
			if err := rows.Scan(&m.Kind, &m.ID, &m.CustomerID, &m.Amount, &m.OccurredAt, &m.ShipmentID, &m.RuleVersion,
				&m.Rate, &m.Rebate, &m.FromPrincipal, &m.FromRebate, &m.Clawback, &m.EntryID, &m.ReversalEntryID); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}
