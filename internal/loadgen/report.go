package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// round is one run: pgbench and scenarios 1, 1L (9), 1w (6), 1s (7), 2, 3,
// 3L (8) and 4, back to back.
type round struct {
	pgbench   pgbenchResult
	scenarios map[int]measure
	cpu       map[int]ticks // over scenarios 1, 1w (6) and 4
	// group is scenario 1's mean group of events (events per group the
	// server wrote), which 1L writes at.
	group float64
}

// report is everything the run measured, and where.
type report struct {
	machine   machine
	pgVersion string
	pgScale   int
	rounds    []round
	reads     []readRound // scenario 5, one per run
	standby   []readRound // scenario 5d (writes and reads only), one per run
	profiled  string      // the profiling pass's file, if it ran
	footprint *footprint  // per shipment event, when scenario 3 ran
	elapsed   time.Duration
}

// machine is where and at what code the run happened.
type machine struct {
	date    time.Time
	cores   int
	cpu     string
	memory  string
	kernel  string
	load    string // load average before the run
	goVer   string
	commit  string
	dirty   bool
	command string
}

func machineNow() machine {
	m := machine{date: time.Now().UTC(), cores: runtime.NumCPU(), goVer: runtime.Version(), cpu: "unknown CPU", memory: "unknown memory"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				m.memory = fmt.Sprintf("%.1f GiB of memory", float64(kb)/(1<<20))
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.load = strings.Join(f[:3], ", ")
		}
	}
	m.commit = "unknown (git failed)"
	if out, err := exec.Command("git", "log", "-1", "--format=%H %s").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	// The report itself is left out: a previous run's output is not a change
	// to the code measured.
	status := []string{"status", "--porcelain", "--untracked-files=no", "--", "."}
	if rel := filepath.Clean(*out); !filepath.IsAbs(rel) && !strings.HasPrefix(rel, "..") {
		status = append(status, ":(exclude)"+rel)
	}
	if out, err := exec.Command("git", status...).Output(); err == nil {
		m.dirty = len(strings.TrimSpace(string(out))) > 0
	} else {
		m.commit += " (git status failed: whether the tree had changes is unknown)"
	}
	args := []string{"go", "run", "./internal/loadgen"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " '\"") {
			a = strconv.Quote(a)
		}
		args = append(args, a)
	}
	m.command = strings.Join(args, " ")
	return m
}

// spread is a figure over the runs: the median, the lowest and the highest.
type spread struct {
	med, lo, hi float64
	n           int
}

