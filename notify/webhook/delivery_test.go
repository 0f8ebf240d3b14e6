package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// verify checks a request's signature with the independent Standard
// Webhooks library and the secret, ignoring the timestamp's age (the
// tests' clock is frozen).
func verify(t *testing.T, secret string, r received) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.VerifyIgnoringTimestamp(r.body, r.header)
}

// wantEnvelope checks that a body is the notification's envelope, field by
// field from what was emitted.
func wantEnvelope(t *testing.T, body []byte, n notify.Notification) {
	t.Helper()
	var got struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		OccurredAt time.Time       `json:"occurred_at"`
		CustomerID *string         `json:"customer_id"`
		Data       json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	var data, want map[string]any
	_ = json.Unmarshal(got.Data, &data)
	_ = json.Unmarshal(n.Payload, &want)
	if got.ID != "ntf_"+fmt.Sprint(n.Seq) || got.Type != n.Type || !got.OccurredAt.Equal(n.OccurredAt) ||
		got.CustomerID == nil || *got.CustomerID != n.Customer || fmt.Sprint(data) != fmt.Sprint(want) {
		t.Errorf("body %s is not the envelope of %+v", body, n)
	}
}

// TestEveryNotificationIsDeliveredOnceAcceptedInOrderPerCustomer: a
// receiver that fails, times out, fails again and comes back gets every
// notification accepted exactly once (no redelivery was asked for), every
// retry under the notification's one webhook-id with the same body, each
// signature verifying with the endpoint's secret, and never a customer's
// notification before the earlier ones of that customer were accepted;
// the delivery log holds every attempt, its status or error and excerpt.
func TestEveryNotificationIsDeliveredOnceAcceptedInOrderPerCustomer(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	customers := []string{"C1", "C2", "C3", "C4"}
	emitRound := func(round int) {
		for _, c := range customers[:2] {
			f.emit(earned(c, fmt.Sprint(round*10+1)), earned(customers[2+round%2], fmt.Sprint(round*10+2)), earned(c, fmt.Sprint(round*10+3)))
		}
	}
	emitRound(0)
	emitRound(1)
	modes := []string{"fail", "hang", "fail", "ok", "fail", "hang", "ok", "fail"}
	for round := 0; ; round++ {
		if round == 3 {
			emitRound(2) // while some are retried
		}
		if round > 60 {
			t.Fatalf("still %d deliveries pending after 60 rounds", f.count("status = 'pending'"))
		}
		mode := "ok"
		if round < len(modes) {
			mode = modes[round]
		}
		r.set(mode)
		step(t, s)
		f.clock.add(11 * time.Minute) // past every backoff and cool-down of the fixture
		if round >= len(modes) && f.count("status <> 'delivered'") == 0 {
			break
		}
	}
	r.srv.Close() // every handler has returned
	feed := f.feed()
	if len(feed) != 18 {
		t.Fatalf("%d notifications in the feed, want 18", len(feed))
	}
	byID := map[string]notify.Notification{}
	rank := map[string]int{} // feed position among the customer's notifications
	perCustomer := map[string]int{}
	for _, n := range feed {
		byID[n.ID()] = n
		rank[n.ID()] = perCustomer[n.Customer]
		perCustomer[n.Customer]++
	}
	accepted := map[string]int{}
	acceptedUpTo := map[string]int{} // customer -> how many of its notifications were accepted, in order
	bodies := map[string][]byte{}
	reqs := r.requests()
	statuses := map[int]int{}
	for _, q := range reqs {
		id := q.header.Get("webhook-id")
		n, ok := byID[id]
		if !ok {
			t.Fatalf("a request with webhook-id %q, no notification of the feed", id)
		}
		if err := verify(t, ep.Secret, q); err != nil {
			t.Errorf("%s: signature %q does not verify: %v", id, q.header.Get("webhook-signature"), err)
		}
		if b, seen := bodies[id]; seen && !bytes.Equal(b, q.body) {
			t.Errorf("%s sent again with another body:\n%s\n%s", id, b, q.body)
		}
		bodies[id] = q.body
		wantEnvelope(t, q.body, n)
		if rank[id] > acceptedUpTo[n.Customer] {
			t.Errorf("%s (customer %s, #%d) sent while #%d was not accepted", id, n.Customer, rank[id], acceptedUpTo[n.Customer])
		}
		statuses[q.status]++
		if q.status == http.StatusOK {
			accepted[id]++
			if rank[id] == acceptedUpTo[n.Customer] {
				acceptedUpTo[n.Customer]++
			}
		}
	}
	for _, n := range feed {
		if accepted[n.ID()] != 1 {
			t.Errorf("%s accepted %d times, want once", n.ID(), accepted[n.ID()])
		}
	}
	if statuses[0] == 0 || statuses[500] == 0 {
		t.Fatalf("the receiver never timed out or never failed: %v", statuses)
	}
	// The log: one attempt per request, newest first, paged.
	var log []webhook.Attempt
	before := int64(0)
	for {
		page, err := s.Attempts(context.Background(), webhook.Owner{}, ep.ID, before, 7)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, page...)
		if len(page) < 7 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(log) != len(reqs) {
		t.Fatalf("the log holds %d attempts, the receiver got %d requests", len(log), len(reqs))
	}
	logged := map[string]int{}
	for i, a := range log {
		if i > 0 && a.ID >= log[i-1].ID {
			t.Fatalf("log not newest first at %d", i)
		}
		switch {
		case a.StatusCode != nil && *a.StatusCode == 200 && a.Error == nil && a.Response == `{"seen":true}`:
			logged["ok"]++
		case a.StatusCode != nil && *a.StatusCode == 500 && a.Error != nil && a.Response == `{"seen":true}`:
			logged["500"]++
		case a.StatusCode == nil && a.Error != nil && strings.HasPrefix(*a.Error, "timeout: no answer within 500ms"):
			logged["timeout"]++
		default:
			t.Errorf("log entry %+v is none of ok, 500, timeout", a)
		}
		if a.DeliveryStatus != "delivered" || a.NextAttemptAt != nil {
			t.Errorf("log entry %+v: delivery %s, want delivered", a, a.DeliveryStatus)
		}
	}
	if logged["ok"] != 18 || logged["500"] != statuses[500] || logged["timeout"] != statuses[0] {
		t.Errorf("log %v, receiver answered %v", logged, statuses)
	}
}

