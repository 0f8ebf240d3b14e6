package webhook

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// referenceSign is the scheme's signature built the plain way, with
// strings: the reference Sign's allocation-lean one must equal.
func referenceSign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook: secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// TestSignIsTheStandardWebhooksSignatureForAnySecretAndID: for keys of 0
// to 200 bytes (past the stack buffer), ids past the header buffer,
// negative instants and malformed base64, Sign equals the reference
// (signature and error); both secrets of a rotation sign one header that
// the Standard Webhooks library verifies under each; a bad secret fails it.
func TestSignIsTheStandardWebhooksSignatureForAnySecretAndID(t *testing.T) {
	at := time.Unix(1796014800, 0)
	body := []byte(`{"id":"ntf_1","type":"t","data":{}}`)
	var secrets []string
	for n := 0; n <= 200; n++ {
		k := make([]byte, n)
		for i := range k {
			k[i] = byte(i*7 + n)
		}
		secrets = append(secrets, "whsec_"+base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(k))
	}
	bad := []string{"whsec_", "whsec_a", "whsec_ab", "whsec_abc", "whsec_abcde", "whsec_!!!!", "whsec_YWJj\nZA==", "whsec_YWJjZA", "whsec_YWJjZA=", "whsec_YW Jj", "whsec_" + strings.Repeat("A", 87) + "=", "whsec_" + strings.Repeat("QUJD", 30) + "x"}
	secrets = append(secrets, bad...)
	ids := []string{"ntf_1", "", strings.Repeat("x", 127), strings.Repeat("y", 128), strings.Repeat("z", 500)}
	for _, s := range secrets {
		for _, id := range ids {
			for _, when := range []time.Time{at, time.Unix(-5, 0), time.Unix(0, 0)} {
				got, gerr := Sign(s, id, when, body)
				want, werr := referenceSign(s, id, when, body)
				if got != want || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
					t.Fatalf("secret %q id %d: got %q %v, old %q %v", s, len(id), got, gerr, want, werr)
				}
			}
		}
	}
	// Rotation: both signatures in one header, each verifies with the library.
	s1, s2 := secrets[64], secrets[66]
	hdr, err := signatures([]string{s1, s2}, "ntf_9", at, body)
	if err != nil {
		t.Fatal(err)
	}
	o1, _ := referenceSign(s1, "ntf_9", at, body)
	o2, _ := referenceSign(s2, "ntf_9", at, body)
	if hdr != o1+" "+o2 {
		t.Fatalf("header %q, want %q", hdr, o1+" "+o2)
	}
	for _, s := range []string{s1, s2} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", "ntf_9")
		h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("webhook-signature", hdr)
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Fatalf("library refuses %q under %q: %v", hdr, s, err)
		}
	}
	if _, err := signatures([]string{s1, "whsec_!!"}, "ntf_9", at, body); err == nil {
		t.Fatal("a bad second secret signed")
	}
}

// serviceDialling is a Service with no ledger (send needs none) whose
// transport dials addr whatever the URL's host.
func serviceDialling(t *testing.T, addr string, timeout time.Duration) *Service {
	s := New(nil, Config{Now: time.Now, Timeout: timeout, AllowLoopback: true, Hosts: []string{"example.test", "example.com", "127.0.0.1"}})
	d := &net.Dialer{}
	s.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	t.Cleanup(s.transport.CloseIdleConnections)
	return s
}

func sampleJob(url string) job {
	return job{url: url, id: "ntf_1", secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}, body: []byte(`{"a":1}`)}
}

// TestAnEmptyPortIsDroppedFromTheHostHeader: a URL with an empty port
// ("host:") is sent with the Host header http.NewRequest gives it, the
// host alone.
func TestAnEmptyPortIsDroppedFromTheHostHeader(t *testing.T) {
	hosts := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		w.WriteHeader(204)
	}))
	defer srv.Close()
	s := serviceDialling(t, srv.Listener.Addr().String(), 5*time.Second)
	o := s.send(context.Background(), sampleJob("http://example.test:/hook"))
	if !o.ok() {
		t.Fatalf("send: %+v", o)
	}
	req, _ := http.NewRequest("POST", "http://example.test:/hook", nil)
	if got := <-hosts; got != req.Host {
		t.Errorf("Host header %q, http.NewRequest's (the old send's) %q", got, req.Host)
	}
}

