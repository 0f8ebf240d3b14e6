package catalog

import "context"

// RedeemTogether makes the redemptions (checked by the caller) as one
// submission to the group commit: those of one customer are made in one
// group, in order. It answers each one's redemption, whether it was a
// replay, and its error.
func (s *Service) RedeemTogether(ctx context.Context, ins []RedemptionInput, actor string) ([]Redemption, []bool, []error) {
	out, replayed, errs := make([]Redemption, len(ins)), make([]bool, len(ins)), make([]error, len(ins))
	jobs := make([]redeemJob, len(ins))
	for i, in := range ins {
		jobs[i] = newRedeemJob(in, actor)
	}
	for i, j := range s.redemptions.Submit(jobs) {
		r, err := j.Wait(ctx)
		if err == nil {
			err = r.err
		}
		out[i], replayed[i], errs[i] = r.r, r.replayed, err
	}
	return out, replayed, errs
}

// RedeemGroup makes the redemptions as one group, in order, as the group
// commit's writer makes a group (together, unless it must fall back), or,
// with each, redemption by redemption in savepoints (the path a group
// falls back to). It answers each one's redemption, whether it was a
// replay, and its error.
func (s *Service) RedeemGroup(ctx context.Context, ins []RedemptionInput, actor string, each bool) ([]Redemption, []bool, []error) {
	jobs := make([]redeemJob, len(ins))
	for i, in := range ins {
		jobs[i] = newRedeemJob(in, actor)
	}
	run := s.redeemGroup
	if each {
		run = func(group []redeemJob) ([]redeemResult, error) { return s.redeemEach(ctx, group) }
	}
	results, err := run(jobs)
	out, replayed, errs := make([]Redemption, len(ins)), make([]bool, len(ins)), make([]error, len(ins))
	for i := range jobs {
		if err != nil {
			errs[i] = err
			continue
		}
		out[i], replayed[i], errs[i] = results[i].r, results[i].replayed, results[i].err
	}
	return out, replayed, errs
}

// QRedeemedByMany is the group's read of the units each customer holds of
// each product, for the test of its generic plan.
const QRedeemedByMany = qRedeemedByMany

// SetBeforeLocks has f run in each group's transaction before it locks
// its customers.
func SetBeforeLocks(s *Service, f func()) { s.beforeLocks = f }

// SetAfterRestamp has f run in a redemption's transaction (written alone,
// or redemption by redemption in a group) once it is dated, before it
// spends.
func SetAfterRestamp(s *Service, f func()) { s.afterRestamp = f }
