package api

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// numberedHash attacked (a review's tests): the hand reversal and an expiry
// run's undo, keyed by the id as parsed.

func numberedRev(path, written, key string) call {
	return call{method: "POST", path: fmt.Sprintf(path, written), key: "admin",
		body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": key}, invalid: true}
}

// Odd spellings: only sign+ASCII digits within int64 and > 0 name the
// entry; everything else is 404 (or 400) and writes nothing; other roles are
// 403 whatever the spelling; the canonical first answer is replayed for
// every accepted spelling.
func TestANumberedPathTakesOnlyWholeNumbers(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	id := fmt.Sprint(h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
		"reason": "goodwill", "postings": []map[string]any{
			{"account": "customer:C1:prepaid", "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"])
	const p = "/v1/entries/%s/reversal"
	first := h.expect(201, numberedRev(p, id, "K"))
	before := h.tableRows()
	// A percent-encoded character is the character (RFC 3986, 6.2.2.2):
	// %31 is 1, however Go and Echo keep the path.
	for _, w := range []string{"0" + id, "+" + id, "00" + id, "+0" + id, strings.Repeat("0", 40) + id,
		"%2B" + id, "%3" + id[:1] + id[1:]} {
		r := h.do(numberedRev(p, w, "K"))
		if r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" || string(r.body) != string(first.body) {
			t.Errorf("%q: %d %s", w, r.status, r.body)
		}
	}
	for _, w := range []string{"0", "+0", "00", "-" + id, "-0", "9223372036854775808", "99999999999999999999999",
		"1e3", "%20" + id, "\u0661", "\uff11", id + "%20", "0x1", "1_0"} {
		r := h.do(numberedRev(p, w, "K"))
		t.Logf("%q: %d %s", w, r.status, r.body)
		if r.status != 404 && r.status != 400 {
			t.Errorf("%q: %d %s, want 404", w, r.status, r.body)
		}
	}
	for _, role := range []string{"partner", "finance", "customer"} {
		c := numberedRev(p, "0"+id, "K")
		c.key = role
		wantProblem(t, h.do(c), 403, fault.Forbidden)
	}
	if r := h.do(numberedRev(p+"/", id, "K")); r.status != 404 {
		t.Errorf("trailing slash: %d %s", r.status, r.body)
	}
	if after := h.tableRows(); !maps.Equal(before, after) {
		t.Errorf("rows written: %v, then %v", before, after)
	}
}

// A key held by entry A is never replayed for another entry however either
// is written (B, 0B, +B, 00B).
func TestAKeyNeverReplaysForAnotherEntryHoweverWritten(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	var ids []string
	for range 12 {
		ids = append(ids, fmt.Sprint(h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": []map[string]any{
				{"account": "customer:C1:prepaid", "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"]))
	}
	a := ids[0]
	const p = "/v1/entries/%s/reversal"
	h.expect(201, numberedRev(p, "0"+a, "K")) // recorded through a non-canonical spelling
	before := h.tableRows()
	for _, b := range ids[1:] {
		for _, w := range []string{b, "0" + b, "+" + b, "00" + b} {
			wantProblem(t, h.do(numberedRev(p, w, "K")), 409, fault.IdempotencyConflict)
		}
	}
	if after := h.tableRows(); !maps.Equal(before, after) {
		t.Errorf("rows written: %v, then %v", before, after)
	}
	if r := h.do(numberedRev(p, a, "K")); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("canonical retry: %d %s", r.status, r.body)
	}
}

