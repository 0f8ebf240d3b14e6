package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/textclass"
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

// maxParam bounds a page's path parameter, as the API bounds its own.
const maxParam = 256

// textParams refuses a page whose path parameters, query values or posted
// form fields (read by limitForm before it) are not text (not UTF-8, or
// holding a control character such as NUL, which PostgreSQL can neither
// store nor compare), or whose path parameters are longer than maxParam:
// no such page for a path, invalid for the others. Nothing else is read.
// (A query value too long for its grammar is refused by the page that
// reads it; one no page reads, such as an unknown language, is ignored.)
// sameOrigin refuses a form posted from another origin, as its browser
// tells (Sec-Fetch-Site; else Origin against Host: net/http's
// CrossOriginProtection), with the page a forged form gets (403). A form's
// CSRF token matching a cookie does not prove the form is this site's
// (a sibling subdomain's page may set cookies for this one: it could set
// a sign-in form's, then post its token, and sign its visitor in to the
// attacker's portal).
func (p *Pages) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := p.origins.Check(c.Request()); err != nil {
			return p.forged(c)
		}
		return next(c)
	}
}

func (p *Pages) textParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, v := range c.ParamValues()[:min(len(c.ParamNames()), len(c.ParamValues()))] {
			if !textclass.IsText(v) || len(v) > maxParam {
				return p.fail(c, fault.Errorf(fault.NotFound, "no such page"))
			}
		}
		for _, params := range []url.Values{c.QueryParams(), c.Request().PostForm} {
			for name, values := range params {
				for _, v := range values {
					if !textclass.IsText(name) || !textclass.IsText(v) {
						return p.fail(c, fault.Errorf(fault.Invalid, "a parameter or a form's field is not text"))
					}
				}
			}
		}
		return next(c)
	}
}
