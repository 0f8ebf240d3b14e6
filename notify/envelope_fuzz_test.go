package notify_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify"
)

// reflected is the envelope as encoding/json writes it (HTML left
// unescaped), the rendering Envelope writes by hand and must equal.
func reflected(n notify.Notification) ([]byte, error) {
	e := struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		OccurredAt time.Time       `json:"occurred_at"`
		CustomerID *string         `json:"customer_id"`
		Data       json.RawMessage `json:"data"`
	}{ID: n.ID(), Type: n.Type, OccurredAt: n.OccurredAt.UTC(), Data: n.Payload}
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

// FuzzEnvelope holds the hand-written envelope byte for byte equal to
// encoding/json's, for any type, customer, instant and payload: escapes
// (quotes, backslashes, control characters, U+2028, invalid UTF-8), the
// instant's fraction and zone, a payload with spaces or invalid JSON
// (refused by both).
func FuzzEnvelope(f *testing.F) {
	f.Add(int64(42), "points.earned", "C1", int64(1796014800), int64(0), 8*3600, `{"points": "148", "note": "<&>"}`)
	f.Add(int64(1), "a\"b\\c\n\r\t\b\f\x00\x1f", "客户\u2028\u2029", int64(0), int64(123456789), -5*3600, "")
	f.Add(int64(-7), "bad\xff\xfeutf8\xc3", "", int64(-62135596800), int64(1), 0, ` { "a" : [ 1 , 2.50 , "x y" , null , true ] } `)
	f.Add(int64(9), "t", "c", int64(253402300799), int64(999999999), 14*3600, `{"a":`)
	f.Add(int64(9), "t", "c", int64(253402300800), int64(0), 0, `{}`)
	f.Add(int64(3), "\u007f\u0080\u00ff", "é", int64(1), int64(100), 0, `{"s":"\u2028<>&\"\\"}`)
	f.Fuzz(func(t *testing.T, seq int64, typ, customer string, sec, nsec int64, offset int, payload string) {
		if offset < -18*3600 || offset > 18*3600 {
			offset = 0
		}
		n := notify.Notification{Seq: seq, Type: typ, Customer: customer,
			OccurredAt: time.Unix(sec, nsec).In(time.FixedZone("Z", offset)), Payload: json.RawMessage(payload)}
		got, err := notify.Envelope(n)
		want, wantErr := reflected(n)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Envelope error %v, encoding/json's %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("Envelope\n got %q\nwant %q", got, want)
		}
		if err == nil && !strings.HasPrefix(string(got), `{"id":"ntf_`) {
			t.Fatalf("Envelope %q does not begin with its id", got)
		}
	})
}
