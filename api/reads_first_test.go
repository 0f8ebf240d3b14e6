package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
)

// A read is in flight (the event writers hold back for it) until its
// answer starts, not until the client has taken all of it: a client that
// never read its answer held every group back for the write timeout. It
// ends once, whether the handler writes or fails without writing.
func TestAReadIsInFlightUntilItsAnswerStarts(t *testing.T) {
	var inFlight atomic.Int64
	s := &Server{reading: func() func() { inFlight.Add(1); return func() { inFlight.Add(-1) } }}
	read := func(handler echo.HandlerFunc) error {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/customers/C1/balances", nil), httptest.NewRecorder())
		c.SetPath("/v1/customers/:id/balances")
		return s.readsFirst(handler)(c)
	}
	var before, started int64
	err := read(func(c echo.Context) error {
		before = inFlight.Load()
		c.Response().WriteHeader(http.StatusOK)
		started = inFlight.Load()
		_, err := c.Response().Write([]byte(`{}`))
		return err
	})
	if err != nil || before != 1 || started != 0 || inFlight.Load() != 0 {
		t.Errorf("a read that answers: in flight %d before its answer, %d once it started, %d after (%v); want 1, 0, 0",
			before, started, inFlight.Load(), err)
	}
	refused := errors.New("refused")
	if err := read(func(c echo.Context) error { return refused }); err != refused || inFlight.Load() != 0 {
		t.Errorf("a read that fails without writing: %v, %d in flight after; want its error, 0", err, inFlight.Load())
	}
}
