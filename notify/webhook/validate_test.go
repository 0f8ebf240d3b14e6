package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestEndpointURLsAreRefusedOffTheAllowListOrOnPrivateAddresses: a URL is
// refused unless it is http(s), without credentials or a fragment, on a
// host of the allow-list (exactly, or under a "*." entry), and, when
// loopback is not allowed, not an IP literal of a loopback or private
// network; types must be known.
func TestEndpointURLsAreRefusedOffTheAllowListOrOnPrivateAddresses(t *testing.T) {
	f := newFixture(t)
	f.cfg.Hosts = []string{"hooks.example.com", "*.partner.example", "127.0.0.1", "10.1.2.3", "[::1]", "169.254.169.254"}
	f.cfg.AllowLoopback = false
	s := f.service()
	types := []string{notify.PointsEarned}
	for _, c := range []struct {
		url   string
		types []string
		code  fault.Code
		field string
	}{
		{"https://hooks.example.com/in", types, "", ""},
		{"http://a.partner.example:8443/x?y=1", types, "", ""},
		{"https://deep.a.partner.example/", types, "", ""},
		{"https://partner.example/", types, fault.HostNotAllowed, "url"},
		{"https://evil.com/hooks.example.com", types, fault.HostNotAllowed, "url"},
		{"https://hooks.example.com.evil.com/", types, fault.HostNotAllowed, "url"},
		{"http://127.0.0.1:9/", types, fault.HostNotAllowed, "url"},
		{"http://10.1.2.3/", types, fault.HostNotAllowed, "url"},
		{"http://[::1]/", types, fault.HostNotAllowed, "url"},
		{"http://169.254.169.254/latest/meta-data", types, fault.HostNotAllowed, "url"},
		{"ftp://hooks.example.com/", types, fault.Invalid, "url"},
		{"hooks.example.com/in", types, fault.Invalid, "url"},
		{"https://user:pw@hooks.example.com/", types, fault.Invalid, "url"},
		{"https://hooks.example.com/#frag", types, fault.Invalid, "url"},
		{"https://hooks.example.com/" + strings.Repeat("a", webhook.MaxURLBytes), types, fault.Invalid, "url"},
		{"https://hooks.example.com/", nil, fault.Invalid, "types"},
		{"https://hooks.example.com/", []string{notify.PointsEarned, "points.stolen"}, fault.Invalid, "types[1]"},
	} {
		_, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: c.url, Types: c.types})
		if fault.CodeOf(err) != c.code {
			t.Errorf("%.60s: %v, want %q", c.url, err, c.code)
			continue
		}
		var fe *fault.Error
		if c.code != "" && (!errorsAs(err, &fe) || fe.Fields[c.field] == "") {
			t.Errorf("%.60s: %v does not name %s", c.url, err, c.field)
		}
	}
	f.cfg.AllowLoopback = true
	if _, _, err := f.service().Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: "http://127.0.0.1:9/", Types: types}); err != nil {
		t.Errorf("loopback allowed: %v", err)
	}
}

// TestDeliveriesCheckTheAddressAtDialTimeAndFollowNoRedirect: a host name
// on the allow-list that resolves to a loopback address is refused when it
// is dialled (loopback not allowed), so the receiver gets nothing; a
// redirect is an answer (a failure), never followed.
func TestDeliveriesCheckTheAddressAtDialTimeAndFollowNoRedirect(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t)
	f.cfg.Hosts = []string{"localhost", "127.0.0.1"}
	f.cfg.AllowLoopback = false
	guarded := f.service()
	port := r.srv.URL[strings.LastIndex(r.srv.URL, ":"):]
	ep, _, err := guarded.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: "http://localhost" + port + "/hook",
		Types: []string{notify.PointsEarned}})
	if err != nil {
		t.Fatal(err)
	}
	f.emit(earned("C1", "1"))
	step(t, guarded)
	if n := len(r.requests()); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests", n)
	}
	log, err := guarded.Attempts(context.Background(), webhook.Owner{}, ep.ID, 0, 10)
	if err != nil || len(log) != 1 || log[0].Error == nil || !strings.Contains(*log[0].Error, "loopback or private") {
		t.Fatalf("log %+v %v, want the dial refused", log, err)
	}

	// A redirect to the receiver: the 302 is logged, the receiver gets nothing.
	f.cfg.AllowLoopback = true
	s := f.service()
	redirect := httptest.NewServer(http.RedirectHandler(r.srv.URL+"/hook", http.StatusFound))
	t.Cleanup(redirect.Close)
	hop, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: redirect.URL, Types: []string{notify.PointsExpired}})
	if err != nil {
		t.Fatal(err)
	}
	f.emit(notify.Event{Type: notify.PointsExpired, Customer: "C1", Payload: map[string]any{}})
	step(t, s)
	log, err = s.Attempts(context.Background(), webhook.Owner{}, hop.ID, 0, 10)
	if err != nil || len(log) != 1 || log[0].StatusCode == nil || *log[0].StatusCode != http.StatusFound {
		t.Fatalf("log %+v %v, want the 302", log, err)
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("the redirect was followed: the receiver got %d requests", n)
	}
}

func errorsAs(err error, target **fault.Error) bool { return errors.As(err, target) }
