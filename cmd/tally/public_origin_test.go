package main

import (
	"net/http"
	"testing"
)

// TALLY_PUBLIC_URL becomes the origin a browser writes, which the pages
// trust forms from and the API builds links on; what is no scheme and host
// is refused. (Found by review: "https://h/?" and "https://h/%2F" passed
// serve's check and made the pages panic at startup; "HTTPS://H:443" was
// trusted as written, which no browser sends.)
func TestPublicOrigin(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                 "",
		"https://loyalty.example.com":      "https://loyalty.example.com",
		"https://loyalty.example.com/":     "https://loyalty.example.com",
		"HTTPS://Loyalty.Example.com:443/": "https://loyalty.example.com",
		"http://loyalty.example.com:80":    "http://loyalty.example.com",
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080",
		"https://loyalty.example.com:8443": "https://loyalty.example.com:8443",
		"http://[::1]:8080/":               "http://[::1]:8080",
		"https://[2001:DB8::1]":            "https://[2001:db8::1]",
	} {
		got, ok := publicOrigin(raw)
		if !ok || got != want {
			t.Errorf("publicOrigin(%q) = %q, %v; want %q", raw, got, ok, want)
			continue
		}
		if got != "" {
			if err := http.NewCrossOriginProtection().AddTrustedOrigin(got); err != nil {
				t.Errorf("publicOrigin(%q) = %q, which is no origin: %v", raw, got, err)
			}
		}
	}
	for _, raw := range []string{"https://loyalty.example.com/?", "https://loyalty.example.com/#",
		"https://loyalty.example.com/?a=1", "https://loyalty.example.com/%2F", "https://loyalty.example.com/portal",
		"ftp://loyalty.example.com", "https://user@loyalty.example.com", "loyalty.example.com", "https://",
		"https:loyalty.example.com", "https://:443"} {
		if got, ok := publicOrigin(raw); ok {
			t.Errorf("publicOrigin(%q) = %q, want it refused", raw, got)
		}
	}
}
