package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Catalog lists every active product as the customer sees it now, page by
// page (CatalogPage).
//
// Errors: fault.UnknownCustomer.
func (s *Service) Catalog(ctx context.Context, customerID string) ([]CatalogItem, error) {
	all := []CatalogItem{}
	for after := ""; ; {
		page, next, err := s.CatalogPage(ctx, customerID, after, MaxPage)
		if err != nil || next == "" {
			return append(all, page...), err
		}
		all, after = append(all, page...), next
	}
}

// CatalogPage lists up to limit active products, by kind, points price and
// SKU, with, for each, whether the customer may redeem one now and if not,
// why. It starts after the cursor after (from the first when it is empty)
// and answers the cursor of the next page, empty on the last page. A cursor
// is opaque to callers: the kind, price and SKU of the page's last product.
//
// Errors: fault.UnknownCustomer, fault.Invalid (a limit or cursor out of
// range).
func (s *Service) CatalogPage(ctx context.Context, customerID, after string, limit int) ([]CatalogItem, string, error) {
	from, ok := parseCatalogCursor(after)
	if limit < 1 || limit > MaxPage || !ok {
		return nil, "", &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf(
			"a page is 1 to %d products, after the cursor of an earlier page", MaxPage),
			Fields: map[string]string{"cursor": "a next_cursor of an earlier page"}}
	}
	var (
		items []CatalogItem
		next  string
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		items, next = []CatalogItem{}, ""
		v, err := s.viewOf(ctx, tx, customerID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+productColumns+` FROM products
WHERE active AND ($1 = '' OR (kind, points_price, sku) > ($2, $3, $1))
ORDER BY kind, points_price, sku LIMIT $4`, from.sku, from.kind, from.price, limit+1)
		if err != nil {
			return err
		}
		products, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
		if err != nil {
			return err
		}
		if len(products) > limit {
			products = products[:limit]
			next = CatalogCursorAfter(products[limit-1])
		}
		for _, p := range products {
			item, err := v.item(ctx, tx, p)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// Item is one active product as the customer sees it now, as a catalogue
// page shows it, read by its SKU alone: what the portal's confirmation of a
// redemption shows, at the cost of one product whatever the catalogue's
// size.
//
// Errors: fault.UnknownCustomer, fault.UnknownProduct (no active product
// of that SKU).
func (s *Service) Item(ctx context.Context, customerID, sku string) (CatalogItem, error) {
	var item CatalogItem
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		v, err := s.viewOf(ctx, tx, customerID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+productColumns+` FROM products WHERE sku = $1 AND active`, sku)
		if err != nil {
			return err
		}
		p, err := pgx.CollectOneRow(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Errorf(fault.UnknownProduct, "no product %s", sku)
		}
		if err != nil {
			return err
		}
		item, err = v.item(ctx, tx, p)
		return err
	})
	return item, err
}

// customerView is what decides, for one customer now, whether a product
// may be redeemed: their level and the points they may spend.
type customerView struct {
	id        string
	level     int
	available int64
	now       time.Time
}

// viewOf reads the customer's view in tx.
//
// Errors: fault.UnknownCustomer.
func (s *Service) viewOf(ctx context.Context, tx *ledger.Tx, customerID string) (customerView, error) {
	now := tx.Now()
	if _, err := loyalty.ReadCustomer(ctx, tx, customerID); err != nil {
		return customerView{}, err
	}
	tier, err := s.customers.TierAt(ctx, tx, customerID, now)
	if err != nil {
		return customerView{}, err
	}
	// What a redemption may spend: it settles what the customer owes
	// first, so a product priced above the rest is not redeemable.
	points, err := loyalty.PointsSummaryIn(ctx, tx, customerID)
	if err != nil {
		return customerView{}, err
	}
	return customerView{id: customerID, level: tier.Level, available: points.Available, now: now}, nil
}

// item is p as the customer sees it: redeemable, or why not.
func (v customerView) item(ctx context.Context, tx *ledger.Tx, p Product) (CatalogItem, error) {
	redeemed, err := redeemedBy(ctx, tx, v.id, p.SKU)
	if err != nil {
		return CatalogItem{}, err
	}
	item := CatalogItem{Product: p, Redeemable: true}
	if err := eligible(p, 1, v.level, redeemed, v.available, v.now); err != nil {
		code := fault.CodeOf(err)
		item.Redeemable, item.Reason, item.Detail = false, &code, err.(*fault.Error).Message
	}
	return item, nil
}

// catalogCursor is where a page of a catalogue ends, in its order.
type catalogCursor struct {
	kind  string
	price int64
	sku   string
}

// String is the cursor as callers see it: base64url of kind.price.sku.
func (c catalogCursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s.%d.%s", c.kind, c.price, c.sku))
}

// CatalogCursorAfter is the cursor of a catalogue page that ends with p.
func CatalogCursorAfter(p Product) string {
	return catalogCursor{kind: p.Kind, price: p.PointsPrice, sku: p.SKU}.String()
}

// parseCatalogCursor reads a cursor made by String; "" is the start.
func parseCatalogCursor(s string) (catalogCursor, bool) {
	if s == "" {
		return catalogCursor{}, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return catalogCursor{}, false
	}
	kind, rest, ok1 := strings.Cut(string(b), ".")
	price, sku, ok2 := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(price, 10, 64)
	if !ok1 || !ok2 || err != nil || n < 0 || strconv.FormatInt(n, 10) != price || !ledger.ValidCustomerID(sku) ||
		(kind != Standard && kind != Level && kind != Featured) {
		return catalogCursor{}, false
	}
	return catalogCursor{kind: kind, price: n, sku: sku}, true
}

// redeemedBy is how many units of the product the customer holds from
// redemptions not cancelled.
func redeemedBy(ctx context.Context, tx pgx.Tx, customerID, sku string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, qRedeemedBy, customerID, sku).Scan(&n)
	return n, err
}

const qRedeemedBy = `SELECT coalesce(sum(quantity), 0) FROM redemptions
WHERE customer_id = $1 AND sku = $2 AND cancelled_at IS NULL AND entry_id IS NOT NULL`

// queueRedeemedBy queues redeemedBy into b, its answer into n.
func queueRedeemedBy(b *pgx.Batch, customerID, sku string, n *int) {
	b.Queue(qRedeemedBy, customerID, sku).QueryRow(func(row pgx.Row) error { return row.Scan(n) })
}

// qRedeemedByMany is redeemedBy of each (customer $1[i], product $2[i]),
// in their order: each pair's redemptions found through
// redemptions_customer_sku, whatever a generic plan guesses of the arrays
// (OFFSET 0).
const qRedeemedByMany = `SELECT coalesce(r.n, 0) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (customer, sku, ord)
CROSS JOIN LATERAL (SELECT sum(quantity) AS n FROM redemptions
                    WHERE customer_id = u.customer AND sku = u.sku AND cancelled_at IS NULL AND entry_id IS NOT NULL OFFSET 0) r
ORDER BY u.ord`

// queueRedeemedByMany queues redeemedBy of every (customers[i], skus[i])
// into b, in one statement, the answers into n by index.
func queueRedeemedByMany(b *pgx.Batch, customers, skus []string, n []int) {
	b.Queue(qRedeemedByMany, customers, skus).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err == nil && len(got) != len(n) {
			err = fmt.Errorf("catalog: %d redeemed counts read for %d pairs", len(got), len(n))
		}
		copy(n, got)
		return err
	})
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