// TestOpenCircuitSendsOneProbeAtATime: after BreakAfter failures in a row
// an endpoint is paused: nothing is sent before the cool-down, then one
// probe at a time, even with two dispatchers stepping while the probe is
// in flight; a failed probe waits another cool-down, a successful one
// closes the circuit and the rest follow.
func TestOpenCircuitSendsOneProbeAtATime(t *testing.T) {
	f := newFixture(t)
	f.cfg.QueueFirst = true          // the breaker opens at exactly 3 sends, one a step
	a, b := f.service(), f.service() // two serve processes
	r := newReceiver(t)
	ep := f.subscribe(a, r, webhook.Owner{})
	for i := range 6 {
		f.emit(earned(fmt.Sprint("C", i), "1")) // six customers: order holds none back
	}
	r.set("fail")
	f.cfg.Batch = 1
	one := webhook.New(f.l, f.cfg) // one at a time, so the breaker opens at exactly 3
	for i := 1; i <= 3; i++ {
		if n := step(t, one); n != 1 {
			t.Fatalf("step %d sent %d, want 1", i, n)
		}
		f.clock.add(5 * time.Minute) // past the backoff of every attempt so far
	}
	got, err := a.Get(context.Background(), webhook.Owner{}, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Circuit != "open" || got.Failures != 3 || got.NextProbeAt == nil {
		t.Fatalf("after 3 failures: %+v, want open", got)
	}
	// The queue's gauges: six pending since the start (15 minutes ago), one
	// open circuit; three failed attempts.
	if got := gauges(t, a); got["tally_webhook_queue_depth"] != 6 || got["tally_webhook_open_circuits"] != 1 ||
		got["tally_webhook_oldest_pending_age_seconds"] != 15*60 {
		t.Errorf("gauges %v, want 6 pending, 1 open, 900 s old", got)
	}
	if got := gauges(t, one); got[`tally_webhook_attempts_total{outcome="http_error"}`] != 3 {
		t.Errorf("attempts %v, want 3 http errors", got)
	}
	// 15 minutes after it opened (at the third failure, 5 minutes ago).
	if n := step(t, a) + step(t, b); n != 0 {
		t.Fatalf("an open circuit sent %d before its cool-down", n)
	}
	f.clock.add(6 * time.Minute)
	r.set("held")
	sent := make(chan int)
	go func() { n, _ := a.Step(context.Background()); sent <- n }()
	<-r.arrived // the probe is in flight
	if n := step(t, b); n != 0 {
		t.Fatalf("a second dispatcher sent %d while the probe was in flight", n)
	}
	r.release <- http.StatusServiceUnavailable
	if n := <-sent; n != 1 {
		t.Fatalf("the probe step sent %d, want 1", n)
	}
	if n := step(t, a); n != 0 {
		t.Fatalf("%d sent right after a failed probe", n)
	}
	f.clock.add(11 * time.Minute)
	r.set("ok")
	if n := step(t, b); n != 1 {
		t.Fatalf("after the cool-down, %d sent, want the one probe", n)
	}
	if got, _ := a.Get(context.Background(), webhook.Owner{}, ep.ID); got.Circuit != "closed" || got.Failures != 0 {
		t.Fatalf("after a good probe: %+v, want closed", got)
	}
	f.clock.add(11 * time.Minute)
	if n := step(t, a); n != 5 {
		t.Fatalf("closed again: %d sent, want the 5 left", n)
	}
	reqs := r.requests()
	if len(reqs) != 3+1+1+5 {
		t.Fatalf("%d requests, want 3 failures, 2 probes and 5", len(reqs))
	}
	probes := 0
	log, err := a.Attempts(context.Background(), webhook.Owner{}, ep.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range log {
		if at.Probe {
			probes++
		}
	}
	if probes != 2 {
		t.Errorf("the log marks %d probes, want 2", probes)
	}
}

// TestRotatedSecretSignsBesideTheOldOneForItsGrace: after a rotation with
// a grace period both secrets sign each request (two signatures, each
// verifying with the independent library), the library's own timestamp
// check passes on a request signed now; after the grace only the new one
// signs and the old secret no longer verifies.
func TestRotatedSecretSignsBesideTheOldOneForItsGrace(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	rotated, err := s.Rotate(context.Background(), webhook.Owner{}, ep.ID, webhook.DefaultGrace)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == ep.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") ||
		rotated.PreviousSecretValidUntil == nil || !rotated.PreviousSecretValidUntil.Equal(f.clock.now().Add(24*time.Hour)) {
		t.Fatalf("rotated: %+v", rotated)
	}
	f.emit(earned("C1", "5"))
	step(t, s)
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	sigs := strings.Fields(reqs[0].header.Get("webhook-signature"))
	if len(sigs) != 2 {
		t.Fatalf("webhook-signature %q, want two", reqs[0].header.Get("webhook-signature"))
	}
	for _, secret := range []string{ep.Secret, rotated.Secret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(reqs[0].body, reqs[0].header); err != nil { // the frozen clock is now, to the second
			t.Errorf("during the grace: %v", err)
		}
	}
	if ts := reqs[0].header.Get("webhook-timestamp"); ts != fmt.Sprint(f.clock.now().Unix()) {
		t.Errorf("webhook-timestamp %s, want %d", ts, f.clock.now().Unix())
	}
	f.clock.add(24*time.Hour + time.Second)
	if _, err := s.Redeliver(context.Background(), webhook.Owner{}, ep.ID, webhook.Redelivery{Notification: reqs[0].header.Get("webhook-id")}); err != nil {
		t.Fatal(err)
	}
	step(t, s)
	reqs = r.requests()
	if len(reqs) != 2 || reqs[1].header.Get("webhook-id") != reqs[0].header.Get("webhook-id") || !bytes.Equal(reqs[0].body, reqs[1].body) {
		t.Fatalf("redelivery: %d requests, ids %q", len(reqs), reqs[len(reqs)-1].header.Get("webhook-id"))
	}
	if sigs := strings.Fields(reqs[1].header.Get("webhook-signature")); len(sigs) != 1 {
		t.Errorf("after the grace: %d signatures, want 1", len(sigs))
	}
	if err := verify(t, rotated.Secret, reqs[1]); err != nil {
		t.Errorf("new secret after the grace: %v", err)
	}
	if err := verify(t, ep.Secret, reqs[1]); err == nil {
		t.Error("the old secret still verifies after its grace")
	}
	if got, _ := s.Get(context.Background(), webhook.Owner{}, ep.ID); got.PreviousSecretValidUntil != nil {
		t.Errorf("after the grace the endpoint still shows a previous secret until %v", got.PreviousSecretValidUntil)
	}
}

// TestConcurrentDispatchersSendEachNotificationOnce: four dispatchers (as
// four serve processes) step at once while notifications are written;
// with a receiver that accepts everything, each notification reaches it
// exactly once and has one delivery.
func TestConcurrentDispatchersSendEachNotificationOnce(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t)
	f.subscribe(f.service(), r, webhook.Owner{})
	const writers, each = 4, 15
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f.emit(earned(fmt.Sprintf("C%d-%d", w, i%3), fmt.Sprint(i)))
			}
		}()
	}
	var dw sync.WaitGroup
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }); dw.Wait() }
	defer halt()
	for range 4 {
		dw.Add(1)
		s := f.service()
		go func() {
			defer dw.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Step(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Drain: step until every notification written has been delivered.
	for f.count("status = 'delivered'") < writers*each {
		step(t, f.service())
	}
	halt()
	seen := map[string]int{}
	for _, q := range r.requests() {
		seen[q.header.Get("webhook-id")]++
	}
	if len(seen) != writers*each {
		t.Fatalf("%d notifications reached the receiver, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	if n := f.count("true"); n != writers*each {
		t.Errorf("%d deliveries, want %d", n, writers*each)
	}
}

// TestDeliveryIsRetriedForThreeDaysThenFailedAndRedeliverable: a delivery
// to a receiver that always fails is tried until its deadline, 72 hours
// after it was created (the last attempt at or after it), then marked
// failed; the circuit does not let it be retried while open, and a
// redelivery of the time range sends it again, with the same webhook-id,
// once the receiver is back.
func TestDeliveryIsRetriedForThreeDaysThenFailedAndRedeliverable(t *testing.T) {
	f := newFixture(t)
	f.cfg.Backoff = func(int) time.Duration { return 50 * time.Minute } // due again at each hourly step
	f.cfg.BreakAfter = 1000                                             // the breaker is another test's
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	start := f.clock.now()
	f.emit(earned("C1", "1"))
	r.set("fail")
	for f.count("status = 'pending'") > 0 || f.count("true") == 0 {
		step(t, s)
		f.clock.add(time.Hour)
		if f.clock.now().Sub(start) > 80*time.Hour {
			t.Fatal("still pending 80 hours later")
		}
	}
	log, err := s.Attempts(context.Background(), webhook.Owner{}, ep.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	// Hourly from the start: 0 h, 1 h, ..., 71 h, and the last at 72 h.
	if len(log) != 73 || log[0].DeliveryStatus != "failed" || !log[0].At.Equal(start.Add(72*time.Hour)) {
		t.Fatalf("%d attempts, the last %+v, want 73, the last failed at %v", len(log), log[0], start.Add(72*time.Hour))
	}
	r.set("ok")
	n, err := s.Redeliver(context.Background(), webhook.Owner{}, ep.ID, webhook.Redelivery{From: start.Add(-time.Minute), To: start.Add(time.Minute)})
	if err != nil || n != 1 {
		t.Fatalf("redeliver the range: %d, %v", n, err)
	}
	step(t, s)
	reqs := r.requests()
	last := reqs[len(reqs)-1]
	if last.status != 200 || last.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
		t.Fatalf("redelivery answered %d with id %q, want 200 and %q", last.status, last.header.Get("webhook-id"), reqs[0].header.Get("webhook-id"))
	}
	if f.count("status = 'delivered'") != 1 {
		t.Error("the redelivered delivery is not delivered")
	}
}

// TestEndpointsHearTheirTypesAndNotAnotherPartnersNotices: an endpoint gets
// only its types; a partner's endpoint does not get a notice meant for
// another partner only, nor the platform's own (reconciliation.failed, which
// names ids of every partner's business), even subscribed to it before it
// was refused them (here, by hand); an admin's gets everything it
// subscribed to.
func TestEndpointsHearTheirTypesAndNotAnotherPartnersNotices(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	var partners [2]int64
	for i := range partners {
		_, k, err := f.l.CreateKey(context.Background(), fmt.Sprint("partner", i), "partner", "")
		if err != nil {
			t.Fatal(err)
		}
		partners[i] = k.PartnerID
	}
	admin, mine, earnedOnly := newReceiver(t), newReceiver(t), newReceiver(t)
	f.subscribe(s, admin, webhook.Owner{})
	f.subscribe(s, mine, webhook.Owner{Partner: partners[0]})
	f.subscribe(s, earnedOnly, webhook.Owner{Partner: partners[1]}, notify.PointsEarned)
	if _, err := f.pool.Exec(context.Background(), `UPDATE webhook_endpoints SET types = types || '{reconciliation.failed}'
WHERE partner_id IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	low := func(p int64) notify.Event {
		return notify.Event{Type: notify.PrepaidLowBalance, Customer: "C1", Partner: p, Payload: map[string]any{"balance": "1"}}
	}
	f.emit(earned("C1", "1"), low(partners[0]), low(partners[1]), notify.Event{Type: notify.ReconciliationFailed, Payload: map[string]any{}})
	for step(t, s) > 0 {
	}
	types := func(r *receiver) (out []string) {
		for _, q := range r.requests() {
			var e struct {
				Type       string  `json:"type"`
				CustomerID *string `json:"customer_id"`
			}
			_ = json.Unmarshal(q.body, &e)
			out = append(out, e.Type)
		}
		slices.Sort(out) // sent at once, they arrive in any order
		return out
	}
	if got := types(admin); len(got) != 4 {
		t.Errorf("admin endpoint got %v, want all 4", got)
	}
	if got := fmt.Sprint(types(mine)); got != "[points.earned prepaid.low_balance]" {
		t.Errorf("partner 0 got %s, want earned and its own low balance", got)
	}
	if got := fmt.Sprint(types(earnedOnly)); got != "[points.earned]" {
		t.Errorf("partner 1's points.earned endpoint got %s", got)
	}
}

// gauges reads the service's metrics by name (and label, for the attempts).
func gauges(t *testing.T, s *webhook.Service) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	counted, read := s.Collectors()
	reg.MustRegister(append(counted, read...)...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + `="` + l.GetValue() + `"}`
			}
			switch {
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestOpenCircuitMakesNoRetryStormAndItsDeliveriesFailAfterThreeDays: five
// deliveries to an endpoint that never answers well cost five attempts and
// then one probe per cool-down, not a retry chain each; when their 72
// hours have passed they are all marked failed, probed or not.
func TestOpenCircuitMakesNoRetryStormAndItsDeliveriesFailAfterThreeDays(t *testing.T) {
	f := newFixture(t)
	f.cfg.BreakAfter, f.cfg.CoolDown = 1, 30*time.Minute
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	for i := range 5 {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	r.set("fail")
	steps := 0
	for ; f.count("status = 'failed'") < 5; steps++ {
		if steps > 80*4 {
			t.Fatalf("after 80 hours %d deliveries failed, want 5", f.count("status = 'failed'"))
		}
		step(t, s)
		f.clock.add(15 * time.Minute)
	}
	// The five at once, then a probe every 30 minutes (each other step)
	// until the deadline of the last: 72 hours, 144 probes at most.
	if n := len(r.requests()); n > 5+144+1 {
		t.Errorf("%d requests to an open circuit in %d steps, want at most %d", n, steps, 5+145)
	}
	if hours := time.Duration(steps) * 15 * time.Minute; hours < 72*time.Hour {
		t.Errorf("all failed after %v, before their 72 hours", hours)
	}
}

// TestSlowEndpointHoldsBackNoOther: Run keeps sending to a healthy
// endpoint while a slow one holds its requests: the slow one never has
// more than PerEndpoint requests in flight, and the healthy one gets all
// of its notifications meanwhile, delivered, whether the dispatcher sends
// the feed straight away (the slow one's requests in flight are leased
// when the page is recorded) or queues it first.
func TestSlowEndpointHoldsBackNoOther(t *testing.T) {
	for _, queueFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("queue first ", queueFirst), func(t *testing.T) { testSlowEndpointHoldsBackNoOther(t, queueFirst) })
	}
}

func testSlowEndpointHoldsBackNoOther(t *testing.T, queueFirst bool) {
	f := newFixture(t)
	f.cfg.PerEndpoint, f.cfg.Workers, f.cfg.Poll, f.cfg.QueueFirst = 2, 4, 10*time.Millisecond, queueFirst
	f.cfg.Timeout = time.Minute // the held requests wait for the test
	s := f.service()
	slow, healthy := newReceiver(t), newReceiver(t)
	slow.set("held")
	f.subscribe(s, slow, webhook.Owner{})
	f.subscribe(s, healthy, webhook.Owner{})
	const customers = 12
	for i := range customers {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	<-slow.arrived
	<-slow.arrived // the slow endpoint's two requests are held
	for f.count("status = 'delivered'") < customers {
		select {
		case <-slow.arrived:
			t.Fatal("a third request to the slow endpoint while two are in flight")
		case <-time.After(10 * time.Millisecond): // polls the database; the deadline is the test's
		}
	}
	if n := len(healthy.requests()); n != customers {
		t.Errorf("the healthy endpoint got %d requests, want %d", n, customers)
	}
	if n := f.count("endpoint_id = 1 AND status = 'pending' AND lease IS NOT NULL"); n != 2 || len(slow.arrived) != 0 {
		t.Errorf("%d deliveries to the slow endpoint leased, %d more arrived, want 2 and none", n, len(slow.arrived))
	}
	// Let the slow endpoint answer everything; Run ends after its sends.
	go func() {
		for {
			select {
			case slow.release <- http.StatusOK:
			case <-ran:
				return
			}
		}
	}()
	for f.count("status = 'delivered'") < 2*customers {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-ran
	if n := len(slow.requests()); n != customers {
		t.Errorf("the slow endpoint got %d requests, want %d", n, customers)
	}
}

// TestANewURLClosesTheCircuitAndSendsAtOnce: an endpoint paused by its
// breaker, given a working URL, is closed again and its pending
// deliveries go at the next step, without waiting for a cool-down or a
// backoff; a change of description alone changes neither.
func TestANewURLClosesTheCircuitAndSendsAtOnce(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	broken, fixed := newReceiver(t), newReceiver(t)
	broken.set("fail")
	ep := f.subscribe(s, broken, webhook.Owner{})
	for i := range 3 {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	step(t, s) // three failures: open
	description := "paused"
	got, err := s.Update(context.Background(), webhook.Owner{}, ep.ID, webhook.EndpointPatch{Description: &description})
	if err != nil || got.Circuit != "open" {
		t.Fatalf("a new description: %+v %v, want still open", got, err)
	}
	if n := step(t, s); n != 0 {
		t.Fatalf("%d sent while open", n)
	}
	url := fixed.srv.URL + "/v2"
	if got, err = s.Update(context.Background(), webhook.Owner{}, ep.ID, webhook.EndpointPatch{URL: &url}); err != nil || got.Circuit != "closed" || got.Failures != 0 {
		t.Fatalf("a new URL: %+v %v, want closed", got, err)
	}
	if n := step(t, s); n != 3 || len(fixed.requests()) != 3 {
		t.Fatalf("after the new URL: %d sent, %d received, want 3 at once", n, len(fixed.requests()))
	}
}

// TestACustomersBacklogGoesInOrderInOneStep: once a customer's
// notification is accepted, the worker that sent it goes on with the
// customer's next one at once, in order, without another claim.
func TestACustomersBacklogGoesInOrderInOneStep(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	for i := range 6 {
		f.emit(earned("C1", fmt.Sprint(i+1)))
	}
	if n := step(t, s); n != 6 {
		t.Fatalf("one step sent %d, want C1's 6", n)
	}
	var got []string
	for _, q := range r.requests() {
		got = append(got, q.header.Get("webhook-id"))
	}
	var want []string
	for _, n := range f.feed() {
		want = append(want, n.ID())
	}
	if !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

// TestRunDrainsACustomersQueueWithoutAClaimPerDelivery: with a few
// customers each holding a long queue (what a receiver that was down, or a
// server killed mid-page, leaves), Run goes on with each customer's next
// notification once one is accepted, found through that customer's own
// order, instead of claiming after every batch: a claim reads the due
// deliveries of every customer, and those behind their customer's first
// are read in vain. Every notification is delivered, in each customer's
// order, with a claim per many deliveries (one per batch before: about
// one per customer's delivery here).
func TestRunDrainsACustomersQueueWithoutAClaimPerDelivery(t *testing.T) {
	f := newFixture(t)
	// One poll, at the start (it fans the feed out into the queue): every
	// claim after it is one Run chose to make, however slow the machine.
	f.cfg.Workers, f.cfg.Poll, f.cfg.QueueFirst = 8, time.Hour, true
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	const customers, each = 3, 120
	f.emitQueues(customers, each)
	stop := run(t, s)
	f.waitDelivered(customers*each, 2*time.Minute)
	stop()
	order := map[string][]string{}
	for _, req := range r.requests() {
		var env struct {
			Customer string `json:"customer_id"`
			Data     struct {
				Points string `json:"points"`
			} `json:"data"`
		}
		if err := json.Unmarshal(req.body, &env); err != nil {
			t.Fatal(err)
		}
		order[env.Customer] = append(order[env.Customer], env.Data.Points)
	}
	for c := range customers {
		got := order[fmt.Sprint("C", c)]
		if len(got) != each {
			t.Fatalf("C%d got %d requests, want %d", c, len(got), each)
		}
		for i, p := range got {
			if p != fmt.Sprint(i+1) {
				t.Fatalf("C%d's request %d carries points %s, want %d: out of order", c, i, p, i+1)
			}
		}
	}
	t.Logf("%d claims for %d deliveries", s.Claims(), customers*each)
	if n := s.Claims(); n > customers*each/10 {
		t.Errorf("%d claims for %d deliveries, want at most one per ten", n, customers*each)
	}
}
