package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// listNotifications is the pull feed: the notifications after the cursor,
// in commit order. A partner key reads all but those meant for another
// partner only.
func (s *Server) listNotifications(c echo.Context) error {
	after, err := notify.ParseCursor(c.QueryParam("after"))
	if err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	var f notify.Filter
	if v := c.QueryParam("types"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if !notify.KnownType(t) {
				return fault.InvalidField("types", "comma-separated types of notification, each one of "+strings.Join(notify.Types, ", "))
			}
			f.Types = append(f.Types, t)
		}
	}
	if key := keyOf(c); key.Role == ledger.RolePartner {
		f.Partner = key.PartnerID
		if f.Partner == 0 {
			f.Partner = -1 // a key of no partner: none of what is meant for one partner only
		}
	}
	list, next, err := notify.Feed(c.Request().Context(), s.ledger, after, limit, f)
	if err != nil {
		return err
	}
	if n := fitPage(list); n < len(list) {
		list, next = list[:n], list[n-1].Position
	}
	if list == nil {
		list = []notify.Notification{}
	}
	return reply(c, http.StatusOK, map[string]any{"notifications": list, "next_cursor": next.String()})
}
