package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestReadmeWalkthrough runs the README's walkthrough ("The API by example"
// through the portal's example) as a reader pastes it: its sh blocks, in
// order, in one bash, against a fresh server (started as the webhooks
// example asks: TALLY_WEBHOOK_HOSTS=127.0.0.1, loopback allowed) and the
// real binary for its bin/tally commands. Only the first line, where the
// reader pastes the base URL and the admin key, is the test's own.
//
// Each "# ->" line (on its own, or after a command) shows the answer of the
// commands since the one before: its status (the last curl's), and the
// fields shown, each "key":value of it present in the answer ("key":"abc..."
// a prefix; "key":"..." any value), each CSV line shown a line of the
// answer, a `quoted` text in it, or without any of those, its text up to
// "..." in the output. $NAME in a "# ->" line is the shell variable's value.
// Continuation lines start with "#" and two spaces; "   (" starts a remark.
// What is checked is the output of the last curl of those commands (of all
// of them, when none is a curl). The example envelope, a JSON block the
// walkthrough does not run, is compared with the notification it shows
// (checkReadmeEnvelope).
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's walkthrough: a server, the binary and bash")
	}
	for _, tool := range []string{"bash", "curl", "jq", "date", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's walkthrough needs %s (make deps installs it): %v", tool, err)
		}
	}
	awayFromAMonthsTurn(t, time.Now())
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	w, err := parseWalkthrough(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	// The reader's directory: bin/tally, and the module (the webhooks
	// example builds its receiver with the module's dependencies). With
	// TALLY_README_URL and TALLY_README_ADMIN_KEY set, the walkthrough runs
	// against that server instead, from the repository's directory (its
	// bin/tally, its .data), as the README says: a fresh `make run`, started
	// with the webhooks' variables.
	rt := t.TempDir()
	dir, env := rt, []string{}
	base, admin := os.Getenv("TALLY_README_URL"), os.Getenv("TALLY_README_ADMIN_KEY")
	if base != "" {
		if dir, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
			t.Fatal(err)
		}
	} else {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "tally"), ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		for _, f := range []string{"go.mod", "go.sum"} {
			abs, err := filepath.Abs(filepath.Join("..", "..", f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(abs, filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		admin = "tly_readme-walkthrough-admin-key-0123456789"
		url := testdb.New(t)
		var stop func() error
		base, _, stop = startServe(t, map[string]string{"DATABASE_URL": url, "TALLY_ADDR": "127.0.0.1:0",
			"TALLY_ADMIN_KEY": admin, "TALLY_WEBHOOK_HOSTS": "127.0.0.1", "TALLY_WEBHOOK_ALLOW_LOOPBACK": "1"})
		defer func() {
			if err := stop(); err != nil {
				t.Errorf("serve: %v", err)
			}
		}()
		env = append(env, "DATABASE_URL="+url)
	}
	hook := freeAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	script := filepath.Join(rt, "walkthrough.sh")
	if err := os.WriteFile(script, []byte(w.script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "TALLY="+base, "ADMIN="+admin, "HOOK_ADDR="+hook, "__RT="+rt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the receiver too, when the script stops early
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if runErr != nil {
		t.Errorf("bash: %v", runErr)
	}
	segments := splitTranscript(out.String())
	for i, e := range w.expects {
		seg, ok := segments[i]
		if !ok {
			t.Errorf("README.md:%d: never reached: %s", e.line, e.text)
			continue
		}
		if problems := e.check(seg); len(problems) > 0 {
			body := seg.output
			if len(body) > 3000 {
				body = body[:3000] + "..."
			}
			t.Errorf("README.md:%d: %s\n  wanted: %s\n  got status %q, output:\n%s", e.line, strings.Join(problems, "; "),
				e.text, seg.status, body)
		}
	}
	checkReadmeEnvelope(t, string(readme), base, admin)
	if t.Failed() || testing.Verbose() {
		t.Logf("%d checks; the walkthrough's transcript:\n%s", len(w.expects), out.String())
	}
}

// readmeEnvelopeMarker introduces the README's example of a notification's
// envelope: the JSON block after it is wb-2's, as the walkthrough makes it.
const readmeEnvelopeMarker = "(wb-2's, from a fresh run on "

// checkReadmeEnvelope compares the README's example envelope (a JSON block,
// which the walkthrough does not run) with wb-2's notification in the feed
// of the server the walkthrough ran against, all but its occurred_at and
// its contribution's month (the instant and the month of the run).
func checkReadmeEnvelope(t *testing.T, readme, base, admin string) {
	t.Helper()
	_, after, ok := strings.Cut(readme, readmeEnvelopeMarker)
	_, block, ok2 := strings.Cut(after, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("README.md: no JSON block after %q", readmeEnvelopeMarker)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(block), &want); err != nil {
		t.Fatalf("README.md: the example envelope: %v", err)
	}
	req, err := http.NewRequest(http.MethodGet, base+"/v1/notifications?limit=100", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var feed struct {
		Notifications []map[string]any `json:"notifications"`
	}
	if err := json.NewDecoder(res.Body).Decode(&feed); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the feed: %d %v", res.StatusCode, err)
	}
	for _, n := range feed.Notifications {
		data, _ := n["data"].(map[string]any)
		if n["type"] != "points.earned" || data["event_id"] != "wb-2" {
			continue
		}
		for _, m := range []map[string]any{n, want} {
			delete(m, "occurred_at")
			if c, ok := dig(m, "data", "pricing", "contribution"); ok {
				delete(c, "month") // the month of the run
			}
		}
		if !reflect.DeepEqual(n, want) {
			got, _ := json.Marshal(n)
			t.Errorf("README.md: the example envelope is not wb-2's as the walkthrough makes it (the instant and month aside):\n got %s\nwant %s",
				got, strings.Join(strings.Fields(block), " "))
		}
		return
	}
	t.Errorf("the feed has no points.earned of wb-2, the README's example envelope")
}

// freeAddr is a loopback address no one listens on (as far as one can tell).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type walkthrough struct {
	script  string
	expects []expect
}

type expect struct {
	line int    // in README.md
	text string // after "->", continuation lines joined by "\n"
}

// walkthroughPreamble makes curl mark where its answer begins in the output
// (on stderr, so that what reads its stdout reads its answer alone) and keep
// its headers, so that a check reads the last answer and its status;
// __check marks where a check's output ends.
const walkthroughPreamble = `curl() { printf '@@curl\n' >&2; command curl -D "$__RT/headers" "$@"; }
__check() {
	printf '\n@@check %s %s\n' "$1" "$(grep -a '^HTTP/' "$__RT/headers" 2>/dev/null | tail -1 | cut -d' ' -f2)"
	rm -f "$__RT/headers"
}
`

var (
	shellVar     = regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)\}?`)
	continuation = regexp.MustCompile(`^\s*#  `)
)

// parseWalkthrough reads the sh blocks from "## The API by example" to the
// end of the section on the pages, and the "# ->" lines in them.
func parseWalkthrough(readme string) (walkthrough, error) {
	var (
		w             walkthrough
		script        strings.Builder
		started, page bool
		inBlock       bool
		open          = -1 // the expectation continuation lines extend
	)
	script.WriteString(walkthroughPreamble)
	closeExpect := func() {
		if open < 0 {
			return
		}
		e := w.expects[open]
		fmt.Fprintf(&script, "__check %d\n", open)
		for _, m := range shellVar.FindAllStringSubmatch(e.text, -1) {
			fmt.Fprintf(&script, "printf '@@var %s=%%s\\n' \"$%s\"\n", m[1], m[1])
		}
		open = -1
	}
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "## The API by example"):
			started = true
		case strings.HasPrefix(line, "## The pages"):
			page = true
		case strings.HasPrefix(line, "## ") && page:
			started = false
		}
		if !started {
			continue
		}
		if !inBlock {
			inBlock = line == "```sh"
			continue
		}
		if line == "```" {
			closeExpect()
			inBlock = false
			continue
		}
		trimmed := strings.TrimSpace(line)
		if open >= 0 && continuation.MatchString(line) {
			w.expects[open].text += "\n" + strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			continue
		}
		closeExpect()
		if rest, ok := strings.CutPrefix(trimmed, "# ->"); ok {
			w.expects = append(w.expects, expect{line: i + 1, text: strings.TrimSpace(rest)})
			open = len(w.expects) - 1
			continue
		}
		if strings.HasPrefix(line, "export TALLY=") { // the reader's own values: the test's
			script.WriteString("true # " + line + "\n")
			continue
		}
		script.WriteString(line + "\n")
		if at := strings.Index(line, "# -> "); at > 0 && !strings.HasPrefix(trimmed, "#") {
			w.expects = append(w.expects, expect{line: i + 1, text: strings.TrimSpace(line[at+len("# ->"):])})
			open = len(w.expects) - 1
		}
	}
	if len(w.expects) == 0 {
		return w, fmt.Errorf("README.md: no walkthrough (no \"# ->\" lines after \"## The API by example\")")
	}
	w.script = script.String()
	return w, nil
}

