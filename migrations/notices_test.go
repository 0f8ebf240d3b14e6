package migrations_test

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/migrations"
)

// Migration 0017 counts the referral bonuses already available as
// announced (no flood of old news at the upgrade) and leaves the pending
// and the cancelled ones to the notice job.
func TestNoticesMigrationCountsAvailableBonusesAsAnnounced(t *testing.T) {
	url := testdb.New(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Migrate(16); err != nil && !errors.Is(err, migrate.ErrNoChange) { // the schema before notices
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
INSERT INTO customers (id, name) VALUES ('R', 'R'), ('A', 'A'), ('P', 'P'), ('X', 'X');
INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month, points_volume, points_campaign, rule_version)
VALUES ('SA', 'A', 80, now() - interval '20 days', '2026-01', 80, 0, 1),
       ('SP', 'P', 80, now() - interval '1 day', '2026-01', 80, 0, 1),
       ('SX', 'X', 80, now() - interval '20 days', '2026-01', 80, 0, 1);
INSERT INTO referral_bonuses (referee_id, referrer_id, shipment_id, month, status, points, available_at)
VALUES ('A', 'R', 'SA', '2026-01', 'paid', 500, now() - interval '6 days'),
       ('P', 'R', 'SP', '2026-01', 'paid', 500, now() + interval '13 days'),
       ('X', 'R', 'SX', '2026-01', 'cancelled', 500, now() - interval '6 days');`); err != nil {
		t.Fatal(err)
	}
	if err := m.Steps(1); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT referee_id || ' ' || (announced_at IS NOT NULL) FROM referral_bonuses ORDER BY referee_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A true", "P false", "X false"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("announced after the migration: %v, want %v", got, want)
	}
}
