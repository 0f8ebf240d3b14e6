package api

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestMetricsCountAGroupWrittenAgainEventByEvent makes a group's grouped
// write fail for real: a twin of its shipment is inserted, uncommitted,
// before the event arrives, so the group reads no such shipment, then waits
// on the twin's insert and fails on it once it commits. The group is then
// written again event by event, which refuses the event as a duplicate, and
// /metrics counts the fallback.
func TestMetricsCountAGroupWrittenAgainEventByEvent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	wantMetric(t, h, "tally_event_group_fallbacks_total 0")

	twin, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Rollback(ctx)
	if err := servicetest.HandShipment(ctx, twin, "S-TWIN", "C1", 0); err != nil {
		t.Fatal(err)
	}
	committed := make(chan error, 1)
	go func() {
		// The signal: a backend of this database waits on a lock, which
		// only the group's insert of the twin's shipment can.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
			if err != nil || waiting > 0 {
				if err == nil {
					err = twin.Commit(ctx)
				}
				committed <- err
				return
			}
			if time.Now().After(deadline) {
				committed <- fmt.Errorf("no group waited on the twin's shipment in 30 s")
				twin.Rollback(ctx)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r := h.do(call{method: "POST", path: "/v1/events", key: "partner", body: map[string]any{"event_id": "e1",
		"type": "shipment.completed", "customer_id": "C1", "shipment_id": "S-TWIN", "amount": "100",
		"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}})
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	wantProblem(t, r, 409, fault.DuplicateShipment)
	wantMetric(t, h, "tally_event_group_fallbacks_total 1")
}

func wantMetric(t *testing.T, h *harness, line string) {
	t.Helper()
	// What /metrics reads from the database may be a reading old.
	for deadline := time.Now().Add(readEvery + 2*time.Second); ; time.Sleep(50 * time.Millisecond) {
		m := h.expect(200, call{method: "GET", path: "/metrics"})
		if slices.Contains(strings.Split(string(m.body), "\n"), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("/metrics lacks the line %q", line)
			return
		}
	}
}

// counting is a collector that counts its collections, each a gauge of
// their number, and takes a while.
type counting struct {
	n    atomic.Int64
	desc *prometheus.Desc
}

func (c *counting) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *counting) Collect(ch chan<- prometheus.Metric) {
	time.Sleep(20 * time.Millisecond)
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.n.Add(1)))
}

// What /metrics reads from the database is read at most once a readEvery:
// 200 scrapes, 20 at a time, as fast as they go, make one reading and all
// answer it; a scrape after the interval makes the next.
func TestRecentReadsAtMostOnceAnInterval(t *testing.T) {
	// Two collectors: one that sends a value, and a GaugeFunc, which sends
	// itself and reads its value only when written.
	gauge := func(every time.Duration) (*counting, *atomic.Int64, func() float64) {
		c := &counting{desc: prometheus.NewDesc("readings", "", nil, nil)}
		var calls atomic.Int64
		fn := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "calls"}, func() float64 { return float64(calls.Add(1)) })
		reg := prometheus.NewRegistry()
		reg.MustRegister(&recent{cs: []prometheus.Collector{c, fn}, every: every})
		return c, &calls, func() float64 {
			families, err := reg.Gather()
			if err != nil || len(families) != 2 {
				t.Errorf("gather: %v, %d families", err, len(families))
				return -1
			}
			v := families[0].GetMetric()[0].GetGauge().GetValue() // calls
			if w := families[1].GetMetric()[0].GetGauge().GetValue(); w != v {
				t.Errorf("readings %v, but the GaugeFunc was called %v times", w, v)
			}
			return v
		}
	}
	c, calls, value := gauge(time.Hour)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 10 {
				if v := value(); v != 1 {
					t.Errorf("a scrape answered reading %v, want 1", v)
				}
			}
		})
	}
	wg.Wait()
	if got, fn := c.n.Load(), calls.Load(); got != 1 || fn != 1 {
		t.Errorf("%d readings and %d GaugeFunc calls for 200 scrapes within the interval, want 1 each", got, fn)
	}

	_, _, value = gauge(50 * time.Millisecond)
	if v := value(); v != 1 {
		t.Errorf("the first scrape answered reading %v, want 1", v)
	}
	time.Sleep(60 * time.Millisecond)
	if v := value(); v != 2 {
		t.Errorf("a scrape after the interval answered reading %v, want 2", v)
	}
}

