package main

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestReapedChildrenCount: a child that starts, burns CPU and exits
// between two snapshots is counted through its parent's reaped time (the
// way scenario 3L's connections end before its snapshot), and a child
// that exited before the first snapshot is not.
func TestReapedChildrenCount(t *testing.T) {
	burn := func() {
		// a shell loop that spends about 300 ms of CPU, then exits and is waited for
		if out, err := exec.Command("sh", "-c", `i=0; end=$(( $(date +%s%N) + 300000000 )); while [ $(date +%s%N) -lt $end ]; do i=$((i+1)); done`).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	self := strconv.Itoa(os.Getpid())
	snap := func() cpuSnapshot {
		_, n, reaped, start, ok := procTimesStart(self)
		if !ok {
			t.Fatal("no /proc/self/stat")
		}
		return cpuSnapshot{postgres: map[string]int64{self: n}, reaped: reaped, postmasterStart: start}
	}
	burn() // before: not counted
	before := snap()
	time.Sleep(10 * time.Millisecond)
	quiet := snap().since(before).postgres
	burn()
	got := snap().since(before).postgres
	if got-quiet < 15 { // 300 ms is 30 ticks; the loop forks date, so allow half
		t.Errorf("a child that ran and exited in between counted %d ticks (quiet: %d); want about 30", got-quiet, quiet)
	}
	if got > 60 {
		t.Errorf("counted %d ticks: the child burnt before the first snapshot counted too", got)
	}
}
