package testdb

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GenericPlan is EXPLAIN's text of query on the generic plan (the one a
// cached statement may settle on, whatever its arguments): the plan of a
// prepared statement, executed with plan_cache_mode = force_generic_plan,
// whose conditions name the parameters ($1), never their values. args
// give the number of parameters; their values cannot change a generic
// plan, and are not sent (EXPLAIN of the query with its arguments bound
// would plan it for those values: a custom plan).
func GenericPlan(tb testing.TB, pool *pgxpool.Pool, query string, args ...any) string {
	tb.Helper()
	return GenericPlanWith(tb, pool, nil, query, args...)
}

// GenericPlanWith is GenericPlan with the settings ("enable_seqscan = off")
// in force as the plan is made: with sequential scans priced out of reach,
// a plan shows what an index can serve, however few the rows.
func GenericPlanWith(tb testing.TB, pool *pgxpool.Pool, settings []string, query string, args ...any) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	// A prepared statement outlives its transaction: it is dropped from
	// the connection, which goes back to the pool, whatever happened.
	if _, err := conn.Exec(ctx, `PREPARE testdb_generic_plan AS `+query, pgx.QueryExecModeSimpleProtocol); err != nil {
		tb.Fatal(err)
	}
	defer conn.Exec(ctx, `DEALLOCATE testdb_generic_plan`, pgx.QueryExecModeSimpleProtocol)
	nulls := make([]string, len(args))
	for i := range nulls {
		nulls[i] = "NULL"
	}
	var plan []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, set := range append([]string{"plan_cache_mode = force_generic_plan"}, settings...) {
			if _, err := tx.Exec(ctx, `SET LOCAL `+set); err != nil {
				return err
			}
		}
		execute := `EXPLAIN EXECUTE testdb_generic_plan`
		if len(nulls) > 0 {
			execute += `(` + strings.Join(nulls, ", ") + `)`
		}
		rows, err := tx.Query(ctx, execute, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
