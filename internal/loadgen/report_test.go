package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestErrorCheckFailsAboveTheThreshold(t *testing.T) {
	rep := func(ok, failed int64, pgFailed int64) *report {
		m := measure{name: "1. test", clients: *clients, unit: "requests/s", ok: ok, elapsed: time.Second}
		if failed > 0 {
			m.failures = map[string]int64{"422 insufficient_funds": failed}
		}
		return &report{rounds: []round{{pgbench: pgbenchResult{tps: 100, txns: 10000 - pgFailed, failed: pgFailed}, scenarios: map[int]measure{1: m}}}}
	}
	// 0.1% of 10,000 is 10.
	for _, tc := range []struct {
		name               string
		ok, failed, pgFail int64
		fails              bool
		mention            string
	}{
		{"NoErrors", 10000, 0, 0, false, ""},
		{"AtTheThreshold", 9990, 10, 0, false, ""},
		{"AboveTheThreshold", 9989, 11, 0, true, "422 insufficient_funds ×11"},
		{"PgbenchFailures", 10000, 0, 11, true, "pgbench: 11 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rep(tc.ok, tc.failed, tc.pgFail).errorCheck(0.001)
			if (err != nil) != tc.fails || (err != nil && !strings.Contains(err.Error(), tc.mention)) {
				t.Errorf("errorCheck = %v; want failure %v naming %q", err, tc.fails, tc.mention)
			}
		})
	}
}

func TestSpreadIsMedianLowestHighest(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want string
	}{
		{[]float64{1.04, 0.95, 1.01}, "1.01x (0.95x–1.04x)"},
		{[]float64{0.9}, "0.90x"},
		{[]float64{4, 1, 3, 2}, "2.50x (1.00x–4.00x)"},
	} {
		if got := spreadOf(tc.xs).show("%.2fx"); got != tc.want {
			t.Errorf("spreadOf(%v) = %s, want %s", tc.xs, got, tc.want)
		}
	}
}

