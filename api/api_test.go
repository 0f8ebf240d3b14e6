package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

func adjustment(points string, customer string) map[string]any {
	return map[string]any{
		"reason": "goodwill for a late parcel",
		"postings": []map[string]any{
			{"account": "platform:points:earned:adjustment", "amount": "-" + points},
			{"account": "customer:" + customer + ":points", "asset": "PTS", "amount": points},
		},
	}
}

func TestPublicEndpoints(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(call{method: "GET", path: "/healthz"}), 200)
	wantStatus(t, h.do(call{method: "GET", path: "/readyz"}), 200)
	spec := h.do(call{method: "GET", path: "/openapi.yaml"})
	wantStatus(t, spec, 200)
	if !strings.Contains(string(spec.body), "openapi: 3") {
		t.Errorf("/openapi.yaml does not serve the spec")
	}
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("1", "C1")})
	m := h.do(call{method: "GET", path: "/metrics"})
	wantStatus(t, m, 200)
	for _, want := range []string{"tally_http_requests_total", "tally_entries_posted_total 1", "go_goroutines"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestAuthorisation(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("5", "C1")}), 201)
	wantStatus(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("5", "C2")}), 201)

	cases := []struct {
		name, method, path, key string
		status                  int
		code                    fault.Code
	}{
		{"NoKey", "GET", "/v1/accounts", "", 401, fault.Unauthorized},
		{"UnknownKey", "GET", "/v1/accounts", "tly_not-a-real-key", 401, fault.Unauthorized},
		{"PartnerListsAccounts", "GET", "/v1/accounts", "partner", 403, fault.Forbidden},
		{"CustomerListsAccounts", "GET", "/v1/accounts", "customer", 403, fault.Forbidden},
		{"CustomerReadsOthers", "GET", "/v1/accounts/customer:C2:points", "customer", 403, fault.Forbidden},
		{"CustomerReadsOthersPostings", "GET", "/v1/accounts/customer:C2:points/postings", "customer", 403, fault.Forbidden},
		{"CustomerReadsPlatform", "GET", "/v1/accounts/platform:cash/balance", "customer", 403, fault.Forbidden},
		{"CustomerReconciles", "GET", "/v1/reconciliation", "customer", 403, fault.Forbidden},
		{"FinancePostsEntry", "POST", "/v1/entries", "finance", 403, fault.Forbidden},
		{"PartnerReadsEntry", "GET", "/v1/entries/1", "partner", 403, fault.Forbidden},
		{"FinanceReverses", "POST", "/v1/entries/1/reversal", "finance", 403, fault.Forbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = map[string]any{"reason": "x"}
			}
			r := h.do(call{method: tc.method, path: tc.path, key: tc.key, body: body, invalid: true})
			wantProblem(t, r, tc.status, tc.code)
		})
	}
	t.Run("Allowed", func(t *testing.T) {
		for _, c := range []call{
			{method: "GET", path: "/v1/accounts/customer:C1:points", key: "customer"},
			{method: "GET", path: "/v1/accounts/customer%3AC1%3Apoints/balance", key: "customer"},
			{method: "GET", path: "/v1/accounts/customer:C2:points/postings", key: "other"},
			{method: "GET", path: "/v1/accounts", key: "finance"},
			{method: "GET", path: "/v1/entries/1", key: "finance"},
			{method: "GET", path: "/v1/reconciliation", key: "finance"},
		} {
			wantStatus(t, h.do(c), 200)
		}
	})
	if n := h.count("entries"); n != 2 {
		t.Errorf("%d entries after refused requests, want 2", n)
	}
}

