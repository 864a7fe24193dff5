// Package server assembles Rollcall's HTTP surface: the GraphQL endpoint and
// its middleware (authentication, CORS, body limits, request logs, metrics),
// GraphiQL, and the health and metrics endpoints.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollcall/rollcall/graph"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/graphiql"
	"github.com/rollcall/rollcall/internal/tracing"
	"github.com/rollcall/rollcall/internal/viewer"
	"github.com/rollcall/rollcall/internal/web"
)

// Options configure the HTTP handler.
type Options struct {
	Resolver    *graph.Resolver
	Export      http.Handler // GET /export/users.csv, behind authentication
	Webhook     http.Handler // POST /webhooks/mailgun, public (it checks Mailgun's signature)
	SCIM        http.Handler // /scim/v2/…, SCIM 2.0 (it authenticates its API keys itself); nil: not served
	Auth        *auth.Service
	Limits      graph.Limits
	MaxBody     int64    // bytes of a JSON request body
	CORSOrigins []string // browser origins allowed to call the API; "*" for any
	CORSHeaders []string // request headers allowed besides DefaultCORSHeaders
	TrustProxy  int      // proxies in front that append to X-Forwarded-For (clientip.FromRequest); 0 = none
	Conns       ConnLimits
	Persisted   graph.PersistedQueries
	Tracer      trace.Tracer // nil: tracing off
	Ready       func(context.Context) error
	Log         *slog.Logger
}

// New returns the root HTTP handler.
func New(opts Options) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)

	origins := originPolicy{origins: opts.CORSOrigins}
	gql := graph.NewServer(opts.Resolver, graph.ServerOptions{
		Limits:      opts.Limits,
		Log:         opts.Log,
		CheckOrigin: origins.websocketAllowed,
		Admit:       limitOperations,
		Persisted:   opts.Persisted,
		Tracer:      opts.Tracer,
	})
	ws := newWebsocketCaps(opts.Conns)

	mux := http.NewServeMux()
	mux.Handle("/graphql", m.instrument("/graphql", origins.guardWebsocket(ws.guard(limitBody(opts.MaxBody, opts.Limits.MaxUpload, authenticate(opts.Auth, opts.Log, gql))))))
	mux.Handle("GET /export/users.csv", m.instrument("/export/users.csv", authenticate(opts.Auth, opts.Log, opts.Export)))
	if opts.SCIM != nil {
		mux.Handle("/scim/v2/", m.instrument("/scim/v2", opts.SCIM))
	}
	pages := web.New(opts.Resolver.Invites, opts.Log)
	mux.Handle("POST /webhooks/mailgun", m.instrument("/webhooks/mailgun", opts.Webhook))
	mux.Handle(credentials.AcceptPath, m.instrument(credentials.AcceptPath, pages))
	mux.Handle(credentials.ResetPath, m.instrument(credentials.ResetPath, pages))
	if !opts.Persisted.Only {
		// GraphiQL's documents are not persisted: it could run nothing.
		gi := m.instrument("/graphiql", graphiql.Handler())
		mux.Handle("GET /graphiql", gi)
		mux.Handle("GET /graphiql/", gi)
		mux.Handle("GET /{$}", http.RedirectHandler("/graphiql", http.StatusFound))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := opts.Ready(ctx); err != nil {
			opts.Log.WarnContext(ctx, "not ready", slog.String("error", err.Error()))
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	pf := preflight{origins: origins, methods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		headers: append(slices.Clone(DefaultCORSHeaders), opts.CORSHeaders...), log: opts.Log}
	c := cors.New(cors.Options{
		// A func, not AllowedOrigins: rs/cors reads an empty list as "any".
		AllowOriginFunc: origins.allowed,
		AllowedMethods:  pf.methods,
		AllowedHeaders:  pf.headers,
		MaxAge:          600,
	})
	var h http.Handler = withClientIP(opts.TrustProxy, recoverPanics(opts.Log, logRequests(opts.Log, pf.logRefusals(c.Handler(mux)))))
	if opts.Tracer != nil {
		h = tracing.Handler(opts.Tracer, h)
	}
	return h
}

// originPolicy is the configured list of browser origins, applied to CORS and
// to websockets (which browsers open without CORS).
type originPolicy struct{ origins []string }

// allowed reports whether a browser page of origin may call the API.
func (p originPolicy) allowed(origin string) bool {
	return slices.Contains(p.origins, "*") || slices.ContainsFunc(p.origins, func(a string) bool {
		return strings.EqualFold(strings.TrimRight(a, "/"), origin)
	})
}

func (p originPolicy) websocketAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true // same origin, e.g. GraphiQL served here
	}
	return p.allowed(origin)
}

// guardWebsocket refuses websocket upgrades from origins the policy does not
// allow, before the GraphQL transport sees them.
func (p originPolicy) guardWebsocket(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) && !p.websocketAllowed(r) {
			writeError(w, http.StatusForbidden, "FORBIDDEN", "origin not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate puts the viewer of a valid bearer token (a session token or
// an API key) in the request context. Without an Authorization header the
// request is anonymous (public operations work, the rest answer
// UNAUTHENTICATED); with one that is not a valid session or key it is
// refused with 401, the same answer whatever is wrong with it, never taken
// for anonymous; and when it cannot be checked (the database is down) with
// 503.
func authenticate(a *auth.Service, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := graph.BearerToken(header)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", `authorization must be "Bearer <token>"`)
			return
		}
		v, err := a.Authenticate(r.Context(), tok)
		if errors.Is(err, auth.ErrInvalidSession) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid, expired or revoked token; sign in again or use a valid API key")
			return
		}
		if err != nil {
			log.ErrorContext(r.Context(), "authenticate request", slog.String("error", err.Error()))
			writeError(w, http.StatusServiceUnavailable, "INTERNAL", "internal error")
			return
		}
		next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), v)))
	})
}

func withClientIP(trustProxy int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(clientip.NewContext(r.Context(), clientip.FromRequest(r, trustProxy))))
	})
}

func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "handler panicked", slog.Any("panic", p), slog.String("path", r.URL.Path))
				writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
