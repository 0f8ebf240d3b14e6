package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// profiled are the scenarios the profiling pass runs (those of them -only
// names, with -only). 3L (8) has no server: its statements are read from
// its own database, to be set beside scenario 3's; it is left out when
// scenario 5 ran (its database is dropped before 5d's standby copies the
// cluster).
var profiled = []int{1, 6, 3, 8, 4}

// profilePass runs scenarios 1, 1w, 3, 3L and 4 once more, after the
// measurements, and scenario 5's statement and portal pages (5b, 5c),
// under the server's CPU profiler, with pg_stat_statements
// tracking and PostgreSQL's sessions sampled for what they wait on, and
// writes what they show to path. Its throughputs are not results: the
// profilers cost time.
func profilePass(ctx context.Context, env *bench, path string) error {
	logf("profiling pass (not measured): scenarios 1, 1w, 3, 3L, 4, 5b and 5c (those -only names) under the profilers")
	if err := env.query(ctx, func(conn *pgx.Conn) error {
		for _, q := range []string{
			`ALTER SYSTEM SET compute_query_id = on`,
			`ALTER SYSTEM SET pg_stat_statements.track = 'top'`,
			`ALTER SYSTEM SET pg_stat_statements.track_planning = on`,
			`SELECT pg_reload_conf()`,
			`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`,
		} {
			if _, err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	// A statement prepared while query ids were off is never tracked: the
	// server starts again, with new connections.
	env.srv.stop()
	srv, err := startServer(env.url)
	if err != nil {
		return err
	}
	env.srv, env.client.base = srv, "http://"+srv.addr
	var b strings.Builder
	fmt.Fprintf(&b, "# Profiles of `make bench` scenarios (%s)\n\nTaken by `go run ./internal/loadgen -profile` after its measurements, "+
		"under the profilers; the figures here are not measurements.\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	// one profiles a run of name: its statements on the database at db,
	// the server's CPU (file, when given) and its sessions' waits.
	one := func(name, db, file string, run func() measure) error {
		if err := env.resetStatements(ctx); err != nil {
			return err
		}
		top, waits := make(chan string, 1), make(chan string, 1)
		if file == "" {
			top <- "no server: the load is SQL alone\n"
		} else {
			go func() { top <- cpuProfile(env.srv, *duration-time.Second, file) }()
			go allocProfile(env.srv, *duration-time.Second, strings.TrimSuffix(file, ".pprof")+".allocs.pprof")
		}
		go func() { waits <- sampleWaits(ctx, db, *duration-time.Second) }()
		name += " (profiled)"
		m := run()
		stmts, err := topStatements(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n## %s\n\nUnder the profilers: %.0f %s, %d errors.\n\n"+
			"The statements that took the most time (pg_stat_statements: planning and executing, wall time inside PostgreSQL, "+
			"lock waits included, commits' fsync waits not):\n\n%s\nWhat the server's sessions were doing (pg_stat_activity sampled every "+
			"10 ms; a session idle in a transaction is the server's Go code or a round trip between statements):\n\n%s\n"+
			"The server's CPU profile (`go tool pprof -top`):\n\n```\n%s```\n",
			name, m.rate(), m.unit, m.failed(), stmts, <-waits, <-top)
		return nil
	}
	for _, s := range scenarios() {
		if !slices.Contains(profiled, s.n) || !want(s.n) || s.n == 8 && env.limit.url == "" {
			continue
		}
		db, file := env.url, fmt.Sprintf("%s.%s.pprof", *profile, label(s.n))
		if s.n == 8 {
			db, file = env.limit.url, ""
			if err := onConn(ctx, db, func(conn *pgx.Conn) error {
				_, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
				return err
			}); err != nil {
				return err
			}
		}
		var werr error
		err := one(s.name, db, file, func() measure {
			switch s.n {
			case 6:
				m, err := withWebhook(env, s)
				werr = err
				return m
			case 8:
				return driveLimit(s.name, env.limit, s.clients, *duration, limitGroupSize)
			}
			return drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
		})
		if err = errors.Join(err, werr); err != nil {
			return err
		}
	}
	// The pages of scenario 5 (its seeded postings in the books), for as
	// long as the other scenarios, on the primary.
	if want(5) {
		for _, p := range []struct {
			name, file string
			next       func(*rand.Rand) request
		}{
			{statementsName, "5b", statementPages},
			{portalName, "5c", portalPages(env.client)},
		} {
			if err := one(p.name, env.url, fmt.Sprintf("%s.%s.pprof", *profile, p.file), func() measure {
				return drive(p.name, env.client, env.srv, 8, *duration, p.next)
			}); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// sampleWaits samples, every 10 ms for d, what the sessions on the
// database at url are doing (their state and wait event, and the statement
// of those waiting on a lock), and answers the counts as a table, the most
// frequent first.
func sampleWaits(ctx context.Context, url string, d time.Duration) string {
	counts := map[string]int{}
	samples := 0
	err := onConn(ctx, url, func(conn *pgx.Conn) error {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
			rows, err := conn.Query(ctx, `SELECT state, coalesce(wait_event_type || ':' || wait_event, 'on a CPU'),
    CASE WHEN wait_event_type = 'Lock' THEN left(regexp_replace(query, '\s+', ' ', 'g'), 70) ELSE '' END
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    AND state <> 'idle'`)
			if err != nil {
				return err
			}
			var state, wait, query string
			if _, err := pgx.ForEachRow(rows, []any{&state, &wait, &query}, func() error {
				counts[state+" | "+wait+" | "+strings.ReplaceAll(query, "|", "\\|")]++
				return nil
			}); err != nil {
				return err
			}
			samples++
		}
		return nil
	})
	if err != nil {
		return err.Error() + "\n"
	}
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples; sessions per sample, by what they were doing:\n\n| sessions | state | waiting on | statement (lock waits) |\n|---|---|---|---|\n", samples)
	for i, k := range keys {
		if i == 15 {
			break
		}
		fmt.Fprintf(&b, "| %.2f | %s |\n", float64(counts[k])/float64(max(samples, 1)), strings.ReplaceAll(k, "`", "'"))
	}
	return b.String()
}

// resetStatements starts pg_stat_statements' counts afresh.
func (env *bench) resetStatements(ctx context.Context) error {
	return env.query(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
		return err
	})
}

// topStatements is the statements on the database at url that took the
// most time since the last reset, as a table.
func topStatements(ctx context.Context, url string) (string, error) {
	var b strings.Builder
	err := onConn(ctx, url, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT calls, round(total_exec_time)::bigint, round(total_plan_time)::bigint,
    round(100 * (total_exec_time + total_plan_time) / nullif(sum(total_exec_time + total_plan_time) OVER (), 0))::int,
    round(1000 * mean_exec_time)::bigint, rows, regexp_replace(query, '\s+', ' ', 'g')
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time + total_plan_time DESC LIMIT 12`)
		if err != nil {
			return err
		}
		b.WriteString("| calls | executing ms | planning ms | share | mean µs | rows | statement |\n|---|---|---|---|---|---|---|\n")
		var (
			calls, total, plan, mean, n int64
			share                       int32
			query                       string
		)
		_, err = pgx.ForEachRow(rows, []any{&calls, &total, &plan, &share, &mean, &n, &query}, func() error {
			if len(query) > 110 {
				query = query[:110] + "…"
			}
			fmt.Fprintf(&b, "| %d | %d | %d | %d%% | %d | %d | `%s` |\n", calls, total, plan, share, mean, n, strings.ReplaceAll(query, "|", "\\|"))
			return nil
		})
		return err
	})
	return b.String(), err
}

// allocProfile keeps in file what the server allocated over the next d
// (a delta of its allocation profile, for go tool pprof -sample_index
// alloc_space or alloc_objects); a failure leaves no file.
func allocProfile(srv *server, d time.Duration, file string) {
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/allocs?seconds=%d", srv.pprof, max(1, int(d.Seconds()))))
	if err != nil {
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return
	}
	f, err := os.Create(file)
	if err != nil {
		return
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		os.Remove(file)
		return
	}
	f.Close()
}

// cpuProfile takes a CPU profile of the server for d, keeps it in file
// (for go tool pprof), and returns pprof's top functions as text, or what
// went wrong.
func cpuProfile(srv *server, d time.Duration, file string) string {
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", srv.pprof, max(1, int(d.Seconds()))))
	if err != nil {
		return err.Error() + "\n"
	}
	defer res.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err.Error() + "\n"
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		return err.Error() + "\n"
	}
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", *bin, f.Name()).CombinedOutput()
	if err != nil {
		return string(out) + err.Error() + "\n"
	}
	return string(out)
}
