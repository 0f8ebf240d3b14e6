package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// RulesAt is the rule set in effect at t: the version with the latest
// effective_from at or before t. The default rule set of docs/RULES.md is
// version 1 until an operator puts another.
func (s *Service) RulesAt(ctx context.Context, t time.Time) (rules.RuleSet, error) {
	return s.rulesAt(ctx, s.db, t)
}

// RulesAtIn is RulesAt read in the transaction tx, for callers that price
// inside their own transaction.
func (s *Service) RulesAtIn(ctx context.Context, tx *ledger.Tx, t time.Time) (rules.RuleSet, error) {
	return s.rulesAt(ctx, tx, t)
}

// RuleVersion is the rule set of the version, read in tx (parsed once, then
// kept: a version never changes).
func (s *Service) RuleVersion(ctx context.Context, tx *ledger.Tx, version int) (rules.RuleSet, error) {
	return s.version(ctx, tx, version)
}

func (s *Service) rulesAt(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, t time.Time) (rules.RuleSet, error) {
	schedule, err := s.schedule(ctx, q)
	if err != nil {
		return rules.RuleSet{}, err
	}
	version := 1
	for _, v := range schedule { // ascending effective_from
		if !v.from.After(t) {
			version = v.version
		}
	}
	return s.version(ctx, q, version)
}

// defaultRules is version 1, built once: building it validates it and loads
// its time zone, which cost a tenth of the event writers' CPU when done per
// event. Rule sets are shared read-only, like the parsed versions.
var defaultRules = sync.OnceValue(rules.Default)

type scheduled struct {
	version int
	from    time.Time
}

// scheduleTTL is how long the list of versions is trusted. A new version
// must start later than any event already priced could have occurred
// (clockSkew) plus this, so a stale list never prices with the wrong one.
const scheduleTTL = 30 * time.Second

// schedule is every stored version's start, cached for scheduleTTL: one
// query per event less.
func (s *Service) schedule(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) ([]scheduled, error) {
	now := time.Now()
	s.mu.Lock()
	cached, fresh := s.cachedSchedule, now.Before(s.scheduleExpires)
	s.mu.Unlock()
	if fresh {
		return cached, nil
	}
	var raw []byte
	if err := q.QueryRow(ctx, `SELECT coalesce(json_agg(json_build_array(version, effective_from) ORDER BY effective_from), '[]')
FROM rule_sets`).Scan(&raw); err != nil {
		return nil, err
	}
	var rows [][2]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, err
	}
	out := make([]scheduled, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal(r[0], &out[i].version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(r[1], &out[i].from); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.cachedSchedule, s.scheduleExpires = out, now.Add(scheduleTTL)
	s.mu.Unlock()
	return out, nil
}

func (s *Service) version(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, version int) (rules.RuleSet, error) {
	if version == 1 {
		return defaultRules(), nil // never stored: PutRules numbers from 2
	}
	s.mu.Lock()
	rs, ok := s.versions[version]
	s.mu.Unlock()
	if ok {
		return rs, nil
	}
	var doc []byte
	var from time.Time
	if err := q.QueryRow(ctx, `SELECT document, effective_from FROM rule_sets WHERE version = $1`, version).Scan(&doc, &from); err != nil {
		return rs, err
	}
	rs, err := rules.Parse(doc)
	if err != nil {
		return rs, err
	}
	rs.Version, rs.EffectiveFrom = version, from
	s.mu.Lock()
	s.versions[version] = rs
	s.mu.Unlock()
	return rs, nil
}

// MaxRuleVersionPage is the most rule set versions a page holds.
const MaxRuleVersionPage = 500

// RuleVersions lists every rule set, oldest first, starting with the
// default (version 1), page by page (RuleVersionPage).
func (s *Service) RuleVersions(ctx context.Context) ([]rules.RuleSet, error) {
	var all []rules.RuleSet
	for after := 0; ; {
		page, next, err := s.RuleVersionPage(ctx, after, MaxRuleVersionPage)
		if err != nil || next == 0 {
			return append(all, page...), err
		}
		all, after = append(all, page...), next
	}
}

// RuleVersionPage lists up to limit rule sets, oldest first, those after
// version after (from the default, version 1, when it is 0), and the
// version to continue after: 0 on the last page.
//
// Errors: fault.Invalid (a limit or cursor out of range).
func (s *Service) RuleVersionPage(ctx context.Context, after, limit int) ([]rules.RuleSet, int, error) {
	if limit < 1 || limit > MaxRuleVersionPage || after < 0 {
		return nil, 0, &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf(
			"a page is 1 to %d versions, after a version", MaxRuleVersionPage),
			Fields: map[string]string{"cursor": "a next_cursor of an earlier page"}}
	}
	rows, err := s.db.Query(ctx, `SELECT version FROM rule_sets WHERE version > $1 ORDER BY version LIMIT $2`,
		after, limit+1)
	if err != nil {
		return nil, 0, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, 0, err
	}
	out := []rules.RuleSet{}
	if after < 1 {
		out = append(out, defaultRules())
	}
	for _, v := range versions {
		rs, err := s.version(ctx, s.db, v)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, rs)
	}
	next := 0
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Version
	}
	return out, next, nil
}

