package main

import (
	"encoding/json"
	"os"
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
		if run, why := selection(); run != tc.want {
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
