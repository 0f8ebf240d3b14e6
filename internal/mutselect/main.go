// Command mutselect makes `make mutation` run, for each mutant, only the
// tests that can notice it: the tests that run the function the mutant is in.
//
// It has two modes.
//
//	mutselect cover -dir PKGDIR -out MAP
//
// runs each test of the package in PKGDIR alone, with coverage, and writes
// MAP: for each test, the blocks of the package's code it ran. A test that
// fails here fails the command: mutants are measured against a passing suite.
//
// Installed as `go` first in PATH (gremlins runs `go` by name), it runs every
// command with the real go tool (MUTSELECT_GO), changing one: a mutant's test
// run, `go test ... -failfast PKG`. For that one it finds the mutant by
// comparing the package's sources with the unmutated copy (MUTSELECT_PRISTINE,
// the module's root), finds the function the changed line is in, and runs
// only the tests whose coverage in MUTSELECT_COVER reached that function:
// it builds the test binary and runs them quickest first (by their time in
// the coverage run), in up to three runs of the binary, failing fast, and
// exits as go test would. A mutant outside every function, or in one no
// test reached, runs the whole package with the real go test, as without
// mutselect.
//
// A test that did not run a function in the coverage run cannot run the
// mutant's line; selecting by the whole function rather than the line also
// keeps the tests that evaluate a case expression without entering its
// clause. The selection is a superset of the tests that run the mutant, so a
// mutant is killed with it when it is killed by the whole package (tests
// whose path depends on timing aside: those can only be missed, which counts
// against the score). The one way it can help a mutant's count: one so slow
// that the whole package times out (counted neither way) may finish with
// fewer tests. A run the machine broke (a full disk) or that ran no test is
// booked lived, never killed.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// block is a span of a source file, by lines, that a test ran.
type block struct {
	File       string // base name, in the package's directory
	Start, End int
}

// coverMap is what `cover` writes: the blocks each test ran, and how long
// it took alone.
type coverMap struct {
	Package string             // import path
	Tests   map[string][]block // by top-level test name
	Seconds map[string]float64 // by top-level test name
}

func main() {
	if filepath.Base(os.Args[0]) == "go" {
		os.Exit(asGo(os.Args[1:]))
	}
	if len(os.Args) < 2 || os.Args[1] != "cover" {
		fmt.Fprintln(os.Stderr, "usage: mutselect cover -dir PKGDIR -out MAP (or installed as go)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("cover", flag.ExitOnError)
	dir := fs.String("dir", ".", "the package's directory")
	out := fs.String("out", "", "where to write the map")
	jobs := fs.Int("j", 2, "tests run at once")
	fs.Parse(os.Args[2:])
	if *out == "" {
		fs.Usage()
		os.Exit(2)
	}
	m, err := cover(*dir, *jobs)
	if err == nil {
		var b []byte
		b, err = json.Marshal(m)
		if err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutselect:", err)
		os.Exit(1)
	}
	fmt.Printf("mutselect: %d tests of %s, each run alone with coverage\n", len(m.Tests), m.Package)
}

// cover builds the package's test binary with coverage and runs each test
// alone with it.
func cover(dir string, jobs int) (*coverMap, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "mutselect")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "pkg.test")
	if out, err := goCmd(dir, "test", "-c", "-cover", "-covermode=set", "-o", bin, ".").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c: %v\n%s", err, out)
	}
	out, err := goCmd(dir, "list", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v", err)
	}
	m := &coverMap{Package: strings.TrimSpace(string(out)), Tests: map[string][]block{}, Seconds: map[string]float64{}}
	listed, err := exec.Command(bin, "-test.list", ".").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -test.list: %v", bin, err)
	}
	var names []string
	for _, n := range strings.Fields(string(listed)) {
		if strings.HasPrefix(n, "Test") || strings.HasPrefix(n, "Example") || strings.HasPrefix(n, "Fuzz") {
			names = append(names, n)
		}
	}

	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range max(jobs, 1) {
		wg.Go(func() {
			for name := range next {
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed {
					continue // the map is not written: no need for the rest
				}
				start := time.Now()
				blocks, err := runAlone(dir, bin, filepath.Join(tmp, name+".cover"), m.Package, name)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				m.Tests[name] = blocks
				m.Seconds[name] = time.Since(start).Seconds()
				mu.Unlock()
			}
		})
	}
	for _, n := range names {
		next <- n
	}
	close(next)
	wg.Wait()
	return m, firstErr
}

