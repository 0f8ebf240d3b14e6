package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/replica"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestAStandbyBehindTheCursorLeavesThePageToThePrimary: a client pages a
// customer's statement; its first page came from a node that had replayed
// more (the primary, or another standby in rotation), and the next one
// is asked of a standby in rotation that has not replayed that far yet.
// The cursor names an entry that standby does not hold: it refused it as
// "not a cursor of this statement" (422), a cursor the API itself handed
// out. A refusal a standby may give only for being behind (a cursor, a
// customer or a resource it does not hold yet) is answered by the
// primary. On a cluster of the test's own with a real streaming standby,
// its replay paused; its commits are asynchronous (synchronous_commit
// off), so a write's token must cover its commit record though the WAL is
// not flushed yet when it is answered.
func TestAStandbyBehindTheCursorLeavesThePageToThePrimary(t *testing.T) {
	ctx := context.Background()
	c, url := testdb.OwnCluster(t, "pgbehind", pgdev.Options{Fast: true}, true)
	sbURL := testdb.OwnStandby(t, c)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sbPool, err := pgxpool.New(ctx, sbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sbPool.Close)

	l := ledger.New(pool)
	cfg := wired(pool, l)
	// A lag bound the paused standby stays within for the test's length.
	set := replica.New(pool, []*pgxpool.Pool{sbPool}, time.Hour, 100*time.Millisecond)
	sl := ledger.New(sbPool)
	sc := loyalty.New(sbPool, sl)
	sm := prepaid.New(sl, sc)
	cfg.Reads = &Reads{Set: set, Services: []Services{{Ledger: sl, Loyalty: sc, Catalog: catalog.New(sbPool, sl, sc),
		Prepaid: sm, Finance: finance.New(sl, sc, sm)}}}
	wctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go set.Watch(wctx, 50*time.Millisecond)
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	admin, _, err := l.CreateKey(ctx, "admin", ledger.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, token, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set(ConsistencyHeader, token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res, []byte(b.String())
	}
	entry := func(points int) string {
		t.Helper()
		res, body := do("POST", "/v1/entries", "", fmt.Sprintf(`{"reason":"r","postings":[`+
			`{"account":"platform:points:earned:adjustment","amount":"-%d"},{"account":"customer:P1:points","asset":"PTS","amount":"%d"}]}`, points, points))
		if res.StatusCode != 201 {
			t.Fatalf("entry: %d %s", res.StatusCode, body)
		}
		return res.Header.Get(ConsistencyHeader)
	}
	if res, body := do("POST", "/v1/customers", "", `{"id":"P1","name":"P"}`); res.StatusCode != 201 {
		t.Fatalf("customer: %d %s", res.StatusCode, body)
	}
	var token string
	for i := 1; i <= 4; i++ {
		token = entry(i)
	}
	// The standby replays the first four entries, then stops.
	lsn, err := replica.ParseLSN(token)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var text string
		if err := sbPool.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if at, err := replica.ParseLSN(text); err == nil && at >= lsn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby does not replay")
		}
	}
	if _, err := sbPool.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sbPool.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) })
	for i := 5; i <= 10; i++ {
		token = entry(i)
	}

	type page struct {
		Entries []struct {
			Movements []struct {
				Amount string `json:"amount"`
			} `json:"movements"`
		} `json:"entries"`
		NextCursor *string `json:"next_cursor"`
	}
	read := func(token, cursor string) (page, string) {
		t.Helper()
		path := "/v1/customers/P1/statement?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res, body := do("GET", path, token, "")
		if res.StatusCode != 200 {
			t.Fatalf("GET %s (from %s): %d %s", path, res.Header.Get(readFromHeader), res.StatusCode, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		var amounts []string
		for _, e := range p.Entries {
			amounts = append(amounts, e.Movements[0].Amount)
		}
		return p, strings.Join(amounts, ",")
	}
	// The first page with the last write's token: the primary, as the
	// standby has not replayed it.
	first, got := read(token, "")
	if got != "10,9,8" || first.NextCursor == nil {
		t.Fatalf("first page %s, want 10,9,8 and a next cursor", got)
	}
	// The next page without a token: the standby in rotation, behind.
	if _, got := read("", *first.NextCursor); got != "7,6,5" {
		t.Errorf("second page %s, want 7,6,5", got)
	}
}
