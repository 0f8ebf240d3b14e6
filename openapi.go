// Package tally holds what the whole service shares at the top of the tree:
// the OpenAPI description of its API, embedded so that the binary serves the
// very document the tests check the API against.
package tally

import _ "embed"

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
