package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify/webhook"
)

// mountWebhooks adds the routes of webhook endpoints: an admin manages
// every endpoint, a partner key its partner's.
func (s *Server) mountWebhooks(v1 routes) {
	managers := allow(ledger.RoleAdmin, ledger.RolePartner)
	v1.POST("/webhooks", s.createWebhook, managers)
	v1.GET("/webhooks", s.listWebhooks, managers)
	v1.GET("/webhooks/:id", s.getWebhook, managers)
	v1.PATCH("/webhooks/:id", s.updateWebhook, managers)
	v1.add(http.MethodDelete, "/webhooks/:id", s.deleteWebhook, managers)
	v1.POST("/webhooks/:id/rotate", s.rotateWebhookSecret, managers)
	v1.GET("/webhooks/:id/attempts", s.listWebhookAttempts, managers)
	v1.POST("/webhooks/:id/redeliver", s.redeliverWebhook, managers)
}

// owner is whose endpoints the key manages.
func owner(c echo.Context) webhook.Owner {
	return webhook.Owner{Partner: keyOf(c).PartnerID}
}

// webhookID reads the endpoint id of the path; one that is not an id is
// no endpoint.
func webhookID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Errorf(fault.NotFound, "no webhook endpoint %q", clip(c.Param("id")))
	}
	return id, nil
}

func (s *Server) createWebhook(c echo.Context) error {
	var req struct {
		URL         string   `json:"url"`
		Types       []string `json:"types"`
		Description string   `json:"description,omitempty"`
		PartnerID   int64    `json:"partner_id,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(c, "webhooks.create")
	if err != nil {
		return err
	}
	e, replayed, err := s.webhooks.Create(c.Request().Context(), owner(c), webhook.EndpointInput{URL: req.URL, Types: req.Types,
		Description: req.Description, Partner: req.PartnerID, IdempotencyKey: key, RequestHash: requestHash(c, req)})
	if err != nil {
		return err
	}
	if err := s.replay(c, replayed); err != nil {
		return err
	}
	return reply(c, http.StatusCreated, e)
}

func (s *Server) listWebhooks(c echo.Context) error {
	after, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	list, err := s.webhooks.List(c.Request().Context(), owner(c), after, limit)
	if err != nil {
		return err
	}
	return idPage(c, "endpoints", list, limit, func(e webhook.Endpoint) int64 { return e.ID })
}

// idPage answers a page of a list paged by id: the items under key ([]
// when none) and next_cursor, the last item's id when the page is full
// (null otherwise).
func idPage[T any](c echo.Context, key string, list []T, limit int, id func(T) int64) error {
	var next *string
	if len(list) == limit {
		cursor := itoa(id(list[len(list)-1]))
		next = &cursor
	}
	if list == nil {
		list = []T{}
	}
	return reply(c, http.StatusOK, map[string]any{key: list, "next_cursor": next})
}

func (s *Server) getWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	e, err := s.webhooks.Get(c.Request().Context(), owner(c), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, e)
}

func (s *Server) updateWebhook(c echo.Context) error {
	var req struct {
		URL         *string   `json:"url,omitempty"`
		Types       *[]string `json:"types,omitempty"`
		Description *string   `json:"description,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	e, err := s.webhooks.Update(c.Request().Context(), owner(c), id, webhook.EndpointPatch{URL: req.URL, Types: req.Types,
		Description: req.Description})
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, e)
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := s.webhooks.Delete(c.Request().Context(), owner(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) rotateWebhookSecret(c echo.Context) error {
	var req struct {
		GracePeriodSeconds *int64 `json:"grace_period_seconds,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	grace := webhook.DefaultGrace
	if g := req.GracePeriodSeconds; g != nil {
		if *g < 0 || *g > int64(webhook.MaxGrace/time.Second) {
			return fault.InvalidField("grace_period_seconds", "from 0 to "+itoa(int64(webhook.MaxGrace/time.Second)))
		}
		grace = time.Duration(*g) * time.Second
	}
	e, err := s.webhooks.Rotate(c.Request().Context(), owner(c), id, grace)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, e)
}

func (s *Server) listWebhookAttempts(c echo.Context) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	list, err := s.webhooks.Attempts(c.Request().Context(), owner(c), id, before, limit)
	if err != nil {
		return err
	}
	return idPage(c, "attempts", list, limit, func(a webhook.Attempt) int64 { return a.ID })
}

func (s *Server) redeliverWebhook(c echo.Context) error {
	var req struct {
		NotificationID string     `json:"notification_id,omitempty"`
		From           *time.Time `json:"from,omitempty"`
		To             *time.Time `json:"to,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	r := webhook.Redelivery{Notification: req.NotificationID}
	switch {
	case req.NotificationID != "" && (req.From != nil || req.To != nil):
		return fault.InvalidField("notification_id", "either notification_id, or from and to")
	case req.NotificationID == "" && (req.From == nil || req.To == nil):
		return fault.InvalidField("from", "either notification_id, or from and to")
	case req.NotificationID == "":
		r.From, r.To = *req.From, *req.To
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	n, err := s.webhooks.Redeliver(c.Request().Context(), owner(c), id, r)
	if err != nil {
		return err
	}
	return reply(c, http.StatusAccepted, map[string]int{"queued": n})
}
