package catalog

import (
	"context"
	"slices"
	"time"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// How redemptions are grouped: up to groupWriters transactions at once,
// each of at most groupMaxJobs redemptions. groupTimeout bounds a group's
// transaction, whatever its callers' contexts: one caller giving up must
// not abort its neighbours. One writer: a group is written in a fixed
// number of statements, so fewer, larger groups cost less CPU than more
// groups at once (make bench's scenario 4 on two cores: 4 writers 985
// requests/s, 2 writers 1,138, 1 writer 1,291).
const (
	groupWriters = 1
	groupMaxJobs = 500
	groupTimeout = 60 * time.Second
)

// newRedemptionQueue is the group commit of redemptions: the redemptions
// of one customer go to one writer, in the order they were made.
func (s *Service) newRedemptionQueue() *coalesce.Coalescer[redeemJob, redeemResult] {
	return coalesce.New(coalesce.Config[redeemJob, redeemResult]{
		Writers: groupWriters, MaxGroup: groupMaxJobs,
		Key: func(j redeemJob) string { return j.in.CustomerID },
		Run: s.redeemGroup,
	})
}

// redeemGroup makes a group of redemptions in one transaction
// (loyalty.WriteGroup), each as it would be made alone (redeemTx), and
// answers each one's result, by index. After the customers it locks the
// group's products, in sku order (the order a redemption alone takes
// them in), so that a featured product's stock is locked once per group,
// not once per redemption. A refusal (out of stock, over a limit, too few
// points, a reused id) undoes only its own redemption.
func (s *Service) redeemGroup(group []redeemJob) ([]redeemResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	skus := make([]string, len(group))
	for i, j := range group {
		skus[i] = j.in.SKU
	}
	return loyalty.WriteGroup(ctx, s.ledger, group, func(j redeemJob) string { return j.in.CustomerID },
		func(tx *ledger.Tx) error { return lockProducts(ctx, tx, skus) },
		func(tx *ledger.Tx, j redeemJob, locked bool) (redeemResult, error) {
			return s.redeemTx(ctx, tx, j, locked)
		},
		func(err error) redeemResult { return redeemResult{err: err} })
}

// lockProducts locks the products (skus in any order, repeats allowed)
// until tx ends as lockForRedemption locks one, in one statement: the
// featured ones for update, in sku order, then the others for share (which
// never wait for each other). An unknown sku is skipped.
func lockProducts(ctx context.Context, tx *ledger.Tx, skus []string) error {
	skus = slices.Clone(skus)
	slices.Sort(skus)
	skus = slices.Compact(skus)
	_, err := tx.Exec(ctx, `WITH featured AS (SELECT p.sku FROM unnest($1::text[]) AS u (sku)
    CROSS JOIN LATERAL (SELECT sku FROM products WHERE sku = u.sku AND kind = 'featured' OFFSET 0 FOR UPDATE) p),
  other AS (SELECT p.sku FROM unnest($1::text[]) AS u (sku)
    CROSS JOIN LATERAL (SELECT sku FROM products WHERE sku = u.sku AND kind <> 'featured' OFFSET 0 FOR SHARE) p)
SELECT sku FROM featured UNION ALL SELECT sku FROM other`, skus)
	return err
}
