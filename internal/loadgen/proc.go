package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ticks is CPU time (user + system, in clock ticks) by process group, read
// from /proc: no profiler.
type ticks struct{ postgres, server, loadgen, receiver int64 }

func (t ticks) plus(o ticks) ticks {
	return ticks{t.postgres + o.postgres, t.server + o.server, t.loadgen + o.loadgen, t.receiver + o.receiver}
}

// cpuSnapshot is the CPU time so far of each PostgreSQL process, the server
// and this load generator.
type cpuSnapshot struct {
	postgres                  map[string]int64 // by pid
	server, loadgen, receiver int64
}

// procStat is a process's parent and its CPU time so far.
func procStat(pid string) (ppid string, n int64, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(data)
	close := strings.LastIndexByte(s, ')')
	if close < 0 || close+2 > len(s) {
		return "", 0, false
	}
	fields := strings.Fields(s[close+2:])
	if len(fields) < 13 {
		return "", 0, false
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return fields[1], u + k, true
}

// cpuNow reads the CPU time so far of the run's own PostgreSQL (its
// postmaster and the postmaster's children, not other clusters on the
// machine), the server and this load generator.
func cpuNow(env *bench) cpuSnapshot {
	c := cpuSnapshot{postgres: map[string]int64{}}
	if _, n, ok := procStat(env.postmaster); ok {
		c.postgres[env.postmaster] = n
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if ppid, n, ok := procStat(e.Name()); ok && ppid == env.postmaster {
			c.postgres[e.Name()] = n
		}
	}
	_, c.server, _ = procStat(strconv.Itoa(env.srv.cmd.Process.Pid))
	_, c.loadgen, _ = procStat(strconv.Itoa(os.Getpid()))
	if env.receiver != nil {
		_, c.receiver, _ = procStat(strconv.Itoa(env.receiver.cmd.Process.Pid))
	}
	return c
}

// since is the CPU time spent between then and c, process by process: a
// PostgreSQL backend that exited in between (say pgbench's, or a
// checkpoint's connection) is not counted, one that started is counted
// whole.
func (c cpuSnapshot) since(then cpuSnapshot) ticks {
	t := ticks{server: c.server - then.server, loadgen: c.loadgen - then.loadgen, receiver: c.receiver - then.receiver}
	for pid, n := range c.postgres {
		t.postgres += n - then.postgres[pid]
	}
	return t
}

var vmRSS = regexp.MustCompile(`VmRSS:\s+(\d+) kB`)

// rss is the server's resident set now, in kB.
func (s *server) rss() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	m := vmRSS.FindSubmatch(data)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}
