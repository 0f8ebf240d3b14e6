package rules

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Lifecycle are the thresholds of the customer lifecycle: a customer's
// stage at the end of a month follows from their monthly contributions up
// to it (StageOf). Absent from a document, each is DefaultLifecycle's.
type Lifecycle struct {
	// NewMonths: a customer whose first month with a contribution is one of
	// the last NewMonths months (the month itself included) is new.
	NewMonths int `json:"new_months"`
	// LapsedMonths: a customer who contributed before, but nothing in the
	// last LapsedMonths months, is lapsed.
	LapsedMonths int `json:"lapsed_months"`
	// TrendMonths is the window of the trend: the month's contribution
	// against the average of the TrendMonths-1 months before it.
	TrendMonths int `json:"trend_months"`
	// GrowthPercent: more than this percent above that average is growing.
	GrowthPercent decimal.Decimal `json:"growth_percent"`
	// DeclinePercent: more than this percent below it is declining.
	DeclinePercent decimal.Decimal `json:"decline_percent"`
}

// DefaultLifecycle are the lifecycle thresholds of version 1, and of a
// document that does not set them: new for 3 months from the first
// contribution, lapsed after 2 months without one, growing or declining
// when a month is more than 20% above or below the average of the 2
// months before it.
func DefaultLifecycle() Lifecycle {
	return Lifecycle{NewMonths: 3, LapsedMonths: 2, TrendMonths: 3,
		GrowthPercent: decimal.NewFromInt(20), DeclinePercent: decimal.NewFromInt(20)}
}

// The stages of the lifecycle, in the order reports list them.
const (
	StageProspect  = "prospect" // registered, no contribution yet
	StageNew       = "new"
	StageGrowing   = "growing"
	StageSteady    = "steady"
	StageDeclining = "declining"
	StageLapsed    = "lapsed"
)

// Stages are every stage, in the order reports list them.
func Stages() []string {
	return []string{StageProspect, StageNew, StageGrowing, StageSteady, StageDeclining, StageLapsed}
}

const (
	maxLifecycleMonths = 24
	maxTrendMonths     = 12
)

var maxGrowthPercent = decimal.NewFromInt(1000)

// validate adds what is wrong with the thresholds to bad.
func (lc Lifecycle) validate(bad map[string]string) {
	if lc.NewMonths < 1 || lc.NewMonths > maxLifecycleMonths {
		bad["lifecycle.new_months"] = fmt.Sprintf("from 1 to %d", maxLifecycleMonths)
	}
	if lc.LapsedMonths < 1 || lc.LapsedMonths > maxLifecycleMonths {
		bad["lifecycle.lapsed_months"] = fmt.Sprintf("from 1 to %d", maxLifecycleMonths)
	}
	if lc.TrendMonths < 2 || lc.TrendMonths > maxTrendMonths {
		bad["lifecycle.trend_months"] = fmt.Sprintf("from 2 to %d", maxTrendMonths)
	}
	if !lc.GrowthPercent.IsPositive() || lc.GrowthPercent.GreaterThan(maxGrowthPercent) || !decimalsAtMost(lc.GrowthPercent, 2) {
		bad["lifecycle.growth_percent"] = "above 0, at most 1000, with at most 2 decimals"
	}
	if !lc.DeclinePercent.IsPositive() || lc.DeclinePercent.GreaterThanOrEqual(decimal.NewFromInt(100)) || !decimalsAtMost(lc.DeclinePercent, 2) {
		bad["lifecycle.decline_percent"] = "above 0, below 100, with at most 2 decimals"
	}
}

// Span is how many months up to the month StageOf reads the contributions
// of (besides the first month a customer contributed).
func (lc Lifecycle) Span() int { return max(lc.LapsedMonths, lc.TrendMonths) }

// Stage is a customer's stage at the end of a month, and the trend it
// rests on.
type Stage struct {
	Month Month  `json:"month"`
	Stage string `json:"stage"`
	// FirstMonth is the first month the customer contributed in, up to
	// Month; nil for a prospect.
	FirstMonth *Month `json:"first_month"`
	// Change is the month's contribution against the average of the
	// trend's earlier months, in percent (2 decimals, rounded half away
	// from zero); nil when that average is 0.
	Change *decimal.Decimal `json:"change"`
}

// StageOf is the stage at the end of month m of a customer whose first
// month with a contribution (above 0) is first ("" if none up to m), and
// whose contributions by month are contrib (a month absent is 0; months
// after m do not count). The first rule that holds decides:
//
//   - prospect: no contribution up to m;
//   - lapsed: nothing in the LapsedMonths months up to m;
//   - new: first is one of the NewMonths months up to m;
//   - growing: c(m) > avg × (1 + GrowthPercent/100), where avg is the
//     average of the TrendMonths-1 months before m;
//   - declining: c(m) < avg × (1 - DeclinePercent/100);
//   - steady otherwise.
//
// A month with nothing after months with something is thus declining until
// it is lapsed, and a month with something after months with nothing is
// growing.
func (lc Lifecycle) StageOf(m Month, first Month, contrib map[Month]decimal.Decimal) Stage {
	st := Stage{Month: m}
	if first == "" || first > m {
		st.Stage = StageProspect
		return st
	}
	st.FirstMonth = &first
	c := func(k Month) decimal.Decimal {
		if v, ok := contrib[k]; ok && v.IsPositive() {
			return v
		}
		return decimal.Zero
	}
	this := c(m)
	n := int64(lc.TrendMonths - 1)
	base := decimal.Zero
	k := m
	for range n {
		k = k.Prev()
		base = base.Add(c(k))
	}
	hundred := decimal.NewFromInt(100)
	if base.IsPositive() {
		change := this.Mul(decimal.NewFromInt(n)).Sub(base).Mul(hundred).DivRound(base, 2)
		st.Change = &change
	}
	quiet := true
	k = m
	for i := range lc.LapsedMonths {
		if i > 0 {
			k = k.Prev()
		}
		if c(k).IsPositive() {
			quiet = false
		}
	}
	newSince := m
	for range lc.NewMonths - 1 {
		newSince = newSince.Prev()
	}
	// Compared without dividing: this × n × 100 against base × (100 ± X).
	scaled := this.Mul(decimal.NewFromInt(n)).Mul(hundred)
	switch {
	case quiet:
		st.Stage = StageLapsed
	case first >= newSince:
		st.Stage = StageNew
	case scaled.GreaterThan(base.Mul(hundred.Add(lc.GrowthPercent))):
		st.Stage = StageGrowing
	case scaled.LessThan(base.Mul(hundred.Sub(lc.DeclinePercent))):
		st.Stage = StageDeclining
	default:
		st.Stage = StageSteady
	}
	return st
}
