package api

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestWrongMethodIsMethodNotAllowed: a method a /v1 path does not have is
// 405 method_not_allowed with Allow listing the path's methods, for every
// route, authenticated or not; an unknown path stays 404.
func TestWrongMethodIsMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	methods := map[string][]string{} // path -> its methods, from the router
	for _, r := range New(wired(h.pool, h.ledger)).echo.Routes() {
		if strings.HasPrefix(r.Path, "/v1/") && !strings.HasSuffix(r.Path, "*") && r.Method != "echo_route_not_found" {
			methods[r.Path] = append(methods[r.Path], r.Method)
		}
	}
	if len(methods) < 30 {
		t.Fatalf("only %d /v1 paths found", len(methods))
	}
	for path, have := range methods {
		concrete := strings.NewReplacer(":id", "x1", ":sku", "pen", ":code", "platform:cash").Replace(path)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(have, m) {
				continue
			}
			for _, key := range []string{"admin", ""} {
				res := h.do(call{method: m, path: concrete, key: key, invalid: true})
				wantProblem(t, res, http.StatusMethodNotAllowed, fault.MethodNotAllowed)
				allowed := strings.Split(strings.ReplaceAll(res.header.Get("Allow"), " ", ""), ",")
				for _, want := range have {
					if !slices.Contains(allowed, want) {
						t.Errorf("%s %s: Allow %q lacks %s", m, concrete, res.header.Get("Allow"), want)
					}
				}
				if slices.Contains(allowed, m) {
					t.Errorf("%s %s: Allow %q lists the method refused", m, concrete, res.header.Get("Allow"))
				}
			}
		}
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/no-such-route", key: "admin"}), http.StatusNotFound, fault.NotFound)
}

// TestNullEventInBatchIsInvalidJSON: a null event of a batch is answered in
// its own item as POST /v1/events answers a null body, 400 invalid_json.
func TestNullEventInBatchIsInvalidJSON(t *testing.T) {
	h := newHarness(t)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/events", key: "partner", body: `null`, invalid: true}), 400, fault.InvalidJSON)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	res := h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", invalid: true,
		body: `{"events":[null,` + mustJSON(shipment("n1", "C1", "S1", "10", time.Now().Add(-time.Minute))) + `]}`})
	var out struct {
		Results []batchItem `json:"results"`
	}
	res.json(t, &out)
	if len(out.Results) != 2 || out.Results[0].Status != 400 || out.Results[0].Problem == nil ||
		out.Results[0].Problem.Code != fault.InvalidJSON || out.Results[1].Status != 201 {
		t.Errorf("batch with a null event: %s, want item 0 400 invalid_json and item 1 201", res.body)
	}
}

// TestReportFormatParameterWinsOverAccept: ?format= decides the answer's
// format when given, whatever Accept says; Accept decides without it.
func TestReportFormatParameterWinsOverAccept(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("10", "C1")})
	for _, c := range []struct {
		query, accept, want string
	}{
		{"?format=json", "text/csv", "application/json"},
		{"?format=csv", "application/json", "text/csv"},
		{"", "text/csv", "text/csv"},
		{"", "application/json", "application/json"},
	} {
		res := h.expect(200, call{method: "GET", path: "/v1/reports/trial-balance" + c.query, key: "finance",
			header: map[string]string{"Accept": c.accept}})
		if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, c.want) {
			t.Errorf("%s with Accept %s: Content-Type %q, want %s", c.query, c.accept, ct, c.want)
		}
		if c.want == "application/json" && !json.Valid(res.body) {
			t.Errorf("%s with Accept %s: body is not JSON: %.200s", c.query, c.accept, res.body)
		}
	}
}

// TestMalformedRequestIsAProblem: a request net/http cannot parse, such as
// a path with malformed percent-encoding, is answered 400
// malformed_request as a problem document of the Problem schema, with a
// request id, not in plain text.
func TestMalformedRequestIsAProblem(t *testing.T) {
	h := newHarness(t)
	doc, _ := spec(t)
	schema := doc.Components.Schemas["Problem"].Value
	for _, line := range []string{
		"GET /v1/customers/%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + h.keys["admin"] + "\r\n\r\n",
		"GET /v1/accounts/customer:C1%2:points HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out := response{status: res.StatusCode, header: res.Header}
		var body strings.Builder
		_, _ = bufio.NewReader(res.Body).WriteTo(&body)
		res.Body.Close()
		conn.Close()
		out.body = []byte(body.String())
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%q: Content-Type %q, want application/problem+json: %s", line, ct, out.body)
			continue
		}
		p := wantProblem(t, out, 400, fault.MalformedRequest)
		if id := res.Header.Get("X-Request-ID"); id == "" || p["request_id"] != id {
			t.Errorf("%q: X-Request-ID %q, request_id %v", line, id, p["request_id"])
		}
		var v any
		_ = json.Unmarshal(out.body, &v)
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("%q: problem breaks the Problem schema: %v", line, err)
		}
	}
	// The connection wrapper leaves a good request alone.
	h.expect(200, call{method: "GET", path: "/healthz"})
}
