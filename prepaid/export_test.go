package prepaid

import "context"

// MoveTogether records the movements (kinds[i] of ins[i]) as one
// submission to the group commit: those of one customer are written in one
// group, in order. It answers each one's movement, whether it was a
// replay, and its error.
func (s *Service) MoveTogether(ctx context.Context, kinds []string, ins []MoneyInput, actor string) (
	[]MoneyMovement, []bool, []error) {
	jobs, at, out, replayed, errs := s.testJobs(kinds, ins, actor)
	for n, j := range s.movements.Submit(jobs) {
		r, err := j.Wait(ctx)
		if err == nil {
			err = r.err
		}
		out[at[n]], replayed[at[n]], errs[at[n]] = r.m, r.replayed, err
	}
	return out, replayed, errs
}

// MoveGroup records the movements as one group, in order, as the group
// commit's writer records a group (together, unless it must fall back),
// or, with each, movement by movement in savepoints (the path a group
// falls back to). It answers each one's movement, whether it was a replay,
// and its error.
func (s *Service) MoveGroup(ctx context.Context, kinds []string, ins []MoneyInput, actor string, each bool) (
	[]MoneyMovement, []bool, []error) {
	jobs, at, out, replayed, errs := s.testJobs(kinds, ins, actor)
	run := s.moveGroup
	if each {
		run = func(group []moneyJob) ([]moneyResult, error) { return s.moveEach(ctx, group) }
	}
	results, err := run(jobs)
	for n := range jobs {
		if err != nil {
			errs[at[n]] = err
			continue
		}
		r := results[n]
		out[at[n]], replayed[at[n]], errs[at[n]] = r.m, r.replayed, r.err
	}
	return out, replayed, errs
}

// testJobs checks the movements (kinds[i] of ins[i]) into jobs, at[n]
// being the index of jobs[n] in ins, and makes the answers to fill: an
// input refused by its checks has its error already.
func (s *Service) testJobs(kinds []string, ins []MoneyInput, actor string) (
	jobs []moneyJob, at []int, out []MoneyMovement, replayed []bool, errs []error) {
	out, replayed, errs = make([]MoneyMovement, len(ins)), make([]bool, len(ins)), make([]error, len(ins))
	for i, in := range ins {
		j, err := s.newJob(kinds[i], in, actor)
		if err != nil {
			errs[i] = err
			continue
		}
		jobs, at = append(jobs, j), append(at, i)
	}
	return jobs, at, out, replayed, errs
}
