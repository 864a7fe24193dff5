package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rollcall/rollcall/graph/generated"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/viewer"
	"github.com/rollcall/rollcall/internal/wsgorilla"
)

// ServerOptions configure the GraphQL handler.
type ServerOptions struct {
	Limits Limits
	Log    *slog.Logger
	// CheckOrigin decides whether a browser page may open a websocket.
	CheckOrigin func(*http.Request) bool
}

// NewServer returns the GraphQL handler for HTTP (GET, POST, multipart) and
// websockets (graphql-transport-ws and graphql-ws). Websockets authenticate
// with the connection_init payload {"authorization": "Bearer …"}.
func NewServer(r *Resolver, opts ServerOptions) *handler.Server {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: r})
	srv := handler.New(schema)
	srv.AddTransport(transport.Websocket{
		Implementation:        &wsgorilla.Implementation{Upgrader: websocket.Upgrader{CheckOrigin: opts.CheckOrigin}},
		InitFunc:              r.websocketInit,
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: opts.Limits.MaxUpload, MaxMemory: 8 << 20})

	srv.SetQueryCache(boundedCache{Cache: lru.New[*ast.QueryDocument](1000), maxBytes: 32 << 10})
	srv.SetParserTokenLimit(max(opts.Limits.MaxTokens, 0))
	srv.Use(extension.Introspection{})
	// After any extension that fills in the query (persisted queries).
	srv.Use(guard{schema: schema.Schema(), limits: opts.Limits})
	present := presentError(opts.Log)
	srv.AroundOperations(deadline(opts.Limits, present))
	srv.AroundRootFields(passwordChangeFirst)
	srv.AroundFields(markResolverErrors)
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(recoverPanic(opts.Log))
	return srv
}

// passwordChangeFirst limits a session with a temporary password to
// changing it (and to reading the viewer and signing out).
func passwordChangeFirst(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	v := viewer.FromContext(ctx)
	if v == nil || !v.MustChangePassword {
		return next(ctx)
	}
	switch graphql.GetRootFieldContext(ctx).Field.Name {
	case "changePassword", "logout", "viewer", "__typename", "__schema", "__type":
		return next(ctx)
	}
	graphql.AddError(ctx, apperr.New(apperr.Forbidden, "choose a new password first (changePassword)"))
	return graphql.Null
}

// websocketInit authenticates a websocket from its connection_init payload.
// No authorization means an anonymous connection; a bad one is refused.
func (r *Resolver) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	var header string
	for k, v := range payload {
		if s, ok := v.(string); ok && strings.EqualFold(k, "authorization") {
			header = s
		}
	}
	if header == "" {
		return ctx, nil, nil
	}
	bearer, ok := BearerToken(header)
	if !ok {
		return refuse(ctx, "authorization must be \"Bearer <token>\"")
	}
	v, err := r.Auth.Authenticate(ctx, bearer)
	if err != nil {
		return refuse(ctx, "invalid or expired session")
	}
	// The connection, and every subscription on it, ends with the session.
	return sessionEndReason(r.Auth.Watch(viewer.NewContext(ctx, v), v)), nil, nil
}

// sessionEndReason returns ctx (from auth.Watch) as a websocket context that
// tells a legacy graphql-ws client "session ended" (a connection_error)
// when ctx ends because its session did. graphql-transport-ws has no such
// message: the socket just closes, and reconnecting is refused (4403).
func sessionEndReason(ctx context.Context) context.Context {
	return closeReasonContext{Context: ctx, withReason: transport.AppendCloseReason(ctx, "session ended")}
}

// closeReasonContext gives gqlgen a close reason only once the session has
// ended: gqlgen reads it when the context is cancelled for whatever cause,
// and a client that went away or a server shutting down is no ended session.
type closeReasonContext struct {
	context.Context
	withReason context.Context // Context plus the close reason
}

func (c closeReasonContext) Value(key any) any {
	if errors.Is(context.Cause(c.Context), auth.ErrSessionEnded) {
		return c.withReason.Value(key)
	}
	return c.Context.Value(key)
}

// refuse ends a websocket handshake with 4403 Forbidden, as
// graphql-transport-ws prescribes for a rejected connection_init.
func refuse(ctx context.Context, reason string) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, reason), 4403)
	return ctx, nil, errors.New(reason)
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" value.
func BearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
