package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// written is what a path wrote to one table: rows inserted, and rows
// updated (a row updated once counts once).
type written struct{ inserted, updated int64 }

// writtenBy runs f and answers, for every table of the database, the rows
// f's transactions inserted and updated: inserted by count(*) before and
// after (these paths delete nothing), updated as the rows whose current
// version a transaction begun after the start wrote, less those inserted.
// A lock (SELECT FOR UPDATE) writes no version and counts nowhere.
func writtenBy(t *testing.T, ctx context.Context, conn *pgx.Conn, f func()) map[string]written {
	t.Helper()
	tables, err := pgx.CollectRows(must(conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)), pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	counts := func() map[string]int64 {
		out := map[string]int64{}
		for _, table := range tables {
			var n int64
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	var from int64 // the first transaction id f can take
	if err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	before := counts()
	f()
	after := counts()
	out := map[string]written{}
	for _, table := range tables {
		var versions int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()+` WHERE xmin::text::bigint >= $1`, from).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if w := (written{after[table] - before[table], versions - (after[table] - before[table])}); w != (written{}) {
			out[table] = w
		}
	}
	return out
}

func must(rows pgx.Rows, err error) pgx.Rows {
	if err != nil {
		panic(err)
	}
	return rows
}

// TestLimitWritesTheRowsOfTheRealPath: a group of shipment events written
// by the limit's SQL writes, table by table, as many rows inserted and
// updated as the same group (the same number of events per customer, the
// same amounts) written by the service and sealed into the chain, on the
// same database. A change to the rows an event writes on either side
// fails it, so that the limit cannot drift from the real path unnoticed.
func TestLimitWritesTheRowsOfTheRealPath(t *testing.T) {
	// One writer: the service's group is then one transaction, as the
	// limit's is.
	e := servicetest.NewWith(t, servicetest.Config{Loyalty: []loyalty.Option{loyalty.WithEventWriters(1)}})
	ctx := e.Ctx
	at := servicetest.Start.Add(-time.Minute)
	for _, id := range []string{"W", "R1", "R2", "R3", "Q1", "Q2", "Q3"} {
		e.Customer(id)
	}
	// The platform's account exists once a first event has earned, and
	// every one of its balance buckets has its row: each path then updates
	// one bucket, whichever it takes.
	e.Ship("W", "SW", "10.00", at)
	if _, err := e.Pool.Exec(ctx, `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, g, true, 0 FROM accounts a, generate_series(0, $1::int - 1) g WHERE a.code = 'platform:points:earned:volume'
ON CONFLICT DO NOTHING`, ledger.DefaultHotBuckets); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ledger.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	// Nine events over three customers, a customer's several in one group;
	// no customer's month reaches the next tier level (100.00), so that no
	// shipment announces a tier change, which the limit does not write.
	of := []int{1, 2, 1, 3, 1, 2, 3, 1, 2}
	amounts := []string{"10.00", "20.50", "7.25", "30.00", "12.99", "1.01", "45.50", "3.00", "9.99"}
	conn, err := pgx.Connect(ctx, e.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	real := writtenBy(t, ctx, conn, func() {
		var evs []loyalty.Event
		for i, c := range of {
			evs = append(evs, e.Event(loyalty.ShipmentCompleted, fmt.Sprintf("R%d", c), fmt.Sprintf("SR%d", i), amounts[i], at))
		}
		for i, o := range e.ProcessBatch(e.Key, evs) {
			if o.Err != nil || o.Replayed {
				t.Fatalf("event %d: %v (replayed %v)", i, o.Err, o.Replayed)
			}
		}
		if n, err := e.Ledger.SealAll(ctx); err != nil || n != len(evs) {
			t.Fatalf("sealed %d entries (%v), want %d", n, err, len(evs))
		}
	})

	lr, err := openLimit(ctx, e.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	if lr.keyID != e.KeyID || lr.space != e.Key.Space() {
		t.Fatalf("the limit writes as key %d in space %q, want the partner key %d in %q", lr.keyID, lr.space, e.KeyID, e.Key.Space())
	}
	limit := writtenBy(t, ctx, conn, func() {
		g := limitGroup{at: at}
		for i, c := range of {
			g.events = append(g.events, fmt.Sprintf("lim-%d", i))
			g.customers = append(g.customers, fmt.Sprintf("Q%d", c))
			g.shipments = append(g.shipments, fmt.Sprintf("SQ%d", i))
			g.amounts = append(g.amounts, amounts[i])
		}
		if err := lr.write(ctx, conn, g, 7, servicetest.Start); err != nil {
			t.Fatal(err)
		}
	})

	if len(real) < 8 {
		t.Fatalf("the service wrote only %v: the comparison proves nothing", real)
	}
	tables := maps.Clone(real)
	maps.Copy(tables, limit)
	for _, table := range slices.Sorted(maps.Keys(tables)) {
		if real[table] != limit[table] {
			t.Errorf("%s: the service wrote %d rows and updated %d; the limit wrote %d and updated %d",
				table, real[table].inserted, real[table].updated, limit[table].inserted, limit[table].updated)
		}
	}
	t.Logf("rows written by a group of %d events, each way: %v", len(of), real)
	e.Reconcile()
}

// TestLimitClientsOwnTheirCustomers: each of the limit's clients writes
// only for its own share of the customers (number modulo clients), all of
// them within the customers setup made, so that no two groups in flight
// lock the same customer.
func TestLimitClientsOwnTheirCustomers(t *testing.T) {
	const customers, clients = 10, 4
	seen := map[string]int{}
	for w := range clients {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		g := newLimitGroup(r, 200, customers, w, clients, time.Now())
		if len(g.events) != 200 || len(g.customers) != 200 || len(g.shipments) != 200 || len(g.amounts) != 200 {
			t.Fatalf("client %d: a group of %d events, %d customers, %d shipments, %d amounts; want 200 each",
				w, len(g.events), len(g.customers), len(g.shipments), len(g.amounts))
		}
		for _, c := range g.customers {
			var n int
			if _, err := fmt.Sscanf(c, "B%05d", &n); err != nil || n < 0 || n >= customers || n%clients != w {
				t.Fatalf("client %d wrote for customer %s", w, c)
			}
			seen[c]++
		}
	}
	if len(seen) != customers {
		t.Errorf("the clients wrote for %d customers of %d: %v", len(seen), customers, seen)
	}
}
