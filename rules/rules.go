// Package rules prices loyalty events: a customer's segment and level from
// their contribution, volume points with multipliers and campaigns, referral
// and feedback bonuses, refund take-backs, and prepaid rebates.
//
// It is pure: events, customer state and a rule set in; amounts and an
// explanation out. It must never touch a database, a clock or the network:
// callers pass the time and the state.
package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
)

// RuleSet is one version of the loyalty rules (Default's, which
// docs/RULES.md sets out, are version 1). Thresholds are CNY, points are
// whole numbers.
type RuleSet struct {
	Version       int       `json:"version"`
	EffectiveFrom time.Time `json:"effective_from"`

	// Timezone is where calendar months begin and end.
	Timezone string `json:"timezone"`
	// Segments in ascending order of their minimum monthly contribution;
	// each runs up to the next one's minimum, the last one is open-ended.
	Segments []Segment `json:"segments"`
	// PointsPerCNY is the base earning rate of a shipment.
	PointsPerCNY decimal.Decimal `json:"points_per_cny"`
	Referral     Referral        `json:"referral"`
	// FeedbackPoints are earned for rating a shipment, once per shipment.
	FeedbackPoints int64 `json:"feedback_points"`
	// ExpiryMonths: a points lot expires at the end of the ExpiryMonths-th
	// calendar month after the month it was earned.
	ExpiryMonths int `json:"expiry_months"`
	// Rebates is the prepaid rebate schedule, ascending by minimum deposit.
	Rebates []RebateTier `json:"rebates"`
	// BackdatingDays is how far back an event or a money movement may be
	// dated: its occurred_at is at most BackdatingDays × 24 hours before
	// the instant it is recorded. The window is that of the version in
	// effect when it is recorded, never of the one its occurred_at falls
	// in. Absent from a document, it is DefaultBackdatingDays.
	BackdatingDays int `json:"backdating_days"`
	// ExpiryNoticeDays are how many days (of 24 hours) before its points
	// expire a customer's partners hear of it (points.expiring), longest
	// first: one notice per lead time, none when empty. Absent from a
	// document, they are DefaultExpiryNoticeDays.
	ExpiryNoticeDays []int `json:"expiry_notice_days"`
	// Lifecycle are the thresholds of the customer lifecycle
	// (lifecycle.go). Absent from a document, or in part, they are
	// DefaultLifecycle's.
	Lifecycle Lifecycle `json:"lifecycle"`

	loc *time.Location
}

// Segment is a band of monthly contribution with its levels and multiplier.
type Segment struct {
	Code       string          `json:"code"`
	Min        money.CNY       `json:"min"`
	FirstLevel int             `json:"first_level"`
	LastLevel  int             `json:"last_level"`
	Multiplier decimal.Decimal `json:"multiplier"`
	// LevelStep, for the open-ended last segment only: one more level per
	// LevelStep of contribution above Min, up to LastLevel.
	LevelStep money.CNY `json:"level_step,omitzero"`
}

// Referral is the bonus for introducing a customer.
type Referral struct {
	Bonus       int64     `json:"bonus"`
	MinShipment money.CNY `json:"min_shipment"`
	MonthlyCap  int       `json:"monthly_cap"`
	PendingDays int       `json:"pending_days"`
}

// RebateTier: a single deposit of at least Min earns Rate.
type RebateTier struct {
	Min  money.CNY       `json:"min"`
	Rate decimal.Decimal `json:"rate"`
}

