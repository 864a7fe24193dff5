// Package clientip finds the address a request came from and carries it
// through a context, for throttling and the audit log.
package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// FromRequest returns the client's address. With trustedHops > 0 the server
// sits behind that many proxies, each appending the address it saw to
// X-Forwarded-For: the client is the entry trustedHops from the right
// (1 = the right-most, written by the proxy next to us). Entries to its
// left were written by the client or by proxies we do not trust, so they
// are never read. All X-Forwarded-For header lines count, in order, as one
// comma-separated list. When that entry is missing or is not an address,
// or trustedHops is 0, the connection's peer is the client.
//
// The address is returned in canonical form, IPv4-mapped IPv6 addresses as
// IPv4.
func FromRequest(r *http.Request, trustedHops int) string {
	if trustedHops > 0 {
		if a, ok := forwardedFor(r.Header.Values("X-Forwarded-For"), trustedHops); ok {
			return a.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// forwardedFor returns the address hops entries from the right of the
// X-Forwarded-For lines.
func forwardedFor(lines []string, hops int) (netip.Addr, bool) {
	var entries []string
	for _, l := range lines {
		entries = append(entries, strings.Split(l, ",")...)
	}
	if hops > len(entries) {
		return netip.Addr{}, false
	}
	return parseEntry(strings.TrimSpace(entries[len(entries)-hops]))
}

// parseEntry reads an X-Forwarded-For entry: an address, or an address with
// a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), which some proxies write.
func parseEntry(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// Key returns what per-address limits count against for addr: an IPv4
// address as it is, an IPv6 address as its /64 network (one subscriber
// usually holds a whole /64, so counting single IPv6 addresses would let
// one client rotate through 2^64 of them). IPv4-mapped IPv6 addresses count
// as their IPv4 address. Anything that is not an address is its own key.
func Key(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

type ctxKey struct{}

// NewContext returns ctx carrying ip.
func NewContext(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ctxKey{}, ip)
}

// FromContext returns the client address in ctx, or "".
func FromContext(ctx context.Context) string {
	ip, _ := ctx.Value(ctxKey{}).(string)
	return ip
}
