package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// TestBatchReplyMatchesEncodingJSON: a batch's answer written by hand is
// the bytes encoding/json wrote for it: results stored (JSON), results
// answered as values (a preview's), problems, and items with neither, with
// and without "preview".
func TestBatchReplyMatchesEncodingJSON(t *testing.T) {
	entry := int64(42)
	campaign := `双11 "<sale>" & more`
	res := loyalty.Result{EventID: "e-1", Type: "shipment.completed", CustomerID: "C\u2028\x01", ShipmentID: "S1",
		OccurredAt: time.Date(2026, 11, 11, 8, 0, 0, 123000, time.FixedZone("", 8*3600)), EntryID: &entry, RuleVersion: 3,
		Tier: &rules.Tier{Segment: "mid", Level: 2}, Earning: &rules.Earning{Base: decimal.RequireFromString("12.50"),
			Multiplier: decimal.RequireFromString("1.2"), Campaign: &campaign, CampaignMultiplier: decimal.NewFromInt(2),
			Volume: 15, CampaignPoints: 15, Points: 30}, Points: 30}
	var stored bytes.Buffer
	if err := encodeJSON(&stored, res); err != nil {
		t.Fatal(err)
	}
	raw := json.RawMessage(bytes.TrimSuffix(stored.Bytes(), []byte("\n")))
	preview := res
	preview.Preview, preview.EntryID = true, nil
	items := []batchItem{
		{Index: 0, Status: 201, Result: raw},
		{Index: 1, Status: 200, Replayed: true, Result: raw},
		{Index: 2, Status: 422, Problem: &Problem{Type: "about:blank", Title: "Unprocessable <Entity>", Status: 422,
			Detail: "bad \"amount\"", Code: "invalid", Errors: map[string]string{"b": "2", "a": "1"}, RequestID: "r&1"}},
		{Index: 3, Status: 200, Result: &preview},
		{Index: 4, Status: 409},
	}
	for _, pv := range []bool{false, true} {
		doc := map[string]any{"results": items}
		if pv {
			doc["preview"] = true
		}
		var want bytes.Buffer
		if err := encodeJSON(&want, doc); err != nil {
			t.Fatal(err)
		}
		got, err := batchReply(items, pv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("preview %v:\n got %s\nwant %s", pv, got, want.Bytes())
		}
	}
}
