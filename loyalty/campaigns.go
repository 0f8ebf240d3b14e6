package loyalty

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Campaign is a featured campaign as stored.
type Campaign struct {
	rules.Campaign
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var maxCampaignMultiplier = decimal.NewFromInt(100)

// CreateCampaign stores a campaign; the same campaign again is a no-op that
// reports created = false. A campaign is fixed once published: events have
// been priced with it. A new campaign starts at least 5.5 minutes ahead, as
// a rule version does: events may be dated up to clockSkew ahead of the
// clock and are priced at once, so one starting sooner would price an
// event recorded late differently from one of the same instant recorded
// on time.
//
// Errors: fault.Invalid, fault.CampaignConflict.
func (s *Service) CreateCampaign(ctx context.Context, c Campaign) (Campaign, bool, error) {
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case !ledger.ValidCustomerID(c.ID):
		return c, false, fault.InvalidField("id", "1 to 64 letters, digits, '_', '.' or '-'")
	case c.Name == "" || len(c.Name) > 200:
		return c, false, fault.InvalidField("name", "required, at most 200 characters")
	case c.StartsAt.IsZero() || c.EndsAt.IsZero() || !c.EndsAt.After(c.StartsAt):
		return c, false, fault.InvalidField("ends_at", "starts_at and ends_at are required, ends_at after starts_at")
	case c.Multiplier.LessThan(decimal.NewFromInt(1)) || c.Multiplier.GreaterThan(maxCampaignMultiplier) ||
		!c.Multiplier.Equal(c.Multiplier.Truncate(4)):
		return c, false, fault.InvalidField("multiplier", "from 1 to 100, at most 4 decimals")
	}
	rs, err := s.RulesAt(ctx, c.StartsAt)
	if err != nil {
		return c, false, err
	}
	for _, seg := range c.Segments {
		if _, ok := rs.Segment(seg); !ok {
			return c, false, fault.InvalidField("segments", "unknown segment "+seg)
		}
	}
	slices.Sort(c.Segments)
	c.Segments = slices.Compact(c.Segments)
	c.StartsAt, c.EndsAt = c.StartsAt.UTC(), c.EndsAt.UTC()
	created := false
	err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO campaigns (id, name, starts_at, ends_at, multiplier, segments, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`, c.ID, c.Name, c.StartsAt, c.EndsAt, c.Multiplier, c.Segments,
			tx.Now())
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		if created && c.StartsAt.Before(tx.Now().Add(clockSkew+scheduleTTL)) {
			return fault.InvalidField("starts_at", "at least 5.5 minutes ahead: events already priced stay priced")
		}
		stored, err := campaignsWhere(ctx, tx, `id = $1`, c.ID)
		if err != nil {
			return err
		}
		got := stored[0]
		if !created && (got.Name != c.Name || !got.StartsAt.Equal(c.StartsAt) || !got.EndsAt.Equal(c.EndsAt) ||
			!got.Multiplier.Equal(c.Multiplier) || !slices.Equal(got.Segments, c.Segments)) {
			return &fault.Error{Code: fault.CampaignConflict, Message: "campaign " + c.ID + " already exists with other data"}
		}
		c = got
		return nil
	})
	return c, created, err
}

// MaxCampaignPage is the most campaigns a page holds.
const MaxCampaignPage = 500

// Campaigns lists campaigns by id, those active at t only when t is not
// zero, page by page (CampaignPage).
func (s *Service) Campaigns(ctx context.Context, t time.Time) ([]Campaign, error) {
	var all []Campaign
	for after := ""; ; {
		page, next, err := s.CampaignPage(ctx, t, after, MaxCampaignPage)
		if err != nil || next == "" {
			return append(all, page...), err
		}
		all, after = append(all, page...), next
	}
}

// CampaignPage lists up to limit campaigns by id, those active at t only
// when t is not zero, after the id after (from the first when it is empty),
// and the id to continue after: empty on the last page.
//
// Errors: fault.Invalid (a limit or cursor out of range).
func (s *Service) CampaignPage(ctx context.Context, t time.Time, after string, limit int) ([]Campaign, string, error) {
	if limit < 1 || limit > MaxCampaignPage || (after != "" && !ledger.ValidCustomerID(after)) {
		return nil, "", &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf(
			"a page is 1 to %d campaigns, after a campaign id", MaxCampaignPage),
			Fields: map[string]string{"cursor": "a next_cursor of an earlier page"}}
	}
	var (
		out  []Campaign
		next string
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var err error
		next = ""
		if t.IsZero() {
			out, err = campaignsWhere(ctx, tx, `id > $1 ORDER BY id LIMIT $2`, after, limit+1)
		} else {
			out, err = campaignsWhere(ctx, tx, `starts_at <= $3 AND ends_at > $3 AND id > $1 ORDER BY id LIMIT $2`,
				after, limit+1, t)
		}
		if len(out) > limit {
			out = out[:limit]
			next = out[limit-1].ID
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// campaignsWhere reads the campaigns that match where, an SQL condition and
// any ORDER BY and LIMIT after it.
func campaignsWhere(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]Campaign, error) {
	rows, err := tx.Query(ctx, `SELECT id, name, starts_at, ends_at, multiplier, coalesce(segments, '{}'), created_at
FROM campaigns WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Campaign, error) {
		var c Campaign
		err := row.Scan(&c.ID, &c.Name, &c.StartsAt, &c.EndsAt, &c.Multiplier, &c.Segments, &c.CreatedAt)
		if len(c.Segments) == 0 {
			c.Segments = nil
		}
		return c, err
	})
}
