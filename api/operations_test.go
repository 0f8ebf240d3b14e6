package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/rules"
)

// operation is one operation of openapi.yaml.
type operation struct {
	id, method, path string   // path is the template, such as /v1/customers/{id}
	public           bool     // security: [] (no key needed)
	roles            []string // x-roles: the roles allowed to call it
}

func (o operation) allows(role string) bool { return slices.Contains(o.roles, role) }

// operations lists every operation of openapi.yaml, by operationId.
func operations(t *testing.T) []operation {
	t.Helper()
	doc, _ := spec(t)
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := operation{id: op.OperationID, method: method, path: path}
			if o.id == "" {
				t.Fatalf("%s %s has no operationId", method, path)
			}
			o.public = op.Security != nil && len(*op.Security) == 0
			o.roles = xRoles(t, op)
			if !o.public && len(o.roles) == 0 {
				t.Fatalf("%s needs a key but lists no x-roles", o.id)
			}
			ops = append(ops, o)
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.id, b.id) })
	if len(ops) < 40 {
		t.Fatalf("only %d operations in openapi.yaml", len(ops))
	}
	return ops
}

func xRoles(t *testing.T, op *openapi3.Operation) []string {
	t.Helper()
	raw, ok := op.Extensions["x-roles"]
	if !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		t.Fatalf("%s: x-roles is %T, want a list", op.OperationID, raw)
	}
	var roles []string
	for _, r := range list {
		roles = append(roles, fmt.Sprint(r))
	}
	return roles
}

// concrete fills a path template with customer C1's values: its points
// account, C1 itself, entry 1, product pen, and m1 for a redemption,
// deposit, charge or withdrawal, and 2099-01 for a month.
func concrete(path string) string {
	id := "m1"
	switch {
	case strings.HasPrefix(path, "/v1/customers/"):
		id = "C1"
	case strings.HasPrefix(path, "/v1/entries/"), strings.HasPrefix(path, "/v1/jobs/"), strings.HasPrefix(path, "/v1/partners/"),
		strings.HasPrefix(path, "/v1/webhooks/"):
		id = "1" // a partner: the harness's one, the first; a webhook endpoint
	}
	return strings.NewReplacer("{code}", "customer:C1:points", "{id}", id, "{sku}", "pen", "{month}", "2099-01").Replace(path)
}

// roleKeys are the harness's keys of each role; "customer" is C1's.
var roleKeys = []string{"admin", "finance", "partner", "customer"}

