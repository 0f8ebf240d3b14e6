package catalog

import (
	"cmp"
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
	"github.com/tally-ledger/tally/rules"
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

// together makes a group of redemptions as redeemTx makes each one, in
// order, with the same answers, entries, rows and notices, in two round
// trips whatever the group's size. The first locks the customers
// (loyalty.WriteTogether) and, with them locked, runs queueReads' reads:
// it locks the products, and reads who owes points, the customers' tiers,
// the redemptions made under the group's ids (a retry is answered as a
// replay, or refused if its details differ), the products, what each
// customer redeemed of each, their available points, and reserves one
// entry id a redemption (those of refusals and retries are gaps). write
// then decides each redemption in Go against what the ones before it left
// (stock, limits, points), and sends the entries with their lot draws
// (ledger.Tx.PostManyAndCommit), the redemptions, the stock and the
// notices with the COMMIT. A redemption refused is answered its refusal
// and writes nothing. write answers errNotTogether, having written
// nothing, for a group it cannot make so.
type together struct {
	s     *Service
	group []redeemJob

	// What queueReads reads, once its round trip's results are read.
	now        time.Time
	customers  []string // the group's, sorted, each once
	lockedSKUs map[string]bool
	seen       map[redemptionID]int // how many times each id is in the group
	owing      map[string]bool
	tiers      map[string]rules.Tier
	earlier    map[redemptionID]recorded // made before, under the group's ids
	products   map[string]*Product
	pairs      []bought // each customer and product of the group, once
	counts     []int    // the units each pair's customer holds of its product
	spendable  []int64  // the points each customer has available
	// lotsChange is the first instant after now at which what the
	// customers have available changes by time alone (zero: never).
	lotsChange time.Time
	entryIDs   []int64 // one per job
}

type (
	redemptionID struct{ space, id string }
	bought       struct{ customer, sku string }
)

// queueReads queues the group's reads into b, after the customers' locks.
// It starts afresh each time: a transaction retried reads again.
func (g *together) queueReads(ctx context.Context, tx *ledger.Tx, b *pgx.Batch) (err error) {
	group := g.group
	if g.s.beforeLocks != nil {
		g.s.beforeLocks()
	}
	g.now = tx.Now()
	g.customers = make([]string, 0, len(group))
	for _, j := range group {
		g.customers = append(g.customers, j.in.CustomerID)
	}
	slices.Sort(g.customers)
	g.customers = slices.Compact(g.customers)
	g.lockedSKUs = queueLockProducts(b, skusOf(group))
	g.seen = make(map[redemptionID]int, len(group))
	var spaces, ids []string
	for _, j := range group {
		key := redemptionID{j.in.Space, j.in.ID}
		if g.seen[key]++; g.seen[key] == 1 {
			spaces, ids = append(spaces, key.space), append(ids, key.id)
		}
	}
	g.owing = loyalty.QueueOwing(b, g.customers)
	if g.tiers, err = g.s.customers.QueueTiersAt(ctx, tx, b, g.customers, g.now); err != nil {
		return err
	}
	g.earlier, g.products = map[redemptionID]recorded{}, map[string]*Product{}
	b.Queue(qRecordedRedemptions, spaces, ids).Query(func(rows pgx.Rows) error {
		var r recorded
		_, err := pgx.ForEachRow(rows, append([]any{&r.hash}, redemptionFields(&r.r)...), func() error {
			r.hash = slices.Clone(r.hash) // the next row scans into the same variable
			g.earlier[redemptionID{r.r.Space, r.r.ID}] = r
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
			g.products[p.SKU] = &p
		}
		return rows.Err()
	})
	asked := map[bought]bool{}
	g.pairs = nil
	for _, j := range group {
		if k := (bought{j.in.CustomerID, j.in.SKU}); !asked[k] {
			asked[k] = true
			g.pairs = append(g.pairs, k)
		}
	}
	pairCustomers, pairSKUs := make([]string, len(g.pairs)), make([]string, len(g.pairs))
	for i, k := range g.pairs {
		pairCustomers[i], pairSKUs[i] = k.customer, k.sku
	}
	g.counts = make([]int, len(g.pairs))
	queueRedeemedByMany(b, pairCustomers, pairSKUs, g.counts)
	accounts := make([]string, len(g.customers))
	for i, c := range g.customers {
		accounts[i] = ledger.CustomerAccount(c, "points")
	}
	g.spendable = make([]int64, len(g.customers))
	ledger.QueueAvailablePoints(b, accounts, g.now, g.spendable, &g.lotsChange)
	g.entryIDs = nil
	ledger.QueueEntryIDs(b, len(group), &g.entryIDs)
	return nil
}

// readsStand reports whether what queueReads read as of g.now (before
// the customers' locks) is what it would read as of now (the instant the
// group is dated, once they are locked): no month or rule version began
// between them (the tiers, a product's levels), and no lot became
// available or expired (the points). Otherwise the group is made
// redemption by redemption, each reading after its lock.
func (g *together) readsStand(ctx context.Context, tx *ledger.Tx, now time.Time) (bool, error) {
	if !now.After(g.now) {
		return true, nil
	}
	if !g.lotsChange.IsZero() && !now.Before(g.lotsChange) {
		return false, nil
	}
	then, err := g.s.customers.RulesAtIn(ctx, tx, g.now)
	if err != nil {
		return false, err
	}
	rs, err := g.s.customers.RulesAtIn(ctx, tx, now)
	if err != nil {
		return false, err
	}
	return rs.Version == then.Version && rs.MonthOf(now) == then.MonthOf(g.now), nil
}

// write decides and makes the group, its customers locked (locked says
// which exist) and its reads answered.
func (g *together) write(ctx context.Context, tx *ledger.Tx, locked map[string]bool) ([]redeemResult, error) {
	// The customers are locked (loyalty.WriteTogether restamped tx after
	// their locks): the redemptions are made, and dated, from now.
	now := tx.Now()
	group, products, tiers, earlier := g.group, g.products, g.tiers, g.earlier
	for _, j := range group {
		if !locked[j.in.CustomerID] {
			return nil, errNotTogether
		}
	}
	if len(g.owing) > 0 {
		return nil, errNotTogether
	}
	if stood, err := g.readsStand(ctx, tx, now); err != nil || !stood {
		return nil, cmp.Or(err, errNotTogether)
	}
	redeemed := make(map[bought]int, len(g.pairs)) // units of each product each customer holds
	for i, k := range g.pairs {
		redeemed[k] = g.counts[i]
	}
	for key, n := range g.seen {
		if _, ok := earlier[key]; n > 1 && !ok {
			return nil, errNotTogether // a new redemption and its retry
		}
	}
	// A product added since the products were locked is not locked: made
	// alone, its redemption locks it (lockForRedemption).
	for sku := range products {
		if !g.lockedSKUs[sku] {
			return nil, errNotTogether
		}
	}
	customerN := make(map[string]int, len(g.customers))
	for i, c := range g.customers {
		customerN[c] = i
	}
	spendable := g.spendable

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
	// and the notices, and the COMMIT, in one round trip: nothing runs in
	// the transaction after it.
	err := tx.PostManyAndCommit(ctx, entries, g.entryIDs, func(posted []int64, w *pgx.Batch) error {
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
