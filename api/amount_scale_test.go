package api

import (
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cnyAtScale is how every CNY amount and balance is answered: two
// decimals (openapi.yaml's CNYFixed); ptsAtScale, a whole number of points.
var (
	cnyAtScale = regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]{2}$`)
	ptsAtScale = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// TestCNYIsAnsweredAtItsScale: amounts sent without trailing zeros ("400",
// "123.4", "20.5") and balances of nothing come back at CNY's scale
// ("400.00", "123.40", "20.50", "0.00") from every operation that answers
// money (events, deposits, charges, withdrawals and their reversals,
// customer profiles, balances and statements, low-balance thresholds, rule
// sets, the segment report in JSON and CSV) and in the notifications that
// carry it, as the trial balance and entries answer theirs; points stay
// whole, and rates and multipliers keep their form ("0", "0.02", "1.2").
func TestCNYIsAnsweredAtItsScale(t *testing.T) {
	h := newHarness(t)
	var bad []string
	want := func(what string, got any, w string) {
		t.Helper()
		if got != w {
			bad = append(bad, fmt.Sprintf("%s = %v, want %q", what, got, w))
		}
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }

	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	at := time.Now().Add(-time.Minute)
	month := at.In(shanghaiZone()).Format("2006-01")

	ship := h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", at)}).object(t)
	want("shipment's contribution.before", obj(ship["contribution"])["before"], "0.00")
	want("shipment's contribution.after", obj(ship["contribution"])["after"], "100.00")
	want("shipment's earning.multiplier (not money)", obj(ship["earning"])["multiplier"], "1")
	want("shipment's points", ship["points"], "100")
	refund := h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: map[string]any{"event_id": "e2",
		"type": "shipment.refunded", "customer_id": "C1", "shipment_id": "S1", "amount": "20.5", "occurred_at": at.Format(time.RFC3339)}}).object(t)
	want("refund's refunded", obj(refund["refund"])["refunded"], "20.50")
	want("refund's total_refunded", obj(refund["refund"])["total_refunded"], "20.50")
	want("refund's contribution.after", obj(refund["contribution"])["after"], "79.50")

	dep := h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "400"}}).object(t)
	want("deposit's amount", dep["amount"], "400.00")
	want("deposit's rebate (none under 1,000)", dep["rebate"], "0.00")
	want("deposit's rate (not money)", dep["rate"], "0")
	want("deposit's principal", dep["principal"], "400.00")
	want("deposit's rebate_balance", dep["rebate_balance"], "0.00")
	chg := h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "123.4", "shipment_id": "S1"}}).object(t)
	want("charge's amount", chg["amount"], "123.40")
	want("charge's from_principal", chg["from_principal"], "123.40")
	want("charge's from_rebate", chg["from_rebate"], "0.00")
	want("charge's principal", chg["principal"], "276.60")
	wd := h.expect(201, call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "276.6"}}).object(t)
	want("withdrawal's amount", wd["amount"], "276.60")
	want("withdrawal's clawback", wd["clawback"], "0.00")
	want("withdrawal's principal", wd["principal"], "0.00")
	want("withdrawal's rebate_balance", wd["rebate_balance"], "0.00")

	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	want("balances' prepaid.principal", obj(bal["prepaid"])["principal"], "0.00")
	want("balances' prepaid.rebate", obj(bal["prepaid"])["rebate"], "0.00")
	prof := h.expect(200, call{method: "GET", path: "/v1/customers/C1", key: "customer"}).object(t)
	for _, k := range []string{"last_month", "this_month"} {
		if c := obj(prof[k]); c["month"] == month {
			want("profile's "+k+".amount", c["amount"], "79.50")
		} else {
			want("profile's "+k+".amount", c["amount"], "0.00")
		}
	}
	if next := obj(prof["next_segment"]); next["segment"] == "regular" {
		want("profile's next_segment.needed", next["needed"], "220.50")
	}

	rev := h.expect(201, call{method: "POST", path: "/v1/withdrawals/w1/reversal", key: "admin",
		body: map[string]any{"reason": "paid back by mistake"}}).object(t)
	want("withdrawal reversal's amount", rev["amount"], "276.60")
	want("withdrawal reversal's principal", rev["principal"], "276.60")

	stmt := h.expect(200, call{method: "GET", path: "/v1/customers/C1/statement", key: "customer"}).object(t)
	var cny []string
	for _, e := range stmt["entries"].([]any) {
		for _, m := range obj(e)["movements"].([]any) {
			mv := obj(m)
			at := cnyAtScale
			if mv["asset"] == "PTS" {
				at = ptsAtScale
			}
			for _, k := range []string{"amount", "balance_after"} {
				if s, _ := mv[k].(string); !at.MatchString(s) {
					bad = append(bad, fmt.Sprintf("statement: %s's %s %v, not at %s's scale", mv["account"], k, mv[k], mv["asset"]))
				}
			}
			if mv["asset"] == "CNY" {
				cny = append(cny, fmt.Sprint(mv["amount"], "->", mv["balance_after"]))
			}
		}
	}
	// Newest first: the reversal, the withdrawal, the charge, the deposit.
	want("statement's CNY movements", strings.Join(cny, " "), "276.60->276.60 -276.60->0.00 -123.40->276.60 400.00->400.00")

	thr := h.expect(200, call{method: "GET", path: "/v1/partners/me/low-balance-threshold", key: "partner"}).object(t)
	want("threshold never set", thr["threshold"], "0.00")
	thr = h.expect(200, call{method: "PUT", path: "/v1/partners/me/low-balance-threshold", key: "partner",
		body: map[string]any{"threshold": "500"}}).object(t)
	want("threshold set to 500", thr["threshold"], "500.00")

	rs := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	segs, rebates := rs["segments"].([]any), rs["rebates"].([]any)
	want("rules' segments[1].min", obj(segs[1])["min"], "300.00")
	want("rules' segments[4].level_step", obj(segs[4])["level_step"], "100000.00")
	want("rules' segments[2].multiplier (not money)", obj(segs[2])["multiplier"], "1.2")
	want("rules' referral.min_shipment", obj(rs["referral"])["min_shipment"], "50.00")
	want("rules' rebates[0].min", obj(rebates[0])["min"], "0.00")
	want("rules' rebates[1].rate (not money)", obj(rebates[1])["rate"], "0.02")
	want("rules' points_per_cny (not money)", rs["points_per_cny"], "1")

	seg := h.expect(200, call{method: "GET", path: "/v1/reports/segments?month=" + month, key: "finance"}).object(t)
	want("segment report's contribution", seg["contribution"], "79.50")
	for _, g := range append(seg["segments"].([]any), seg["classes"].([]any)...) {
		if s, _ := obj(g)["contribution"].(string); !cnyAtScale.MatchString(s) {
			bad = append(bad, fmt.Sprintf("segment report: %s's contribution %q, not at CNY's scale", obj(g)["name"], s))
		}
	}
	segCSV := h.expect(200, call{method: "GET", path: "/v1/reports/segments?format=csv&month=" + month, key: "finance"})
	recs, err := csv.NewReader(strings.NewReader(string(segCSV.body))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("segments CSV: %v %v", recs, err)
	}
	want("segment report CSV's total contribution", recs[len(recs)-1][3], "79.50")

	for _, n := range h.feedAll("admin") {
		data := obj(n["data"])
		switch n["type"] {
		case "deposit.received":
			want("deposit.received amount", data["amount"], "400.00")
			want("deposit.received rebate", data["rebate"], "0.00")
			want("deposit.received rate (not money)", data["rate"], "0")
		case "withdrawal.completed":
			want("withdrawal.completed amount", data["amount"], "276.60")
			want("withdrawal.completed clawback", data["clawback"], "0.00")
		case "points.earned":
			c := obj(obj(data["pricing"])["contribution"])
			want("points.earned pricing.contribution", fmt.Sprint(c["before"], "->", c["after"]), "0.00->100.00")
		}
	}
	if len(bad) > 0 {
		t.Errorf("CNY not at its scale:\n  %s", strings.Join(bad, "\n  "))
	}
}

// feedAll is every notification key may read, in commit order.
func (h *harness) feedAll(key string) []map[string]any {
	h.t.Helper()
	var out []map[string]any
	after := ""
	for range 100 {
		items, next := h.feedPage(key, "", after)
		if len(items) == 0 {
			return out
		}
		out, after = append(out, items...), next
	}
	h.t.Fatal("the feed did not end in 100 pages")
	return nil
}
