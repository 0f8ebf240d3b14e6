package api

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/loyalty"
)

// batchElements are events of a batch as sent: good ones, and ones each
// refused for its own reason (or taken for its own reason, where the rules
// allow what looks odd: keys in another case, a repeated key).
var batchElements = []string{
	`{"event_id":"e1","type":"shipment.completed","customer_id":"C1","occurred_at":"2026-11-01T08:00:00+08:00","shipment_id":"S1","amount":"12.50"}`,
	`{"event_id":"e2","type":"feedback.submitted","customer_id":"C2","occurred_at":"2026-11-01T00:00:00Z","shipment_id":"S2","rating":5}`,
	`{"EVENT_ID":"e3","Type":"shipment.completed","customer_id":"C3","occurred_at":"2026-11-01T00:00:00Z","shipment_id":"S3","amount":"1"}`,
	`{"event_id":"e4","event_id":"e5","type":"shipment.completed","customer_id":"C4","occurred_at":"2026-11-01T00:00:00Z","amount":"2"}`,
	`{"event_id":"e6","type":"shipment.completed","customer_id":"` + strings.Repeat("C", maxTextBytes) + `","occurred_at":"2026-11-01T00:00:00Z","amount":"3"}`,
	`{"event_id":"e7","type":"shipment.completed","customer_id":"` + strings.Repeat("C", maxTextBytes+1) + `","occurred_at":"2026-11-01T00:00:00Z","amount":"3"}`,
	`{"event_id":"e8","type":"shipment.completed","customer_id":"C8","occurred_at":"2026-11-01T00:00:00Z","amount":"3","surprise":1}`,
	`{"event_id":"e9","type":"shipment.completed","customer_id":"C9","occurred_at":"1969-12-31T23:59:59Z","amount":"3"}`,
	`{"event_id":"e10","type":"shipment.completed","customer_id":"C10","occurred_at":"3000-01-01T00:00:00Z","amount":"3"}`,
	`{"event_id":"e11","type":"shipment.completed","customer_id":"C11","occurred_at":"yesterday","amount":"3"}`,
	`{"event_id":"e12","type":"shipment.completed","customer_id":"C12","occurred_at":"2026-11-01T00:00:00Z","amount":12.5}`,
	`{"event_id":"e13","type":"shipment.completed","customer_id":"C13","occurred_at":"2026-11-01T00:00:00Z","amount":"1e400"}`,
	`{"event_id":"e14","type":"feedback.submitted","customer_id":"C14","occurred_at":"2026-11-01T00:00:00Z","rating":"5"}`,
	`{"event_id":{"nested":true},"type":"shipment.completed","customer_id":"C15"}`,
	`{"event_id":"e16","type":"shipment.completed","customer_id":"C16"}`,
	`{"event_id":"e17","type":"shipment.completed","customer_id":"C17","occurred_at":"2026-11-01T00:00:00Z","amount":null,"rating":null}`,
	`{"event_id":"` + strings.Repeat("é", 101) + `","type":"shipment.completed","customer_id":"C18","occurred_at":"2026-11-01T00:00:00Z","amount":"3"}`,
	`null`, `{}`, `42`, `"e19"`, `[]`, `true`,
}

// TestBatchDecodesInOnePassAsEventByEvent: a batch decoded in one pass
// answers what decoding it event by event answers, item for item, event
// for event, for 3,000 random batches of the elements above (and bodies
// that are no batch at all); had the one pass taken an event the other
// refuses, or decoded one differently, the two would differ.
func TestBatchDecodesInOnePassAsEventByEvent(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 5))
	e := echo.New()
	bodies := []string{`{}`, `{"events":null}`, `{"events":[]}`, `{"events":{}}`, `{"events":"x"}`, `[]`, `null`,
		`{"events":[` + strings.Repeat(batchElements[0]+",", maxBatch) + batchElements[0] + `]}`,
		`{"events":[` + strings.TrimSuffix(strings.Repeat(batchElements[0]+",", maxBatch), ",") + `]}`,
		`{"events":[` + batchElements[0] + `],"more":1}`, `{"events":[` + batchElements[0] + `]} {}`,
		`{"events":[` + batchElements[0] + `],"events":[` + batchElements[1] + `]}`,
	}
	for range 3000 {
		n := r.IntN(6)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = batchElements[r.IntN(len(batchElements))]
			if r.IntN(2) == 0 { // mostly good
				parts[i] = batchElements[r.IntN(4)]
			}
		}
		bodies = append(bodies, `{"events":[`+strings.Join(parts, ",")+`]}`)
	}
	onePass := 0
	for _, body := range bodies {
		c := e.NewContext(httptest.NewRequest("POST", "/v1/events/batch", nil), httptest.NewRecorder())
		items, events, at, err := batchEvents(c, []byte(body))
		wantItems, wantEvents, wantAt, wantErr := batchEventsEach(c, []byte(body))
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(items, wantItems) ||
			!reflect.DeepEqual(events, wantEvents) || !reflect.DeepEqual(at, wantAt) {
			t.Fatalf("%.300s\none pass:       %v %+v %+v %v\nevent by event: %v %+v %+v %v", body,
				err, items, events, at, wantErr, wantItems, wantEvents, wantAt)
		}
		if err == nil && len(events) == len(items) && len(events) > 1 {
			onePass++
		}
	}
	if onePass < 500 {
		t.Fatalf("only %d batches were all good: the test hardly compares the one pass", onePass)
	}
}

// BenchmarkBatchDecode decodes batches both ways: 500 good events, as
// scenario 3 sends them, and bodies the one pass gives up on, which are
// decoded again event by event (the last event bad, one event too many, a
// megabyte of empty objects): what such a body costs over the event by
// event pass alone is the one pass's risk.
func BenchmarkBatchDecode(b *testing.B) {
	good := batchElements[0]
	batch := func(events ...string) []byte { return []byte(`{"events":[` + strings.Join(events, ",") + `]}`) }
	bodies := []struct {
		name string
		body []byte
	}{
		{"500-good", batch(slices.Repeat([]string{good}, 500)...)},
		{"1000-last-bad", batch(append(slices.Repeat([]string{good}, 999), batchElements[7])...)},
		{"1001-good", batch(slices.Repeat([]string{good}, maxBatch+1)...)},
		{"1MiB-of-empty-objects", batch(slices.Repeat([]string{"{}"}, maxBody/3)...)},
	}
	c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/events/batch", nil), httptest.NewRecorder())
	for _, body := range bodies {
		for _, f := range []struct {
			name   string
			decode func(echo.Context, []byte) ([]batchItem, []loyalty.Event, []int, error)
		}{{"one-pass", batchEvents}, {"event-by-event", batchEventsEach}} {
			b.Run(body.name+"/"+f.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					f.decode(c, body.body)
				}
			})
		}
	}
}
