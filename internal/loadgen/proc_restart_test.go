package main

import (
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCPUOfAPostmasterThatIsGone: when the run's postmaster is gone at the
// second snapshot (a restart: its children are another postmaster's, or
// none), PostgreSQL's share is not negative: the time of the processes the
// first snapshot saw is not taken away for a postmaster whose reaped
// children can no longer be read.
func TestCPUOfAPostmasterThatIsGone(t *testing.T) {
	// A stand-in postmaster with one child that spends a fraction of a second of CPU
	// (a loop of the shell's builtins),
	// then waits.
	pm := exec.Command("sh", "-c", `( i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 60 ) & wait`)
	pm.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pm.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		_ = syscall.Kill(-pm.Process.Pid, syscall.SIGKILL)
		_ = pm.Wait()
	}
	defer kill()
	env := &bench{postmaster: strconv.Itoa(pm.Process.Pid), srv: &server{cmd: pm}}
	var before cpuSnapshot
	for deadline := time.Now().Add(10 * time.Second); ; {
		before = cpuNow(env)
		var spent int64
		for pid, n := range before.postgres {
			if pid != env.postmaster {
				spent += n
			}
		}
		if spent >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in postmaster's child spent no CPU: %v", before.postgres)
		}
		time.Sleep(20 * time.Millisecond)
	}
	kill() // the postmaster and its child are gone
	if got := cpuNow(env).since(before).postgres; got < 0 {
		t.Errorf("PostgreSQL's CPU after its postmaster went away: %d ticks, want none below zero", got)
	}
}
