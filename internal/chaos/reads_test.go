package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/pgdev"
)

// readYourWrites checks the reads from standbys on a healthy replicated
// cluster, the server started with TALLY_READ_DATABASE_URL listing every
// node, TALLY_READ_MAX_LAG=2s and TALLY_READ_WAIT=5s:
//   - a write answers Tally-Consistency-Token; a read presenting it is
//     served by a standby and shows the write;
//   - with replay paused on both standbys, a read without a token is
//     served by a standby and does not show a newer write (reads without a
//     token may be as old as the lag bound), while a read presenting that
//     write's token waits, then is served by the primary and shows it;
//   - a standby whose replay stays paused leaves the rotation once its lag
//     passes the bound (/readyz and /metrics say so, and reads without a
//     token go to the primary), and rejoins it once replay resumes.
func readYourWrites(t *testing.T, c *client, ha *pgdev.HA) {
	ctx := context.Background()
	post := func(points int) string {
		t.Helper()
		h, status, body := exchange(t, c, "POST", "/v1/entries", mustJSON(map[string]any{"reason": "reads from standbys",
			"postings": []map[string]any{
				{"account": "platform:points:earned:adjustment", "amount": fmt.Sprint(-points)},
				{"account": "customer:R1:points", "asset": "PTS", "amount": fmt.Sprint(points)}}}), nil)
		if status != 201 {
			t.Fatalf("entry: %d %s", status, oneLine(body))
		}
		tok := h.Get("Tally-Consistency-Token")
		if !strings.Contains(tok, "/") {
			t.Fatalf("a write answered Tally-Consistency-Token %q, want a WAL position", tok)
		}
		return tok
	}
	balance := func(token string) (points int64, from string) {
		t.Helper()
		var hdr map[string]string
		if token != "" {
			hdr = map[string]string{"Tally-Consistency-Token": token}
		}
		h, status, body := exchange(t, c, "GET", "/v1/customers/R1/balances", nil, hdr)
		var b customerBalances
		if status != 200 || json.Unmarshal(body, &b) != nil {
			t.Fatalf("balances: %d %s", status, oneLine(body))
		}
		return b.Points.Balance, h.Get("Tally-Read-From")
	}
	mustPost(t, c, "/v1/customers", map[string]any{"id": "R1", "name": "R1"})
	// Both standbys are in the primary's quorum (ANY 1 of the two).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, status, body := exchange(t, c, "GET", "/readyz", nil, nil)
		var r struct {
			Sync *int `json:"synchronous_standbys"`
		}
		if status == 200 && json.Unmarshal(body, &r) == nil && r.Sync != nil && *r.Sync == pgdev.HANodes-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s, want synchronous_standbys %d", status, oneLine(body), pgdev.HANodes-1)
		}
	}

	tok := post(100)
	if points, from := balance(tok); points != 100 || from != "standby" {
		t.Errorf("read with the token of a write of 100 points: %d points from %q, want 100 from a standby", points, from)
	}

	standbys := standbyConns(t, ha)
	replay := func(fn string) {
		t.Helper()
		for _, conn := range standbys {
			if _, err := conn.Exec(ctx, "SELECT "+fn+"()"); err != nil {
				t.Fatal(err)
			}
		}
	}
	replay("pg_wal_replay_pause")
	defer replay("pg_wal_replay_resume")
	tok = post(50)
	// At once, while the standbys' lag is within the bound.
	if points, from := balance(""); points != 100 || from != "standby" {
		t.Errorf("read without a token, standbys paused within the lag bound: %d points from %q, want 100 (stale) from a standby", points, from)
	}
	if points, from := balance(tok); points != 150 || from != "primary" {
		t.Errorf("read with the token of a write standbys have not replayed: %d points from %q, want 150 from the primary", points, from)
	}

	rotation := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, status, body := exchange(t, c, "GET", "/readyz", nil, nil)
			var r struct {
				Replicas []struct {
					Name       string  `json:"name"`
					InRotation bool    `json:"in_rotation"`
					LagSeconds float64 `json:"lag_seconds"`
				} `json:"replicas"`
			}
			if status != 200 || json.Unmarshal(body, &r) != nil || len(r.Replicas) != pgdev.HANodes {
				t.Fatalf("/readyz: %d %s, want the %d nodes as replicas", status, oneLine(body), pgdev.HANodes)
			}
			in := 0
			for _, x := range r.Replicas {
				if x.InRotation {
					in++
				}
			}
			if (want && in == pgdev.HANodes-1) || (!want && in == 0) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %s, want every standby %s the rotation", oneLine(body), map[bool]string{true: "in", false: "out of"}[want])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	post(1) // the primary moves on; the paused standbys' lag grows from here
	rotation(false)
	if points, from := balance(""); points != 151 || from != "primary" {
		t.Errorf("read without a token, every standby out of rotation: %d points from %q, want 151 from the primary", points, from)
	}
	_, _, metrics := exchange(t, c, "GET", "/metrics", nil, nil)
	if n := strings.Count(string(metrics), "tally_replica_in_rotation{replica="); n != pgdev.HANodes {
		t.Errorf("/metrics has %d tally_replica_in_rotation series, want %d", n, pgdev.HANodes)
	}
	if strings.Contains(string(metrics), "} 1\ntally_replica_in_rotation") || !strings.Contains(string(metrics), "tally_replica_lag_seconds{") {
		t.Errorf("/metrics: a standby in rotation while paused, or no lag: %s", metrics)
	}
	replay("pg_wal_replay_resume")
	rotation(true)
	if points, from := balance(""); points != 151 || from != "standby" {
		t.Errorf("read without a token once replay resumed: %d points from %q, want 151 from a standby", points, from)
	}
}

// standbyConns connects to each standby of the cluster now.
func standbyConns(t *testing.T, ha *pgdev.HA) []*pgx.Conn {
	ctx := context.Background()
	nodes, err := ha.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*pgx.Conn
	for _, n := range nodes {
		if n.Reported != "secondary" {
			continue
		}
		conn, err := pgx.Connect(ctx, ha.NodeURL(n.Port, "tally"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		out = append(out, conn)
	}
	if len(out) != pgdev.HANodes-1 {
		t.Fatalf("%d standbys, want %d: %+v", len(out), pgdev.HANodes-1, nodes)
	}
	return out
}

// exchange is one request with the admin key and its answer's headers.
func exchange(t *testing.T, c *client, method, path string, body []byte, header map[string]string) (http.Header, int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.Header, res.StatusCode, out
}
