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
	postgres map[string]int64 // by pid
	reaped   int64            // of the postmaster's children that exited and were waited for
	// postmasterStart is the postmaster's start time (/proc stat's 22nd
	// field), "" when it was not there: reaped is comparable between two
	// snapshots of the same postmaster only.
	postmasterStart           string
	server, loadgen, receiver int64
}

// procStat is a process's parent and its CPU time so far.
func procStat(pid string) (ppid string, n int64, ok bool) {
	ppid, n, _, ok = procTimes(pid)
	return ppid, n, ok
}

// procTimes is a process's parent, its CPU time so far, and that of its
// children that exited and were waited for.
func procTimes(pid string) (ppid string, n, children int64, ok bool) {
	ppid, n, children, _, ok = procTimesStart(pid)
	return ppid, n, children, ok
}

// procTimesStart is procTimes and the process's start time.
func procTimesStart(pid string) (ppid string, n, children int64, start string, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, 0, "", false
	}
	s := string(data)
	close := strings.LastIndexByte(s, ')')
	if close < 0 || close+2 > len(s) {
		return "", 0, 0, "", false
	}
	fields := strings.Fields(s[close+2:])
	if len(fields) < 20 {
		return "", 0, 0, "", false
	}
	var t [4]int64 // utime, stime, cutime, cstime
	for i := range t {
		t[i], _ = strconv.ParseInt(fields[11+i], 10, 64)
	}
	return fields[1], t[0] + t[1], t[2] + t[3], fields[19], true
}

// cpuNow reads the CPU time so far of the run's own PostgreSQL (its
// postmaster and the postmaster's children, not other clusters on the
// machine), the server and this load generator.
func cpuNow(env *bench) cpuSnapshot {
	var c cpuSnapshot
	// A child reaped while /proc is read would be missed (reaped after
	// the postmaster was read, gone before its turn) or counted twice
	// (read, then reaped): the postmaster is read again after, and the
	// whole read again while its reaped time moved.
	for try := 0; ; try++ {
		c = cpuSnapshot{postgres: map[string]int64{}}
		if _, n, reaped, start, ok := procTimesStart(env.postmaster); ok {
			c.postgres[env.postmaster], c.reaped, c.postmasterStart = n, reaped, start
		}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if ppid, n, ok := procStat(e.Name()); ok && ppid == env.postmaster {
				c.postgres[e.Name()] = n
			}
		}
		if _, _, reaped, start, ok := procTimesStart(env.postmaster); try == 4 || !ok ||
			(reaped == c.reaped && start == c.postmasterStart) {
			break
		}
	}
	_, c.server, _ = procStat(strconv.Itoa(env.srv.cmd.Process.Pid))
	_, c.loadgen, _ = procStat(strconv.Itoa(os.Getpid()))
	if env.receiver != nil {
		_, c.receiver, _ = procStat(strconv.Itoa(env.receiver.cmd.Process.Pid))
	}
	return c
}

// since is the CPU time spent between then and c, process by process. A
// PostgreSQL backend that started in between is counted whole; one that
// exited in between (scenario 3L's connections, closed when it ends) is
// counted through the postmaster's reaped children, less what it had
// spent by then.
func (c cpuSnapshot) since(then cpuSnapshot) ticks {
	t := ticks{server: c.server - then.server, loadgen: c.loadgen - then.loadgen, receiver: c.receiver - then.receiver}
	for pid, n := range c.postgres {
		t.postgres += n - then.postgres[pid]
	}
	if c.postmasterStart == "" || c.postmasterStart != then.postmasterStart {
		// Not the same postmaster at both (gone, or restarted): its reaped
		// children cannot be told, and the processes that exited are not
		// counted.
		return t
	}
	t.postgres += c.reaped - then.reaped
	for pid, n := range then.postgres {
		if _, alive := c.postgres[pid]; !alive {
			t.postgres -= n
		}
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
