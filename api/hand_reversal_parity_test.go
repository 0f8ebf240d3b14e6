package api

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// A manual entry on a customer account whose customer row does not exist
// (the chart opens customer:ghost:prepaid on first use; POST /v1/entries
// does not ask for the customer): there is no customer to lock, so racing
// twins with one key both reach the insert; the second trips the key's
// unique index (checked before the reversal's) and must still be answered
// as a replay, as entries on no customer's money are.
func TestGhostCustomerRacingTwinsReplay(t *testing.T) {
	h := newHarness(t)
	for round := range 5 {
		credit := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": []map[string]any{
				{"account": "customer:ghost:prepaid", "amount": "100"}, {"account": "platform:cash", "amount": "-100"}}}}).object(t)
		undo := call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", credit["id"]), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": fmt.Sprintf("ghost-%d", round)}}
		answers := h.racing(8, undo)
		bad := 0
		for i, a := range answers {
			if a.status != 201 {
				bad++
				if bad == 1 {
					t.Errorf("round %d answer %d: %d %s, want 201 (a replay)", round, i, a.status, a.body)
				}
			}
		}
		if bad > 0 {
			t.Errorf("round %d: %d of 8 twins refused", round, bad)
		}
		// Control: the old path (an entry on no customer's money) replays.
		plat := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "move", "postings": []map[string]any{
				{"account": "platform:cash", "amount": "100"}, {"account": "platform:rebate:expense", "amount": "-100"}}}}).object(t)
		ctl := call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", plat["id"]), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": fmt.Sprintf("plat-%d", round)}}
		wantOneEffect(t, h.racing(8, ctl), 201)
	}
}

// A key reused for another entry's reversal is idempotency_conflict naming
// the entry that holds the key, before any refusal of the entry asked for
// (a 422 insufficient_funds about an entry the key was never about would
// tell the client nothing about its mistake).
func TestKeyReusedForAnotherEntryIsAConflictFirst(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	manual := func(amount string) any {
		return h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": []map[string]any{
				{"account": "customer:C1:prepaid", "amount": amount}, {"account": "platform:cash", "amount": "-" + amount}}}}).object(t)["id"]
	}
	a, b, c := manual("10"), manual("1000"), manual("5")
	rev := func(id any) call {
		return call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", id), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": "K"}}
	}
	first := h.expect(201, rev(a)).object(t)
	// b's money spent by a charge.
	wantStatus(t, h.money("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "1000", "shipment_id": "S1"}), 201)
	p := wantProblem(t, h.do(rev(b)), 409, fault.IdempotencyConflict)
	t.Logf("b: %v", p)
	p = wantProblem(t, h.do(rev(c)), 409, fault.IdempotencyConflict)
	if msg, _ := p["detail"].(string); !strings.Contains(fmt.Sprint(p), fmt.Sprintf("entry %v", first["id"])) {
		t.Errorf("the conflict does not name the entry that holds the key (as the old path did): %q / %v", msg, p)
	}
}

// A key reused for the reversal of an entry that cannot be reversed by hand
// (missing, itself a reversal, written by a service flow, or on no
// customer's money) is idempotency_conflict too, before the entry's own
// refusal: the client's mistake is the key, whatever the entry. Nothing is
// written, and the key's own retry still replays.
func TestKeyReusedForAnEntryNotReversibleIsAConflictFirst(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Minute))})
	manual := func(account string) any {
		return h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": []map[string]any{
				{"account": account, "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"]
	}
	a, platformOnly := manual("customer:C1:prepaid"), manual("platform:rebate:expense")
	rev := func(id any) call {
		return call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", id), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": "K"}}
	}
	first := h.expect(201, rev(a)).object(t)
	var service int64
	if err := h.pool.QueryRow(t.Context(), `SELECT min(id) FROM entries WHERE kind = 'shipment.completed'`).Scan(&service); err != nil {
		t.Fatal(err)
	}
	before := h.tableRows()
	for what, id := range map[string]any{"a missing entry": 999999, "a reversal": first["id"],
		"a shipment's entry": service, "an entry on no customer's money": platformOnly} {
		p := wantProblem(t, h.do(rev(id)), 409, fault.IdempotencyConflict)
		if !strings.Contains(fmt.Sprint(p), fmt.Sprintf("entry %v", first["id"])) {
			t.Errorf("%s: the conflict does not name the entry that holds the key: %v", what, p)
		}
	}
	if after := h.tableRows(); !maps.Equal(before, after) {
		t.Errorf("refused requests wrote rows: %v, then %v", before, after)
	}
	if r := h.do(rev(a)); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the key's retry: %d %s", r.status, r.body)
	}
	// Without a key the entries' own refusals stand.
	noKey := func(id any) call {
		return call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", id), key: "admin", body: map[string]any{"reason": "mistake"}}
	}
	wantProblem(t, h.do(noKey(999999)), 404, fault.NotFound)
	wantProblem(t, h.do(noKey(service)), 409, fault.NotReversible)
}

