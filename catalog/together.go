package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
)

// recorded is a redemption made earlier, with its request's hash.
type recorded struct {
	r    Redemption
	hash []byte
}

// qRecordedRedemptions reads the redemptions made under the ids of a group
// ($1, $2: their spaces and ids), each with its request's hash first, then
// the columns of qRedemption: one index probe an id.
const qRecordedRedemptions = `SELECT r.request_hash, r.space, r.id, r.customer_id, r.sku, r.quantity, r.points, coalesce(r.entry_id, 0),
    r.created_at, r.cancelled_at, r.cancel_entry_id
FROM unnest($1::text[], $2::text[]) AS u (space, id)
CROSS JOIN LATERAL (SELECT * FROM redemptions r WHERE r.space = u.space AND r.id = u.id OFFSET 0) r`

// errNotTogether is redeemTogether declining a group that redeemEach must
// make: one with a new redemption and its retry, an unknown customer, one
// who owes points, or a product added after the group locked its products.
var errNotTogether = errors.New("catalog: the group cannot be made together")

// redeemTogether makes a group of redemptions as redeemTx makes each one,
// in order, with the same answers, entries, rows and notices, in a fixed
// number of round trips whatever the group's size: lock the customers and
// the products; read the redemptions made under the group's ids (a retry
// is answered as a replay, or refused if its details differ), who owes points,
// the products, what each customer redeemed of each, their available
// points and their tiers; decide each redemption in Go against what the
// ones before it left (stock, limits, points); write the entries with
// their lot draws (ledger.Tx.PostMany), the redemptions, the stock and
// the notices. A redemption refused is answered its refusal and
// writes nothing. It answers errNotTogether, having written nothing, for
// a group it cannot make so.
func (s *Service) redeemTogether(ctx context.Context, tx *ledger.Tx, group []redeemJob, locked map[string]bool) ([]redeemResult, error) {
	now := tx.Now()
	customers := slices.Sorted(maps.Keys(locked))
	lockedSKUs, err := lockProducts(ctx, tx, skusOf(group))
	if err != nil {
		return nil, err
	}
	type redemptionID struct{ space, id string }
	type bought struct{ customer, sku string }
	seen := make(map[redemptionID]int, len(group)) // how many times
	var spaces, ids []string
	for _, j := range group {
		key := redemptionID{j.in.Space, j.in.ID}
		if !locked[j.in.CustomerID] {
			return nil, errNotTogether
		}
		if seen[key]++; seen[key] == 1 {
			spaces, ids = append(spaces, key.space), append(ids, key.id)
		}
	}
	owing, err := loyalty.Owing(ctx, tx, customers)
	if err != nil {
		return nil, err
	}
	if len(owing) > 0 {
		return nil, errNotTogether
	}
	tiers, err := s.customers.TiersAt(ctx, tx, customers, now)
	if err != nil {
		return nil, err
	}
	var (
		b        pgx.Batch
		earlier  = map[redemptionID]recorded{} // made before, under the group's ids
		products = map[string]*Product{}
		redeemed = map[bought]int{} // units of each product each customer holds
		asked    = map[bought]bool{}
		entryIDs []int64 // one per job; those of refusals and retries are gaps
		// The points each customer has available, by their index in customers.
		spendable = make([]int64, len(customers))
		accounts  = make([]string, len(customers))
		customerN = make(map[string]int, len(customers))
	)
	b.Queue(qRecordedRedemptions, spaces, ids).Query(func(rows pgx.Rows) error {
		var r recorded
		_, err := pgx.ForEachRow(rows, append([]any{&r.hash}, redemptionFields(&r.r)...), func() error {
			r.hash = slices.Clone(r.hash) // the next row scans into the same variable
			earlier[redemptionID{r.r.Space, r.r.ID}] = r
			return nil
		})
		return err
	})
	b.Queue(`SELECT `+productColumns+` FROM products WHERE sku = ANY($1)`, skusOf(group)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				return err
			}
			products[p.SKU] = &p
		}
		return rows.Err()
	})
	var pairs []bought
	for _, j := range group {
		if k := (bought{j.in.CustomerID, j.in.SKU}); !asked[k] {
			asked[k] = true
			pairs = append(pairs, k)
		}
	}
	pairCustomers, pairSKUs := make([]string, len(pairs)), make([]string, len(pairs))
	for i, k := range pairs {
		pairCustomers[i], pairSKUs[i] = k.customer, k.sku
	}
	counts := make([]int, len(pairs))
	queueRedeemedByMany(&b, pairCustomers, pairSKUs, counts)
	for i, c := range customers {
		accounts[i], customerN[c] = ledger.CustomerAccount(c, "points"), i
	}
	ledger.QueueAvailablePoints(&b, accounts, now, spendable)
	ledger.QueueEntryIDs(&b, len(group), &entryIDs)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	for i, k := range pairs {
		redeemed[k] = counts[i]
	}
	for key, n := range seen {
		if _, ok := earlier[key]; n > 1 && !ok {
			return nil, errNotTogether // a new redemption and its retry
		}
	}
	// A product added since the products were locked is not locked: made
	// alone, its redemption locks it (lockForRedemption).
	for sku := range products {
		if !lockedSKUs[sku] {
			return nil, errNotTogether
		}
	}

	// Each redemption decided as redeemTx decides it, against the stock,
	// the units redeemed and the points the ones before it left.
	outs := make([]redeemResult, len(group))
	type made struct {
		at int // the job's index
		r  Redemption
	}
	var (
		entries []ledger.EntryInput
		makes   []made
		stock   = map[string]int{} // units taken, by sku
	)
	for i, j := range group {
		in := j.in
		p := products[in.SKU]
		if p == nil {
			outs[i].err = &fault.Error{Code: fault.UnknownProduct, Message: "no product " + in.SKU}
			continue
		}
		if r, ok := earlier[redemptionID{in.Space, in.ID}]; ok {
			// A retry: answered as redeemTx answers it.
			if err := sameHash(in.ID, r.hash, j.hash[:]); err != nil {
				outs[i].err = err
				continue
			}
			outs[i] = redeemResult{r: r.r.status(), replayed: true}
			continue
		}
		if !p.Active {
			outs[i].err = &fault.Error{Code: fault.UnknownProduct, Message: "product " + in.SKU + " is not in the catalogue"}
			continue
		}
		k := bought{in.CustomerID, in.SKU}
		points := p.PointsPrice * int64(in.Quantity)
		if err := eligible(*p, in.Quantity, tiers[in.CustomerID].Level, redeemed[k], math.MaxInt64, now); err != nil {
			outs[i].err = err
			continue
		}
		available := &spendable[customerN[in.CustomerID]]
		if points > *available {
			outs[i].err = &fault.Error{Code: fault.InsufficientPoints, Account: ledger.CustomerAccount(in.CustomerID, "points"),
				Message: fmt.Sprintf("%d points needed; the customer has fewer available (pending and expired points cannot be spent)", points)}
			continue
		}
		*available -= points
		redeemed[k] += in.Quantity
		if p.Stock != nil {
			*p.Stock -= in.Quantity
			stock[in.SKU] += in.Quantity
		}
		meta, _ := json.Marshal(map[string]any{"redemption_id": in.ID, "sku": in.SKU, "product": p.Name,
			"quantity": in.Quantity, "customer_id": in.CustomerID})
		entries = append(entries, ledger.EntryInput{Kind: KindRedemption, Actor: j.actor, Metadata: meta,
			Postings: []ledger.PostingInput{
				{Account: ledger.CustomerAccount(in.CustomerID, "points"), Amount: decimal.NewFromInt(-points)},
				{Account: "platform:points:redeemed", Amount: decimal.NewFromInt(points)},
			}})
		makes = append(makes, made{at: i, r: Redemption{ID: in.ID, Space: in.Space, CustomerID: in.CustomerID, SKU: in.SKU,
			Quantity: in.Quantity, Points: points, Status: "redeemed",
			CreatedAt: now.Truncate(time.Microsecond).Local()}}) // as read back (microseconds, time.Local)
	}
	if len(entries) == 0 {
		return outs, nil
	}
	// The entries with their lot draws, the redemptions, the stock taken
	// and the notices, in one round trip.
	err = tx.PostMany(ctx, entries, entryIDs, func(posted []int64, w *pgx.Batch) error {
		var (
			rSpaces, rIDs, rCustomers, rSKUs []string
			rQuantities                      []int32
			rPoints, rEntries                []int64
			rHashes                          [][]byte
			tell                             []notify.Event
		)
		for k := range makes {
			m := &makes[k]
			m.r.EntryID = posted[k]
			j := group[m.at]
			rSpaces, rIDs, rCustomers, rSKUs = append(rSpaces, m.r.Space), append(rIDs, m.r.ID), append(rCustomers, m.r.CustomerID),
				append(rSKUs, m.r.SKU)
			rQuantities, rPoints, rEntries = append(rQuantities, int32(m.r.Quantity)), append(rPoints, m.r.Points), append(rEntries, m.r.EntryID)
			rHashes = append(rHashes, j.hash[:])
			tell = append(tell, notify.Event{Type: notify.RedemptionCreated, Customer: m.r.CustomerID, OccurredAt: m.r.CreatedAt,
				Payload: noticeOf(m.r, "")})
		}
		w.Queue(`INSERT INTO redemptions (space, id, customer_id, sku, quantity, request_hash, created_at, points, entry_id)
SELECT u.space, u.id, u.customer_id, u.sku, u.quantity, u.hash, $9, u.points, u.entry_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bytea[], $7::bigint[], $8::bigint[])
    AS u (space, id, customer_id, sku, quantity, hash, points, entry_id)`,
			rSpaces, rIDs, rCustomers, rSKUs, rQuantities, rHashes, rPoints, rEntries, now)
		for _, sku := range slices.Sorted(maps.Keys(stock)) {
			w.Queue(`UPDATE products SET stock = stock - $2 WHERE sku = $1`, sku, stock[sku])
		}
		return notify.Queue(w, now, tell...)
	})
	if err != nil {
		return nil, err
	}
	for _, m := range makes {
		outs[m.at].r = m.r
	}
	return outs, nil
}
