package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
)

// monthsBack is the month n months before now's, in Asia/Shanghai, with its
// first instant and the next month's.
func monthsBack(now time.Time, n int) (string, time.Time, time.Time) {
	sh := now.In(shanghaiZone())
	start := time.Date(sh.Year(), sh.Month(), 1, 0, 0, 0, 0, shanghaiZone()).AddDate(0, -n, 0)
	return start.Format("2006-01"), start, start.AddDate(0, 1, 0)
}

// TestClosingMonths walks the close of months through the API: refused
// out of order, before the month ends, twice, by a partner; once closed,
// business dated in it is refused (a manual entry, a partner's event, a
// deposit), its reports repeat its digest, and an admin reopens it for a
// reason that its history keeps.
func TestClosingMonths(t *testing.T) {
	h := newHarness(t)
	now := h.ledger.Now()
	m1, m1Start, m1End := monthsBack(now, 1)
	m2, _, _ := monthsBack(now, 2)
	m3, _, _ := monthsBack(now, 3)
	m0, _, _ := monthsBack(now, 0)
	late := m1End.Add(-time.Hour) // in last month, inside the back-dating window
	closeMonth := func(key, month string) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/periods/" + month + "/close", key: key})
	}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	entry := adjustment("40", "C1")
	entry["effective_at"] = late.Format(time.RFC3339)
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry})

	wantProblem(t, closeMonth("partner", m1), http.StatusForbidden, fault.Forbidden)
	wantProblem(t, closeMonth("", m1), http.StatusUnauthorized, fault.Unauthorized)
	wantProblem(t, closeMonth("finance", "2026-13"), http.StatusUnprocessableEntity, fault.Invalid)
	wantProblem(t, closeMonth("finance", m0), http.StatusUnprocessableEntity, fault.PeriodNotEnded)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance", body: map[string]any{}, invalid: true}),
		http.StatusBadRequest, fault.InvalidJSON)
	h.expect(http.StatusOK, call{method: "POST", path: "/v1/periods/" + m3 + "/close", key: "finance"})
	wantProblem(t, closeMonth("finance", m1), http.StatusConflict, fault.PeriodOutOfOrder)
	h.expect(http.StatusOK, call{method: "POST", path: "/v1/periods/" + m2 + "/close", key: "admin"})
	wantProblem(t, closeMonth("finance", m3), http.StatusConflict, fault.PeriodClosed)

	var closed struct {
		Digest   string    `json:"digest"`
		ClosedBy string    `json:"closed_by"`
		EndsAt   time.Time `json:"ends_at"`
	}
	r := closeMonth("finance", m1)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &closed)
	if closed.ClosedBy == "" || !closed.EndsAt.Equal(m1End) {
		t.Errorf("close answered %s", r.body)
	}
	r = h.do(call{method: "GET", path: "/v1/periods/" + m1, key: "finance"})
	wantStatus(t, r, http.StatusOK)
	var status struct {
		Closed    bool `json:"closed"`
		Unchanged bool `json:"unchanged"`
		Period    struct {
			Digest   string    `json:"digest"`
			StartsAt time.Time `json:"starts_at"`
			EndsAt   time.Time `json:"ends_at"`
		} `json:"period"`
		History []struct{ Action, Actor, Reason, Digest string } `json:"history"`
	}
	r.json(t, &status)
	if !status.Closed || !status.Unchanged || len(closed.Digest) != 64 || status.Period.Digest != closed.Digest || !status.Period.StartsAt.Equal(m1Start) ||
		!status.Period.EndsAt.Equal(m1End) || len(status.History) != 1 || status.History[0].Action != "close" {
		t.Fatalf("%s after its close: %s", m1, r.body)
	}
	wantProblem(t, closeMonth("finance", m1), http.StatusConflict, fault.PeriodClosed)

	// Business dated in the closed month is refused, whoever sends it.
	wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry}), http.StatusConflict, fault.PeriodClosed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", late)}),
		http.StatusConflict, fault.PeriodClosed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "1000", "occurred_at": late.Format(time.RFC3339)}}),
		http.StatusConflict, fault.PeriodClosed)
	// Now is open; in a batch, the late shipment is refused alone, its
	// neighbours (grouped with it) are recorded.
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e2", "C1", "S2", "100", now.Add(-time.Minute))})
	r = h.do(call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": []any{
		shipment("e3", "C1", "S3", "50", now.Add(-time.Minute)), shipment("e4", "C1", "S4", "60", late),
		shipment("e5", "C1", "S5", "70", now.Add(-time.Minute))}}})
	var batch struct{ Results []batchItem }
	r.json(t, &batch)
	if len(batch.Results) != 3 || batch.Results[0].Status != 201 || batch.Results[2].Status != 201 ||
		batch.Results[1].Status != 409 || batch.Results[1].Problem == nil || batch.Results[1].Problem.Code != fault.PeriodClosed {
		t.Errorf("a batch with one late shipment: %s", r.body)
	}

	// The month's reports repeat its digest.
	for _, path := range []string{
		"/v1/reports/rebates?from=" + queryTime(m1Start) + "&to=" + queryTime(m1End),
		"/v1/reports/points?from=" + queryTime(m1Start) + "&to=" + queryTime(m1End),
		"/v1/reports/trial-balance?as_of=" + queryTime(late),
		// The month's closing books, as of its last microsecond.
		"/v1/reports/trial-balance?as_of=" + queryTime(m1End.Add(-time.Microsecond)),
	} {
		r := h.do(call{method: "GET", path: path, key: "finance"})
		wantStatus(t, r, http.StatusOK)
		var rep struct {
			ClosedPeriod *struct{ Digest, Month string } `json:"closed_period"`
		}
		r.json(t, &rep)
		if rep.ClosedPeriod == nil || rep.ClosedPeriod.Digest != closed.Digest || rep.ClosedPeriod.Month != m1 ||
			r.header.Get("Tally-Period-Digest") != closed.Digest {
			t.Errorf("%s: closed_period %+v, header %q; want %s's digest %s", path, rep.ClosedPeriod,
				r.header.Get("Tally-Period-Digest"), m1, closed.Digest)
		}
	}
	csv := h.do(call{method: "GET", path: "/v1/reports/rebates?format=csv&from=" + queryTime(m1Start) + "&to=" + queryTime(m1End), key: "finance"})
	if csv.header.Get("Tally-Period-Digest") != closed.Digest {
		t.Errorf("the CSV report's Tally-Period-Digest = %q, want %s", csv.header.Get("Tally-Period-Digest"), closed.Digest)
	}
	// A report of another period does not claim the close.
	r = h.do(call{method: "GET", path: "/v1/reports/points?from=" + queryTime(m1Start) + "&to=" + queryTime(now), key: "finance"})
	if r.object(t)["closed_period"] != nil || r.header.Get("Tally-Period-Digest") != "" {
		t.Errorf("a report past the closed month repeats its digest: %s", r.body)
	}
	// As of the month's end, the next month's first instant, the books are
	// the next month's (open): no digest, as the README says.
	r = h.do(call{method: "GET", path: "/v1/reports/trial-balance?as_of=" + queryTime(m1End), key: "finance"})
	if r.object(t)["closed_period"] != nil || r.header.Get("Tally-Period-Digest") != "" {
		t.Errorf("the trial balance as of the month's end claims its close: %s", r.header)
	}

	// Reopening: admin only, the latest closed month only, with a reason.
	reopen := func(key, month string, body any) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/periods/" + month + "/reopen", key: key, body: body})
	}
	why := map[string]any{"reason": "a partner's invoices arrived late"}
	wantProblem(t, reopen("finance", m1, why), http.StatusForbidden, fault.Forbidden)
	wantProblem(t, reopen("admin", m1, map[string]any{"reason": " "}), http.StatusUnprocessableEntity, fault.Invalid)
	wantProblem(t, reopen("admin", "01-2026", why), http.StatusUnprocessableEntity, fault.Invalid)
	wantProblem(t, reopen("admin", m2, why), http.StatusConflict, fault.PeriodOutOfOrder)
	wantProblem(t, reopen("admin", m0, why), http.StatusConflict, fault.PeriodNotClosed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/periods/" + m1 + "/reopen", key: "admin", body: `{"reason": 1}`, invalid: true}),
		http.StatusBadRequest, fault.InvalidJSON)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/periods/" + m1 + "/reopen", key: "admin",
		body: `{"reason": "` + strings.Repeat("x", 2<<20) + `"}`, invalid: true}), http.StatusRequestEntityTooLarge, fault.BodyTooLarge)
	r = reopen("admin", m1, why)
	wantStatus(t, r, http.StatusOK)
	if o := r.object(t); o["action"] != "reopen" || o["reason"] != why["reason"] || o["digest"] != closed.Digest {
		t.Errorf("reopen answered %s", r.body)
	}
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry})
	r = h.do(call{method: "GET", path: "/v1/periods/" + m1, key: "admin"})
	status.History = nil
	r.json(t, &status)
	if status.Closed || len(status.History) != 2 || status.History[1].Action != "reopen" || status.History[1].Reason != why["reason"] ||
		status.History[1].Digest != closed.Digest || status.History[0].Digest != closed.Digest {
		t.Errorf("%s after its reopening: %s", m1, r.body)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/periods/2026", key: "finance"}), http.StatusUnprocessableEntity, fault.Invalid)
}

