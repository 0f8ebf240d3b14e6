package api

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// plain400 is what net/http writes, in one Write, for a request it cannot
// parse; a caller can store text that says the same.
const plain400 = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: planted"

// listening serves h on a new loopback listener wrapped by Listener, as
// cmd/tally serves the API, and returns its address.
func listening(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(Listener(hs, ln)) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// TestAnAnswerHoldingNetHTTPsOwn400IsLeftAlone: an answer whose body holds
// the bytes of net/http's plain 400 (text a caller stored, shown on a
// page) reaches the client as written wherever those bytes fall, at the
// start of one of the 4 KiB writes net/http makes of a long body too.
// Before the connections were marked while answering, the write that
// began with them was replaced by a problem document.
func TestAnAnswerHoldingNetHTTPsOwn400IsLeftAlone(t *testing.T) {
	body := func(at int) []byte {
		b := bytes.Repeat([]byte("x"), 12<<10)
		copy(b[at:], plain400)
		return b
	}
	addr := listening(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, _ := strconv.Atoi(r.URL.Query().Get("at"))
		b := body(at)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}))
	client := &http.Client{}
	for at := 3500; at < 4400; at++ { // the header is a few hundred bytes: the planted bytes cross offset 4096
		res, err := client.Get("http://" + addr + "/?at=" + strconv.Itoa(at))
		if err != nil {
			t.Fatalf("planted at %d: %v", at, err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || !bytes.Equal(got, body(at)) {
			i := bytes.Index(got, []byte("HTTP/1.1 400"))
			t.Fatalf("planted at %d: status %d, %v; the body differs from what was written (a 400 at %d): %.200q", at, res.StatusCode, err, i, got[max(i, 0):])
		}
	}
}

// TestAMalformedRequestAfterAnAnswerIsAProblem: on a connection that
// answered a request, a next request net/http cannot parse is still
// answered as a problem document (the mark is cleared once the answer is
// written).
func TestAMalformedRequestAfterAnAnswerIsAProblem(t *testing.T) {
	addr := listening(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i, req := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"} {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want, ct := 200, ""
		if i == 1 {
			want, ct = 400, "application/problem+json"
		}
		if res.StatusCode != want || ct != "" && res.Header.Get("Content-Type") != ct || i == 1 && !strings.Contains(string(b), `"malformed_request"`) {
			t.Fatalf("request %d: %d %s %s, want %d %s", i, res.StatusCode, res.Header.Get("Content-Type"), b, want, ct)
		}
	}
}
