package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// The envelope of a notification read back from the table is exactly the
// contract's: its five fields, occurred_at in UTC, customer_id null for a
// notice about no one, the payload as data (as Go encodes it, HTML left
// unescaped); and the same bytes every time.
func TestEnvelopeIsTheContractsFiveFields(t *testing.T) {
	ctx := context.Background()
	l := ledger.New(testdb.Pool(t))
	at := time.Date(2026, 11, 30, 13, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := notify.Emit(ctx, tx,
			notify.Event{Type: notify.PointsEarned, Customer: "C1", OccurredAt: at,
				Payload: map[string]any{"points": "148", "channel": "volume", "note": "<&>"}},
			notify.Event{Type: notify.ReconciliationFailed, OccurredAt: at, Payload: map[string]any{"checks": []string{}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	list, _, err := notify.Feed(ctx, l, notify.Cursor{}, 10, notify.Filter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("feed: %d notifications, %v", len(list), err)
	}
	want := []string{
		`{"id":"ntf_` + itoa(list[0].Seq) + `","type":"points.earned","occurred_at":"2026-11-30T05:00:00Z","customer_id":"C1","data":{"channel":"volume","note":"<&>","points":"148"}}`,
		`{"id":"ntf_` + itoa(list[1].Seq) + `","type":"reconciliation.failed","occurred_at":"2026-11-30T05:00:00Z","customer_id":null,"data":{"checks":[]}}`,
	}
	for i, n := range list {
		got, err := notify.Envelope(n)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[i] {
			t.Errorf("envelope %d:\n got %s\nwant %s", i, got, want[i])
		}
		// As the API encodes answers (HTML left unescaped): the same bytes.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(n); err != nil || strings.TrimSuffix(buf.String(), "\n") != string(got) {
			t.Errorf("the notification encoded %s (%v), want its envelope %s", buf.String(), err, got)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
