package pgdev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// HA is a project-local replicated cluster run by pg_auto_failover
// (pg_autoctl, Debian package postgresql-15-auto-failover): a monitor and
// a primary with two standbys, all on loopback ports, each node's keeper
// (`pg_autoctl run`) a process of its own that outlives the command that
// started it.
//
// Two standbys, because pg_auto_failover's synchronous replication waits
// for ANY 1 of the standbys (number_sync_standbys = 1): with two, one
// standby may fail and every commit is still on two machines before it is
// acknowledged; with one, the monitor turns synchronous replication off
// when that standby fails (the primary goes to wait_primary) and commits
// are then acknowledged from the primary alone.
//
// The monitor here is tuned for a development machine: a dead primary is
// noticed within about 3 s and a standby promoted after a demote timeout
// of 5 s (the defaults are 20 s and 30 s).
type HA struct {
	Dir string // absolute directory holding the monitor's and the nodes' data
	bin string
	log func(format string, args ...any)
}

// HANodes is how many PostgreSQL nodes an HA cluster has: a primary and
// two standbys.
const HANodes = 3

// haLayout is what a cluster's directory remembers of its creation: the
// ports, picked once.
type haLayout struct {
	MonitorPort int   `json:"monitor_port"`
	NodePorts   []int `json:"node_ports"`
}

// HANode is a node as the monitor sees it.
type HANode struct {
	Name     string // node1, node2, node3
	Port     int
	Reported string // the state the node reports (primary, secondary, ...)
	Assigned string // the state the monitor assigned it
}

// OpenHA locates PostgreSQL's and pg_autoctl's binaries for the cluster in
// dir. It does not touch the directory.
func OpenHA(dir string, opts Options) (*HA, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("pg_autoctl"); err != nil {
		return nil, errors.New("pg_autoctl not found: install pg_auto_failover " +
			"(`make deps`, or `apt-get install postgresql-15-auto-failover`)")
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	return &HA{Dir: abs, bin: bin, log: opts.Log}, nil
}

func (h *HA) monitorDir() string      { return filepath.Join(h.Dir, "monitor") }
func (h *HA) nodeDir(i int) string    { return filepath.Join(h.Dir, fmt.Sprintf("node%d", i+1)) }
func (h *HA) layoutFile() string      { return filepath.Join(h.Dir, "ports.json") }
func (h *HA) logFile(n string) string { return filepath.Join(h.Dir, n+".log") }

func (h *HA) layout() (haLayout, error) {
	var l haLayout
	data, err := os.ReadFile(h.layoutFile())
	if err != nil {
		return l, err
	}
	err = json.Unmarshal(data, &l)
	return l, err
}

func (h *HA) monitorURL(l haLayout) string {
	return fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", l.MonitorPort)
}

// URLs are the cluster's connection strings for database db: write lists
// every node with target_session_attrs=read-write (whichever is primary
// now), read every node with target_session_attrs=standby (for
// TALLY_READ_DATABASE_URL, which connects to each host on its own).
func (h *HA) URLs(db string) (write, read string, err error) {
	l, err := h.layout()
	if err != nil {
		return "", "", err
	}
	hosts := make([]string, len(l.NodePorts))
	for i, p := range l.NodePorts {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	base := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&target_session_attrs=", Superuser, strings.Join(hosts, ","), db)
	return base + "read-write", base + "standby", nil
}

// NodeURL is the connection string of one node's database db.
func (h *HA) NodeURL(port int, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, port, db)
}

// Start creates the cluster if needed, starts whatever of it is not
// running, waits until a primary and both standbys are up (synchronous
// replication in force) and creates database db. It returns the URLs.
func (h *HA) Start(ctx context.Context, db string) (write, read string, err error) {
	unlock, err := lockFile(h.Dir + ".lock")
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return "", "", err
	}
	// pg_autoctl falls back to /tmp for what is missing of these.
	for _, d := range []string{h.Dir, filepath.Join(h.Dir, "config"), filepath.Join(h.Dir, "share"), filepath.Join(h.Dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", "", err
		}
		if err := chownToServerUser(d); err != nil {
			return "", "", err
		}
	}
	l, err := h.layout()
	if errors.Is(err, os.ErrNotExist) {
		if l, err = h.pickPorts(); err != nil {
			return "", "", err
		}
	} else if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(h.monitorDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		h.log("creating the pg_auto_failover monitor in %s", h.monitorDir())
		if err := h.createMonitor(l); err != nil {
			return "", "", err
		}
	}
	if !h.keeperRunning(h.monitorDir()) {
		if err := h.spawn("monitor", "run", "--pgdata", h.monitorDir()); err != nil {
			return "", "", err
		}
	}
	if err := h.waitMonitor(ctx, l); err != nil {
		return "", "", err
	}
	for i := range HANodes {
		if h.keeperRunning(h.nodeDir(i)) {
			continue
		}
		if _, err := os.Stat(h.nodeDir(i)); errors.Is(err, os.ErrNotExist) {
			h.log("creating node%d (port %d)", i+1, l.NodePorts[i])
			err = h.spawn(fmt.Sprintf("node%d", i+1), "create", "postgres", "--pgdata", h.nodeDir(i),
				"--pgctl", filepath.Join(h.bin, "pg_ctl"), "--pgport", strconv.Itoa(l.NodePorts[i]),
				"--pghost", "127.0.0.1", "--listen", "127.0.0.1", "--hostname", "127.0.0.1", "--name", fmt.Sprintf("node%d", i+1),
				"--auth", "trust", "--no-ssl", "--dbname", db, "--monitor", h.monitorURL(l), "--run")
		} else {
			err = h.StartNode(i)
		}
		if err != nil {
			return "", "", err
		}
		if i == 0 {
			// The first node must be primary before the others can
			// clone it.
			if err := h.waitFor(ctx, 2*time.Minute, "a primary", func(ns []HANode) bool { return countIn(ns, "primary", "single", "wait_primary") == 1 }); err != nil {
				return "", "", err
			}
		}
	}
	if err := h.WaitHealthy(ctx, 3*time.Minute); err != nil {
		return "", "", err
	}
	if err := h.ensureRole(ctx, db); err != nil {
		return "", "", err
	}
	write, read, err = h.URLs(db)
	return write, read, err
}

