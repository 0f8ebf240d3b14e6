package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestTheBreakerTakesABatchsAnswersInTheOrderTheyCame: answers recorded
// together count for the endpoint's circuit in the order they came, as if
// recorded one at a time: a 2xx starts the count of failures in a row
// again, 3 failures in a row open the circuit (across batches too); an open
// circuit lets one probe through per cool-down, a failed probe keeps it
// open for another, a good one closes it. The model below is the breaker
// taking the answers one by one. The delivery log holds each answer, in
// the order they came; an accepted delivery is delivered, a failed one
// waits its backoff.
func TestTheBreakerTakesABatchsAnswersInTheOrderTheyCame(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	for i := range 12 {
		f.emit(earned(fmt.Sprint("C", i), "1")) // twelve customers: order holds none back
	}
	ctx := context.Background()
	failures, open := 0, false // the model
	var answered []int
	check := func(what string) {
		t.Helper()
		got, err := s.Get(ctx, webhook.Owner{}, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "closed", true: "open"}[open]
		if got.Circuit != want || got.Failures != failures {
			t.Fatalf("after %s: circuit %s with %d failures, want %s with %d", what, got.Circuit, got.Failures, want, failures)
		}
	}
	batch := func(statuses ...int) {
		t.Helper()
		n, err := s.RecordAnswers(ctx, statuses...)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(statuses) {
			t.Fatalf("claimed %d for %v", n, statuses)
		}
		for _, status := range statuses {
			if status == http.StatusOK {
				failures, open = 0, false
			} else {
				failures++
				open = open || failures >= 3
			}
		}
		answered = append(answered, statuses...)
		check(fmt.Sprint(statuses))
	}
	batch(500, 500, 200, 500) // closed: one failure since the success
	log, err := s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range log {
		switch {
		case *a.StatusCode == 200 && (a.DeliveryStatus != "delivered" || a.Error != nil):
			t.Errorf("accepted: %+v, want delivered", a)
		case *a.StatusCode == 500 && (a.DeliveryStatus != "pending" || a.NextAttemptAt == nil ||
			!a.NextAttemptAt.Equal(f.clock.now().Add(time.Minute)) || a.Error == nil):
			t.Errorf("failed: %+v, want pending for the first retry's minute", a)
		}
	}
	batch(0)                  // two in a row, across batches
	batch(200, 500, 500, 500) // open: three in a row after the success
	if got, _ := s.Get(ctx, webhook.Owner{}, ep.ID); got.NextProbeAt == nil || !got.NextProbeAt.Equal(f.clock.now().Add(10*time.Minute)) {
		t.Fatalf("opened: next probe at %v, want after the 10-minute cool-down", got.NextProbeAt)
	}
	if n, err := s.RecordAnswers(ctx, 200); err != nil || n != 0 {
		t.Fatalf("an open circuit's cool-down let %d through (%v)", n, err)
	}
	f.clock.add(10 * time.Minute)
	batch(503) // the probe fails: open, another cool-down
	if got, _ := s.Get(ctx, webhook.Owner{}, ep.ID); got.NextProbeAt == nil || !got.NextProbeAt.Equal(f.clock.now().Add(10*time.Minute)) {
		t.Fatalf("failed probe: next probe at %v, want after another cool-down", got.NextProbeAt)
	}
	if n, err := s.RecordAnswers(ctx, 200); err != nil || n != 0 {
		t.Fatalf("%d sent right after a failed probe (%v)", n, err)
	}
	f.clock.add(10 * time.Minute)
	batch(200)           // the probe succeeds: closed
	batch(500, 500, 200) // closed again, and counting from the success
	log, err = s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var logged []int
	for _, a := range slices.Backward(log) {
		status := 0
		if a.StatusCode != nil {
			status = *a.StatusCode
		}
		logged = append(logged, status)
	}
	if !slices.Equal(logged, answered) {
		t.Errorf("the log, oldest first: %v, want the answers in the order they came %v", logged, answered)
	}
}

// TestAWaitingCustomerHoldsBackNoOtherCustomer: a customer whose first
// notification waits for a retry has its later ones, due and older than
// another customer's, wait behind it; a claim that reads as little of the
// queue as it may (one delivery) still finds the other customer's.
func TestAWaitingCustomerHoldsBackNoOtherCustomer(t *testing.T) {
	f := newFixture(t)
	f.cfg.Batch, f.cfg.PerEndpoint, f.cfg.QueueFirst = 1, 1, true
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	for i := range 5 {
		f.emit(earned("C1", fmt.Sprint(i+1)))
	}
	f.emit(earned("C2", "1"))
	r.set("fail")
	if n := step(t, s); n != 1 {
		t.Fatalf("first step sent %d, want C1's first", n)
	}
	if n := step(t, s); n != 1 {
		t.Fatalf("second step sent %d, want C2's", n)
	}
	feed, reqs := f.feed(), r.requests()
	if got := []string{reqs[0].header.Get("webhook-id"), reqs[1].header.Get("webhook-id")}; got[0] != feed[0].ID() || got[1] != feed[5].ID() {
		t.Errorf("sent %v, want C1's first (%s) then C2's (%s)", got, feed[0].ID(), feed[5].ID())
	}
}

// TestASlowEndpointsBacklogHoldsBackNoOtherEndpoint: an endpoint with as
// many sends in flight as it may have, and older deliveries waiting, does
// not keep a claim from another endpoint's, even a claim that reads as
// little of the queue as it may.
func TestASlowEndpointsBacklogHoldsBackNoOtherEndpoint(t *testing.T) {
	f := newFixture(t)
	f.cfg.Batch, f.cfg.PerEndpoint, f.cfg.QueueFirst = 1, 1, true
	f.cfg.Timeout = time.Minute // the held request waits for the test
	a, b := f.service(), f.service()
	slow, healthy := newReceiver(t), newReceiver(t)
	slow.set("held")
	f.subscribe(a, slow, webhook.Owner{})
	for i := range 3 {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	sent := make(chan int)
	go func() { n, _ := a.Step(context.Background()); sent <- n }()
	<-slow.arrived // one in flight: the slow endpoint has no room
	f.clock.add(time.Minute)
	f.subscribe(b, healthy, webhook.Owner{})
	f.emit(earned("C9", "1")) // due after the slow endpoint's two others
	if n := step(t, b); n != 1 || len(healthy.requests()) != 1 {
		t.Errorf("the other endpoint: %d sent, %d received, want 1", n, len(healthy.requests()))
	}
	slow.release <- http.StatusOK
	if n := <-sent; n != 1 {
		t.Errorf("the slow endpoint's step sent %d, want 1", n)
	}
}
