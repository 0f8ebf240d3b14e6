package api

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// routes adds routes under a prefix, each with the same middleware before
// its own. It stands in for an Echo group's middleware, which catches
// every path under the prefix: with it a wrong method on a route would
// answer 404 instead of 405 with the route's methods in Allow.
type routes struct {
	group *echo.Group
	use   []echo.MiddlewareFunc
}

func (r routes) add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.group.Add(method, path, h, append(slices.Clone(r.use), m...)...)
}

func (r routes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodGet, path, h, m...)
}

func (r routes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPost, path, h, m...)
}

func (r routes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPut, path, h, m...)
}

func (r routes) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.add(http.MethodPatch, path, h, m...)
}
