package api

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestBatchReplayOfAResultStoredAsJSONBIsCompact: a result recorded before
// events.result became json (migration 0008 turned each jsonb result into
// jsonb's text: a space after every colon and comma) is answered by a
// replayed batch as encoding/json wrote it, compact: the batch's answer is
// the bytes encodeJSON writes for {"results": items}, whatever the stored
// text's spacing.
func TestBatchReplayOfAResultStoredAsJSONBIsCompact(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	body := map[string]any{"events": []any{shipment("j1", "C1", "S1", "100", time.Now().Add(-time.Minute))}}
	h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: body})
	// As migration 0008 left the results written before it.
	if _, err := h.pool.Exec(context.Background(), `UPDATE events SET result = result::jsonb::json WHERE event_id = 'j1'`); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := h.pool.QueryRow(context.Background(), `SELECT result::text FROM events WHERE event_id = 'j1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(stored, []byte(`": `)) {
		t.Fatalf("the stored result is not in jsonb's spacing: %s", stored)
	}
	replay := h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: body})
	items := []batchItem{{Index: 0, Status: 201, Replayed: true, Result: json.RawMessage(stored)}}
	var want bytes.Buffer
	if err := encodeJSON(&want, map[string]any{"results": items}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replay.body, want.Bytes()) {
		t.Errorf("replayed batch:\n got %s\nwant %s", replay.body, want.Bytes())
	}
}
