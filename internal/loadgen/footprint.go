package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
)

// The footprint of a shipment event: what the events of footprintBatches
// of scenario 3's batches, posted to the server by scenario 3's clients
// after the runs, wrote to each table of the service's database. It is
// read from the database's own counters between two quiet moments, when no
// connection is open to the service's database: the server stopped, and
// the chain sealed up to the last entry (by ledger.SealAll, the sealer the
// server runs), so that every backend that wrote has exited and flushed
// its counts to pg_stat_user_tables.
const footprintBatches = 16

// tableFootprint is what one table gained over the footprint's events.
type tableFootprint struct {
	table                                string
	inserted, updated, hot               int64
	indexEntries                         int64
	heapBytes, indexBytes                int64
	indexes, partialIndexes, brinIndexes int
}

// footprint is the footprint's measure: its events and what each table
// gained.
type footprint struct {
	events   int64
	clients  int
	tables   []tableFootprint // by rows written, the most first
	walBytes int64
}

// tableStats are one table's counters and sizes at a moment.
type tableStats struct{ ins, upd, hot, heap, index int64 }

// statsSnapshot is the database's tables at a quiet moment.
type statsSnapshot struct {
	tables map[string]tableStats
	xmax   int64 // the first transaction id not yet begun
	lsn    int64 // the WAL written so far, in bytes
}

// walNow is the cluster's WAL position, in bytes.
func (env *bench) walNow(ctx context.Context) (int64, error) {
	var lsn int64
	err := env.query(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&lsn)
	})
	return lsn, err
}

// quiesce stops the server, seals the chain as its sealer would, and
// waits until no other client is connected to the service's database:
// every backend that wrote has then exited, and flushed its counts.
func (env *bench) quiesce(ctx context.Context) error {
	env.srv.stop()
	pool, err := pgxpool.New(ctx, env.url)
	if err != nil {
		return err
	}
	err = sealEverything(ctx, ledger.New(pool))
	pool.Close()
	if err != nil {
		return err
	}
	return env.waitAlone(ctx)
}

// sealEverything seals until no committed entry is left unlinked. SealAll
// stops at the horizon (the oldest transaction still in flight, of any
// database of the cluster: a backend of the stopped server still exiting,
// autovacuum), and what it leaves would be linked inside the window
// measured next, its links counted as that window's rows.
func sealEverything(ctx context.Context, l *ledger.Ledger) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := l.SealAll(ctx); err != nil {
			return fmt.Errorf("sealing the chain: %w", err)
		}
		h, err := l.Head(ctx)
		if err != nil {
			return fmt.Errorf("reading the chain's head: %w", err)
		}
		if h == nil || h.Unsealed == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d committed entries still unsealed a minute after the server stopped", h.Unsealed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAlone waits until no other client is connected to the service's
