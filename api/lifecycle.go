package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// lifecycleReport answers GET /v1/reports/lifecycle: the customers at each
// stage at the end of the month and their movements from the month before,
// as JSON or CSV (one row per stage, one per movement, then the total).
func (s *Server) lifecycleReport(c echo.Context) error {
	st, err := newStream(c)
	if err != nil {
		return err
	}
	month, err := monthParam(c)
	if err != nil {
		return err
	}
	rep, err := s.finance.Lifecycle(c.Request().Context(), month)
	if err != nil {
		return err
	}
	if st.csv == nil {
		return reply(c, http.StatusOK, rep)
	}
	st.start("", []string{"group", "from", "to", "customers"})
	var records [][]string
	for _, r := range rep.Stages {
		records = append(records, []string{"stage", "", r.Stage, strconv.Itoa(r.Customers)})
	}
	for _, m := range rep.Movements {
		records = append(records, []string{"movement", m.From, m.To, strconv.Itoa(m.Customers)})
	}
	records = append(records, []string{"TOTAL", string(rep.Previous), string(rep.Month), strconv.Itoa(rep.Customers)})
	return st.finish("", records...)
}
