package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// maxForm bounds a posted form's body: the pages' forms are a few short
// fields (a key, a token, a SKU).
const maxForm = 64 << 10

// limitForm reads a POST's form within maxForm, url-encoded or multipart,
// before anything else reads it, and refuses a larger body with 413: the
// server never holds more of a form than that.
func (p *Pages) limitForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost {
			return next(c)
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxForm)
		err := r.ParseForm() // url-encoded
		if err == nil {
			err = r.ParseMultipartForm(maxForm)
		}
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return p.fail(c, fault.Errorf(fault.BodyTooLarge, "a form is at most %d bytes", maxForm))
		case err != nil && !errors.Is(err, http.ErrNotMultipart):
			return p.fail(c, fault.Errorf(fault.Invalid, "the form cannot be read"))
		}
		return next(c)
	}
}
