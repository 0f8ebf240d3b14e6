package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// writingBodies is a well-formed body for each route that takes one.
func writingBodies(t *testing.T) map[string]any {
	t.Helper()
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	raw, err := json.Marshal(rules.Default())
	if err != nil {
		t.Fatal(err)
	}
	var ruleSet map[string]any
	if err := json.Unmarshal(raw, &ruleSet); err != nil {
		t.Fatal(err)
	}
	delete(ruleSet, "version")
	ruleSet["effective_from"] = time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	entry := adjustment("1", "C1")
	entry["metadata"] = map[string]any{"ticket": "T-1"}
	reason := map[string]any{"reason": "a reason"}
	return map[string]any{
		"POST /v1/customers":                       map[string]any{"id": "C9", "name": "N", "referred_by": "C1"},
		"POST /v1/events":                          shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Hour)),
		"POST /v1/events/batch":                    map[string]any{"events": []any{shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Hour))}},
		"PUT /v1/rules":                            ruleSet,
		"POST /v1/campaigns":                       map[string]any{"id": "c", "name": "c", "starts_at": at, "ends_at": at, "multiplier": "2", "segments": []any{"vip"}},
		"POST /v1/products":                        map[string]any{"sku": "mug", "name": "Mug", "kind": "standard", "points_price": "10"},
		"PATCH /v1/products/pen":                   map[string]any{"name": "Pen"},
		"POST /v1/redemptions":                     map[string]any{"redemption_id": "r1", "customer_id": "C1", "sku": "pen", "quantity": 1},
		"POST /v1/redemptions/r0/cancel":           reason,
		"POST /v1/deposits":                        map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "100"},
		"POST /v1/charges":                         map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "100", "shipment_id": "S1"},
		"POST /v1/withdrawals":                     map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "100"},
		"POST /v1/deposits/d0/reversal":            reason,
		"POST /v1/charges/c0/reversal":             reason,
		"POST /v1/withdrawals/w0/reversal":         reason,
		"POST /v1/entries":                         entry,
		"POST /v1/entries/1/reversal":              reason,
		"PUT /v1/partners/1/low-balance-threshold": map[string]any{"threshold": "500"},
		"POST /v1/webhooks":                        map[string]any{"url": "https://hooks.example.com/in", "types": []any{"points.earned"}, "description": "d"},
		"PATCH /v1/webhooks/1":                     map[string]any{"url": "https://hooks.example.com/in", "types": []any{"points.earned"}, "description": "d"},
		"POST /v1/webhooks/1/redeliver":            map[string]any{"notification_id": "ntf_1"},
	}
}

// leaf is a string of a body: where it is, and the body with it replaced.
type leaf struct {
	path string // as the API names it: postings[0].account
	name string // its field's name: account
}

// stringLeaves lists the strings of v, with a function that returns a copy
// of v with the one at a path replaced.
func stringLeaves(v any, path, name string, out *[]leaf) {
	switch x := v.(type) {
	case string:
		*out = append(*out, leaf{path, name})
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			stringLeaves(e, p, k, out)
		}
	case []any:
		for i, e := range x {
			stringLeaves(e, fmt.Sprintf("%s[%d]", path, i), name, out)
		}
	case []map[string]any:
		for i, e := range x {
			stringLeaves(e, fmt.Sprintf("%s[%d]", path, i), name, out)
		}
	}
}

// replaced is a JSON copy of body with the string at path set to s.
func replaced(t *testing.T, body any, path, s string) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	var m any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var set func(v any, parts []string) any
	set = func(v any, parts []string) any {
		if len(parts) == 0 {
			return s
		}
		p := parts[0]
		name, idx, indexed := strings.Cut(p, "[")
		obj := v.(map[string]any)
		if !indexed {
			obj[name] = set(obj[name], parts[1:])
			return obj
		}
		var i int
		fmt.Sscanf(idx, "%d]", &i)
		arr := obj[name].([]any)
		arr[i] = set(arr[i], parts[1:])
		return obj
	}
	return set(m, strings.Split(path, ".")).(map[string]any)
}

