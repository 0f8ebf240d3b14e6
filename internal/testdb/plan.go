package testdb

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GenericPlan is EXPLAIN's text of query with args on the generic plan (the
// one a cached statement may settle on, whatever its arguments). EXPLAIN of
// the query with its arguments bound would plan it for those values (a
// custom plan); so the query is prepared, and its prepared statement
// explained on the generic plan, the arguments written as literals of the
// parameters' types (PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN)).
func GenericPlan(tb testing.TB, pool *pgxpool.Pool, query string, args ...any) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	const name = "tally_generic_plan"
	if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+query); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if _, err := conn.Exec(ctx, `DEALLOCATE `+name); err != nil {
			tb.Error(err)
		}
	}()
	var plan []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		var types []string
		if err := tx.QueryRow(ctx, `SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1`, name).
			Scan(&types); err != nil {
			return err
		}
		literals := make([]string, len(args))
		for i, arg := range args {
			var lit string
			if err := tx.QueryRow(ctx, `SELECT coalesce(quote_literal($1::`+types[i]+`::text), 'NULL')`, arg).Scan(&lit); err != nil {
				return err
			}
			literals[i] = lit + "::" + types[i]
		}
		rows, err := tx.Query(ctx, `EXPLAIN EXECUTE `+name+`(`+strings.Join(literals, ", ")+`)`)
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
