package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestAPartnerSubscribesAtMostMaxEndpoints: every endpoint multiplies each
// notification into a delivery and a request, and holds up to PerEndpoint
// workers, so a partner key subscribes at most MaxEndpoints, even when it
// creates them all at once; the limit is per partner (another still
// subscribes) and a deleted endpoint frees its place.
func TestAPartnerSubscribesAtMostMaxEndpoints(t *testing.T) {
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
	r := newReceiver(t)
	in := webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{notify.PointsEarned}}
	const tries = webhook.MaxEndpoints + 10
	var wg sync.WaitGroup
	errs := make([]error, tries)
	ids := make([]int64, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := s.Create(context.Background(), webhook.Owner{Partner: partners[0]}, in)
			ids[i], errs[i] = e.ID, err
		}()
	}
	wg.Wait()
	created, refused := 0, 0
	var one int64
	for i, err := range errs {
		switch fault.CodeOf(err) {
		case "":
			created, one = created+1, ids[i]
		case fault.LimitReached:
			refused++
		default:
			t.Fatalf("create: %v", err)
		}
	}
	if created != webhook.MaxEndpoints || refused != tries-webhook.MaxEndpoints {
		t.Fatalf("a partner created %d endpoints (%d refused), want %d", created, refused, webhook.MaxEndpoints)
	}
	if _, _, err := s.Create(context.Background(), webhook.Owner{Partner: partners[1]}, in); err != nil {
		t.Fatalf("another partner: %v", err)
	}
	if err := s.Delete(context.Background(), webhook.Owner{Partner: partners[0]}, one); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(context.Background(), webhook.Owner{Partner: partners[0]}, in); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	f.emit(earned("C1", "1"))
	step(t, s)
	if got, want := len(r.requests()), webhook.MaxEndpoints+1; got != want {
		t.Fatalf("one notification made %d requests, want %d", got, want)
	}
}

// TestARedeliveryQueuesAtMostMaxRedeliveries: one redeliver call for a
// time range queues every notification the endpoint hears in it, at most
// MaxRedeliveries: a range holding more is refused whole, with nothing
// queued, so a key cannot enqueue a month of traffic in one call.
func TestARedeliveryQueuesAtMostMaxRedeliveries(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{}, notify.PointsEarned)
	start := f.clock.now()
	events := make([]notify.Event, webhook.MaxRedeliveries+1)
	for i := range events {
		events[i] = earned(fmt.Sprint("C", i), "1")
	}
	f.emit(events...)
	f.clock.add(time.Hour)
	f.emit(earned("LATE", "1"))
	_, err := s.Redeliver(context.Background(), webhook.Owner{}, ep.ID,
		webhook.Redelivery{From: start, To: start.Add(2 * time.Hour)})
	var fe *fault.Error
	if fault.CodeOf(err) != fault.Invalid || !errorsAs(err, &fe) || fe.Fields["to"] == "" {
		t.Fatalf("a range of %d notifications: %v, want invalid naming to", len(events)+1, err)
	}
	if n := f.count("true"); n != 0 {
		t.Fatalf("the refused redelivery queued %d deliveries", n)
	}
	n, err := s.Redeliver(context.Background(), webhook.Owner{}, ep.ID,
		webhook.Redelivery{From: start.Add(time.Minute), To: start.Add(2 * time.Hour)})
	if err != nil || n != 1 || f.count("true") != 1 {
		t.Fatalf("a range of one: queued %d (%v), want 1", n, err)
	}
}

// TestIPv6FormsOfPrivateIPv4AddressesAreRefused: an IPv6 address that
// carries an IPv4 one a translator or tunnel reaches (NAT64's well-known
// and local-use prefixes, 6to4, IPv4-compatible and IPv4-translated
// forms) is as private as the IPv4 address it carries, and a literal IPv4
// address of "this network" (0.0.0.0/8) is refused like 0.0.0.0; the same
// addresses of public IPv4 hosts are not refused for the form alone.
func TestIPv6FormsOfPrivateIPv4AddressesAreRefused(t *testing.T) {
	f := newFixture(t)
	refused := []string{
		"64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
		"64:ff9b::7f00:1",    // NAT64 of 127.0.0.1
		"64:ff9b:1::a01:203", // local-use NAT64 of 10.1.2.3
		"2002:a01:203::1",    // 6to4 of 10.1.2.3
		"2002:7f00:1::1",     // 6to4 of 127.0.0.1
		"::7f00:1",           // IPv4-compatible 127.0.0.1
		"::ffff:0:a9fe:a9fe", // IPv4-translated 169.254.169.254
		"0.1.2.3",            // this network
	}
	allowed := []string{"64:ff9b::808:808", "2002:808:808::1"} // 8.8.8.8 behind NAT64 and 6to4
	for _, h := range append(append([]string{}, refused...), allowed...) {
		f.cfg.Hosts = append(f.cfg.Hosts, "["+h+"]", h)
	}
	f.cfg.AllowLoopback = false
	s := f.service()
	url := func(h string) string {
		if strings.Contains(h, ":") {
			return "https://[" + h + "]/hook"
		}
		return "https://" + h + "/hook"
	}
	for _, h := range refused {
		_, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: url(h), Types: []string{notify.PointsEarned}})
		if fault.CodeOf(err) != fault.HostNotAllowed {
			t.Errorf("%s: %v, want host_not_allowed", h, err)
		}
	}
	for _, h := range allowed {
		if _, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: url(h), Types: []string{notify.PointsEarned}}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

// TestAPartnersSlowEndpointsHoldBackNoOther: the bound of requests in
// flight holds for all of a partner's endpoints together, so a partner
// cannot take every worker by subscribing several slow endpoints: with two
// of its endpoints holding their requests, an admin's healthy endpoint
// still gets all of its notifications.
func TestAPartnersSlowEndpointsHoldBackNoOther(t *testing.T) {
	f := newFixture(t)
	f.cfg.PerEndpoint, f.cfg.Workers, f.cfg.Poll = 2, 4, 10*time.Millisecond
	f.cfg.Timeout = time.Minute // a held request holds its worker until released
	s := f.service()
	_, k, err := f.l.CreateKey(context.Background(), "slow partner", "partner", "")
	if err != nil {
		t.Fatal(err)
	}
	slow := [2]*receiver{newReceiver(t), newReceiver(t)}
	for _, r := range slow {
		r.set("held")
		f.subscribe(s, r, webhook.Owner{Partner: k.PartnerID})
	}
	healthy := newReceiver(t)
	f.subscribe(s, healthy, webhook.Owner{})
	const customers = 12
	for i := range customers {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	defer func() {
		cancel()
		for _, r := range slow {
			go func() {
				for {
					select {
					case r.release <- http.StatusOK:
					case <-ran:
						return
					}
				}
			}()
		}
		<-ran
	}()
	deadline := time.Now().Add(10 * time.Second) // a failure's bound; a pass takes milliseconds
	for len(healthy.requests()) < customers {
		if time.Now().After(deadline) {
			t.Fatalf("the healthy endpoint got %d of %d notifications while the partner's slow endpoints hold %d and %d requests",
				len(healthy.requests()), customers, len(slow[0].arrived), len(slow[1].arrived))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(slow[0].arrived) + len(slow[1].arrived); n > f.cfg.PerEndpoint {
		t.Errorf("%d requests in flight to the partner's endpoints, want at most %d", n, f.cfg.PerEndpoint)
	}
}