// TestClientStringsDoNotBecomeLabels sends requests with methods a client
// made up (60 kB long, and random short ones) and with request ids too long
// or unsafe to keep: /metrics stays small, its method labels are the known
// methods and OTHER, and every such request id is replaced by one the
// server made.
func TestClientStringsDoNotBecomeLabels(t *testing.T) {
	h := newHarness(t)
	before := len(h.expect(200, call{method: "GET", path: "/metrics"}).body)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		method := strings.Repeat(string(rune('A'+i)), 60<<10)
		if i%2 == 1 {
			b := make([]byte, 1+rnd.IntN(12))
			for j := range b {
				b[j] = byte('A' + rnd.IntN(26))
			}
			method = string(b)
		}
		for _, path := range []string{"/v1/accounts", "/healthz", "/no/such/" + strconv.Itoa(i)} {
			req, err := http.NewRequest(method, h.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	m := h.expect(200, call{method: "GET", path: "/metrics"})
	// Each (method, route, status) adds a counter and a histogram of 15
	// lines; a few new series fit, a series per made-up method does not.
	if grew := len(m.body) - before; grew > 16<<10 {
		t.Errorf("/metrics grew by %d bytes over 60 requests with made-up methods, want at most 16 kB", grew)
	}
	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
		"OPTIONS": true, "CONNECT": true, "TRACE": true, "OTHER": true}
	for _, l := range strings.Split(string(m.body), "\n") {
		if _, rest, ok := strings.Cut(l, `method="`); ok && strings.HasPrefix(l, "tally_http_") {
			method, _, _ := strings.Cut(rest, `"`)
			if !known[method] {
				t.Errorf("/metrics has the method label %.40q", method)
				break
			}
		}
	}

	for _, id := range []string{strings.Repeat("a", 65), "abc def", "<script>", "ünïcode", "a/b"} {
		r := h.do(call{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": id}})
		got := r.header.Get("X-Request-ID")
		if got == id || got == "" {
			t.Errorf("request id %.70q answered with %q, want a new one", id, got)
		}
	}
	for _, id := range []string{strings.Repeat("a", 64), "req-1.2_3", "A"} {
		r := h.do(call{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": id}})
		if got := r.header.Get("X-Request-ID"); got != id {
			t.Errorf("request id %q answered with %q, want it kept", id, got)
		}
	}
}

// TestMetricsShowASealerHeldBackByATransactionInFlight: entries committed
// after a transaction still in flight cannot be sealed, and the sealer
// waits without failing; /metrics counts them until it has ended.
func TestMetricsShowASealerHeldBackByATransactionInFlight(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	sealCommitted(t, h)
	long, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Rollback(ctx)
	if _, err := long.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // a transaction id, as a writer has
		t.Fatal(err)
	}
	for i := range 3 {
		h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: map[string]any{"event_id": fmt.Sprint("e", i),
			"type": "shipment.completed", "customer_id": "C1", "shipment_id": fmt.Sprint("S", i), "amount": "100",
			"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}})
	}
	if _, err := h.ledger.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	wantMetric(t, h, "tally_chain_unsealed_entries 3")
	if err := long.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	sealCommitted(t, h)
	wantMetric(t, h, "tally_chain_unsealed_entries 0")
}

// sealCommitted seals until no committed entry is left unsealed: another
// transaction in flight (autovacuum's analyze, say) only delays it.
func sealCommitted(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.ledger.SealAll(ctx); err != nil {
			t.Fatal(err)
		}
		head, err := h.ledger.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head == nil || head.Unsealed == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d committed entries still unsealed after 30s", head.Unsealed)
		}
		time.Sleep(10 * time.Millisecond) // no signal tells when another transaction ends
	}
}

// TestMetricsCountEventGroups follows events into their groups: an event
// alone is a group of one, a batch over ten customers is a group for each
// event writer it reaches, and events posted at once from many clients are
// each counted once, in at most as many groups as there are events.
func TestMetricsCountEventGroups(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": fmt.Sprintf("G%d", i), "name": "G"}})
	}
	at := time.Now().Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e0", "G0", "S0", "10", at)})
	groups, events := metricValue(t, h, "tally_event_groups_total"), metricValue(t, h, "tally_event_group_events_total")
	if groups != 1 || events != 1 {
		t.Fatalf("one event alone: %v groups of %v events, want 1 of 1", groups, events)
	}

	var batch []any
	for i := range 10 {
		batch = append(batch, shipment(fmt.Sprintf("b%d", i), fmt.Sprintf("G%d", i), fmt.Sprintf("SB%d", i), "10", at))
	}
	h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": batch}})
	groups, events = metricValue(t, h, "tally_event_groups_total")-groups, metricValue(t, h, "tally_event_group_events_total")-events
	// Ten customers over the two writers: one group each, or one in all
	// should every customer land on the same writer.
	if events != 10 || groups < 1 || groups > 2 {
		t.Fatalf("a batch of 10: %v groups of %v events, want 1 or 2 of 10", groups, events)
	}

	groups, events = metricValue(t, h, "tally_event_groups_total"), metricValue(t, h, "tally_event_group_events_total")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			r := h.do(call{method: "POST", path: "/v1/events", key: "partner",
				body: shipment(fmt.Sprintf("c%d", i), fmt.Sprintf("G%d", i%10), fmt.Sprintf("SC%d", i), "10", at)})
			if r.status != 201 {
				t.Errorf("event c%d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	groups, events = metricValue(t, h, "tally_event_groups_total")-groups, metricValue(t, h, "tally_event_group_events_total")-events
	if events != 40 || groups < 1 || groups > 40 {
		t.Fatalf("40 events at once: %v groups of %v events, want 40 events in 1 to 40 groups", groups, events)
	}
	t.Logf("40 events at once: %v groups", groups)
}

// metricValue is the value of the unlabelled metric name on /metrics.
func metricValue(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	m := h.expect(200, call{method: "GET", path: "/metrics"})
	for _, l := range strings.Split(string(m.body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", l, err)
			}
			return x
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}