// A month does not close while reconciliation fails.
func TestClosingAMonthNeedsReconciliationToPass(t *testing.T) {
	h := newHarness(t)
	m1, _, _ := monthsBack(h.ledger.Now(), 1)
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("40", "C1")})
	ctx := context.Background()
	tamper := func(delta int) {
		t.Helper()
		err := pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
UPDATE balance_buckets SET balance = balance + `+fmt.Sprint(delta)+`
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tamper(5)
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"}),
		http.StatusConflict, fault.ReconciliationFailed)
	if detail := fmt.Sprint(p["detail"]); !strings.Contains(detail, "balances_match_postings") {
		t.Errorf("detail %q does not name the failing check", detail)
	}
	tamper(-5)
	h.expect(http.StatusOK, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})
}

// The audit endpoints: the head of the chain, and a verification that
// names the entry whose posting was edited in the database directly.
func TestAuditVerifyNamesAnEditedEntry(t *testing.T) {
	h := newHarness(t)
	testdb.SkipBooks(t, "a posting is edited behind the ledger's back")
	ctx := context.Background()
	var ids []float64
	for i := range 3 {
		r := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment(fmt.Sprint(10+i), "C1")})
		wantStatus(t, r, 201)
		ids = append(ids, r.object(t)["id"].(float64))
	}
	r := h.do(call{method: "GET", path: "/v1/audit/head", key: "finance"})
	wantStatus(t, r, http.StatusOK)
	if o := r.object(t); o["seq"] != 0.0 || o["unsealed"] != 3.0 {
		t.Fatalf("head before sealing: %s", r.body)
	}
	// Sealed until nothing committed is left: a transaction in flight that
	// the horizon counts (autovacuum's analyze, say) only delays it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := h.ledger.SealAll(ctx); err != nil {
			t.Fatal(err)
		}
		if head, err := h.ledger.Head(ctx); err != nil || head.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
	}
	var head struct {
		Seq     int64   `json:"seq"`
		EntryID float64 `json:"entry_id"`
		Digest  string  `json:"digest"`
	}
	h.do(call{method: "GET", path: "/v1/audit/head", key: "admin"}).json(t, &head)
	if head.Seq != 3 || head.EntryID != ids[2] || len(head.Digest) != 64 {
		t.Fatalf("head after sealing: %+v", head)
	}
	kept := fmt.Sprintf("?seq=%d&digest=%s", head.Seq, head.Digest)
	for _, q := range []string{"", kept} {
		r = h.do(call{method: "GET", path: "/v1/audit/verify" + q, key: "finance"})
		if o := r.object(t); r.status != 200 || o["ok"] != true || o["checked"] != 3.0 {
			t.Fatalf("verify%s: %d %s", q, r.status, r.body)
		}
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/audit/verify?seq=3", key: "finance"}), http.StatusUnprocessableEntity, fault.Invalid)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/audit/verify", key: "partner"}), http.StatusForbidden, fault.Forbidden)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/audit/head", key: "customer"}), http.StatusForbidden, fault.Forbidden)

	err := pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
