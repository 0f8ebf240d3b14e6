package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// TestServeDeliversWebhooks: `tally serve` runs the dispatcher: an endpoint
// subscribed through the API receives a notification committed afterwards,
// signed with the secret the API showed, verified by the Standard Webhooks
// library.
func TestServeDeliversWebhooks(t *testing.T) {
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer receiver.Close()
	url := testdb.New(t)
	vars := map[string]string{"DATABASE_URL": url, "TALLY_ADDR": "127.0.0.1:0", "TALLY_ADMIN_KEY": "automation-admin-key-0123456789",
		"TALLY_WEBHOOK_HOSTS": "127.0.0.1", "TALLY_WEBHOOK_ALLOW_LOOPBACK": "1"}
	base, _, stopServe := startServe(t, vars)
	var once sync.Once
	var stopped error
	stop := func() error { once.Do(func() { stopped = stopServe() }); return stopped }
	defer stop()

	req, _ := http.NewRequest("POST", base+"/v1/webhooks", strings.NewReader(`{"url":"`+receiver.URL+`/in","types":["points.earned"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+vars["TALLY_ADMIN_KEY"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var endpoint struct {
		Secret string `json:"secret"`
	}
	err = json.NewDecoder(res.Body).Decode(&endpoint)
	res.Body.Close()
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /v1/webhooks: %d %v", res.StatusCode, err)
	}

	pool, err := (environment{getenv: getenv(vars)}).pool(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l := ledger.New(pool)
	if err := l.InTx(context.Background(), func(tx *ledger.Tx) error {
		_, err := notify.Emit(context.Background(), tx, notify.Event{Type: notify.PointsEarned, Customer: "C1", Payload: map[string]any{"points": "3"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		wh, err := standardwebhooks.NewWebhook(endpoint.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("signature: %v", err)
		}
		if !strings.Contains(string(d.body), `"type":"points.earned"`) || d.header.Get("webhook-id") == "" {
			t.Errorf("delivery %v %s", d.header, d.body)
		}
	case <-time.After(time.Minute): // the dispatcher polls every second; a minute means it never came
		t.Fatal("no delivery within a minute")
	}
	if err := stop(); err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}
