package webhook

import (
	"context"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// RecordAnswers fans out, expires and claims up to len(statuses) due
// deliveries, as a step does, and records them as if their sends had been answered with
// statuses, in that order (0: no answer), without sending them: the
// order in which a batch's sends end is the test's to choose. It returns
// how many it claimed.
func (s *Service) RecordAnswers(ctx context.Context, statuses ...int) (int, error) {
	if err := s.fanOutQueued(ctx); err != nil {
		return 0, err
	}
	if err := s.expire(ctx); err != nil {
		return 0, err
	}
	jobs, err := s.claim(ctx, len(statuses))
	if err != nil {
		return 0, err
	}
	done := make([]sent, len(jobs))
	for i, j := range jobs {
		o := outcome{at: s.now(), status: statuses[i], excerpt: "answer " + strconv.Itoa(i)}
		switch {
		case o.status == 0:
			o.err = "no answer"
		case !o.ok():
			o.err = "answered " + strconv.Itoa(o.status)
		}
		done[i] = sent{j, o}
	}
	_, err = s.record(ctx, done, false, 0)
	return len(jobs), err
}

// Claims is how many claims the service has queued.
func (s *Service) Claims() int64 { return s.claims.Load() }

// ClaimInTx is a claim of up to limit due deliveries (queueClaim) run in
// tx, the caller's, which a test reads its statistics in. It returns the
// ids of the deliveries it leased.
func (s *Service) ClaimInTx(ctx context.Context, tx *ledger.Tx, limit int) ([]int64, error) {
	var jobs []job
	b := &pgx.Batch{}
	s.queueClaim(b, &jobs, s.now(), limit)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.delivery
	}
	return ids, nil
}

// ExpireInTx is the expiry of deliveries past their deadline, run in tx.
func (s *Service) ExpireInTx(ctx context.Context, tx *ledger.Tx) error { return s.expireIn(ctx, tx) }

// MatchWaitingInTx runs match's statements (queueMatch) for a page of the
// customers' notifications in tx, the caller's, and returns each
// endpoint's customers among them that have a pending delivery to it.
func (s *Service) MatchWaitingInTx(ctx context.Context, tx *ledger.Tx, customers []string) (map[int64][]string, error) {
	var endpoints []*directEndpoint
	b := &pgx.Batch{}
	queueMatch(b, s.now(), customers, &endpoints, map[int64]int{})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	waiting := map[int64][]string{}
	for _, e := range endpoints {
		for c := range e.waiting {
			waiting[e.id] = append(waiting[e.id], c)
		}
		slices.Sort(waiting[e.id])
	}
	return waiting, nil
}

// SkipUnheardInTx is skipUnheard run in tx, the caller's, which a test
// reads its statistics in; after and next are cursors' strings.
func (s *Service) SkipUnheardInTx(ctx context.Context, tx *ledger.Tx, after string) (next string, ok bool, err error) {
	c, err := notify.ParseCursor(after)
	if err != nil {
		return "", false, err
	}
	n, ok, err := s.skipUnheard(ctx, tx, c)
	return n.String(), ok, err
}

// Heard is whether the service saw an endpoint at its last look.
func (s *Service) Heard() bool { return s.heard.Load() }

// SetPruneChunk sets how many rows a step of Prune reads, until the test
// ends.
func SetPruneChunk(t interface{ Cleanup(func()) }, n int) {
	was := pruneChunk
	pruneChunk = n
	t.Cleanup(func() { pruneChunk = was })
}