type segment struct {
	status string
	output string // since the last curl began, if any did
	vars   map[string]string
}

// splitTranscript cuts the walkthrough's output at its checks.
func splitTranscript(out string) map[int]segment {
	segs := map[int]segment{}
	var cur strings.Builder
	last := -1
	for _, line := range strings.SplitAfter(out, "\n") {
		switch {
		case strings.HasPrefix(line, "@@check "):
			var n int
			f := strings.Fields(line)
			fmt.Sscan(f[1], &n)
			s := segment{output: strings.TrimSuffix(cur.String(), "\n"), vars: map[string]string{}}
			if len(f) > 2 {
				s.status = f[2]
			}
			segs[n], last = s, n
			cur.Reset()
		case line == "@@curl\n":
			cur.Reset()
		case strings.HasPrefix(line, "@@var ") && last >= 0:
			k, v, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "@@var "), "\n"), "=")
			segs[last].vars[k] = v
		default:
			cur.WriteString(line)
		}
	}
	return segs
}

var (
	statusPrefix = regexp.MustCompile(`^(\d{3})\b`)
	jsonPair     = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)":\s*("(?:[^"\\]|\\.)*"|-?\d[\d.]*|true|false|null)`)
	backquoted   = regexp.MustCompile("`([^`]+)`")
)

// check says how the segment's answer differs from what the line shows.
func (e expect) check(s segment) []string {
	text := shellVar.ReplaceAllStringFunc(e.text, func(v string) string {
		return s.vars[shellVar.FindStringSubmatch(v)[1]]
	})
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "(") {
			break // a remark, to the end
		}
		if at := strings.Index(l, "   ("); at >= 0 {
			l = l[:at]
		}
		lines = append(lines, l)
	}
	text = strings.Join(lines, "\n")
	body := s.output
	if b := bytes.TrimSpace([]byte(body)); json.Valid(b) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			body = c.String()
		}
	}
	var problems []string
	checked := false
	if m := statusPrefix.FindStringSubmatch(text); m != nil {
		checked = true
		if s.status != m[1] {
			problems = append(problems, fmt.Sprintf("status %q, want %s", s.status, m[1]))
		}
		text = strings.TrimSpace(text[len(m[1]):])
	}
	for _, m := range jsonPair.FindAllStringSubmatch(text, -1) {
		checked = true
		want := `"` + m[1] + `":` + m[2]
		if v, ok := strings.CutSuffix(m[2], `..."`); ok {
			want = `"` + m[1] + `":` + v
		}
		if !strings.Contains(body, want) {
			problems = append(problems, "no "+want)
		}
	}
	outLines := map[string]bool{}
	for _, l := range strings.Split(s.output, "\n") {
		outLines[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.ContainsAny(l, " \"{") && strings.Contains(l, ",") {
			checked = true
			if !outLines[l] {
				problems = append(problems, "no line "+l)
			}
		}
	}
	for _, m := range backquoted.FindAllStringSubmatch(text, -1) {
		checked = true
		if !strings.Contains(s.output, m[1]) {
			problems = append(problems, "no "+m[1])
		}
	}
	if !checked && text != "" {
		want, _, _ := strings.Cut(text, "...")
		if want = strings.TrimSpace(want); !strings.Contains(s.output, want) {
			problems = append(problems, "no "+want)
		}
	}
	return problems
}

