package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify/webhook"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/web"
)

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// loadSpec loads openapi.yaml, the document the binary serves, once.
func loadSpec() (*openapi3.T, routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(tally.OpenAPI)
		if specErr == nil {
			specErr = specDoc.Validate(context.Background())
		}
		if specErr == nil {
			specRouter, specErr = gorillamux.NewRouter(specDoc)
		}
	})
	return specDoc, specRouter, specErr
}

// spec is loadSpec for a test, which fails if openapi.yaml does not load.
func spec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	doc, router, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc, router
}

// harness is a running API on a fresh database, with a key of each role,
// whose client checks every request and response against openapi.yaml.
type harness struct {
	t      *testing.T
	server *Server
	srv    *httptest.Server
	ledger *ledger.Ledger
	pool   *pgxpool.Pool
	keys   map[string]string // admin, finance, partner, customer (C1), other (customer C2)
}

// wired is the API's services on the ledger, wired as cmd/tally wires them.
func wired(pool *pgxpool.Pool, l *ledger.Ledger) Config {
	customers := loyalty.New(pool, l)
	money := prepaid.New(l, customers)
	cfg := Config{Ledger: l, Loyalty: customers, Catalog: catalog.New(pool, l, customers), Prepaid: money,
		Finance:  finance.New(l, customers, money),
		Webhooks: webhook.New(l, webhook.Config{Hosts: []string{"127.0.0.1", "hooks.example.com"}, AllowLoopback: true})}
	cfg.Pages = web.New(web.Config{Pool: pool, Ledger: l, Loyalty: customers, Catalog: cfg.Catalog, Prepaid: money,
		Finance: cfg.Finance})
	return cfg
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, testdb.Pool(t))
}

// newHarnessOn is newHarness on pool, a pool of the test's database.
func newHarnessOn(t *testing.T, pool *pgxpool.Pool) *harness {
	t.Helper()
	spec(t)
	l := ledger.New(pool)
	cfg := wired(pool, l)
	cfg.OpenAPI, cfg.Ready = tally.OpenAPI, func(ctx context.Context) error { return pool.Ping(ctx) }
	s := New(cfg)
	srv := httptest.NewUnstartedServer(s)
	srv.Listener = Listener(srv.Config, srv.Listener) // as cmd/tally serves it
	srv.Start()
	h := &harness{t: t, server: s, srv: srv, ledger: l, pool: pool, keys: map[string]string{}}
	t.Cleanup(h.srv.Close)
	for name, k := range map[string]struct {
		role ledger.Role
		cust string
	}{
		"admin": {ledger.RoleAdmin, ""}, "finance": {ledger.RoleFinance, ""}, "partner": {ledger.RolePartner, ""},
		"customer": {ledger.RoleCustomer, "C1"}, "other": {ledger.RoleCustomer, "C2"},
	} {
		secret, _, err := l.CreateKey(context.Background(), name, k.role, k.cust)
		if err != nil {
			t.Fatal(err)
		}
		h.keys[name] = secret
	}
	return h
}

// call is one HTTP exchange.
type call struct {
	method, path string
	key          string // a role name of h.keys, or "" for none
	body         any    // marshalled as JSON unless it is a string or []byte
	header       map[string]string
	// invalid marks a request that breaks the spec on purpose (to test the
	// server's refusal); its response is still checked.
	invalid bool
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

func (h *harness) do(c call) response {
	h.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(c.method, h.srv.URL+c.path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		secret, ok := h.keys[c.key]
		if !ok {
			secret = c.key // a literal (unknown) key
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	out := response{status: res.StatusCode, header: res.Header}
	if out.body, err = io.ReadAll(res.Body); err != nil {
		h.t.Fatal(err)
	}
	h.validate(req, body, c.invalid, out)
	return out
}

// validate checks the exchange against openapi.yaml: the request unless it
// is invalid on purpose, and always the response.
func (h *harness) validate(req *http.Request, body []byte, invalidRequest bool, res response) {
	h.t.Helper()
	_, router := spec(h.t)
	req.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(req)
	if err != nil {
		if res.status == http.StatusNotFound || res.status == http.StatusMethodNotAllowed {
			return // not a route of the API, and the server said so
		}
		h.t.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	op := route.Operation
	opID := op.OperationID
	if opID == "" {
		opID = req.Method + " " + route.Path
	}
	exercised.add(opID, res.status)
	// Only a status the operation lists by number is documented: a default
	// response would let any other status pass as long as it is a problem.
	if op.Responses.Value(strconv.Itoa(res.status)) == nil {
		h.t.Errorf("%s %s: status %d is not listed for %s in openapi.yaml\n%s", req.Method, req.URL.Path, res.status, opID, res.body)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true,
		MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if !invalidRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			h.t.Errorf("%s %s: request breaks openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.status,
		Header: res.header, Body: io.NopCloser(bytes.NewReader(res.body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		h.t.Errorf("%s %s: response %d breaks openapi.yaml: %v\n%s", req.Method, req.URL.Path, res.status, err, res.body)
	}
	if res.status >= 400 && !strings.HasPrefix(res.header.Get("Content-Type"), "application/problem+json") && req.URL.Path != "/metrics" {
		h.t.Errorf("%s %s: error %d as %q, want application/problem+json", req.Method, req.URL.Path, res.status, res.header.Get("Content-Type"))
	}
}

// wantProblem checks an error response's status and stable code.
func wantProblem(t testing.TB, r response, status int, code fault.Code) map[string]any {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	p := r.object(t)
	if p["code"] != string(code) {
		t.Errorf("problem code %v, want %s: %s", p["code"], code, r.body)
	}
	if s, ok := p["status"].(float64); !ok || int(s) != r.status {
		t.Errorf("problem status %v differs from HTTP status %d", p["status"], r.status)
	}
	return p
}

func wantStatus(t testing.TB, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// expect is do for a request whose outcome the test relies on: it stops the
// test unless the status is the one wanted.
func (h *harness) expect(status int, c call) response {
	h.t.Helper()
	r := h.do(c)
	wantStatus(h.t, r, status)
	return r
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// batchAnswer is a batch's answer as far as most tests read it: each
// event's status and problem.
type batchAnswer struct {
	Results []struct {
		Status  int            `json:"status"`
		Problem map[string]any `json:"problem"`
	} `json:"results"`
}

// seedCampaign stores a campaign as if created before it started (the API
// creates campaigns only 5.5 minutes ahead or more): for tests that price
// events against a campaign active now.
func (h *harness) seedCampaign(id string, from, until time.Time, multiplier string, segments ...string) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO campaigns (id, name, starts_at, ends_at, multiplier, segments, created_at)
VALUES ($1, $1, $2, $3, $4, $5, $2::timestamptz - interval '1 hour')`, id, from, until, multiplier, segments); err != nil {
		h.t.Fatalf("seeding campaign %s: %v", id, err)
	}
}
