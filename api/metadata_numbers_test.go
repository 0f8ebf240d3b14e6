package api

import (
	"bytes"
	"context"
	"testing"
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
