package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

func cny(d decimal.Decimal) string { return money(d, ledger.CNY) }

// mustJSON is v as JSON, for a value that always encodes: a value that
// does not is a bug, and panics (a 500) rather than answer a broken
// document.
func mustJSON(v any) string {
	var b bytes.Buffer
	if err := encodeJSON(&b, v); err != nil {
		panic(fmt.Sprintf("mustJSON(%T): %v", v, err))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *Server) trialBalance(c echo.Context) error {
	st, err := newStream(c)
	if err != nil {
		return err
	}
	asOf, err := timeParam(c, "as_of", s.ledger.Now())
	if err != nil {
		return err
	}
	closed, err := s.finance.ClosedPeriodAt(c.Request().Context(), asOf)
	if err != nil {
		return err
	}
	st.start(`{"as_of":`+mustJSON(asOf)+closedPeriod(c, closed)+`,"accounts":[`, []string{"account", "asset", "debit", "credit", "balance"})
	totals, err := s.finance.TrialBalance(c.Request().Context(), asOf, func(r ledger.TrialRow) error {
		rec := []string{r.Account, string(r.Asset), money(r.Debit, r.Asset), money(r.Credit, r.Asset), money(r.Balance, r.Asset)}
		return st.row(map[string]string{"account": rec[0], "asset": rec[1], "debit": rec[2], "credit": rec[3], "balance": rec[4]}, rec)
	})
	if err == nil {
		err = stood(closed, func() (*ledger.Period, error) { return s.finance.ClosedPeriodAt(c.Request().Context(), asOf) })
	}
	if err != nil {
		return st.fail(s, err)
	}
	var records [][]string
	var out []map[string]any
	for _, t := range totals {
		records = append(records, []string{"TOTAL", string(t.Asset), money(t.Debits, t.Asset), money(t.Credits, t.Asset),
			money(t.Credits.Sub(t.Debits), t.Asset)})
		out = append(out, map[string]any{"asset": t.Asset, "debits": money(t.Debits, t.Asset),
			"credits": money(t.Credits, t.Asset), "balanced": t.Balanced})
	}
	if out == nil {
		out = []map[string]any{}
	}
	return st.finish(`],"totals":`+mustJSON(out)+`}`, records...)
}

// stood checks, once a report's figures are read, that the closed month
// it repeats (before, read before them; nil: none) stood throughout: read
// again, it is the same close. A close is never changed once made (a
// reopening ends it, and closing the month again makes another, closed at
// another instant), so the figures read in between are the closed month's.
// Read the other way round, a month closed, or reopened and closed again
// with business dated into it meanwhile, while the figures were read had
// the report vouch with its digest for figures it did not show
// (helper-153's finding). A close that did not stand is 409 period_busy
// (or, once rows were sent, a report cut short); a month that became
// closed while the report was read is only not vouched for.
func stood(before *ledger.Period, again func() (*ledger.Period, error)) error {
	if before == nil {
		return nil
	}
	p, err := again()
	if err != nil {
		return err
	}
	if p == nil || p.Digest != before.Digest || !p.ClosedAt.Equal(before.ClosedAt) {
		return &fault.Error{Code: fault.PeriodBusy, Message: "the month was reopened while the report was read: read it again"}
	}
	return nil
}

// closedPeriod repeats a closed month's digest in a report of it: the
// Tally-Period-Digest header (JSON and CSV) and, for JSON, a
// "closed_period" member to put after the report's first ones.
func closedPeriod(c echo.Context, p *ledger.Period) string {
	if p == nil {
		return ""
	}
	c.Response().Header().Set("Tally-Period-Digest", p.Digest)
	return `,"closed_period":` + mustJSON(p)
}

// period reads ?from=&to= (RFC 3339), to after from and now by default.
func period(c echo.Context, now time.Time) (time.Time, time.Time, error) {
	from, err := timeParam(c, "from", time.Time{})
	if err != nil {
		return from, from, err
	}
	to, err := timeParam(c, "to", now)
	if err != nil {
		return from, to, err
	}
	if c.QueryParam("from") == "" || !to.After(from) {
		return from, to, &fault.Error{Code: fault.Invalid, Message: "from is required, and to (default now) must be after it",
			Fields: map[string]string{"from": "required, before to"}}
	}
	return from, to, nil
}

var rebateHeader = []string{"customer_id", "opening", "granted", "used_by_charges", "clawed_back", "adjustments", "closing",
	"deposits", "effective_rate"}

func rebateRecord(r finance.RebateRow) []string {
	return []string{r.CustomerID, cny(r.Opening), cny(r.Granted), cny(r.Used), cny(r.ClawedBack), cny(r.Adjustments),
		cny(r.Closing), cny(r.Deposits), r.EffectiveRate.StringFixed(4)}
}

func rebateObject(r finance.RebateRow) map[string]string {
	rec := rebateRecord(r)
	m := make(map[string]string, len(rec))
	for i, h := range rebateHeader {
		m[h] = rec[i]
	}
	return m
}

func (s *Server) rebateReport(c echo.Context) error {
	st, err := newStream(c)
	if err != nil {
		return err
	}
	from, to, err := period(c, s.ledger.Now())
	if err != nil {
		return err
	}
	closed, err := s.finance.ClosedPeriod(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	st.start(`{"from":`+mustJSON(from)+`,"to":`+mustJSON(to)+closedPeriod(c, closed)+`,"customers":[`, rebateHeader)
	total, err := s.finance.RebateReport(c.Request().Context(), from, to, func(r finance.RebateRow) error {
		return st.row(rebateObject(r), rebateRecord(r))
	})
	if err == nil {
		err = stood(closed, func() (*ledger.Period, error) { return s.finance.ClosedPeriod(c.Request().Context(), from, to) })
	}
	if err != nil {
		return st.fail(s, err)
	}
	return st.finish(`],"total":`+mustJSON(rebateObject(total))+`}`, rebateRecord(total))
}

func (s *Server) pointsReport(c echo.Context) error {
	st, err := newStream(c)
	if err != nil {
		return err
	}
	from, to, err := period(c, s.ledger.Now())
	if err != nil {
		return err
	}
	closed, err := s.finance.ClosedPeriod(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	rep, err := s.finance.PointsRollForward(c.Request().Context(), from, to)
	if err == nil {
		err = stood(closed, func() (*ledger.Period, error) { return s.finance.ClosedPeriod(c.Request().Context(), from, to) })
	}
	if err != nil {
		return err
	}
	closedPeriod(c, closed)
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	header := []string{"from", "to", "opening"}
	record := []string{from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), n(rep.Opening)}
	earned := map[string]string{}
	for _, ch := range finance.PointsChannels {
		header = append(header, "earned_"+ch)
		record = append(record, n(rep.Earned[ch]))
		earned[ch] = n(rep.Earned[ch])
	}
	header = append(header, "earned_total", "redeemed", "expired", "owed", "settled", "closing")
	record = append(record, n(rep.EarnedTotal()), n(rep.Redeemed), n(rep.Expired), n(rep.Owed), n(rep.Settled), n(rep.Closing))
	if st.csv != nil {
		st.start("", header)
		return st.finish("", record)
	}
	out := map[string]any{"from": from, "to": to, "opening": n(rep.Opening), "earned": earned,
		"earned_total": n(rep.EarnedTotal()), "redeemed": n(rep.Redeemed), "expired": n(rep.Expired), "owed": n(rep.Owed),
		"settled": n(rep.Settled), "closing": n(rep.Closing)}
	if closed != nil {
		out["closed_period"] = closed
	}
	return reply(c, http.StatusOK, out)
}

// monthParam reads the query parameter month (YYYY-MM).
func monthParam(c echo.Context) (rules.Month, error) {
	month := rules.Month(c.QueryParam("month"))
	if !month.Valid() {
		return "", &fault.Error{Code: fault.Invalid, Message: "month must be YYYY-MM, from 1971-01 to 2998-12", Fields: map[string]string{"month": "YYYY-MM, from 1971-01 to 2998-12"}}
	}
	return month, nil
}

func (s *Server) segmentReport(c echo.Context) error {
	st, err := newStream(c)
	if err != nil {
		return err
	}
	month, err := monthParam(c)
	if err != nil {
		return err
	}
	rep, err := s.finance.Segments(c.Request().Context(), month)
	if err != nil {
		return err
	}
	if st.csv == nil {
		return reply(c, http.StatusOK, rep)
	}
	st.start("", []string{"group", "name", "customers", "contribution", "share"})
	var records [][]string
	for _, g := range []struct {
		name string
		rows []finance.GroupRow
	}{{"segment", rep.Segments}, {"class", rep.Classes}} {
		for _, r := range g.rows {
			records = append(records, []string{g.name, r.Name, strconv.Itoa(r.Customers), cny(r.Contribution.Decimal), r.Share.StringFixed(4)})
		}
	}
	share := "0.0000"
	if rep.Contribution.IsPositive() {
		share = "1.0000"
	}
	records = append(records, []string{"TOTAL", string(rep.Month), strconv.Itoa(rep.Customers), cny(rep.Contribution.Decimal), share})
	return st.finish("", records...)
}
