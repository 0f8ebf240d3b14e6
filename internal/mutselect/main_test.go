package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A package of two functions, each with its own test, and a third test
// that runs both.
var fixture = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"p/p.go": `package p

var limit = 3 > 2

func Small(a int) bool {
	return a < 3
}

func Big(a int) bool {
	switch {
	case a > 100:
		return true
	}
	return false
}
`,
	"p/p_test.go": `package p

import "testing"

func TestSmall(t *testing.T) {
	if !Small(1) {
		t.Fatal("1 is small")
	}
}

func TestBig(t *testing.T) {
	if !Big(101) {
		t.Fatal("101 is big")
	}
}

func TestBoth(t *testing.T) {
	if Small(5) || Big(5) {
		t.Fatal("5 is neither")
	}
}
`,
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A mutant runs the tests that reached its function, and the whole package
// when it is outside every function.
func TestSelectionNamesTheTestsThatRanTheMutantsFunction(t *testing.T) {
	pristine := writeTree(t, fixture)
	m, err := cover(filepath.Join(pristine, "p"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Package != "example.com/m/p" || len(m.Tests) != 3 {
		t.Fatalf("cover: package %q, %d tests; want example.com/m/p, 3", m.Package, len(m.Tests))
	}
	mapFile := filepath.Join(t.TempDir(), "map.json")
	writeMap(t, mapFile, m)
	t.Setenv("MUTSELECT_PRISTINE", pristine)
	t.Setenv("MUTSELECT_COVER", mapFile)

	for _, tc := range []struct {
		from, to, want string
	}{
		{"return a < 3", "return a <= 3", "^(TestBoth|TestSmall)$"},
		// Laid out anew (as go/printer may), with the mutant in Big: the
		// lines that count are the unmutated file's.
		{"var limit = 3 > 2\n\nfunc Small(a int) bool {\n\treturn a < 3\n}\n\nfunc Big(a int) bool {\n\tswitch {\n\tcase a > 100:",
			"var limit = 3 > 2\nfunc Small(a int) bool { return a < 3 }\nfunc Big(a int) bool {\n\tswitch {\n\tcase a > 101:",
			"^(TestBig|TestBoth)$"},
		// TestSmall never enters the case, and never calls Big.
		{"case a > 100:", "case a >= 100:", "^(TestBig|TestBoth)$"},
		{"var limit = 3 > 2", "var limit = 3 >= 2", ""},
	} {
		files := map[string]string{}
		for k, v := range fixture {
			files[k] = v
		}
		files["p/p.go"] = strings.Replace(fixture["p/p.go"], tc.from, tc.to, 1)
		if files["p/p.go"] == fixture["p/p.go"] {
			t.Fatalf("%q is not in the fixture", tc.from)
		}
		mutant := writeTree(t, files)
		t.Chdir(filepath.Join(mutant, "p"))
		sel, why := selection()
		run := ""
		if len(sel.tests) > 0 {
			run = pattern(sel.tests)
		}
		if run != tc.want {
			t.Errorf("%s → %s: -run %q (%s), want %q", tc.from, tc.to, run, why, tc.want)
		}
	}
}

// A test that fails without any mutant stops the coverage run: mutants are
// measured against a passing suite.
func TestCoverRefusesAFailingSuite(t *testing.T) {
	files := map[string]string{}
	for k, v := range fixture {
		files[k] = v
	}
	files["p/p_test.go"] = strings.Replace(fixture["p/p_test.go"], "!Big(101)", "!Big(100)", 1)
	if _, err := cover(filepath.Join(writeTree(t, files), "p"), 1); err == nil || !strings.Contains(err.Error(), "TestBig fails") {
		t.Fatalf("cover of a failing suite: %v, want TestBig named", err)
	}
}

func writeMap(t *testing.T, path string, m *coverMap) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The chosen tests run from the mutant's copy, quickest first: a mutant a
// test notices exits 1 (killed), one none notices 0 (lived), and one that
// does not build 1, as go test would.
func TestRunTiersExitsAsGoTestWould(t *testing.T) {
	if os.Getenv("MUTSELECT_GO") == "" {
		real, err := exec.LookPath("go")
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("MUTSELECT_GO", real)
	}
	for _, tc := range []struct {
		from, to string
		want     int
	}{
		{"return a < 3", "return a <= 3", 0},    // Small(3) is never asked
		{"return a < 3", "return a > 3", 1},     // Small(1) is false
		{"return a < 3", "return a < \"3\"", 1}, // does not build
	} {
		files := map[string]string{}
		for k, v := range fixture {
			files[k] = v
		}
		files["p/p.go"] = strings.Replace(fixture["p/p.go"], tc.from, tc.to, 1)
		root := writeTree(t, files)
		t.Chdir(root)
		sel := chosen{tests: []string{"TestBoth", "TestSmall"}, seconds: map[string]float64{"TestSmall": 3, "TestBoth": 1},
			dir: filepath.Join(root, "p")}
		if got := runTiers([]string{"test", "-timeout", "1m", "-failfast", "./p"}, sel); got != tc.want {
			t.Errorf("%s → %s: exit %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}

// Tests are cut, quickest first, where their time alone adds up past each
// limit; the last cut takes the rest.
func TestTiersCutAtTheLimits(t *testing.T) {
	seconds := map[string]float64{"A": 0.5, "B": 1, "C": 1, "D": 5, "E": 20, "F": 30}
	got := fmt.Sprint(tiers([]string{"A", "B", "C", "D", "E", "F"}, seconds))
	if want := "[[A B C] [D E] [F]]"; got != want {
		t.Errorf("tiers: %s, want %s", got, want)
	}
	if got := fmt.Sprint(tiers([]string{"E"}, seconds)); got != "[[E]]" {
		t.Errorf("one slow test: %s, want [[E]]", got)
	}
	if got := fmt.Sprint(tiers([]string{"A", "B"}, map[string]float64{})); got != "[[A B]]" {
		t.Errorf("no times (an older map): %s, want one run [[A B]]", got)
	}
}

// A failure the machine caused (a full disk) is not the mutant's kill.
func TestWatchTellsTheMachinesFaultsFromTheMutants(t *testing.T) {
	for _, tc := range []struct {
		script         string
		failed, broken bool
	}{
		{"exit 0", false, false},
		{"echo FAIL; exit 1", true, false},
		{"echo 'compile: writing output: write /tmp/x.a: no space left on device' >&2; exit 1", true, true},
		{"echo 'warning: no tests to run'; echo PASS", true, true},
	} {
		if failed, broken := watch(exec.Command("sh", "-c", tc.script)); failed != tc.failed || broken != tc.broken {
			t.Errorf("%s: failed %v broken %v, want %v %v", tc.script, failed, broken, tc.failed, tc.broken)
		}
	}
}
