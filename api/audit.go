package api

import (
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// auditHead is the latest link of the chain, for finance to keep elsewhere.
func (s *Server) auditHead(c echo.Context) error {
	h, err := s.ledger.Head(c.Request().Context())
	if err != nil {
		return err
	}
	if h == nil {
		h = &ledger.ChainHead{}
	}
	return reply(c, http.StatusOK, h)
}

// auditVerify walks the chain and names the first broken link; with
// ?seq=&digest= it also checks the chain still holds a head kept elsewhere.
func (s *Server) auditVerify(c echo.Context) error {
	var expect *ledger.Expect
	seq, digest := c.QueryParam("seq"), c.QueryParam("digest")
	if seq != "" || digest != "" {
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 1 {
			return fault.InvalidField("seq", "a link's position, with digest")
		}
		d, err := hex.DecodeString(digest)
		if err != nil || len(d) != 32 {
			return fault.InvalidField("digest", "64 hex digits, with seq")
		}
		expect = &ledger.Expect{Seq: n, Digest: d}
	}
	v, err := s.ledger.Verify(c.Request().Context(), expect, nil)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, v)
}
