package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// reconcile passes on books that pass, and otherwise answers an error
// naming each failing check with its offenders, or the refusal.
func TestReconcileNamesTheFailingChecks(t *testing.T) {
	answer := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/reconciliation" || r.Header.Get("Authorization") != "Bearer admin" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	c := newClient(srv.URL, "admin", "partner", "finance")
	answer = `{"pass":true,"checks":[{"name":"entries_balance","pass":true,"offending":[]}]}`
	if err := c.reconcile(); err != nil {
		t.Errorf("books that pass: %v", err)
	}
	answer = `{"pass":false,"checks":[{"name":"entries_balance","pass":true,"offending":[]},
{"name":"never_below_zero_by_date","pass":false,"offending":["customer:C1:prepaid 2026-03-01T00:00:00.000000Z"]}]}`
	err := c.reconcile()
	if err == nil || !strings.Contains(err.Error(), "never_below_zero_by_date [customer:C1:prepaid 2026-03-01T00:00:00.000000Z]") ||
		strings.Contains(err.Error(), "entries_balance") {
		t.Errorf("books that fail: %v, want the failing check and its offender only", err)
	}
	if err := newClient(srv.URL, "other", "partner", "finance").reconcile(); err == nil {
		t.Error("a refused reconciliation passed")
	}
}
