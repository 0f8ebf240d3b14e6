package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// pageThrough reads path page by page with limit=2, calling between(i)
// after page i, and answers each row's key (by keyOf) in the order read.
// Every page but the last has a next_cursor; the last has null.
func pageThrough(t *testing.T, h *harness, path, field string, keyOf func(map[string]any) string, between func(int)) []string {
	t.Helper()
	var keys []string
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for page := 1; ; page++ {
		p := path + sep + "limit=2"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		body := h.expect(200, call{method: "GET", path: p, key: "admin"}).object(t)
		rows, _ := body[field].([]any)
		if len(rows) > 2 {
			t.Fatalf("%s page %d: %d rows, limit 2", path, page, len(rows))
		}
		for _, r := range rows {
			keys = append(keys, keyOf(r.(map[string]any)))
		}
		next, present := body["next_cursor"]
		if !present {
			t.Fatalf("%s page %d: no next_cursor: %v", path, page, body)
		}
		if next == nil {
			return keys
		}
		if len(rows) == 0 || page > 50 {
			t.Fatalf("%s page %d: %d rows and a cursor", path, page, len(rows))
		}
		cursor = next.(string)
		between(page)
	}
}

func field(name string) func(map[string]any) string {
	return func(m map[string]any) string { return fmt.Sprint(m[name]) }
}

// wantPagedOnce checks that paging read want, each once and in order.
func wantPagedOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s paged by 2 while rows were added:\n got %v\nwant %v", what, got, want)
	}
}

// badPages checks that a bad limit and bad cursors are 422 invalid.
func badPages(t *testing.T, h *harness, key, path string, cursors ...string) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x"} {
		wantProblem(t, h.do(call{method: "GET", path: path + sep + q, key: key, invalid: true}), 422, fault.Invalid)
	}
	for _, c := range cursors {
		p := wantProblem(t, h.do(call{method: "GET", path: path + sep + "cursor=" + url.QueryEscape(c), key: key}), 422, fault.Invalid)
		if errs, _ := p["errors"].(map[string]any); errs["cursor"] == nil {
			t.Errorf("%s cursor %q: errors %v, want cursor named", path, c, p["errors"])
		}
	}
}

// GET /v1/products pages by sku: paged two at a time while products are
// added both behind the cursor (never shown) and ahead of it (shown once),
// it lists every product that was there and every one added ahead, each
// once, by sku; bad limits and cursors are refused.
func TestProductsPageBySKUExactlyOnceWhileProductsAreAdded(t *testing.T) {
	h := newHarness(t)
	add := func(sku string, price int) {
		t.Helper()
		h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": sku, "name": "N " + sku,
			"kind": "standard", "points_price": fmt.Sprint(price)}})
	}
	want := []string{"p1", "p3", "p5", "p7", "p9"}
	for _, sku := range want {
		add(sku, 10)
	}
	got := pageThrough(t, h, "/v1/products", "products", field("sku"), func(page int) {
		add(fmt.Sprintf("a%02d", page), 10) // behind every cursor
		ahead := fmt.Sprintf("q%02d", page)
		add(ahead, 10)
		want = append(want, ahead)
	})
	wantPagedOnce(t, "products", got, want)
	all := h.expect(200, call{method: "GET", path: "/v1/products", key: "finance"}).object(t)
	if n := len(all["products"].([]any)); n != len(want)+len(want)-5 || all["next_cursor"] != nil {
		t.Errorf("one page of every product: %d rows, next %v; want %d and null", n, all["next_cursor"], 2*len(want)-5)
	}
	badPages(t, h, "admin", "/v1/products", "!", strings.Repeat("x", 65))
}

