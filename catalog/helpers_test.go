package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
)

// env is a fresh database with every service on it (servicetest.Env): the
// loyalty programme for the customers and the shipments that earn them
// points, and the catalogue they spend them in.
type env struct{ *servicetest.Env }

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env { return &env{servicetest.New(t)} }

// Shorthands for the fixtures of servicetest.
var shanghai, march, d = servicetest.Shanghai, servicetest.March, servicetest.D

func ptr[T any](v T) *T { return &v }

// stock is the product's stock now.
func (e *env) stock(t testing.TB, sku string) int {
	t.Helper()
	products, err := e.Catalog.Products(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		if p.SKU == sku {
			if p.Stock == nil {
				t.Fatalf("product %s has no stock", sku)
			}
			return *p.Stock
		}
	}
	t.Fatalf("no product %s", sku)
	return 0
}
