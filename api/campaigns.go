package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

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
	return s.createdOrRepeated(c, created, camp)
}

func (s *Server) listCampaigns(c echo.Context) error {
	at, err := timeParam(c, "active_at", time.Time{})
	if err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	list, next, err := s.loyalty.CampaignPage(c.Request().Context(), at, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	if n := fitPage(list); n < len(list) {
		list, next = list[:n], list[n-1].ID
	}
	return reply(c, http.StatusOK, map[string]any{"campaigns": list, "next_cursor": nullIfEmpty(next)})
}