// runAlone runs one test with coverage and returns the blocks it ran.
func runAlone(dir, bin, profile, pkg, name string) ([]block, error) {
	cmd := exec.Command(bin, "-test.run", "^"+name+"$", "-test.count=1", "-test.timeout=10m", "-test.coverprofile="+profile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s fails without any mutant: %v\n%s", name, err, lastLines(out, 20))
	}
	f, err := os.Open(profile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readProfile(f, pkg)
}

// readProfile reads the blocks with a non-zero count of a coverage profile
// ("pkg/file.go:12.3,14.2 1 1"), keeping those of pkg's own files.
func readProfile(f *os.File, pkg string) ([]block, error) {
	var blocks []block
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		colon := strings.LastIndex(line, ":")
		if colon < 0 {
			return nil, fmt.Errorf("coverage profile: cannot read %q", line)
		}
		fields := strings.Fields(line[colon+1:])
		if len(fields) != 3 {
			return nil, fmt.Errorf("coverage profile: cannot read %q", line)
		}
		if fields[2] == "0" || filepath.Dir(line[:colon]) != pkg {
			continue
		}
		span := strings.Split(fields[0], ",")
		start, err1 := lineOf(span[0])
		end, err2 := lineOf(span[len(span)-1])
		if len(span) != 2 || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("coverage profile: cannot read %q", line)
		}
		blocks = append(blocks, block{File: filepath.Base(line[:colon]), Start: start, End: end})
	}
	return blocks, s.Err()
}

func lineOf(pos string) (int, error) {
	l, _, _ := strings.Cut(pos, ".")
	return strconv.Atoi(l)
}