// GET /v1/customers/{id}/catalog pages in its order (kind, points price,
// sku): the same exactly-once property, with products added below the
// cursor's price (never shown) and above it (shown once); a cursor that is
// not one the server made is refused.
func TestCustomerCatalogPagesInItsOrderExactlyOnceWhileProductsAreAdded(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	add := func(sku string, price int) {
		t.Helper()
		h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": sku, "name": "N " + sku,
			"kind": "standard", "points_price": fmt.Sprint(price)}})
	}
	// By price first: z-named products are cheap, a-named dear.
	want := []string{"z1", "y2", "x3", "w4", "v5"}
	for i, sku := range want {
		add(sku, 10*(i+1))
	}
	got := pageThrough(t, h, "/v1/customers/C1/catalog", "items", field("sku"), func(page int) {
		add(fmt.Sprintf("b%02d", page), 1) // cheapest: behind every cursor
		ahead := fmt.Sprintf("a%02d", page)
		add(ahead, 1000+page)
		want = append(want, ahead)
	})
	wantPagedOnce(t, "the catalogue", got, want)
	// The customer's own key pages too.
	first := h.expect(200, call{method: "GET", path: "/v1/customers/C1/catalog?limit=1", key: "customer"}).object(t)
	if items := first["items"].([]any); len(items) != 1 || items[0].(map[string]any)["sku"] != "b01" || first["next_cursor"] == nil {
		t.Errorf("C1's first page of 1: %v", first)
	}
	badPages(t, h, "admin", "/v1/customers/C1/catalog", "x", "!!",
		b64("gold.10.z1"), b64("standard.-1.z1"), b64("standard.010.z1"), b64("standard.10.bad sku"))
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/ghost/catalog", key: "admin"}), 422, fault.UnknownCustomer)
}

// GET /v1/campaigns pages by id, with and without active_at: the same
// exactly-once property while campaigns are added behind and ahead of the
// cursor, and active_at keeps only the campaigns active then on each page.
func TestCampaignsPageByIDExactlyOnceWhileCampaignsAreAdded(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	add := func(id string, active bool) {
		t.Helper()
		start := now.Add(10 * time.Minute) // campaigns start ahead: active at now + 1 hour
		if !active {
			start = now.Add(240 * time.Hour)
		}
		h.expect(201, call{method: "POST", path: "/v1/campaigns", key: "admin", body: map[string]any{"id": id, "name": "N " + id,
			"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(48 * time.Hour).Format(time.RFC3339), "multiplier": "1.5"}})
	}
	var all []string
	active := map[string]bool{}
	for i, id := range []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7"} {
		add(id, i%2 == 0)
		all = append(all, id)
		active[id] = i%2 == 0
	}
	got := pageThrough(t, h, "/v1/campaigns", "campaigns", field("id"), func(page int) {
		add(fmt.Sprintf("a%02d", page), true) // behind every cursor
		active[fmt.Sprintf("a%02d", page)] = true
		ahead := fmt.Sprintf("d%02d", page)
		add(ahead, true)
		all = append(all, ahead)
		active[ahead] = true
	})
	wantPagedOnce(t, "campaigns", got, all)
	var want []string // every campaign active an hour from now, by id
	for id, on := range active {
		if on {
			want = append(want, id)
		}
	}
	slices.Sort(want) // ids of lower-case letters and digits: byte order is the database's
	at := url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339))
	got = pageThrough(t, h, "/v1/campaigns?active_at="+at, "campaigns", field("id"), func(page int) {
		add(fmt.Sprintf("0%02d", page), true)  // behind every cursor
		add(fmt.Sprintf("e%02d", page), false) // not active then: never listed
		ahead := fmt.Sprintf("f%02d", page)
		add(ahead, true)
		want = append(want, ahead)
	})
	wantPagedOnce(t, "campaigns active at "+at, got, want)
	badPages(t, h, "partner", "/v1/campaigns", "!", strings.Repeat("x", 65))
	badPages(t, h, "partner", "/v1/campaigns?active_at="+at, "!")
}

