package api

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestAUsedKeyWithAnInvalidEntryIsRefusedAsInvalid: a manual entry's
// Idempotency-Key already recorded, sent again with an entry that does not
// balance, is refused as unbalanced (422), whether the entry moves a
// customer's account or not: bad input is refused before the key is looked
// up, even when it is dated back past the window (helper-140 and
// helper-141 found 409 idempotency_conflict answered instead, the key
// looked at first).
func TestAUsedKeyWithAnInvalidEntryIsRefusedAsInvalid(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	platform := func(a, b string) map[string]any {
		return map[string]any{"reason": "fix", "postings": []map[string]any{
			{"account": "platform:cash", "amount": a}, {"account": "platform:revenue:shipping", "amount": b}}}
	}
	customer := func(a, b string) map[string]any {
		return map[string]any{"reason": "fix", "postings": []map[string]any{
			{"account": "platform:cash", "amount": a}, {"account": "customer:C1:prepaid", "amount": b}}}
	}
	for name, body := range map[string]func(a, b string) map[string]any{"platform": platform, "customer": customer} {
		hdr := map[string]string{"Idempotency-Key": "k-" + name}
		h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: body("-5.00", "5.00"), header: hdr})
		res := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: body("-5.00", "4.00"), header: hdr})
		wantProblem(t, res, 422, fault.Unbalanced)
		// Dated back past the window, where a recorded key's retry is
		// still answered: the bad input is refused first there too.
		late := body("-5.00", "4.00")
		late["effective_at"] = time.Now().AddDate(0, 0, -61).UTC().Format(time.RFC3339)
		res = h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: late, header: hdr})
		wantProblem(t, res, 422, fault.Unbalanced)
	}
}
