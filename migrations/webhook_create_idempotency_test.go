package migrations_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// Migration 0051, applied to a database holding endpoints: every endpoint
// is as it was, with no idempotency key, and its index names its query;
// rolled back, the table is as it was; applied again, a create with a key
// subscribes once.
func TestWebhookCreateIdempotencyMigrationKeepsTheEndpoints(t *testing.T) {
	ctx := context.Background()
	_, m, pool, e := schemaAt(t, 50)
	for _, q := range []string{
		`INSERT INTO webhook_endpoints (url, types, secret, created_at, updated_at)
VALUES ('https://hooks.example.com/a', '{points.expiring}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())`,
		`INSERT INTO webhook_endpoints (url, types, description, secret, created_at, updated_at)
VALUES ('https://hooks.example.com/b', '{points.earned}', 'app', 'whsec_AfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const endpoints = `SELECT string_agg(format('%s %s %s %s %s %s', id, url, types, description, secret, created_at), E'\n' ORDER BY id)
FROM webhook_endpoints`
	before, rowsBefore := tableDigests(t, pool), queryString(t, pool, endpoints)
	if err := m.Migrate(51); err != nil {
		t.Fatalf("0051 up: %v", err)
	}
	if got := queryString(t, pool, endpoints); got != rowsBefore {
		t.Errorf("the endpoints after 0051:\n%s\nwant\n%s", got, rowsBefore)
	}
	var keyed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE idempotency_key IS NOT NULL OR request_hash IS NOT NULL`).
		Scan(&keyed); err != nil || keyed != 0 {
		t.Errorf("after 0051: %d endpoints with a key (%v), want none", keyed, err)
	}
	if c := indexCommentsOf(t, pool, []string{"webhook_endpoints"})["webhook_endpoints_idempotency_key"]; len(c) < 20 {
		t.Errorf("webhook_endpoints_idempotency_key names no query: %q", c)
	}
	if err := m.Migrate(50); err != nil {
		t.Fatalf("0051 down: %v", err)
	}
	if after := tableDigests(t, pool); after["webhook_endpoints"] != before["webhook_endpoints"] {
		t.Errorf("after 0051 and its down: webhook_endpoints is %s, was %s", after["webhook_endpoints"], before["webhook_endpoints"])
	}
	if err := m.Migrate(51); err != nil {
		t.Fatalf("0051 up again: %v", err)
	}
	s := webhook.New(e.Ledger, webhook.Config{Hosts: []string{"hooks.example.com"}})
	in := webhook.EndpointInput{URL: "https://hooks.example.com/c", Types: []string{notify.PointsEarned},
		IdempotencyKey: "api:1:webhooks.create:k", RequestHash: []byte("h")}
	first, replayed1, err1 := s.Create(ctx, webhook.Owner{}, in)
	again, replayed2, err2 := s.Create(ctx, webhook.Owner{}, in)
	if err1 != nil || err2 != nil || replayed1 || !replayed2 || first.ID != again.ID || first.Secret != again.Secret {
		t.Errorf("a create and its retry on the migrated table: %d %v %v, then %d %v %v; want one endpoint, replayed the second time",
			first.ID, replayed1, err1, again.ID, replayed2, err2)
	}
}