// awayFromAMonthsTurn waits, when now is near a month's turn in
// Asia/Shanghai, until the walkthrough may run as its README says: at most
// about 20 minutes, a few times a year (turnWait says until when).
func awayFromAMonthsTurn(t *testing.T, now time.Time) {
	t.Helper()
	until, wait := turnWait(now)
	if !wait {
		return
	}
	if deadline, ok := t.Deadline(); ok && deadline.Before(until.Add(time.Minute)) {
		t.Fatalf("%s is near a month's turn in Asia/Shanghai, and the walkthrough must wait until %s: past the test's deadline %s (go test -timeout; make test gives 45m)",
			now.Format(time.RFC3339), until.Format(time.RFC3339), deadline.Format(time.RFC3339))
	}
	t.Logf("%s is near a month's turn in Asia/Shanghai: the walkthrough waits until %s", now.Format(time.RFC3339), until.Format(time.RFC3339))
	time.Sleep(time.Until(until))
}

// turnWait is until when the walkthrough must wait at now, if it must: not
// in a month's first 10 minutes in Asia/Shanghai (this month's events would
// have no past), nor in its last 10 (next month's rule version would start
// less than 5.5 minutes ahead, or the month turn mid-story); 11 minutes
// into the month is clear of both.
func turnWait(now time.Time) (time.Time, bool) {
	sh := time.FixedZone("Asia/Shanghai", 8*3600) // no summer time since 1991
	now = now.In(sh)
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, sh)
	next := start.AddDate(0, 1, 0)
	switch {
	case now.Sub(start) < 11*time.Minute:
		return start.Add(11 * time.Minute), true
	case next.Sub(now) < 10*time.Minute:
		return next.Add(11 * time.Minute), true
	}
	return time.Time{}, false
}

