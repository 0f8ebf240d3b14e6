package prepaid_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestPlanKindsAreToldInAnyTimeZone: the plans auto_explain logs for
// statements of a group's shape (lots by an instant, as the group's read
// of available points) are told apart as TestGroupsNeverScanABigTable-
// OnTheirGenericPlans tells them, whatever the session's TimeZone (the
// server's default, or PGTZ): a custom plan names the instant, in the
// session's offset (+08, -04, +05:30, not only +00), and is told custom;
// a generic plan names $2 and is told generic, not custom.
func TestPlanKindsAreToldInAnyTimeZone(t *testing.T) {
	ctx := context.Background()
	var plans []string
	cfg, err := pgx.ParseConfig(testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { plans = append(plans, n.Message) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
SET auto_explain.log_level = notice`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT coalesce(sum(l.remaining), 0) FROM points_lots l
WHERE l.account_id = $1 AND l.remaining > 0 AND l.available_at <= $2 AND l.expires_at > $2`
	at := time.Date(2026, 3, 15, 12, 0, 0, 123456000, time.UTC)
	for _, tz := range []string{"UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plans = nil
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT set_config('TimeZone', $1, true), set_config('plan_cache_mode', $2, true)`, tz, mode); err != nil {
					return err
				}
				plans = nil
				var n int64
				err := tx.QueryRow(ctx, q, int64(1), at).Scan(&n)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(plans) == 0 {
				t.Fatalf("%s, %s: no plan logged", tz, mode)
			}
			plans = plans[len(plans)-1:] // the query's own, the last logged
			custom, generic := onInstant.MatchString(plans[0]), onParameter.MatchString(plans[0])
			if mode == "force_custom_plan" && (!custom || generic) {
				t.Errorf("%s: a custom plan told custom %v, generic %v:\n%s", tz, custom, generic, plans[0])
			}
			if mode == "force_generic_plan" && (custom || !generic) {
				t.Errorf("%s: a generic plan told custom %v, generic %v:\n%s", tz, custom, generic, plans[0])
			}
		}
	}
}
