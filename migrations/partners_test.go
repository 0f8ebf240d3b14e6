package migrations_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/migrations"
)

// Migration 0013 makes every partner key a partner of its own and puts
// every id recorded before into the space of the key that recorded it, so
// that no two ids collide and each key's retries still replay.
func TestPartnersMigrationGivesEveryRecordedIDItsKeysSpace(t *testing.T) {
	url := testdb.New(t)
	testdb.SkipBooks(t, "rows written by hand at the schema before partners, entries without postings")
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The database is at the newest version, 0013 or after it.
	if err := m.Migrate(13); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatal(err)
	}
	if err := m.Steps(-1); err != nil { // the schema before partners
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var waybill, billing, admin, app int64
	for _, k := range []struct {
		id                   *int64
		name, role, customer string
	}{{&waybill, "waybill", "partner", ""}, {&billing, "billing", "partner", ""}, {&admin, "ops", "admin", ""}, {&app, "app", "customer", "C1"}} {
		if err := conn.QueryRow(ctx, `INSERT INTO api_keys (name, role, customer_id, key_hash) VALUES ($1, $2, nullif($3, ''), convert_to($1::text, 'UTF8'))
RETURNING id`, k.name, k.role, k.customer).Scan(k.id); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(actor string) (id int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `INSERT INTO entries (kind, effective_at, request_hash, actor) VALUES ('x', now(), '\x00', $1)
RETURNING id`, actor).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	fmtKey := func(id int64, name string) string { return "key:" + itoa(id) + ":" + name }
	if _, err := conn.Exec(ctx, `
INSERT INTO customers (id, name) VALUES ('C1', 'Shop');
INSERT INTO products (sku, name, kind, points_price) VALUES ('mug', 'Mug', 'standard', 10);`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO events (key_id, event_id, type, customer_id, request_hash, result) VALUES
    ($1, 'e1', 'shipment.completed', 'C1', '\x01', '{}'), ($2, 'e1', 'shipment.completed', 'C1', '\x02', '{}'),
    ($3, 'e1', 'shipment.completed', 'C1', '\x03', '{}')`, []any{waybill, billing, admin}},
		{`INSERT INTO redemptions (id, customer_id, sku, quantity, request_hash, entry_id) VALUES
    ('r-waybill', 'C1', 'mug', 1, '\x00', $1), ('r-app', 'C1', 'mug', 1, '\x00', $2), ('r-nobody', 'C1', 'mug', 1, '\x00', $3)`,
			[]any{entry(fmtKey(waybill, "waybill")), entry(fmtKey(app, "app")), entry("someone by hand")}},
		{`INSERT INTO money_movements (kind, id, customer_id, amount, occurred_at, rule_version, request_hash, entry_id) VALUES
    ('deposit', 'd-1', 'C1', 100, now(), 1, '\x00', $1), ('deposit', 'd-2', 'C1', 100, now(), 1, '\x00', $2)`,
			[]any{entry(fmtKey(billing, "billing")), entry(fmtKey(admin, "ops"))}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	if err := m.Migrate(13); err != nil {
		t.Fatalf("0013 up: %v", err)
	}
	lines := func(q string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %q, want %q", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %q, want %q", what, got, want)
				return
			}
		}
	}
	p := func(id int64) string { return "partner:" + itoa(id) }
	want("partners", lines(`SELECT id || ' ' || name FROM partners ORDER BY id`), itoa(waybill)+" waybill", itoa(billing)+" billing")
	want("keys' partners", lines(`SELECT name || ' ' || coalesce(partner_id::text, '-') FROM api_keys ORDER BY id`),
		"waybill "+itoa(waybill), "billing "+itoa(billing), "ops -", "app -")
	want("events", lines(`SELECT space || ' ' || event_id || ' ' || key_id FROM events ORDER BY key_id`),
		p(waybill)+" e1 "+itoa(waybill), p(billing)+" e1 "+itoa(billing), "key:"+itoa(admin)+" e1 "+itoa(admin))
	want("redemptions", lines(`SELECT id || ' ' || space FROM redemptions ORDER BY id`),
		"r-app customer:C1", "r-nobody unknown", "r-waybill "+p(waybill))
	want("money movements", lines(`SELECT id || ' ' || space FROM money_movements ORDER BY id`),
		"d-1 "+p(billing), "d-2 key:"+itoa(admin))
	// A partner founded after the migration takes an id no migrated one has.
	var next int64
	if err := conn.QueryRow(ctx, `INSERT INTO partners (name) VALUES ('new') RETURNING id`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next <= billing {
		t.Errorf("a new partner got id %d, want one above the migrated %d", next, billing)
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
