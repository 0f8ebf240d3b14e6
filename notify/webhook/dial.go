package webhook

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// allowList is Config.Hosts: exact host names, and "*.example.com" for the
// subdomains of example.com.
type allowList struct {
	exact    map[string]bool
	suffixes []string // ".example.com"
}

func newAllowList(hosts []string) allowList {
	a := allowList{exact: map[string]bool{}}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case strings.HasPrefix(h, "*."):
			a.suffixes = append(a.suffixes, h[1:])
		default:
			a.exact[strings.Trim(h, "[]")] = true
		}
	}
	return a
}

func (a allowList) allows(host string) bool {
	host = strings.ToLower(host)
	if a.exact[host] {
		return true
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

// checkURL refuses a URL deliveries may not go to: not http(s), too long,
// with credentials or a fragment, a host off the allow-list, or an address
// that is loopback or private unless loopback is allowed.
//
// Errors: fault.Invalid, fault.HostNotAllowed.
func (a allowList) checkURL(raw string, loopback bool) error {
	_, err := a.parseURL(raw, loopback)
	return err
}

// parseURL is the URL, parsed, unless checkURL refuses it.
func (a allowList) parseURL(raw string, loopback bool) (*url.URL, error) {
	if len(raw) > MaxURLBytes {
		return nil, fault.InvalidField("url", "too long: at most 2048 bytes")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
		return nil, fault.InvalidField("url", "an absolute http or https URL")
	case u.User != nil:
		return nil, fault.InvalidField("url", "no user name or password in the URL: authenticate by the signature")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fault.InvalidField("url", "no fragment")
	}
	host := u.Hostname()
	if !a.allows(host) {
		return nil, &fault.Error{Code: fault.HostNotAllowed, Message: "the host of the URL is not on the allow-list (TALLY_WEBHOOK_HOSTS)",
			Fields: map[string]string{"url": "host not allowed"}}
	}
	if ip, err := netip.ParseAddr(host); err == nil && !loopback && private(ip) {
		return nil, &fault.Error{Code: fault.HostNotAllowed, Message: "the URL is on a loopback or private address",
			Fields: map[string]string{"url": "private address"}}
	}
	u.Host = strings.TrimSuffix(u.Host, ":") // an empty port is the scheme's, as http.NewRequest reads it
	return u, nil
}

// private reports whether ip is an address no delivery may reach unless
// loopback is allowed: loopback, private, link-local, CGNAT, unspecified,
// "this network" (0.0.0.0/8) or multicast, or an IPv6 address that carries
// such an IPv4 address to a translator or tunnel (NAT64, 6to4,
// IPv4-compatible, IPv4-translated); NAT64's local-use prefix is private
// whole.
func private(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip), ipv4Compatible.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified(),
			ipv4Translated.Contains(ip):
			return private(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return private(netip.AddrFrom4([4]byte(b[2:6])))
		case nat64Local.Contains(ip):
			return true
		}
	}
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() ||
		cgnat.Contains(ip) || thisNetwork.Contains(ip)
}

// The prefixes private reads beyond netip's classes.
var (
	cgnat          = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	ipv4Compatible = netip.MustParsePrefix("::/96")
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// errPrivateAddress is the dial refused because the resolved address is
// private.
var errPrivateAddress = errors.New("refused to dial a loopback or private address")

// newTransport is what deliveries are sent with: dials and answers'
// headers bounded by timeout (send bounds the whole request by it), no
// proxy (the address dialled is the one checked), the address checked
// after resolution at each dial, and, sent by the transport alone,
// redirects never followed (the 3xx is the answer, a failure). It keeps
// up to perHost idle connections to a host, the sends one endpoint may
// have in flight, so that a batch of them reuses its connections instead
// of dialling again.
func newTransport(timeout time.Duration, loopback bool, perHost int) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || (!loopback && private(ip)) {
			return errPrivateAddress
		}
		return nil
	}}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConnsPerHost:    perHost,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
}
