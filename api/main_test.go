package api

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the package's tests, then reports how much of openapi.yaml
// they exercised.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := writeCoverage(); err != nil {
		fmt.Fprintf(os.Stderr, "openapi coverage: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
