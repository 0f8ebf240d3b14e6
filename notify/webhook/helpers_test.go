package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// clock is a test's time: it moves only when the test says.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a ledger on a fresh database with a frozen clock, and the
// config its services send with: loopback allowed (the receivers are
// httptest servers), backoff of attempt × 1 minute, circuits opening at 3
// failures in a row, a 10-minute cool-down, no bound per endpoint.
type fixture struct {
	t     testing.TB
	l     *ledger.Ledger
	pool  *pgxpool.Pool
	clock *clock
	cfg   webhook.Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithClock(c.now))
	return &fixture{t: t, l: l, pool: pool, clock: c, cfg: webhook.Config{
		Hosts: []string{"127.0.0.1"}, AllowLoopback: true, Now: c.now, Timeout: 500 * time.Millisecond,
		Backoff:    func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute },
		BreakAfter: 3, CoolDown: 10 * time.Minute,
		PerEndpoint: 100, // a step sends every due delivery (the bound has a test of its own)
	}}
}

func (f *fixture) service() *webhook.Service { return webhook.New(f.l, f.cfg) }

// emit writes the events in one transaction, as their cause would.
func (f *fixture) emit(events ...notify.Event) {
	f.t.Helper()
	if err := f.l.InTx(context.Background(), func(tx *ledger.Tx) error {
		_, err := notify.Emit(context.Background(), tx, events...)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
}

// earned is a points.earned notification for the customer.
func earned(customer, points string) notify.Event {
	return notify.Event{Type: notify.PointsEarned, Customer: customer, Payload: map[string]any{"points": points}}
}

// feed is every notification, in commit order.
func (f *fixture) feed() []notify.Notification {
	f.t.Helper()
	list, _, err := notify.Feed(context.Background(), f.l, notify.Cursor{}, 10000, notify.Filter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// step runs one dispatcher step and fails the test on an error.
func step(t testing.TB, s *webhook.Service) int {
	t.Helper()
	n, err := s.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	status int // what the receiver answered; 0 when it held the request past the client's timeout
}

// receiver is an httptest endpoint whose answer the test sets: ok (200),
// fail (500), hang (holds the request until the client gives up), or held
// (holds it until the test releases it, telling the test it arrived).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	mode    string
	got     []received
	oks     []string      // the webhook-id of each request answered ok, as soon as its mode was read
	arrived chan struct{} // held: a request arrived
	release chan int      // held: the status to answer
	done    chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{mode: "ok", arrived: make(chan struct{}, 100), release: make(chan int), done: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() { close(r.done); r.srv.Close() })
	return r
}

func (r *receiver) set(mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = mode
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	mode := r.mode
	if mode == "ok" {
		r.oks = append(r.oks, req.Header.Get("Webhook-Id"))
	}
	r.mu.Unlock()
	status := 0
	switch mode {
	case "ok":
		status = http.StatusOK
	case "fail":
		status = http.StatusInternalServerError
	case "hang":
		select {
		case <-req.Context().Done():
		case <-r.done:
		}
	case "held":
		r.arrived <- struct{}{}
		select {
		case status = <-r.release:
		case <-r.done:
		}
	}
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body, status: status})
	r.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"seen":true}`)
	}
}

// accepted is the webhook-id of every request the receiver decided to
// answer ok, even those not answered yet: after set, no other will be.
func (r *receiver) accepted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.oks...)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// subscribe creates an admin endpoint at the receiver for the types (all
// when none).
func (f *fixture) subscribe(s *webhook.Service, r *receiver, owner webhook.Owner, types ...string) webhook.WithSecret {
	f.t.Helper()
	if len(types) == 0 {
		types = notify.Types
		if owner.Partner != 0 { // every type a partner's endpoint may take
			types = slices.DeleteFunc(slices.Clone(types), notify.PlatformOnly)
		}
	}
	e, _, err := s.Create(context.Background(), owner, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: types})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// explainOrder logs, for a test that saw a customer's notifications reach
// an endpoint (by its URL's path) out of order, each of the customer's
// notifications in feed order with its delivery to that endpoint: what
// a failure needs to tell a wrong feed order from a wrong dispatch.
func (f *fixture) explainOrder(path, customer string) {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT n.id, n.xid::text, coalesce(d.status, '-'), coalesce(d.attempts, 0),
       coalesce(to_char(d.created_at, 'HH24:MI:SS.MS'), '-'), coalesce(to_char(d.delivered_at, 'HH24:MI:SS.MS'), '-')
FROM notifications n
LEFT JOIN `+deliveries+` ON d.notification_id = n.id
    AND d.endpoint_id = (SELECT id FROM webhook_endpoints WHERE url LIKE '%' || $2)
WHERE n.customer_id = $1 ORDER BY n.xid, n.id`, customer, path)
	if err != nil {
		f.t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var xid, status, created, delivered string
		var attempts int
		if err := rows.Scan(&id, &xid, &status, &attempts, &created, &delivered); err != nil {
			f.t.Log(err)
			return
		}
		f.t.Logf("  ntf_%d xid %s: %s after %d attempts, created %s, delivered %s", id, xid, status, attempts, created, delivered)
	}
}

// deliveries is every (endpoint, notification) the dispatcher took on, as
// a delivery: its delivery row or, for a notification accepted at its
// page's first send, its accepted attempt (delivered at its first
// attempt). An attempt without a delivery that was not accepted is none:
// a dispatcher that lost a failed send would leave its notification
// undelivered here.
const deliveries = `(SELECT endpoint_id, notification_id, customer_id, status, attempts, lease, created_at, next_attempt_at, delivered_at
FROM webhook_deliveries
UNION ALL
SELECT DISTINCT ON (a.endpoint_id, a.notification_id) a.endpoint_id, a.notification_id, n.customer_id,
    'delivered', 1, NULL, a.at, a.at, a.at
FROM webhook_attempts a JOIN notifications n ON n.id = a.notification_id
WHERE a.delivery_id IS NULL AND a.status_code BETWEEN 200 AND 299 AND NOT EXISTS (SELECT FROM webhook_deliveries d
    WHERE d.endpoint_id = a.endpoint_id AND d.notification_id = a.notification_id)) AS d`

// count counts the deliveries that match where (with args).
func (f *fixture) count(where string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+deliveries+" WHERE "+where, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// emitQueues emits each points.earned notification for each of customers
// C0, C1, ..., round after round: a customer's i-th carries points i+1, so
// that the order it arrived in can be read back.
func (f *fixture) emitQueues(customers, each int) {
	f.t.Helper()
	for i := range each {
		for c := range customers {
			f.emit(earned(fmt.Sprint("C", c), fmt.Sprint(i+1)))
		}
	}
}

// run runs s.Run until stop is called, which waits for it to return; an
// error it reports fails the test.
func run(t *testing.T, s *webhook.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	return func() { cancel(); <-ran }
}

// waitDelivered polls the database until n deliveries are delivered, and
// fails the test when that takes longer than within.
func (f *fixture) waitDelivered(n int, within time.Duration) {
	f.t.Helper()
	for deadline := time.Now().Add(within); f.count("status = 'delivered'") < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d delivered in %v", f.count("status = 'delivered'"), n, within)
		}
	}
}
