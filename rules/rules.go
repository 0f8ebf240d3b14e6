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
	"time"

	"github.com/shopspring/decimal"
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

	loc *time.Location
}

// Segment is a band of monthly contribution with its levels and multiplier.
type Segment struct {
	Code       string          `json:"code"`
	Min        decimal.Decimal `json:"min"`
	FirstLevel int             `json:"first_level"`
	LastLevel  int             `json:"last_level"`
	Multiplier decimal.Decimal `json:"multiplier"`
	// LevelStep, for the open-ended last segment only: one more level per
	// LevelStep of contribution above Min, up to LastLevel.
	LevelStep decimal.Decimal `json:"level_step,omitzero"`
}

// Referral is the bonus for introducing a customer.
type Referral struct {
	Bonus       int64           `json:"bonus"`
	MinShipment decimal.Decimal `json:"min_shipment"`
	MonthlyCap  int             `json:"monthly_cap"`
	PendingDays int             `json:"pending_days"`
}

// RebateTier: a single deposit of at least Min earns Rate.
type RebateTier struct {
	Min  decimal.Decimal `json:"min"`
	Rate decimal.Decimal `json:"rate"`
}

// Default is version 1 of the rules, the defaults docs/RULES.md describes.
func Default() RuleSet {
	d := decimal.RequireFromString
	rs := RuleSet{
		Version:       1,
		EffectiveFrom: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Timezone:      "Asia/Shanghai",
		Segments: []Segment{
			{Code: "floating", Min: d("0"), FirstLevel: 1, LastLevel: 3, Multiplier: d("1.0")},
			{Code: "regular", Min: d("300"), FirstLevel: 4, LastLevel: 8, Multiplier: d("1.0")},
			{Code: "mid", Min: d("2000"), FirstLevel: 9, LastLevel: 15, Multiplier: d("1.2")},
			{Code: "vip", Min: d("10000"), FirstLevel: 16, LastLevel: 30, Multiplier: d("1.5")},
			{Code: "project", Min: d("100000"), FirstLevel: 31, LastLevel: 40, Multiplier: d("2.0"), LevelStep: d("100000")},
		},
		PointsPerCNY:   d("1"),
		Referral:       Referral{Bonus: 500, MinShipment: d("50"), MonthlyCap: 20, PendingDays: 14},
		FeedbackPoints: 10,
		ExpiryMonths:   12,
		Rebates: []RebateTier{
			{Min: d("0"), Rate: d("0")},
			{Min: d("1000"), Rate: d("0.02")},
			{Min: d("5000"), Rate: d("0.03")},
			{Min: d("10000"), Rate: d("0.04")},
			{Min: d("50000"), Rate: d("0.05")},
		},
	}
	if err := rs.Validate(); err != nil {
		panic(err)
	}
	return rs
}

// Parse reads a rule set document and validates it.
func Parse(doc []byte) (RuleSet, error) {
	var rs RuleSet
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

var (
	maxMultiplier = decimal.NewFromInt(100)
	maxCNY        = decimal.NewFromInt(1_000_000_000_000)
)

const maxPoints = 1_000_000_000

// Validate checks the rule set for consistency and prepares it for use.
func (rs *RuleSet) Validate() error {
	bad := map[string]string{}
	loc, err := time.LoadLocation(rs.Timezone)
	if err != nil || rs.Timezone == "" {
		bad["timezone"] = "not a known IANA time zone"
	}
	rs.loc = loc
	if len(rs.Segments) == 0 {
		bad["segments"] = "at least one segment"
	}
	codes := map[string]bool{}
	for i, s := range rs.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		if s.Code == "" || codes[s.Code] {
			bad[f+".code"] = "required and unique"
		}
		codes[s.Code] = true
		if i == 0 && !s.Min.IsZero() {
			bad[f+".min"] = "the first segment starts at 0"
		}
		if i > 0 {
			prev := rs.Segments[i-1]
			if !s.Min.GreaterThan(prev.Min) {
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
		if !s.Multiplier.IsPositive() || s.Multiplier.GreaterThan(maxMultiplier) {
			bad[f+".multiplier"] = "must be positive, at most 100"
		}
		if s.Min.GreaterThan(maxCNY) || s.LevelStep.GreaterThan(maxCNY) || s.LevelStep.IsNegative() {
			bad[f+".min"] = "at most 1,000,000,000,000"
		}
		last := i == len(rs.Segments)-1
		if last && !s.LevelStep.IsPositive() {
			bad[f+".level_step"] = "the last, open-ended segment needs a positive level_step"
		}
		if !last && !s.LevelStep.IsZero() {
			bad[f+".level_step"] = "only the last segment has a level_step"
		}
	}
	if !rs.PointsPerCNY.IsPositive() || rs.PointsPerCNY.GreaterThan(maxMultiplier) {
		bad["points_per_cny"] = "must be positive, at most 100"
	}
	if rs.Referral.Bonus > maxPoints || rs.FeedbackPoints > maxPoints || rs.ExpiryMonths > 120 ||
		rs.Referral.PendingDays > 366 || rs.Referral.MinShipment.GreaterThan(maxCNY) {
		bad["referral"] = "values out of range"
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
	if len(rs.Rebates) == 0 {
		bad["rebates"] = "at least one tier, from 0"
	}
	for i, r := range rs.Rebates {
		f := fmt.Sprintf("rebates[%d]", i)
		if i == 0 && !r.Min.IsZero() {
			bad[f+".min"] = "the first tier starts at 0"
		}
		if i > 0 && !r.Min.GreaterThan(rs.Rebates[i-1].Min) {
			bad[f+".min"] = "thresholds must increase"
		}
		if i > 0 && r.Rate.LessThan(rs.Rebates[i-1].Rate) {
			bad[f+".rate"] = "a larger deposit never earns a lower rate"
		}
		if r.Rate.IsNegative() || r.Rate.GreaterThanOrEqual(decimal.NewFromInt(1)) {
			bad[f+".rate"] = "a rate from 0 up to (not including) 1"
		}
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	return nil
}

// Location is the rule set's time zone.
func (rs *RuleSet) Location() *time.Location {
	if rs.loc == nil {
		rs.loc, _ = time.LoadLocation(rs.Timezone)
	}
	return rs.loc
}