// asGo runs the real go tool with args, narrowing a mutant's test run.
func asGo(args []string) int {
	real := os.Getenv("MUTSELECT_GO")
	if real == "" {
		fmt.Fprintln(os.Stderr, "mutselect: MUTSELECT_GO (the real go tool) is not set")
		return cannotRun
	}
	if len(args) > 1 && args[0] == "test" && contains(args, "-failfast") && !contains(args, "-run") {
		sel, why := selection()
		if len(sel.tests) > 0 {
			logf("%s: -run %s", why, pattern(sel.tests))
			return runTiers(args, sel)
		}
		logf("%s: the whole package", why)
		cmd := goCmd("", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if failed, broken := watch(cmd); broken {
			return cannotRun
		} else if failed {
			return max(cmd.ProcessState.ExitCode(), 1)
		}
		return 0
	}
	err := syscall.Exec(real, append([]string{real}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "mutselect:", err)
	return cannotRun
}

// chosen is the tests to run for a mutant, and where.
type chosen struct {
	tests   []string           // top-level names
	seconds map[string]float64 // each one's time alone
	dir     string             // the mutated copy of the package's directory
}

func pattern(tests []string) string {
	quoted := make([]string, len(tests))
	for i, t := range tests {
		quoted[i] = regexp.QuoteMeta(t)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

// tierLimits are the cumulative seconds (alone) after which runTiers starts
// a new run of the test binary: most mutants are killed by a quick test,
// and failing fast only helps once the quick ones come first.
var tierLimits = []float64{2, 10}

// runTiers does what `go test -failfast` of the chosen tests would: it
// builds the package's test binary (args' last is the package, as gremlins
// and mutscore pass it) and runs the tests, quickest first, in up to three
// runs of the binary, stopping at the first that fails. It exits as go test
// does: 0 when all pass, 1 when a test fails or the package does not build.
func runTiers(args []string, sel chosen) int {
	tmp, err := os.MkdirTemp("", "mutselect")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutselect:", err)
		return cannotRun
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "pkg.test")
	build := goCmd("", "test", "-c", "-o", bin, args[len(args)-1])
	if failed, broken := watch(build); broken {
		return cannotRun
	} else if failed {
		fmt.Fprintln(os.Stderr, "mutselect: go test -c failed")
		return 1 // as go test exits for a package that does not build
	}
	timeout := "10m"
	for i, a := range args {
		if a == "-timeout" && i+1 < len(args) {
			timeout = args[i+1]
		}
	}
	tests := slices.Clone(sel.tests)
	sort.SliceStable(tests, func(i, j int) bool { return sel.seconds[tests[i]] < sel.seconds[tests[j]] })
	for _, tier := range tiers(tests, sel.seconds) {
		cmd := exec.Command(bin, "-test.run", pattern(tier), "-test.failfast", "-test.count=1", "-test.timeout="+timeout)
		cmd.Dir = sel.dir
		// gremlins kills this process at its timeout: the test binary
		// goes with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if failed, broken := watch(cmd); broken {
			return cannotRun
		} else if failed {
			return 1 // a test failed (or the binary died): killed
		}
	}
	return 0
}

// machineFaults are what a command may print when the machine, not the
// mutant, made it fail: a full disk made every build of loyalty/'s first
// whole run fail for its last 170 mutants, each booked killed.
var machineFaults = []string{"no space left on device", "cannot allocate memory"}

// watch runs cmd with its output passed on (and kept), and reports whether
// it failed, and whether the run measured nothing of the mutant (broken:
// what it printed names one of machineFaults, or it ran no test).
func watch(cmd *exec.Cmd) (failed, broken bool) {
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &out)
	cmd.Stderr = io.MultiWriter(os.Stderr, &out)
	if err := cmd.Run(); err == nil {
		// A run that matched none of the tests named passes: the map is
		// not this package's, and nothing was measured.
		if bytes.Contains(out.Bytes(), []byte("no tests to run")) {
			fmt.Fprintln(os.Stderr, "mutselect: none of the tests chosen exists; booked lived")
			return true, true
		}
		return false, false
	}
	for _, f := range machineFaults {
		if bytes.Contains(bytes.ToLower(out.Bytes()), []byte(f)) {
			fmt.Fprintf(os.Stderr, "mutselect: %s: the machine, not the mutant; booked lived\n", f)
			return true, true
		}
	}
	return true, false
}

// tiers cuts tests (quickest first) where their cumulative time passes
// each of tierLimits.
func tiers(tests []string, seconds map[string]float64) [][]string {
	var out [][]string
	var sum float64
	limit := 0
	start := 0
	for i, t := range tests {
		sum += seconds[t]
		if limit < len(tierLimits) && sum > tierLimits[limit] && i+1 < len(tests) {
			out = append(out, tests[start:i+1])
			start = i + 1
			for limit < len(tierLimits) && sum > tierLimits[limit] {
				limit++
			}
		}
	}
	if start < len(tests) {
		out = append(out, tests[start:])
	}
	return out
}

// cannotRun is the exit status when the real go tool cannot be run. Not 1
// or 2, which gremlins books as killed and not viable: it books any other
// status as lived, so a broken wrapper can only lower a score.
const cannotRun = 3

// selection returns the tests to run for the mutant in the working
// directory's module (none: the whole package), and why.
func selection() (chosen, string) {
	pristine, mapFile := os.Getenv("MUTSELECT_PRISTINE"), os.Getenv("MUTSELECT_COVER")
	if pristine == "" || mapFile == "" {
		return chosen{}, "MUTSELECT_PRISTINE or MUTSELECT_COVER unset"
	}
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return chosen{}, err.Error()
	}
	var m coverMap
	if err := json.Unmarshal(b, &m); err != nil {
		return chosen{}, mapFile + ": " + err.Error()
	}
	wd, _ := os.Getwd()
	root, err := moduleRoot(wd)
	if err != nil {
		return chosen{}, err.Error()
	}
	rel, err := packageDir(pristine, m.Package)
	if err != nil {
		return chosen{}, err.Error()
	}
	file, line, err := mutated(filepath.Join(pristine, rel), filepath.Join(root, rel))
	if err != nil {
		return chosen{}, err.Error()
	}
	where := fmt.Sprintf("%s:%d", filepath.Join(rel, file), line)
	from, to, err := enclosingFunc(filepath.Join(pristine, rel, file), line)
	if err != nil {
		return chosen{}, where + ": " + err.Error()
	}
	tests := reaching(&m, file, from, to)
	if len(tests) == 0 {
		return chosen{}, where + ": no test runs its function"
	}
	return chosen{tests: tests, seconds: m.Seconds, dir: filepath.Join(root, rel)},
		fmt.Sprintf("%s: %d of %d tests", where, len(tests), len(m.Tests))
}

