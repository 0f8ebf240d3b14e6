package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// request is one HTTP request of a scenario.
type request struct {
	method, path string
	body         any
	// events is how many events a POST /v1/events/batch body holds; 0 for
	// any other request.
	events int
	// key is the bearer key; empty: the partner key for writes, the finance
	// key for reads.
	key string
	// cookie, when set, is sent instead of a key (a page of the portal).
	cookie string
}

// failure is a kind of error and how many requests (events, in a batch)
// failed that way.
type failure struct {
	kind string // "422 insufficient_funds", "event 409 conflict", "no answer (timeout)"
	n    int
}

// answer is what one request did: how many requests or events succeeded,
// the failures, and whether the answer was 2xx (its latency counts only
// then).
type answer struct {
	ok      int
	failed  []failure
	success bool
}

type client struct {
	// base is the server's URL, http://host:port; the bench sets it anew
	// when it restarts the server.
	base                    string
	http                    *http.Client // setup's and the profiles' requests
	admin, partner, finance string
	// idle are the keep-alive connections of the load generator's own
	// HTTP/1.1 client, which sends the measured requests (send).
	idle chan *rawConn
}

func newClient(base, admin, partner, finance string) *client {
	return &client{base: base, admin: admin, partner: partner, finance: finance,
		http: &http.Client{Timeout: 30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}},
		idle: make(chan *rawConn, 256)}
}

// rawConn is one keep-alive connection of send: a request is written in
// one write and its answer read through http.ReadResponse on the
// connection's buffer, with no goroutine but its caller's. net/http's
// Transport hands each request to a connection's reading and writing
// goroutines, which cost the load generator, on the cores it shares with
// the server and PostgreSQL, about as much CPU again as the rest of a
// request (pgbench, which the scenarios are compared with, is a lean C
// client).
type rawConn struct {
	addr   string // host:port it was dialled to
	conn   net.Conn
	br     *bufio.Reader
	buf    []byte
	reused bool // it answered a request before: the server may have closed it since
}

// timeout is how long a measured request may take before it counts as
// not answered.
const timeout = 30 * time.Second

// conn is an idle connection to addr, or a new one; idle connections to
// another address (a server since restarted elsewhere) are closed.
func (c *client) conn(addr string) (*rawConn, error) {
	for {
		select {
		case rc := <-c.idle:
			if rc.addr == addr {
				return rc, nil
			}
			rc.conn.Close()
			continue
		default:
		}
		break
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: addr, conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// release keeps rc for the next request, or closes it when the pool is full.
func (c *client) release(rc *rawConn) {
	rc.reused = true
	select {
	case c.idle <- rc:
	default:
		rc.conn.Close()
	}
}

// exchange writes the request and reads its whole answer. A kept
// connection the server closed while it was idle (or a restarted server)
// is found so before the request is written (closedWhileIdle) and left
// for a new one. Once written, a request is sent again only when it is a
// GET and no byte of an answer came: no byte does not prove the server
// did not read it (it may have read it, done it, and died), and a POST
// must not be done twice (net/http's Transport does not resend one
// either).
func (c *client) exchange(method, path, auth string, body []byte) (*http.Response, []byte, error) {
	host := strings.TrimPrefix(c.base, "http://")
	for {
		rc, err := c.conn(host)
		if err != nil {
			return nil, nil, err
		}
		if rc.reused && closedWhileIdle(rc) {
			rc.conn.Close()
			continue
		}
		rc.buf = appendRequest(rc.buf[:0], method, path, host, auth, body)
		rc.conn.SetDeadline(time.Now().Add(timeout))
		_, err = rc.conn.Write(rc.buf)
		if err == nil {
			_, err = rc.br.Peek(1) // the answer's first byte, or why none came
		}
		if err != nil {
			rc.conn.Close()
			if rc.reused && method == http.MethodGet && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
				continue
			}
			return nil, nil, err
		}
		res, err := http.ReadResponse(rc.br, nil)
		// An interim answer (1xx: 100 Continue, 103 Early Hints) comes
		// before the request's own on the same connection: read past it, or
		// the next request on the connection would take this one's answer.
		for n := 0; err == nil && res.StatusCode/100 == 1 && res.StatusCode != http.StatusSwitchingProtocols; n++ {
			if n == 5 {
				err = errors.New("too many 1xx answers")
				break
			}
			res, err = http.ReadResponse(rc.br, nil)
		}
		if err != nil {
			rc.conn.Close()
			return nil, nil, err
		}
		answer, err := io.ReadAll(res.Body)
		if err != nil {
			rc.conn.Close()
			return nil, nil, err
		}
		if res.Close {
			rc.conn.Close()
		} else {
			c.release(rc)
		}
		return res, answer, nil
	}
}

// closedWhileIdle reports whether the server closed rc (or wrote to it)
// while it was kept: one non-blocking peek at the socket, which net/http's
// Transport learns from the reading goroutine it keeps per connection.
func closedWhileIdle(rc *rawConn) bool {
	if rc.br.Buffered() > 0 {
		return true // bytes no request asked for
	}
	sc, ok := rc.conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var one [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n > 0 || err == nil || err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
		return true // never wait
	})
	return closed || err != nil
}

