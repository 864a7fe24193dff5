package webhookout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rollcall/rollcall/internal/apperr"
)

// The address rules keep endpoints from reaching into the network Rollcall
// runs in (server-side request forgery): an endpoint's URL is https, and its
// host must resolve to public addresses only. They are checked when the URL
// is saved and again on every connection, on the address actually dialled
// (a net.Dialer Control function), so a name that resolves to a public
// address when saved and to a private one later (DNS rebinding) is still
// refused. No proxy is used, and redirects are not followed.

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// nonPublic are the ranges outside the public internet that netip's own
// predicates (loopback, private, link-local, multicast, unspecified) do not
// cover, or that can carry one of those addresses inside them.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT (shared address space)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and the broadcast address
		"::/96",           // IPv4-compatible IPv6 (deprecated)
		"64:ff9b::/96",    // NAT64: may carry any IPv4 address
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo included)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: may carry any IPv4 address
		"3fff::/20",       // documentation
		"fec0::/10",       // site-local (deprecated)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether a is an address of the public internet: not
// loopback, private (RFC 1918, unique-local fc00::/7), link-local (the cloud
// metadata address 169.254.169.254 included), unspecified, multicast,
// carrier-grade NAT, or another special range; IPv4-mapped IPv6 addresses
// are judged as the IPv4 address they carry.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// errNotPublic is a refused address.
type errNotPublic struct{ addr netip.Addr }

func (e errNotPublic) Error() string {
	return fmt.Sprintf("refused to connect to %s: not a public address", e.addr)
}

// guard is the dialer's Control: it refuses, unless private addresses are
// allowed, every address that is not public, whatever name led to it.
func (s *Service) guard(_, address string, _ syscall.RawConn) error {
	if s.cfg.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused to connect to %q: %w", address, err)
	}
	if !Public(ap.Addr()) {
		return errNotPublic{ap.Addr().Unmap()}
	}
	return nil
}

// newClient returns the HTTP client that calls endpoints: no proxy (a proxy
// would be what the guard sees), the guard on every connection, no
// redirects, the configured timeout for the whole call.
func (s *Service) newClient() *http.Client {
	dialer := &net.Dialer{Timeout: s.cfg.Timeout, KeepAlive: 30 * time.Second, Control: s.guard}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           s.dialer(dialer),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   s.cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       s.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialer resolves the host with the service's resolver and dials its
// addresses in turn through d, whose Control guards each.
func (s *Service) dialer(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		addrs, err := s.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, a := range addrs {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// lookup returns host's addresses: itself when it is an address literal.
func (s *Service) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := s.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("look up %s: no addresses", host)
	}
	return addrs, nil
}

// maxURL is the longest endpoint URL accepted.
const maxURL = 2000

// checkURL validates an endpoint URL (field names the input field) and
// returns it as stored: absolute, https (http too with AllowPrivate), no
// user information or fragment, a host resolving to public addresses only
// (any with AllowPrivate).
func (s *Service) checkURL(ctx context.Context, field, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	bad := func(msg string, args ...any) (string, error) {
		return "", apperr.Invalid(field, fmt.Sprintf(msg, args...))
	}
	if raw == "" || len(raw) > maxURL {
		return bad("a webhook URL has 1 to %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("the webhook URL must be an absolute URL such as https://example.com/webhooks")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !s.cfg.AllowPrivate {
			return bad("the webhook URL must use https")
		}
	default:
		return bad("the webhook URL must use https, not %s", u.Scheme)
	}
	if u.User != nil {
		return bad("the webhook URL must not hold a user name or password")
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return bad("the webhook URL must not have a fragment (#…)")
	}
	host := u.Hostname()
	if host == "" {
		return bad("the webhook URL needs a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("the webhook URL's port %q is not a port number", p)
		}
	}
	if !s.cfg.AllowPrivate {
		if strings.Contains(host, "%") {
			return bad("the webhook URL's host must be a public address")
		}
		lookup, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		addrs, err := s.lookup(lookup, host)
		if err != nil {
			return bad("the webhook URL's host %s could not be resolved", host)
		}
		for _, a := range addrs {
			if !Public(a) {
				return bad("the webhook URL's host %s resolves to %s, which is not a public address", host, a.Unmap())
			}
		}
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u.String(), nil
}
