package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestNoticesJobAnnouncesWhatIsDueOnce: a referral bonus whose window ended
// six days ago is announced by the first run of POST /v1/jobs/notices and
// by no run after; a body, a malformed as_of and one ahead of now are
// refused, writing nothing.
func TestNoticesJobAnnouncesWhatIsDueOnce(t *testing.T) {
	h := newHarness(t)
	for _, c := range []map[string]any{{"id": "R", "name": "R"}, {"id": "E", "name": "E", "referred_by": "R"}} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: c})
	}
	// 20 days ago: the 14-day window ended 6 days ago.
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner",
		body: shipment("e1", "E", "S1", "80", time.Now().Add(-20*24*time.Hour))})

	before := h.count("notifications")
	wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/notices", key: "admin", body: `{}`, invalid: true}), 400, fault.InvalidJSON)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/notices?as_of=soon", key: "admin", invalid: true}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/notices?as_of=" + queryTime(time.Now().Add(time.Hour)), key: "admin"}),
		422, fault.AsOfInFuture)
	if n := h.count("notifications") - before; n != 0 {
		t.Fatalf("refused runs wrote %d notifications", n)
	}

	first := h.expect(200, call{method: "POST", path: "/v1/jobs/notices", key: "admin"}).object(t)
	if first["referral_bonuses_available"] != float64(1) || first["points_expiring"] != float64(0) || first["tier_downgrades"] != float64(0) {
		t.Errorf("first run %v, want the one referral bonus", first)
	}
	again := h.expect(200, call{method: "POST", path: "/v1/jobs/notices", key: "admin"}).object(t)
	if again["referral_bonuses_available"] != float64(0) {
		t.Errorf("second run %v, want nothing new", again)
	}
	var lines []string
	for _, l := range h.feed("admin", "types=referral.bonus_available") {
		lines = append(lines, l)
	}
	if len(lines) != 1 || lines[0] != "referral.bonus_available R " {
		t.Errorf("feed %q, want R's one bonus", lines)
	}
}

