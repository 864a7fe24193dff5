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
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

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
	// Admit, when set, runs first around every operation: a connection's
	// own bounds (subscriptions per websocket) are applied before any
	// work, the database included, is done for it.
	Admit graphql.OperationMiddleware
	// Persisted configures persisted documents (APQ and the manifest).
	Persisted PersistedQueries
	// Tracer, when set, traces operations and resolvers.
	Tracer trace.Tracer
}

// NewServer returns the GraphQL handler for HTTP (GET, POST, multipart) and
// websockets (graphql-transport-ws and graphql-ws). Websockets authenticate
// with the connection_init payload {"authorization": "Bearer …"}.
func NewServer(r *Resolver, opts ServerOptions) *handler.Server {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: r})
	srv := handler.New(schema)
	srv.AddTransport(transport.Websocket{
		Implementation:        &wsgorilla.Implementation{Upgrader: websocket.Upgrader{CheckOrigin: opts.CheckOrigin}, WriteTimeout: opts.Limits.WebsocketWrite},
		InitFunc:              websocketInit(r.Auth, opts.Log),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	// Before POST, which takes every JSON POST whatever it Accepts.
	srv.AddTransport(sseTransport{SSE: transport.SSE{KeepAlivePingInterval: sseKeepAlive}, auth: r.Auth})
	srv.AddTransport(multipartTransport{transport.MultipartMixed{Boundary: "-", DeliveryTimeout: 50 * time.Millisecond}})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: opts.Limits.MaxUpload, MaxMemory: 8 << 20})

	srv.SetQueryCache(boundedCache{Cache: lru.New[*ast.QueryDocument](1000), maxBytes: 32 << 10})
	srv.SetParserTokenLimit(max(opts.Limits.MaxTokens, 0))
	srv.Use(extension.Introspection{})
	if opts.Tracer != nil {
		srv.Use(tracer{opts.Tracer})
	}
	srv.Use(inlineDefer{})
	srv.Use(persistedLoad{p: opts.Persisted, log: opts.Log})
	// After any extension that fills in the query (persisted queries).
	srv.Use(guard{schema: schema.Schema(), limits: opts.Limits})
	// Registers documents that passed the guard and validation.
	srv.Use(persistedRegister{p: opts.Persisted, log: opts.Log})
	if opts.Admit != nil {
		srv.AroundOperations(opts.Admit)
	}
	present := presentError(opts.Log)
	srv.AroundOperations(deadline(opts.Limits, present))
	srv.AroundOperations(currentRights(r.Auth, opts.Log))
	srv.AroundOperations(withStreamEnd)
	srv.AroundResponses(endedStreams(present))
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
// A websocket needs a valid session: a missing and a bad authorization are
// refused alike (4403), and one that cannot be checked (the database is
// down) is refused with 4500.
func websocketInit(a *auth.Service, log *slog.Logger) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		return authenticateWebsocket(ctx, a, log, payload)
	}
}

func authenticateWebsocket(ctx context.Context, a *auth.Service, log *slog.Logger, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	var header string
	for k, v := range payload {
		if s, ok := v.(string); ok && strings.EqualFold(k, "authorization") {
			header = s
		}
	}
	bearer, ok := BearerToken(header)
	if !ok {
		return refuse(ctx, 4403, errNoSession)
	}
	v, err := a.Authenticate(ctx, bearer)
	if errors.Is(err, auth.ErrInvalidSession) {
		return refuse(ctx, 4403, errNoSession)
	}
	if err != nil {
		log.ErrorContext(ctx, "authenticate websocket", slog.String("error", err.Error()))
		return refuse(ctx, 4500, "internal error")
	}
	// The connection, and every subscription on it, ends with the session
	// or when the person's rights change.
	ctx = context.WithValue(ctx, longLivedKey{}, true)
	return sessionEndReason(a.Watch(viewer.NewContext(ctx, v), v)), nil, nil
}