func TestManualEntryLifecycle(t *testing.T) {
	h := newHarness(t)
	post := call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("120", "C1"),
		header: map[string]string{"Idempotency-Key": "adj-1"}}
	first := h.do(post)
	wantStatus(t, first, 201)
	entry := first.object(t)
	id := int64(entry["id"].(float64))
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("first request marked as replayed")
	}
	if !strings.HasPrefix(entry["actor"].(string), "key:") {
		t.Errorf("actor %v does not name the key", entry["actor"])
	}

	t.Run("ReplayReturnsTheOriginal", func(t *testing.T) {
		again := h.do(post)
		wantStatus(t, again, 201)
		if again.header.Get("Idempotent-Replayed") != "true" {
			t.Error("replay not marked Idempotent-Replayed: true")
		}
		if got := again.object(t)["id"]; got != entry["id"] {
			t.Errorf("replay answered entry %v, want %v", got, entry["id"])
		}
	})
	t.Run("SameKeyOtherBodyConflicts", func(t *testing.T) {
		other := post
		other.body = adjustment("121", "C1")
		wantProblem(t, h.do(other), 409, fault.IdempotencyConflict)
	})
	t.Run("SameMeaningReplays", func(t *testing.T) {
		// The default kind spelled out, metadata keys in another order and a
		// time in another zone are the same request.
		yesterday := time.Now().Add(-24 * time.Hour).Truncate(time.Hour).UTC()
		body := `{"reason":"r","effective_at":"` + yesterday.In(shanghaiZone()).Format(time.RFC3339) + `","metadata":{"a":1,"b":2},` +
			`"postings":[{"account":"platform:points:earned:adjustment","amount":"-3"},{"account":"customer:C4:points","amount":"3"}]}`
		same := `{"kind":"manual","reason":" r ","effective_at":"` + yesterday.Format(time.RFC3339) + `","metadata":{"b":2,"a":1},` +
			`"postings":[{"account":"platform:points:earned:adjustment","amount":"-3"},{"account":"customer:C4:points","amount":"3"}]}`
		hdr := map[string]string{"Idempotency-Key": "same-meaning"}
		first := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: body, header: hdr})
		wantStatus(t, first, 201)
		again := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: same, header: hdr})
		wantStatus(t, again, 201)
		if again.header.Get("Idempotent-Replayed") != "true" || string(first.body) != string(again.body) {
			t.Errorf("equivalent request not replayed identically:\n%s\n%s", first.body, again.body)
		}
	})
	t.Run("PointsOwedMoveOnlyByRefunds", func(t *testing.T) {
		// A hand-made entry on a points_owed account would forgive (or add
		// to) a debt the refunds' records still hold.
		for _, amount := range []string{"5", "-5"} {
			body := `{"reason":"forgive","postings":[{"account":"customer:C1:points_owed","amount":"` + amount +
				`"},{"account":"platform:points:earned:adjustment","amount":"` + strings.TrimPrefix("-"+amount, "--") + `"}]}`
			r := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: body, invalid: true})
			wantProblem(t, r, 422, fault.Invalid)
			if !strings.Contains(string(r.body), "points owed move only by refunds") {
				t.Errorf("refusal does not say why: %s", r.body)
			}
		}
	})
	t.Run("KeysAreScopedToTheAPIKey", func(t *testing.T) {
		secret, _, err := h.ledger.CreateKey(t.Context(), "second admin", ledger.RoleAdmin, "")
		if err != nil {
			t.Fatal(err)
		}
		other := post
		other.key = secret
		other.body = adjustment("1", "C3")
		wantStatus(t, h.do(other), 201)
	})

	t.Run("Reads", func(t *testing.T) {
		got := h.do(call{method: "GET", path: fmt.Sprintf("/v1/entries/%d", id), key: "admin"})
		wantStatus(t, got, 200)
		postings := got.object(t)["postings"].([]any)
		if len(postings) != 2 {
			t.Fatalf("entry has %d postings, want 2", len(postings))
		}
		acct := h.expect(200, call{method: "GET", path: "/v1/accounts/customer:C1:points", key: "customer"}).object(t)
		if acct["balance"] != "120" || acct["asset"] != "PTS" {
			t.Errorf("account = %v, want balance 120 PTS", acct)
		}
		before := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
		asOf := h.expect(200, call{method: "GET", path: "/v1/accounts/customer:C1:points/balance?as_of=" + before, key: "admin"}).object(t)
		if asOf["balance"] != "0" {
			t.Errorf("balance an hour ago = %v, want 0", asOf["balance"])
		}
		list := h.expect(200, call{method: "GET", path: "/v1/accounts?prefix=customer:", key: "finance"}).object(t)
		if n := len(list["accounts"].([]any)); n != 3 {
			t.Errorf("%d customer accounts listed, want 3 (C1, C3, C4)", n)
		}
	})

	t.Run("StatementPages", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			wantStatus(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment(fmt.Sprint(i), "C1")}), 201)
		}
		var amounts, balances []string
		path := "/v1/accounts/customer:C1:points/postings?limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			page := h.expect(200, call{method: "GET", path: path, key: "customer"}).object(t)
			for _, p := range page["postings"].([]any) {
				amounts = append(amounts, p.(map[string]any)["amount"].(string))
				balances = append(balances, p.(map[string]any)["balance_after"].(string))
			}
			path = ""
			if next, ok := page["next_cursor"].(string); ok {
				path = "/v1/accounts/customer:C1:points/postings?limit=2&cursor=" + next
			}
		}
		if got := strings.Join(amounts, ","); got != "4,3,2,1,120" {
			t.Errorf("statement amounts %s, want 4,3,2,1,120", got)
		}
		if got := strings.Join(balances, ","); got != "130,126,123,121,120" {
			t.Errorf("statement balances %s, want 130,126,123,121,120", got)
		}
	})

	t.Run("Reversal", func(t *testing.T) {
		path := fmt.Sprintf("/v1/entries/%d/reversal", id)
		rev := h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "wrong customer"}})
		wantStatus(t, rev, 201)
		if got := rev.object(t)["reversal_of"]; got != entry["id"] {
			t.Errorf("reversal_of = %v, want %v", got, entry["id"])
		}
		wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "again"}}),
			409, fault.AlreadyReversed)
		wantProblem(t, h.do(call{method: "POST", path: "/v1/entries/999999/reversal", key: "admin",
			body: map[string]any{"reason": "x"}}), 404, fault.NotFound)
		wantProblem(t, h.do(call{method: "POST", path: fmt.Sprintf("/v1/entries/%d/reversal", id+1), key: "admin",
			body: map[string]any{}}), 422, fault.Invalid)
	})

	rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t)
	if rec["pass"] != true {
		t.Errorf("reconciliation fails: %v", rec)
	}
}

