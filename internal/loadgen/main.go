// Command loadgen is `make bench`: it starts its own durable PostgreSQL
// (fsync and synchronous_commit on), starts the real tally binary, and
// measures, several times back to back, the bare database with pgbench and
// the service over HTTP on loopback through five scenarios, with the same
// number of clients for pgbench and the scenarios compared with it. It
// writes what it measured to docs/BENCHMARKS.md, and nothing else: notes
// written by hand live in docs/BENCHMARKS-notes.md.
//
// Only answers that succeeded count: any other answer, or a failed event
// inside a batch, is an error, reported by status and problem code and left
// out of the throughput; above -max-error-rate in any scenario the run fails
// and writes no report. A failed setup step fails the run. No profiler runs
// while anything is measured; -profile adds a separate pass after the
// measurements, written to its own file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	bin      = flag.String("bin", "bin/tally", "the tally binary")
	out      = flag.String("out", "docs/BENCHMARKS.md", "where to write the report")
	runs     = flag.Int("runs", 3, "how many times pgbench and scenarios 1 to 4 run back to back (and scenario 5 after them)")
	clients  = flag.Int("clients", 32, "clients of pgbench and of scenarios 1, 2 and 4 (and the writers of scenario 5)")
	duration = flag.Duration("duration", 15*time.Second, "length of each scenario in each run")
	pgbenchT = flag.Duration("pgbench", 15*time.Second, "length of each pgbench run (whole seconds)")

	customers = flag.Int("customers", 10000, "customers created at setup (scenarios 1 and 3 spread events over them)")
	postings  = flag.Int("postings", 1_000_000, "postings seeded before scenario 5")

	maxErrorRate = flag.Float64("max-error-rate", 0.001, "the run fails when a scenario's errors exceed this share of its requests (events, for batches)")
	quick        = flag.Bool("quick", false, "a smoke run: one run of 3 s per scenario, 1,000 customers, 100,000 postings; the report says it is not a measurement")
	profile      = flag.String("profile", "", "after the measurements, profile scenarios 1, 1w, 3, 3L and 4, and 5b and 5c (scenario 5's pages), those -only names (server CPU profile, pg_stat_statements, what sessions wait on; 3L has no server) and write the profiles to this file (and each server CPU profile to FILE.<scenario>.pprof)")
	// The load generator needs a third of a core; on one P it leaves the
	// rest to the server and the database, and its scheduler spins less.
	procs        = flag.Int("procs", 1, "GOMAXPROCS of the load generator (0: Go's default)")
	receiverOnly = flag.Bool("receiver", false, "internal: be scenario 1w's webhook receiver (a process of its own)")
	only         = flag.String("only", "", "tuning: run only these scenarios, by number or label (\"1,1w,3,3L\"), print the report and write none")
)

// funded is how many customers get a deposit and points at setup; scenarios
// 4 and 5 spend and read from them.
const funded = 1000

// want reports whether scenario n runs: -only names it by number or by
// label (6 or 1w, 8 or 3L, 9 or 1L).
func want(n int) bool {
	names := strings.Split(*only, ",")
	return *only == "" || slices.Contains(names, strconv.Itoa(n)) || slices.Contains(names, label(n))
}

// wantLimit reports whether a limit (3L or 1L) runs, and so needs its
// database.
func wantLimit() bool { return want(8) || want(9) }

