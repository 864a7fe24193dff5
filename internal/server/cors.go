package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// DefaultCORSHeaders are the request headers a browser page may send to the
// API: the ones Rollcall reads, and the ones common GraphQL and tracing
// clients add (Apollo Client's client awareness, W3C trace context, Sentry).
// ROLLCALL_CORS_HEADERS adds to them.
var DefaultCORSHeaders = []string{
	"Authorization", "Content-Type", "Accept",
	"Apollo-Require-Preflight", "apollographql-client-name", "apollographql-client-version",
	"X-Apollo-Operation-Name",
	"traceparent", "tracestate", "sentry-trace", "baggage",
}

// preflight is the CORS policy as far as it decides a preflight, used to
// say why one was refused: rs/cors answers a refused preflight without the
// Access-Control-Allow-* headers, and the browser alone learns that.
type preflight struct {
	origins originPolicy
	methods []string
	headers []string
	log     *slog.Logger
}

// logRefusals logs every preflight the CORS handler refuses, with the reason.
func (p preflight) logRefusals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
			return
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			return
		}
		p.log.WarnContext(r.Context(), "CORS preflight refused",
			slog.String("reason", p.reason(r)),
			slog.String("origin", r.Header.Get("Origin")),
			slog.String("path", r.URL.Path),
			slog.String("method", r.Header.Get("Access-Control-Request-Method")),
			slog.String("headers", strings.Join(r.Header.Values("Access-Control-Request-Headers"), ",")))
	})
}

// reason says why the policy refuses the preflight r.
func (p preflight) reason(r *http.Request) string {
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return "no Origin header"
	case !p.origins.allowed(origin):
		return "origin " + origin + " is not in ROLLCALL_CORS_ORIGINS"
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(p.methods, strings.ToUpper(method)) {
		return "method " + method + " is not allowed"
	}
	var refused []string
	for _, line := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(line, ",") {
			h = strings.TrimSpace(h)
			if h != "" && !slices.ContainsFunc(p.headers, func(a string) bool { return strings.EqualFold(a, h) }) {
				refused = append(refused, h)
			}
		}
	}
	if len(refused) > 0 {
		return "request headers not allowed (add them to ROLLCALL_CORS_HEADERS): " + strings.Join(refused, ", ")
	}
	return "refused by the CORS policy"
}