// A manual entry may not take the kind of the entries the service writes for
// its own business (a deposit, a redemption, an expiry, ...): such an entry
// could not be reversed by hand, which refuses those kinds, nor through a
// flow of its own, which has no row for it, and the reports would count it
// as that business. It is refused and writes nothing; the same postings as
// an adjustment are recorded and can be reversed.
func TestAManualEntryTakesNoKindTheServiceWrites(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	entry := func(kind string) map[string]any {
		return map[string]any{"kind": kind, "reason": "a rebate by hand", "postings": []map[string]any{
			{"account": "platform:rebate:expense", "amount": "-1000.00"},
			{"account": "customer:C1:rebate", "amount": "1000.00"},
		}}
	}
	before := h.count("entries")
	for _, kind := range []string{"shipment.completed", "shipment.refunded", "feedback.submitted", "points.settled",
		"expiry", "expiry.undone", "redemption", "redemption.cancelled", "deposit", "charge", "withdrawal"} {
		p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry(kind)}), 422, fault.Invalid)
		if fields, _ := p["errors"].(map[string]any); fields["kind"] == nil {
			t.Errorf("kind %s: the problem names no kind field: %v", kind, p)
		}
	}
	if n := h.count("entries"); n != before {
		t.Fatalf("refused entries wrote %d entries", n-before)
	}
	id := int64(h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry("adjustment")}).object(t)["id"].(float64))
	h.expect(201, call{method: "POST", path: fmt.Sprintf("/v1/entries/%d/reversal", id), key: "admin",
		body: map[string]any{"reason": "given twice"}})
}

