package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
)

// TestPostgresErrorsAreReadByTheirMeaning makes PostgreSQL refuse for real
// and checks that each refusal is read as what it is, and as nothing else.
func TestPostgresErrorsAreReadByTheirMeaning(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL CONSTRAINT n_positive CHECK (n > 0))`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO probe VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) error {
		_, err := pool.Exec(ctx, sql)
		if err == nil {
			t.Fatalf("%s: accepted", sql)
		}
		return fmt.Errorf("wrapped: %w", err)
	}
	type reading struct{ unique, uniqueHere, uniqueElsewhere, check, checkHere, notNull, transient, undefined bool }
	read := func(err error, here string) reading {
		return reading{fault.UniqueViolation(err, ""), fault.UniqueViolation(err, here), fault.UniqueViolation(err, "elsewhere"),
			fault.CheckViolation(err, ""), fault.CheckViolation(err, here), fault.NotNullViolation(err), fault.Transient(err),
			fault.UndefinedTable(err)}
	}
	for _, c := range []struct {
		name string
		err  error
		here string
		want reading
	}{
		{"UniqueViolation", exec(`INSERT INTO probe VALUES (1, 2)`), "probe_pkey", reading{unique: true, uniqueHere: true}},
		{"CheckViolation", exec(`INSERT INTO probe VALUES (2, 0)`), "n_positive", reading{check: true, checkHere: true}},
		{"NotNullViolation", exec(`INSERT INTO probe VALUES (3, NULL)`), "", reading{notNull: true}},
		{"UndefinedTable", exec(`SELECT * FROM nowhere`), "", reading{undefined: true}},
		{"SerializationFailure", serializationFailure(t, pool), "", reading{transient: true}},
		{"NotADatabaseError", errors.New("probe"), "", reading{}},
		{"Nil", nil, "", reading{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.here == "" {
				c.want.uniqueHere, c.want.checkHere = c.want.unique, c.want.check // "" means any constraint
			}
			if got := read(c.err, c.here); got != c.want {
				t.Errorf("%v read as %+v, want %+v", c.err, got, c.want)
			}
		})
	}
}

// serializationFailure updates, in a REPEATABLE READ transaction, a row that
// another transaction changed after its snapshot was taken.
func serializationFailure(t *testing.T, pool *pgxpool.Pool) error {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT n FROM probe WHERE id = 1`).Scan(&n); err != nil { // the snapshot
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE probe SET n = n + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `UPDATE probe SET n = n + 1 WHERE id = 1`)
	if err == nil {
		t.Fatal("a concurrent update went through in REPEATABLE READ")
	}
	return err
}
