package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// client talks to the server as a partner does: every request is sent again,
// unchanged, until it gets a definitive answer (2xx or 4xx). A transport
// failure or a 5xx is expected only inside a disruption (a server kill or
// the database crash, with the time it takes to recover); a 5xx outside
// one is an error of the run, a transport failure outside one is counted.
type client struct {
	http *http.Client
	base string
	fail func(format string, args ...any)

	mu      sync.Mutex
	windows []window

	attempts, retries, transportOutside, serverErrors atomic.Int64
}

// window is a disruption, from its start until to (zero while it lasts).
type window struct{ from, to time.Time }

// disrupt opens a disruption window; end closes it margin after the call.
func (c *client) disrupt() (end func(margin time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.windows = append(c.windows, window{from: time.Now()})
	i := len(c.windows) - 1
	return func(margin time.Duration) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.windows[i].to = time.Now().Add(margin)
	}
}

func (c *client) disrupted(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.windows {
		if !at.Before(w.from) && (w.to.IsZero() || !at.After(w.to)) {
			return true
		}
	}
	return false
}

// reply is one HTTP answer.
type reply struct {
	status   int
	body     []byte
	replayed bool // Idempotent-Replayed: true
}

// send makes one attempt.
func (c *client) send(method, path string, body []byte) (reply, error) {
	c.attempts.Add(1)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: res.StatusCode, body: out, replayed: res.Header.Get("Idempotent-Replayed") == "true"}, nil
}

// do sends the request until a definitive answer. unseen reports that an
// earlier attempt failed: it may have done the operation without the client
// hearing of it. ok is false when no answer came after many attempts.
func (c *client) do(method, path string, body []byte, r *rand.Rand) (rep reply, unseen, ok bool) {
	for attempt := 0; attempt <= 600; attempt++ {
		rep, err := c.send(method, path, body)
		if err == nil && rep.status < 500 {
			return rep, unseen, true
		}
		unseen = true
		c.retries.Add(1)
		if err != nil {
			c.transport(time.Now())
		} else {
			c.serverError(time.Now(), method+" "+path, rep.status, rep.body)
		}
		time.Sleep(time.Duration(50+r.IntN(150)) * time.Millisecond)
	}
	c.fail("%s %s: no answer after 600 attempts", method, path)
	return reply{}, unseen, false
}

func (c *client) transport(at time.Time) {
	if !c.disrupted(at) {
		c.transportOutside.Add(1)
	}
}

// serverError judges a 5xx (of a request or of one event in a batch).
func (c *client) serverError(at time.Time, what string, status int, body []byte) {
	c.serverErrors.Add(1)
	if !c.disrupted(at) {
		c.fail("%s: %d outside any disruption: %s", what, status, oneLine(body))
	}
}

// problem is the part of a problem document the oracle reads.
type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
}

func problemOf(body []byte) (problem, error) {
	var p problem
	err := json.Unmarshal(body, &p)
	return p, err
}

// oneLine shortens a body for a message.
func oneLine(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf("%q", s)
}
