package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

type customerRequest struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	ReferredBy *string `json:"referred_by,omitempty"`
}

// createCustomer registers a customer: 201 when new, 200 when the same
// registration is repeated.
func (s *Server) createCustomer(c echo.Context) error {
	var req customerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cust, created, err := s.loyalty.CreateCustomer(c.Request().Context(),
		loyalty.Customer{ID: req.ID, Name: req.Name, ReferredBy: req.ReferredBy})
	if err != nil {
		return err
	}
	return createdOrRepeated(c, created, cust)
}

// createdOrRepeated answers a registration: 201 when it created something,
// 200 when the very same registration was made before.
func createdOrRepeated(c echo.Context, created bool, v any) error {
	if created {
		return reply(c, http.StatusCreated, v)
	}
	return reply(c, http.StatusOK, v)
}

func (s *Server) getCustomer(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	p, err := s.loyalty.Profile(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, p)
}

// canReadCustomer: admin and finance read every customer, a customer key
// only its own.
func canReadCustomer(key ledger.APIKey, id string) error {
	return canReadAccount(key, ledger.CustomerAccount(id, "points"))
}

type eventRequest struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	CustomerID string    `json:"customer_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ShipmentID string    `json:"shipment_id"`
	Amount     *Amount   `json:"amount,omitempty"`
	Rating     *int      `json:"rating,omitempty"`
}

func (r eventRequest) event() loyalty.Event {
	ev := loyalty.Event{EventID: r.EventID, Type: r.Type, CustomerID: r.CustomerID, OccurredAt: r.OccurredAt,
		ShipmentID: r.ShipmentID, Rating: r.Rating}
	if r.Amount != nil {
		ev.Amount = &r.Amount.Decimal
	}
	return ev
}

func (s *Server) postEvent(c echo.Context) error {
	var req eventRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	o := s.loyalty.ProcessBatch(c.Request().Context(), keyOf(c).ID, actor(c), []loyalty.Event{req.event()})[0]
	if o.Err != nil {
		return o.Err
	}
	if o.Replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return replyResult(c, http.StatusCreated, o)
}

// replyResult answers an event's result, as JSON already encoded when the
// writer kept it.
func replyResult(c echo.Context, status int, o loyalty.Outcome) error {
	if o.JSON == nil {
		return reply(c, status, o.Result)
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(append(o.JSON, '\n'))
	return err
}

// maxBatch is the most events one batch may hold.
const maxBatch = 1000

type batchItem struct {
	Index    int      `json:"index"`
	Status   int      `json:"status"`
	Replayed bool     `json:"replayed"`
	Result   any      `json:"result,omitempty"` // *loyalty.Result or its JSON
	Problem  *Problem `json:"problem,omitempty"`
}

// postEventBatch processes up to maxBatch events, each atomic on its own,
// and answers a result per event by index: a bad event is reported, its
// neighbours still commit.
func (s *Server) postEventBatch(c echo.Context) error {
	var req struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if len(req.Events) == 0 || len(req.Events) > maxBatch {
		return &fault.Error{Code: fault.Invalid, Message: "a batch holds 1 to 1000 events",
			Fields: map[string]string{"events": "1 to 1000 events"}}
	}
	items := make([]batchItem, len(req.Events))
	var events []loyalty.Event
	var at []int
	for i, raw := range req.Events {
		var ev eventRequest
		if err := decodeStrict(raw, &ev); err != nil {
			p := problemFor(jsonError(err))
			items[i] = batchItem{Index: i, Status: p.Status, Problem: finish(c, p)}
			continue
		}
		events = append(events, ev.event())
		at = append(at, i)
	}
	for j, o := range s.loyalty.ProcessBatch(c.Request().Context(), keyOf(c).ID, actor(c), events) {
		i := at[j]
		if o.Err != nil {
			p := problemFor(o.Err)
			if p.Status >= 500 {
				s.log.Error("batch event failed", "err", o.Err, "index", i)
			}
			items[i] = batchItem{Index: i, Status: p.Status, Problem: finish(c, p)}
			continue
		}
		var res any = json.RawMessage(o.JSON)
		if o.JSON == nil {
			r := o.Result
			res = &r
		}
		items[i] = batchItem{Index: i, Status: http.StatusCreated, Replayed: o.Replayed, Result: res}
	}
	return reply(c, http.StatusOK, map[string]any{"results": items})
}

func (s *Server) getRules(c echo.Context) error {
	at, err := timeParam(c, "at", s.ledger.Now())
	if err != nil {
		return err
	}
	rs, err := s.loyalty.RulesAt(c.Request().Context(), at)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rs)
}

func (s *Server) listRuleVersions(c echo.Context) error {
	versions, err := s.loyalty.RuleVersions(c.Request().Context())
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, map[string]any{"versions": versions})
}

// putRules stores a new version of the rule set.
func (s *Server) putRules(c echo.Context) error {
	var rs rules.RuleSet
	if err := decode(c, &rs); err != nil {
		return err
	}
	rs, err := s.loyalty.PutRules(c.Request().Context(), rs, actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, rs)
}

type campaignRequest struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	StartsAt   time.Time `json:"starts_at"`
	EndsAt     time.Time `json:"ends_at"`
	Multiplier Amount    `json:"multiplier"`
	Segments   []string  `json:"segments,omitempty"`
}

func (s *Server) createCampaign(c echo.Context) error {
	var req campaignRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	camp := loyalty.Campaign{Name: req.Name, Campaign: rules.Campaign{ID: req.ID, StartsAt: req.StartsAt,
		EndsAt: req.EndsAt, Multiplier: req.Multiplier.Decimal, Segments: req.Segments}}
	camp, created, err := s.loyalty.CreateCampaign(c.Request().Context(), camp)
	if err != nil {
		return err
	}
	return createdOrRepeated(c, created, camp)
}

func (s *Server) listCampaigns(c echo.Context) error {
	at, err := timeParam(c, "active_at", time.Time{})
	if err != nil {
		return err
	}
	list, err := s.loyalty.Campaigns(c.Request().Context(), at)
	if err != nil {
		return err
	}
	if list == nil {
		list = []loyalty.Campaign{}
	}
	return reply(c, http.StatusOK, map[string]any{"campaigns": list})
}
