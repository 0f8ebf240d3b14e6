package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// problem answers a problem document as the service does.
func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"urn:tally:problem:%s","title":"t","status":%d,"detail":"d","code":%q}`, code, status, code)
}

// fakeAnswers serves fixed answers by path, and checks that writes carry
// the partner key and reads the finance key.
func fakeAnswers(t *testing.T) *client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "Bearer partner"
		if r.Method == http.MethodGet {
			want = "Bearer finance"
		}
		if got := r.Header.Get("Authorization"); got != want {
			problem(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		switch r.URL.Path {
		case "/created":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{}`))
		case "/refused":
			problem(w, http.StatusUnprocessableEntity, "insufficient_funds")
		case "/broken":
			problem(w, http.StatusInternalServerError, "internal")
		case "/batch":
			// Events 0 and 2 succeed, 1 is refused, 3 is not in the answer.
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"results":[{"index":0,"status":201,"replayed":false,"result":{}},` +
				`{"index":1,"status":422,"replayed":false,"problem":{"code":"invalid_amount","status":422}},` +
				`{"index":2,"status":201,"replayed":true,"result":{}}]}`))
		case "/batch-refused":
			problem(w, http.StatusRequestEntityTooLarge, "body_too_large")
		default:
			problem(w, http.StatusNotFound, "not_found")
		}
	}))
	t.Cleanup(srv.Close)
	return newClient(srv.URL, "admin", "partner", "finance")
}

func TestSendCountsOnlySuccessesAsDone(t *testing.T) {
	c := fakeAnswers(t)
	cases := []struct {
		name    string
		req     request
		ok      int
		failed  []failure
		success bool
	}{
		{"Created", request{method: "POST", path: "/created"}, 1, nil, true},
		{"ReadWithFinanceKey", request{method: "GET", path: "/created"}, 1, nil, true},
		{"Refused4xx", request{method: "POST", path: "/refused"}, 0, []failure{{"422 insufficient_funds", 1}}, false},
		{"Failed5xx", request{method: "POST", path: "/broken"}, 0, []failure{{"500 internal", 1}}, false},
		{"WrongKey", request{method: "POST", path: "/created", key: "wrong"}, 0, []failure{{"401 unauthorized", 1}}, false},
		{"BatchItemsByStatus", request{method: "POST", path: "/batch", events: 4}, 2,
			[]failure{{"event 422 invalid_amount", 1}, {"event missing from the batch answer", 1}}, true},
		{"BatchRefusedWhole", request{method: "POST", path: "/batch-refused", events: 4}, 0, []failure{{"batch 413 body_too_large", 4}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := c.send(tc.req)
			if a.ok != tc.ok || !slices.Equal(a.failed, tc.failed) || a.success != tc.success {
				t.Errorf("send = ok %d, failed %v, success %v; want ok %d, failed %v, success %v", a.ok, a.failed, a.success, tc.ok, tc.failed, tc.success)
			}
		})
	}
	t.Run("NoAnswer", func(t *testing.T) {
		dead := newClient("http://127.0.0.1:1", "admin", "partner", "finance")
		a := dead.send(request{method: "POST", path: "/created", events: 3})
		if a.ok != 0 || !slices.Equal(a.failed, []failure{{"no answer (connection)", 3}}) {
			t.Errorf("send to a closed port = ok %d, failed %v; want 3 events failed with no answer", a.ok, a.failed)
		}
	})
}

// TestDriveLeavesErrorsOutOfThroughput alternates successes and refusals
// and compares drive's counts with what the server itself answered.
func TestDriveLeavesErrorsOutOfThroughput(t *testing.T) {
	var n, created, refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			refused.Add(1)
			problem(w, http.StatusConflict, "conflict")
			return
		}
		created.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c := newClient(srv.URL, "admin", "partner", "finance")
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m := drive("test", c, &server{cmd: &exec.Cmd{Process: self}}, 4, 200*time.Millisecond, func(*rand.Rand) request {
		return request{path: "/v1/events", body: map[string]any{"a": 1}}
	})
	if refused.Load() == 0 {
		t.Fatal("the server refused nothing: the test proves nothing")
	}
	if m.ok != created.Load() || m.failed() != refused.Load() || m.failures["409 conflict"] != refused.Load() {
		t.Errorf("drive counted %d done and %v failed; the server created %d and refused %d with 409 conflict", m.ok, m.failures, created.Load(), refused.Load())
	}
	if m.unit != "requests/s" || m.peakRSS <= 0 {
		t.Errorf("unit %q, peak RSS %d kB; want requests/s and the process's RSS", m.unit, m.peakRSS)
	}
}

// counting is a test server whose handler also gets the number of the
// request it answers (from 1), and a client of it; seen counts them.
func counting(t *testing.T, handle func(n int64, w http.ResponseWriter, r *http.Request)) (c *client, seen *atomic.Int64, srv *httptest.Server) {
	t.Helper()
	seen = new(atomic.Int64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handle(seen.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return newClient(srv.URL, "admin", "partner", "finance"), seen, srv
}

// hangUp closes the connection of the request w answers, with no more
// written.
func hangUp(w http.ResponseWriter) {
	conn, _, _ := http.NewResponseController(w).Hijack()
	conn.Close()
}

// TestSendTriesAgainOnlyWhatTheServerNeverRead: a keep-alive connection the
// server closed while it was idle is left for a new one, the request sent
// once more; an answer cut short is a failure, never sent again.
func TestSendTriesAgainOnlyWhatTheServerNeverRead(t *testing.T) {
	c, seen, srv := counting(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cut" && n > 1 {
			// Promise ten bytes, send three, and close the connection.
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("abc"))
			hangUp(w)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	if a := c.send(request{method: "POST", path: "/ok"}); !a.success {
		t.Fatalf("first request: %v", a.failed)
	}
	srv.CloseClientConnections() // the idle connection the client keeps is gone
	if a := c.send(request{method: "POST", path: "/ok"}); !a.success {
		t.Errorf("a request on a connection the server closed while idle: %v; want it sent again on a new one", a.failed)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the server read %d requests; want 2", n)
	}
	seen.Store(1)
	a := c.send(request{method: "POST", path: "/cut"})
	if a.success || !slices.Equal(a.failed, []failure{{"no answer (connection)", 1}}) {
		t.Errorf("an answer cut short: success %v, failed %v; want one failure", a.success, a.failed)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the server read %d requests of the one whose answer was cut; want it sent once", n-1)
	}
}

// TestSendFollowsTheServerToItsNewAddress: the bench restarts the server
// on a new port and sets the client's base; no request may go to the old
// one over a connection kept from before.
func TestSendFollowsTheServerToItsNewAddress(t *testing.T) {
	created := func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) }
	c, old, _ := counting(t, created)
	_, moved, b := counting(t, created)
	c.send(request{method: "POST", path: "/x"})
	c.base = b.URL
	if got := c.send(request{method: "POST", path: "/x"}); !got.success {
		t.Fatalf("send after the move: %v", got.failed)
	}
	if old.Load() != 1 || moved.Load() != 1 {
		t.Errorf("the old server read %d requests, the new one %d; want 1 each", old.Load(), moved.Load())
	}
}

// TestSendDoesNotSendAgainWhatTheServerRead: on a kept connection, the
// server reads a POST whole and drops the connection before any byte of an
// answer (a crash, a killed process). No byte came, yet the server read
// it: sending it again may do it twice (net/http's Transport does not
// resend a POST it wrote in full).
func TestSendDoesNotSendAgainWhatTheServerRead(t *testing.T) {
	c, seen, _ := counting(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n == 2 {
			hangUp(w)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	c.send(request{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "d1"}})
	a := c.send(request{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "d2"}})
	if n := seen.Load(); n != 2 {
		t.Errorf("the server read the second POST %d times (answer: success %v, failed %v); want once", n-1, a.success, a.failed)
	}
}

// TestSendSkipsInterimAnswers: a 1xx answer (103 Early Hints here) comes
// before the request's real one on the same connection; it is not the
// answer, and the connection must not be kept with the real one unread
// (the next request would take it for its own).
func TestSendSkipsInterimAnswers(t *testing.T) {
	c, _, _ := counting(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Link", "</x>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	if a := c.send(request{method: "POST", path: "/ok"}); !a.success {
		t.Errorf("a 201 after a 103: %v; want a success", a.failed)
	}
	if a := c.send(request{method: "POST", path: "/fail"}); a.success {
		t.Errorf("a 409 on the same connection counted a success (the previous request's answer read for it)")
	}
}