func main() {
	flag.Parse()
	if *receiverOnly {
		runtime.GOMAXPROCS(1)
		serveReceiver()
	}
	if want(9) && !want(1) {
		fmt.Fprintln(os.Stderr, "loadgen: scenario 1L writes at scenario 1's group size in the same run: -only must name 1 with it")
		os.Exit(2)
	}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quickDefault := func(name, value string) {
			if !set[name] {
				flag.Set(name, value)
			}
		}
		quickDefault("runs", "1")
		quickDefault("duration", "3s")
		quickDefault("pgbench", "3s")
		quickDefault("customers", "1000")
		quickDefault("postings", "100000")
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if *runs < 1 || *clients < 1 || *customers < funded || *pgbenchT < time.Second || *postings < 2*funded {
		return fmt.Errorf("need -runs >= 1, -clients >= 1, -customers >= %d, -pgbench >= 1s, -postings >= %d", funded, 2*funded)
	}
	started := time.Now()
	m := machineNow()
	env, err := setUp(ctx)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer env.tearDown()

	rep := report{machine: m, pgVersion: env.pgVersion, pgScale: env.pgScale}
	for r := 1; r <= *runs; r++ {
		logf("run %d of %d", r, *runs)
		one, err := measureRun(ctx, env)
		if err != nil {
			return fmt.Errorf("run %d: %w", r, err)
		}
		rep.rounds = append(rep.rounds, one)
	}
	if want(3) {
		fp, err := footprintPass(ctx, env)
		if err != nil {
			return fmt.Errorf("footprint: %w", err)
		}
		rep.footprint = &fp
	}
	if wantLimit() && want(5) { // else after the profiling pass, which profiles 3L too
		if err := env.dropLimit(ctx); err != nil {
			return fmt.Errorf("dropping the limit's database: %w", err)
		}
	}
	if want(5) {
		logf("scenario 5: seeding %d postings", *postings)
		if err := seedPostings(ctx, env.url, *postings/2); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		for r := 1; r <= *runs; r++ {
			logf("scenario 5, run %d of %d", r, *runs)
			if err := env.checkpoint(ctx); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			rep.reads = append(rep.reads, readsUnderLoad(env))
			if err := env.client.reconcile(); err != nil {
				return fmt.Errorf("after scenario 5: %w", err)
			}
		}
		logf("scenario 5d: a streaming standby, the server reading from it")
		if err := env.useStandby(ctx); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		for r := 1; r <= *runs; r++ {
			logf("scenario 5d, run %d of %d", r, *runs)
			if err := env.checkpoint(ctx); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			rep.standby = append(rep.standby, readsOnStandby(env))
			if err := env.client.reconcile(); err != nil {
				return fmt.Errorf("after scenario 5d: %w", err)
			}
		}
	}
	if *profile != "" {
		if err := profilePass(ctx, env, *profile); err != nil {
			return fmt.Errorf("profiling pass: %w", err)
		}
		rep.profiled = *profile
	}
	if wantLimit() && !want(5) {
		if err := env.dropLimit(ctx); err != nil {
			return fmt.Errorf("dropping the limit's database: %w", err)
		}
	}
	rep.elapsed = time.Since(started)
	text := rep.render()
	fmt.Print(text)
	if err := rep.errorCheck(*maxErrorRate); err != nil {
		return fmt.Errorf("%w; %s left as it was", err, *out)
	}
	if *only != "" {
		return nil
	}
	return os.WriteFile(*out, []byte(text), 0o644)
}

// measureRun is one run: pgbench, then scenarios 1, 1w, 1s, 2, 3, 3L and 4, back to
// back, each after a checkpoint so that none pays for the dirty pages of the one before;
// 1 and 1s each on a server just started, so that the ratio between them is the sealer's.
func measureRun(ctx context.Context, env *bench) (round, error) {
	one := round{scenarios: map[int]measure{}, cpu: map[int]ticks{}}
	if err := env.checkpoint(ctx); err != nil {
		return one, err
	}
	pg, err := env.pgbench()
	if err != nil {
		return one, err
	}
	one.pgbench = pg
	for _, s := range scenarios() {
		if !want(s.n) {
			continue
		}
		if err := env.checkpoint(ctx); err != nil {
			return one, err
		}
		if s.n == 1 && want(7) { // 1 and 1s each begin on a server just started
			if err := env.restart(); err != nil {
				return one, err
			}
		}
		before := cpuNow(env)
		wal, err := env.walNow(ctx)
		if err != nil {
			return one, err
		}
		var m measure
		switch s.n {
		case 1: // and its mean group, for 1L
			groups, events := eventGroups(env.srv)
			m = drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
			if g, e := eventGroups(env.srv); g > groups {
				one.group = (e - events) / (g - groups)
			}
		case 9:
			if one.group <= 0 {
				return one, fmt.Errorf("scenario 1L: scenario 1 measured no group of events before it")
			}
			m = driveLimit(s.name, env.limit, s.clients, *duration, one.limitGroup())
		case 8:
			m = driveLimit(s.name, env.limit, s.clients, *duration, limitGroupSize)
		case 6:
			if m, err = withWebhook(env, s); err != nil {
				return one, err
			}
		case 7: // the same server without the sealer, then with it again
			if err := env.restart("TALLY_SEAL_INTERVAL=0"); err != nil {
				return one, err
			}
			before = cpuNow(env)
			m = drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
			one.cpu[7] = cpuNow(env).since(before)
			if err := env.restart(); err != nil {
				return one, err
			}
		default:
			m = drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
		}
		if s.n != 7 { // 1s: measured above, between its restarts
			one.cpu[s.n] = cpuNow(env).since(before)
		}
		if s.n == 3 || s.n == 8 {
			end, err := env.walNow(ctx)
			if err != nil {
				return one, err
			}
			m.walBytes = end - wal
		}
		one.scenarios[s.n] = m
		if s.n != 8 && s.n != 9 { // the limits write to a database of their own
			if err := env.client.reconcile(); err != nil {
				return one, fmt.Errorf("after scenario %s: %w", s.name, err)
			}
		}
	}
	return one, nil
}

var begun = time.Now()

// logf writes progress to stderr, with the time since the start.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: "+format+"\n", append([]any{time.Since(begun).Round(time.Second)}, args...)...)
}
