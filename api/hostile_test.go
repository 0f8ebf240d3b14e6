package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/rules"
)

// rowCount is the number of rows in every table but the migrations', the
// keys' and the notice jobs' marks (how far a run got, which a run that
// announces nothing moves too): what a refused request must not change.
func (h *harness) rowCount() int64 {
	h.t.Helper()
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_migrations', 'api_keys', 'notice_marks')`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	for _, want := range []string{"entries", "postings", "customers", "products", "money_movements"} {
		if !slices.Contains(tables, want) {
			h.t.Fatalf("rowCount does not count %s (tables %v)", want, tables)
		}
	}
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
// writes: a body that is not one JSON object of a sane size is refused for
// what it is (413, 400 invalid_json), a body not sent as JSON is 415, any
// other is refused as input (400 invalid_json or 422 invalid,
// invalid_amount, invalid_rules), never a 500, and nothing is written.
func TestHostileRequests(t *testing.T) {
	h := newHarness(t)
	// Some data for the hostile requests to aim at.
	seedTargets(h)
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
		// Under the body bound, far over every text bound.
		"megabyte-reason": `{"reason":"` + strings.Repeat("R", 900_000) + `"}`,
		"megabyte-name":   `{"name":"` + strings.Repeat("N", 900_000) + `","id":"C5","sku":"mug"}`,
		// Rule sets whose numbers would cost every read and event.
		"huge-multiplier": hostileRuleSet(t, func(rs *rules.RuleSet) {
			rs.Segments[2].Multiplier = decimal.RequireFromString("1." + strings.Repeat("7", 5000))
		}),
		"huge-level": hostileRuleSet(t, func(rs *rules.RuleSet) { rs.Segments[4].LastLevel = 1 << 31 }),
	}
	contentTypes := []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", ""}

	s := New(wired(h.pool, h.ledger))
	var routes []struct{ method, path string }
	for _, r := range s.echo.Routes() {
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
			continue
		}
		// Aim at what exists: entry 1, product pen, customer C1; and a month.
		path := strings.NewReplacer("/entries/:id", "/entries/1", ":sku", "pen", ":id", "C1", ":month", "2099-01").Replace(r.Path)
		routes = append(routes, struct{ method, path string }{r.Method, path})
	}
	if len(routes) < 15 {
		t.Fatalf("only %d writing routes found", len(routes))
	}
	// Refused for what they are, whatever the route.
	shapeless := map[string]struct {
		status int
		code   fault.Code
	}{
		"huge": {413, fault.BodyTooLarge}, "deep": {400, fault.InvalidJSON}, "deep-object": {400, fault.InvalidJSON},
		"array": {400, fault.InvalidJSON}, "string": {400, fault.InvalidJSON}, "nul-byte": {400, fault.InvalidJSON},
		"trailing": {400, fault.InvalidJSON}, "empty": {400, fault.InvalidJSON}, "null": {400, fault.InvalidJSON},
	}
	asInput := []fault.Code{fault.InvalidJSON, fault.Invalid, fault.InvalidAmount, fault.InvalidRules}
	for _, r := range routes {
		noBody := r.path == "/v1/jobs/expire" || r.path == "/v1/jobs/notices" || r.path == "/v1/periods/2099-01/close" // take no body
		optional := strings.HasPrefix(r.path, "/v1/redemptions/")                                                      // takes an optional reason
		for name, body := range bodies {
			if (name == "empty" && noBody) || (name == "empty" && optional) {
				continue // the right request
			}
			res := h.do(call{method: r.method, path: r.path, key: "admin", body: body, invalid: true})
			if len(res.body) > 4096 {
				t.Errorf("%s %s with %s body: an answer of %d bytes", r.method, r.path, name, len(res.body))
			}
			want, ok := shapeless[name]
			switch {
			case noBody:
				wantProblem(t, res, 400, fault.InvalidJSON)
			case ok:
				wantProblem(t, res, want.status, want.code)
			default:
				p := res.object(t)
				if (res.status != 400 && res.status != 422) || !slices.Contains(asInput, fault.Code(fmt.Sprint(p["code"]))) {
					t.Errorf("%s %s with %s body: %d %.200s, want it refused as input", r.method, r.path, name, res.status, res.body)
				}
			}
		}
		for _, ct := range contentTypes {
			res := h.do(call{method: r.method, path: r.path, key: "admin", body: `{"id":"x"}`, invalid: true,
				header: map[string]string{"Content-Type": ct}})
			if noBody {
				wantProblem(t, res, 400, fault.InvalidJSON)
			} else {
				wantProblem(t, res, 415, fault.UnsupportedMediaType)
			}
		}
	}
	// On the rule set's own route, each costly number is refused by name.
	for name, field := range map[string]string{"huge-multiplier": "segments[2].multiplier", "huge-level": "segments[4].last_level"} {
		p := wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: bodies[name], invalid: true}), 422, fault.InvalidRules)
		if errs, _ := p["errors"].(map[string]any); errs[field] == nil {
			t.Errorf("%s: errors %v, want %s named", name, p["errors"], field)
		}
	}
	if after := h.rowCount(); after != before {
		t.Errorf("hostile requests wrote %d rows", after-before)
	}
}

// hostileRuleSet is the default rule set changed by change, effective
// tomorrow, as a PUT /v1/rules body.
func hostileRuleSet(t *testing.T, change func(*rules.RuleSet)) string {
	rs := rules.Default()
	change(&rs)
	rs.EffectiveFrom = time.Now().Add(24 * time.Hour)
	doc, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func TestNULIsRefused(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{`{"id":"C1","name":"a\u0000b"}`, `{"id":"C1","name":"a\U0000b"}`} {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/customers", key: "partner", body: body, invalid: true}), 400, fault.InvalidJSON)
	}
}

// seedTargets writes what writingBodies and the hostile requests aim at:
// customer C1 with 10 points, product pen.
func seedTargets(h *harness) {
	h.t.Helper()
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("10", "C1")})
}
