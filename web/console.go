package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// The console's times are entered and shown in Asia/Shanghai: an instant
// as 2006-01-02T15:04 (an HTML datetime-local field), a period as months
// (2006-01), from the first month's start to the last month's end.
const (
	instantLayout = "2006-01-02T15:04"
	monthLayout   = "2006-01"
	// maxChartMonths bounds a period's chart, a bar (or a group) a month.
	maxChartMonths = 24
)

// PageRows bounds the rows of customers a console page lists (a trial
// balance's customer accounts, a rebate roll-forward's customers): the
// page is built whole, and its totals are still over every row. The
// platform's accounts are listed whatever their number (the chart's few).
// The CSV beside it lists every row, streamed.
var PageRows = 500

// listed is what a page lists of rows handed to it in order: every row
// that is not a customer's, the first PageRows that are, and how many of
// those it left out.
type listed[T any] struct {
	Rows              []T
	customers, Hidden int
}

func (l *listed[T]) add(r T, customers bool) {
	if customers {
		if l.customers == PageRows {
			l.Hidden++
			return
		}
		l.customers++
	}
	l.Rows = append(l.Rows, r)
}

// trialBalance shows the trial balance as of an instant (?as_of=, to the
// minute; default now) or at a month's close (?month=, which wins over
// as_of): as of the month's last microsecond, in the time zone the books
// cut that month in (finance.MonthBounds, as a close does), which counts
// every entry of the month, up to one at 23:59:59.999999, and none at the
// next month's first instant (an expiry run's, say). An instant to the
// minute can say neither.
func (p *Pages) trialBalance(c echo.Context) error {
	asOf := p.ledger.Now()
	closing := rules.Month(c.QueryParam("month"))
	if closing != "" {
		if !closing.Valid() {
			return p.fail(c, fault.Errorf(fault.Invalid, "month must be a month such as 2026-03, in the years 1971 to 2998"))
		}
	} else if v := c.QueryParam("as_of"); v != "" {
		t, err := time.ParseInLocation(instantLayout, v, shanghai)
		if err != nil || !rules.InRange(t) {
			return p.fail(c, fault.Errorf(fault.Invalid, "as_of must be a date and time such as 2026-03-15T12:00, in the years 1970 to 2999"))
		}
		asOf = t
	}
	var rows listed[ledger.TrialRow]
	var totals []ledger.AssetTotal
	last := ""
	err := p.books(c, func(fin *finance.Service) (err error) {
		if closing != "" {
			start, end, err := fin.MonthBounds(c.Request().Context(), closing)
			if err != nil {
				return err
			}
			asOf = end.Add(-time.Microsecond)
			last = asOf.In(start.Location()).Format("2006-01-02 15:04:05.000000") + " " + start.Location().String()
		}
		rows = listed[ledger.TrialRow]{}
		totals, err = fin.TrialBalance(c.Request().Context(), asOf, func(r ledger.TrialRow) error {
			_, customer := ledger.CustomerOf(r.Account)
			rows.add(r, customer)
			return nil
		})
		return err
	})
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "trial_balance", "tb.title", map[string]any{
		"AsOf": asOf.In(shanghai).Format(instantLayout), "Month": string(closing), "Last": last,
		"Rows": rows.Rows, "Hidden": rows.Hidden, "Totals": totals,
		// To the microsecond, as the page's figures are (a month's close, or now).
		"CSV": "/console/csv/trial-balance?" + url.Values{"as_of": {asOf.UTC().Format(time.RFC3339Nano)}}.Encode()})
}