// Every string a caller sends in a body has a bound: sent a megabyte reason,
// or any other string far over its bound, each writing route answers 422
// invalid naming the field (an amount: 422 invalid_amount; a time: 400
// invalid_json, their own grammars), with an answer that does not echo the
// text, and writes nothing. Metadata is bounded in bytes, keys and key
// length.
func TestOverLongTextIsRefusedOnEveryWritingRoute(t *testing.T) {
	h := newHarness(t)
	seedTargets(h)
	before := h.rowCount()

	megabyte := strings.Repeat("x", 900_000) // under the 1 MiB body bound
	long := strings.Repeat("é", 2_000)       // 4,000 bytes
	refusedOnEveryLeaf(t, h, "a long", func(lf leaf) (string, bool) {
		if lf.name == "reason" {
			return megabyte, true
		}
		return long, true
	}, true)

	// Metadata: over 4096 bytes, over 32 keys, a key over 200 bytes.
	many := map[string]any{}
	for i := range 33 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for name, md := range map[string]any{
		"bytes": map[string]any{"note": strings.Repeat("m", 4100)},
		"keys":  many,
		"key":   map[string]any{strings.Repeat("k", 201): "v"},
	} {
		body := adjustment("1", "C1")
		body["metadata"] = md
		p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: body, invalid: true}), 422, fault.Invalid)
		errs, _ := p["errors"].(map[string]any)
		named := false
		for k := range errs {
			named = named || strings.HasPrefix(k, "metadata")
		}
		if !named {
			t.Errorf("metadata over its %s bound: errors %v do not name metadata", name, p["errors"])
		}
	}
	if after := h.rowCount(); after != before {
		t.Errorf("over-long text wrote %d rows", after-before)
	}

	// At the bound, in bytes, is accepted; one byte more is not.
	at := adjustment("1", "C1")
	at["reason"] = strings.Repeat("é", maxReasonBytes/2)
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: at})
	at["reason"] = strings.Repeat("é", maxReasonBytes/2) + "x"
	wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: at, invalid: true}), 422, fault.Invalid)
	name := strings.Repeat("n", maxTextBytes)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C7", "name": name}})
	wantProblem(t, h.do(call{method: "POST", path: "/v1/customers", key: "admin", invalid: true,
		body: map[string]any{"id": "C8", "name": name + "n"}}), 422, fault.Invalid)
}

// refusedOnEveryLeaf sends each writing route's body (writingBodies) with
// one string at a time set to text(leaf), as an admin, and expects 422
// invalid naming it (an amount: 422 invalid_amount; a time: 400
// invalid_json, their own grammars; a batch: the event refused so), or
// leaves the string as it is when text says so. With short, the answer
// must be short too (the text is not echoed).
func refusedOnEveryLeaf(t *testing.T, h *harness, what string, text func(leaf) (string, bool), short bool) {
	t.Helper()
	amounts := map[string]bool{"amount": true, "points_price": true, "multiplier": true, "threshold": true}
	times := map[string]bool{"occurred_at": true, "starts_at": true, "ends_at": true, "effective_from": true}
	routes := 0
	for route, body := range writingBodies(t) {
		method, path, _ := strings.Cut(route, " ")
		var leaves []leaf
		stringLeaves(body, "", "", &leaves)
		if len(leaves) == 0 {
			t.Fatalf("%s: no string to change", route)
		}
		routes++
		for _, lf := range leaves {
			s, change := text(lf)
			if !change {
				continue
			}
			res := h.do(call{method: method, path: path, key: "admin", body: replaced(t, body, lf.path, s), invalid: true})
			if short && len(res.body) > 4096 {
				t.Errorf("%s with %s %s: an answer of %d bytes", route, what, lf.path, len(res.body))
			}
			if strings.HasSuffix(path, "/batch") {
				// The batch answers each event: that one is refused.
				var out batchAnswer
				res.json(t, &out)
				if res.status != 200 || len(out.Results) != 1 {
					t.Errorf("%s with %s %s: %d %.300s", route, what, lf.path, res.status, res.body)
					continue
				}
				p := out.Results[0].Problem
				field := strings.TrimPrefix(lf.path, "events[0].")
				if errs, _ := p["errors"].(map[string]any); out.Results[0].Status != 422 || p["code"] != "invalid" || errs[field] == nil {
					if !(amounts[lf.name] && p["code"] == "invalid_amount") && !(times[lf.name] && p["code"] == "invalid_json") {
						t.Errorf("%s with %s %s: event answered %d %v", route, what, lf.path, out.Results[0].Status, p)
					}
				}
				continue
			}
			switch {
			case amounts[lf.name] && route != "PUT /v1/rules":
				wantProblem(t, res, 422, fault.InvalidAmount)
			case times[lf.name]:
				wantProblem(t, res, 400, fault.InvalidJSON)
			case route == "PUT /v1/rules" && res.status == 400 && res.object(t)["code"] == "invalid_json":
				// a rule set's numbers are decimal strings, with a grammar
			default:
				p := wantProblem(t, res, 422, fault.Invalid)
				if errs, _ := p["errors"].(map[string]any); errs[lf.path] == nil {
					t.Errorf("%s with %s %s: errors %v do not name it", route, what, lf.path, p["errors"])
				}
			}
		}
	}
	if routes < 17 {
		t.Errorf("only %d writing routes tried", routes)
	}
}

