package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// stream writes a report as JSON or, when asked for with Accept: text/csv or
// ?format=csv, as CSV, row by row as the report produces them, flushing as
// it goes: nothing holds the whole report.
type stream struct {
	c       echo.Context
	csv     *csvWriter
	open    string   // the JSON up to the first row
	header  []string // the CSV header
	started bool     // the status and the opening are sent
	rows    int
}

// wantsCSV: ?format= decides; without it, the Accept header.
func wantsCSV(c echo.Context) bool {
	if f := c.QueryParam("format"); f != "" {
		return f == "csv"
	}
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv")
}

// newStream prepares a report's answer in the format asked for; ?format=
// is csv or json.
func newStream(c echo.Context) (*stream, error) {
	if f := c.QueryParam("format"); f != "" && f != "csv" && f != "json" {
		return nil, &fault.Error{Code: fault.Invalid, Message: "format is csv or json", Fields: map[string]string{"format": "csv or json"}}
	}
	s := &stream{c: c}
	if wantsCSV(c) {
		s.csv = newCSVWriter(c.Response())
	}
	return s, nil
}

// start prepares the answer: open is the JSON up to the first row, header
// the CSV header. Nothing is sent until the first row or the end, so a
// report that fails before its first row is answered as an error, not as a
// 200 cut short.
func (s *stream) start(open string, header []string) {
	s.open, s.header = open, header
}

// begin sends the status and the opening, once.
func (s *stream) begin() error {
	if s.started {
		return nil
	}
	s.started = true
	res := s.c.Response()
	if s.csv != nil {
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		res.WriteHeader(http.StatusOK)
		return s.csv.Write(s.header)
	}
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	_, err := res.Write([]byte(s.open))
	return err
}

// row writes one JSON array element or one CSV record.
func (s *stream) row(v any, record []string) error {
	if err := s.begin(); err != nil {
		return err
	}
	if s.csv != nil {
		if err := s.csv.Write(record); err != nil {
			return err
		}
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if s.rows > 0 {
			b = append([]byte(","), b...)
		}
		if _, err := s.c.Response().Write(b); err != nil {
			return err
		}
	}
	s.rows++
	if s.rows%200 == 0 {
		s.flush()
	}
	return nil
}

func (s *stream) flush() {
	if s.csv != nil {
		s.csv.Flush()
	}
	s.c.Response().Flush()
}

// finish closes the JSON (with close) or writes the last CSV records.
func (s *stream) finish(close string, records ...[]string) error {
	if err := s.begin(); err != nil {
		return err
	}
	if s.csv != nil {
		for _, r := range records {
			if err := s.csv.Write(r); err != nil {
				return err
			}
		}
		s.csv.Flush()
		return s.csv.Error()
	}
	_, err := s.c.Response().Write([]byte(close))
	s.flush()
	return err
}

// fail ends a report that broke: before its first row, as the error
// (503 database_unavailable when the database went away); after it, the
// status is sent, so the error is logged and the connection aborted
// without the body's end (no last chunk): the client sees a failed
// transfer, never a shorter report that looks whole.
func (s *stream) fail(srv *Server, err error) error {
	if !s.started {
		return err
	}
	srv.log.Error("report failed while streaming", "err", err, "route", s.c.Path())
	s.flush()
	panic(http.ErrAbortHandler)
}
