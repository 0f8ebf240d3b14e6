package api

import (
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// A manual entry's metadata may not say which kind it reverses: the ledger
// writes reversed_kind on reversals alone (helper-153's finding: a hand
// adjustment saying {"reversed_kind": "deposit"} was reported as rebate
// granted). It is refused naming the key, and nothing is written; the
// same entry without the key is taken.
func TestAManualEntrySayingWhatItReversesIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	before := h.rowCount()
	entry := map[string]any{"kind": "manual", "reason": "goodwill", "metadata": map[string]any{"reversed_kind": "deposit", "ticket": "T-1"},
		"postings": []map[string]any{
			{"account": "platform:rebate:expense", "amount": "-100.00"},
			{"account": "customer:C1:rebate", "asset": "CNY", "amount": "100.00"},
		}}
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry, invalid: true}), 422, fault.Invalid)
	if errs, _ := p["errors"].(map[string]any); errs["metadata.reversed_kind"] == nil {
		t.Errorf("errors %v do not name metadata.reversed_kind", p["errors"])
	}
	if after := h.rowCount(); after != before {
		t.Errorf("the refused entry wrote %d rows", after-before)
	}
	entry["metadata"] = map[string]any{"ticket": "T-1"}
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry})
}
