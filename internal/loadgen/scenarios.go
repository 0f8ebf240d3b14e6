package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tally-ledger/tally/loyalty"
)

// scenario is one measured workload.
type scenario struct {
	n       int
	name    string
	clients int
	next    func(*rand.Rand) request
}

// seq numbers the requests of the whole run, so that every event,
// shipment, deposit, charge and redemption id is new.
var seq atomic.Int64

// appendShipment appends a new shipment.completed event of one of the
// first n customers, dated a second ago, as JSON: written by hand, not by
// encoding/json over a map, whose reflection and key sorting cost the load
// generator, on the server's cores, more than some of what it measures.
func appendShipment(b []byte, r *rand.Rand, n int) []byte {
	k := seq.Add(1)
	customer := r.IntN(n)
	b = append(b, `{"event_id":"ev-`...)
	b = strconv.AppendInt(b, k, 10)
	b = append(b, `","type":"shipment.completed","customer_id":"B`...)
	if pad := 5 - digits(customer); pad > 0 { // B%05d
		b = append(b, "00000"[:pad]...)
	}
	b = strconv.AppendInt(b, int64(customer), 10)
	b = append(b, `","shipment_id":"S`...)
	b = strconv.AppendInt(b, k, 10)
	b = append(b, `","amount":"`...)
	b = strconv.AppendInt(b, int64(1+r.IntN(500)), 10)
	cents := r.IntN(100)
	b = append(b, '.', byte('0'+cents/10), byte('0'+cents%10))
	b = append(b, `","occurred_at":"`...)
	b = time.Now().Add(-time.Second).AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// digits is the number of decimal digits of n >= 0.
func digits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

func events(n int) func(*rand.Rand) request {
	return func(r *rand.Rand) request {
		return request{path: "/v1/events", body: json.RawMessage(appendShipment(nil, r, n))}
	}
}

// batch is a POST /v1/events/batch body of size new shipments of the
// first n customers.
func batch(r *rand.Rand, size, n int) json.RawMessage {
	b := make([]byte, 0, size*200)
	b = append(b, `{"events":[`...)
	for i := range size {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendShipment(b, r, n)
	}
	return append(b, "]}"...)
}

const batchSize = 500

// scenarios are scenarios 1 to 4, 6 (1 with a webhook endpoint) and 7 (1
// without the chain's sealer), both right after 1, and the schema's own
// limits, without the server: 9 (1L) right after 1, at its mean group, and
// 8 (3L) right after 3, measured in every run beside pgbench.
func scenarios() []scenario {
	return []scenario{
		{1, fmt.Sprintf("1. single shipment.completed events, %d clients, %s customers", *clients, thousands(int64(*customers))), *clients, events(*customers)},
		// The schema's own limit (limit.go) at scenario 1's mean group in
		// the run, by as many clients as the server has event writers.
		{9, fmt.Sprintf("1L. the schema's own limit at scenario 1's group size: its rows written by SQL alone, a transaction per group of scenario 1's mean size in the run, %d clients", eventWriters()), eventWriters(), nil},
		{6, fmt.Sprintf("1w. scenario 1 with one webhook endpoint subscribed to points.earned, %d clients", *clients), *clients, events(*customers)},
		{7, fmt.Sprintf("1s. scenario 1 with the entry chain's sealer off (TALLY_SEAL_INTERVAL=0), %d clients", *clients), *clients, events(*customers)},
		{2, "2. the same against 10 customers", *clients, events(10)},
		{3, fmt.Sprintf("3. POST /v1/events/batch of %d events, 4 clients", batchSize), 4, func(r *rand.Rand) request {
			return request{path: "/v1/events/batch", body: batch(r, batchSize, *customers), events: batchSize}
		}},
		// The schema's own limit (limit.go): scenario 3's rows by SQL alone.
		{8, fmt.Sprintf("3L. the schema's own limit: scenario 3's rows written by SQL alone, a transaction per %d events, 4 clients", limitGroupSize), 4, nil},
		{4, fmt.Sprintf("4. mix: deposits, charges, redemptions, balance reads, %d clients", *clients), *clients, func(r *rand.Rand) request {
			k := seq.Add(1)
			cust := fmt.Sprintf("B%05d", r.IntN(funded))
			switch r.IntN(4) {
			case 0:
				return request{path: "/v1/deposits", body: map[string]any{"deposit_id": fmt.Sprintf("d%d", k), "customer_id": cust, "amount": "1200.00"}}
			case 1:
				return request{path: "/v1/charges", body: map[string]any{"charge_id": fmt.Sprintf("c%d", k), "customer_id": cust, "amount": "35.50", "shipment_id": fmt.Sprintf("S%d", k)}}
			case 2:
				return request{path: "/v1/redemptions", body: map[string]any{"redemption_id": fmt.Sprintf("r%d", k), "customer_id": cust, "sku": "pen", "quantity": 1}}
			}
			return request{method: http.MethodGet, path: "/v1/customers/" + cust + "/balances"}
		}},
	}
}

// readRound is scenario 5 in one run: balance reads by 8 clients while
// *clients others post events as in scenario 1, with the seeded postings in
// the books; then statement pages alone; then the portal's pages alone,
// each in the session of one of 16 customers.
type readRound struct {
	writes, reads, statements, portal measure
	// fromStandby is the share of the reads a standby served (scenario
	// 5d), by the server's tally_reads_total.
	fromStandby float64
	// handled is the share of the balance reads the server's handler
	// answered within 5 ms (its tally_http_request_duration_seconds, from
	// the handler's start to its answer): what the reads waited outside the
	// handler (queued for a core before it, in the load generator) is the
	// difference between it and the share the clients saw within 5 ms.
	// The histogram has no status: it counts refused reads too, which a
	// measurement with errors (the run fails past 0.1%) could flatter.
	handled float64
}

func readsUnderLoad(env *bench) (rr readRound) {
	defer handledWithin5ms(env.srv)(&rr)
	var wg sync.WaitGroup
	wg.Go(func() {
		rr.reads = drive(fmt.Sprintf("5. balance reads, 8 clients, with %s postings, while scenario 1 runs", thousands(int64(*postings))), env.client, env.srv, 8, *duration,
			func(r *rand.Rand) request {
				cust := fmt.Sprintf("B%05d", r.IntN(funded))
				if r.IntN(2) == 0 {
					return request{method: http.MethodGet, path: "/v1/customers/" + cust + "/balances"}
				}
				return request{method: http.MethodGet, path: "/v1/accounts/customer:" + cust + ":points/balance"}
			})
	})
	rr.writes = drive(fmt.Sprintf("5. shipment events as in scenario 1 (%d clients), beside the reads", *clients), env.client, env.srv, *clients, *duration, events(*customers))
	wg.Wait()
	rr.statements = drive(statementsName, env.client, env.srv, 8, *duration/3, statementPages)
	rr.portal = drive(portalName, env.client, env.srv, 8, *duration/3, portalPages(env.client))
	return rr
}

const (
	statementsName = "5b. statement pages (50 entries) alone, 8 clients"
	portalName     = "5c. portal pages (overview, statement) alone, 8 clients"
)

// statementPages asks for a funded customer's newest 50 entries.
func statementPages(r *rand.Rand) request {
	return request{method: http.MethodGet, path: fmt.Sprintf("/v1/customers/B%05d/statement?limit=50", r.IntN(funded))}
}

// portalPages asks for the portal's overview or statement page, each time
// in the session of one of 16 funded customers, opened now.
func portalPages(c *client) func(*rand.Rand) request {
	cookies, err := portalSessions(c, 16)
	if err != nil {
		logf("portal sessions: %v", err)
		cookies = []string{"tally_portal_session=none"} // every page answers 401: counted as errors
	}
	return func(r *rand.Rand) request {
		path := "/portal"
		if r.IntN(2) == 0 {
			path = "/portal/statement"
		}
		return request{method: http.MethodGet, path: path, cookie: cookies[r.IntN(len(cookies))]}
	}
}

// readsOnStandby is scenario 5's reads and writes with the server reading
// balances from a streaming standby (TALLY_READ_DATABASE_URL), the writes
// on the primary.
func readsOnStandby(env *bench) (rr readRound) {
	defer handledWithin5ms(env.srv)(&rr)
	before := readsServed(env.srv)
	defer func() {
		after := readsServed(env.srv)
		standby, primary := after["standby"]-before["standby"], after["primary"]-before["primary"]
		if standby+primary > 0 {
			rr.fromStandby = standby / (standby + primary)
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		rr.reads = drive("5d. balance reads on a standby, 8 clients, while scenario 1 writes on the primary", env.client, env.srv, 8, *duration,
			func(r *rand.Rand) request {
				cust := fmt.Sprintf("B%05d", r.IntN(funded))
				if r.IntN(2) == 0 {
					return request{method: http.MethodGet, path: "/v1/customers/" + cust + "/balances"}
				}
				return request{method: http.MethodGet, path: "/v1/accounts/customer:" + cust + ":points/balance"}
			})
	})
	rr.writes = drive(fmt.Sprintf("5d. shipment events as in scenario 1 (%d clients), beside the reads on the standby", *clients), env.client, env.srv, *clients, *duration, events(*customers))
	wg.Wait()
	return rr
}

// csrfField is a page form's CSRF token.
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// portalSessions opens a portal session for each of n funded customers, as
// a partner's app does (POST /v1/portal/sessions, then the link and its button), and
// answers their cookies.
func portalSessions(c *client, n int) ([]string, error) {
	noRedirect := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var cookies []string
	for i := range n {
		body, _ := json.Marshal(map[string]string{"customer_id": fmt.Sprintf("B%05d", i*funded/n)})
		req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/portal/sessions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.admin)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		var link struct {
			URL string `json:"url"`
		}
		err = json.NewDecoder(res.Body).Decode(&link)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("POST /v1/portal/sessions: %d %v", res.StatusCode, err)
		}
		// The link's page (its form's CSRF token and cookie), then its button.
		res, err = noRedirect.Get(link.URL)
		if err != nil {
			return nil, err
		}
		page, err := io.ReadAll(res.Body)
		res.Body.Close()
		csrf := csrfField.FindSubmatch(page)
		if err != nil || res.StatusCode != http.StatusOK || csrf == nil {
			return nil, fmt.Errorf("opening the portal link: %d %v, no form", res.StatusCode, err)
		}
		req, _ = http.NewRequest(http.MethodPost, link.URL, strings.NewReader(url.Values{"csrf": {string(csrf[1])}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range res.Cookies() {
			req.AddCookie(ck)
		}
		if res, err = noRedirect.Do(req); err != nil {
			return nil, err
		}
		res.Body.Close()
		for _, ck := range res.Cookies() {
			if ck.Name == "tally_portal_session" {
				cookies = append(cookies, ck.Name+"="+ck.Value)
			}
		}
		if len(cookies) != i+1 {
			return nil, fmt.Errorf("opening the portal link: %d without a session cookie", res.StatusCode)
		}
	}
	return cookies, nil
}

// readsServed is the server's tally_reads_total by where reads were
// served.
func readsServed(srv *server) map[string]float64 {
	out := map[string]float64{}
	for _, line := range metricLines(srv) {
		for _, from := range []string{"primary", "standby"} {
			if v, ok := strings.CutPrefix(line, `tally_reads_total{from="`+from+`"} `); ok {
				out[from], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}

// readRoutes are the balance reads of scenario 5, as the server's metrics
// name their routes.
var readRoutes = []string{"/v1/customers/:id/balances", "/v1/accounts/:code/balance"}

// handledWithin5ms reads the server's latency histogram of the balance
// reads now; the function it returns reads it again and sets rr.handled to
// the share of the reads in between that the handler answered within 5 ms.
func handledWithin5ms(srv *server) func(rr *readRound) {
	within, all := readsHandled(srv)
	return func(rr *readRound) {
		w, a := readsHandled(srv)
		if a > all {
			rr.handled = (w - within) / (a - all)
		}
	}
}

// readsHandled is how many balance reads the server's handler answered
// within 5 ms, and in all (its histogram's 0.005 bucket and count).
func readsHandled(srv *server) (within, all float64) {
	for _, line := range metricLines(srv) {
		for _, route := range readRoutes {
			labels := `{method="GET",route="` + route + `"`
			if v, ok := strings.CutPrefix(line, `tally_http_request_duration_seconds_bucket`+labels+`,le="0.005"} `); ok {
				x, _ := strconv.ParseFloat(v, 64)
				within += x
			}
			if v, ok := strings.CutPrefix(line, `tally_http_request_duration_seconds_count`+labels+`} `); ok {
				x, _ := strconv.ParseFloat(v, 64)
				all += x
			}
		}
	}
	return within, all
}

// eventGroups reads the server's counters of event groups written and of
// the events in them (0 when it does not answer).
func eventGroups(srv *server) (groups, events float64) {
	groups, _ = serverGauge(srv, "tally_event_groups_total")
	events, _ = serverGauge(srv, "tally_event_group_events_total")
	return groups, events
}

// eventWriters is how many groups of events the server writes at once:
// TALLY_EVENT_WRITERS, which the server is started with when set, or its
// default.
func eventWriters() int {
	if n, err := strconv.Atoi(os.Getenv("TALLY_EVENT_WRITERS")); err == nil && n > 0 {
		return n
	}
	return loyalty.DefaultEventWriters
}

// metricLines is the server's /metrics, a line each (none when it does
// not answer).
func metricLines(srv *server) []string {
	res, err := http.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	return strings.Split(string(text), "\n")
}

// serverGauge reads one unlabelled metric of the server's /metrics.
func serverGauge(srv *server, name string) (float64, bool) {
	for _, line := range metricLines(srv) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			x, err := strconv.ParseFloat(v, 64)
			return x, err == nil
		}
	}
	return 0, false
}
