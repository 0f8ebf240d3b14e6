package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/migrations"
)

// Migration 0031 rolled back leaves every index, constraint and comment of
// the two tables as 0030 had them, definition for definition.
func TestMigration0031DownIsExact(t *testing.T) {
	url := testdb.New(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Migrate(30); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := func() []string {
		rows, err := pool.Query(context.Background(), `
SELECT 'index ' || i.indexrelid::regclass || ': ' || pg_get_indexdef(i.indexrelid) || ' comment ' || coalesce(obj_description(i.indexrelid, 'pg_class'), '-')
FROM pg_index i WHERE i.indrelid IN ('money_movements'::regclass, 'redemptions'::regclass)
UNION ALL
SELECT 'constraint ' || conname || ' on ' || conrelid::regclass || ': ' || pg_get_constraintdef(oid) || ' index ' || conindid::regclass
  || ' comment ' || coalesce(obj_description(oid, 'pg_constraint'), '-')
FROM pg_constraint WHERE conrelid IN ('money_movements'::regclass, 'redemptions'::regclass)
   OR confrelid IN ('money_movements'::regclass, 'redemptions'::regclass)
ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	at30 := schema()
	if err := m.Migrate(31); err != nil {
		t.Fatal(err)
	}
	for _, s := range schema() {
		t.Log("at 31: ", s)
	}
	if err := m.Migrate(30); err != nil {
		t.Fatal(err)
	}
	after := schema()
	if len(after) != len(at30) {
		t.Fatalf("after down %d definitions, at 30 %d:\n%q\n%q", len(after), len(at30), after, at30)
	}
	for i := range at30 {
		t.Log(at30[i])
		if at30[i] != after[i] {
			t.Errorf("after down:\n %s\nat 30:\n %s", after[i], at30[i])
		}
	}
}
