package notify

import (
	"bytes"
	"encoding/json"
	"time"
)

// envelope is a notification as partners receive it: the body of a webhook
// request and an item of the pull feed, byte for byte the same.
type envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	CustomerID *string         `json:"customer_id"` // null for notices about no one customer
	Data       json.RawMessage `json:"data"`
}

// Envelope is the notification as partners receive it, in webhook bodies
// and in the pull feed:
//
//	{"id": "ntf_42", "type": "points.earned", "occurred_at": "2026-11-30T05:00:00Z",
//	 "customer_id": "C1", "data": {...the type's payload...}}
//
// occurred_at is in UTC; customer_id is null when the notification is about
// no one customer. The same notification always renders to the same bytes.
func Envelope(n Notification) ([]byte, error) {
	e := envelope{ID: n.ID(), Type: n.Type, OccurredAt: n.OccurredAt.UTC(), Data: n.Payload}
	if n.Customer != "" {
		e.CustomerID = &n.Customer
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalJSON renders the notification as its Envelope.
func (n Notification) MarshalJSON() ([]byte, error) { return Envelope(n) }