// MaxRulesAhead is how many days ahead a version of the rules may start.
const MaxRulesAhead = 366

// PutRules stores a new version of the rules, effective from rs's
// EffectiveFrom (now when zero), which may not be in the past nor before
// the latest version's (what has been priced stays priced), nor more than
// MaxRulesAhead days ahead.
//
// Errors: fault.InvalidRules (with field errors), fault.Invalid.
func (s *Service) PutRules(ctx context.Context, rs rules.RuleSet, actor string) (rules.RuleSet, error) {
	if err := rs.ValidateNew(); err != nil {
		var ve *rules.ValidationError
		if errors.As(err, &ve) {
			return rs, &fault.Error{Code: fault.InvalidRules, Message: "the rule set is inconsistent", Fields: ve.Fields}
		}
		return rs, err
	}
	// Events may arrive up to clockSkew ahead of our clock and be priced at
	// once, and every server trusts its list of versions for scheduleTTL: a
	// new version starts after both, so nothing already priced would have
	// been priced differently.
	earliest := s.now().Add(clockSkew + scheduleTTL)
	if rs.EffectiveFrom.IsZero() {
		rs.EffectiveFrom = earliest
	}
	if rs.EffectiveFrom.Before(earliest) {
		return rs, fault.InvalidField("effective_from", "at least 5.5 minutes ahead: priced events stay priced")
	}
	// Every later version must start after this one, and none can be
	// withdrawn: a version dated years ahead by a slip would hold every
	// change back until then.
	if rs.EffectiveFrom.After(s.now().AddDate(0, 0, MaxRulesAhead)) {
		return rs, fault.InvalidField("effective_from", fmt.Sprintf("at most %d days ahead: a later version must start after it", MaxRulesAhead))
	}
	doc, err := json.Marshal(rs)
	if err != nil {
		return rs, err
	}
	err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		// One writer at a time: versions are numbered in order.
		if _, err := tx.Exec(ctx, `LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var latest *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(effective_from) FROM rule_sets`).Scan(&latest); err != nil {
			return err
		}
		if latest != nil && !rs.EffectiveFrom.After(*latest) {
			return fault.InvalidField("effective_from", "must be after the latest version's ("+latest.Format(time.RFC3339)+")")
		}
		return tx.QueryRow(ctx, `INSERT INTO rule_sets (version, effective_from, document, created_by, created_at)
VALUES ((SELECT coalesce(max(version), 1) + 1 FROM rule_sets), $1, $2, $3, $4) RETURNING version`,
			rs.EffectiveFrom, doc, actor, tx.Now()).Scan(&rs.Version)
	})
	if err == nil {
		s.mu.Lock()
		s.scheduleExpires = time.Time{} // this server knows at once
		s.mu.Unlock()
	}
	return rs, err
}

// LotAt is the lot of points credited at t outside of events (manual
// adjustments): available at once, expiring per the rules in effect at t.
func (s *Service) LotAt(ctx context.Context, t time.Time) (*ledger.Lot, error) {
	rs, err := s.RulesAt(ctx, t)
	if err != nil {
		return nil, err
	}
	return &ledger.Lot{AvailableAt: t, ExpiresAt: rs.ExpiresAt(t)}, nil
}