// period reads ?from=&to= months (default: the last six months to this
// one, by the clock in Shanghai), at most maxChartMonths of them, in
// order. The books cut each month in the zone of its rule set
// (monthStarts).
func (p *Pages) period(c echo.Context) ([]rules.Month, error) {
	now := p.ledger.Now().In(shanghai)
	last := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, shanghai)
	first := last.AddDate(0, -5, 0)
	var err error
	if v := c.QueryParam("from"); v != "" {
		if first, err = time.ParseInLocation(monthLayout, v, shanghai); err != nil || !rules.Month(v).Valid() {
			return nil, fault.Errorf(fault.Invalid, "from must be a month such as 2026-03, in the years 1971 to 2998")
		}
	}
	if v := c.QueryParam("to"); v != "" {
		if last, err = time.ParseInLocation(monthLayout, v, shanghai); err != nil || !rules.Month(v).Valid() {
			return nil, fault.Errorf(fault.Invalid, "to must be a month such as 2026-03, in the years 1971 to 2998")
		}
	}
	if last.Before(first) {
		return nil, fault.Errorf(fault.Invalid, "to must not be before from")
	}
	var months []rules.Month
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		if len(months) == maxChartMonths {
			return nil, fault.Errorf(fault.Invalid, "a period is at most %d months", maxChartMonths)
		}
		months = append(months, rules.Month(m.Format(monthLayout)))
	}
	return months, nil
}

// monthStarts are the first instants of the months, as the books cut them
// (finance.MonthBounds, as a close does: in the zone of each month's rule
// set), then the end of the last: a page's report runs from the first to
// the last, and its chart's months between (the report and the chart are
// read at once: ledger.MovementsEach, whose parts touch). A month runs to
// the next one's start, so across a change of the rules' time zone a
// chart's month is not quite its close's (it ends at the next month's
// start in the next month's zone); the period's first and last instants
// are always the books'.
func monthStarts(ctx context.Context, fin *finance.Service, months []rules.Month) ([]time.Time, error) {
	out := make([]time.Time, 0, len(months)+1)
	for i, m := range months {
		start, end, err := fin.MonthBounds(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, start)
		if i == len(months)-1 {
			out = append(out, end)
		}
	}
	return out, nil
}

func periodQuery(from, to time.Time) string {
	return url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}.Encode()
}

func (p *Pages) rebates(c echo.Context) error {
	ctx := c.Request().Context()
	months, err := p.period(c)
	if err != nil {
		return p.fail(c, err)
	}
	var rows listed[finance.RebateRow]
	var total finance.RebateRow
	var ch chart
	var starts []time.Time
	err = p.books(c, func(fin *finance.Service) (err error) {
		if starts, err = monthStarts(ctx, fin, months); err != nil {
			return err
		}
		rows, ch = listed[finance.RebateRow]{}, chart{Series: []string{"rebates.granted", "rebates.used"}, Lang: language(c), Money: true}
		var reports []finance.RebateRow
		total, reports, err = fin.RebateReports(ctx, starts, func(r finance.RebateRow) error {
			rows.add(r, true)
			return nil
		})
		if err != nil {
			return err
		}
		for i, t := range reports {
			ch.Labels = append(ch.Labels, string(months[i]))
			ch.Values = append(ch.Values, []decimal.Decimal{t.Granted, t.Used})
		}
		return nil
	})
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "rebates", "rebates.title", map[string]any{
		"From": string(months[0]), "To": string(months[len(months)-1]), "Rows": rows.Rows, "Hidden": rows.Hidden, "Total": total,
		"Chart": ch.bars("rebates.chart"), "CSV": "/console/csv/rebates?" + periodQuery(starts[0], starts[len(starts)-1])})
}