// Default is version 1 of the rules, the defaults docs/RULES.md describes.
func Default() RuleSet {
	d := decimal.RequireFromString
	c := func(s string) money.CNY { return money.Of(d(s)) }
	rs := RuleSet{
		Version:       1,
		EffectiveFrom: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Timezone:      "Asia/Shanghai",
		Segments: []Segment{
			{Code: "floating", Min: c("0"), FirstLevel: 1, LastLevel: 3, Multiplier: d("1.0")},
			{Code: "regular", Min: c("300"), FirstLevel: 4, LastLevel: 8, Multiplier: d("1.0")},
			{Code: "mid", Min: c("2000"), FirstLevel: 9, LastLevel: 15, Multiplier: d("1.2")},
			{Code: "vip", Min: c("10000"), FirstLevel: 16, LastLevel: 30, Multiplier: d("1.5")},
			{Code: "project", Min: c("100000"), FirstLevel: 31, LastLevel: 40, Multiplier: d("2.0"), LevelStep: c("100000")},
		},
		PointsPerCNY:     d("1"),
		Referral:         Referral{Bonus: 500, MinShipment: c("50"), MonthlyCap: 20, PendingDays: 14},
		FeedbackPoints:   10,
		ExpiryMonths:     12,
		BackdatingDays:   DefaultBackdatingDays,
		ExpiryNoticeDays: DefaultExpiryNoticeDays(),
		Lifecycle:        DefaultLifecycle(),
		Rebates: []RebateTier{
			{Min: c("0"), Rate: d("0")},
			{Min: c("1000"), Rate: d("0.02")},
			{Min: c("5000"), Rate: d("0.03")},
			{Min: c("10000"), Rate: d("0.04")},
			{Min: c("50000"), Rate: d("0.05")},
		},
	}
	if err := rs.Validate(); err != nil {
		panic(err)
	}
	return rs
}

// DefaultBackdatingDays is the back-dating window of version 1, and of a
// document that does not set one.
const DefaultBackdatingDays = 60

// DefaultExpiryNoticeDays are the lead times of expiry notices of version
// 1, and of a document that does not set them: 30 and 7 days.
func DefaultExpiryNoticeDays() []int { return []int{30, 7} }

// Parse reads a rule set document and validates it. A document without
// backdating_days gets DefaultBackdatingDays, one without
// expiry_notice_days DefaultExpiryNoticeDays, one without lifecycle (or
// some of its thresholds) DefaultLifecycle's.
func Parse(doc []byte) (RuleSet, error) {
	rs := RuleSet{BackdatingDays: DefaultBackdatingDays, ExpiryNoticeDays: DefaultExpiryNoticeDays(), Lifecycle: DefaultLifecycle()}
	if err := json.Unmarshal(doc, &rs); err != nil {
		return rs, &ValidationError{Fields: map[string]string{"": err.Error()}}
	}
	return rs, rs.Validate()
}

// ValidationError lists what is inconsistent in a rule set, by field path.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("the rule set is inconsistent: %v", e.Fields)
}

// The bounds of every number of a rule set, so that no version stored makes
// pricing or reading expensive (docs/RULES.md, "Rule versions", lists them;
// openapi.yaml states them on RuleSet). Each is inclusive.
var (
	maxMultiplier = decimal.NewFromInt(100)
	maxCNY        = decimal.NewFromInt(1_000_000_000_000)
	one           = decimal.NewFromInt(1)
)

const (
	maxPoints           = 1_000_000_000
	maxLevel            = 1000 // levels run from 1 to at most this
	maxSegments         = 20
	maxRebateTiers      = 20
	maxFactorDecimals   = 4 // multipliers, points per CNY and rebate rates
	maxMonthlyCap       = 1000
	maxPendingDays      = 366
	maxExpiryMonths     = 120
	maxBackdatingDays   = 366
	maxExpiryNotices    = 4
	maxExpiryNoticeDays = 366
)

// segmentCodePattern is what a segment's code may be: it is answered in
// every event's tier.
var segmentCodePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// decimalsAtMost reports whether d is written with at most n decimals.
func decimalsAtMost(d decimal.Decimal, n int32) bool { return d.Exponent() >= -n }

// zoneName reports whether a name LoadLocation knows names a zone of the
// IANA database, the same on every host: not "" or "Local" (the host's own
// zone), nor tzdata's files that are not zones ("Factory", "posixrules",
// "localtime", and the copies under posix/ and right/).
func zoneName(name string) bool {
	// One spelling per zone: LoadLocation joins the name to a directory as
	// a path, so "./localtime" or "Asia//Shanghai" would load too.
	if !zoneSpelling.MatchString(name) {
		return false
	}
	switch name {
	case "", "Local", "Factory", "posixrules", "localtime":
		return false
	}
	return !strings.HasPrefix(name, "posix/") && !strings.HasPrefix(name, "right/")
}

