package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// A subscription's stream can end early for a reason the subscriber must
// hear (it fell too far behind). gqlgen has no way to send an error in the
// middle of a stream; so the resolver's goroutine says why in the
// operation's streamEnd and sends a last, null item, and endedStreams puts
// that reason in place of the null's generic error in the last response.

// streamEnd holds why an operation's stream ended early.
type streamEnd struct {
	mu  sync.Mutex
	err error
}

type streamEndKey struct{}

// withStreamEnd gives every subscription operation its streamEnd, in the
// context both its resolver and its responses derive from.
func withStreamEnd(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, streamEndKey{}, &streamEnd{})
	}
	return next(ctx)
}

// endStream records err as why ctx's stream ends; false when ctx has no
// streamEnd.
func endStream(ctx context.Context, err error) bool {
	end, _ := ctx.Value(streamEndKey{}).(*streamEnd)
	if end == nil {
		return false
	}
	end.mu.Lock()
	defer end.mu.Unlock()
	end.err = err
	return true
}

// endedStreams presents a stream's early end in its last response: the
// response to the null item carries the error recorded by endStream instead
// of gqlgen's "null is not allowed".
func endedStreams(present graphql.ErrorPresenterFunc) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		end, _ := ctx.Value(streamEndKey{}).(*streamEnd)
		if resp == nil || end == nil || len(resp.Errors) == 0 {
			return resp
		}
		end.mu.Lock()
		err := end.err
		end.mu.Unlock()
		if err != nil {
			e := present(ctx, err)
			e.Path = resp.Errors[0].Path
			resp.Errors = gqlerror.List{e}
		}
		return resp
	}
}

// forward passes in's items to the subscription's channel until in closes
// or ctx ends; if in closed early for a reason (why), it says so (see
// endStream) with a last, null item.
func forward[T any](ctx context.Context, in <-chan *T, why func() error) <-chan *T {
	out := make(chan *T)
	go func() {
		defer close(out)
		for v := range in {
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
		if err := why(); err != nil && endStream(ctx, err) {
			select {
			case out <- nil:
			case <-ctx.Done():
			}
		}
	}()
	return out
}