func spreadOf(xs []float64) spread {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return spread{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{med, s[0], s[n-1], n}
}

// show writes the median, then the lowest and highest when there were
// several runs: "1.01x (0.95–1.04)".
func (s spread) show(format string) string {
	if s.n == 0 {
		return "—"
	}
	if s.n == 1 {
		return fmt.Sprintf(format, s.med)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.med, s.lo, s.hi)
}

// row is a scenario over all runs.
type row struct {
	name     string
	clients  int
	unit     string
	measures []measure
	// vsPgbench is the scenario's throughput over pgbench's in the same run,
	// one per run; nil when the scenario does not run pgbench's client count.
	vsPgbench []float64
}

func (r row) rates() []float64 {
	var xs []float64
	for _, m := range r.measures {
		xs = append(xs, m.rate())
	}
	return xs
}

// ms is a latency of each run in which some request was answered 2xx.
func (r row) ms(f func(measure) time.Duration) []float64 {
	var xs []float64
	for _, m := range r.measures {
		if m.answered > 0 {
			xs = append(xs, float64(f(m))/float64(time.Millisecond))
		}
	}
	return xs
}

func (r row) totals() (ok, failed int64, failures map[string]int64) {
	failures = map[string]int64{}
	for _, m := range r.measures {
		ok += m.ok
		for k, v := range m.failures {
			failures[k] += v
			failed += v
		}
	}
	return ok, failed, failures
}

// serverless is a row measured without the server (scenario 3L).
func (r row) serverless() bool { return len(r.measures) > 0 && r.measures[0].noServer }

func (r row) peakRSS() int64 {
	var p int64
	for _, m := range r.measures {
		p = max(p, m.peakRSS)
	}
	return p
}

// order is the scenarios' order in the report.
var order = []int{1, 9, 6, 7, 2, 3, 8, 4}

// rows are the scenarios in order, each over the runs that measured it.
func (rep *report) rows() []row {
	var rows []row
	for _, n := range order {
		var r row
		for _, rd := range rep.rounds {
			m, ok := rd.scenarios[n]
			if !ok {
				continue
			}
			r.name, r.clients, r.unit = m.name, m.clients, m.unit
			r.measures = append(r.measures, m)
			if m.clients == *clients {
				r.vsPgbench = append(r.vsPgbench, m.rate()/rd.pgbench.tps)
			}
		}
		if len(r.measures) > 0 {
			rows = append(rows, r)
		}
	}
	for _, pick := range []struct {
		rounds []readRound
		of     func(readRound) measure
	}{
		{rep.reads, func(rr readRound) measure { return rr.writes }},
		{rep.reads, func(rr readRound) measure { return rr.reads }},
		{rep.reads, func(rr readRound) measure { return rr.statements }},
		{rep.reads, func(rr readRound) measure { return rr.portal }},
		{rep.standby, func(rr readRound) measure { return rr.writes }},
		{rep.standby, func(rr readRound) measure { return rr.reads }},
	} {
		var r row
		for _, rr := range pick.rounds {
			m := pick.of(rr)
			r.name, r.clients, r.unit = m.name, m.clients, m.unit
			r.measures = append(r.measures, m)
		}
		if len(r.measures) > 0 {
			rows = append(rows, r)
		}
	}
	return rows
}

func (rep *report) row(prefix string) (row, bool) {
	for _, r := range rep.rows() {
		if strings.HasPrefix(r.name, prefix) {
			return r, true
		}
	}
	return row{}, false
}

// errorCheck fails when pgbench or any scenario failed more than maxRate of
// its transactions, requests or events.
func (rep *report) errorCheck(maxRate float64) error {
	var over []string
	var txns, failed int64
	for _, rd := range rep.rounds {
		txns += rd.pgbench.txns
		failed += rd.pgbench.failed
	}
	if failed > 0 && float64(failed) > maxRate*float64(txns+failed) {
		over = append(over, fmt.Sprintf("pgbench: %d failed transactions of %d", failed, txns+failed))
	}
	for _, r := range rep.rows() {
		ok, failed, failures := r.totals()
		if failed > 0 && float64(failed) > maxRate*float64(ok+failed) {
			over = append(over, fmt.Sprintf("%q: %s", r.name, errorText(ok, failed, failures)))
		}
	}
	if len(over) > 0 {
		return fmt.Errorf("errors above %.2g%% of the work: %s", 100*maxRate, strings.Join(over, "; "))
	}
	return nil
}

// errorText is "3 of 70,000 (0.0043%): 422 insufficient_funds ×2, no answer (timeout) ×1".
func errorText(ok, failed int64, failures map[string]int64) string {
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(failures)) {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, failures[k]))
	}
	return fmt.Sprintf("%s of %s (%.3g%%): %s", thousands(failed), thousands(ok+failed), 100*float64(failed)/float64(ok+failed), strings.Join(kinds, ", "))
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// count is "1 run", "3 runs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// render writes the report as Markdown: only what the run measured.
func (rep *report) render() string {
	var b strings.Builder
	m := rep.machine
	b.WriteString("# Benchmarks\n\n")
	if *quick {
		b.WriteString("**A quick run (`-quick`), not a measurement**: one run of short scenarios, to show that the benchmark works end to end. " +
			"`make bench` replaces this file with a measurement.\n\n")
	}
	b.WriteString("Generated by `internal/loadgen` (what `make bench` runs): every figure below was measured by the run described here, " +
		"and nothing in this file is written by hand. Notes on reading the figures, written by hand, are in [BENCHMARKS-notes.md](BENCHMARKS-notes.md).\n\n")

	b.WriteString("## The run\n\n")
	fmt.Fprintf(&b, "- Date: %s; the run took %s\n", m.date.Format("2006-01-02 15:04 UTC"), rep.elapsed.Round(time.Second))
	dirty := ""
	if m.dirty {
		dirty = " **with uncommitted changes**"
	}
	fmt.Fprintf(&b, "- Code: commit `%s`%s\n", m.commit, dirty)
	fmt.Fprintf(&b, "- Command: `%s`\n", m.command)
	fmt.Fprintf(&b, "- Machine: %d cores (%s), %s, %s; load average before the run %s\n", m.cores, m.cpu, m.memory, m.kernel, m.load)
	fmt.Fprintf(&b, "- PostgreSQL %s, started by the run itself in a fresh cluster: fsync and synchronous_commit on (the defaults), loopback only\n", rep.pgVersion)
	fmt.Fprintf(&b, "- Server: the real `%s serve`, built from the working tree by the run (GOMAXPROCS %d); load generator: `internal/loadgen` (%s, GOMAXPROCS %d) over HTTP on loopback, on the same %d cores\n",
		*bin, serverProcs(os.Getenv("GOMAXPROCS"), m.cores), m.goVer, runtime.GOMAXPROCS(0), m.cores)

	b.WriteString("\n## Method\n\n")
	fmt.Fprintf(&b, "- %s. Each run measures, back to back: pgbench for %s, then scenarios 1, 1L, 1w, 1s, 2, 3, 3L and 4, %s each. "+
		"Scenario 3L is the schema's own limit: the rows scenario 3's events write (entries, postings, balances, lots, months, "+
		"events with their shipments, notifications, the chain's links), written by SQL alone (internal/loadgen/limit.go: no HTTP, no Go, no pricing) as one "+
		"transaction of one statement per table for each group of %d events, by scenario 3's number of clients, in a database of its own on "+
		"the same cluster (a copy of the service's, made at setup); a test proves that it writes, table by table, the rows the service writes. "+
		"Scenario 1L is the same limit at scenario 1's group size: the server counts the groups of events it writes and the events in them "+
		"(`tally_event_groups_total`, `tally_event_group_events_total`), and 1L writes scenario 1's rows in transactions of scenario 1's mean group in the same run, "+
		"by as many clients as the server has event writers, right after scenario 1. "+
		"Scenario 1s is scenario 1 on the server restarted with the entry chain's sealer off (`TALLY_SEAL_INTERVAL=0`), then restarted with it on again; scenario 1, when 1s runs, also begins on a server just restarted (with the sealer), so that the two differ by the sealer alone. "+
		"Scenario 1w is scenario 1 with one webhook endpoint subscribed to points.earned, which every event announces; its receiver runs in a "+
		"process of its own (the load generator's binary, one thread) on the same cores and accepts each delivery at once. Scenario 5 runs after them (%s), "+
		"once %s postings are seeded; then scenario 5d (%s): pgbench's database is dropped, a streaming (asynchronous) standby is cloned "+
		"from the cluster with pg_basebackup and started beside it, and the server is restarted with `TALLY_READ_DATABASE_URL` on it, so that "+
		"balance reads are served by the standby while the events are written on the primary. Before every measurement the server's webhook dispatcher reaches the end of the notification feed and its sealer links every entry (`tally_webhook_feed_backlog` and `tally_chain_unsealed_entries` 0: a scenario does not send the notices, or seal the entries, of the one before), then every database of the cluster is vacuumed (`VACUUM (ANALYZE)`: pgbench's updates and the scenarios' writes left dead rows, whose autovacuum otherwise ran in the next measurement's window, on its cores) and a `CHECKPOINT` runs.\n",
		count(len(rep.rounds), "run"), *pgbenchT, *duration, limitGroupSize, count(len(rep.reads), "time"), thousands(int64(*postings)), count(len(rep.standby), "time"))
	fmt.Fprintf(&b, "- Each figure is the median over the runs, with the lowest and the highest in brackets. A ratio is taken within each run "+
		"(pgbench and the scenario measured minutes apart at most), then its median over the runs.\n")
	fmt.Fprintf(&b, "- pgbench: `pgbench -c %d -j %d -T %d -M prepared`, TPC-B-like, scale %d, in its own database on the same cluster. "+
		"It runs %d clients, as do scenarios 1, 2 and 4 and the writers of scenario 5; the ratio to pgbench is given only for scenarios with that client count.\n",
		*clients, pgbenchThreads(), int(pgbenchT.Seconds()), rep.pgScale, *clients)
	fmt.Fprintf(&b, "- Errors: a request counts only when answered 2xx, an event of a batch only when its item's status is 201. Any other answer "+
		"(4xx or 5xx, a failed event inside a 200 batch answer, no answer within 30 s) is an error: counted by status and problem code below, "+
		"left out of the throughput and the latencies. No refusal is expected in any scenario. The run fails, and writes no report, when "+
		"any scenario's errors exceed %.2g%% of its requests (events, for batches).\n", 100**maxErrorRate)
	b.WriteString("- Books: after every scenario that writes through the server (each of 1, 1w, 1s, 2, 3, 4, 5 and 5d, in every run), " +
		"the server reconciles the books (`GET /v1/reconciliation`, outside the measured window); a check that fails ends the run, and no report is written.\n")
	b.WriteString("- Latencies: of the requests answered 2xx, from writing the request to reading the whole answer, in the load generator.\n")
	b.WriteString("- No profiler runs during the measurements: the server's pprof listener is off, and pg_stat_statements is loaded but " +
		"computes and tracks nothing (`compute_query_id = off`, `pg_stat_statements.track = none`). CPU time and the server's RSS are read from /proc.\n")

	fmt.Fprintf(&b, "\n## pgbench\n\n%d clients: **%s tps**.\n", *clients, rep.pgbenchSpread().show("%.0f"))

	fmt.Fprintf(&b, "\n## Scenarios\n\n| scenario | clients | throughput | ratio to pgbench | p50 | p99 | server peak RSS | errors |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.rows() {
		ratio := "—"
		if r.vsPgbench != nil {
			ratio = spreadOf(r.vsPgbench).show("%.2fx")
		}
		ok, failed, failures := r.totals()
		errs := fmt.Sprintf("0 of %s", thousands(ok))
		if failed > 0 {
			errs = "**" + errorText(ok, failed, failures) + "**"
		}
		rss := fmt.Sprintf("%d MB", r.peakRSS()/1024)
		if r.serverless() {
			rss = "— (no server)"
		}
		fmt.Fprintf(&b, "| %s | %d | %s %s | %s | %s | %s | %s | %s |\n", r.name, r.clients, spreadOf(r.rates()).show("%.0f"), r.unit, ratio,
			spreadOf(r.ms(func(m measure) time.Duration { return m.p50 })).show("%.2f ms"),
			spreadOf(r.ms(func(m measure) time.Duration { return m.p99 })).show("%.2f ms"), rss, errs)
	}
	rep.renderRuns(&b)
	rep.renderTargets(&b)
	rep.renderFootprint(&b)
	rep.renderCPU(&b)

	b.WriteString("\n## Profiles\n\nNo profiler ran during the measurements above. ")
	if rep.profiled != "" {
		fmt.Fprintf(&b, "A profiling pass ran after them (scenarios 1, 1w, 3 and 4, and scenario 5's statement and portal pages, under the server's CPU profiler and pg_stat_statements, 3L under pg_stat_statements); "+
			"its output is in `%s`, and none of its figures is a result.\n", rep.profiled)
	} else {
		b.WriteString("`make bench BENCHFLAGS='-profile FILE'` adds a pass after them that runs scenarios 1, 1w, 3 and 4 under the server's CPU profiler " +
			"and pg_stat_statements (3L under pg_stat_statements) and writes what they show to FILE, not here.\n")
	}
	return b.String()
}

