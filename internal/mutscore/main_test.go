package main

import (
	"strings"
	"testing"
)

const src = `package p

func f(a, b int, s string) (int, string) {
	switch {
	case a >= b:
		a++
	case a != 0 && b < 2:
		return -a, s + "x"
	}
	if a == b {
		return a * b, s
	}
	return a % b, s
}
`

// apply rewrites exactly the operator at the position, as gremlins' mutator
// of that type does, and leaves the rest of the file as it was.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		typ       string
		line, col int
		want      string // the line after the mutation
	}{
		{"CONDITIONALS_BOUNDARY", 5, 9, "\tcase a > b:"},
		{"CONDITIONALS_NEGATION", 5, 9, "\tcase a < b:"},
		{"INCREMENT_DECREMENT", 6, 4, "\t\ta--"},
		{"CONDITIONALS_NEGATION", 7, 9, "\tcase a == 0 && b < 2:"},
		{"CONDITIONALS_NEGATION", 7, 19, "\tcase a != 0 && b >= 2:"},
		{"INVERT_NEGATIVES", 8, 10, "\t\treturn +a, s + \"x\""},
		{"ARITHMETIC_BASE", 8, 16, "\t\treturn -a, s - \"x\""},
		{"CONDITIONALS_NEGATION", 10, 7, "\tif a != b {"},
		{"ARITHMETIC_BASE", 11, 12, "\t\treturn a / b, s"},
		{"ARITHMETIC_BASE", 13, 11, "\treturn a * b, s"},
	} {
		m := &mutation{Type: tc.typ, Line: tc.line, Column: tc.col, file: "p.go"}
		got, err := apply([]byte(src), m)
		if err != nil {
			t.Errorf("%s at %d:%d: %v", tc.typ, tc.line, tc.col, err)
			continue
		}
		lines, orig := strings.Split(string(got), "\n"), strings.Split(src, "\n")
		for i := range orig {
			want := orig[i]
			if i == tc.line-1 {
				want = tc.want
			}
			if lines[i] != want {
				t.Errorf("%s at %d:%d: line %d = %q, want %q", tc.typ, tc.line, tc.col, i+1, lines[i], want)
			}
		}
	}
	if _, err := apply([]byte(src), &mutation{Type: "CONDITIONALS_BOUNDARY", Line: 10, Column: 7, file: "p.go"}); err == nil {
		t.Error("a boundary mutation of == was applied")
	}
	if _, err := apply([]byte(src), &mutation{Type: "ARITHMETIC_BASE", Line: 10, Column: 8, file: "p.go"}); err == nil {
		t.Error("a mutation between tokens was applied")
	}
}

func TestInCaseExpr(t *testing.T) {
	for _, tc := range []struct {
		line, col int
		want      bool
	}{
		{5, 9, true},   // case a >= b
		{7, 19, true},  // case ... b < 2
		{6, 4, false},  // a++ in the case's body
		{10, 7, false}, // if a == b
		{8, 16, false}, // s + "x" in the body
	} {
		if got := inCaseExpr([]byte(src), &mutation{Line: tc.line, Column: tc.col, file: "p.go"}); got != tc.want {
			t.Errorf("%d:%d in a case expression: %v, want %v", tc.line, tc.col, got, tc.want)
		}
	}
}

func TestScores(t *testing.T) {
	eff, cov := tally{killed: 9, lived: 1, notCovered: 10, notViable: 5, timedOut: 3}.scores()
	if eff != 90 || cov != 50 {
		t.Errorf("scores %v, %v; want 90, 50", eff, cov)
	}
	if eff, cov := (tally{}).scores(); eff != 0 || cov != 0 {
		t.Errorf("no mutants: %v, %v; want 0, 0", eff, cov)
	}
}
