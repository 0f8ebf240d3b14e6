package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestSendSkipsInterimAnswers: a 1xx answer (103 Early Hints here) comes
// before the request's real one on the same connection; it is not the
// answer, and the connection must not be kept with the real one unread
// (the next request would take it for its own).
func TestSendSkipsInterimAnswers(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 1 {
			w.Header().Set("Link", "</x>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c := newClient(srv.URL, "admin", "partner", "finance")
	if a := c.send(request{method: "POST", path: "/ok"}); !a.success {
		t.Errorf("a 201 after a 103: %v; want a success", a.failed)
	}
	if a := c.send(request{method: "POST", path: "/fail"}); a.success {
		t.Errorf("a 409 on the same connection counted a success (the previous request's answer read for it)")
	}
}
