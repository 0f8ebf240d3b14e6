package api

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tally-ledger/tally/internal/testdb"
)

// exercised records every (operation, status) the harness has exchanged
// during the package's tests.
var exercised = &coverage{seen: map[pair]bool{}}

// pair is an operation, named by its operationId, and a response status.
type pair struct {
	op     string
	status string
}

func (p pair) String() string { return p.op + " " + p.status }

type coverage struct {
	mu   sync.Mutex
	seen map[pair]bool
}

func (c *coverage) add(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[pair{op, strconv.Itoa(status)}] = true
}

// report compares what the tests exchanged with what openapi.yaml
// describes: every operation and every status it lists by number (its
// default response is no status). It returns the one-line summary and the
// described pairs no test exchanged, sorted.
func (c *coverage) report() (line string, missing []string, err error) {
	doc, _, err := loadSpec()
	if err != nil {
		return "", nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ops, opsSeen, pairs, pairsSeen int
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := op.OperationID
			if name == "" {
				name = method + " " + path
			}
			ops++
			any := false
			for status := range op.Responses.Map() {
				if status == "default" {
					continue
				}
				pairs++
				if c.seen[pair{name, status}] {
					pairsSeen++
					any = true
				} else {
					missing = append(missing, pair{name, status}.String())
				}
			}
			if any {
				opsSeen++
			}
		}
	}
	slices.Sort(missing)
	line = fmt.Sprintf("openapi coverage: %d/%d operations, %d/%d (operation, status) pairs exercised",
		opsSeen, ops, pairsSeen, pairs)
	return line, missing, nil
}

// empty reports whether no exchange was recorded (a fuzz run, or a -run
// that matched no API test).
func (c *coverage) empty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen) == 0
}

// writeCoverage prints the coverage line and writes it to
// .data/openapi-coverage.txt, and the unexercised pairs to
// .data/openapi-unexercised.txt, for make test to show after the run (go
// test hides the output of a passing package).
func writeCoverage() error {
	if exercised.empty() {
		return nil
	}
	line, missing, err := exercised.report()
	if err != nil {
		return err
	}
	fmt.Println(line)
	root, err := testdb.ModuleRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	list := filepath.Join(dir, "openapi-unexercised.txt")
	if err := os.WriteFile(list, []byte(strings.Join(missing, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	summary := fmt.Sprintf("%s (unexercised: %s)\n", line, filepath.Join(".data", "openapi-unexercised.txt"))
	return os.WriteFile(filepath.Join(dir, "openapi-coverage.txt"), []byte(summary), 0o644)
}