// TestBadInputIsRefusedAndWritesNothing sends broken requests to every POST:
// each gets a 4xx problem with a stable code, and nothing is written.
func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	h := newHarness(t)
	ok := adjustment("10", "C1")
	posting := func(account, asset, amount string) string {
		return fmt.Sprintf(`{"reason":"r","postings":[{"account":"platform:points:earned:adjustment","amount":"-10"},`+
			`{"account":%q,"asset":%q,"amount":%s}]}`, account, asset, amount)
	}
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	cases := []struct {
		name        string
		body        string
		contentType string
		status      int
		code        fault.Code
	}{
		{"Malformed", `{"reason":`, "", 400, fault.InvalidJSON},
		{"Empty", ``, "", 400, fault.InvalidJSON},
		{"NotAnObject", `[1,2]`, "", 400, fault.InvalidJSON},
		{"UnknownField", `{"reason":"r","postings":[],"colour":"red"}`, "", 400, fault.InvalidJSON},
		{"TrailingData", `{"reason":"r","postings":[]} {}`, "", 400, fault.InvalidJSON},
		{"DeepJSON", deep, "", 400, fault.InvalidJSON},
		{"HugeBody", `{"reason":"` + strings.Repeat("x", 2<<20) + `"}`, "", 413, fault.BodyTooLarge},
		{"WrongContentType", posting("customer:C1:points", "PTS", `"10"`), "text/plain", 415, fault.UnsupportedMediaType},
		{"AmountAsNumber", posting("customer:C1:points", "PTS", `10`), "", 422, fault.InvalidAmount},
		{"AmountExponent", posting("customer:C1:points", "PTS", `"1e9999"`), "", 422, fault.InvalidAmount},
		{"AmountNaN", posting("customer:C1:points", "PTS", `"NaN"`), "", 422, fault.InvalidAmount},
		{"AmountInfinity", posting("customer:C1:points", "PTS", `"Infinity"`), "", 422, fault.InvalidAmount},
		{"AmountNegativeZero", posting("customer:C1:points", "PTS", `"-0"`), "", 422, fault.InvalidAmount},
		{"AmountTooLong", posting("customer:C1:points", "PTS", `"1234567890123456789012"`), "", 422, fault.InvalidAmount},
		{"AmountFractionalPoints", posting("customer:C1:points", "PTS", `"10.5"`), "", 422, fault.InvalidAmount},
		{"Unbalanced", posting("customer:C1:points", "PTS", `"11"`), "", 422, fault.Unbalanced},
		{"WrongAsset", posting("customer:C1:points", "CNY", `"10"`), "", 422, fault.AssetMismatch},
		{"UnknownAccount", posting("customer:C1:savings", "PTS", `"10"`), "", 422, fault.UnknownAccount},
		{"SQLInAccount", posting("customer:C1';DROP TABLE entries;--:points", "PTS", `"10"`), "", 422, fault.UnknownAccount},
		{"UnicodeCustomer", posting("customer:客户:points", "PTS", `"10"`), "", 422, fault.UnknownAccount},
		{"MissingReason", `{"postings":[{"account":"platform:points:earned:adjustment","amount":"-1"},{"account":"customer:C1:points","amount":"1"}]}`, "", 422, fault.Invalid},
		{"ReversalKind", `{"kind":"reversal","reason":"r","postings":[]}`, "", 422, fault.Invalid},
		{"FutureEffective", `{"reason":"r","effective_at":"2999-01-01T00:00:00Z","postings":[]}`, "", 422, fault.Invalid},
		{"BadEffective", `{"reason":"r","effective_at":"yesterday","postings":[]}`, "", 400, fault.InvalidJSON},
		{"MetadataNotObject", `{"reason":"r","metadata":[1],"postings":[{"account":"platform:points:earned:adjustment","amount":"-1"},{"account":"customer:C1:points","amount":"1"}]}`, "", 422, fault.Invalid},
		{"Overdraw", `{"reason":"r","postings":[{"account":"platform:points:redeemed","amount":"10"},{"account":"customer:C1:points","amount":"-10"}]}`, "", 422, fault.InsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := call{method: "POST", path: "/v1/entries", key: "admin", body: tc.body, invalid: true}
			if tc.contentType != "" {
				c.header = map[string]string{"Content-Type": tc.contentType}
			}
			p := wantProblem(t, h.do(c), tc.status, tc.code)
			if strings.Contains(strings.ToLower(fmt.Sprint(p["detail"])), "sql") {
				t.Errorf("detail mentions SQL: %v", p["detail"])
			}
		})
	}
	t.Run("BadIdempotencyKey", func(t *testing.T) {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: ok,
			header: map[string]string{"Idempotency-Key": "has spaces"}, invalid: true}), 422, fault.Invalid)
	})
	t.Run("ReversalBodies", func(t *testing.T) {
		for _, body := range []string{`{"reason":`, `{"reason":"r","extra":1}`, `[]`} {
			wantProblem(t, h.do(call{method: "POST", path: "/v1/entries/1/reversal", key: "admin", body: body, invalid: true}),
				400, fault.InvalidJSON)
		}
		wantProblem(t, h.do(call{method: "POST", path: "/v1/entries/1/reversal", key: "admin", invalid: true,
			body: `{"reason":"` + strings.Repeat("x", 2<<20) + `"}`}), 413, fault.BodyTooLarge)
		wantProblem(t, h.do(call{method: "POST", path: "/v1/entries/1/reversal", key: "admin", invalid: true,
			body: `{"reason":"r"}`, header: map[string]string{"Content-Type": "text/plain"}}), 415, fault.UnsupportedMediaType)
	})
	for _, table := range []string{"entries", "postings", "accounts", "balance_buckets"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%d rows in %s after bad input, want 0", n, table)
		}
	}
	t.Run("BadQueries", func(t *testing.T) {
		for _, path := range []string{
			"/v1/accounts?limit=0", "/v1/accounts?limit=abc", "/v1/accounts/customer:C1:points/postings?cursor=0", "/v1/accounts/customer:C1:points/postings?cursor=1.5",
			"/v1/accounts/customer:C1:points/balance?as_of=tomorrow",
		} {
			wantProblem(t, h.do(call{method: "GET", path: path, key: "admin", invalid: true}), 422, fault.Invalid)
		}
		wantProblem(t, h.do(call{method: "GET", path: "/v1/entries/abc", key: "admin", invalid: true}), 404, fault.NotFound)
		// Accounts in the chart but never posted to do not exist yet.
		// A path is decoded once: customer%25ZZ names the account customer%ZZ, which there is not.
		for _, path := range []string{"/v1/accounts/customer:nobody:points", "/v1/accounts/customer:nobody:points/balance",
			"/v1/accounts/customer:nobody:prepaid/postings", "/v1/accounts/customer%25ZZ"} {
			wantProblem(t, h.do(call{method: "GET", path: path, key: "admin"}), 404, fault.NotFound)
		}
		wantProblem(t, h.do(call{method: "GET", path: "/v1/nowhere", key: "admin"}), 404, fault.NotFound)
	})
}

