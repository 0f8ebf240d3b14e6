package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// Listener wraps the listener the API is served on by hs so that a
// request the HTTP server cannot parse (a request line with malformed
// percent-encoding such as /v1/customers/%zz, a malformed header) is
// answered as a problem document, 400 malformed_request, like every other
// error. net/http answers such a request itself, in plain text, before any
// handler sees it. It sets hs's ConnContext, ConnState and Handler (each
// keeping what hs had): a connection is marked as answering from the
// moment a handler starts until net/http has written the whole answer and
// waits for the next request (http.StateIdle), and only a connection not
// answering may have its writes rewritten. Without the mark, a page's
// body, which net/http writes 4 KiB at a time, could start a write with
// text stored by a caller (a reason) that mimicked net/http's plain 400,
// and have it rewritten in the middle of its answer.
func Listener(hs *http.Server, ln net.Listener) net.Listener {
	connContext, connState, handler := hs.ConnContext, hs.ConnState, hs.Handler
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		if pc, ok := c.(*problemConn); ok {
			ctx = context.WithValue(ctx, problemConnKey{}, pc)
		}
		return ctx
	}
	hs.ConnState = func(c net.Conn, state http.ConnState) {
		if pc, ok := c.(*problemConn); ok && state == http.StateIdle {
			pc.answering.Store(false)
		}
		if connState != nil {
			connState(c, state)
		}
	}
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pc, ok := r.Context().Value(problemConnKey{}).(*problemConn); ok {
			pc.answering.Store(true)
		}
		handler.ServeHTTP(w, r)
	})
	return problemListener{ln}
}

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

// problemConnKey holds a request's connection in its context.
type problemConnKey struct{}

// problemConn rewrites net/http's answer to a request it cannot parse. That
// answer is written in one Write straight to the connection, which is then
// closed: a 400 status line followed by exactly plainHeaders, while no
// handler is answering on the connection.
type problemConn struct {
	net.Conn
	answering atomic.Bool // a handler's answer is being written
}

var (
	badRequestLine = []byte("HTTP/1.1 400 Bad Request")
	plainHeaders   = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")
)

func (c *problemConn) Write(b []byte) (int, error) {
	if c.answering.Load() || !bytes.HasPrefix(b, badRequestLine) {
		return c.Conn.Write(b)
	}
	_, rest, ok := bytes.Cut(b, plainHeaders)
	if !ok || bytes.IndexByte(b[:len(b)-len(rest)-len(plainHeaders)], '\n') >= 0 {
		return c.Conn.Write(b)
	}
	detail := "the request cannot be parsed: its request line or a header is malformed (a path must be properly percent-encoded)"
	if _, why, ok := bytes.Cut(rest, []byte("400 Bad Request: ")); ok {
		detail = "the request cannot be parsed: " + string(why)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	p := Problem{Type: "urn:tally:problem:" + string(fault.MalformedRequest), Title: title(fault.MalformedRequest),
		Status: http.StatusBadRequest, Detail: detail, Code: fault.MalformedRequest, RequestID: hex.EncodeToString(id)}
	var body bytes.Buffer
	_ = encodeJSON(&body, p)
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\n%s: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		echo.HeaderXRequestID, p.RequestID, body.Len())
	out.Write(body.Bytes())
	if _, err := c.Conn.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseWrite lets net/http half-close the connection as it would the
// connection wrapped.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
