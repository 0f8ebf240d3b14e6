package loyalty

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestMarshalledEdgeCases: inputs the random test does not reach.
func TestMarshalledEdgeCases(t *testing.T) {
	times := []time.Time{
		{}, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), time.Now().Round(0), time.Date(2024, 2, 29, 1, 2, 3, 100, time.FixedZone("odd", 5*3600+1800+17)),
		time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("", 23*3600+59*60)),
		time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("", 24*3600)),
		time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("", -30*3600)),
		time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("", 100*3600)),
		time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", -3600)), // year -1 in UTC, 0 here
		time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600)),
	}
	decs := []string{"0", "0.00", "-0.00", "1e3", "1.005", "1.015", "-1.005", "123456789012345678.999", "1e-30", "999999999.995", "12E-1", "0.001"}
	var strs []string
	for c := 0; c < 256; c++ {
		strs = append(strs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	strs = append(strs, "\u2028", "\xff", "")
	for _, tm := range times {
		for _, ds := range decs {
			d := decimal.RequireFromString(ds).Round(2)
			for _, s := range []string{"evt-1", "<x>"} {
				r := 3
				ev := Event{EventID: s, Type: ShipmentCompleted, CustomerID: "C1", ShipmentID: "S1", OccurredAt: tm, Amount: &d, Rating: &r}
				check(t, &ev)
			}
		}
	}
	for _, s := range strs {
		for f := 0; f < 4; f++ {
			ev := Event{EventID: "e", Type: "t", CustomerID: "c", ShipmentID: "s", OccurredAt: time.Unix(1, 0).UTC()}
			*[]*string{&ev.EventID, &ev.Type, &ev.CustomerID, &ev.ShipmentID}[f] = s
			check(t, &ev)
			m := entryMeta{EventID: ev.EventID, CustomerID: ev.CustomerID, ShipmentID: ev.ShipmentID, Segment: s, Campaign: &s}
			want, _ := json.Marshal(m)
			if got := m.appendMarshalled(nil); !bytes.Equal(got, want) {
				t.Errorf("meta %q:\n got %s\nwant %s", s, got, want)
			}
		}
	}
}

func check(t *testing.T, ev *Event) {
	t.Helper()
	want, _ := json.Marshal(ev)
	if got := ev.appendMarshalled(nil); !bytes.Equal(got, want) {
		t.Errorf("event at %v:\n got %s\nwant %s", ev.OccurredAt, got, want)
	}
}