// database (once the server has stopped, its backends exit).
func (env *bench) waitAlone(ctx context.Context) error {
	return env.query(ctx, func(conn *pgx.Conn) error {
		deadline := time.Now().Add(time.Minute)
		for {
			var others int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d connections to the service's database still open a minute after the server stopped", others)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// snapshot reads every table's counters and sizes, the next transaction
// id and the WAL position.
func (env *bench) snapshot(ctx context.Context) (statsSnapshot, error) {
	s := statsSnapshot{tables: map[string]tableStats{}}
	err := env.query(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT s.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd,
    pg_relation_size(s.relid) + coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_indexes_size(s.relid)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid`)
		if err != nil {
			return err
		}
		var name string
		var t tableStats
		if _, err := pgx.ForEachRow(rows, []any{&name, &t.ins, &t.upd, &t.hot, &t.heap, &t.index}, func() error {
			s.tables[name] = t
			return nil
		}); err != nil {
			return err
		}
		return conn.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).
			Scan(&s.xmax, &s.lsn)
	})
	return s, err
}

// footprintPass posts footprintBatches of scenario 3's batches from
// scenario 3's clients between two quiet moments, and measures what they
// wrote. The server serves again afterwards.
func footprintPass(ctx context.Context, env *bench) (footprint, error) {
	var s3 scenario
	for _, s := range scenarios() {
		if s.n == 3 {
			s3 = s
		}
	}
	logf("footprint: %d batches of %d events from %d clients, between two quiet moments", footprintBatches, batchSize, s3.clients)
	fp := footprint{clients: s3.clients}
	if err := env.quiesce(ctx); err != nil {
		return fp, err
	}
	before, err := env.snapshot(ctx)
	if err != nil {
		return fp, err
	}
	if env.srv, err = startServer(env.url); err != nil {
		return fp, err
	}
	env.client.base = "http://" + env.srv.addr
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		work     = make(chan int, footprintBatches)
	)
	for i := range footprintBatches {
		work <- i
	}
	close(work)
	for range s3.clients {
		wg.Go(func() {
			for i := range work {
				req := s3.next(rand.New(rand.NewPCG(uint64(i), 7)))
				req.method = "POST"
				a := env.client.send(req)
				mu.Lock()
				fp.events += int64(a.ok)
				for _, f := range a.failed {
					failures = append(failures, fmt.Sprintf("%s ×%d", f.kind, f.n))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		return fp, fmt.Errorf("footprint: events failed: %s", strings.Join(failures, ", "))
	}
	if err := env.quiesce(ctx); err != nil {
		return fp, err
	}
	after, err := env.snapshot(ctx)
	if err != nil {
		return fp, err
	}
	if env.srv, err = startServer(env.url); err != nil {
		return fp, err
	}
	env.client.base = "http://" + env.srv.addr
	fp.walBytes = after.lsn - before.lsn
	err = env.query(ctx, func(conn *pgx.Conn) error {
		fp.tables, err = tableFootprints(ctx, conn, before, after)
		return err
	})
	return fp, err
}

// tableFootprints is what each table that changed gained between the two
// snapshots. Index entries: a row inserted enters every index whose
// predicate it meets, an update that is not HOT every index; a partial
// index's entries are counted as the rows written between the snapshots
// that meet its predicate, at most the rows inserted and the updates that
// are not HOT (a HOT update meets it and enters no index). A BRIN index
// enters none: it summarises ranges of pages.
func tableFootprints(ctx context.Context, conn *pgx.Conn, before, after statsSnapshot) ([]tableFootprint, error) {
	type index struct {
		table, predicate string
		brin             bool
	}
	rows, err := conn.Query(ctx, `SELECT t.relname, coalesce(pg_get_expr(i.indpred, i.indrelid), ''), am.amname = 'brin'
FROM pg_index i JOIN pg_stat_user_tables t ON t.relid = i.indrelid
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	var indexes []index
	var ix index
	if _, err := pgx.ForEachRow(rows, []any{&ix.table, &ix.predicate, &ix.brin}, func() error {
		indexes = append(indexes, ix)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []tableFootprint
	for name, a := range after.tables {
		b := before.tables[name]
		t := tableFootprint{table: name, inserted: a.ins - b.ins, updated: a.upd - b.upd, hot: a.hot - b.hot,
			heapBytes: a.heap - b.heap, indexBytes: a.index - b.index}
		if t.inserted == 0 && t.updated == 0 {
			continue
		}
		for _, ix := range indexes {
			if ix.table != name {
				continue
			}
			t.indexes++
			if ix.brin {
				// A summary of each range of pages, not an entry per row:
				// what it costs shows in the index bytes.
				t.brinIndexes++
				continue
			}
			if ix.predicate == "" {
				t.indexEntries += t.inserted + t.updated - t.hot
				continue
			}
			t.partialIndexes++
			var n int64
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{name}.Sanitize()+`
WHERE xmin::text::bigint >= $1 AND xmin::text::bigint < $2 AND (`+ix.predicate+`)`, before.xmax%(1<<32), after.xmax%(1<<32)).Scan(&n); err != nil {
				return nil, fmt.Errorf("%s's partial index (%s): %w", name, ix.predicate, err)
			}
			// A HOT update meets the predicate but enters no index: never
			// more entries than the rows that entered the table's indexes.
			t.indexEntries += min(n, t.inserted+t.updated-t.hot)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y tableFootprint) int {
		if d := (y.inserted + y.updated) - (x.inserted + x.updated); d != 0 {
			return int(d)
		}
		return strings.Compare(x.table, y.table)
	})
	if len(out) == 0 {
		return nil, errors.New("footprint: no table changed")
	}
	return out, nil
}

// renderFootprint writes the table of the footprint per event, and the
// WAL per event of scenarios 3 and 3L.
func (rep *report) renderFootprint(b *strings.Builder) {
	fp := rep.footprint
	if fp == nil || fp.events == 0 {
		return
	}
	per := func(n int64) float64 { return float64(n) / float64(fp.events) }
	fmt.Fprintf(b, "\n## Footprint per shipment event\n\n"+
		"What %s events (%d of scenario 3's batches of %d, from its %d clients, posted to the server after the runs) wrote, per event. "+
		"Read between two quiet moments, the server stopped and the chain sealed (the sealer's links are the events' rows too), so that "+
		"every count is flushed: rows from pg_stat_user_tables (inserted, and updated, of which HOT); index entries as the rows inserted "+
		"times the indexes whose predicate they meet, plus the updates that are not HOT times the table's indexes (a HOT update enters "+
		"none; a partial index counts the rows written that meet its predicate, at most the rows that entered an index; a BRIN index, "+
		"which summarises ranges of pages, none); heap bytes (TOAST "+
		"included) and index bytes from the growth of the relations' sizes, so a page allocated counts whole.\n\n"+
		"| table | rows | of which updates (HOT) | indexes | index entries | heap bytes | index bytes |\n|---|---|---|---|---|---|---|\n",
		thousands(fp.events), footprintBatches, batchSize, fp.clients)
	var rows, entries, heap, index int64
	for _, t := range fp.tables {
		ix := fmt.Sprint(t.indexes)
		var kinds []string
		if t.partialIndexes > 0 {
			kinds = append(kinds, fmt.Sprintf("%d partial", t.partialIndexes))
		}
		if t.brinIndexes > 0 {
			kinds = append(kinds, fmt.Sprintf("%d BRIN", t.brinIndexes))
		}
		if len(kinds) > 0 {
			ix += " (" + strings.Join(kinds, ", ") + ")"
		}
		fmt.Fprintf(b, "| %s | %.3f | %.3f (%.3f) | %s | %.3f | %.0f | %.0f |\n", t.table, per(t.inserted+t.updated), per(t.updated), per(t.hot),
			ix, per(t.indexEntries), per(t.heapBytes), per(t.indexBytes))
		rows += t.inserted + t.updated
		entries += t.indexEntries
		heap += t.heapBytes
		index += t.indexBytes
	}
	fmt.Fprintf(b, "| **total** | **%.3f** | | | **%.3f** | **%.0f** | **%.0f** |\n", per(rows), per(entries), per(heap), per(index))
	fmt.Fprintf(b, "\nWAL per event: **%.0f bytes** over these events", per(fp.walBytes))
	var s3, lim []float64
	for _, rd := range rep.rounds {
		if m, ok := rd.scenarios[3]; ok && m.ok > 0 {
			s3 = append(s3, float64(m.walBytes)/float64(m.ok))
		}
		if m, ok := rd.scenarios[8]; ok && m.ok > 0 {
			lim = append(lim, float64(m.walBytes)/float64(m.ok))
		}
	}
	if len(s3) > 0 {
		fmt.Fprintf(b, "; %s over scenario 3", spreadOf(s3).show("%.0f bytes"))
	}
	if len(lim) > 0 {
		fmt.Fprintf(b, "; %s over scenario 3L", spreadOf(lim).show("%.0f bytes"))
	}
	b.WriteString(" (pg_current_wal_insert_lsn before and after, over the events acknowledged; scenarios 3 and 3L each begin at a CHECKPOINT, " +
		"so theirs include a full-page image of every page they touch first).\n")
}
