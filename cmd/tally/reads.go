package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/api"
	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/replica"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// reads connects to the standbys of TALLY_READ_DATABASE_URL (one pool per
// host it lists), builds the services on each and watches their lag
// against the primary until ctx ends. nil, and nothing to close, when the
// variable is unset.
func (e environment) reads(ctx context.Context, primary *pgxpool.Pool, log *slog.Logger) (*api.Reads, func(), error) {
	raw := e.getenv("TALLY_READ_DATABASE_URL")
	if raw == "" {
		return nil, func() {}, nil
	}
	maxLag, err := time.ParseDuration(e.get("TALLY_READ_MAX_LAG", "2s"))
	if err != nil || maxLag <= 0 {
		return nil, nil, usageError{msg: "TALLY_READ_MAX_LAG must be a positive duration such as 2s"}
	}
	wait, err := time.ParseDuration(e.get("TALLY_READ_WAIT", "250ms"))
	if err != nil || wait < 0 {
		return nil, nil, usageError{msg: "TALLY_READ_WAIT must be a duration such as 250ms"}
	}
	urls, err := replica.Split(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("TALLY_READ_DATABASE_URL: %w", err)
	}
	var pools []*pgxpool.Pool
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for _, u := range urls {
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("TALLY_READ_DATABASE_URL: %w", err)
		}
		if cfg.ConnConfig.ConnectTimeout == 0 {
			cfg.ConnConfig.ConnectTimeout = 2 * time.Second
		}
		cfg.ConnConfig.RuntimeParams["application_name"] = "tally-reads"
		sizePool(cfg)
		sessions(cfg)
		// A standby that is down is out of rotation, not a reason not to
		// start: the pool connects when it is asked to.
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		pools = append(pools, p)
	}
	set := replica.New(primary, pools, maxLag, wait)
	set.OnUnreachable = func(standby string, err error) { log.Warn("a standby does not answer", "standby", standby, "err", err) }
	r := &api.Reads{Set: set}
	for _, p := range pools {
		l := ledger.New(p, ledger.OnStandby())
		customers := loyalty.New(p, l)
		money := prepaid.New(l, customers)
		r.Services = append(r.Services, api.Services{Ledger: l, Loyalty: customers, Catalog: catalog.New(p, l, customers),
			Prepaid: money, Finance: finance.New(l, customers, money)})
	}
	watchCtx, stop := context.WithCancel(ctx)
	set.Refresh(watchCtx)
	go set.Watch(watchCtx, 250*time.Millisecond)
	return r, func() { stop(); closeAll() }, nil
}

// consoleFinance chooses, for each console page, the finance service of a
// standby in rotation (any: a finance report reads whole periods and wants
// no token), nil when none may serve; nil without standbys.
func consoleFinance(r *api.Reads) func(context.Context) *finance.Service {
	if r == nil {
		return nil
	}
	return func(ctx context.Context) *finance.Service {
		n := r.Set.Choose(ctx, 0)
		for i, node := range r.Set.Nodes {
			if n != nil && node == n {
				return r.Services[i].Finance
			}
		}
		return nil
	}
}
