package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The events the load generator writes by hand are what encoding/json
// writes of the same fields, one by one, for customers of every width:
// a body the server decodes strictly, with nothing else in it.
func TestAppendShipmentIsTheEventAsJSON(t *testing.T) {
	type event struct {
		EventID    string    `json:"event_id"`
		Type       string    `json:"type"`
		CustomerID string    `json:"customer_id"`
		ShipmentID string    `json:"shipment_id"`
		Amount     string    `json:"amount"`
		OccurredAt time.Time `json:"occurred_at"`
	}
	amount := regexp.MustCompile(`^[1-9][0-9]{0,2}\.[0-9]{2}$`)
	for _, n := range []int{1, 10, 999, 10000, 100000} {
		r := rand.New(rand.NewPCG(1, uint64(n)))
		for range 200 {
			k := seq.Load() + 1
			before := time.Now()
			raw := appendShipment(nil, r, n)
			var ev event
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			again, _ := json.Marshal(ev)
			var a, b map[string]any
			json.Unmarshal(raw, &a)
			json.Unmarshal(again, &b)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s\nencoding/json writes\n%s", raw, again)
			}
			var c int
			if _, err := fmt.Sscanf(ev.CustomerID, "B%05d", &c); err != nil || c < 0 || c >= n || ev.CustomerID != fmt.Sprintf("B%05d", c) {
				t.Errorf("customer %q of the first %d", ev.CustomerID, n)
			}
			if ev.EventID != fmt.Sprintf("ev-%d", k) || ev.ShipmentID != fmt.Sprintf("S%d", k) || ev.Type != "shipment.completed" {
				t.Errorf("%s: want event ev-%d, shipment S%d", raw, k, k)
			}
			if d, err := decimal.NewFromString(ev.Amount); err != nil || !amount.MatchString(ev.Amount) || !d.IsPositive() {
				t.Errorf("amount %q", ev.Amount)
			}
			if at := ev.OccurredAt; at.Before(before.Add(-2*time.Second)) || at.After(time.Now()) {
				t.Errorf("occurred_at %v, not a second before %v", at, before)
			}
		}
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(batch(rand.New(rand.NewPCG(2, 2)), 3, 10), &body); err != nil || len(body.Events) != 3 {
		t.Errorf("a batch of 3: %d events, %v", len(body.Events), err)
	}
}