func (rep *report) pgbenchSpread() spread {
	var xs []float64
	for _, rd := range rep.rounds {
		xs = append(xs, rd.pgbench.tps)
	}
	return spreadOf(xs)
}

// label is scenario n's name in the report: 6, 7, 8 and 9 are 1w, 1s, 3L
// and 1L.
func label(n int) string {
	switch n {
	case 9:
		return "1L"
	case 6:
		return "1w"
	case 7:
		return "1s"
	case 8:
		return "3L"
	}
	return strconv.Itoa(n)
}

// renderRuns writes every run's own figures, the ones the medians come from.
func (rep *report) renderRuns(b *strings.Builder) {
	b.WriteString("\n## Each run\n\n| run | pgbench tps |")
	var present []int
	for _, n := range order {
		if want(n) {
			present = append(present, n)
			fmt.Fprintf(b, " scenario %s |", label(n))
		}
	}
	b.WriteString(" 1 ÷ pgbench | 1L ÷ pgbench | 1 ÷ 1L | 2 ÷ 1 | 3 ÷ 3L |\n|---|---|")
	b.WriteString(strings.Repeat("---|", len(present)+5) + "\n")
	for i, rd := range rep.rounds {
		fmt.Fprintf(b, "| %d | %.0f |", i+1, rd.pgbench.tps)
		for _, n := range present {
			m := rd.scenarios[n]
			if n == 9 {
				fmt.Fprintf(b, " %.0f %s in groups of %d |", m.rate(), m.unit, rd.limitGroup())
				continue
			}
			fmt.Fprintf(b, " %.0f %s |", m.rate(), m.unit)
		}
		s1, ok1 := rd.scenarios[1]
		s2, ok2 := rd.scenarios[2]
		if ok1 {
			fmt.Fprintf(b, " %.2fx |", s1.rate()/rd.pgbench.tps)
		} else {
			b.WriteString(" — |")
		}
		if lim, ok := rd.scenarios[9]; ok {
			fmt.Fprintf(b, " %.2fx |", lim.rate()/rd.pgbench.tps)
		} else {
			b.WriteString(" — |")
		}
		if x, ok := rd.oneToLimit(); ok {
			fmt.Fprintf(b, " %.2fx |", x)
		} else {
			b.WriteString(" — |")
		}
		if ok1 && ok2 {
			fmt.Fprintf(b, " %.2fx |", s2.rate()/s1.rate())
		} else {
			b.WriteString(" — |")
		}
		if x, ok := rd.toLimit(); ok {
			fmt.Fprintf(b, " %.2fx |\n", x)
		} else {
			b.WriteString(" — |\n")
		}
	}
	if len(rep.standby) > 0 {
		b.WriteString("\n| run of scenario 5d | writes | balance reads | served by the standby | read p50 | read p99 | reads within 5 ms: at the client | in the server's handler |\n|---|---|---|---|---|---|---|---|\n")
		for i, rr := range rep.standby {
			fmt.Fprintf(b, "| %d | %.0f %s | %.0f %s | %.0f%% | %.2f ms | %.2f ms | %.2f%% | %.2f%% |\n", i+1, rr.writes.rate(), rr.writes.unit,
				rr.reads.rate(), rr.reads.unit, 100*rr.fromStandby, ms(rr.reads.p50), ms(rr.reads.p99), 100*rr.reads.within5, 100*rr.handled)
		}
	}
	if len(rep.reads) > 0 {
		b.WriteString("\n| run of scenario 5 | writes | balance reads | read p50 | read p99 | reads within 5 ms: at the client | in the server's handler | statement page p50 | statement page p99 |\n|---|---|---|---|---|---|---|---|---|\n")
		for i, rr := range rep.reads {
			fmt.Fprintf(b, "| %d | %.0f %s | %.0f %s | %.2f ms | %.2f ms | %.2f%% | %.2f%% | %.2f ms | %.2f ms |\n", i+1, rr.writes.rate(), rr.writes.unit,
				rr.reads.rate(), rr.reads.unit, ms(rr.reads.p50), ms(rr.reads.p99), 100*rr.reads.within5, 100*rr.handled,
				ms(rr.statements.p50), ms(rr.statements.p99))
		}
	}
}

