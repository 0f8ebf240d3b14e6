package loyalty

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// loyalty's reconciliation check, one of ledger.Reconcile's extra checks:
// it runs in the reconciliation's snapshot.

// checkPage is how many rows an extra check reads at a time, through a
// cursor of its snapshot, before it asks the ledger about them.
const checkPage = "1000"

// ReferenceCheck reports the rows of the event tables (which keep no
// foreign keys, for speed) that name a customer, an API key or an entry
// that does not exist: at most 100 of them. For ledger.Reconcile's extra
// checks.
func (s *Service) ReferenceCheck(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "event_rows_intact",
		Description: "every shipment, event and month names an existing customer, API key and entry; every event is in its key's space"}
	rows, err := tx.Query(ctx, `SELECT 'shipment:' || s.shipment_id FROM shipments s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id)
UNION ALL
SELECT 'event:' || v.space || ':' || v.event_id FROM events v
WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = v.key_id AND v.space = CASE
    WHEN k.partner_id IS NOT NULL THEN 'partner:' || k.partner_id
    WHEN k.customer_id IS NOT NULL THEN 'customer:' || k.customer_id
    ELSE 'key:' || k.id END)
UNION ALL
SELECT 'month:' || m.customer_id || ':' || m.month FROM customer_months m
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)
LIMIT 100`)
	if err != nil {
		return check, err
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return check, err
	}
	named := map[string]bool{}
	for _, b := range bad {
		named[b] = true
	}
	// The entries they name, a page at a time, asked of the ledger.
	if _, err := tx.Exec(ctx, `DECLARE entry_refs NO SCROLL CURSOR FOR
SELECT 'shipment:' || shipment_id, entry_id FROM shipments WHERE entry_id IS NOT NULL
UNION ALL
SELECT 'event:' || space || ':' || event_id, entry_id FROM events WHERE entry_id IS NOT NULL`); err != nil {
		return check, err
	}
	for len(bad) < 100 {
		rows, err := tx.Query(ctx, `FETCH `+checkPage+` FROM entry_refs`)
		if err != nil {
			return check, err
		}
		var names []string
		var ids []int64
		var name string
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error {
			names, ids = append(names, name), append(ids, id)
			return nil
		}); err != nil {
			return check, err
		}
		if len(ids) == 0 {
			break
		}
		missing, err := tx.MissingEntries(ctx, ids)
		if err != nil {
			return check, err
		}
		gone := make(map[int64]bool, len(missing))
		for _, id := range missing {
			gone[id] = true
		}
		for i, id := range ids {
			if gone[id] && !named[names[i]] && len(bad) < 100 {
				named[names[i]] = true
				bad = append(bad, names[i])
			}
		}
	}
	if _, err := tx.Exec(ctx, `CLOSE entry_refs`); err != nil {
		return check, err
	}
	if bad == nil {
		bad = []string{}
	}
	check.Pass, check.Offending = len(bad) == 0, bad
	return check, nil
}