// TestEveryOperationRefusesAMissingOrUnknownKey: each operation openapi.yaml
// secures answers 401 without a key and with a key the service never
// issued, with the WWW-Authenticate challenge, and writes nothing; each
// public one answers without a key.
func TestEveryOperationRefusesAMissingOrUnknownKey(t *testing.T) {
	h := newHarness(t)
	before := h.rowCount()
	for _, o := range operations(t) {
		t.Run(o.id, func(t *testing.T) {
			path := concrete(o.path)
			if o.public {
				wantStatus(t, h.do(call{method: o.method, path: path}), http.StatusOK)
				return
			}
			// A JSON body where one is taken: the key is checked before it.
			body := map[string]any{"reason": "x"}
			if o.method == http.MethodGet {
				body = nil
			}
			r := h.do(call{method: o.method, path: path, body: body, invalid: true})
			wantProblem(t, r, http.StatusUnauthorized, fault.Unauthorized)
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="tally"` {
				t.Errorf("no key: WWW-Authenticate %q", got)
			}
			r = h.do(call{method: o.method, path: path, key: "tly_never-issued", body: body, invalid: true})
			wantProblem(t, r, http.StatusUnauthorized, fault.Unauthorized)
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("unknown key: WWW-Authenticate %q", got)
			}
		})
	}
	if after := h.rowCount(); after != before {
		t.Errorf("requests without a valid key wrote %d rows", after-before)
	}
}

// TestEveryOperationAdmitsExactlyItsDocumentedRoles: for each operation and
// each role, a key of a role outside the operation's x-roles is refused with
// 403 forbidden and a key of a listed role gets past the role check; a
// customer key is refused another customer's accounts and profile. No body
// is sent, so nothing is written.
func TestEveryOperationAdmitsExactlyItsDocumentedRoles(t *testing.T) {
	h := newHarness(t)
	before := h.rowCount()
	for _, o := range operations(t) {
		if o.public {
			continue
		}
		t.Run(o.id, func(t *testing.T) {
			path := concrete(o.path)
			for _, role := range roleKeys {
				r := h.do(call{method: o.method, path: path, key: role, invalid: true})
				if !o.allows(role) {
					wantProblem(t, r, http.StatusForbidden, fault.Forbidden)
					continue
				}
				if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("a %s key, which x-roles allows, got %d: %s", role, r.status, r.body)
				}
			}
			// C2's key on C1's accounts and profile.
			if o.allows("customer") && (strings.Contains(o.path, "{code}") || strings.HasPrefix(o.path, "/v1/customers/{id}")) {
				wantProblem(t, h.do(call{method: o.method, path: path, key: "other", invalid: true}),
					http.StatusForbidden, fault.Forbidden)
			}
		})
	}
	if after := h.rowCount(); after != before {
		t.Errorf("requests without a body wrote %d rows", after-before)
	}
}

// TestDatabaseOutageAnswersInternalProblems: with the database gone, every
// operation that needs it answers 500 internal as a problem document whose
// detail says nothing of the cause and whose request_id finds it in the
// logs (a batch answers each event so), never a success; /readyz answers
// 503 unavailable, and the operations that need no database still answer.
func TestDatabaseOutageAnswersInternalProblems(t *testing.T) {
	// The admin key authenticates once while the database is up, on a
	// server whose key cache never sees time pass, so that every request
	// below reaches its handler however long the run takes. This read does
	// not touch the rule set, whose schedule the loyalty service would
	// otherwise answer from its cache.
	clock := &keyClock{}
	clock.set(time.Now())
	h := anotherServer(t, newHarness(t), clock)
	h.expect(http.StatusOK, call{method: "GET", path: "/v1/accounts", key: "admin"})
	raw, err := json.Marshal(rules.Default())
	if err != nil {
		t.Fatal(err)
	}
	var ruleSet map[string]any
	if err := json.Unmarshal(raw, &ruleSet); err != nil {
		t.Fatal(err)
	}
	delete(ruleSet, "version")
	ruleSet["effective_from"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	at := time.Now().Add(-time.Minute)
	valid := map[string]call{
		"postEntry":              {body: adjustment("1", "C1")},
		"reverseEntry":           {body: map[string]any{"reason": "x"}},
		"createCustomer":         {body: map[string]any{"id": "C9", "name": "N"}},
		"postEvent":              {body: shipment("o1", "C1", "S1", "100", at)},
		"postEventBatch":         {body: map[string]any{"events": []any{shipment("o1", "C1", "S1", "100", at)}}},
		"putRules":               {body: ruleSet},
		"createCampaign":         {body: map[string]any{"id": "c", "name": "c", "starts_at": at.Format(time.RFC3339), "ends_at": at.Add(time.Hour).Format(time.RFC3339), "multiplier": "2"}},
		"createProduct":          {body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "10"}},
		"updateProduct":          {body: map[string]any{"name": "Pen"}},
		"redeem":                 {body: map[string]any{"redemption_id": "m1", "customer_id": "C1", "sku": "pen", "quantity": 1}},
		"cancelRedemption":       {body: map[string]any{"reason": "x"}},
		"recordDeposit":          {body: map[string]any{"deposit_id": "m1", "customer_id": "C1", "amount": "100"}},
		"recordCharge":           {body: map[string]any{"charge_id": "m1", "customer_id": "C1", "amount": "100", "shipment_id": "S1"}},
		"recordWithdrawal":       {body: map[string]any{"withdrawal_id": "m1", "customer_id": "C1", "amount": "100"}},
		"reverseDeposit":         {body: map[string]any{"reason": "x"}},
		"reverseCharge":          {body: map[string]any{"reason": "x"}},
		"reverseWithdrawal":      {body: map[string]any{"reason": "x"}},
		"undoExpiryRun":          {body: map[string]any{"reason": "x"}},
		"putLowBalanceThreshold": {body: map[string]any{"threshold": "500"}},
		"reopenPeriod":           {body: map[string]any{"reason": "x"}},
		"getRebateReport":        {path: "?from=" + queryTime(at)},
		"getPointsReport":        {path: "?from=" + queryTime(at)},
		"getSegmentReport":       {path: "?month=" + at.In(shanghaiZone()).Format("2006-01")},
		"getLifecycleReport":     {path: "?month=" + at.In(shanghaiZone()).Format("2006-01")},

		// pages.go
		"createPortalSession": {body: map[string]any{"customer_id": "C1"}},

		// webhooks.go
		"createWebhook":       {body: map[string]any{"url": "https://hooks.example.com/in", "types": []string{"points.earned"}}},
		"updateWebhook":       {body: map[string]any{"description": "x"}},
		"rotateWebhookSecret": {body: map[string]any{}},
		"redeliverWebhook":    {body: map[string]any{"notification_id": "ntf_1"}},
	}

	h.pool.Close()
	details := map[string]string{} // detail -> an operation that answered it
	for _, o := range operations(t) {
		t.Run(o.id, func(t *testing.T) {
			c := valid[o.id]
			c.method, c.path, c.key = o.method, concrete(o.path)+c.path, "admin"
			r := h.do(c)
			switch o.id {
			case "healthz", "openapi", "metrics":
				wantStatus(t, r, http.StatusOK)
				return
			case "readyz":
				wantProblem(t, r, http.StatusServiceUnavailable, fault.Unavailable)
				return
			case "postEventBatch":
				wantStatus(t, r, http.StatusOK)
				var out struct {
					Results []batchItem `json:"results"`
				}
				r.json(t, &out)
				if len(out.Results) != 1 || out.Results[0].Status != http.StatusInternalServerError ||
					out.Results[0].Problem == nil || out.Results[0].Problem.Code != fault.Internal {
					t.Errorf("batch during an outage: %s", r.body)
				}
				return
			}
			p := wantProblem(t, r, http.StatusInternalServerError, fault.Internal)
			if id := r.header.Get("X-Request-ID"); id == "" || p["request_id"] != id {
				t.Errorf("request_id %v, X-Request-ID %q", p["request_id"], id)
			}
			detail := fmt.Sprint(p["detail"])
			if strings.Contains(detail, "closed") || strings.Contains(strings.ToLower(detail), "pool") {
				t.Errorf("detail tells the cause: %q", detail)
			}
			if r.status == http.StatusInternalServerError {
				details[detail] = o.id
			}
		})
	}
	if len(details) != 1 {
		t.Errorf("internal errors answered %d different details, want one that tells nothing: %v", len(details), details)
	}
}
