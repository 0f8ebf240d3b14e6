package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
)

// keysCreate runs `tally keys create` with args and returns its stdout and
// stderr.
func keysCreate(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"keys", "create"}, args...), getenv(vars), nil, &out, &errOut); err != nil {
		t.Fatalf("keys create %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String()
}

// A key added with `keys create --partner` writes in its partner's space:
// a refund it sends again after the partner's first key is a replay, served
// by `tally serve`.
func TestKeysCreatePartnerAddsAKeySharingThePartnersIDs(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": testdb.New(t), "TALLY_ADDR": "127.0.0.1:0"}
	first, founded := keysCreate(t, vars, "--role", "partner", "--name", "waybill")
	m := regexp.MustCompile(`^partner (\d+) `).FindStringSubmatch(founded)
	if m == nil {
		t.Fatalf("keys create --role partner printed %q on stderr, want the new partner's id", founded)
	}
	second, added := keysCreate(t, vars, "--partner", m[1], "--name", "waybill-2026")
	for _, secret := range []string{first, second} {
		if !regexp.MustCompile(`^tly_[A-Za-z0-9_-]{43}\n$`).MatchString(secret) {
			t.Errorf("keys create printed %q, want the key alone on a line", secret)
		}
	}
	if added != "" {
		t.Errorf("adding a key to partner %s printed %q on stderr, want nothing (no partner founded)", m[1], added)
	}
	var list bytes.Buffer
	if err := run(context.Background(), []string{"keys", "list"}, getenv(vars), nil, &list, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^\d+\s+partner\s+`+m[1]+`\s+waybill`).FindAllString(list.String(), -1)); n != 2 {
		t.Errorf("keys list shows %d keys of partner %s, want 2:\n%s", n, m[1], list.String())
	}
	for _, bad := range [][]string{
		{"keys", "create", "--partner", "999", "--name", "x"},
		{"keys", "create", "--partner", m[1], "--role", "admin", "--name", "x"},
		{"keys", "create", "--partner", m[1], "--customer", "C1", "--name", "x"},
	} {
		if err := run(context.Background(), bad, getenv(vars), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("tally %s succeeded, want an error", strings.Join(bad, " "))
		}
	}

	base, _, stop := startServe(t, vars)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	post := func(secret, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	at := time.Now().Add(-time.Hour).UTC()
	if res := post(first, "/v1/customers", `{"id":"C1","name":"Shop"}`); res.StatusCode != 201 {
		t.Fatalf("register C1: %d", res.StatusCode)
	}
	if res := post(first, "/v1/events", `{"event_id":"e1","type":"shipment.completed","customer_id":"C1","shipment_id":"S1","amount":"100","occurred_at":"`+at.Format(time.RFC3339)+`"}`); res.StatusCode != 201 {
		t.Fatalf("shipment: %d", res.StatusCode)
	}
	refund := `{"event_id":"e2","type":"shipment.refunded","customer_id":"C1","shipment_id":"S1","amount":"40","occurred_at":"` +
		at.Add(time.Minute).Format(time.RFC3339) + `"}`
	if res := post(first, "/v1/events", refund); res.StatusCode != 201 || res.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("refund: %d %q", res.StatusCode, res.Header.Get("Idempotent-Replayed"))
	}
	if res := post(second, "/v1/events", refund); res.StatusCode != 201 || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the refund through the added key: %d, Idempotent-Replayed %q; want 201 replayed", res.StatusCode,
			res.Header.Get("Idempotent-Replayed"))
	}
}
