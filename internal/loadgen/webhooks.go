package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// receiver is a webhook endpoint in the load generator's process: it
// accepts every delivery at once (204) and counts them.
type receiver struct {
	srv       *http.Server
	url       string
	delivered atomic.Int64
}

func startReceiver() (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + l.Addr().String() + "/hook"}
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		r.delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go r.srv.Serve(l)
	return r, nil
}

func (r *receiver) stop() { r.srv.Close() }

// subscribe creates an admin webhook endpoint for the types at the
// receiver and returns its id.
func (c *client) subscribe(url string, types ...string) (string, error) {
	var out struct {
		ID json.RawMessage `json:"id"`
	}
	if err := c.adminJSON(http.MethodPost, "/v1/webhooks", map[string]any{"url": url, "types": types}, &out); err != nil {
		return "", err
	}
	var id any
	if err := json.Unmarshal(out.ID, &id); err != nil || id == nil {
		return "", fmt.Errorf("POST /v1/webhooks answered no id")
	}
	return fmt.Sprint(id), nil
}

func (c *client) unsubscribe(id string) error {
	return c.adminJSON(http.MethodDelete, "/v1/webhooks/"+id, nil, nil)
}

// adminJSON sends a request with the admin key and decodes a 2xx answer
// into out (when not nil); any other answer is an error.
func (c *client) adminJSON(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.admin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// withWebhook is scenario 6: scenario 1's load with one webhook endpoint
// subscribed to points.earned, which every event announces. It reports
// how many deliveries the receiver took during the scenario (and within
// a grace of 30 s after it) beside the events acknowledged.
func withWebhook(env *bench, s scenario) (measure, error) {
	id, err := env.client.subscribe(env.receiver.url, "points.earned")
	if err != nil {
		return measure{}, err
	}
	before := env.receiver.delivered.Load()
	m := drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
	m.deliveredDuring = env.receiver.delivered.Load() - before
	deadline := time.Now().Add(30 * time.Second)
	for env.receiver.delivered.Load()-before < m.ok && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	m.deliveredAfter = env.receiver.delivered.Load() - before
	return m, env.client.unsubscribe(id)
}