// GET /v1/rules/versions pages by version from the default (version 1):
// paged two at a time while versions are put, every version is listed once
// in order; bad limits and cursors are refused.
func TestRuleVersionsPageByVersionExactlyOnceWhileVersionsArePut(t *testing.T) {
	h := newHarness(t)
	doc := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	delete(doc, "version")
	from := time.Now().Add(24 * time.Hour)
	put := func() {
		t.Helper()
		from = from.Add(time.Hour)
		doc["effective_from"] = from.Format(time.RFC3339)
		h.expect(201, call{method: "PUT", path: "/v1/rules", key: "admin", body: doc})
	}
	want := []string{"1"}
	for v := 2; v <= 5; v++ {
		put()
		want = append(want, fmt.Sprint(v))
	}
	got := pageThrough(t, h, "/v1/rules/versions", "versions", field("version"), func(int) {
		put()
		want = append(want, fmt.Sprint(len(want)+1))
	})
	wantPagedOnce(t, "rule versions", got, want)
	badPages(t, h, "finance", "/v1/rules/versions", "x", "0", "-1")
	// The cursor of a page is where the next starts: after version 2.
	page := h.expect(200, call{method: "GET", path: "/v1/rules/versions?cursor=2&limit=1", key: "partner"}).object(t)
	if vs := page["versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["version"] != float64(3) || page["next_cursor"] != "3" {
		t.Errorf("after version 2, limit 1: %v", page)
	}
	// A cursor past the last version (a page kept while no version came) is
	// an empty last page, as the other lists answer it.
	page = h.expect(200, call{method: "GET", path: fmt.Sprintf("/v1/rules/versions?cursor=%d", len(want)+100), key: "partner"}).object(t)
	if vs := page["versions"].([]any); len(vs) != 0 || page["next_cursor"] != nil {
		t.Errorf("past the last version: %v", page)
	}
}

// largestRuleSet is a valid rule set as large as the bounds allow: 20
// segments with 32-byte codes and 20 rebate tiers.
func largestRuleSet(doc map[string]any) map[string]any {
	var segments, rebates []any
	for i := range 20 {
		seg := map[string]any{"code": fmt.Sprintf("%032d", i), "min": fmt.Sprintf("%d.25", 1000*i),
			"first_level": 50*i + 1, "last_level": 50*i + 50, "multiplier": "1.2345"}
		if i == 0 {
			seg["min"] = "0"
		}
		if i == 19 {
			seg["level_step"] = "99999.99"
		}
		segments = append(segments, seg)
		rebates = append(rebates, map[string]any{"min": fmt.Sprintf("%d", 100000*i), "rate": fmt.Sprintf("0.%04d", i+1)})
	}
	doc["segments"], doc["rebates"] = segments, rebates
	return doc
}

// A page of rule versions, each as large as the bounds allow, stops before
// its rows pass maxPageBytes, and its cursors read every version once.
func TestRuleVersionsPageStaysUnderTheByteBound(t *testing.T) {
	h := newHarness(t)
	doc := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	delete(doc, "version")
	doc["effective_from"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	big := h.expect(201, call{method: "PUT", path: "/v1/rules", key: "admin", body: largestRuleSet(doc)}).body
	one := len(big)
	n := maxPageBytes/one + 20 // more than one page's bytes, within one limit
	if n+2 > 500 {
		t.Fatalf("a rule set is %d bytes: %d versions pass the bound, more than a page's limit", one, n)
	}
	// Stored as PutRules stores them (the document, an hour apart), without
	// its checks of effective_from against now.
	_, err := h.pool.Exec(context.Background(), `INSERT INTO rule_sets (version, effective_from, document, created_by)
SELECT v, now() + interval '2 days' + v * interval '1 hour', document, 'test'
FROM rule_sets, generate_series(3, $1::int + 2) v WHERE version = 2`, n)
	if err != nil {
		t.Fatal(err)
	}
	total := n + 2
	seen, pages := pageBounded(t, h, "/v1/rules/versions?limit=500", "versions", "version", total)
	if pages < 2 {
		t.Errorf("%d versions of %d bytes in %d page", total, one, pages)
	}
	for v := 1; v <= total; v++ {
		if seen[float64(v)] != 1 {
			t.Errorf("version %d listed %d times", v, seen[float64(v)])
		}
	}
	if len(seen) != total {
		t.Errorf("%d versions listed, want %d", len(seen), total)
	}
}

// b64 is s as a catalogue cursor would carry it.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
