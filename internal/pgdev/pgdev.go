// Package pgdev creates, starts and stops a project-local PostgreSQL cluster
// from the machine's own PostgreSQL binaries, so that `make run` and `make
// test` need nothing but Go and Debian's postgresql package.
//
// It is development tooling: the service itself only ever needs a
// DATABASE_URL, and production sets one. pgdev never touches a cluster it did
// not create.
package pgdev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the cluster's superuser and the owner of the default database.
const Superuser = "tally"

// Options tune a cluster at creation time.
type Options struct {
	// Fast turns off fsync and synchronous commit: for throwaway test clusters
	// only, never for data anyone wants to keep.
	Fast bool
	// Settings are more postgresql.conf lines (the benchmark loads
	// pg_stat_statements).
	Settings string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Cluster is a PostgreSQL data directory under the project.
type Cluster struct {
	Dir  string // absolute data directory
	bin  string
	opts Options
}

// Open locates the PostgreSQL binaries for the data directory dir. It does not
// touch the directory.
func Open(dir string, opts Options) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	return &Cluster{Dir: abs, bin: bin, opts: opts}, nil
}

// FindBinDir finds the directory holding initdb and pg_ctl: $PG_BINDIR, then
// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(globbed, func(i, j int) bool { return versionOf(globbed[i]) > versionOf(globbed[j]) })
	candidates = append(candidates, globbed...)
	for _, d := range candidates {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (looked at $PG_BINDIR, `pg_config --bindir` " +
		"and /usr/lib/postgresql/*/bin): install them with `apt-get install postgresql` " +
		"(or set DATABASE_URL to an existing database)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// URL is the connection string of database db in the cluster.
func (c *Cluster) URL(db string) (string, error) {
	port, err := c.port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, port, db), nil
}

// Ensure creates the cluster if needed, starts it if it is not running and
// creates database db if it is missing. It reports whether it started the
// server (so that the caller may stop it again) and the database URL.
func (c *Cluster) Ensure(ctx context.Context, db string) (url string, started bool, err error) {
	unlock, err := lockFile(c.Dir + ".lock")
	if err != nil {
		return "", false, err
	}
	defer unlock()

	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(); err != nil {
			return "", false, err
		}
	}
	if !c.running() {
		c.opts.Log("starting PostgreSQL in %s", c.Dir)
		if err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.Dir, "server.log")); err != nil {
			return "", false, fmt.Errorf("start PostgreSQL (see %s): %w", filepath.Join(c.Dir, "server.log"), err)
		}
		started = true
	}
	url, err = c.URL(db)
	if err != nil {
		return "", started, err
	}
	if err := c.createDatabase(ctx, db); err != nil {
		return "", started, err
	}
	return url, started, nil
}

// Stop stops the server if it runs.
func (c *Cluster) Stop() error {
	if !c.running() {
		return nil
	}
	return c.pgctl("stop", "-w", "-m", "fast")
}

// Crash stops the server in immediate mode, as a power cut would: no
// checkpoint, recovery from the WAL at the next start (chaos tests).
func (c *Cluster) Crash() error {
	return c.pgctl("stop", "-w", "-m", "immediate")
}

func (c *Cluster) initdb() error {
	c.opts.Log("creating a PostgreSQL cluster in %s", c.Dir)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	if err := c.chownToServerUser(c.Dir); err != nil {
		return err
	}
	if err := c.run(filepath.Join(c.bin, "initdb"), "-D", c.Dir, "-U", Superuser, "--auth=trust",
		"-E", "UTF8", "--locale=C"); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("\n# added by tally's pgdev\nport = %d\nlisten_addresses = '127.0.0.1'\n"+
		"unix_socket_directories = ''\nmax_connections = 200\ntimezone = 'UTC'\n", port)
	if c.opts.Fast {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	conf += c.opts.Settings
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *Cluster) port() (int, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "postgresql.conf"))
	if err != nil {
		return 0, err
	}
	port := 0
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "port = "); ok {
			port, _ = strconv.Atoi(v)
		}
	}
	if port == 0 {
		return 0, fmt.Errorf("no port in %s/postgresql.conf", c.Dir)
	}
	return port, nil
}

func (c *Cluster) running() bool {
	if _, err := os.Stat(filepath.Join(c.Dir, "postmaster.pid")); err != nil {
		return false
	}
	return c.pgctl("status") == nil
}

func (c *Cluster) createDatabase(ctx context.Context, db string) error {
	admin, err := c.URL("postgres")
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	return err
}

func (c *Cluster) pgctl(args ...string) error {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.Dir}, args...)...)
}

// run runs a PostgreSQL binary, as the postgres user when we are root, since
// PostgreSQL refuses to run as root.
func (c *Cluster) run(name string, args ...string) error {
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The server must outlive us and our process group's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (c *Cluster) chownToServerUser(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return errors.New("running as root, PostgreSQL must run as the `postgres` user, which does not exist: " +
			"install Debian's postgresql package (it creates the user) or run as a normal user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockFile takes an exclusive flock on path, so that concurrent `make` runs
// do not initialise or start the same cluster twice.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