func (p *Pages) points(c echo.Context) error {
	ctx := c.Request().Context()
	months, err := p.period(c)
	if err != nil {
		return p.fail(c, err)
	}
	var rep finance.PointsReport
	var ch chart
	var starts []time.Time
	err = p.books(c, func(fin *finance.Service) (err error) {
		if starts, err = monthStarts(ctx, fin, months); err != nil {
			return err
		}
		var reports []finance.PointsReport
		if rep, reports, err = fin.PointsRollForwards(ctx, starts); err != nil {
			return err
		}
		ch = chart{Lang: language(c)}
		for _, name := range finance.PointsChannels {
			ch.Series = append(ch.Series, "channel."+name)
		}
		ch.Series = append(ch.Series, "points.redeemed", "points.expired")
		for i, r := range reports {
			var vs []decimal.Decimal
			for _, name := range finance.PointsChannels {
				vs = append(vs, decimal.NewFromInt(r.Earned[name]))
			}
			vs = append(vs, decimal.NewFromInt(r.Redeemed), decimal.NewFromInt(r.Expired))
			ch.Labels = append(ch.Labels, string(months[i]))
			ch.Values = append(ch.Values, vs)
		}
		return nil
	})
	if err != nil {
		return p.fail(c, err)
	}
	type line struct {
		Key, Arg string
		Points   int64
	}
	lines := []line{{Key: "points.opening", Points: rep.Opening}}
	for _, name := range finance.PointsChannels {
		lines = append(lines, line{Key: "points.earned", Arg: "channel." + name, Points: rep.Earned[name]})
	}
	lines = append(lines, line{Key: "points.earned_total", Points: rep.EarnedTotal()},
		line{Key: "points.redeemed", Points: -rep.Redeemed}, line{Key: "points.expired", Points: -rep.Expired},
		line{Key: "points.owed", Points: rep.Owed}, line{Key: "points.settled", Points: -rep.Settled},
		line{Key: "points.closing", Points: rep.Closing})
	return p.render(c, http.StatusOK, "points", "points.title", map[string]any{
		"From": string(months[0]), "To": string(months[len(months)-1]), "Lines": lines,
		"Chart": ch.grouped("points.chart"), "CSV": "/console/csv/points?" + periodQuery(starts[0], starts[len(starts)-1])})
}

func (p *Pages) segments(c echo.Context) error {
	month := rules.Month(p.ledger.Now().In(shanghai).Format(monthLayout))
	if v := c.QueryParam("month"); v != "" {
		month = rules.Month(v)
	}
	if !month.Valid() {
		return p.fail(c, fault.Errorf(fault.Invalid, "month must be YYYY-MM, from 1971-01 to 2998-12"))
	}
	var rep finance.SegmentReport
	err := p.books(c, func(fin *finance.Service) (err error) {
		rep, err = fin.Segments(c.Request().Context(), month)
		return err
	})
	if err != nil {
		return p.fail(c, err)
	}
	lang := language(c)
	return p.render(c, http.StatusOK, "segments", "segments.title", map[string]any{
		"Month": string(month), "Report": rep, "Pyramid": pyramid(lang, rep.Segments), "Split": split(lang, rep.Classes),
		"CSV": "/console/csv/segments?" + url.Values{"month": {string(month)}}.Encode()})
}

// books runs read, the reads of a console page, with the finance service
// on a standby that may serve it (Config.ReadFinance), and again with the
// primary's should the standby fail it (gone, or refusing, or cancelling
// it for a conflict with recovery); with the
// primary's alone when no standby is configured or none may serve.
// Tally-Read-From says which answered, when standbys are configured.
func (p *Pages) books(c echo.Context, read func(*finance.Service) error) error {
	if p.readFinance == nil {
		return read(p.finance)
	}
	if fin := p.readFinance(c.Request().Context()); fin != nil {
		err := read(fin)
		if err == nil || !(fault.DatabaseLost(err) || fault.RecoveryConflict(err)) {
			c.Response().Header().Set("Tally-Read-From", "standby")
			return err
		}
	}
	c.Response().Header().Set("Tally-Read-From", "primary")
	return read(p.finance)
}

// reconciliation runs on the primary: a failed run is announced
// (reconciliation.failed), a write.
func (p *Pages) reconciliation(c echo.Context) error {
	r, err := p.finance.Reconcile(c.Request().Context())
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "reconciliation", "recon.title", r)
}