// One key sent at once for the reversals of four entries (on two customers'
// principal, on a customer with no row, on platform accounts alone), three
// times each: one reversal is recorded, the others answer its replay (its
// own entry) or idempotency_conflict (the other entries), and the books
// reconcile (the harness checks them at the end).
func TestOneKeyRacingOverFourEntriesReversesOne(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	for round := range 4 {
		var ids []any
		for _, account := range []string{"customer:C1:prepaid", "customer:C2:prepaid", "customer:ghost:prepaid", "platform:rebate:expense"} {
			ids = append(ids, h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
				"reason": "goodwill", "postings": []map[string]any{
					{"account": account, "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"])
		}
		key := fmt.Sprintf("K%d", round)
		calls := make([]call, 3*len(ids))
		for i := range calls {
			calls[i] = call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", ids[i%len(ids)]), key: "admin",
				body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": key}}
		}
		answers := h.racingAll(calls)
		var fresh []string
		winner := ""
		for i, a := range answers {
			switch {
			case a.status == 201 && a.header.Get("Idempotent-Replayed") != "true":
				fresh = append(fresh, string(a.body))
				winner = fmt.Sprint(ids[i%len(ids)])
			case a.status == 201:
			case a.status == 409 && a.object(t)["code"] == string(fault.IdempotencyConflict):
			default:
				t.Errorf("round %d, entry %v: %d %s", round, ids[i%len(ids)], a.status, a.body)
			}
		}
		if len(fresh) != 1 {
			t.Fatalf("round %d: %d reversals answered as new: %v", round, len(fresh), fresh)
		}
		for i, a := range answers {
			if a.status == 201 && fmt.Sprint(ids[i%len(ids)]) != winner {
				t.Errorf("round %d: entry %v answered 201 where %s holds the key: %s", round, ids[i%len(ids)], winner, a.body)
			}
			if a.status == 201 && string(a.body) != fresh[0] {
				t.Errorf("round %d: a replay differs from the reversal: %s, %s", round, a.body, fresh[0])
			}
		}
		var reversed []string
		rows, err := h.pool.Query(t.Context(), `SELECT reversal_of::text FROM entries WHERE reversal_of = ANY($1::bigint[])`,
			[]string{fmt.Sprint(ids[0]), fmt.Sprint(ids[1]), fmt.Sprint(ids[2]), fmt.Sprint(ids[3])})
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			reversed = append(reversed, r)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if len(reversed) != 1 || reversed[0] != winner {
			t.Errorf("round %d: reversed %v, want only %s", round, reversed, winner)
		}
	}
}

// An entry dated in a closed month, on a customer's principal, is reversed
// now (in the open month) as an entry on no customer's money is: parity.
// Then its reversal's retry with the key replays after the close.
func TestHandReversalOfAnEntryInAClosedMonthIsDatedNow(t *testing.T) {
	h := newHarness(t)
	now := h.ledger.Now()
	m1, _, m1End := monthsBack(now, 1)
	late := m1End.Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	post := func(postings []map[string]any) any {
		return h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "effective_at": late.Format(time.RFC3339), "postings": postings}}).object(t)["id"]
	}
	cust := post([]map[string]any{{"account": "customer:C1:prepaid", "amount": "100"}, {"account": "platform:cash", "amount": "-100"}})
	plat := post([]map[string]any{{"account": "platform:cash", "amount": "100"}, {"account": "platform:rebate:expense", "amount": "-100"}})
	h.expect(http.StatusOK, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})
	for _, id := range []any{cust, plat} {
		c := call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", id), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": fmt.Sprintf("closed-%v", id)}}
		r := h.do(c)
		t.Logf("entry %v: %d %s", id, r.status, r.body)
		if r2 := h.do(c); r2.status != r.status || (r.status == 201 && r2.header.Get("Idempotent-Replayed") != "true") {
			t.Errorf("retry of entry %v's reversal: %d %s (first %d)", id, r2.status, r2.body, r.status)
		}
	}
}

// An entry moving principal from C1 to C2, reversed by hand while both
// customers' charges and deposits race it: no 500, no deadlock left
// unretried, and the books reconcile.
func TestHandReversalOfATwoCustomerEntryRacesMovements(t *testing.T) {
	h := newHarness(t)
	for _, c := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": c, "name": c}})
		wantStatus(t, h.money("deposit", map[string]any{"deposit_id": "d-" + c, "customer_id": c, "amount": "100000"}), 201)
	}
	for round := range 6 {
		m := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "wrong customer", "postings": []map[string]any{
				{"account": "customer:C1:prepaid", "amount": "-10"}, {"account": "customer:C2:prepaid", "amount": "10"},
				{"account": "customer:C2:rebate", "amount": "1"}, {"account": "customer:C1:rebate", "amount": "-1"}}}}).object(t)
		var calls []call
		calls = append(calls, call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", m["id"]), key: "admin",
			body: map[string]any{"reason": "mistake"}})
		for i, c := range []string{"C2", "C1", "C2", "C1"} {
			calls = append(calls, h.moneyCall("deposit", map[string]any{"deposit_id": fmt.Sprintf("r%d-%d", round, i), "customer_id": c, "amount": "5"}))
		}
		for i, r := range h.racingAll(calls) {
			if r.status != 201 {
				t.Errorf("round %d call %d: %d %s", round, i, r.status, r.body)
			}
		}
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
}

