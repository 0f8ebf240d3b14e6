package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// The portal acts for the customer of the session only: no handler reads a
// customer id from the request.
func customerOf(c echo.Context) string { return c.Get(sessionContext).(*session).CustomerID }

// expiringHorizon covers every lot a customer can hold: a lot lives at most
// 13 calendar months.
const expiringHorizon = 400 * 24 * time.Hour

type overviewData struct {
	Profile  loyalty.Profile
	Balances loyalty.Balances
	Expiring []loyalty.ExpiringPoints
	// Progress is this month's contribution towards the next level, in
	// per mille of the way from where the month started (0) to the
	// target.
	Progress int
	Next     *rules.Target
}

func (p *Pages) overview(c echo.Context) error {
	ctx, id := c.Request().Context(), customerOf(c)
	prof, err := p.loyalty.Profile(ctx, id)
	if err != nil {
		return p.fail(c, err)
	}
	bal, err := p.loyalty.Balances(ctx, id)
	if err != nil {
		return p.fail(c, err)
	}
	exp, err := p.loyalty.Expiring(ctx, id, expiringHorizon)
	if err != nil {
		return p.fail(c, err)
	}
	d := overviewData{Profile: prof, Balances: bal, Expiring: exp, Next: prof.NextLevel}
	if d.Next == nil {
		d.Next = prof.NextSegment
	}
	if d.Next != nil {
		d.Progress = progress(prof.ThisMonth.Amount.Decimal, d.Next.Needed.Decimal)
	}
	return p.render(c, http.StatusOK, "overview", "overview.title", d)
}

// progress is done / (done + needed) in per mille, rounded down.
func progress(done, needed decimal.Decimal) int {
	total := done.Add(needed)
	if !total.IsPositive() {
		return 0
	}
	return int(done.Mul(decimal.NewFromInt(1000)).Div(total).IntPart())
}

// catalogPage is how many products a catalogue page shows.
const catalogPage = 50

// statementPage is how many entries a statement page shows.
const statementPage = 20

// beforeParam is ?before=, the entry id a page of older rows starts
// before; 0 when absent.
func beforeParam(c echo.Context) (int64, error) {
	v := c.QueryParam("before")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fault.Errorf(fault.Invalid, "before must be an entry id")
	}
	return n, nil
}

func (p *Pages) statement(c echo.Context) error {
	before, err := beforeParam(c)
	if err != nil {
		return p.fail(c, err)
	}
	entries, next, err := p.loyalty.Statement(c.Request().Context(), customerOf(c), before, statementPage)
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "statement", "statement.title",
		map[string]any{"Entries": entries, "Next": next, "First": before == 0})
}

func (p *Pages) catalogPage(c echo.Context) error {
	ctx, id := c.Request().Context(), customerOf(c)
	after := c.QueryParam("after")
	items, next, err := p.catalog.CatalogPage(ctx, id, after, catalogPage)
	if err != nil {
		return p.fail(c, err)
	}
	bal, err := p.loyalty.Balances(ctx, id)
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "catalog", "catalog.title",
		map[string]any{"Items": items, "Points": bal.Points, "Next": next, "First": after == ""})
}

// redeemConfirm asks the customer to confirm a redemption; the form carries
// a fresh redemption id, so that submitting it twice redeems once.
func (p *Pages) redeemConfirm(c echo.Context) error {
	it, err := p.catalog.Item(c.Request().Context(), customerOf(c), c.Param("sku"))
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "redeem", "redeem.title",
		map[string]any{"Item": it, "RedemptionID": "web-" + secret()[:22]})
}

// redeem redeems in the customer's own space (the space a customer key
// writes in), and sends the customer to the redemption's page, with the
// form that cancels it.
func (p *Pages) redeem(c echo.Context) error {
	c.Set(langBack, "/portal/catalog")
	if sku := c.FormValue("sku"); ledger.ValidCustomerID(sku) {
		c.Set(langBack, "/portal/redeem/"+sku)
	}
	q, err := strconv.Atoi(c.FormValue("quantity"))
	if err != nil || q < 1 || q > 100 {
		return p.fail(c, fault.Errorf(fault.Invalid, "quantity is 1 to 100"))
	}
	in := catalog.RedemptionInput{ID: c.FormValue("redemption_id"), CustomerID: customerOf(c), SKU: c.FormValue("sku"),
		Quantity: q, Space: spaceOf(c)}
	r, _, err := p.catalog.Redeem(c.Request().Context(), in, actor(c))
	if err != nil {
		return p.fail(c, err)
	}
	return seeRedemption(c, r.ID, "redeemed")
}