// reaching returns the tests that ran any block of file within lines
// [from, to], sorted.
func reaching(m *coverMap, file string, from, to int) []string {
	var tests []string
	for name, blocks := range m.Tests {
		for _, b := range blocks {
			if b.File == file && b.Start <= to && b.End >= from {
				tests = append(tests, name)
				break
			}
		}
	}
	sort.Strings(tests)
	return tests
}

// packageDir returns the directory of import path pkg relative to the
// module root, from the root's go.mod.
func packageDir(root, pkg string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			mod = strings.Trim(strings.TrimSpace(mod), `"`)
			if rel, ok := strings.CutPrefix(pkg, mod); ok && (rel == "" || rel[0] == '/') {
				return "." + rel, nil
			}
			return "", fmt.Errorf("%s is not in module %s", pkg, mod)
		}
	}
	return "", errors.New("go.mod names no module")
}

func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// mutated compares the non-test Go files of two copies of a package
// directory and returns the one file that differs and the line, in the
// unmutated copy, of its first token that differs. Tokens, not lines:
// gremlins writes the mutant through go/printer, which may lay the rest of
// the file out differently.
func mutated(pristine, mutant string) (string, int, error) {
	files, err := filepath.Glob(filepath.Join(pristine, "*.go"))
	if err != nil {
		return "", 0, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		a, err := os.ReadFile(f)
		if err != nil {
			return "", 0, err
		}
		b, err := os.ReadFile(filepath.Join(mutant, filepath.Base(f)))
		if err != nil {
			return "", 0, err
		}
		if bytes.Equal(a, b) {
			continue
		}
		if line, ok := firstDifference(a, b); ok {
			return filepath.Base(f), line, nil
		}
	}
	return "", 0, errors.New("no source file differs from the unmutated copy")
}

// firstDifference returns the line in a of the first token that differs
// between a and b, comments, semicolons and layout aside.
func firstDifference(a, b []byte) (int, bool) {
	var sa, sb scanner.Scanner
	fset := token.NewFileSet()
	fa, fb := fset.AddFile("a", -1, len(a)), fset.AddFile("b", -1, len(b))
	sa.Init(fa, a, nil, 0)
	sb.Init(fb, b, nil, 0)
	next := func(s *scanner.Scanner) (token.Pos, token.Token, string) {
		for {
			// Semicolons aside: a newline inserts one, and a layout
			// may put a block on one line.
			if p, t, l := s.Scan(); t != token.SEMICOLON {
				return p, t, l
			}
		}
	}
	for {
		pa, ta, la := next(&sa)
		_, tb, lb := next(&sb)
		if ta != tb || la != lb {
			return fset.Position(pa).Line, true
		}
		if ta == token.EOF {
			return 0, false
		}
	}
}

// enclosingFunc returns the lines of the function declaration (or, outside
// any, of nothing: an error) that holds line.
func enclosingFunc(path string, line int) (from, to int, err error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return 0, 0, err
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok {
			from, to = fset.Position(fd.Pos()).Line, fset.Position(fd.End()).Line
			if from <= line && line <= to {
				return from, to, nil
			}
		}
	}
	return 0, 0, errors.New("not in a function")
}

// goCmd is the real go tool run in dir ("": this process's).
func goCmd(dir string, args ...string) *exec.Cmd {
	real := os.Getenv("MUTSELECT_GO")
	if real == "" {
		real = "go"
	}
	cmd := exec.Command(real, args...)
	cmd.Dir = dir
	return cmd
}

func contains(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}

// logf appends a line to MUTSELECT_LOG, when set.
func logf(format string, a ...any) {
	path := os.Getenv("MUTSELECT_LOG")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", a...)
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