// TestATricklingReceiverHoldsASendNoLongerThanTheTimeout: a receiver that trickles
// its status line and headers a byte at a time, or sends its headers and
// trickles its body, holds a send no longer than about the timeout.
func TestATricklingReceiverHoldsASendNoLongerThanTheTimeout(t *testing.T) {
	for _, phase := range []string{"headers", "body"} {
		t.Run(phase, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				head := "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
				if phase == "body" {
					_, _ = c.Write([]byte(head))
					head = strings.Repeat("x", 100000)
				}
				for i := 0; i < len(head); i++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := c.Write([]byte{head[i]}); err != nil {
						return
					}
				}
			}()
			s := serviceDialling(t, ln.Addr().String(), 600*time.Millisecond)
			start := time.Now()
			o := s.send(context.Background(), sampleJob("http://127.0.0.1/hook"))
			took := time.Since(start)
			t.Logf("%s: took %v, outcome %+v", phase, took, o)
			if took > 3*time.Second {
				t.Errorf("send took %v with a 600ms timeout", took)
			}
			if phase == "headers" && (o.ok() || !strings.HasPrefix(o.err, "timeout: no answer within 600ms")) {
				t.Errorf("outcome %+v, want the timeout", o)
			}
		})
	}
}

// TestSendsGoSignedOverHTTP2AndReuseTheirConnection: over TLS the request goes as HTTP/2
// with the signature headers, the Host of the URL, and ten sends in a
// row share one connection; over HTTP/1.1 too.
func TestSendsGoSignedOverHTTP2AndReuseTheirConnection(t *testing.T) {
	for _, tls := range []bool{true, false} {
		t.Run(fmt.Sprint("tls ", tls), func(t *testing.T) {
			var mu = make(chan struct{}, 1)
			conns := 0
			type seen struct {
				proto     int
				host, sig string
				body      string
			}
			got := make(chan seen, 20)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.ProtoMajor, r.Host, r.Header.Get("webhook-signature"), string(b)}
				w.Write([]byte(strings.Repeat("y", 10000)))
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					mu <- struct{}{}
					conns++
					<-mu
				}
			}
			if tls {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			s := serviceDialling(t, srv.Listener.Addr().String(), 5*time.Second)
			if tls {
				s.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			}
			scheme := map[bool]string{true: "https", false: "http"}[tls]
			for i := range 10 {
				j := sampleJob(scheme + "://example.com/hook")
				j.id = fmt.Sprint("ntf_", i)
				o := s.send(context.Background(), j)
				if !o.ok() {
					t.Fatalf("send %d: %+v", i, o)
				}
				x := <-got
				want := map[bool]int{true: 2, false: 1}[tls]
				if x.proto != want || x.host != "example.com" || x.body != `{"a":1}` {
					t.Fatalf("request %+v", x)
				}
				wh, _ := standardwebhooks.NewWebhook(j.secrets[0])
				h := http.Header{}
				h.Set("webhook-id", j.id)
				h.Set("webhook-timestamp", strconv.FormatInt(o.at.Unix(), 10))
				h.Set("webhook-signature", x.sig)
				if err := wh.VerifyIgnoringTimestamp([]byte(x.body), h); err != nil {
					t.Fatal(err)
				}
			}
			mu <- struct{}{}
			defer func() { <-mu }()
			if conns != 1 {
				t.Errorf("%d connections for ten sends in a row, want 1", conns)
			}
		})
	}
}

// TestASilentTLSPeerIsLoggedAsTheTimeout: a peer that accepts the connection
// and never answers the TLS handshake is logged as the timeout, whichever
// bound ends the wait.
func TestASilentTLSPeerIsLoggedAsTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := serviceDialling(t, ln.Addr().String(), 400*time.Millisecond)
	// The handshake's own bound, cfg.Timeout as well in production, fires
	// first here, as it does there when the dial was quick.
	s.transport.TLSHandshakeTimeout = 100 * time.Millisecond
	start := time.Now()
	o := s.send(context.Background(), sampleJob("https://example.com/hook"))
	if took := time.Since(start); took > 3*time.Second || o.ok() || !strings.HasPrefix(o.err, "timeout: no answer within 400ms") {
		t.Errorf("took %v, outcome %+v", took, o)
	}
}

// TestAnEmptyPortIsDroppedFromTheHTTP2Authority: so is its HTTP/2 authority.
func TestAnEmptyPortIsDroppedFromTheHTTP2Authority(t *testing.T) {
	hosts := make(chan string, 2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- fmt.Sprint(r.ProtoMajor, " ", r.Host)
		w.WriteHeader(204)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	s := serviceDialling(t, srv.Listener.Addr().String(), 5*time.Second)
	s.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	o := s.send(context.Background(), sampleJob("https://example.com:/hook"))
	if !o.ok() {
		t.Fatalf("send: %+v", o)
	}
	if got := <-hosts; got != "2 example.com" {
		t.Errorf("proto and Host %q, want 2 example.com", got)
	}
}