func countIn(ns []HANode, states ...string) int {
	n := 0
	for _, x := range ns {
		for _, s := range states {
			if x.Reported == s && x.Assigned == s {
				n++
			}
		}
	}
	return n
}

// WaitHealthy waits until the monitor sees one primary and every other
// node a secondary, each in the state it was assigned.
func (h *HA) WaitHealthy(ctx context.Context, limit time.Duration) error {
	return h.waitFor(ctx, limit, "a primary and two secondaries", func(ns []HANode) bool {
		return len(ns) == HANodes && countIn(ns, "primary") == 1 && countIn(ns, "secondary") == HANodes-1 &&
			h.answer(ctx, ns)
	})
}

// WaitPrimary waits until a node other than the one on port notPort is
// primary and writable (primary, or wait_primary when no standby is left),
// and returns it.
func (h *HA) WaitPrimary(ctx context.Context, notPort int, limit time.Duration) (HANode, error) {
	var found HANode
	err := h.waitFor(ctx, limit, "a new primary", func(ns []HANode) bool {
		for _, n := range ns {
			if n.Port != notPort && (countIn([]HANode{n}, "primary", "wait_primary", "single") == 1) {
				found = n
				return true
			}
		}
		return false
	})
	return found, err
}

func (h *HA) waitFor(ctx context.Context, limit time.Duration, what string, ok func([]HANode) bool) error {
	deadline := time.Now().Add(limit)
	var last []HANode
	var nudged time.Time
	for {
		ns, err := h.Nodes(ctx)
		if err == nil {
			last = ns
			if ok(ns) {
				return nil
			}
			if time.Since(nudged) > 2*time.Second && h.cloning(ns) {
				h.checkpoint(ctx, ns)
				nudged = time.Now()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pg_auto_failover: no %s after %s (nodes %+v, last error %v; logs in %s)", what, limit, last, err, h.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// answer reports whether every node answers as what the monitor says it
// is (the monitor remembers states from before a stop): the primary
// writable, the secondaries in recovery and streaming from it.
func (h *HA) answer(ctx context.Context, ns []HANode) bool {
	for _, n := range ns {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", n.Port))
		if err != nil {
			cancel()
			return false
		}
		var recovery bool
		var streaming int
		err = conn.QueryRow(cctx, `SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')`).
			Scan(&recovery, &streaming)
		conn.Close(ctx)
		cancel()
		if err != nil || recovery != (n.Reported != "primary") || (!recovery && streaming != HANodes-1) {
			return false
		}
	}
	return true
}

// cloning reports whether a node is being cloned from the primary.
func (h *HA) cloning(ns []HANode) bool {
	for _, n := range ns {
		if n.Reported == "wait_standby" || n.Reported == "catchingup" {
			return true
		}
	}
	return false
}

// checkpoint asks the primary for an immediate checkpoint: pg_autoctl
// clones a standby with pg_basebackup, which waits for a spread one
// (minutes on an idle cluster); an immediate request hurries it.
func (h *HA) checkpoint(ctx context.Context, ns []HANode) {
	for _, n := range ns {
		if countIn([]HANode{n}, "primary", "wait_primary", "single") == 1 {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if conn, err := pgx.Connect(cctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", n.Port)); err == nil {
				conn.Exec(cctx, "CHECKPOINT")
				conn.Close(ctx)
			}
			cancel()
		}
	}
}

// Nodes asks the monitor for the nodes and their states.
func (h *HA) Nodes(ctx context.Context) ([]HANode, error) {
	l, err := h.layout()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, h.monitorURL(l))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(cctx, `SELECT nodename, nodeport, reportedstate::text, goalstate::text FROM pgautofailover.node ORDER BY nodeid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HANode, error) {
		var n HANode
		err := r.Scan(&n.Name, &n.Port, &n.Reported, &n.Assigned)
		return n, err
	})
}

// Primary is the node the monitor has as primary now.
func (h *HA) Primary(ctx context.Context) (HANode, error) {
	ns, err := h.Nodes(ctx)
	if err != nil {
		return HANode{}, err
	}
	for _, n := range ns {
		if countIn([]HANode{n}, "primary", "wait_primary", "single") == 1 {
			return n, nil
		}
	}
	return HANode{}, fmt.Errorf("no primary now: %+v", ns)
}

// Status is pg_autoctl's table of the nodes and their states.
func (h *HA) Status() (string, error) {
	out, err := h.output("show", "state", "--pgdata", h.monitorDir())
	if err != nil {
		return "", err
	}
	return out, nil
}

// Stop stops every node, then the monitor (each keeper stops its
// PostgreSQL, fast mode). A cluster never started is left alone.
func (h *HA) Stop() error {
	var errs []error
	for i := range HANodes {
		errs = append(errs, h.stopKeeper(h.nodeDir(i)))
	}
	errs = append(errs, h.stopKeeper(h.monitorDir()))
	return errors.Join(errs...)
}

func (h *HA) stopKeeper(pgdata string) error {
	if !h.keeperRunning(pgdata) {
		return nil
	}
	if _, err := h.output("stop", "--pgdata", pgdata); err != nil {
		return err
	}
	for deadline := time.Now().Add(60 * time.Second); h.keeperRunning(pgdata); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pg_autoctl in %s did not stop", pgdata)
		}
	}
	return nil
}

// KillNode kills node i (0-based) as a machine dying would: SIGKILL to
// its keeper and every process of its group, the postmaster and its
// backends with them, so that nothing restarts it. (Killing the postmaster
// alone is a crash its keeper restarts within a second, no failover.)
func (h *HA) KillNode(i int) error {
	pid, err := h.keeperPID(h.nodeDir(i))
	if err != nil {
		return err
	}
	// The keeper was spawned as the leader of a session of its own: its
	// process group holds its PostgreSQL too.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill node%d (pid %d): %w", i+1, pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("node%d (pid %d) still alive after SIGKILL", i+1, pid)
		}
	}
	return nil
}

// StartNode starts node i's keeper again; a former primary rejoins as a
// standby (pg_rewind).
func (h *HA) StartNode(i int) error {
	return h.spawn(fmt.Sprintf("node%d", i+1), "run", "--pgdata", h.nodeDir(i))
}

// NodeIndex is the index of the node listening on port.
func (h *HA) NodeIndex(port int) (int, error) {
	l, err := h.layout()
	if err != nil {
		return 0, err
	}
	for i, p := range l.NodePorts {
		if p == port {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no node on port %d", port)
}

func (h *HA) pickPorts() (haLayout, error) {
	var l haLayout
	seen := map[int]bool{}
	for len(seen) < HANodes+1 {
		p, err := freePort()
		if err != nil {
			return l, err
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		if l.MonitorPort == 0 {
			l.MonitorPort = p
		} else {
			l.NodePorts = append(l.NodePorts, p)
		}
	}
	data, _ := json.Marshal(l)
	return l, os.WriteFile(h.layoutFile(), data, 0o644)
}

func (h *HA) createMonitor(l haLayout) error {
	if _, err := h.output("create", "monitor", "--pgdata", h.monitorDir(), "--pgctl", filepath.Join(h.bin, "pg_ctl"),
		"--pgport", strconv.Itoa(l.MonitorPort), "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"); err != nil {
		return err
	}
	if _, err := h.output("config", "set", "--pgdata", h.monitorDir(), "postgresql.listen_addresses", "127.0.0.1"); err != nil {
		return err
	}
	// Failover timing for a development machine (milliseconds).
	conf := "\n# added by tally's pgdev: fail over within seconds\n" +
		"pgautofailover.health_check_period = 1000\npgautofailover.health_check_timeout = 1000\n" +
		"pgautofailover.health_check_max_retries = 1\npgautofailover.health_check_retry_delay = 500\n" +
		"pgautofailover.node_considered_unhealthy_timeout = 3000\npgautofailover.primary_demote_timeout = 5000\n"
	f, err := os.OpenFile(filepath.Join(h.monitorDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (h *HA) waitMonitor(ctx context.Context, l haLayout) error {
	deadline := time.Now().Add(time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, h.monitorURL(l))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pg_auto_failover monitor not up (see %s): %w", h.logFile("monitor"), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ensureRole gives the cluster the superuser pgdev's URLs name, owning
// database db (pg_autoctl creates both as postgres).
func (h *HA) ensureRole(ctx context.Context, db string) error {
	p, err := h.Primary(ctx)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+Superuser+`') THEN
			CREATE ROLE `+Superuser+` SUPERUSER LOGIN;
		END IF;
	END $$`)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+Superuser)
	return err
}

// env is the environment pg_autoctl runs in: its configuration, state and
// pid files under the cluster's directory, not the user's home.
func (h *HA) env() []string {
	return append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(h.Dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(h.Dir, "share"), "XDG_RUNTIME_DIR="+filepath.Join(h.Dir, "run"),
		"PATH="+h.bin+":"+os.Getenv("PATH"), "HOME="+h.Dir)
}

// command is pg_autoctl with args, as the postgres user when we are root.
func (h *HA) command(args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("pg_autoctl", args...)
	cmd.Env = h.env()
	cmd.Dir = h.Dir
	attr := &syscall.SysProcAttr{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

func (h *HA) output(args ...string) (string, error) {
	cmd, err := h.command(args...)
	if err != nil {
		return "", err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pg_autoctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// spawn starts a long-running pg_autoctl (a keeper) in a session of its
// own, its output appended to <name>.log, and does not wait for it.
func (h *HA) spawn(name string, args ...string) error {
	cmd, err := h.command(args...)
	if err != nil {
		return err
	}
	cmd.SysProcAttr.Setsid = true
	f, err := os.OpenFile(h.logFile(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pg_autoctl %s: %w", strings.Join(args, " "), err)
	}
	// The keeper outlives us; its exit status is nobody's business here.
	go cmd.Wait()
	return nil
}

// keeperPID is the pid in pg_autoctl's pid file for pgdata.
func (h *HA) keeperPID(pgdata string) (int, error) {
	data, err := os.ReadFile(filepath.Join(h.Dir, "run", "pg_autoctl", strings.TrimPrefix(pgdata, "/"), "pg_autoctl.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("pid file of %s: %w", pgdata, err)
	}
	return pid, nil
}

func (h *HA) keeperRunning(pgdata string) bool {
	pid, err := h.keeperPID(pgdata)
	return err == nil && syscall.Kill(pid, 0) == nil
}

// chownToServerUser hands dir to the postgres user when we are root.
func chownToServerUser(dir string) error {
	return (&Cluster{}).chownToServerUser(dir)
}