// Text that would show as something else than what was written (a
// direction control that reorders what follows it on a statement, a line
// break in a CSV cell, an escape for a terminal) is refused in every string
// of every body but an entry's metadata, naming the field, and writes
// nothing; plain text in any script is taken.
func TestTextThatDoesNotShowAsItselfIsRefusedOnEveryWritingRoute(t *testing.T) {
	h := newHarness(t)
	seedTargets(h)
	before := h.rowCount()
	for _, bad := range []string{"\u202e", "\n", "\x1b[2J", "\u2028", "\u0085", "\u2066"} {
		text := "refund 0001 " + bad + "by hand"
		refusedOnEveryLeaf(t, h, fmt.Sprintf("%+q in", bad), func(lf leaf) (string, bool) {
			// An entry's metadata is the caller's data, sent back as JSON
			// only: any JSON string is taken as it is.
			return text, !strings.HasPrefix(lf.path, "metadata.")
		}, false)
	}
	if after := h.rowCount(); after != before {
		t.Errorf("text that does not show as itself wrote %d rows", after-before)
	}

	// Plain text in any script, emoji joined by a zero-width joiner among
	// it, is taken, in a reason as in a name.
	entry := adjustment("1", "C1")
	entry["reason"] = "退款 0001, 手工调整 👨\u200d👩\u200d👧"
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C2", "name": "王小明 Wang"}})
	bad := adjustment("1", "C1")
	bad["reason"] = "refund \u202e1000"
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: bad, invalid: true}), 422, fault.Invalid)
	if errs, _ := p["errors"].(map[string]any); errs["reason"] != notPlain {
		t.Errorf("a reason with a direction control: errors %v", p["errors"])
	}
}

// A query or path parameter over 256 bytes is refused, naming it; a
// customer route answers for such an id as for any unknown one.
func TestOverLongParameterIsRefused(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("p", maxParamBytes+1)
	p := wantProblem(t, h.do(call{method: "GET", path: "/v1/accounts?prefix=" + long, key: "admin", invalid: true}), 422, fault.Invalid)
	if errs, _ := p["errors"].(map[string]any); errs["prefix"] == nil {
		t.Errorf("errors %v do not name prefix", p["errors"])
	}
	p = wantProblem(t, h.do(call{method: "GET", path: "/v1/accounts/" + long, key: "admin", invalid: true}), 422, fault.Invalid)
	if errs, _ := p["errors"].(map[string]any); errs["code"] == nil {
		t.Errorf("errors %v do not name code", p["errors"])
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/" + long + "/balances", key: "admin", invalid: true}), 422, fault.UnknownCustomer)
	// At the bound the parameter is read.
	h.expect(200, call{method: "GET", path: "/v1/accounts?prefix=" + long[1:], key: "admin"})
}

// A customer's statement of entries each as long as the bounds allow (a
// reason of 1000 bytes) stops a page before it passes maxPageBytes, and
// its cursors page through every entry exactly once.
func TestStatementPageOfLongRowsStaysUnderTheByteBoundAndPagesThroughOnce(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	const n = 600
	ctx := context.Background()
	reason := strings.Repeat("r", maxReasonBytes)
	err := h.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		for range n {
			_, err := tx.Post(ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: reason, Postings: []ledger.PostingInput{
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-1)},
				{Account: "customer:C1:points", Amount: decimal.NewFromInt(1),
					Lot: &ledger.Lot{ExpiresAt: time.Now().AddDate(1, 0, 0)}},
			}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen, pages := pageBounded(t, h, "/v1/customers/C1/statement?limit=500", "entries", "entry_id", n)
	if pages < 2 {
		t.Errorf("%d entries of %d bytes each came in one page", n, maxReasonBytes)
	}
	books := h.textColumn(`SELECT DISTINCT p.entry_id::text FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code LIKE 'customer:C1:%'`)
	for _, id := range books {
		var f float64
		fmt.Sscan(id, &f)
		if seen[f] != 1 {
			t.Errorf("entry %s shown %d times", id, seen[f])
		}
	}
	if len(seen) != len(books) || len(books) != n {
		t.Errorf("the pages showed %d entries, the books hold %d for the customer, %d were posted", len(seen), len(books), n)
	}
}

// pageBounded pages through path (which has its own query, ending in a
// limit) following next_cursor, checking each page holds no more than the
// byte bound plus a small envelope; it counts how often each row's idField
// was seen under the answer's rows field, and fails after maxPages pages.
func pageBounded(t *testing.T, h *harness, path, rows, idField string, maxPages int) (seen map[float64]int, pages int) {
	t.Helper()
	seen, cursor := map[float64]int{}, ""
	for {
		p := path
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		res := h.expect(200, call{method: "GET", path: p, key: "admin"})
		pages++
		// The page's rows within the bound, and its envelope a few bytes.
		if len(res.body) > maxPageBytes+256 {
			t.Errorf("page %d: %d bytes, over the bound of %d", pages, len(res.body), maxPageBytes)
		}
		var page map[string]json.RawMessage
		res.json(t, &page)
		var items []map[string]any
		var next *string
		if err := json.Unmarshal(page[rows], &items); err != nil {
			t.Fatalf("page %d: %s: %v", pages, rows, err)
		}
		if err := json.Unmarshal(page["next_cursor"], &next); err != nil {
			t.Fatalf("page %d: next_cursor: %v", pages, err)
		}
		for _, e := range items {
			seen[e[idField].(float64)]++
		}
		if next == nil {
			return seen, pages
		}
		if len(items) == 0 || pages > maxPages {
			t.Fatalf("page %d: %d %s and a cursor", pages, len(items), rows)
		}
		cursor = *next
	}
}
