package catalog

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// CatalogItem is a product as one customer sees it now.
type CatalogItem struct {
	Product
	Redeemable bool `json:"redeemable"`
	// Reason is why it is not redeemable now: one of not_eligible,
	// outside_window, out_of_stock, limit_reached, insufficient_points.
	Reason *fault.Code `json:"reason"`
	Detail string      `json:"detail,omitempty"`
}

// Catalog lists the active products with, for each, whether the customer
// may redeem one now and if not, why.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Catalog(ctx context.Context, customerID string) ([]CatalogItem, error) {
	var items []CatalogItem
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		items = nil
		now := tx.Now()
		if _, err := loyalty.ReadCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		tier, err := s.customers.TierAt(ctx, tx, customerID, now)
		if err != nil {
			return err
		}
		points, err := tx.LotSummary(ctx, ledger.CustomerAccount(customerID, "points"), now)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+productColumns+` FROM products WHERE active ORDER BY kind, points_price, sku`)
		if err != nil {
			return err
		}
		products, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
		if err != nil {
			return err
		}
		for _, p := range products {
			redeemed, err := redeemedBy(ctx, tx, customerID, p.SKU)
			if err != nil {
				return err
			}
			item := CatalogItem{Product: p, Redeemable: true}
			if err := eligible(p, 1, tier.Level, redeemed, points.Available, now); err != nil {
				code := fault.CodeOf(err)
				item.Redeemable, item.Reason, item.Detail = false, &code, err.(*fault.Error).Message
			}
			items = append(items, item)
		}
		return nil
	})
	if items == nil {
		items = []CatalogItem{}
	}
	return items, err
}

// redeemedBy is how many units of the product the customer holds from
// redemptions not cancelled.
func redeemedBy(ctx context.Context, tx pgx.Tx, customerID, sku string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0) FROM redemptions
WHERE customer_id = $1 AND sku = $2 AND cancelled_at IS NULL AND entry_id IS NOT NULL`, customerID, sku).Scan(&n)
	return n, err
}

// eligible decides whether a customer of level, who already redeemed
// `redeemed` units and has `available` points, may redeem q units now.
func eligible(p Product, q int, level, redeemed int, available int64, now time.Time) error {
	switch {
	case p.MinLevel != nil && level < *p.MinLevel:
		return fault.Errorf(fault.NotEligible, "%s needs level %d; the customer is at level %d", p.SKU, *p.MinLevel, level)
	case p.Kind == Featured && (now.Before(*p.ValidFrom) || !now.Before(*p.ValidUntil)):
		return fault.Errorf(fault.OutsideWindow, "%s is on offer from %s until %s", p.SKU,
			p.ValidFrom.Format(time.RFC3339), p.ValidUntil.Format(time.RFC3339))
	case p.Stock != nil && *p.Stock < q:
		return fault.Errorf(fault.OutOfStock, "%s has %d left", p.SKU, *p.Stock)
	case p.PerCustomerLimit != nil && redeemed+q > *p.PerCustomerLimit:
		return fault.Errorf(fault.LimitReached, "%s is limited to %d per customer; %d already redeemed", p.SKU,
			*p.PerCustomerLimit, redeemed)
	case available < p.PointsPrice*int64(q):
		return fault.Errorf(fault.InsufficientPoints, "%d points needed, %d available", p.PointsPrice*int64(q), available)
	}
	return nil
}
