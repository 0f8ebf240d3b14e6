// Command mutscore is the scoring half of `make mutation`: it reads the
// report gremlins (v0.6.0) wrote for one package, corrects the two ways in
// which gremlins miscounts, prints one score line for the package and the
// mutants that survived, and fails when a score is under its threshold.
//
// The corrections, each made by applying the mutant to the source copy
// gremlins ran on and running the go tool on it:
//
//   - A mutant that does not compile (`+` between strings turned into `-`)
//     is booked KILLED by gremlins, because `go test` exits 1 for a build
//     failure as for a failing test, or NOT COVERED when no test runs it.
//     Every such ARITHMETIC_BASE mutant is compiled; one that does not
//     build is NOT VIABLE, and counts neither way.
//   - A mutant in the expression of a switch case is always NOT COVERED for
//     gremlins (go-gremlins/gremlins#298: Go's coverage blocks start after
//     the case's colon). Each is run against the package's tests: KILLED or
//     LIVED, like any covered mutant.
//
// Efficacy is killed / (killed + lived); coverage is (killed + lived) /
// (killed + lived + not covered); timed-out and not-viable mutants count in
// neither, as in gremlins.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The statuses of a mutant, as gremlins writes them.
const (
	killed     = "KILLED"
	lived      = "LIVED"
	notCovered = "NOT COVERED"
	timedOut   = "TIMED OUT"
	notViable  = "NOT VIABLE"
)

// report is the part of gremlins' JSON output that mutscore reads.
type report struct {
	Files []struct {
		FileName  string     `json:"file_name"`
		Mutations []mutation `json:"mutations"`
	} `json:"files"`
}