UPDATE postings SET amount = amount * 3 WHERE entry_id = `+fmt.Sprint(ids[1]))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r = h.do(call{method: "GET", path: "/v1/audit/verify" + kept, key: "finance"})
	var v struct {
		OK     bool `json:"ok"`
		Broken struct {
			Seq     int64   `json:"seq"`
			EntryID float64 `json:"entry_id"`
			Problem string  `json:"problem"`
		} `json:"broken"`
	}
	r.json(t, &v)
	if r.status != 200 || v.OK || v.Broken.Seq != 2 || v.Broken.EntryID != ids[1] || v.Broken.Problem != "altered" {
		t.Fatalf("verify after an edit of entry %v: %s", ids[1], r.body)
	}
}

// An event worth no points posts no entry, which the ledger's closed-period
// trigger would refuse, but it still writes its month's contribution, which
// sets tiers. Dated in a closed month it is refused as any business is, alone
// or in a batch, a shipment or a refund; one recorded before the close still
// replays; the closed month's contribution stays what it was, and so does
// what this month's shipments earn.
func TestEventsWorthNoPointsAreRefusedInAClosedMonth(t *testing.T) {
	h := newHarness(t)
	now := h.ledger.Now()
	m1, _, m1End := monthsBack(now, 1)
	late := m1End.Add(-time.Hour)
	event := func(body map[string]any) response {
		return h.do(call{method: "POST", path: "/v1/events", key: "partner", body: body})
	}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "1999.00", late)})
	small := shipment("e2", "C1", "S2", "0.50", late) // worth no points, recorded before the close
	wantStatus(t, event(small), 201)
	h.expect(http.StatusOK, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})

	if r := event(small); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry of an event recorded before the close: %d %v %s", r.status, r.header, r.body)
	}
	wantProblem(t, event(shipment("e3", "C1", "S3", "0.50", late)), http.StatusConflict, fault.PeriodClosed)
	wantProblem(t, event(map[string]any{"event_id": "e4", "type": "shipment.refunded", "customer_id": "C1",
		"shipment_id": "S2", "amount": "0.50", "occurred_at": late.Format(time.RFC3339)}), http.StatusConflict, fault.PeriodClosed)
	var batch batchAnswer
	h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": []any{
		shipment("e5", "C1", "S5", "0.50", late), shipment("e6", "C1", "S6", "0.50", now.Add(-time.Minute))}}}).json(t, &batch)
	if len(batch.Results) != 2 || batch.Results[0].Status != http.StatusConflict ||
		batch.Results[0].Problem["code"] != string(fault.PeriodClosed) || batch.Results[1].Status != 201 {
		t.Errorf("a batch of an event dated in the closed month and one now: %+v", batch.Results)
	}

	var contribution string
	var same bool
	if err := h.pool.QueryRow(t.Context(), `SELECT contribution::text, contribution = 1999.50 FROM customer_months
WHERE customer_id = 'C1' AND month = $1`, m1).Scan(&contribution, &same); err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Errorf("C1's contribution in closed %s is %s; it was 1999.50 when the month closed", m1, contribution)
	}
	var earned struct {
		Points string `json:"points"`
	}
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e7", "C1", "S7", "100", now.Add(-time.Minute))}).json(t, &earned)
	if earned.Points != "100" {
		t.Errorf("a 100 CNY shipment after a month of 1999.50 (regular, x1.0) earned %s points", earned.Points)
	}
}
