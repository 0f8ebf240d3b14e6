package webhook_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestAnAcceptedFirstSendIsItsAttemptAlone: a page's send accepted at once
// is recorded as its attempt alone, no delivery row; one refused gets a
// pending delivery beside its attempt. The log shows the first delivered
// and the second pending, each with its notification; redelivering the
// accepted one writes a pending delivery, which the log's first attempt
// then follows, and once sent again the log holds both attempts, delivered.
func TestAnAcceptedFirstSendIsItsAttemptAlone(t *testing.T) {
	f, s, r, ep := acceptedOnce(t)
	ctx := context.Background()
	r.set("fail")
	f.emit(earned("C2", "1"))
	if n := step(t, s); n != 1 {
		t.Fatalf("the second step sent %d, want 1", n)
	}
	feed := f.feed()
	if len(feed) != 2 {
		t.Fatalf("the feed holds %d notifications, want 2", len(feed))
	}
	accepted, refused := feed[0], feed[1]
	var rows []string
	q, err := f.pool.Query(ctx, `SELECT format('%s %s %s', notification_id, status, attempts) FROM webhook_deliveries ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var row string
		if err := q.Scan(&row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if want := fmt.Sprintf("[%d pending 1]", refused.Seq); fmt.Sprint(rows) != want {
		t.Errorf("delivery rows %v, want %s: the refused send's alone", rows, want)
	}
	log, err := s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := func(log []webhook.Attempt) string {
		var out []string
		for _, a := range log {
			code := 0
			if a.StatusCode != nil {
				code = *a.StatusCode
			}
			out = append(out, fmt.Sprintf("%s %d %d %s %v", a.NotificationID, a.Attempt, code, a.DeliveryStatus, a.NextAttemptAt != nil))
		}
		return fmt.Sprint(out)
	}
	want := fmt.Sprintf("[%s 1 500 pending true %s 1 200 delivered false]", refused.ID(), accepted.ID())
	if got(log) != want {
		t.Errorf("the log %s, want %s", got(log), want)
	}

	if n, err := s.Redeliver(ctx, webhook.Owner{}, ep.ID, webhook.Redelivery{Notification: accepted.ID()}); err != nil || n != 1 {
		t.Fatalf("redeliver: %d, %v", n, err)
	}
	log, err = s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("[%s 1 500 pending true %s 1 200 pending true]", refused.ID(), accepted.ID())
	if got(log) != want {
		t.Errorf("the log after the redelivery %s, want %s", got(log), want)
	}
	r.set("ok")
	f.clock.add(f.cfg.Backoff(1))
	for range 3 {
		step(t, s)
	}
	log, err = s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 4 {
		t.Fatalf("the log after both went: %s, want 4 attempts", got(log))
	}
	for _, a := range log {
		if a.DeliveryStatus != "delivered" {
			t.Errorf("the log after both went: %s, want every attempt's delivery delivered", got(log))
			break
		}
	}
	if n := f.count("status = 'delivered'"); n != 2 {
		t.Errorf("%d deliveries delivered, want 2", n)
	}
}

// TestARedeliveryNumbersOnFromALoneAttempt: a notification accepted at its
// page's first send (its attempt alone) and then redelivered is attempt 2
// in the log, not a second attempt 1, and a failure of that redelivery is
// retried on the backoff of a second attempt.
func TestARedeliveryNumbersOnFromALoneAttempt(t *testing.T) {
	f, s, r, ep := acceptedOnce(t)
	ctx := context.Background()
	ntf := f.feed()[0]
	if _, err := s.Redeliver(ctx, webhook.Owner{}, ep.ID, webhook.Redelivery{Notification: ntf.ID()}); err != nil {
		t.Fatal(err)
	}
	r.set("fail")
	if n := step(t, s); n != 1 {
		t.Fatalf("the redelivery's step sent %d, want 1", n)
	}
	log, err := s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, a := range log {
		got = append(got, a.Attempt)
	}
	if fmt.Sprint(got) != "[2 1]" {
		t.Errorf("attempt numbers, newest first: %v, want [2 1]", got)
	}
	if len(log) == 2 && (log[0].NextAttemptAt == nil || !log[0].NextAttemptAt.Equal(log[0].At.Add(f.cfg.Backoff(2)))) {
		t.Errorf("the failed redelivery is due again at %v, want a second attempt's backoff (%v) after %v",
			log[0].NextAttemptAt, f.cfg.Backoff(2), log[0].At)
	}
}

// acceptedOnce is a fixture whose one endpoint (at r) has accepted C1's
// points.earned at its page's first send.
func acceptedOnce(t *testing.T) (*fixture, *webhook.Service, *receiver, webhook.WithSecret) {
	t.Helper()
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "1"))
	if n := step(t, s); n != 1 {
		t.Fatalf("the step sent %d, want 1", n)
	}
	return f, s, r, ep
}
