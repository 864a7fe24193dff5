package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/viewer"
)

// sseTransport is graphql-sse's distinct-connections mode (one operation
// per POST with Accept: text/event-stream) with Rollcall's rules for a
// long-lived connection, as on a websocket: it needs a valid session or API
// key (the HTTP middleware has checked the Authorization header; a missing
// one is refused like a bad one), the viewer's rights are read again as
// the operation starts, and the stream ends, saying why, when the session
// ends or the rights change.
type sseTransport struct {
	transport.SSE
	auth *auth.Service
}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	if !checkedBody(w, r) {
		return
	}
	v := viewer.FromContext(ctx)
	if v == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, apperr.Unauthenticated, errNoSSESession)
		return
	}
	ctx = context.WithValue(ctx, longLivedKey{}, true)
	ctx = t.auth.Watch(ctx, v)
	t.SSE.Do(w, r.WithContext(ctx), endingExecutor{GraphExecutor: exec, watched: ctx})
}

// errNoSSESession answers an event stream asked for without a valid
// credential.
const errNoSSESession = "a valid session or API key is required: send Authorization: Bearer <token>"

// checkedBody reads a JSON request body and checks that it is a GraphQL
// request (query, operationName, variables, extensions), answering
// BAD_USER_INPUT when not. gqlgen's streaming transports would log a body
// they cannot decode whole, with the standard logger, passwords in
// variables included. r.Body is then the body again, for the transport.
func checkedBody(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, apperr.BadUserInput, "request body could not be read")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var params graphql.RawParams
	if err := dec.Decode(&params); err != nil {
		writeJSONError(w, http.StatusBadRequest, apperr.BadUserInput,
			"the request body is not a GraphQL request: want a JSON object with query (a string), operationName, variables (an object) and extensions")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// writeJSONError writes a GraphQL-shaped error response.
func writeJSONError(w http.ResponseWriter, status int, code apperr.Code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorResponse(code, message))
}

// endingExecutor adds, to a stream that ends because the session ended or
// the rights changed (watched's cause), one last response saying so, before
// the transport tells the client "complete".
type endingExecutor struct {
	graphql.GraphExecutor
	watched context.Context
}

func (e endingExecutor) DispatchOperation(ctx context.Context, rc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	responses, ctx := e.GraphExecutor.DispatchOperation(ctx, rc)
	told := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp != nil || told {
			return resp
		}
		told = true
		return watchEndResponse(context.Cause(e.watched))
	}, ctx
}

// multipartTransport is gqlgen's multipart/mixed transport (incremental
// delivery of @defer) with its body checked first (see checkedBody).
type multipartTransport struct{ transport.MultipartMixed }

func (t multipartTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !checkedBody(w, r) {
		return
	}
	t.MultipartMixed.Do(w, r.WithContext(withIncremental(r.Context())), exec)
}

// sseKeepAlive is how often an idle event stream gets a comment line, so
// proxies keep it open.
const sseKeepAlive = 15 * time.Second
