package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestConsoleReportsAreReadWhereTheChooserSays: with standbys configured,
// a console report is read with the finance service the chooser gives (a
// standby's), with the primary's when it gives none, and again with the
// primary's when the standby it gave is gone; Tally-Read-From says which.
// The "standby" here is another database with other books, so the page
// shows which one it read.
func TestConsoleReportsAreReadWhereTheChooserSays(t *testing.T) {
	standby := servicetest.New(t)
	standby.Customer("C9")
	standby.MoneyAt(t, prepaid.Deposit, "D-9", "C9", "2000.00", march(13, 9)) // 2,000 earns 2%: 40.00

	dead, err := pgxpool.New(context.Background(), "postgres://tally@127.0.0.1:1/gone?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	dl := ledger.New(dead)
	dc := loyalty.New(dead, dl)
	gone := finance.New(dl, dc, prepaid.New(dl, dc))

	var choice atomic.Value // "standby", "none" or "gone"
	choice.Store("standby")
	s := newSiteOn(t, httptest.NewUnstartedServer, false, func(context.Context) *finance.Service {
		switch choice.Load() {
		case "standby":
			return standby.Finance
		case "gone":
			return gone
		}
		return nil
	})
	s.history(t) // the primary's books: C1's deposits earn 493.82 and 40.00
	c, _ := s.consoleSignedIn(t, "finance")
	for _, tc := range []struct {
		choice, from, has, hasNot string
	}{
		{"standby", "standby", "C9", "C1"},
		{"none", "primary", "C1", "C9"},
		{"gone", "primary", "C1", "C9"},
	} {
		choice.Store(tc.choice)
		p := get(t, c, s.srv.URL+"/console/rebates?from=2026-03&to=2026-03")
		if p.status != http.StatusOK || p.header.Get("Tally-Read-From") != tc.from ||
			!strings.Contains(p.body, ">"+tc.has+"<") || strings.Contains(p.body, ">"+tc.hasNot+"<") {
			t.Errorf("chooser %s: %d, read from %q, want 200 from %s showing %s and not %s", tc.choice, p.status,
				p.header.Get("Tally-Read-From"), tc.from, tc.has, tc.hasNot)
		}
	}
}