// toLimit is scenario 3's throughput over the schema's own limit's (3L)
// in the run, when both ran.
func (rd round) toLimit() (float64, bool) {
	s3, ok3 := rd.scenarios[3]
	lim, okL := rd.scenarios[8]
	if !ok3 || !okL {
		return 0, false
	}
	if lim.rate() <= 0 {
		return 0, true // a limit that wrote nothing: the target is missed
	}
	return s3.rate() / lim.rate(), true
}

// limitGroup is the group 1L writes at: scenario 1's mean group in the
// run, in whole events.
func (rd round) limitGroup() int { return max(1, int(math.Round(rd.group))) }

// oneToLimit is scenario 1's throughput over its own limit's (1L) in the
// run, when both ran.
func (rd round) oneToLimit() (float64, bool) {
	s1, ok1 := rd.scenarios[1]
	lim, okL := rd.scenarios[9]
	if !ok1 || !okL || lim.rate() <= 0 {
		return 0, false
	}
	return s1.rate() / lim.rate(), true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// renderTargets writes each target as met or missed, judged on the median.
func (rep *report) renderTargets(b *strings.Builder) {
	fmt.Fprintf(b, "\n## Targets\n\nJudged on the median over the runs.\n\n| target | measured | |\n|---|---|---|\n")
	if s1, ok := rep.row("1."); ok && s1.vsPgbench != nil {
		r := spreadOf(s1.vsPgbench)
		var ceiling, toLimit []float64
		for _, rd := range rep.rounds {
			if lim, ok := rd.scenarios[9]; ok && rd.pgbench.tps > 0 {
				ceiling = append(ceiling, lim.rate()/rd.pgbench.tps)
			}
			if x, ok := rd.oneToLimit(); ok {
				toLimit = append(toLimit, x)
			}
		}
		limit := ""
		if len(ceiling) > 0 {
			limit = fmt.Sprintf("; its rows alone at its group size (1L) %s pgbench, scenario 1 %s of that", spreadOf(ceiling).show("%.2fx"), spreadOf(toLimit).show("%.2fx"))
		}
		fmt.Fprintf(b, "| scenario 1 >= 1.0x pgbench (%d clients each) | %s%s | %s |\n", *clients, r.show("%.2fx"), limit, met(r.med >= 1.0))
	}
	if len(rep.rounds) > 0 && want(1) && want(6) {
		var xs []float64
		var ok, during, after int64
		for _, rd := range rep.rounds {
			x := 0.0
			if s1 := rd.scenarios[1].rate(); s1 > 0 {
				x = rd.scenarios[6].rate() / s1
			}
			xs = append(xs, x)
			ok += rd.scenarios[6].ok
			during += rd.scenarios[6].deliveredDuring
			after += rd.scenarios[6].deliveredAfter
		}
		r := spreadOf(xs)
		fmt.Fprintf(b, "| scenario 1w (one webhook endpoint) >= 0.9x scenario 1 | %s; %s of %s events' notices delivered during the scenario, %s by 30 s after | %s |\n",
			r.show("%.2fx"), thousands(during), thousands(ok), thousands(after), met(r.med >= 0.9))
	}
	if len(rep.rounds) > 0 && want(1) && want(7) {
		var xs []float64
		for _, rd := range rep.rounds {
			x := 0.0
			if s7 := rd.scenarios[7].rate(); s7 > 0 {
				x = rd.scenarios[1].rate() / s7
			}
			xs = append(xs, x)
		}
		r := spreadOf(xs)
		fmt.Fprintf(b, "| scenario 1 (entry chain sealed) >= 0.9x scenario 1s (sealer off) | %s | %s |\n", r.show("%.2fx"), met(r.med >= 0.9))
	}
	if len(rep.rounds) > 0 && want(1) && want(2) {
		var xs []float64
		for _, rd := range rep.rounds {
			x := 0.0 // a scenario 1 with nothing done misses the target
			if s1 := rd.scenarios[1].rate(); s1 > 0 {
				x = rd.scenarios[2].rate() / s1
			}
			xs = append(xs, x)
		}
		r := spreadOf(xs)
		fmt.Fprintf(b, "| scenario 2 >= 0.8x scenario 1 | %s | %s |\n", r.show("%.2fx"), met(r.med >= 0.8))
	}
	if s3, ok := rep.row("3."); ok {
		r := spreadOf(s3.rates())
		fmt.Fprintf(b, "| scenario 3 >= 25,000 events/s | %s | %s |\n", r.show("%.0f events/s"), met(r.med >= 25000))
	}
	var toLimit []float64
	for _, rd := range rep.rounds {
		if x, ok := rd.toLimit(); ok {
			toLimit = append(toLimit, x)
		}
	}
	if len(toLimit) > 0 {
		r := spreadOf(toLimit)
		fmt.Fprintf(b, "| scenario 3 >= 0.9x the schema's own limit (3L) | %s | %s |\n", r.show("%.2fx"), met(r.med >= 0.9))
	}
	if s4, ok := rep.row("4."); ok && s4.vsPgbench != nil {
		r := spreadOf(s4.vsPgbench)
		fmt.Fprintf(b, "| scenario 4 >= 0.8x pgbench (%d clients each) | %s | %s |\n", *clients, r.show("%.2fx"), met(r.med >= 0.8))
	}
	if reads, ok := rep.row("5. balance reads"); ok {
		r := spreadOf(reads.ms(func(m measure) time.Duration { return m.p99 }))
		fmt.Fprintf(b, "| scenario 5 balance read p99 <= 5 ms | %s | %s |\n", r.show("%.2f ms"), met(r.n > 0 && r.med <= 5))
	}
	if reads, ok := rep.row("5d. balance reads"); ok {
		r := spreadOf(reads.ms(func(m measure) time.Duration { return m.p99 }))
		fmt.Fprintf(b, "| scenario 5d balance read p99 on a standby <= 5 ms | %s | %s |\n", r.show("%.2f ms"), met(r.n > 0 && r.med <= 5))
	}
	if portal, ok := rep.row("5c."); ok {
		r := spreadOf(portal.ms(func(m measure) time.Duration { return m.p99 }))
		fmt.Fprintf(b, "| scenario 5c portal page p99 < 50 ms | %s | %s |\n", r.show("%.2f ms"), met(r.n > 0 && r.med < 50))
	}
	var peak, failed, total int64
	for _, r := range rep.rows() {
		peak = max(peak, r.peakRSS())
		ok, f, _ := r.totals()
		failed += f
		total += ok + f
	}
	fmt.Fprintf(b, "| server RSS <= 150 MB (the highest of all runs) | %d MB | %s |\n", peak/1024, met(peak <= 150*1024))
	fmt.Fprintf(b, "| no error in any scenario | %s of %s | %s |\n", thousands(failed), thousands(total), met(failed == 0))
}

// renderCPU writes where the CPU time of scenarios 1, 1L, 1w, 1s, 3, 3L
// and 4 went, over all their runs: 1 beside 1L, and 3 beside 3L, show what
// the service adds to the rows' own cost, tier by tier.
func (rep *report) renderCPU(b *strings.Builder) {
	title := false
	for _, n := range []int{1, 9, 6, 7, 3, 8, 4} {
		var cpu ticks
		var d time.Duration
		var events int64
		for _, rd := range rep.rounds {
			cpu = cpu.plus(rd.cpu[n])
			if m, ok := rd.scenarios[n]; ok {
				d += m.elapsed
				events += m.ok
			}
		}
		total := float64(cpu.postgres + cpu.server + cpu.loadgen + cpu.receiver)
		if total <= 0 || events == 0 {
			continue
		}
		if !title {
			b.WriteString("\n## Where the CPU went\n\nCPU time (user + system, from /proc; 100 clock ticks a second), per event acknowledged, over all runs:\n\n" +
				"| scenario | PostgreSQL | the server | the load generator | the webhook receiver | all | core-seconds |\n|---|---|---|---|---|---|---|\n")
			title = true
		}
		per := func(t int64) string { return fmt.Sprintf("%.0f µs", float64(t)/100/float64(events)*1e6) }
		name := map[int]string{1: "1", 9: "1L (no server: what it shows is idle)", 6: "1w", 7: "1s", 3: "3",
			8: "3L (no server: what it shows is idle)", 4: "4 (per request)"}[n]
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.1f over %s on %d cores |\n", name, per(cpu.postgres), per(cpu.server),
			per(cpu.loadgen), per(cpu.receiver), per(int64(total)), total/100, d.Round(time.Second), rep.machine.cores)
	}
}

// serverProcs is the GOMAXPROCS of the server the run starts: the
// environment's GOMAXPROCS, which the server inherits, when it is a
// positive number (as the Go runtime reads it), else the cores.
func serverProcs(env string, cores int) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return n
	}
	return cores
}
