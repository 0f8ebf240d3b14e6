package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/migrations"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// openPool opens a pool on the database at url, closed when the test ends.
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// startServe runs `tally serve` with the environment and returns the base
// URL it prints, everything it printed up to that line, and a stop function
// that cancels it (as SIGTERM would) and returns its error.
func startServe(t *testing.T, vars map[string]string) (base, printed string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenv(vars), nil, pw, io.Discard)
		pw.Close()
	}()
	var out strings.Builder
	lines := bufio.NewScanner(pr)
	serving := regexp.MustCompile(`serving (http://\S+)`)
	deadline := time.AfterFunc(time.Minute, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if m := serving.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", <-done, out.String())
	}
	go io.Copy(io.Discard, pr) // keep serve's stdout flowing
	return base, out.String(), func() error {
		cancel()
		return <-done
	}
}

func TestServeEndToEnd(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": testdb.New(t), "TALLY_ADDR": "127.0.0.1:0",
		"TALLY_ADMIN_KEY": "automation-admin-key-0123456789"}
	base, _, stop := startServe(t, vars)

	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz = %d, want 200 (migrations applied at start)", res.StatusCode)
	}
	body := `{"reason":"opening balance","postings":[{"account":"platform:points:earned:adjustment","amount":"-7"},{"account":"customer:C1:points","amount":"7"}]}`
	req, _ := http.NewRequest("POST", base+"/v1/entries", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+vars["TALLY_ADMIN_KEY"])
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Errorf("POST /v1/entries with TALLY_ADMIN_KEY = %d, want 201", res.StatusCode)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the response")
	}
	if err := stop(); err != nil {
		t.Errorf("serve after cancel: %v, want a clean shutdown", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestFirstStartPrintsANewAdminKeyOnce(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": testdb.New(t), "TALLY_ADDR": "127.0.0.1:0"}
	_, printed, stop := startServe(t, vars)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, again, stop := startServe(t, vars)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`new admin key \(shown once, keep it\): (tly_\S+)`).FindStringSubmatch(printed)
	if key == nil {
		t.Fatalf("first start did not print an admin key:\n%s", printed)
	}
	if !strings.Contains(printed, "DATABASE_URL=postgres://") {
		t.Errorf("first start did not print the DATABASE_URL:\n%s", printed)
	}
	if strings.Contains(again, "admin key") {
		t.Errorf("second start printed another admin key:\n%s", again)
	}
}

func TestKeysCommands(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": testdb.New(t)}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--role", "customer", "--customer", "C9", "--name", "app"},
		getenv(vars), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tly_[A-Za-z0-9_-]{43}\n$`).MatchString(out.String()) {
		t.Errorf("keys create printed %q, want the key alone on a line", out.String())
	}
	if !strings.Contains(errOut.String(), "no customer C9 is registered yet") {
		t.Errorf("keys create for C9, not registered, said %q on stderr, want a note of it", errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, getenv(vars), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "customer  C9") || strings.Contains(out.String(), "tly_") {
		t.Errorf("keys list = %q: want the key's row and no secret", out.String())
	}
	// A key named before names were checked: its name is listed quoted,
	// its escape sequence never written as it is.
	pool, err := pgxpool.New(ctx, vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO api_keys (name, role, key_hash) VALUES ($1, 'admin', '\x00')`, "ops\x1b[2J\u202e"); err != nil {
		t.Fatal(err)
	}
	// A key of a registered customer comes with no note.
	if _, err := pool.Exec(ctx, `INSERT INTO customers (id, name) VALUES ('C10', 'Ten')`); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if err := run(ctx, []string{"keys", "create", "--role", "customer", "--customer", "C10", "--name", "app"},
		getenv(vars), nil, io.Discard, &errOut); err != nil || errOut.String() != "" {
		t.Errorf("keys create for C10, registered: %v, stderr %q; want no note", err, errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, getenv(vars), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"ops\x1b[2J\u202e"`) || strings.ContainsAny(out.String(), "\x1b\u202e") {
		t.Errorf("keys list = %q: want the old key's name quoted", out.String())
	}
	for _, bad := range [][]string{
		{"keys", "create", "--role", "customer", "--name", "no customer"},
		{"keys", "create", "--role", "root", "--name", "x"},
		{"keys", "create", "--role", "admin"},
		{"keys", "revoke", "999"},
	} {
		if err := run(ctx, bad, getenv(vars), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("tally %s succeeded, want an error", strings.Join(bad, " "))
		}
	}
}

func TestMigrateVersion(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": testdb.New(t)}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "version"}, getenv(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	latest, _ := migrations.Latest()
	if want := fmt.Sprintf("version: %d dirty: false\n", latest); out.String() != want {
		t.Errorf("migrate version = %q", out.String())
	}
}

// A mistyped command, or serve with a mistyped setting, is refused before
// any database is touched: with DATABASE_URL unset, none creates or starts
// the local cluster only to be refused.
func TestAMistypedCommandStartsNoCluster(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"TALLY_DATA_DIR": dir}
	for _, args := range [][]string{
		{"serve", "--port", "9"}, {"migrate"}, {"migrate", "upp"}, {"migrate", "force"}, {"migrate", "up", "1"},
		{"keys"}, {"keys", "frob"}, {"keys", "revoke", "x"}, {"expire", "--as-of", "tomorrow"},
		{"expire", "undo"}, {"notices", "x"}, {"reconcile", "now"}, {"webhooks"}, {"verify", "--seq", "1"},
	} {
		err := run(context.Background(), args, getenv(vars), nil, io.Discard, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("tally %s: %v, want a usage error", strings.Join(args, " "), err)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Fatalf("tally %s left %s in the data directory", strings.Join(args, " "), left[0].Name())
		}
	}
	// And serve with a mistyped setting.
	for name, value := range map[string]string{"TALLY_EVENT_WRITERS": "two", "TALLY_NOTICES_EVERY": "soon",
		"TALLY_RECONCILE_EVERY": "1ms", "TALLY_SEAL_INTERVAL": "-1s", "TALLY_WEBHOOK_LOG_KEEP": "1h",
		"TALLY_PUBLIC_URL": "ftp://tally.example.com"} {
		err := run(context.Background(), []string{"serve"}, getenv(map[string]string{"TALLY_DATA_DIR": dir, name: value}),
			nil, io.Discard, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("tally serve with %s=%s: %v, want a usage error", name, value, err)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Fatalf("tally serve with %s=%s left %s in the data directory", name, value, left[0].Name())
		}
	}
}

// After a migration that failed halfway was put right by hand, migrate
// force marks the schema clean at the version given, running nothing; a
// version that is not one is refused.
func TestMigrateForce(t *testing.T) {
	url := testdb.New(t)
	vars := map[string]string{"DATABASE_URL": url}
	ctx := context.Background()
	latest, _ := migrations.Latest()
	pool := openPool(t, url)
	if _, err := pool.Exec(ctx, `UPDATE schema_migrations SET version = $1, dirty = true`, latest); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "up"}, getenv(vars), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("migrate up on a dirty schema succeeded")
	}
	// Versions 19 and 20 have no migration (they were never numbered).
	vs, _ := migrations.Versions()
	for _, missing := range []uint{19, 20} {
		if slices.Contains(vs, missing) {
			t.Fatalf("migration %d exists: pick another missing version for this test", missing)
		}
		if err := run(ctx, []string{"migrate", "force", fmt.Sprint(missing)}, getenv(vars), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("migrate force %d (no such migration) succeeded", missing)
		}
	}
	target := fmt.Sprint(latest - 1)
	if err := run(ctx, []string{"migrate", "force", target}, getenv(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("version: %d dirty: false\n", latest-1); out.String() != want {
		t.Errorf("migrate force %s = %q, want %q", target, out.String(), want)
	}
	var version int
	var dirty bool
	if err := pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil ||
		version != int(latest-1) || dirty {
		t.Errorf("schema_migrations = %d, dirty %v, %v; want %d, clean", version, dirty, err, latest-1)
	}
	// The schema is clean now: forcing it again is refused, as are
	// versions no migration has.
	for _, bad := range [][]string{{"migrate", "force"}, {"migrate", "force", "0"}, {"migrate", "force", "x"},
		{"migrate", "force", fmt.Sprint(latest + 1)}, {"migrate", "up", "1"}, {"migrate", "force", target}} {
		if err := run(ctx, bad, getenv(vars), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("tally %s succeeded, want an error", strings.Join(bad, " "))
		}
	}
}

// TestExpireCommands: tally expire refuses an --as-of past now plus the
// clock skew, previews with --dry-run (writing nothing), runs under a run
// id, and `expire undo` puts the points back once.
func TestExpireCommands(t *testing.T) {
	url := testdb.New(t)
	vars := map[string]string{"DATABASE_URL": url}
	ctx := context.Background()
	pool := openPool(t, url)
	l := ledger.New(pool)
	if _, _, err := l.Post(ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "goodwill", Postings: []ledger.PostingInput{
		{Account: "customer:C1:points", Amount: decimal.NewFromInt(70), Lot: &ledger.Lot{AvailableAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}},
		{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-70)}}}); err != nil {
		t.Fatal(err)
	}
	balance := func() string {
		a, err := l.Account(ctx, "customer:C1:points")
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance.String()
	}
	tally := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv(vars), nil, &out, io.Discard)
		return out.String(), err
	}

	_, err := tally("expire", "--as-of", time.Now().Add(time.Hour).Format(time.RFC3339))
	if fault.CodeOf(err) != fault.AsOfInFuture {
		t.Errorf("expire an hour ahead: %v, want %s", err, fault.AsOfInFuture)
	}
	out, err := tally("expire", "--dry-run")
	if err != nil || !strings.HasPrefix(out, "C1\t70\nwould expire 70 points of 1 customers as of ") || balance() != "70" {
		t.Errorf("expire --dry-run printed %q, %v; balance %s: want C1's 70 listed and nothing written", out, err, balance())
	}
	out, err = tally("expire")
	if err != nil || !strings.HasPrefix(out, "run 1 expired 70 points of 1 customers") || balance() != "0" {
		t.Errorf("expire printed %q, %v; balance %s: want run 1 taking the 70", out, err, balance())
	}
	if _, err := tally("expire", "undo", "--run", "1"); err == nil {
		t.Error("expire undo without a reason succeeded")
	}
	out, err = tally("expire", "undo", "--run", "1", "--reason", "run by mistake")
	if err != nil || !strings.HasPrefix(out, "undid run 1 ") || !strings.Contains(out, "70 points of 1 customers restored") || balance() != "70" {
		t.Errorf("expire undo printed %q, %v; balance %s: want the 70 back", out, err, balance())
	}
	if _, err := tally("expire", "undo", "--run", "1", "--reason", "again"); fault.CodeOf(err) != fault.AlreadyUndone {
		t.Errorf("second undo: %v, want %s", err, fault.AlreadyUndone)
	}
}

// TestAWrongArgumentSaysWhatIsWrongNotTheWholeUsage: a command given a
// wrong argument exits 2 with what is wrong and where the help is; only a
// missing or unknown command shows the whole usage; any other error exits
// 1 with its message alone.
func TestAWrongArgumentSaysWhatIsWrongNotTheWholeUsage(t *testing.T) {
	for _, c := range []struct {
		args  []string
		code  int
		whole bool
	}{
		{[]string{"expire", "--as-of", "yesterday"}, 2, false},
		{[]string{"keys", "create", "--bogus"}, 2, false},
		{[]string{"frob"}, 2, true},
		{nil, 2, true},
	} {
		var stderr strings.Builder
		err := run(context.Background(), c.args, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
		code := exitCode(err, &stderr)
		if code != c.code || strings.Contains(stderr.String(), "environment:") != c.whole ||
			!strings.HasPrefix(stderr.String(), "tally: ") {
			t.Errorf("tally %s: exit %d, stderr %q; want exit %d, the whole usage %v", strings.Join(c.args, " "), code,
				stderr.String(), c.code, c.whole)
		}
	}
	var stderr strings.Builder
	if code := exitCode(errors.New("connection refused"), &stderr); code != 1 || stderr.String() != "tally: connection refused\n" {
		t.Errorf("another error: exit %d, stderr %q; want 1 and its message", code, stderr.String())
	}
}

// TestHelpAnywhereAnswersItAndRunsNothing: -h or --help after a command
// prints what the usage says of that command (exit 0), and runs nothing:
// `keys list --help` listed the keys, and on a fresh clone created and
// started a PostgreSQL cluster to do so. Here DATABASE_URL is unset and
// the data directory must stay empty.
func TestHelpAnywhereAnswersItAndRunsNothing(t *testing.T) {
	dir := t.TempDir()
	nowhere := getenv(map[string]string{"TALLY_DATA_DIR": dir})
	for _, c := range []struct {
		args []string
		want []string // lines of the usage it shows
		not  string   // a line of another command's, not shown
	}{
		{[]string{"keys", "list", "--help"}, []string{"  keys list ", "  keys revoke ID"}, "  serve "},
		{[]string{"keys", "--help"}, []string{"  keys create --role R"}, "  migrate "},
		{[]string{"devdb", "-h"}, []string{"  devdb start|stop|url", "  devdb ha start"}, "  keys "},
		{[]string{"expire", "undo", "--run", "1", "-help"}, []string{"  expire [--as-of T]", "  expire undo --run ID"}, "  notices "},
		{[]string{"serve", "--help"}, []string{"  serve "}, "  keys "},
		{[]string{"migrate", "--help"}, []string{"  migrate up|down|version", "  migrate force N"}, "  serve "},
		{[]string{"--help"}, []string{"  serve ", "  keys list ", "environment:"}, "\x00"},
	} {
		var stdout strings.Builder
		err := run(context.Background(), c.args, nowhere, strings.NewReader(""), &stdout, io.Discard)
		if err != nil {
			t.Errorf("tally %s: %v, want the help and no error", strings.Join(c.args, " "), err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("tally %s: no %q in %q", strings.Join(c.args, " "), w, stdout.String())
			}
		}
		if strings.Contains(stdout.String(), c.not) {
			t.Errorf("tally %s: %q, another command's help, in %q", strings.Join(c.args, " "), c.not, stdout.String())
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Fatalf("tally %s left %s in the data directory", strings.Join(c.args, " "), left[0].Name())
		}
	}
}

// TestServeRunsTheNoticesAtStart: the notice jobs run when serve starts,
// not one interval later: a server restarted more often than the interval
// (deploys) announced nothing, and a referral bonus that became available
// waited for someone to run `tally notices`. The expiring points' and the
// downgrades' jobs record how far they have run (notice_marks).
func TestServeRunsTheNoticesAtStart(t *testing.T) {
	url := testdb.New(t)
	_, _, stop := startServe(t, map[string]string{"DATABASE_URL": url, "TALLY_ADDR": "127.0.0.1:0",
		"TALLY_NOTICES_EVERY": "1h", "TALLY_RECONCILE_EVERY": "0", "TALLY_WEBHOOK_LOG_KEEP": "0"})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var marks int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM notice_marks`).Scan(&marks); err != nil {
			t.Fatal(err)
		}
		if marks == 2 {
			return
		}
	}
	t.Errorf("%d notice jobs ran within 20 s of serve's start (interval 1h), want 2", marks)
}