// zoneSpelling is how the IANA database spells a zone: segments of
// letters, digits, '_', '+' and '-', joined by single slashes.
var zoneSpelling = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

// ValidateNew is Validate for a version about to be stored: its time zone
// must also name a zone of the database, the same on every host
// (zoneName). A version stored before this check loads as it is (Parse).
func (rs *RuleSet) ValidateNew() error {
	err := rs.Validate()
	if zoneName(rs.Timezone) {
		return err
	}
	ve, ok := err.(*ValidationError)
	switch {
	case err != nil && !ok:
		return err
	case !ok:
		ve = &ValidationError{Fields: map[string]string{}}
	}
	ve.Fields["timezone"] = "not a known IANA time zone (a zone's name, not Local)"
	return ve
}

// Validate checks the rule set for consistency and prepares it for use.
func (rs *RuleSet) Validate() error {
	bad := map[string]string{}
	loc, err := time.LoadLocation(rs.Timezone)
	if err != nil || rs.Timezone == "" {
		bad["timezone"] = "not a known IANA time zone"
	}
	rs.loc = loc
	if len(rs.Segments) == 0 || len(rs.Segments) > maxSegments {
		bad["segments"] = "from 1 to 20 segments"
	}
	codes := map[string]bool{}
	for i, s := range rs.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		if !segmentCodePattern.MatchString(s.Code) || codes[s.Code] {
			bad[f+".code"] = "required and unique: 1 to 32 letters, digits, '_', '.' or '-'"
		}
		codes[s.Code] = true
		if i == 0 && !s.Min.IsZero() {
			bad[f+".min"] = "the first segment starts at 0"
		}
		if i > 0 {
			prev := rs.Segments[i-1]
			if !s.Min.GreaterThan(prev.Min.Decimal) {
				bad[f+".min"] = "thresholds must increase: overlaps " + prev.Code
			}
			if s.FirstLevel != prev.LastLevel+1 {
				bad[f+".first_level"] = fmt.Sprintf("levels must follow on: want %d", prev.LastLevel+1)
			}
		}
		if s.Min.IsNegative() || s.Min.Exponent() < -2 {
			bad[f+".min"] = "a CNY amount of at least 0"
		}
		if s.FirstLevel < 1 || s.LastLevel < s.FirstLevel {
			bad[f+".last_level"] = "levels run from first_level up to last_level"
		}
		if s.LastLevel > maxLevel {
			bad[f+".last_level"] = "at most 1000"
		}
		if !s.Multiplier.IsPositive() || s.Multiplier.GreaterThan(maxMultiplier) || !decimalsAtMost(s.Multiplier, maxFactorDecimals) {
			bad[f+".multiplier"] = "must be positive, at most 100, with at most 4 decimals"
		}
		if s.Min.GreaterThan(maxCNY) || s.LevelStep.GreaterThan(maxCNY) || s.LevelStep.IsNegative() {
			bad[f+".min"] = "at most 1,000,000,000,000"
		}
		if !decimalsAtMost(s.LevelStep.Decimal, 2) {
			bad[f+".level_step"] = "a CNY amount: at most 2 decimals"
		}
		last := i == len(rs.Segments)-1
		if last && !s.LevelStep.IsPositive() {
			bad[f+".level_step"] = "the last, open-ended segment needs a positive level_step"
		}
		if !last && !s.LevelStep.IsZero() {
			bad[f+".level_step"] = "only the last segment has a level_step"
		}
	}
	if !rs.PointsPerCNY.IsPositive() || rs.PointsPerCNY.GreaterThan(maxMultiplier) || !decimalsAtMost(rs.PointsPerCNY, maxFactorDecimals) {
		bad["points_per_cny"] = "must be positive, at most 100, with at most 4 decimals"
	}
	if rs.Referral.Bonus > maxPoints || rs.FeedbackPoints > maxPoints || rs.ExpiryMonths > maxExpiryMonths ||
		rs.Referral.PendingDays > maxPendingDays || rs.Referral.MinShipment.GreaterThan(maxCNY) {
		bad["referral"] = "values out of range"
	}
	if rs.Referral.MonthlyCap > maxMonthlyCap {
		bad["referral.monthly_cap"] = "at most 1000"
	}
	if !decimalsAtMost(rs.Referral.MinShipment.Decimal, 2) {
		bad["referral.min_shipment"] = "a CNY amount: at most 2 decimals"
	}
	if rs.BackdatingDays < 1 || rs.BackdatingDays > maxBackdatingDays {
		bad["backdating_days"] = "from 1 to 366"
	}
	if rs.ExpiryNoticeDays == nil {
		rs.ExpiryNoticeDays = []int{} // a document's null: no notices
	}
	if len(rs.ExpiryNoticeDays) > maxExpiryNotices {
		bad["expiry_notice_days"] = "at most 4 lead times"
	}
	for i, days := range rs.ExpiryNoticeDays {
		if days < 1 || days > maxExpiryNoticeDays || (i > 0 && days >= rs.ExpiryNoticeDays[i-1]) {
			bad["expiry_notice_days"] = "from 1 to 366 days each, longest first, each shorter than the one before"
		}
	}
	if rs.Referral.Bonus < 0 || rs.Referral.MonthlyCap < 0 || rs.Referral.PendingDays < 0 || rs.Referral.MinShipment.IsNegative() {
		bad["referral"] = "bonus, min_shipment, monthly_cap and pending_days must not be negative"
	}
	if rs.FeedbackPoints < 0 {
		bad["feedback_points"] = "must not be negative"
	}
	if rs.ExpiryMonths < 1 {
		bad["expiry_months"] = "at least 1"
	} else if rs.Referral.PendingDays >= 28*rs.ExpiryMonths {
		bad["referral.pending_days"] = "shorter than the shortest life of a lot"
	}
	rs.Lifecycle.validate(bad)
	if len(rs.Rebates) == 0 || len(rs.Rebates) > maxRebateTiers {
		bad["rebates"] = "from 1 to 20 tiers, the first from 0"
	}
	for i, r := range rs.Rebates {
		f := fmt.Sprintf("rebates[%d]", i)
		if i == 0 && !r.Min.IsZero() {
			bad[f+".min"] = "the first tier starts at 0"
		}
		if i > 0 && !r.Min.GreaterThan(rs.Rebates[i-1].Min.Decimal) {
			bad[f+".min"] = "thresholds must increase"
		}
		if i > 0 && r.Rate.LessThan(rs.Rebates[i-1].Rate) {
			bad[f+".rate"] = "a larger deposit never earns a lower rate"
		}
		if r.Min.GreaterThan(maxCNY) || !decimalsAtMost(r.Min.Decimal, 2) {
			bad[f+".min"] = "a CNY amount of at most 1,000,000,000,000, at most 2 decimals"
		}
		if r.Rate.IsNegative() || r.Rate.GreaterThanOrEqual(one) || !decimalsAtMost(r.Rate, maxFactorDecimals) {
			bad[f+".rate"] = "a rate from 0 up to (not including) 1, with at most 4 decimals"
		}
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	return nil
}

// EarliestOccurredAt is the earliest occurred_at that business recorded at
// the instant recorded may carry under this rule set, which must be the
// version in effect at recorded: anything dated before it is too old.
func (rs *RuleSet) EarliestOccurredAt(recorded time.Time) time.Time {
	return recorded.Add(-time.Duration(rs.BackdatingDays) * 24 * time.Hour)
}

// Location is the rule set's time zone.
func (rs *RuleSet) Location() *time.Location {
	if rs.loc == nil {
		rs.loc, _ = time.LoadLocation(rs.Timezone)
	}
	return rs.loc
}
