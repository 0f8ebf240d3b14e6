package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify/webhook"
	"github.com/tally-ledger/tally/prepaid"
)

// noticesCmd runs the notice jobs once: `notices [--as-of T]`.
func noticesCmd(ctx context.Context, env environment, args []string) error {
	fs := flag.NewFlagSet("notices", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asOf := fs.String("as-of", "", "announce what is due by this instant (RFC 3339); default now")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError{msg: "notices [--as-of 2026-12-01T00:00:00+08:00]"}
	}
	at := time.Now()
	if *asOf != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, *asOf); err != nil {
			return usageError{msg: "--as-of must be an RFC 3339 time such as 2026-12-01T00:00:00+08:00"}
		}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	rep, err := loyalty.New(pool, ledger.New(pool)).Notices(ctx, at)
	if err != nil {
		return fmt.Errorf("notices (whole batches written so far stay written; run again to finish): %w", err)
	}
	fmt.Fprintf(env.stdout, "notices as of %s: %d points.expiring, %d customer.tier_changed (down), %d referral.bonus_available\n",
		rep.AsOf.Format(time.RFC3339), rep.PointsExpiring, rep.TierDowngrades, rep.ReferralBonusesAvailable)
	return nil
}

// webhooksCmd runs the webhook jobs: `webhooks prune [--keep D]`.
func webhooksCmd(ctx context.Context, env environment, args []string) error {
	const use = "webhooks prune [--keep 720h]"
	if len(args) == 0 || args[0] != "prune" {
		return usageError{msg: use}
	}
	fs := flag.NewFlagSet("webhooks prune", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keepFlag := fs.String("keep", "", "how long the delivery log is kept, at least 168h (default $TALLY_WEBHOOK_LOG_KEEP, else 720h)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return usageError{msg: use}
	}
	keep, err := env.logKeep(*keepFlag)
	if err != nil {
		return err
	}
	if keep == 0 {
		return usageError{msg: "webhooks prune: a keep of 0 is forever, and there is nothing to prune: give --keep 720h, say"}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	hooks, err := webhooksFromEnv(env, ledger.New(pool))
	if err != nil {
		return err
	}
	p, err := hooks.Prune(ctx, time.Now().Add(-keep))
	if err != nil {
		return fmt.Errorf("webhooks prune (what was deleted so far stays deleted; run again to finish): %w", err)
	}
	fmt.Fprintf(env.stdout, "webhooks prune: %d attempts and %d settled deliveries from before %s deleted, in %d transactions\n",
		p.Attempts, p.Deliveries, p.Before.UTC().Format(time.RFC3339), p.Steps)
	return nil
}

// minLogKeep is the shortest the webhook delivery log may be kept: longer
// than a delivery is retried (webhook.DefaultRetryFor), so that the log of
// a delivery still being tried is whole.
const minLogKeep = 7 * 24 * time.Hour

// logKeep is how long the webhook delivery log is kept: flag when given,
// else TALLY_WEBHOOK_LOG_KEEP, else webhook.DefaultKeep; 0 is forever.
func (e environment) logKeep(flag string) (time.Duration, error) {
	v := flag
	if v == "" {
		v = e.get("TALLY_WEBHOOK_LOG_KEEP", webhook.DefaultKeep.String())
	}
	d, err := time.ParseDuration(v) // "0" parses, as 0: forever
	if err == nil && d == 0 {
		return 0, nil
	}
	if err != nil || d < minLogKeep {
		return 0, usageError{msg: "the webhook log's keep (--keep, TALLY_WEBHOOK_LOG_KEEP) must be a duration of at least 168h (7 days) such as 720h, or 0 for forever"}
	}
	return d, nil
}

// reconcileCmd runs the reconciliation once, announcing a failure
// (reconciliation.failed), and fails when a check fails.
func reconcileCmd(ctx context.Context, env environment, args []string) error {
	if len(args) > 0 {
		return usageError{msg: "reconcile takes no arguments"}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	l := ledger.New(pool)
	customers := loyalty.New(pool, l)
	r, err := finance.New(l, customers, prepaid.New(l, customers)).Reconcile(ctx)
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range r.Checks {
		status := "pass"
		if !c.Pass {
			status, failed = "FAIL", failed+1
		}
		fmt.Fprintf(env.stdout, "%s\t%s\t%v\n", status, c.Name, c.Offending)
	}
	if failed > 0 {
		return fmt.Errorf("reconciliation: %d checks failed (announced as reconciliation.failed)", failed)
	}
	return nil
}

// every runs job every interval until ctx ends, the first time one
// interval after it starts; a failed run is logged and the next one runs
// as planned (each notice is once only, so a run again is safe).
func every(ctx context.Context, log *slog.Logger, name string, interval time.Duration, job func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			runJob(ctx, log, name, job)
		}
	}
}

// startThenEvery runs job now, then every interval until ctx ends.
func startThenEvery(ctx context.Context, log *slog.Logger, name string, interval time.Duration, job func(context.Context) error) {
	runJob(ctx, log, name, job)
	every(ctx, log, name, interval, job)
}

// runJob runs job once and logs how it went.
func runJob(ctx context.Context, log *slog.Logger, name string, job func(context.Context) error) {
	start := time.Now()
	if err := job(ctx); err != nil {
		if ctx.Err() == nil {
			log.Error("job failed", "job", name, "err", err)
		}
		return
	}
	log.Info("job done", "job", name, "duration_ms", time.Since(start).Milliseconds())
}

// interval reads a job's interval variable: a Go duration, "0" for never.
func (e environment) interval(name, def string) (time.Duration, error) {
	v := e.get(name, def)
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, usageError{msg: name + " must be a duration of at least 1s such as 15m, or 0 for never"}
	}
	return d, nil
}