// appendRequest appends an HTTP/1.1 request to b. auth is a whole header
// line's value after its name: "Authorization: Bearer k" or "Cookie: c".
func appendRequest(b []byte, method, path, host, auth string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	b = append(b, auth...)
	b = append(b, "\r\n"...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// send sends the request and classifies the answer. A single request
// succeeds only with a 2xx answer; an event in a batch only with its item's
// status 201 in a 200 answer. Everything else, no answer at all included,
// is a failure.
func (c *client) send(req request) answer {
	units := max(1, req.events)
	fail := func(kind string) answer { return answer{failed: []failure{{kind, units}}} }
	var body []byte
	if raw, ok := req.body.(json.RawMessage); ok {
		body = raw
	} else if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return fail("unencodable request: " + err.Error())
		}
		body = b
	}
	method := req.method
	if method == "" {
		method = http.MethodGet
	}
	auth := "Cookie: " + req.cookie
	if req.cookie == "" {
		key := req.key
		if key == "" {
			key = c.partner
			if method == http.MethodGet {
				key = c.finance
			}
		}
		auth = "Authorization: Bearer " + key
	}
	res, data, err := c.exchange(method, req.path, auth, body)
	if err != nil {
		if isTimeout(err) {
			return fail("no answer (timeout)")
		}
		return fail("no answer (connection)")
	}
	prefix := ""
	if req.events > 0 {
		prefix = "batch "
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var p struct {
			Code string `json:"code"`
		}
		json.Unmarshal(data, &p)
		return fail(fmt.Sprintf("%s%d %s", prefix, res.StatusCode, p.Code))
	}
	if req.events == 0 {
		return answer{ok: 1, success: true}
	}
	return batchAnswer(res.StatusCode, data, req.events)
}

// batchAnswer counts a batch's items: 201 succeeded, any other status
// failed by status and problem code, and an item missing from the answer
// failed too.
func batchAnswer(status int, data []byte, events int) answer {
	var body struct {
		Results []struct {
			Index   int `json:"index"`
			Status  int `json:"status"`
			Problem *struct {
				Code string `json:"code"`
			} `json:"problem"`
		} `json:"results"`
	}
	if status != http.StatusOK {
		return answer{failed: []failure{{fmt.Sprintf("batch %d, not 200", status), events}}}
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return answer{failed: []failure{{"batch 200 unreadable", events}}}
	}
	a := answer{success: true}
	seen := make([]bool, events)
	count := map[string]int{}
	for _, it := range body.Results {
		if it.Index < 0 || it.Index >= events || seen[it.Index] {
			count["batch item with a wrong index"]++
			continue
		}
		seen[it.Index] = true
		if it.Status == http.StatusCreated {
			a.ok++
			continue
		}
		code := ""
		if it.Problem != nil {
			code = it.Problem.Code
		}
		count[fmt.Sprintf("event %d %s", it.Status, code)]++
	}
	for _, answered := range seen {
		if !answered {
			count["event missing from the batch answer"]++
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(count)) {
		a.failed = append(a.failed, failure{kind, count[kind]})
	}
	return a
}

// measure is one scenario in one run. Only what succeeded counts in the
// throughput and the latencies.
type measure struct {
	name     string
	clients  int
	unit     string // "requests/s" or "events/s"
	ok       int64  // requests (events, for batches) that succeeded
	failures map[string]int64
	elapsed  time.Duration
	answered int64         // requests answered 2xx
	p50, p99 time.Duration // of those
	within5  float64       // the share of those answered within 5 ms
	peakRSS  int64         // kB
	// deliveredDuring and deliveredAfter are scenario 6's webhook
	// deliveries: during the scenario, and by 30 s after it.
	deliveredDuring, deliveredAfter int64
	// noServer is set for a measure taken without the server (scenario
	// 3L): it has no server RSS.
	noServer bool
	// walBytes is the WAL the cluster wrote during the measure (scenarios
	// 3 and 3L), from pg_current_wal_insert_lsn before and after it.
	walBytes int64
}

func (m measure) rate() float64 { return float64(m.ok) / m.elapsed.Seconds() }

func (m measure) failed() int64 {
	var n int64
	for _, v := range m.failures {
		n += v
	}
	return n
}

// drive sends the requests made by next from n clients for d and measures.
func drive(name string, c *client, srv *server, n int, d time.Duration, next func(*rand.Rand) request) measure {
	logf("%s (%s)", name, d)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  = map[string]int64{}
		ok        atomic.Int64
		peak      atomic.Int64
		wg        sync.WaitGroup
		unit      = "requests/s"
	)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := srv.rss(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	stop := start.Add(d)
	var batches atomic.Bool
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var mine []time.Duration
			myFailures := map[string]int64{}
			for time.Now().Before(stop) {
				req := next(r)
				if req.method == "" {
					req.method = http.MethodPost
				}
				if req.events > 0 {
					batches.Store(true)
				}
				t0 := time.Now()
				a := c.send(req)
				if a.success {
					mine = append(mine, time.Since(t0))
				}
				ok.Add(int64(a.ok))
				for _, f := range a.failed {
					myFailures[f.kind] += int64(f.n)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			for k, v := range myFailures {
				failures[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	<-sampled
	if batches.Load() {
		unit = "events/s"
	}
	m := measure{name: name, clients: n, unit: unit, ok: ok.Load(), failures: failures, elapsed: elapsed, peakRSS: peak.Load()}
	m.answered = int64(len(latencies))
	m.p50, m.p99 = percentiles(latencies)
	m.within5 = shareWithin(latencies, 5*time.Millisecond)
	logf("  %.0f %s, p50 %s, p99 %s, peak RSS %d MB, %d errors %v", m.rate(), m.unit, m.p50, m.p99, m.peakRSS/1024, m.failed(), m.failures)
	return m
}

// shareWithin is the share of the latencies at most d (0 for none).
func shareWithin(l []time.Duration, d time.Duration) float64 {
	if len(l) == 0 {
		return 0
	}
	n := 0
	for _, x := range l {
		if x <= d {
			n++
		}
	}
	return float64(n) / float64(len(l))
}

func percentiles(l []time.Duration) (time.Duration, time.Duration) {
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	return l[len(l)/2], l[len(l)*99/100]
}
