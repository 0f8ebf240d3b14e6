package catalog

import (
	"context"
	"slices"
	"time"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// How redemptions are grouped: up to groupWriters transactions at once,
// each of at most groupMaxJobs redemptions. groupTimeout bounds a group's
// transaction, whatever its callers' contexts: one caller giving up must
// not abort its neighbours.
const (
	groupWriters = 4
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

// redeemGroup makes a group of redemptions in one transaction and answers
// each one's result, by index. It locks the group's customers, then its
// products, each in id order (the order a redemption alone takes them in),
// so that groups never wait for each other in a cycle and a featured
// product's stock is locked once per group, not once per redemption. Then it makes each
// redemption, in order, as it would be made alone (redeemTx), in a
// savepoint: a refusal (out of stock, over a limit, too few points, a
// reused id) undoes only what that redemption did, and the redemptions
// after it see the stock and points without it. A deadlock, a lost
// database or the group's deadline fails the whole attempt: the
// transaction is retried (ledger.InTx) or its error is every redemption's.
func (s *Service) redeemGroup(group []redeemJob) ([]redeemResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	outs := make([]redeemResult, len(group))
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		clear(outs)
		ids, skus := make([]string, len(group)), make([]string, len(group))
		for i, j := range group {
			ids[i], skus[i] = j.in.CustomerID, j.in.SKU
		}
		locked, err := loyalty.LockCustomers(ctx, tx, ids)
		if err != nil {
			return err
		}
		if err := lockProducts(ctx, tx, skus); err != nil {
			return err
		}
		for i, j := range group {
			var r redeemResult
			err := tx.Savepoint(ctx, func(tx *ledger.Tx) (err error) {
				r, err = s.redeemTx(ctx, tx, j, locked[j.in.CustomerID])
				return err
			})
			if err != nil && (fault.Transient(err) || fault.DatabaseLost(err) || ctx.Err() != nil) {
				return err
			}
			if err != nil {
				r = redeemResult{err: err}
			}
			outs[i] = r
		}
		return nil
	})
	return outs, err
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
