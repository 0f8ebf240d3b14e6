package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tally-ledger/tally"
)

// lockedBuffer is a log's output, written from the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPageRequestsAreInTheRequestLogAndMetrics: a page request is counted in
// /metrics and logged as the API's are, by its route; a portal link's
// token, in its path, is in neither.
func TestPageRequestsAreInTheRequestLogAndMetrics(t *testing.T) {
	h := newHarness(t)
	var logged lockedBuffer
	cfg := wired(h.pool, h.ledger)
	cfg.OpenAPI, cfg.Log = tally.OpenAPI, slog.New(slog.NewJSONHandler(&logged, nil))
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	h = &harness{t: t, srv: srv, ledger: h.ledger, pool: h.pool, keys: h.keys}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	var link struct {
		URL string `json:"url"`
	}
	h.expect(201, call{method: "POST", path: "/v1/portal/sessions", key: "partner", body: map[string]any{"customer_id": "C1"}}).json(t, &link)
	token := link.URL[strings.LastIndex(link.URL, "/")+1:]
	get := func(u string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get(link.URL)
	get(srv.URL + "/console/signin")
	get(srv.URL + "/portal/no-such-page")
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(b)
	for _, want := range []string{
		`tally_http_requests_total{method="GET",route="/portal/enter/:token",status="200"} 1`,
		`tally_http_requests_total{method="GET",route="/console/signin",status="200"} 1`,
		`tally_http_requests_total{method="GET",route="/portal/*",status="401"} 1`, // signed out: the session ended
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s:\n%s", want, grep(metrics, "tally_http_requests_total"))
		}
	}
	log := logged.String()
	if !strings.Contains(log, `"msg":"page","method":"GET","route":"/portal/enter/:token","status":200`) ||
		!strings.Contains(log, `"msg":"page","method":"GET","route":"/console/signin","status":200`) {
		t.Errorf("the log has no line of the pages' requests:\n%s", log)
	}
	if strings.Contains(log, token) || strings.Contains(metrics, token) {
		t.Errorf("a portal link's token is in the log or the metrics")
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
