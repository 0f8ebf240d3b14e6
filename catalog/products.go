package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Product kinds (docs/RULES.md).
const (
	Standard = "standard" // every customer
	Level    = "level"    // customers whose level is at least min_level
	Featured = "featured" // inside a window, while stock lasts
)

// Product is a points product of the catalogue.
type Product struct {
	SKU              string     `json:"sku"`
	Name             string     `json:"name"`
	Kind             string     `json:"kind"`
	PointsPrice      int64      `json:"points_price,string"`
	MinLevel         *int       `json:"min_level"`
	ValidFrom        *time.Time `json:"valid_from"`
	ValidUntil       *time.Time `json:"valid_until"`
	Stock            *int       `json:"stock"`
	PerCustomerLimit *int       `json:"per_customer_limit"`
	Active           bool       `json:"active"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

const (
	maxPrice = 1_000_000_000
	maxUnits = 1_000_000_000 // stock and limits: PostgreSQL integers
)

// check validates a product's fields for its kind.
func (p *Product) check() error {
	bad := map[string]string{}
	p.Name = strings.TrimSpace(p.Name)
	if !ledger.ValidCustomerID(p.SKU) {
		bad["sku"] = "1 to 64 letters, digits, '_', '.' or '-'"
	}
	if p.Name == "" || len(p.Name) > 200 {
		bad["name"] = "required, at most 200 characters"
	}
	if p.PointsPrice <= 0 || p.PointsPrice > maxPrice {
		bad["points_price"] = "a whole number of points from 1 to 1,000,000,000"
	}
	if p.MinLevel != nil && (*p.MinLevel < 1 || *p.MinLevel > 1000) {
		bad["min_level"] = "a level from 1"
	}
	featuredOnly := p.ValidFrom != nil || p.ValidUntil != nil || p.Stock != nil || p.PerCustomerLimit != nil
	switch p.Kind {
	case Standard:
		if p.MinLevel != nil || featuredOnly {
			bad["kind"] = "a standard product has no min_level, window, stock or limit"
		}
	case Level:
		if p.MinLevel == nil {
			bad["min_level"] = "required for a level product"
		}
		if featuredOnly {
			bad["kind"] = "a level product has no window, stock or limit"
		}
	case Featured:
		if p.ValidFrom == nil || p.ValidUntil == nil || !p.ValidUntil.After(*p.ValidFrom) {
			bad["valid_until"] = "valid_from and valid_until are required, valid_until after valid_from"
		}
		if p.Stock == nil || *p.Stock < 0 || *p.Stock > maxUnits {
			bad["stock"] = "required, from 0 to 1,000,000,000"
		}
		if p.PerCustomerLimit != nil && (*p.PerCustomerLimit < 1 || *p.PerCustomerLimit > maxUnits) {
			bad["per_customer_limit"] = "from 1 to 1,000,000,000"
		}
	default:
		bad["kind"] = "one of standard, level, featured"
	}
	if len(bad) > 0 {
		return &fault.Error{Code: fault.Invalid, Message: "the product is invalid", Fields: bad}
	}
	return nil
}

const productColumns = `sku, name, kind, points_price, min_level, valid_from, valid_until, stock, per_customer_limit,
    active, created_at, updated_at`

func scanProduct(row pgx.Row) (Product, error) {
	var p Product
	err := row.Scan(&p.SKU, &p.Name, &p.Kind, &p.PointsPrice, &p.MinLevel, &p.ValidFrom, &p.ValidUntil, &p.Stock,
		&p.PerCustomerLimit, &p.Active, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// CreateProduct adds a product to the catalogue.
//
// Errors: fault.Invalid, fault.ProductExists.
func (s *Service) CreateProduct(ctx context.Context, p Product) (Product, error) {
	if err := p.check(); err != nil {
		return p, err
	}
	out, err := scanProduct(s.db.QueryRow(ctx, `INSERT INTO products (sku, name, kind, points_price, min_level,
    valid_from, valid_until, stock, per_customer_limit, active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10, $10)
RETURNING `+productColumns, p.SKU, p.Name, p.Kind, p.PointsPrice, p.MinLevel, p.ValidFrom, p.ValidUntil, p.Stock,
		p.PerCustomerLimit, s.ledger.Now()))
	if fault.UniqueViolation(err, "") {
		return p, &fault.Error{Code: fault.ProductExists, Message: "a product with SKU " + p.SKU + " exists: PATCH it"}
	}
	return out, err
}

// ProductPatch changes some fields of a product; nil leaves a field alone.
// A product's SKU and kind never change.
type ProductPatch struct {
	Name             *string
	PointsPrice      *int64
	MinLevel         *int
	ValidFrom        *time.Time
	ValidUntil       *time.Time
	Stock            *int
	PerCustomerLimit *int
	Active           *bool
	// Clear names the optional fields to make none (a featured product's
	// min_level or per_customer_limit), by their names in ClearableFields;
	// a field may not be both set and cleared.
	Clear []string
}

// ClearableFields are the fields a ProductPatch may clear, by name.
var ClearableFields = []string{"min_level", "valid_from", "valid_until", "stock", "per_customer_limit"}

// UpdateProduct applies the patch and validates the result.
//
// Errors: fault.UnknownProduct, fault.Invalid.
func (s *Service) UpdateProduct(ctx context.Context, sku string, patch ProductPatch) (Product, error) {
	var out Product
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		p, err := product(ctx, tx, sku, true)
		if err != nil {
			return err
		}
		set(&p.Name, patch.Name)
		set(&p.PointsPrice, patch.PointsPrice)
		set(&p.Active, patch.Active)
		setPtr(&p.MinLevel, patch.MinLevel)
		setPtr(&p.ValidFrom, patch.ValidFrom)
		setPtr(&p.ValidUntil, patch.ValidUntil)
		setPtr(&p.Stock, patch.Stock)
		setPtr(&p.PerCustomerLimit, patch.PerCustomerLimit)
		if err := patch.clear(&p); err != nil {
			return err
		}
		if err := p.check(); err != nil {
			return err
		}
		out, err = scanProduct(tx.QueryRow(ctx, `UPDATE products SET name = $2, points_price = $3, min_level = $4,
    valid_from = $5, valid_until = $6, stock = $7, per_customer_limit = $8, active = $9, updated_at = $10
WHERE sku = $1 RETURNING `+productColumns, sku, p.Name, p.PointsPrice, p.MinLevel, p.ValidFrom, p.ValidUntil, p.Stock,
			p.PerCustomerLimit, p.Active, tx.Now()))
		return err
	})
	return out, err
}

// clear makes none the fields the patch clears, which it may not also set.
func (patch ProductPatch) clear(p *Product) error {
	fields := map[string]struct {
		set   bool
		clear func()
	}{
		"min_level":          {patch.MinLevel != nil, func() { p.MinLevel = nil }},
		"valid_from":         {patch.ValidFrom != nil, func() { p.ValidFrom = nil }},
		"valid_until":        {patch.ValidUntil != nil, func() { p.ValidUntil = nil }},
		"stock":              {patch.Stock != nil, func() { p.Stock = nil }},
		"per_customer_limit": {patch.PerCustomerLimit != nil, func() { p.PerCustomerLimit = nil }},
	}
	for _, name := range patch.Clear {
		f, ok := fields[name]
		switch {
		case !ok:
			return fault.InvalidField("clear", "only "+strings.Join(ClearableFields, ", "))
		case f.set:
			return fault.InvalidField("clear", name+" is both set and cleared")
		}
		f.clear()
	}
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setPtr[T any](dst **T, v *T) {
	if v != nil {
		c := *v
		*dst = &c
	}
}

// MaxPage is the most rows a page of products or of a catalogue holds.
const MaxPage = 500

// Products lists the whole catalogue by SKU, page by page.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	var all []Product
	for after := ""; ; {
		page, next, err := s.ProductPage(ctx, after, MaxPage)
		if err != nil || next == "" {
			return append(all, page...), err
		}
		all, after = append(all, page...), next
	}
}

// ProductPage lists up to limit products by SKU, those after the SKU after
// (from the first when it is empty), and the SKU to continue after; that
// is empty on the last page.
//
// Errors: fault.Invalid (a limit or cursor out of range).
func (s *Service) ProductPage(ctx context.Context, after string, limit int) ([]Product, string, error) {
	if limit < 1 || limit > MaxPage || (after != "" && !ledger.ValidCustomerID(after)) {
		return nil, "", &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf("a page is 1 to %d products, after a SKU", MaxPage),
			Fields: map[string]string{"cursor": "a next_cursor of an earlier page"}}
	}
	rows, err := s.db.Query(ctx, `SELECT `+productColumns+` FROM products WHERE sku > $1 ORDER BY sku LIMIT $2`,
		after, limit+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].SKU
	}
	return list, next, nil
}

// Product reads the product sku.
//
// Errors: fault.UnknownProduct.
func (s *Service) Product(ctx context.Context, sku string) (Product, error) {
	var out Product
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = product(ctx, tx, sku, false)
		return err
	})
	return out, err
}

func product(ctx context.Context, tx pgx.Tx, sku string, lock bool) (Product, error) {
	q := `SELECT ` + productColumns + ` FROM products WHERE sku = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	p, err := scanProduct(tx.QueryRow(ctx, q, sku))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, &fault.Error{Code: fault.UnknownProduct, Message: "no product " + sku}
	}
	return p, err
}

// lockForRedemption reads the product and locks it as a redemption (or
// its cancellation) needs until tx ends: a featured product, which has a
// stock, for update (one redemption at a time moves its stock); any other
// for share (its terms hold while it is redeemed: an update to it waits,
// but redemptions of it do not wait for each other). A product's kind, and
// so its lock, never changes.
//
// Errors: fault.UnknownProduct.
func lockForRedemption(ctx context.Context, tx pgx.Tx, sku string) (Product, error) {
	p, err := scanProduct(tx.QueryRow(ctx, `WITH featured AS (SELECT `+productColumns+` FROM products
    WHERE sku = $1 AND kind = 'featured' FOR UPDATE),
  other AS (SELECT `+productColumns+` FROM products WHERE sku = $1 AND kind <> 'featured' FOR SHARE)
SELECT * FROM featured UNION ALL SELECT * FROM other`, sku))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, &fault.Error{Code: fault.UnknownProduct, Message: "no product " + sku}
	}
	return p, err
}