// TestHelpIsNotAFlagsValue: "-h" or "--help" given as a flag's value (a
// reason, a key's name, a customer id) is that value, as the flag package
// reads it, not a request for help: `expire undo --run 7 --reason -h`
// printed the usage, undid nothing and exited 0, and `keys create --name
// --help` printed the usage on stdout, where a script captures the
// secret. Each of these must run its command (here against a database
// that is not there: an error, and no usage on stdout). A help flag in a
// flag's place (after a boolean flag, after the command) still answers
// the help.
func TestHelpIsNotAFlagsValue(t *testing.T) {
	dir := t.TempDir()
	unreachable := getenv(map[string]string{"TALLY_DATA_DIR": dir, "DATABASE_URL": "postgres://tally@127.0.0.1:1/tally?connect_timeout=2"})
	for _, args := range [][]string{
		{"expire", "undo", "--run", "7", "--reason", "-h"},
		{"keys", "create", "--role", "admin", "--name", "--help"},
		{"keys", "create", "--role", "customer", "--customer", "-help", "--name", "app"},
	} {
		var stdout strings.Builder
		err := run(context.Background(), args, unreachable, strings.NewReader(""), &stdout, io.Discard)
		if err == nil || strings.Contains(stdout.String(), "usage:") {
			t.Errorf("tally %s: error %v, stdout %q; want the command run (an error: no database), not the help",
				strings.Join(args, " "), err, stdout.String())
		}
	}
	for _, args := range [][]string{
		{"expire", "--dry-run", "-h"}, {"devdb", "start", "--fast", "--help"}, {"keys", "create", "--help", "--name", "x"},
	} {
		var stdout strings.Builder
		err := run(context.Background(), args, unreachable, strings.NewReader(""), &stdout, io.Discard)
		if err != nil || !strings.Contains(stdout.String(), "usage:") {
			t.Errorf("tally %s: error %v, stdout %q; want the help", strings.Join(args, " "), err, stdout.String())
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Fatalf("left %s in the data directory", left[0].Name())
	}
}