// One key raced with the id written several ways, on a customer's money, a
// ghost customer's and platform accounts: one reversal, every answer its
// replay.
func TestOneKeyRacingUnderSpellingsReversesOnce(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	for round, account := range []string{"customer:C1:prepaid", "customer:ghost:prepaid", "platform:rebate:expense",
		"customer:C1:prepaid", "customer:ghost:prepaid", "platform:rebate:expense"} {
		id := fmt.Sprint(h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
			"reason": "goodwill", "postings": []map[string]any{
				{"account": account, "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"])
		var calls []call
		for i := range 12 {
			calls = append(calls, numberedRev("/v1/entries/%s/reversal", []string{id, "0" + id, "+" + id, "00" + id}[i%4],
				fmt.Sprintf("race-%d", round)))
		}
		wantOneEffect(t, h.racingAll(calls), 201)
	}
}

// The same for an expiry run's undo.
func TestOneKeyRacingUnderSpellingsUndoesOnce(t *testing.T) {
	h := newHarness(t)
	expiredLots(t, h)
	run := fmt.Sprint(h.expect(200, call{method: "POST", path: "/v1/jobs/expire", key: "admin"}).object(t)["run_id"])
	var calls []call
	for i := range 12 {
		calls = append(calls, numberedRev("/v1/jobs/expire/runs/%s/undo", []string{run, "0" + run, "+" + run, "00" + run}[i%4], "U"))
	}
	wantOneEffect(t, h.racingAll(calls), 200)
}

// oldHash is requestHash as it was before numberedHash: of the path as sent.
func oldHash(path string, body any) []byte {
	canon, _ := json.Marshal(body)
	h := sha256.New()
	fmt.Fprintf(h, "POST %s\n", path)
	h.Write(canon)
	return h.Sum(nil)
}

// A key recorded before numberedHash on a non-canonical spelling ("0N")
// held the hash of "/…/0N/…". Its exact retry (same spelling, same body)
// replayed then, and still replays. Simulated by writing the old hash into
// the recorded row (past the entries' append-only trigger).
func TestAKeyRecordedBeforeOnAnotherSpellingStillReplays(t *testing.T) {
	h := newHarness(t)
	expiredLots(t, h)
	entry := fmt.Sprint(h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
		"reason": "goodwill", "postings": []map[string]any{
			{"account": "customer:C1:prepaid", "amount": "10"}, {"account": "platform:cash", "amount": "-10"}}}}).object(t)["id"])
	run := fmt.Sprint(h.expect(200, call{method: "POST", path: "/v1/jobs/expire", key: "admin"}).object(t)["run_id"])
	body := struct {
		Reason string `json:"reason"`
	}{"mistake"}

	p := "/v1/entries/0" + entry + "/reversal"
	h.expect(201, numberedRev("%s", p, "K-entry"))
	// Sanity: what is stored now is the old hash of the canonical path (so
	// c.Path() carries the /v1 group prefix and oldHash is the old formula).
	var stored []byte
	if err := h.pool.QueryRow(t.Context(), `SELECT request_hash FROM entries WHERE reversal_of = $1::bigint`, entry).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) != string(oldHash("/v1/entries/"+entry+"/reversal", body)) {
		t.Fatalf("stored %x is not the old hash of the canonical path", stored)
	}
	tx, err := h.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `UPDATE entries SET request_hash = $1 WHERE reversal_of = $2::bigint`,
		oldHash(p, body), entry); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := h.do(numberedRev("%s", p, "K-entry")); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("entry: the exact retry of a key recorded before: %d %s", r.status, r.body)
	}

	u := "/v1/jobs/expire/runs/0" + run + "/undo"
	h.expect(200, numberedRev("%s", u, "K-run"))
	if err := h.pool.QueryRow(t.Context(), `SELECT undo_hash FROM expiry_runs WHERE id = $1::bigint`, run).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) != string(oldHash("/v1/jobs/expire/runs/"+run+"/undo", body)) {
		t.Fatalf("stored %x is not the old hash of the canonical path", stored)
	}
	if _, err := h.pool.Exec(t.Context(), `UPDATE expiry_runs SET undo_hash = $1 WHERE id = $2::bigint`, oldHash(u, body), run); err != nil {
		t.Fatal(err)
	}
	if r := h.do(numberedRev("%s", u, "K-run")); r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("run: the exact retry of a key recorded before: %d %s", r.status, r.body)
	}
}
