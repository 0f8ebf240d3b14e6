package api

import (
	"bytes"
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestManualEntryMetadataKeepsNumbersAsWritten: a manual entry's metadata is
// kept as the admin wrote it, numbers included: an id past 2^53 or a decimal
// with many digits is not rounded through a float on its way to the books.
func TestManualEntryMetadataKeepsNumbersAsWritten(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	body := `{"reason":"goodwill","metadata":{"ticket":9007199254740993,"ratio":0.1000000000000000055511151231257827},` +
		`"postings":[{"account":"platform:points:earned:adjustment","amount":"-1"},{"account":"customer:C1:points","amount":"1"}]}`
	res := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: body})
	var entry struct {
		ID int64 `json:"id"`
	}
	res.json(t, &entry)
	var stored []byte
	if err := h.pool.QueryRow(context.Background(), `SELECT metadata::text FROM entries WHERE id = $1`, entry.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`9007199254740993`, `0.1000000000000000055511151231257827`} {
		if !bytes.Contains(stored, []byte(want)) {
			t.Errorf("stored metadata %s, want %s as written", stored, want)
		}
	}
}

// A number of an entry's metadata takes at most 100 digits written out in
// full. Its size as sent did not bound it: 1e999999 failed the insert with
// a 500, and 1e131071 (eight bytes) was stored as 131,072 digits, read back
// with the entry every time. Refused: 422 invalid naming the key, nothing
// written; 1e99 (100 digits) is kept as written.
func TestManualEntryMetadataNumbersAreBoundedWrittenOut(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	entry := func(metadata string) string {
		return `{"reason":"goodwill","metadata":` + metadata + `,` +
			`"postings":[{"account":"platform:points:earned:adjustment","amount":"-1"},{"account":"customer:C1:points","amount":"1"}]}`
	}
	before := h.rowCount()
	for _, tc := range []struct{ metadata, key string }{
		{`{"a":1e999999}`, "metadata.a"},
		{`{"a":1e131071}`, "metadata.a"},
		{`{"a":1E+101}`, "metadata.a"},
		{`{"a":-1.5e-100}`, "metadata.a"},
		{`{"ok":1,"nested":[2,{"b":1e200}]}`, "metadata.nested"},
		{`{"a":1e99999999999999999999}`, "metadata.a"},
		{`{"a":1e0000000000101}`, "metadata.a"},
	} {
		p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry(tc.metadata)}), 422, fault.Invalid)
		if errs, _ := p["errors"].(map[string]any); errs[tc.key] == nil {
			t.Errorf("metadata %s: %v, want %s named", tc.metadata, p, tc.key)
		}
	}
	if after := h.rowCount(); after != before {
		t.Errorf("%d rows written by refused entries", after-before)
	}
	// JSON allows an exponent's leading zeros: 1E+0000000099 is 1e99.
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin",
		body: entry(`{"a":1e99,"b":-1.5e-98,"c":1e0000000001,"d":1E+0000000099}`)})
}
