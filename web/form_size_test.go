package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOversizedFormsAreRefused: a page's form is a few fields, so a body
// beyond the API's own bound (1 MiB) is refused with 413 before anyone is
// signed in, urlencoded or multipart: without a bound, any client with a
// sign-in cookie of its own could make the server hold tens of MB per
// request (url-encoded forms to 10 MB, multipart to 32 MB in memory).
func TestOversizedFormsAreRefused(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	pad := strings.Repeat("x", 2<<20)
	c := s.client(t)
	tok := get(t, c, s.srv.URL+"/console/signin").csrf(t)
	if p := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {tok}, "key": {s.keys["admin"]}, "pad": {pad}}); p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB url-encoded sign-in form: %d, want 413", p.status)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("csrf", tok)
	_ = w.WriteField("key", s.keys["admin"])
	f, _ := w.CreateFormFile("pad", "pad.bin")
	_, _ = f.Write([]byte(pad))
	_ = w.Close()
	res, err := c.Post(s.srv.URL+"/console/signin", w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB multipart sign-in form: %d, want 413", res.StatusCode)
	}
	if p := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {tok}, "key": {s.keys["admin"]}}); p.status != http.StatusSeeOther {
		t.Errorf("the same sign-in, of its usual size: %d, want 303", p.status)
	}
}
