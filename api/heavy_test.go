package api

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/turns"
)

// While every turn of the heavy reads is taken (here by the test, as by
// reports whose clients never read their answers), another report waits
// for one, then is answered 503 reports_busy with Retry-After, reading
// nothing; balances and writes go on meanwhile, on the connections the
// turns leave free. A turn given back lets the next one run.
func TestHeavyReadsTakeTurnsAndLeaveTheRestServed(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	var releases []func()
	for range turns.Reads {
		release, err := h.server.turns.Take(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	start := time.Now()
	busy := h.do(call{method: "GET", path: "/v1/reports/trial-balance", key: "finance"})
	wantProblem(t, busy, 503, fault.ReportsBusy)
	if busy.header.Get("Retry-After") == "" {
		t.Error("a busy report has no Retry-After")
	}
	if waited := time.Since(start); waited < turns.Wait {
		t.Errorf("answered busy after %s, want a wait of %s for a turn first", waited, turns.Wait)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reconciliation", key: "finance"}), 503, fault.ReportsBusy)
	// An expiry preview reads every customer's lots: it takes a turn too.
	wantProblem(t, h.do(call{method: "POST", path: "/v1/jobs/expire?dry_run=true&as_of=2998-01-01T00:00:00Z", key: "admin"}), 503, fault.ReportsBusy)

	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "10.00"}})

	// A turn given back while a report waits lets it run.
	done := make(chan response)
	go func() { done <- h.do(call{method: "GET", path: "/v1/reports/trial-balance", key: "finance"}) }()
	time.Sleep(100 * time.Millisecond)
	releases[0]()
	wantStatus(t, <-done, 200)
	for _, release := range releases[1:] {
		release()
	}
}

// Every heavy read gives its turn back, answered or refused: many more of
// them than there are turns, some at once, all answer.
func TestHeavyReadsGiveTheirTurnsBack(t *testing.T) {
	h := newHarness(t)
	paths := []string{"/v1/reports/trial-balance", "/v1/reports/trial-balance?format=csv", "/v1/reconciliation",
		"/v1/audit/verify", "/v1/reports/points?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
		"/v1/reports/trial-balance?as_of=yesterday", "POST /v1/jobs/expire?dry_run=true&as_of=2998-01-01T00:00:00Z"}
	var wg sync.WaitGroup
	for round := range 3 * turns.Reads {
		wg.Go(func() {
			path := paths[round%len(paths)]
			cl := call{method: "GET", path: path, key: "finance", invalid: strings.Contains(path, "yesterday")}
			if p, ok := strings.CutPrefix(path, "POST "); ok {
				cl = call{method: "POST", path: p, key: "admin"}
			}
			r := h.do(cl)
			if r.status == 503 {
				t.Errorf("%s: 503 %s", path, r.body)
			}
		})
	}
	wg.Wait()
	if n := h.server.turns.Held(); n != 0 {
		t.Errorf("%d turns still taken after every heavy read answered", n)
	}
}

// A close and a closed month's status read the whole books (the close
// reconciles, then reads the month's figures; the status renders them
// again): they take the heavy reads' turns. Without them, a finance key
// sending such requests at once held every connection of the pool for as
// long as each read the books, and partners' events waited for one. While
// every turn is taken each waits, then is answered 503 reports_busy; a
// month that cannot close is refused for that once it has a turn, without
// the reconciliation.
func TestPeriodsTakeTheHeavyReadsTurns(t *testing.T) {
	h := newHarness(t)
	now := h.ledger.Now()
	m1, _, _ := monthsBack(now, 1)
	m0, _, _ := monthsBack(now, 0)
	var releases []func()
	for range turns.Reads {
		release, err := h.server.turns.Take(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	calls := []call{{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"},
		{method: "GET", path: "/v1/periods/" + m1, key: "finance"}}
	answers := make([]response, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { answers[i] = h.do(c) })
	}
	wg.Wait()
	for i, r := range answers {
		if r.status != 503 {
			t.Errorf("%s %s with every turn taken: %d %s, want 503 reports_busy", calls[i].method, calls[i].path, r.status, r.body)
			continue
		}
		wantProblem(t, r, 503, fault.ReportsBusy)
	}
	for _, release := range releases {
		release()
	}
	h.expect(200, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})
	h.expect(200, call{method: "GET", path: "/v1/periods/" + m1, key: "finance"})
	wantProblem(t, h.do(call{method: "POST", path: "/v1/periods/" + m0 + "/close", key: "finance"}), 422, fault.PeriodNotEnded)
	if n := h.server.turns.Held(); n != 0 {
		t.Errorf("%d turns still taken after the periods answered", n)
	}
}
