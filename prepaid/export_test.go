package prepaid

import "context"

// MoveTogether records the movements (kinds[i] of ins[i]) as one
// submission to the group commit: those of one customer are written in one
// group, in order. It answers each one's movement, whether it was a
// replay, and its error.
func (s *Service) MoveTogether(ctx context.Context, kinds []string, ins []MoneyInput, actor string) (
	[]MoneyMovement, []bool, []error) {
	out, replayed, errs := make([]MoneyMovement, len(ins)), make([]bool, len(ins)), make([]error, len(ins))
	var jobs []moneyJob
	var at []int
	for i, in := range ins {
		j, err := s.newJob(kinds[i], in, actor)
		if err != nil {
			errs[i] = err
			continue
		}
		jobs, at = append(jobs, j), append(at, i)
	}
	for n, j := range s.movements.Submit(jobs) {
		r, err := j.Wait(ctx)
		if err == nil {
			err = r.err
		}
		out[at[n]], replayed[at[n]], errs[at[n]] = r.m, r.replayed, err
	}
	return out, replayed, errs
}
