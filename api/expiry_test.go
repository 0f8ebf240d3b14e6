package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// expiredLots gives C1 100 and C2 50 points in lots credited in the ledger
// that expired an hour ago (no request dates business that far back), and
// C1 a shipment's 100 points earned now, which expire in a year.
func expiredLots(t *testing.T, h *harness) {
	t.Helper()
	for _, c := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": c, "name": c}})
	}
	lot := &ledger.Lot{AvailableAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}
	for c, points := range map[string]int64{"C1": 100, "C2": 50} {
		if _, _, err := h.ledger.Post(t.Context(), ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "goodwill",
			Postings: []ledger.PostingInput{
				{Account: "customer:" + c + ":points", Amount: decimal.NewFromInt(points), Lot: lot},
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-points)}}}); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Minute))})
}

func (h *harness) heldPoints(customer string) map[string]any {
	h.t.Helper()
	return h.expect(200, call{method: "GET", path: "/v1/customers/" + customer + "/balances", key: "admin"}).object(h.t)["points"].(map[string]any)
}

// TestExpiryJobNeverActsAheadOfNowAndPreviews: a run as of an instant past
// now plus the clock skew is 422 as_of_in_future and writes nothing; a
// preview (dry_run=true), of any as_of, says per customer and in total what
// would expire, and writes nothing.
func TestExpiryJobNeverActsAheadOfNowAndPreviews(t *testing.T) {
	h := newHarness(t)
	expiredLots(t, h)
	entries := h.count("entries")
	for _, q := range []string{"as_of=2999-01-01T00:00:00Z", "dry_run=false&as_of=" + queryTime(time.Now().Add(6*time.Minute))} {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/expire?" + q, key: "admin"}), 422, fault.AsOfInFuture)
	}
	// A preview may look ahead: in two years C1's shipment lot expires too.
	ahead := h.expect(200, call{method: "POST", path: "/v1/jobs/expire?dry_run=true&as_of=" + queryTime(time.Now().AddDate(2, 0, 0)), key: "admin"}).object(t)
	if ahead["points"] != "250" || ahead["customers"] != float64(2) {
		t.Errorf("preview two years ahead %v, want C1's 200 and C2's 50", ahead)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/expire?dry_run=yes", key: "admin", invalid: true}), 422, fault.Invalid)

	preview := h.expect(200, call{method: "POST", path: "/v1/jobs/expire?dry_run=true", key: "admin"})
	var rep struct {
		RunID      *int64 `json:"run_id"`
		DryRun     bool   `json:"dry_run"`
		Customers  int    `json:"customers"`
		Points     string `json:"points"`
		ByCustomer []struct {
			CustomerID string `json:"customer_id"`
			Points     string `json:"points"`
		} `json:"by_customer"`
	}
	preview.json(t, &rep)
	if rep.RunID != nil || !rep.DryRun || rep.Customers != 2 || rep.Points != "150" ||
		fmt.Sprint(rep.ByCustomer) != "[{C1 100} {C2 50}]" {
		t.Errorf("preview %s, want C1's 100 and C2's 50, no run id", preview.body)
	}
	if n := h.count("entries"); n != entries || h.count("expiry_runs") != 0 {
		t.Errorf("refusals and a preview wrote %d entries and %d runs", n-entries, h.count("expiry_runs"))
	}
	if pts := h.heldPoints("C1"); pts["balance"] != "200" {
		t.Errorf("C1's points after the preview %v, want 200 held", pts)
	}

	run := h.expect(200, call{method: "POST", path: "/v1/jobs/expire?dry_run=false", key: "admin"}).object(t)
	if run["dry_run"] != false || run["customers"] != float64(2) || run["points"] != "150" || run["run_id"] == nil {
		t.Errorf("run %v, want C1's 100 and C2's 50 expired, with a run id", run)
	}
	if pts := h.heldPoints("C1"); pts["balance"] != "100" {
		t.Errorf("C1's points after the run %v, want the 100 earned now", pts)
	}
}

// TestUndoExpiryRunOverHTTP: only an admin undoes a run, with a reason;
// retries racing the original undo it once and answer alike; the points
// are back where they were, another request is already_undone, and the
// next run takes the restored (still expired) points again.
func TestUndoExpiryRunOverHTTP(t *testing.T) {
	h := newHarness(t)
	expiredLots(t, h)
	run := h.expect(200, call{method: "POST", path: "/v1/jobs/expire", key: "admin"}).object(t)
	runID := fmt.Sprint(run["run_id"])
	path := "/v1/jobs/expire/runs/" + runID + "/undo"
	entries := h.count("entries")

	for _, role := range []string{"partner", "finance", "customer"} {
		wantProblem(t, h.do(call{method: "POST", path: path, key: role, body: map[string]any{"reason": "mistake"}}), 403, fault.Forbidden)
	}
	for _, body := range []map[string]any{{}, {"reason": " "}, {"reason": strings.Repeat("x", 501)}} {
		wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: body, invalid: true}), 422, fault.Invalid)
	}
	for _, id := range []string{"999999", "abc", "0"} {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/expire/runs/" + id + "/undo", key: "admin",
			body: map[string]any{"reason": "mistake"}, invalid: id != "999999"}), 404, fault.NotFound)
	}
	if n := h.count("entries"); n != entries {
		t.Fatalf("refused undos wrote %d entries", n-entries)
	}

	undo := call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "run by mistake"},
		header: map[string]string{"Idempotency-Key": "undo-1"}}
	first := wantOneEffect(t, h.racing(8, undo), 200).object(t)
	if first["run_id"] != run["run_id"] || first["customers"] != float64(2) || first["points"] != "150" || first["reason"] != "run by mistake" {
		t.Errorf("undo %v, want run %s's 150 points of 2 customers back", first, runID)
	}
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE kind = 'expiry.undone'`); n != 2 {
		t.Errorf("%d undo entries, want one per customer: 2", n)
	}
	if pts := h.heldPoints("C1"); pts["balance"] != "200" || pts["available"] != "100" {
		t.Errorf("C1's points after the undo %v, want 200 held, the 100 expired ones not available", pts)
	}
	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "run by mistake"}}), 409, fault.AlreadyUndone)
	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "run by mistake"},
		header: map[string]string{"Idempotency-Key": "undo-2"}}), 409, fault.AlreadyUndone)
	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "other"},
		header: map[string]string{"Idempotency-Key": "undo-1"}}), 409, fault.IdempotencyConflict)
	var undoEntry int64
	if err := h.pool.QueryRow(t.Context(), `SELECT min(id) FROM entries WHERE kind = 'expiry.undone'`).Scan(&undoEntry); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.do(call{method: "POST", path: fmt.Sprintf("/v1/entries/%d/reversal", undoEntry), key: "admin",
		body: map[string]any{"reason": "undo the undo"}}), 409, fault.NotReversible)

	again := h.expect(200, call{method: "POST", path: "/v1/jobs/expire", key: "admin"}).object(t)
	if again["points"] != "150" || again["run_id"] == run["run_id"] {
		t.Errorf("the run after the undo %v, want a new run taking the 150 again", again)
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
}
