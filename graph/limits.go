package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits bound what one request may ask for. Each is a setting
// (internal/config); README's Security model explains them. Zero (or less)
// turns a limit off.
type Limits struct {
	MaxDepth         int           // nesting of fields, introspection included
	MaxComplexity    int           // an operation's cost (cost.go)
	MaxUpload        int64         // bytes of a multipart request
	MaxDocumentBytes int           // bytes of the GraphQL document (the query text)
	MaxTokens        int           // lexical tokens of the document
	MaxSelections    int           // fields one selection set collects, fragments expanded
	MaxFields        int           // fields of the whole document, fragments expanded
	MaxList          int           // elements of a list argument, and of all of them together
	OperationTimeout time.Duration // each query and mutation; 0 = none
	ImportTimeout    time.Duration // an operation with importUsers; 0 = none
	// WebsocketWrite bounds one message's write to a websocket: a client
	// that stops reading is disconnected after it, freeing what it held.
	WebsocketWrite time.Duration
}

// DefaultLimits are the limits of docs/api.md. MaxComplexity lets one page of 500
// people with every scalar field and their role (about 13,500) pass, with
// its totalCount and a search, and refuses 20 such pages (about 270,000);
// GraphiQL's introspection query costs about 52,000.
var DefaultLimits = Limits{
	MaxDepth: 15, MaxComplexity: 100_000, MaxUpload: 50 << 20,
	MaxDocumentBytes: 512 << 10, MaxTokens: 15_000, MaxSelections: 200, MaxFields: 10_000, MaxList: 10_000,
	OperationTimeout: 30 * time.Second, ImportTimeout: 10 * time.Minute, WebsocketWrite: 10 * time.Second,
}

// guard refuses a document over the limits before gqlgen validates it:
// validation (the overlapping-fields rule is quadratic) and fragment
// expansion are the expensive parts, and gqlgen runs them before any
// operation-context hook. Being an operation-parameter hook, it must be
// installed after anything that fills in the query (persisted queries).
type guard struct {
	schema *ast.Schema
	limits Limits
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = guard{}

func (guard) ExtensionName() string                   { return "RequestGuard" }
func (guard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters parses the document with the token limit and
// measures it in time linear in its size (each fragment once): the widths of
// its selection sets, its depth and its cost, then the strings and lists its
// arguments hold. It changes nothing; gqlgen parses again (or takes its
// cache) and validates only documents that pass.
func (g guard) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil // gqlgen answers "no operation provided"
	}
	if over(int64(len(p.Query)), g.limits.MaxDocumentBytes) {
		return refusal(limitErrorf("the document has %d bytes; at most %d are accepted", len(p.Query), g.limits.MaxDocumentBytes))
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, max(g.limits.MaxTokens, 0))
	if err != nil {
		var gqlErr *gqlerror.Error
		if !errors.As(err, &gqlErr) {
			gqlErr = gqlerror.Wrap(err)
		}
		if g.limits.MaxTokens > 0 && gqlErr.Message == fmt.Sprintf("exceeded token limit of %d", g.limits.MaxTokens) {
			gqlErr = refusal(limitErrorf("the document has more than %d tokens; at most %d are accepted", g.limits.MaxTokens, g.limits.MaxTokens))
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return gqlErr
	}
	op := doc.Operations.ForName(p.OperationName)
	vars := variables{values: p.Variables, op: op}
	if err := (&shape{schema: g.schema, doc: doc, limits: g.limits, vars: vars}).check(op); err != nil {
		return refusal(err)
	}
	if op != nil {
		if err := (&inputs{schema: g.schema, doc: doc, limits: g.limits, vars: vars}).check(op); err != nil {
			return refusal(err)
		}
	}
	return nil
}

// refusal is err as gqlgen reports it; presentError finds the apperr inside.
func refusal(err error) *gqlerror.Error {
	return &gqlerror.Error{Message: err.Error(), Err: err}
}

// timeoutError is why an operation's context ended at its deadline.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string {
	return fmt.Sprintf("the operation did not finish within %s and was stopped", e.after)
}

// deadline gives each query and mutation limits.OperationTimeout, or
// limits.ImportTimeout when it imports a file; subscriptions run as long as
// their connection. The work runs under the request's context, so it also
// stops when the client goes away. present reports an operation whose time
// ran out before it produced anything.
func deadline(limits Limits, present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
			return next(ctx)
		}
		d := limits.OperationTimeout
		for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, nil) {
			if oc.Operation.Operation == ast.Mutation && f.Name == "importUsers" {
				d = limits.ImportTimeout
			}
		}
		if d <= 0 {
			return next(ctx)
		}
		ctx, cancel := context.WithTimeoutCause(ctx, d, timeoutError{after: d})
		responses := next(ctx)
		answered := false
		return func(ctx context.Context) *graphql.Response {
			resp := responses(ctx)
			var timeout timeoutError
			if resp == nil && !answered && errors.As(context.Cause(ctx), &timeout) {
				// gqlgen answers nothing once the context has ended.
				resp = &graphql.Response{Errors: gqlerror.List{present(ctx, timeout)}}
			}
			answered = answered || resp != nil
			if resp == nil || resp.HasNext == nil || !*resp.HasNext {
				cancel() // the last response: the operation is over
			}
			return resp
		}
	}
}

// stopped explains the unexpected error err of an operation that was
// stopped: it ran out of time, or its client went away. ok is false when
// the operation was not stopped.
func stopped(ctx context.Context, err error) (message string, clientLeft, ok bool) {
	var timeout timeoutError
	switch {
	case errors.As(err, &timeout), errors.As(context.Cause(ctx), &timeout):
		return timeout.Error(), false, true
	case errors.Is(ctx.Err(), context.Canceled):
		return "the request was cancelled", true, true
	}
	return "", false, false
}

// boundedCache keeps parsed documents of up to maxBytes of text: a cache of
// a thousand entries must not hold a thousand documents of the largest size.
type boundedCache struct {
	graphql.Cache[*ast.QueryDocument]
	maxBytes int
}

func (c boundedCache) Add(ctx context.Context, query string, doc *ast.QueryDocument) {
	if len(query) <= c.maxBytes {
		c.Cache.Add(ctx, query, doc)
	}
}
