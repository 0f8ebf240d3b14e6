package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// Listener wraps the listener the API is served on so that a request the
// HTTP server cannot parse (a request line with malformed percent-encoding
// such as /v1/customers/%zz, a malformed header) is answered as a problem
// document, 400 malformed_request, like every other error. net/http answers
// such a request itself, in plain text, before any handler sees it.
func Listener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return problemConn{c}, nil
}

// problemConn rewrites net/http's answer to a request it cannot parse. That
// answer is written in one Write straight to the connection, which is then
// closed: a 400 status line followed by exactly plainHeaders. A handler's
// answer never matches, as net/http writes its headers sorted by name.
type problemConn struct{ net.Conn }

var (
	badRequestLine = []byte("HTTP/1.1 400 Bad Request")
	plainHeaders   = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")
)

func (c problemConn) Write(b []byte) (int, error) {
	if !bytes.HasPrefix(b, badRequestLine) {
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
func (c problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
