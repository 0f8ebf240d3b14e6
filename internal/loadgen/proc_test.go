package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// burnCPU is the child of TestReapedChildrenCount: run as the test binary
// with LOADGEN_BURN_CPU set, it spins until it has used 300 ms of CPU
// (its own, from getrusage), whatever else the machine is doing, and
// exits.
func TestMain(m *testing.M) {
	if os.Getenv("LOADGEN_BURN_CPU") != "" {
		for x := 0; ; x++ {
			if x%100000 == 0 {
				var ru syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= 300*time.Millisecond {
					os.Exit(0)
				}
			}
		}
	}
	os.Exit(m.Run())
}

// TestReapedChildrenCount: a child that starts, burns CPU and exits
// between two snapshots is counted through its parent's reaped time (the
// way scenario 3L's connections end before its snapshot), and a child
// that exited before the first snapshot is not.
func TestReapedChildrenCount(t *testing.T) {
	burn := func() {
		// a child that spends 300 ms of CPU (not of the clock: a busy
		// machine would give it less), then exits and is waited for
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LOADGEN_BURN_CPU=1")
		if out, err := cmd.CombinedOutput(); err != nil {
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
	if got-quiet < 25 { // 300 ms is 30 ticks, counted at 100 a second
		t.Errorf("a child that ran and exited in between counted %d ticks (quiet: %d); want about 30", got-quiet, quiet)
	}
	if got > 60 {
		t.Errorf("counted %d ticks: the child burnt before the first snapshot counted too", got)
	}
}
