package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
)

// pausingTracer holds, once armed, the nth query whose SQL contains match
// until release is closed.
type pausingTracer struct {
	match   string
	nth     int32
	armed   atomic.Bool
	seen    atomic.Int32
	held    chan struct{}
	release chan struct{}
}

func (p *pausingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if p.armed.Load() && strings.Contains(d.SQL, p.match) && p.seen.Add(1) == p.nth {
		close(p.held)
		<-p.release
	}
	return ctx
}

func (p *pausingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A report of a closed month repeats the close's digest (closed_period,
// Tally-Period-Digest) only for figures of that close. Each report reads
// the close, then its figures, then the close again (helper-153's finding:
// the points report read its figures first, so a month closed meanwhile,
// with business dated into it, had the report vouch for figures it did not
// show). Here, between the report's figures and its second read, an admin
// reopens the month, dates 60 points into it and closes it again: the
// report must not come back whole with the first close's digest. The
// points report and the rebate report (no rows: its customers hold no
// money) answer 409 period_busy; the trial balance, whose rows were sent
// already, is cut short.
func TestAReportVouchesOnlyForACloseThatStoodWhileItRead(t *testing.T) {
	for _, report := range []string{"points", "rebates", "trial-balance"} {
		t.Run(report, func(t *testing.T) {
			tr := &pausingTracer{match: "WHERE starts_at <= $1 AND $1 < ends_at", nth: 2, held: make(chan struct{}), release: make(chan struct{})}
			cfg := testdb.Pool(t).Config()
			cfg.ConnConfig.Tracer = tr
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			h := newHarnessOn(t, pool)
			m1, start, end := monthsBack(h.ledger.Now(), 1)
			late := end.Add(-time.Hour)
			h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
			first := adjustment("40", "C1")
			first["effective_at"] = late.Format(time.RFC3339)
			h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: first})
			h.expect(200, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})
			path := "/v1/reports/" + report + "?from=" + queryTime(start) + "&to=" + queryTime(end)
			if report == "trial-balance" {
				path = "/v1/reports/trial-balance?as_of=" + queryTime(late.Add(30*time.Minute))
			}
			vouched := h.expect(200, call{method: "GET", path: path, key: "finance"})
			if vouched.header.Get("Tally-Period-Digest") == "" {
				t.Fatalf("the report of the closed month %s does not repeat its digest: %s", m1, vouched.body)
			}

			tr.armed.Store(true)
			type answer struct {
				status int
				header http.Header
				body   []byte
				err    error
			}
			got := make(chan answer, 1)
			req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+h.keys["finance"])
			go func() {
				res, err := h.srv.Client().Do(req)
				if err != nil {
					got <- answer{err: err}
					return
				}
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				got <- answer{res.StatusCode, res.Header, body, err}
			}()
			select {
			case <-tr.held: // the report has read its figures; it is about to read the close again
			case a := <-got:
				t.Fatalf("the report answered %d without reading the close after its figures:\n%.300s", a.status, a.body)
			}
			tr.armed.Store(false)
			h.expect(200, call{method: "POST", path: "/v1/periods/" + m1 + "/reopen", key: "admin", body: map[string]any{"reason": "late invoices"}})
			second := adjustment("60", "C1")
			second["effective_at"] = late.Add(time.Minute).Format(time.RFC3339)
			h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: second})
			h.expect(200, call{method: "POST", path: "/v1/periods/" + m1 + "/close", key: "finance"})
			close(tr.release)
			a := <-got
			switch {
			case a.err != nil:
				if report != "trial-balance" {
					t.Errorf("the %s report was cut short (%v); want 409 period_busy", report, a.err)
				}
			case a.status == 409:
				h.validate(req, nil, false, response{a.status, a.header, a.body})
				var p map[string]any
				if json.Unmarshal(a.body, &p) != nil || p["code"] != "period_busy" {
					t.Errorf("409 %s, want period_busy", a.body)
				}
			default:
				t.Errorf("the %s report answered %d whole, vouching for a close reopened while it read:\n%.600s", report, a.status, a.body)
			}
		})
	}
}
