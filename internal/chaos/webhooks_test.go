package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookReceiver is a webhook endpoint subscribed to every notification for
// the run: it verifies each request's signature with the Standard
// Webhooks library and counts each webhook-id it accepts; it answers
// every 50th request 500, so some deliveries are retried (and their
// customers' later notifications wait for them).
type hookReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	requests int
	accepted map[string]int // webhook-id -> times accepted
	bad      []string       // what was wrong with a request
	before   map[string]bool
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{accepted: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// env is what the server needs to deliver to the receiver.
func (r *hookReceiver) env() []string {
	return []string{"TALLY_WEBHOOK_HOSTS=127.0.0.1", "TALLY_WEBHOOK_ALLOW_LOOPBACK=1"}
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	id := req.Header.Get("webhook-id")
	var env struct {
		ID string `json:"id"`
	}
	switch {
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
		return
	case r.wh == nil || r.wh.VerifyIgnoringTimestamp(body, req.Header) != nil:
		r.bad = append(r.bad, fmt.Sprintf("%s: the signature does not verify", id))
	case json.Unmarshal(body, &env) != nil || env.ID != id:
		r.bad = append(r.bad, fmt.Sprintf("%s: body %.100s is not its envelope", id, body))
	}
	if r.requests%50 == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.accepted[id]++
}

// subscribe creates the endpoint, for every type, and notes the
// notifications written before it (which it may or may not hear).
func (r *hookReceiver) subscribe(t *testing.T, c *client, pool *pgxpool.Pool) {
	t.Helper()
	types := []string{"customer.tier_changed", "points.expiring", "points.expired", "points.earned", "referral.bonus_available",
		"redemption.created", "redemption.cancelled", "deposit.received", "withdrawal.completed", "prepaid.low_balance",
		"reconciliation.failed"}
	body, _ := json.Marshal(map[string]any{"url": r.srv.URL + "/hook", "types": types})
	reply, err := c.send("POST", "/v1/webhooks", body)
	var created struct {
		Secret string `json:"secret"`
	}
	if err != nil || reply.status != http.StatusCreated || json.Unmarshal(reply.body, &created) != nil {
		t.Fatalf("subscribe: %v %d %s", err, reply.status, oneLine(reply.body))
	}
	wh, err := standardwebhooks.NewWebhook(created.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := notificationIDs(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.wh, r.before = wh, map[string]bool{}
	for _, id := range ids {
		r.before[id] = true
	}
	r.mu.Unlock()
}

func notificationIDs(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT 'ntf_' || id FROM notifications ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// check waits until the receiver has accepted every notification the
// database holds (written after the endpoint was), through the kills and
// the crash: for as long as deliveries go on arriving (a minute without
// one ends the wait; a delivery in flight at a kill waits for its lease to
// lapse, and a refused one's customer waits for its backoff), ten minutes
// at most, and then that it accepted none the database
// does not hold (nothing uncommitted was announced) and that every request
// was signed and whole. It returns how many notifications it checked.
func (r *hookReceiver) check(ctx context.Context, pool *pgxpool.Pool, fail func(string, ...any)) int {
	var ids []string
	var missing []string
	last, limit := -1, time.Now().Add(10*time.Minute)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		var err error
		if ids, err = notificationIDs(ctx, pool); err != nil {
			fail("notifications: %v", err)
			return 0
		}
		r.mu.Lock()
		missing = missing[:0]
		for _, id := range ids {
			if r.accepted[id] == 0 && !r.before[id] {
				missing = append(missing, id)
			}
		}
		r.mu.Unlock()
		if len(missing) != last { // progress: wait a minute more
			last, deadline = len(missing), time.Now().Add(time.Minute)
			if deadline.After(limit) {
				deadline = limit
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		fail("webhooks: %d of %d notifications never delivered, such as %s", len(missing), len(ids),
			strings.Join(missing[:min(len(missing), 5)], ", "))
		for _, id := range missing[:min(len(missing), 5)] {
			var state string
			err := pool.QueryRow(ctx, `SELECT format('xid %s customer %s cursor %s now %s: ', n.xid, n.customer_id,
        (SELECT cursor FROM webhook_feed), now()) ||
    coalesce((SELECT string_agg(format('%s attempts %s next %s lease %s', d.status, d.attempts, d.next_attempt_at, d.lease_until), '; ')
              FROM webhook_deliveries d WHERE d.notification_id = n.id), 'no delivery') ||
    coalesce((SELECT '; attempts without a delivery: ' || string_agg(format('%s %s', a.status_code, a.error), ', ')
              FROM webhook_attempts a WHERE a.notification_id = n.id AND a.delivery_id IS NULL), '')
FROM notifications n WHERE 'ntf_' || n.id = $1`, id).Scan(&state)
			fail("webhooks: %s: %s %v", id, state, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	held := map[string]bool{}
	for _, id := range ids {
		held[id] = true
	}
	for id := range r.accepted {
		if !held[id] {
			fail("webhooks: %s delivered, but the database holds no such notification", id)
		}
	}
	for _, b := range r.bad[:min(len(r.bad), 5)] {
		fail("webhooks: %s", b)
	}
	return len(ids)
}

// sent is how many requests the receiver has had.
func (r *hookReceiver) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}