// TestTheWalkthroughWaitsOutAMonthsTurn: the moments turnWait holds back,
// and those it lets run.
func TestTheWalkthroughWaitsOutAMonthsTurn(t *testing.T) {
	for _, c := range []struct {
		now, until string // RFC 3339; until "" when it need not wait
	}{
		{"2026-12-01T00:05:00+08:00", "2026-12-01T00:11:00+08:00"},
		{"2026-11-30T16:05:00Z", "2026-12-01T00:11:00+08:00"}, // the same instant in UTC
		{"2026-12-31T23:55:00+08:00", "2027-01-01T00:11:00+08:00"},
		{"2026-02-28T23:51:00+08:00", "2026-03-01T00:11:00+08:00"},
		{"2026-12-01T00:11:00+08:00", ""},
		{"2026-12-15T12:00:00+08:00", ""},
		{"2026-12-31T23:49:59+08:00", ""},
	} {
		now, _ := time.Parse(time.RFC3339, c.now)
		until, wait := turnWait(now)
		if want, _ := time.Parse(time.RFC3339, c.until); wait != (c.until != "") || wait && !until.Equal(want) {
			t.Errorf("turnWait(%s) = %s, %v; want %s", c.now, until.Format(time.RFC3339), wait, c.until)
		}
	}
}

// dig is the object at the path of keys in m.
func dig(m map[string]any, path ...string) (map[string]any, bool) {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}