// errNoSession is the one answer to a missing, malformed, unknown or expired
// credential on a websocket, so the answer does not tell which.
const errNoSession = "a valid session or API key is required: send {\"authorization\": \"Bearer <token>\"} in connection_init"

// longLivedKey marks the context of a connection that outlives one
// operation (a websocket): its viewer is read again for every operation.
type longLivedKey struct{}

// currentRights authorises every operation on a long-lived connection with
// the viewer's current session (or API key), role and permissions, not those
// it had when the connection opened: a demoted person's next operation is
// refused, and so is a revoked or expired key's.
// Requests over plain HTTP authenticate afresh anyway.
func currentRights(a *auth.Service, log *slog.Logger) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		v := viewer.FromContext(ctx)
		if v == nil || ctx.Value(longLivedKey{}) == nil {
			return next(ctx)
		}
		fresh, err := a.Refresh(ctx, v)
		switch {
		case errors.Is(err, auth.ErrInvalidSession) && v.IsKey():
			return graphql.OneShot(errorResponse(apperr.Unauthenticated, "the API key no longer works"))
		case errors.Is(err, auth.ErrInvalidSession):
			return graphql.OneShot(watchEndResponse(auth.ErrSessionEnded))
		case err != nil && ctx.Err() != nil:
			// The session ended, the rights changed or the client left
			// while the operation started: it ends with nothing, and the
			// transport says why.
			return func(context.Context) *graphql.Response { return nil }
		case err != nil:
			log.ErrorContext(ctx, "refresh viewer", slog.String("error", err.Error()))
			return graphql.OneShot(errorResponse(apperr.Internal, "internal error"))
		}
		return next(viewer.NewContext(ctx, fresh))
	}
}

// errorResponse is a response carrying one error with its code.
func errorResponse(code apperr.Code, message string) *graphql.Response {
	return &graphql.Response{Errors: gqlerror.List{{Message: message, Extensions: map[string]any{"code": string(code)}}}}
}

// watchEndResponse tells the client of a long-lived connection why its
// operation ends when the cause (of auth.Watch's context) is an ended
// session or changed rights; nil for any other cause.
func watchEndResponse(cause error) *graphql.Response {
	switch {
	case errors.Is(cause, auth.ErrSessionEnded):
		return errorResponse(apperr.Unauthenticated, "session ended; sign in again")
	case errors.Is(cause, auth.ErrRightsChanged):
		return errorResponse(apperr.Forbidden, "permissions changed; subscribe again")
	}
	return nil
}

// sessionEndReason returns ctx (from auth.Watch) as a websocket context that
// tells a legacy graphql-ws client "session ended" or "permissions changed"
// (a connection_error) when ctx ends for that cause. graphql-transport-ws has
// no such message: the socket just closes; reconnecting is refused (4403)
// after an ended session, and authorised afresh after changed permissions.
func sessionEndReason(ctx context.Context) context.Context {
	return closeReasonContext{Context: ctx,
		ended:   transport.AppendCloseReason(ctx, auth.ErrSessionEnded.Error()),
		demoted: transport.AppendCloseReason(ctx, auth.ErrRightsChanged.Error())}
}

// closeReasonContext gives gqlgen a close reason only once the session has
// ended or the rights changed: gqlgen reads it when the context is cancelled
// for whatever cause, and a client that went away or a server shutting down
// is neither.
type closeReasonContext struct {
	context.Context
	ended, demoted context.Context // Context plus the close reason
}

func (c closeReasonContext) Value(key any) any {
	switch cause := context.Cause(c.Context); {
	case errors.Is(cause, auth.ErrSessionEnded):
		return c.ended.Value(key)
	case errors.Is(cause, auth.ErrRightsChanged):
		return c.demoted.Value(key)
	}
	return c.Context.Value(key)
}

// refuse ends a websocket handshake with code: 4403 Forbidden, as
// graphql-transport-ws prescribes for a rejected connection_init, or 4500.
func refuse(ctx context.Context, code int, reason string) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, reason), code)
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
