package loyalty

import (
	"context"
	"errors"
	"slices"
	"strconv"

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
	// The events' keys and spaces, checked against the ledger's keys.
	rows, err := tx.Query(ctx, `SELECT DISTINCT key_id, space FROM events`)
	if err != nil {
		return check, err
	}
	var keys []int64
	var keySpaces []string
	var key int64
	var space string
	_, err = pgx.ForEachRow(rows, []any{&key, &space}, func() error {
		keys, keySpaces = append(keys, key), append(keySpaces, space)
		return nil
	})
	if err != nil {
		return check, err
	}
	spaces, err := tx.KeySpaces(ctx, keys)
	if err != nil {
		return check, err
	}
	var strayKeys []int64
	var straySpaces []string
	for i, key := range keys {
		if space, ok := spaces[key]; !ok || space != keySpaces[i] {
			strayKeys, straySpaces = append(strayKeys, key), append(straySpaces, keySpaces[i])
		}
	}
	rows, err = tx.Query(ctx, `SELECT 'shipment:' || s.shipment_id FROM shipments s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id)
UNION ALL
SELECT 'event:' || v.space || ':' || v.event_id FROM events v
WHERE (v.key_id, v.space) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
UNION ALL
SELECT 'month:' || m.customer_id || ':' || m.month FROM customer_months m
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)
LIMIT 100`, strayKeys, straySpaces)
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
	// A shipment's entry is its event's: the row is named by its shipment.
	if _, err := tx.Exec(ctx, `DECLARE entry_refs NO SCROLL CURSOR FOR
SELECT CASE WHEN shipment_id IS NULL THEN 'event:' || space || ':' || event_id ELSE 'shipment:' || shipment_id END, entry_id
FROM events WHERE entry_id IS NOT NULL`); err != nil {
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
		_, err = pgx.ForEachRow(rows, []any{&name, &id}, func() error {
			names, ids = append(names, name), append(ids, id)
			return nil
		})
		if err != nil {
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

// OwedCheck proves the points owed against the books, one of
// ledger.Reconcile's extra checks: every refund that left a shortfall
// posted what it took back to the customer's points and the rest to their
// points_owed account, its take-back plus its settlements never exceed what
// it was due, every settlement entry moved exactly what it says it settled,
// and each customer's points_owed balance is minus what their refunds still
// have owed. Offenders are named refund:{entry}:{customer},
// settlement:{entry} or the account code, at most 100 of them.
func (s *Service) OwedCheck(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "owed_within_due",
		Description: "every refund's take-back plus its settlements is at most what it was due, and the points owed agree with the books"}
	bad := []string{}
	flag := func(name string) {
		if len(bad) < 100 {
			bad = append(bad, name)
		}
	}
	open := map[string]int64{} // what each customer's refunds still have owed
	err := pages(ctx, tx, "owed_rows", `SELECT o.refund_entry_id, o.customer_id, o.due, o.owed, o.settled,
    coalesce((SELECT sum(s.points) FROM points_settlements s
              WHERE s.refund_entry_id = o.refund_entry_id AND s.customer_id = o.customer_id), 0)
FROM points_owed o ORDER BY o.refund_entry_id, o.customer_id`, func(rows pgx.Rows) error {
		var (
			entries, due, owed, settled, linked []int64
			codes, customers                    []string
			e, d, o, st, l                      int64
			c                                   string
		)
		_, err := pgx.ForEachRow(rows, []any{&e, &c, &d, &o, &st, &l}, func() error {
			entries, due, owed, settled, linked = append(entries, e, e), append(due, d), append(owed, o), append(settled, st), append(linked, l)
			customers = append(customers, c)
			codes = append(codes, ledger.CustomerAccount(c, "points"), ledger.CustomerAccount(c, "points_owed"))
			open[c] += o - st
			return nil
		})
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return errNoMoreRows
		}
		posted, err := tx.PostedAmounts(ctx, entries, codes)
		if err != nil {
			return err
		}
		for i := range due {
			taken, owedPosted := posted[2*i].Neg().IntPart(), posted[2*i+1].Neg().IntPart()
			if taken < 0 || taken+owedPosted != due[i] || owedPosted != owed[i] || linked[i] != settled[i] ||
				taken+linked[i] > due[i] {
				flag("refund:" + strconv.FormatInt(entries[2*i], 10) + ":" + customers[i])
			}
		}
		return nil
	})
	if err != nil {
		return check, err
	}
	err = pages(ctx, tx, "settlement_rows", `SELECT settlement_entry_id, min(customer_id), count(DISTINCT customer_id), sum(points)
FROM points_settlements GROUP BY settlement_entry_id ORDER BY settlement_entry_id`, func(rows pgx.Rows) error {
		var (
			entries, sums []int64
			codes         []string
			e, n, sum     int64
			c             string
		)
		_, err = pgx.ForEachRow(rows, []any{&e, &c, &n, &sum}, func() error {
			if n != 1 {
				flag("settlement:" + strconv.FormatInt(e, 10))
			}
			entries, sums = append(entries, e, e), append(sums, sum)
			codes = append(codes, ledger.CustomerAccount(c, "points"), ledger.CustomerAccount(c, "points_owed"))
			return nil
		})
		if err != nil {
			return err
		}
		if len(sums) == 0 {
			return errNoMoreRows
		}
		posted, err := tx.PostedAmounts(ctx, entries, codes)
		if err != nil {
			return err
		}
		for i, sum := range sums {
			if posted[2*i].Neg().IntPart() != sum || posted[2*i+1].IntPart() != sum {
				flag("settlement:" + strconv.FormatInt(entries[2*i], 10))
			}
		}
		return nil
	})
	if err != nil {
		return check, err
	}
	customers := make([]string, 0, len(open))
	for c := range open {
		customers = append(customers, c)
	}
	slices.Sort(customers)
	codes := make([]string, len(customers))
	for i, c := range customers {
		codes[i] = ledger.CustomerAccount(c, "points_owed")
	}
	balances, err := tx.Balances(ctx, codes...)
	if err != nil {
		return check, err
	}
	for i, c := range customers {
		if b := balances[i].Neg().IntPart(); b != open[c] || b < 0 {
			flag(codes[i])
		}
	}
	check.Pass, check.Offending = len(bad) == 0, bad
	return check, nil
}

var errNoMoreRows = errors.New("no more rows")

// pages runs query through a cursor named name of the snapshot, handing
// each page of checkPage rows to page until it returns errNoMoreRows.
func pages(ctx context.Context, tx *ledger.Tx, name, query string, page func(pgx.Rows) error) error {
	if _, err := tx.Exec(ctx, `DECLARE `+name+` NO SCROLL CURSOR FOR `+query); err != nil {
		return err
	}
	for {
		rows, err := tx.Query(ctx, `FETCH `+checkPage+` FROM `+name)
		if err != nil {
			return err
		}
		err = page(rows)
		rows.Close()
		if errors.Is(err, errNoMoreRows) {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `CLOSE `+name)
	return err
}