// Points with lots beside principal in one entry: reversed by hand through
// ReverseEntry (tx.Reverse) as a points-only entry is through
// ledger.Reverse: the same refusal (status, code, account) once the
// points were spent.
func TestHandReversalOfPointsBesidePrincipalRefusesAsAlone(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	post := func(postings ...map[string]any) any {
		return h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": postings}}).object(t)["id"]
	}
	pts := func(n string) []map[string]any {
		return []map[string]any{{"account": "customer:C1:points", "amount": n}, {"account": "platform:points:earned:adjustment", "amount": "-" + n}}
	}
	mixed := post(append(pts("100"), map[string]any{"account": "customer:C1:prepaid", "amount": "10"},
		map[string]any{"account": "platform:cash", "amount": "-10"})...)
	only := post(pts("100")...)
	// Spend 150 points (both lots share one: a shared lot of the same expiry).
	post(map[string]any{"account": "customer:C1:points", "amount": "-150"}, map[string]any{"account": "platform:points:earned:adjustment", "amount": "150"})
	var codes []string
	for _, id := range []any{mixed, only} {
		r := h.do(call{method: "POST", path: fmt.Sprintf("/v1/entries/%v/reversal", id), key: "admin", body: map[string]any{"reason": "mistake"}})
		t.Logf("entry %v: %d %s", id, r.status, r.body)
		codes = append(codes, fmt.Sprint(r.status, r.object(t)["code"], r.object(t)["account"]))
	}
	if codes[0] != codes[1] {
		t.Errorf("the mixed entry answered %s, the points-only %s", codes[0], codes[1])
	}
}

// A number in a path written another way ("01", "+1") names the same entry
// or expiry run: a key's retry so written is answered as a replay, not as
// a conflict; a key recorded on a canonical path hashes as it always did
// (the path as sent), so that keys recorded before still replay.
func TestANumberWrittenAnotherWayReplaysItsKey(t *testing.T) {
	h := newHarness(t)
	expiredLots(t, h)
	entry := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
		"reason": "goodwill", "postings": []map[string]any{
			{"account": "customer:C1:prepaid", "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"]
	run := h.expect(200, call{method: "POST", path: "/v1/jobs/expire", key: "admin"}).object(t)["run_id"]
	for _, c := range []struct {
		path, status string
		code         int
	}{
		{"/v1/entries/%s/reversal", "entry", 201},
		{"/v1/jobs/expire/runs/%s/undo", "run", 200},
	} {
		id := fmt.Sprint(entry)
		if c.status == "run" {
			id = fmt.Sprint(run)
		}
		send := func(written string) response {
			return h.do(call{method: "POST", path: fmt.Sprintf(c.path, written), key: "admin",
				body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": "K-" + c.status}})
		}
		first := h.expect(c.code, call{method: "POST", path: fmt.Sprintf(c.path, id), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": "K-" + c.status}})
		before := h.tableRows()
		for _, written := range []string{"0" + id, "+" + id, "00" + id} {
			r := send(written)
			if r.status != c.code || r.header.Get("Idempotent-Replayed") != "true" || string(r.body) != string(first.body) {
				t.Errorf("%s %s with the key of %s: %d %s %s, want the first answer replayed: %s",
					c.status, written, id, r.status, r.header.Get("Idempotent-Replayed"), r.body, first.body)
			}
		}
		if after := h.tableRows(); !maps.Equal(before, after) {
			t.Errorf("%s: replays wrote rows: %v, then %v", c.status, before, after)
		}
	}
}

// The hash of a request on a numbered path is the hash of its canonical
// path, which is the path as sent when it is written canonically (as every
// request's hash was before numberedHash); written otherwise, its hash as
// sent is given beside it as the earlier one, under which a version before
// numberedHash recorded its key.
func TestANumberedPathHashesAsSentWhenCanonical(t *testing.T) {
	e := echo.New()
	for _, route := range []string{"/v1/entries/:id/reversal", "/v1/jobs/expire/runs/:id/undo"} {
		var hash, earlier, asSent []byte
		e.POST(route, func(c echo.Context) error {
			id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
			hash, earlier = numberedHash(c, id, map[string]string{"reason": "r"})
			asSent = requestHash(c, map[string]string{"reason": "r"})
			return nil
		})
		serve := func(written string) {
			hash, earlier, asSent = nil, nil, nil
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", strings.Replace(route, ":id", written, 1), nil))
		}
		serve("42")
		canonical := hash
		if asSent == nil || !bytes.Equal(hash, asSent) || earlier != nil {
			t.Errorf("%s as 42: %x and earlier %x, want the hash of the path as sent %x and no earlier one", route, hash, earlier, asSent)
		}
		for _, written := range []string{"042", "+42"} {
			serve(written)
			if asSent == nil || !bytes.Equal(hash, canonical) || !bytes.Equal(earlier, asSent) || bytes.Equal(hash, asSent) {
				t.Errorf("%s as %s: %x and earlier %x, want 42's %x and the hash as sent %x", route, written, hash, earlier, canonical, asSent)
			}
		}
	}
}
