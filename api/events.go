package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/jsonw"
	"github.com/tally-ledger/tally/loyalty"
)

type eventRequest struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	CustomerID string    `json:"customer_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ShipmentID string    `json:"shipment_id"`
	Amount     *Amount   `json:"amount,omitempty"`
	Rating     *int      `json:"rating,omitempty"`
}

func (r eventRequest) event() loyalty.Event {
	ev := loyalty.Event{EventID: r.EventID, Type: r.Type, CustomerID: r.CustomerID, OccurredAt: r.OccurredAt,
		ShipmentID: r.ShipmentID, Rating: r.Rating}
	if r.Amount != nil {
		ev.Amount = &r.Amount.Decimal
	}
	return ev
}

func (s *Server) postEvent(c echo.Context) error {
	var req eventRequest
	preview, err := dryRun(c)
	if err != nil {
		return err
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	process, status := s.loyalty.ProcessBatch, http.StatusCreated
	if preview {
		process, status = s.loyalty.PreviewBatch, http.StatusOK
	}
	o := process(c.Request().Context(), keyOf(c), actor(c), []loyalty.Event{req.event()})[0]
	if o.Err != nil {
		return o.Err
	}
	if err := s.replay(c, o.Replayed); err != nil {
		return err
	}
	return replyResult(c, status, o)
}

// replyResult answers an event's result, as JSON already encoded when the
// writer kept it.
func replyResult(c echo.Context, status int, o loyalty.Outcome) error {
	if o.JSON == nil {
		return reply(c, status, o.Result)
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(append(o.JSON, '\n'))
	return err
}

// maxBatch is the most events one batch may hold.
const maxBatch = 1000

type batchItem struct {
	Index    int      `json:"index"`
	Status   int      `json:"status"`
	Replayed bool     `json:"replayed"`
	Result   any      `json:"result,omitempty"` // *loyalty.Result or its JSON
	Problem  *Problem `json:"problem,omitempty"`
}

// postEventBatch processes up to maxBatch events, each atomic on its own,
// and answers a result per event by index: a bad event is reported, its
// neighbours still commit.
func (s *Server) postEventBatch(c echo.Context) error {
	preview, err := dryRun(c)
	if err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	items, events, at, err := batchEvents(c, body)
	if err != nil {
		return err
	}
	process := s.loyalty.ProcessBatch
	if preview {
		process = s.loyalty.PreviewBatch
	}
	for j, o := range process(c.Request().Context(), keyOf(c), actor(c), events) {
		i := at[j]
		if o.Err != nil {
			p := problemFor(o.Err)
			if p.Status >= 500 {
				s.log.Error("batch event failed", "err", o.Err, "index", i)
			}
			items[i] = batchItem{Index: i, Status: p.Status, Problem: finish(c, p)}
			continue
		}
		var res any = json.RawMessage(o.JSON)
		if o.JSON == nil {
			r := o.Result
			res = &r
		}
		status := http.StatusCreated
		if preview {
			status = http.StatusOK
		}
		items[i] = batchItem{Index: i, Status: status, Replayed: o.Replayed, Result: res}
	}
	if !preview {
		for _, it := range items {
			if it.Replayed { // once for all: what the replays repeat is durable before any is answered
				if err := s.ledger.Durable(c.Request().Context()); err != nil {
					return err
				}
				break
			}
		}
	}
	answer, err := batchReply(items, preview)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(answer)
	return err
}

// batchEvents decodes a batch's body: an item for each event, the events
// that decoded and the index of each. A bad event is its item's problem; the
// others still go.
//
// A batch whose every event is good, as nearly all are, decodes in one pass
// (batchOnePass). Anything else decodes again event by event, each in a pass
// of its own, so that each bad event gets its own problem.
func batchEvents(c echo.Context, body []byte) ([]batchItem, []loyalty.Event, []int, error) {
	if whole, ok := batchOnePass(body); ok {
		events, at := make([]loyalty.Event, len(whole)), make([]int, len(whole))
		for i, ev := range whole {
			events[i], at[i] = ev.event(), i
		}
		return make([]batchItem, len(events)), events, at, nil
	}
	return batchEventsEach(c, body)
}

// batchOnePass decodes a body that is exactly {"events": [...]}, the key
// once, with 1 to maxBatch events and every one of them good, into the events
// themselves; ok is false for any other body. It holds the rules of the event
// by event pass (the decoder's options apply at every depth, and checkText
// bounds a field by its own name wherever it is), so it never takes what that
// pass refuses (TestBatchDecodesInOnePassAsEventByEvent). A key sent twice is
// left to that pass: encoding/json would decode the second array into the
// first one's events, merging them. The events are decoded one at a time, and
// it stops at the first bad one or at one too many: a body it gives up on
// costs little more than the event by event pass that decodes it again.
func batchOnePass(body []byte) ([]*eventRequest, bool) {
	if hasNUL(body) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	for _, want := range []json.Token{json.Delim('{'), "events", json.Delim('[')} {
		if tok, err := dec.Token(); err != nil || tok != want {
			return nil, false
		}
	}
	var events []*eventRequest
	for dec.More() {
		var ev *eventRequest
		if len(events) == maxBatch || dec.Decode(&ev) != nil || ev == nil || checkText(ev) != nil {
			return nil, false
		}
		events = append(events, ev)
	}
	for _, want := range []json.Token{json.Delim(']'), json.Delim('}')} {
		if tok, err := dec.Token(); err != nil || tok != want {
			return nil, false
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) || len(events) == 0 {
		return nil, false
	}
	return events, true
}

// batchEventsEach is batchEvents event by event.
func batchEventsEach(c echo.Context, body []byte) ([]batchItem, []loyalty.Event, []int, error) {
	var req struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := jsonError(decodeStrict(body, &req)); err != nil {
		return nil, nil, nil, err
	}
	if len(req.Events) == 0 || len(req.Events) > maxBatch {
		return nil, nil, nil, &fault.Error{Code: fault.Invalid, Message: "a batch holds 1 to 1000 events",
			Fields: map[string]string{"events": "1 to 1000 events"}}
	}
	items := make([]batchItem, len(req.Events))
	var events []loyalty.Event
	var at []int
	for i, raw := range req.Events {
		var ev eventRequest
		if err := decodeStrict(raw, &ev); err != nil {
			p := problemFor(jsonError(err))
			items[i] = batchItem{Index: i, Status: p.Status, Problem: finish(c, p)}
			continue
		}
		events = append(events, ev.event())
		at = append(at, i)
	}
	return items, events, at, nil
}

// batchReply is a batch's answer, the bytes encodeJSON writes for
// {"results": items} (and "preview": true), written by hand: a result
// already JSON (the one stored, compact) is copied, where encoding/json
// would check and compact it again, and a result's own JSON is appended
// without reflection (TestBatchReplyMatchesEncodingJSON).
func batchReply(items []batchItem, preview bool) ([]byte, error) {
	b := make([]byte, 0, 64+len(items)*640)
	b = append(b, '{')
	if preview {
		b = append(b, `"preview":true,`...)
	}
	b = append(b, `"results":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(it.Index), 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(it.Status), 10)
		b = append(b, `,"replayed":`...)
		b = strconv.AppendBool(b, it.Replayed)
		switch r := it.Result.(type) {
		case nil:
		case json.RawMessage:
			b = append(b, `,"result":`...)
			if bytes.ContainsAny(r, " \t\r\n") { // a result stored as jsonb's text (before migration 0008): compacted, as encoding/json did
				buf := bytes.NewBuffer(b)
				if err := json.Compact(buf, r); err != nil {
					return nil, fmt.Errorf("batch item %d: %w", it.Index, err)
				}
				b = buf.Bytes()
			} else {
				b = append(b, r...)
			}
		case *loyalty.Result:
			b = r.AppendJSON(append(b, `,"result":`...))
		default:
			return nil, fmt.Errorf("batch item %d: a result of type %T", it.Index, it.Result)
		}
		if it.Problem != nil {
			var err error
			if b, err = jsonw.Value(append(b, `,"problem":`...), it.Problem); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...), nil
}
