package migrations_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// keyedEntry is an adjustment of 5 points to C01 under the key, as an
// operator's retry-safe entry.
func keyedEntry(key, points string) ledger.EntryInput {
	amount := decimal.RequireFromString(points)
	lot := &ledger.Lot{ExpiresAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}
	return ledger.EntryInput{Kind: "adjustment", Actor: "test", IdempotencyKey: key, Postings: []ledger.PostingInput{
		{Account: "platform:points:earned:adjustment", Amount: amount.Neg()},
		{Account: "customer:C01:points", Amount: amount, Lot: lot},
	}}
}

// Migration 0035, applied to a database the services wrote to (every
// entry with a hash then): every row is as it was; the entries written
// after it store a hash only when they have an idempotency key, and a
// keyed entry without one is refused; a retry of a key still replays the
// same request and refuses another; the books prove. Rolled back, every
// entry has a hash again (the keyless ones an empty one), the rows
// otherwise as they were.
func TestEntriesHashWithKeyMigrationKeepsEveryRowAndStillReplays(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 34)
	atHead(t, m, 34, func() { writeBusiness(t, e, "before") })
	rowsAt34 := tableDigests(t, pool)
	if err := m.Migrate(35); err != nil {
		t.Fatalf("0035 up: %v", err)
	}
	wantSameRows(t, "after 0035", rowsAt34, tableDigests(t, pool))
	var before int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&before); err != nil || before == 0 {
		t.Fatalf("entries before: %d, %v", before, err)
	}

	// The services write on their own schema, the latest.
	if err := m.Up(); err != nil {
		t.Fatalf("up to the latest: %v", err)
	}
	writeBusiness(t, e, "after")
	first, replayed, err := e.Ledger.Post(ctx, keyedEntry("adj-1", "5"))
	if err != nil || replayed {
		t.Fatalf("keyed entry: replayed %v, %v", replayed, err)
	}
	again, replayed, err := e.Ledger.Post(ctx, keyedEntry("adj-1", "5"))
	if err != nil || !replayed || again.ID != first.ID {
		t.Errorf("the key's retry: entry %v (first %d), replayed %v, %v; want the first replayed", again, first.ID, replayed, err)
	}
	if _, _, err := e.Ledger.Post(ctx, keyedEntry("adj-1", "6")); fault.CodeOf(err) != fault.IdempotencyConflict {
		t.Errorf("the key with another request: %v, want %s", err, fault.IdempotencyConflict)
	}
	var keyless, keylessHashed, keyed, keyedHashed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE idempotency_key IS NULL),
       count(*) FILTER (WHERE idempotency_key IS NULL AND request_hash IS NOT NULL),
       count(*) FILTER (WHERE idempotency_key IS NOT NULL),
       count(*) FILTER (WHERE idempotency_key IS NOT NULL AND request_hash IS NOT NULL)
FROM entries WHERE id > (SELECT id FROM entries ORDER BY id OFFSET $1 - 1 LIMIT 1)`, before).
		Scan(&keyless, &keylessHashed, &keyed, &keyedHashed); err != nil {
		t.Fatal(err)
	}
	if keyless < 60 || keylessHashed != 0 || keyed != 1 || keyedHashed != 1 {
		t.Errorf("entries after 0035: %d without a key (%d with a hash), %d with one (%d with a hash); want 60 or more without, none hashed, one keyed and hashed",
			keyless, keylessHashed, keyed, keyedHashed)
	}
	_, err = pool.Exec(ctx, `INSERT INTO entries (kind, effective_at, idempotency_key, actor) VALUES ('x', now(), 'no-hash', 'test')`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != "entries_key_has_hash" {
		t.Errorf("a keyed entry without a hash: %v, want 23514 on entries_key_has_hash", err)
	}
	proveBooks(t, m, e, url)

	rowsAt35 := rowsAt(t, m, pool, 35)
	// The entries as the down leaves them: a missing hash an empty one.
	const qEntries = `SELECT md5(string_agg(r::text, E'\n' ORDER BY r.id)) FROM (SELECT id, kind, effective_at, recorded_at,
    idempotency_key, coalesce(request_hash, '\x') AS request_hash, metadata, actor, reason, reversal_of, rule_version, xid
    FROM entries) r`
	var entriesAt35, entriesAt34 string
	if err := pool.QueryRow(ctx, qEntries).Scan(&entriesAt35); err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(34); err != nil {
		t.Fatalf("down to 0034: %v", err)
	}
	var unhashed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM entries WHERE request_hash IS NULL`).Scan(&unhashed); err != nil || unhashed != 0 {
		t.Errorf("after 0035 down: %d entries without a hash, %v", unhashed, err)
	}
	if err := pool.QueryRow(ctx, qEntries).Scan(&entriesAt34); err != nil || entriesAt34 != entriesAt35 {
		t.Errorf("after 0035 down the entries differ but for their empty hashes (%v)", err)
	}
	after := tableDigests(t, pool)
	for table, digest := range rowsAt35 {
		if table != "entries" && after[table] != digest {
			t.Errorf("after 0035 down, %s changed", table)
		}
	}
	var notNull bool
	if err := pool.QueryRow(ctx, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'entries'::regclass AND attname = 'request_hash'`).
		Scan(&notNull); err != nil || !notNull {
		t.Errorf("after 0035 down request_hash is NOT NULL: %v, %v", notNull, err)
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up again: %v", err)
	}
}
