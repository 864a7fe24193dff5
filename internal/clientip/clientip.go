// Package clientip finds the address a request came from and carries it
// through a context, for throttling and the audit log.
package clientip

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// FromRequest returns the client's address: the first X-Forwarded-For entry
// when the server sits behind a trusted proxy, else the connection's peer.
func FromRequest(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
			first, _, _ := strings.Cut(fwd, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