// TestReportFlagsErrorsBelowTheThreshold: a scenario with errors too few to
// fail the run still shows them, and misses the no-error target; a scenario
// with another client count than pgbench's gets no ratio to it; scenarios 2
// and 4 are judged against their targets.
func TestReportFlagsErrorsBelowTheThreshold(t *testing.T) {
	ms := func(n, clients int, ok, failed int64) measure {
		m := measure{name: fmt.Sprintf("%d. test", n), clients: clients, unit: "requests/s", ok: ok, answered: ok,
			elapsed: time.Second, p50: time.Millisecond, p99: 2 * time.Millisecond}
		if failed > 0 {
			m.failures = map[string]int64{"503 unavailable": failed}
		}
		return m
	}
	rep := &report{rounds: []round{{pgbench: pgbenchResult{tps: 1000, txns: 1000},
		scenarios: map[int]measure{1: ms(1, *clients, 9999, 1), 2: ms(2, *clients, 5000, 0), 3: ms(3, 4, 20000, 0), 4: ms(4, *clients, 100, 0)}}}}
	if err := rep.errorCheck(0.001); err != nil {
		t.Fatalf("1 error in 10,000 failed the run: %v", err)
	}
	text := rep.render()
	for _, want := range []string{
		"| 1. test | 32 | 9999 requests/s | 10.00x | 1.00 ms | 2.00 ms | 0 MB | **1 of 10,000 (0.01%): 503 unavailable ×1** |",
		"| 3. test | 4 | 20000 requests/s | — |",
		"| no error in any scenario | 1 of 35,100 | **missed** |",
		"| scenario 2 >= 0.8x scenario 1 | 0.50x | **missed** |",
		"| scenario 4 >= 0.8x pgbench (32 clients each) | 0.10x | **missed** |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

// TestReportRatesScenario3AgainstTheLimit: the ratio of scenario 3 to the
// schema's own limit is taken within each run, its median judged against
// 0.9, and a run without the limit has none.
func TestReportRatesScenario3AgainstTheLimit(t *testing.T) {
	ms := func(n int, events int64) measure {
		return measure{name: fmt.Sprintf("%s. test", label(n)), clients: 4, unit: "events/s", ok: events, answered: 1, elapsed: time.Second}
	}
	run := func(s3, limit int64) round {
		return round{pgbench: pgbenchResult{tps: 1000, txns: 1000}, scenarios: map[int]measure{3: ms(3, s3), 8: ms(8, limit)}}
	}
	defer func(was string) { *only = was }(*only)
	*only = "3,3L"
	// 9,000 ÷ 10,000 = 0.90, 4,000 ÷ 5,000 = 0.80, 19,000 ÷ 20,000 = 0.95: the median is 0.90.
	rep := &report{rounds: []round{run(9000, 10000), run(4000, 5000), run(19000, 20000)}}
	text := rep.render()
	for _, want := range []string{
		"| scenario 3 >= 0.9x the schema's own limit (3L) | 0.90x (0.80x–0.95x) | met |",
		"| 2 | 1000 | 4000 events/s | 5000 events/s | — | — | — | — | 0.80x |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	rep = &report{rounds: []round{run(8900, 10000)}}
	if text := rep.render(); !strings.Contains(text, "| scenario 3 >= 0.9x the schema's own limit (3L) | 0.89x | **missed** |") {
		t.Errorf("0.89x is not reported missed:\n%s", text)
	}
	delete(rep.rounds[0].scenarios, 8)
	if text := rep.render(); strings.Contains(text, "schema's own limit (3L) |") {
		t.Errorf("a run without the limit is judged against it:\n%s", text)
	}
}

// TestReportRatesScenario1AgainstItsLimit: 1L is shown at scenario 1's
// mean group of its run, over pgbench and under scenario 1, run by run,
// and beside scenario 1's target as medians.
func TestReportRatesScenario1AgainstItsLimit(t *testing.T) {
	ms := func(n, clients int, events int64) measure {
		return measure{name: fmt.Sprintf("%s. test", label(n)), clients: clients, unit: "events/s", ok: events, answered: 1, elapsed: time.Second}
	}
	run := func(pgbench float64, s1, limit int64, group float64) round {
		return round{pgbench: pgbenchResult{tps: pgbench, txns: 1000}, group: group,
			scenarios: map[int]measure{1: ms(1, *clients, s1), 9: ms(9, 2, limit)}}
	}
	defer func(was string) { *only = was }(*only)
	*only = "1,1L"
	// 1L over pgbench: 1.20, 1.10, 1.50; scenario 1 over 1L: 0.50, 0.60, 0.40.
	rep := &report{rounds: []round{run(1000, 600, 1200, 7.6), run(2000, 1320, 2200, 8.4), run(1000, 600, 1500, 12)}}
	rep.rounds[0].cpu = map[int]ticks{9: {postgres: 50}} // 0.5 s over the 4,900 events of 1L
	text := rep.render()
	for _, want := range []string{
		"| 1 | 1000 | 600 events/s | 1200 events/s in groups of 8 | 0.60x | 1.20x | 0.50x | — | — |",
		"| 3 | 1000 | 600 events/s | 1500 events/s in groups of 12 | 0.60x | 1.50x | 0.40x | — | — |",
		"| scenario 1 >= 1.0x pgbench (32 clients each) | 0.60x (0.60x–0.66x); its rows alone at its group size (1L) 1.20x (1.10x–1.50x) pgbench, scenario 1 0.50x (0.40x–0.60x) of that | **missed** |",
		"| 1L (no server: what it shows is idle) | 102 µs |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

// The report names the server's GOMAXPROCS as the runtime will read it
// from the environment the server inherits.
func TestServerProcsIsTheInheritedGOMAXPROCS(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
	}{{"", 2}, {"1", 1}, {"8", 8}, {"0", 2}, {"-1", 2}, {"two", 2}} {
		if got := serverProcs(tc.env, 2); got != tc.want {
			t.Errorf("GOMAXPROCS=%q on 2 cores: the report says %d, want %d", tc.env, got, tc.want)
		}
	}
}
