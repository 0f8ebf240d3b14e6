package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestFootprintCountsRowsAndIndexEntries: rows written between two quiet
// snapshots are counted on their table alone, and their index entries are
// one per index for each row, but for a partial index only the rows that
// meet its predicate, and none for an update in place (HOT).
func TestFootprintCountsRowsAndIndexEntries(t *testing.T) {
	ctx := context.Background()
	env := &bench{url: testdb.New(t)}
	exec := func(q string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, env.url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		// The backend flushes its counts as it exits.
		if err := env.waitAlone(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO webhook_endpoints (url, types, secret, created_at, updated_at)
VALUES ('https://example.com/hook', '{points.earned}', 'whsec_test', now(), now())`)
	// A table whose rows are updated in place (HOT): the updates meet its
	// partial index's predicate, and enter no index.
	exec(`CREATE TABLE hot_rows (id int PRIMARY KEY, n int NOT NULL, open boolean NOT NULL) WITH (fillfactor = 50);
CREATE INDEX hot_rows_open ON hot_rows (id) WHERE open;
INSERT INTO hot_rows VALUES (1, 0, true), (2, 0, true), (3, 0, false);
CREATE INDEX webhook_deliveries_brin ON webhook_deliveries USING brin (id)`)
	before, err := env.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Three deliveries, two of them pending, none leased: webhook_deliveries
	// has a primary key, a unique (endpoint, notification), three indexes of
	// the pending deliveries only and one of the leased pending ones.
	exec(`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, status, created_at, next_attempt_at, deliver_by)
SELECT (SELECT id FROM webhook_endpoints), n, '1', s, now(), now(), now() + interval '1 day'
FROM (VALUES (1, 'pending'), (2, 'delivered'), (3, 'pending')) AS v (n, s);
UPDATE hot_rows SET n = n + 1`)
	after, err := env.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.lsn <= before.lsn || after.xmax <= before.xmax {
		t.Errorf("WAL %d to %d, transactions %d to %d: neither moved on", before.lsn, after.lsn, before.xmax, after.xmax)
	}
	var tables []tableFootprint
	err = env.query(ctx, func(conn *pgx.Conn) error {
		tables, err = tableFootprints(ctx, conn, before, after)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Fatalf("tables written: %+v; want webhook_deliveries and hot_rows", tables)
	}
	hot, got := tables[0], tables[1] // by rows written, then by name
	if hot.table != "hot_rows" || hot.inserted != 0 || hot.updated != 3 || hot.hot != 3 || hot.indexes != 2 || hot.indexEntries != 0 {
		t.Errorf("footprint %+v; want hot_rows: 3 rows updated, all HOT, 2 indexes, no index entry", hot)
	}
	if got.table != "webhook_deliveries" || got.inserted != 3 || got.updated != 0 || got.indexes != 7 || got.partialIndexes != 4 ||
		got.brinIndexes != 1 || got.indexEntries != 3+3+2+2+2+0 || got.heapBytes <= 0 {
		t.Errorf("footprint %+v; want webhook_deliveries: 3 rows inserted, 7 indexes (4 partial, 1 BRIN), 12 index entries, heap grown", got)
	}
}

// TestFootprintTableIsPerEvent: the footprint's table divides every count
// by the events, and its total sums the tables.
func TestFootprintTableIsPerEvent(t *testing.T) {
	rep := &report{footprint: &footprint{events: 1000, clients: 4, walBytes: 4_900_000, tables: []tableFootprint{
		{table: "postings", inserted: 2000, indexEntries: 12000, heapBytes: 170_000, indexBytes: 500_000, indexes: 7, partialIndexes: 1, brinIndexes: 1},
		{table: "balance_buckets", updated: 600, hot: 400, indexEntries: 200, indexBytes: 3000, indexes: 1},
	}}}
	var b strings.Builder
	rep.renderFootprint(&b)
	for _, want := range []string{
		"| postings | 2.000 | 0.000 (0.000) | 7 (1 partial, 1 BRIN) | 12.000 | 170 | 500 |",
		"| balance_buckets | 0.600 | 0.600 (0.400) | 1 | 0.200 | 0 | 3 |",
		"| **total** | **2.600** | | | **12.200** | **170** | **503** |",
		"WAL per event: **4900 bytes** over these events",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("footprint lacks %q:\n%s", want, b.String())
		}
	}
}