// seeRedemption answers a form that redeemed or cancelled with the
// redemption's own page (303): reloading it sends nothing again, and its
// links, the language switch among them, are to pages that exist.
func seeRedemption(c echo.Context, id, done string) error {
	return c.Redirect(http.StatusSeeOther, "/portal/redemptions/"+url.PathEscape(id)+"?done="+done)
}

// spaceOf is the id space of the session's customer, which holds only
// their redemptions: another customer's redemption id is not found there.
func spaceOf(c echo.Context) string {
	return ledger.APIKey{Role: ledger.RoleCustomer, CustomerID: customerOf(c)}.Space()
}

// redemptionsPage is how many redemptions a page lists.
const redemptionsPage = 20

// redemptions lists every redemption of the session's customer, whoever made
// it; the customer may cancel only those of their own space (catalog's
// CustomerRedemptions says which and why not).
func (p *Pages) redemptions(c echo.Context) error {
	before, err := beforeParam(c)
	if err != nil {
		return p.fail(c, err)
	}
	rs, next, err := p.catalog.CustomerRedemptions(c.Request().Context(), customerOf(c), spaceOf(c), before, redemptionsPage)
	if err != nil {
		return p.fail(c, err)
	}
	return p.render(c, http.StatusOK, "redemptions", "redemptions.title",
		map[string]any{"Redemptions": rs, "Next": next, "First": before == 0})
}

// redemptionPage shows a redemption of the customer's own space, with the
// form that cancels it.
func (p *Pages) redemptionPage(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := p.catalog.Redemption(ctx, spaceOf(c), c.Param("id"))
	if err != nil {
		return p.fail(c, err)
	}
	prod, err := p.catalog.Product(ctx, r.SKU)
	if err != nil {
		return p.fail(c, err)
	}
	// What the form that led here did, said once: ?done= is only a message
	// to show, and only one the redemption's status bears out.
	done := c.QueryParam("done")
	if done != r.Status {
		done = ""
	}
	return p.render(c, http.StatusOK, "redemption", "redemption.title",
		map[string]any{"R": r, "Product": prod.Name, "Done": done})
}

func (p *Pages) cancel(c echo.Context) error {
	c.Set(langBack, "/portal/redemptions")
	r, err := p.catalog.CancelRedemption(c.Request().Context(), spaceOf(c), c.Param("id"),
		"cancelled by the customer in the portal", actor(c))
	if err != nil {
		return p.fail(c, err)
	}
	return seeRedemption(c, r.ID, "cancelled")
}

// prepaidHistory is how many money movements the prepaid page lists.
const prepaidHistory = 50

func (p *Pages) prepaidPage(c echo.Context) error {
	ctx, id := c.Request().Context(), customerOf(c)
	bal, err := p.loyalty.Balances(ctx, id)
	if err != nil {
		return p.fail(c, err)
	}
	moves, err := p.prepaid.History(ctx, id, prepaidHistory)
	if err != nil {
		return p.fail(c, err)
	}
	var deposits, charges []prepaid.MoneyMovement
	for _, m := range moves {
		switch m.Kind {
		case prepaid.Deposit:
			deposits = append(deposits, m)
		case prepaid.Charge:
			charges = append(charges, m)
		}
	}
	return p.render(c, http.StatusOK, "prepaid", "prepaid.title",
		map[string]any{"Prepaid": bal.Prepaid, "Deposits": deposits, "Charges": charges})
}

// actor names the session behind a write, for the entry's audit trail.
func actor(c echo.Context) string {
	s := c.Get(sessionContext).(*session)
	return "portal:key:" + strconv.FormatInt(s.KeyID, 10) + ":" + s.CustomerID
}