// TestSpecCoversEveryRoute: each route the server has is in openapi.yaml and
// each operation in openapi.yaml is a route, so the two cannot drift apart.
func TestSpecCoversEveryRoute(t *testing.T) {
	doc, _ := spec(t)
	l := ledger.New(nil)
	s := New(wired(nil, l))
	served := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // Echo's own catch-all for the /v1 group
		}
		path := r.Path
		for _, p := range []string{"code", "id", "sku", "month"} {
			path = strings.ReplaceAll(path, ":"+p, "{"+p+"}")
		}
		served[r.Method+" "+path] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s, which the server does not serve", r)
		}
	}
}

// No id that a path names may be "." or "..": clients resolve those path
// segments away, so the customer, product, redemption or movement could
// never be read, cancelled or reversed. Each is refused with 422 naming the
// field, and writes nothing; "..." is an id like any other.
func TestIDsThatAPathCannotCarryAreRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	before := h.count("entries") + h.count("customers") + h.count("products")
	for _, id := range []string{".", ".."} {
		for _, tc := range []struct {
			path, key, field string
			body             map[string]any
		}{
			{"/v1/customers", "partner", "id", map[string]any{"id": id, "name": "dots"}},
			{"/v1/products", "admin", "sku", map[string]any{"sku": id, "name": "dots", "kind": "standard", "points_price": "10"}},
			{"/v1/redemptions", "admin", "redemption_id", map[string]any{"redemption_id": id, "customer_id": "C1", "sku": "pen", "quantity": 1}},
			{"/v1/deposits", "partner", "deposit_id", map[string]any{"deposit_id": id, "customer_id": "C1", "amount": "10"}},
		} {
			p := wantProblem(t, h.do(call{method: "POST", path: tc.path, key: tc.key, body: tc.body}), 422, fault.Invalid)
			if fields, _ := p["errors"].(map[string]any); fields[tc.field] == nil {
				t.Errorf("POST %s with %s %q: the problem names no %s: %v", tc.path, tc.field, id, tc.field, p)
			}
		}
	}
	if after := h.count("entries") + h.count("customers") + h.count("products"); after != before {
		t.Errorf("refused requests wrote %d rows", after-before)
	}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "...", "name": "three dots"}})
	h.expect(200, call{method: "GET", path: "/v1/customers/...", key: "admin"})
}
