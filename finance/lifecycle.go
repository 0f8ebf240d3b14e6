package finance

import (
	"context"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// LifecycleReport is the customer lifecycle of a month: how many customers
// are at each stage at its end, and how many moved from each stage at the
// end of the month before to each stage at its end. Every customer
// registered by the month's end counts (one registered during the month
// was a prospect at the end of the month before). Each month's stages are
// by the thresholds of the rule version in effect at its end.
type LifecycleReport struct {
	Month       rules.Month  `json:"month"`
	RuleVersion int          `json:"rule_version"`
	Previous    rules.Month  `json:"previous"`
	Customers   int          `json:"customers"`
	Stages      []StageCount `json:"stages"`
	// Movements lists the pairs of stages (from the month before, to the
	// month) that at least one customer made, staying put included,
	// ordered by the stages' order (rules.Stages).
	Movements []Movement `json:"movements"`
}

// StageCount is how many customers are at a stage.
type StageCount struct {
	Stage     string `json:"stage"`
	Customers int    `json:"customers"`
}

// Movement is how many customers went from one stage to another.
type Movement struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Customers int    `json:"customers"`
}

// Lifecycle computes the month's lifecycle report.
func (s *Service) Lifecycle(ctx context.Context, month rules.Month) (LifecycleReport, error) {
	rep := LifecycleReport{Month: month, Previous: month.Prev()}
	err := s.ledger.ReadTx(ctx, func(tx *ledger.Tx) error {
		rs, end, err := s.rulesAtEndOf(ctx, tx, month)
		if err != nil {
			return err
		}
		prev, _, err := s.rulesAtEndOf(ctx, tx, rep.Previous)
		if err != nil {
			return err
		}
		rep.RuleVersion = rs.Version
		counts := map[string]int{}
		moves := map[[2]string]int{}
		// The month before's history is the month's, one month longer.
		span := max(rs.Lifecycle.Span(), prev.Lifecycle.Span()+1)
		err = loyalty.Histories(ctx, tx, month, span, end, "", func(h loyalty.History) error {
			to := rs.Lifecycle.StageOf(month, h.First, h.Months).Stage
			from := prev.Lifecycle.StageOf(rep.Previous, h.First, h.Months).Stage // a First after it: a prospect
			rep.Customers++
			counts[to]++
			moves[[2]string{from, to}]++
			return nil
		})
		if err != nil {
			return err
		}
		for _, st := range rules.Stages() {
			rep.Stages = append(rep.Stages, StageCount{Stage: st, Customers: counts[st]})
		}
		rep.Movements = []Movement{}
		for _, from := range rules.Stages() {
			for _, to := range rules.Stages() {
				if n := moves[[2]string{from, to}]; n > 0 {
					rep.Movements = append(rep.Movements, Movement{From: from, To: to, Customers: n})
				}
			}
		}
		return nil
	})
	return rep, err
}
