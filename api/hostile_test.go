package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// rowCount is the number of rows in every table but the migrations' and the
// keys': what a refused request must not change.
func (h *harness) rowCount() int64 {
	h.t.Helper()
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_migrations', 'api_keys')`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		rows.Scan(&t)
		tables = append(tables, t)
	}
	rows.Close()
	var total int64
	for _, t := range tables {
		var n int64
		if err := h.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		total += n
	}
	return total
}

// TestHostileRequests sends a corpus of hostile requests to every route that
// writes: each is answered with a 4xx problem+json, never a 500, and writes
// nothing.
func TestHostileRequests(t *testing.T) {
	h := newHarness(t)
	// Some data for the hostile requests to aim at.
	h.do(call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	h.do(call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	before := h.rowCount()

	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	bodies := map[string]string{
		"huge":          `{"name":"` + strings.Repeat("A", 3<<20) + `"}`,
		"deep":          deep,
		"deep-object":   strings.Repeat(`{"a":`, 50000) + "1" + strings.Repeat("}", 50000),
		"null":          `null`,
		"array":         `[]`,
		"string":        `"hello"`,
		"nul-byte":      "{\"id\":\"\x00\"}",
		"bad-utf8":      "{\"id\":\"\xff\xfe\"}",
		"trailing":      `{} {}`,
		"empty":         ``,
		"number-amount": `{"amount":1e9999}`,
		"exp-amount":    `{"amount":"1e9999","customer_id":"C1","deposit_id":"d","event_id":"e","type":"shipment.completed","shipment_id":"S","occurred_at":"2026-01-01T00:00:00Z","charge_id":"c","withdrawal_id":"w"}`,
		"negative-zero": `{"amount":"-0","customer_id":"C1","deposit_id":"d","event_id":"e","type":"shipment.completed","shipment_id":"S","occurred_at":"2026-01-01T00:00:00Z"}`,
		"nan":           `{"amount":"NaN","customer_id":"C1","deposit_id":"d","event_id":"e","type":"shipment.completed","shipment_id":"S","occurred_at":"2026-01-01T00:00:00Z"}`,
		"sql-ids":       `{"id":"C1' OR '1'='1","customer_id":"C1; DROP TABLE entries","sku":"pen'--","deposit_id":"x' OR 1=1","name":"x"}`,
		"unicode-ids":   `{"id":"客户一","customer_id":"клиент","sku":"ペン","name":"名字","redemption_id":"赎回","quantity":1}`,
		"huge-numbers":  `{"quantity":99999999999999999999999,"rating":1e400,"min_level":-1,"stock":-5}`,
	}
	contentTypes := []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", ""}

	s := New(Config{Ledger: h.ledger})
	var routes []struct{ method, path string }
	for _, r := range s.echo.Routes() {
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
			continue
		}
		path := r.Path
		for _, p := range []string{":code", ":id", ":sku"} {
			path = strings.ReplaceAll(path, p, "C1")
		}
		routes = append(routes, struct{ method, path string }{r.Method, path})
	}
	if len(routes) < 15 {
		t.Fatalf("only %d writing routes found", len(routes))
	}
	for _, r := range routes {
		for name, body := range bodies {
			if name == "empty" && r.path == "/v1/jobs/expire" {
				continue // takes no body: an empty one is the right request
			}
			res := h.do(call{method: r.method, path: r.path, key: "admin", body: body, invalid: true})
			if res.status < 400 || res.status >= 500 {
				t.Errorf("%s %s with %s body: %d %.200s", r.method, r.path, name, res.status, res.body)
			}
		}
		for _, ct := range contentTypes {
			res := h.do(call{method: r.method, path: r.path, key: "admin", body: `{"id":"x"}`, invalid: true,
				header: map[string]string{"Content-Type": ct}})
			if res.status < 400 || res.status >= 500 {
				t.Errorf("%s %s as %q: %d %.200s", r.method, r.path, ct, res.status, res.body)
			}
		}
	}
	if after := h.rowCount(); after != before {
		t.Errorf("hostile requests wrote %d rows", after-before)
	}
}

func TestNULIsRefused(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{`{"id":"C1","name":"a\u0000b"}`, `{"id":"C1","name":"a\U0000b"}`} {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/customers", key: "partner", body: body, invalid: true}), 400, codeInvalidJSON)
	}
}
