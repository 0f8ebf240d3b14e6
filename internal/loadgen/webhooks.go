package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// receiver is a webhook endpoint in a process of its own (the load
// generator's binary run with -receiver), so that its work takes no time
// from the load generator's one thread: it accepts every delivery at once
// (204) and counts them.
type receiver struct {
	cmd  *exec.Cmd
	url  string // where deliveries go
	base string // the receiver's address
}

func startReceiver() (*receiver, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-receiver")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // it ends with the load generator, however that ends
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	base := "http://" + strings.TrimSpace(addr)
	return &receiver{cmd: cmd, url: base + "/hook", base: base}, nil
}

func (r *receiver) stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

// delivered is how many deliveries the receiver has accepted.
func (r *receiver) delivered() (int64, error) {
	res, err := http.Get(r.base + "/count")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// serveReceiver is the receiver's process: it prints its address, then
// accepts deliveries on /hook and answers their count on /count.
func serveReceiver() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintln(w, n.Load())
	})
	fmt.Println(l.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: mux}
	fmt.Fprintln(os.Stderr, srv.Serve(l))
	os.Exit(1)
}

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
	before, err := env.receiver.delivered()
	if err != nil {
		return measure{}, err
	}
	m := drive(s.name, env.client, env.srv, s.clients, *duration, s.next)
	during, err := env.receiver.delivered()
	if err != nil {
		return measure{}, err
	}
	m.deliveredDuring = during - before
	deadline := time.Now().Add(30 * time.Second)
	for n := during; n-before < m.ok && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if n, err = env.receiver.delivered(); err != nil {
			return measure{}, err
		}
		m.deliveredAfter = n - before
	}
	m.deliveredAfter = max(m.deliveredAfter, m.deliveredDuring)
	return m, env.client.unsubscribe(id)
}

// reconcile asks the server to reconcile the books (GET /v1/reconciliation,
// admin key) and answers an error naming the failing checks when they do
// not pass: every scenario's writes must leave them proven.
func (c *client) reconcile() error {
	var out struct {
		Pass   bool `json:"pass"`
		Checks []struct {
			Name      string   `json:"name"`
			Pass      bool     `json:"pass"`
			Offending []string `json:"offending"`
		} `json:"checks"`
	}
	if err := c.adminJSON(http.MethodGet, "/v1/reconciliation", nil, &out); err != nil {
		return fmt.Errorf("reconciliation: %w", err)
	}
	if out.Pass {
		return nil
	}
	var failed []string
	for _, ch := range out.Checks {
		if !ch.Pass {
			failed = append(failed, fmt.Sprintf("%s %v", ch.Name, ch.Offending))
		}
	}
	return fmt.Errorf("reconciliation failed: %s", strings.Join(failed, "; "))
}