// TestLowBalanceThresholdRoutes: a partner sets and reads its own threshold
// by "me" and by its id, an admin any partner's; another partner's is
// forbidden to a partner key; unknown partners are 404; bad bodies are
// refused as input. A charge that takes a customer under the threshold is
// in that partner's feed and not in another partner's.
func TestLowBalanceThresholdRoutes(t *testing.T) {
	h := newHarness(t)
	me, err := h.ledger.Authenticate(context.Background(), h.keys["partner"])
	if err != nil {
		t.Fatal(err)
	}
	other := h.addKey("other-partner", "")
	own, theirs := "/v1/partners/"+itoa(me.PartnerID)+"/low-balance-threshold", "/v1/partners/"+itoa(other.PartnerID)+"/low-balance-threshold"

	got := h.expect(200, call{method: "GET", path: "/v1/partners/me/low-balance-threshold", key: "partner"}).object(t)
	if got["threshold"] != "0.00" || got["updated_at"] != nil || got["partner_id"] != float64(me.PartnerID) {
		t.Errorf("never set: %v, want 0.00", got)
	}
	set := h.expect(200, call{method: "PUT", path: "/v1/partners/me/low-balance-threshold", key: "partner",
		body: map[string]any{"threshold": "500.00"}}).object(t)
	if set["threshold"] != "500.00" || set["updated_at"] == nil {
		t.Errorf("set: %v, want 500.00", set)
	}
	for _, c := range []call{{path: own, key: "partner"}, {path: own, key: "admin"}} {
		if got := h.expect(200, call{method: "GET", path: c.path, key: c.key}).object(t); got["threshold"] != "500.00" {
			t.Errorf("%s as %s: %v, want 500.00", c.path, c.key, got)
		}
	}
	h.expect(200, call{method: "PUT", path: theirs, key: "admin", body: map[string]any{"threshold": "100"}})

	rows := h.count("low_balance_thresholds")
	for _, tc := range []struct {
		name   string
		c      call
		status int
		code   fault.Code
	}{
		{"PartnerReadsAnother", call{method: "GET", path: theirs, key: "partner"}, 403, fault.Forbidden},
		{"PartnerSetsAnother", call{method: "PUT", path: theirs, key: "partner", body: map[string]any{"threshold": "1"}}, 403, fault.Forbidden},
		{"AdminMe", call{method: "GET", path: "/v1/partners/me/low-balance-threshold", key: "admin"}, 404, fault.NotFound},
		{"UnknownPartner", call{method: "GET", path: "/v1/partners/99999/low-balance-threshold", key: "admin"}, 404, fault.NotFound},
		{"SetUnknownPartner", call{method: "PUT", path: "/v1/partners/99999/low-balance-threshold", key: "admin",
			body: map[string]any{"threshold": "1"}}, 404, fault.NotFound},
		{"NotAnID", call{method: "GET", path: "/v1/partners/x1/low-balance-threshold", key: "admin"}, 404, fault.NotFound},
		{"Negative", call{method: "PUT", path: own, key: "partner", body: map[string]any{"threshold": "-1"}, invalid: true}, 422, fault.Invalid},
		{"Missing", call{method: "PUT", path: own, key: "partner", body: map[string]any{}, invalid: true}, 422, fault.Invalid},
		{"FinerThanTheFen", call{method: "PUT", path: own, key: "partner", body: map[string]any{"threshold": "0.001"}}, 422, fault.InvalidAmount},
		{"UnknownField", call{method: "PUT", path: own, key: "partner", body: map[string]any{"limit": "1"}, invalid: true}, 400, fault.InvalidJSON},
		{"NotJSON", call{method: "PUT", path: own, key: "partner", body: `{"threshold":"1"}`, invalid: true,
			header: map[string]string{"Content-Type": "text/plain"}}, 415, fault.UnsupportedMediaType},
		{"Huge", call{method: "PUT", path: own, key: "partner", body: `{"threshold":"` + strings.Repeat("1", 2<<20) + `"}`, invalid: true},
			413, fault.BodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) { wantProblem(t, h.do(tc.c), tc.status, tc.code) })
	}
	if n := h.count("low_balance_thresholds"); n != rows {
		t.Errorf("refused requests left %d thresholds, want %d", n, rows)
	}

	// 1,000 deposited (2% rebate: 20.00), 600 charged: 420.00 is under 500
	// (the partner's) and above 100 (the other's).
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	h.expect(201, h.moneyCall("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "1000"}))
	h.expect(201, h.moneyCall("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "600", "shipment_id": "S1"}))
	items, _ := h.feedPage("partner", "types=prepaid.low_balance", "")
	if len(items) != 1 || items[0]["customer_id"] != "C1" {
		t.Fatalf("the partner's feed: %v, want C1's low balance", items)
	}
	if data, _ := items[0]["data"].(map[string]any); data["balance"] != "420.00" || data["threshold"] != "500.00" ||
		data["movement"] != "charge" || data["movement_id"] != "c1" {
		t.Errorf("notice %v, want 420.00 under 500.00 by charge c1", data)
	}
	if items, _ := h.feedPage("other-partner", "types=prepaid.low_balance", ""); len(items) != 0 {
		t.Errorf("another partner's feed shows %v", items)
	}
	if items, _ := h.feedPage("admin", "types=prepaid.low_balance", ""); len(items) != 1 {
		t.Errorf("the admin's feed: %v, want the one notice", items)
	}
}

// moneyCall is a movement posted as the partner.
func (h *harness) moneyCall(kind string, body map[string]any) call {
	return call{method: "POST", path: "/v1/" + kind + "s", key: "partner", body: body}
}

// TestJobNoticesInTheFeedMatchTheirSchemas: on a server whose clock the
// test moves, a customer's 5,000 CNY shipment this month (mid L11) and
// nothing the next makes the notice job announce a downgrade to floating
// L1 at the turn into the month after, and the points expiring 30 days
// before the end of the 12th month; a reconciliation of broken books
// announces its failure. The feed answers each, checked against the
// notification schemas.
func TestJobNoticesInTheFeedMatchTheirSchemas(t *testing.T) {
	h := newHarness(t)
	testdb.SkipBooks(t, "a rebate is edited on purpose, for reconciliation to fail")
	clock := &keyClock{}
	now := time.Now()
	clock.set(now)
	l := ledger.New(h.pool, ledger.WithClock(clock.now))
	cfg := wired(h.pool, l)
	cfg.OpenAPI = tally.OpenAPI
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	c := &harness{t: t, srv: srv, ledger: l, pool: h.pool, keys: h.keys}

	c.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	shipped := now.Add(-time.Minute)
	c.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "5000", shipped)})
	c.expect(201, c.moneyCall("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "5000"}))
	y, m, _ := shipped.In(shanghaiZone()).Date()
	turn := time.Date(y, m+2, 1, 0, 0, 0, 0, shanghaiZone())
	expires := time.Date(y, m+13, 1, 0, 0, 0, 0, shanghaiZone()) // the end of the 12th month after this one

	clock.set(turn.Add(time.Hour))
	if rep := c.expect(200, call{method: "POST", path: "/v1/jobs/notices", key: "admin"}).object(t); rep["tier_downgrades"] != float64(1) {
		t.Errorf("at the turn: %v, want one downgrade", rep)
	}
	clock.set(expires.Add(-30 * 24 * time.Hour))
	if rep := c.expect(200, call{method: "POST", path: "/v1/jobs/notices", key: "admin"}).object(t); rep["points_expiring"] != float64(1) {
		t.Errorf("30 days before the points expire: %v, want one notice", rep)
	}
	if _, err := h.pool.Exec(context.Background(), `UPDATE money_movements SET rebate = rebate + 1`); err != nil {
		t.Fatal(err)
	}
	if r := c.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); r["pass"] != false {
		t.Fatalf("reconciliation of an edited rebate: %v", r)
	}

	items, _ := c.feedPage("admin", "types=customer.tier_changed,points.expiring,reconciliation.failed", "")
	got := map[string]map[string]any{}
	for _, n := range items {
		if data, _ := n["data"].(map[string]any); n["type"] != "customer.tier_changed" || data["direction"] == "down" {
			got[n["type"].(string)] = n
		}
	}
	down, _ := got["customer.tier_changed"]["data"].(map[string]any)
	if to, _ := down["to"].(map[string]any); to["segment"] != "floating" || to["level"] != float64(1) ||
		got["customer.tier_changed"]["occurred_at"] != turn.UTC().Format(time.RFC3339) {
		t.Errorf("downgrade %v, want to floating L1 at %s", got["customer.tier_changed"], turn.UTC().Format(time.RFC3339))
	}
	if exp, _ := got["points.expiring"]["data"].(map[string]any); exp["points"] != "5000" || exp["days_ahead"] != float64(30) ||
		exp["expires_at"] != expires.UTC().Format(time.RFC3339) {
		t.Errorf("expiring %v, want 5000 points expiring %s, 30 days ahead", got["points.expiring"], expires.UTC().Format(time.RFC3339))
	}
	failed, _ := got["reconciliation.failed"]["data"].(map[string]any)
	if checks, _ := failed["failed"].([]any); len(checks) != 1 || checks[0].(map[string]any)["name"] != "rebates_match_rules" ||
		got["reconciliation.failed"]["customer_id"] != nil {
		t.Errorf("reconciliation.failed %v, want rebates_match_rules for no customer", got["reconciliation.failed"])
	}
}
