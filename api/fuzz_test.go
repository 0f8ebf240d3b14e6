package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// FuzzAmount: the amount decoder never panics, accepts only plain decimal
// strings, and what it accepts survives a round trip exactly.
func FuzzAmount(f *testing.F) {
	for _, s := range []string{`"123.45"`, `"-0"`, `"0.00000001"`, `"1e9999"`, `"NaN"`, `123.45`, `"١٢٣"`, `"999999999999999999.99999999"`,
		`"-"`, `"."`, `"1."`, `".5"`, `null`, `""`, `"+1"`, `" 1"`, `"0x10"`, `"Infinity"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Amount
		if err := json.Unmarshal(data, &a); err != nil {
			return
		}
		var s string
		if json.Unmarshal(data, &s) != nil || !amountPattern.MatchString(s) {
			t.Fatalf("accepted %q, which is not a decimal string", data)
		}
		back, err := decimal.NewFromString(a.String())
		if err != nil || !back.Equal(a.Decimal) {
			t.Fatalf("%q does not round-trip: %s", data, a.String())
		}
	})
}

// FuzzEvent: decoding and validating an event body never panics, and an
// event that passes validation is well-formed enough to price.
func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","type":"shipment.completed","customer_id":"C1","shipment_id":"S1","amount":"123.45","occurred_at":"2026-03-01T10:00:00+08:00"}`))
	f.Add([]byte(`{"event_id":"e2","type":"feedback.submitted","customer_id":"C1","shipment_id":"S1","rating":5,"occurred_at":"2026-03-01T10:00:00Z"}`))
	f.Add([]byte(`{"event_id":"e3","type":"shipment.refunded","customer_id":"C1","shipment_id":"S1","amount":"-0","occurred_at":"2026-03-01T10:00:00Z"}`))
	f.Add([]byte(`{"event_id":"","type":"x","amount":1e9999}`))
	f.Add([]byte(`[{"event_id":"e"}]`))
	svc := loyalty.New(ledger.New(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req eventRequest
		if err := decodeStrict(data, &req); err != nil {
			if p := problemFor(jsonError(err)); p.Status < 400 || p.Status >= 500 {
				t.Fatalf("decode error %v answers %d", err, p.Status)
			}
			return
		}
		ev := req.event()
		if err := svc.Validate(&ev); err != nil {
			if p := problemFor(err); p.Status < 400 || p.Status >= 500 {
				t.Fatalf("validation error %v answers %d", err, p.Status)
			}
			return
		}
		if ev.OccurredAt.IsZero() || ev.OccurredAt.After(time.Now().Add(10*time.Minute)) {
			t.Fatalf("accepted occurred_at %s", ev.OccurredAt)
		}
		if ev.Type != loyalty.FeedbackSubmitted && (ev.Amount == nil || !ev.Amount.IsPositive()) {
			t.Fatalf("accepted amount %v", ev.Amount)
		}
	})
}
