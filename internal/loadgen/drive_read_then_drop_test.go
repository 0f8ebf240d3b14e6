package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestSendDoesNotSendAgainWhatTheServerRead: on a kept connection, the
// server reads a POST whole and drops the connection before any byte of an
// answer (a crash, a killed process). No byte came, yet the server read
// it: sending it again may do it twice (net/http's Transport does not
// resend a POST it wrote in full).
func TestSendDoesNotSendAgainWhatTheServerRead(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if seen.Add(1) == 2 {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c := newClient(srv.URL, "admin", "partner", "finance")
	c.send(request{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "d1"}})
	a := c.send(request{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "d2"}})
	if n := seen.Load(); n != 2 {
		t.Errorf("the server read the second POST %d times (answer: success %v, failed %v); want once", n-1, a.success, a.failed)
	}
}