type mutation struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`

	file string // path from the source root
	note string // how mutscore changed the status, if it did
}

func main() {
	src := flag.String("src", ".", "the source tree gremlins ran on (mutscore edits files in it and restores them)")
	pkg := flag.String("pkg", "", "the package directory, relative to -src")
	in := flag.String("report", "", "gremlins' JSON report (-o)")
	threshold := flag.Float64("min", 90, "the least efficacy and coverage, in percent")
	timeout := flag.Duration("timeout", 10*time.Minute, "the longest one test run of a mutant may take")
	started := flag.Int64("started", 0, "when the package's run began, in Unix seconds, for the score line")
	flag.Parse()
	ok, err := run(*src, *pkg, *in, *threshold, *timeout, time.Unix(*started, 0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "mutscore: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(src, pkg, in string, threshold float64, timeout time.Duration, started time.Time) (bool, error) {
	raw, err := os.ReadFile(in)
	if err != nil {
		return false, err
	}
	var r report
	if err := json.Unmarshal(raw, &r); err != nil {
		return false, fmt.Errorf("%s: %w", in, err)
	}
	var all []*mutation
	for _, f := range r.Files {
		for i := range f.Mutations {
			m := f.Mutations[i]
			m.file = filepath.Join(pkg, f.FileName)
			all = append(all, &m)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.file != b.file {
			return a.file < b.file
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	before := count(all)
	for _, m := range all {
		if err := recheck(src, pkg, m, timeout); err != nil {
			return false, err
		}
	}
	after := count(all)
	eff, cov := after.scores()
	gEff, gCov := before.scores()
	pass := eff >= threshold && cov >= threshold
	verdict := "ok"
	if !pass {
		verdict = fmt.Sprintf("UNDER %g%%", threshold)
	}
	fmt.Printf("mutation %-8s efficacy %6.2f%% (%d killed, %d lived)  coverage %6.2f%% (%d not covered)  %d not viable, %d timed out  [gremlins said %.2f%% / %.2f%%]  %s  %s\n",
		pkg, eff, after[killed], after[lived], cov, after[notCovered], after[notViable], after[timedOut],
		gEff, gCov, time.Since(started).Round(time.Second), verdict)
	for _, m := range all {
		if m.Status == lived || m.Status == notCovered || m.Status == timedOut {
			fmt.Printf("    %-11s %-21s %s:%d:%d%s\n        %s\n", m.Status, m.Type, m.file, m.Line, m.Column, m.note, sourceLine(src, m))
		}
	}
	return pass, nil
}

type tally map[string]int

func count(all []*mutation) tally {
	t := tally{}
	for _, m := range all {
		t[m.Status]++
	}
	return t
}

func (t tally) scores() (efficacy, coverage float64) {
	if n := t[killed] + t[lived]; n > 0 {
		efficacy = 100 * float64(t[killed]) / float64(n)
		coverage = 100 * float64(n) / float64(n+t[notCovered])
	}
	return efficacy, coverage
}

// recheck corrects m's status where gremlins cannot be trusted with it.
func recheck(src, pkg string, m *mutation, timeout time.Duration) error {
	path := filepath.Join(src, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	caseExpr := m.Status == notCovered && inCaseExpr(orig, m)
	arithmetic := m.Type == "ARITHMETIC_BASE" && (m.Status == killed || m.Status == notCovered)
	if !caseExpr && !arithmetic {
		return nil
	}
	mutant, err := apply(orig, m)
	if err != nil {
		return fmt.Errorf("%s:%d:%d: %w", m.file, m.Line, m.Column, err)
	}
	if err := os.WriteFile(path, mutant, 0o644); err != nil {
		return err
	}
	defer os.WriteFile(path, orig, 0o644)

	if out, err := goTool(src, timeout, "build", "./"+pkg); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("go build ./%s: %w", pkg, err)
		}
		m.note = fmt.Sprintf(" (gremlins: %s; does not compile: %s)", m.Status, firstLine(out))
		m.Status = notViable
		return nil
	}
	if !caseExpr {
		return nil // it compiles: gremlins' status stands
	}
	m.note = " (in a case expression, gremlins#298: run by mutscore)"
	_, err = goTool(src, timeout, "test", "-count=1", "-failfast", "./"+pkg)
	switch {
	case err == nil:
		m.Status = lived
	case errors.Is(err, context.DeadlineExceeded):
		m.Status = timedOut
	default:
		m.Status = killed
	}
	return nil
}

func goTool(dir string, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	return out, err
}

// inCaseExpr reports whether m sits in the expression list of a switch's
// case clause.
func inCaseExpr(file []byte, m *mutation) bool {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, m.file, file, 0)
	if err != nil {
		return false
	}
	tf := fset.File(f.Pos())
	if m.Line < 1 || m.Line > tf.LineCount() {
		return false
	}
	pos := tf.LineStart(m.Line) + token.Pos(m.Column-1)
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if cc, ok := n.(*ast.CaseClause); ok {
			for _, e := range cc.List {
				if e.Pos() <= pos && pos < e.End() {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// mutations is what each mutator turns an operator into (gremlins'
// internal/engine/mappings.go, for the mutators make mutation runs).
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// apply returns file with the operator at m's position replaced as m's
// mutator replaces it.
func apply(file []byte, m *mutation) ([]byte, error) {
	fset := token.NewFileSet()
	tf := fset.AddFile(m.file, -1, len(file))
	var s scanner.Scanner
	s.Init(tf, file, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, fmt.Errorf("no operator at the mutant's position")
		}
		p := fset.Position(pos)
		if p.Line != m.Line || p.Column != m.Column {
			continue
		}
		to, ok := mutations[m.Type][tok]
		if !ok {
			return nil, fmt.Errorf("%s does not mutate %s", m.Type, tok)
		}
		off := tf.Offset(pos)
		var b bytes.Buffer
		b.Write(file[:off])
		b.WriteString(to.String())
		b.Write(file[off+len(tok.String()):])
		return b.Bytes(), nil
	}
}

func sourceLine(src string, m *mutation) string {
	b, err := os.ReadFile(filepath.Join(src, m.file))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if m.Line < 1 || m.Line > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[m.Line-1])
}

func firstLine(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, ".go:") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(string(out))
}
