package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/wsgorilla"
)

// websocketCaps counts the open websockets, in all and per client address
// key, and bounds the subscriptions on each.
type websocketCaps struct {
	max, perIP, perConn int // 0 = no cap

	mu    sync.Mutex
	total int
	byKey map[string]int
}

func newWebsocketCaps(l ConnLimits) *websocketCaps {
	return &websocketCaps{max: l.MaxWebsockets, perIP: l.MaxWebsocketsPerIP, perConn: l.MaxSubscriptionsPerConnection,
		byKey: map[string]int{}}
}

// acquire takes a slot for a websocket from key, or says why it may not.
func (c *websocketCaps) acquire(key string) (release func(), refusal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.max > 0 && c.total >= c.max:
		return nil, fmt.Sprintf("the server holds its most websockets and event streams (%d); try again later", c.max)
	case c.perIP > 0 && c.byKey[key] >= c.perIP:
		return nil, fmt.Sprintf("too many websockets and event streams from your address (at most %d)", c.perIP)
	}
	c.total++
	c.byKey[key]++
	var once sync.Once
	return func() { once.Do(func() { c.release(key) }) }, ""
}

func (c *websocketCaps) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byKey[key]--; c.byKey[key] <= 0 {
		delete(c.byKey, key)
	}
}

// guard refuses a websocket upgrade beyond the caps with 429 RATE_LIMITED,
// before anything is upgraded; an accepted one holds its slot until the
// socket closes. It also gives the connection its operation count (see
// limitOperations), which paces its reading. A request with any Upgrade
// header counts, as gqlgen's websocket transport takes every such request.
//
// An event stream (graphql-sse: a POST that accepts text/event-stream)
// holds a slot too, for as long as it lasts: it carries one operation, so
// the caps on websockets bound the open streams of both kinds together.
func (c *websocketCaps) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream := r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		if r.Header.Get("Upgrade") == "" && !stream {
			next.ServeHTTP(w, r)
			return
		}
		release, refusal := c.acquire(clientip.Key(clientip.FromContext(r.Context())))
		if release == nil {
			writeError(w, http.StatusTooManyRequests, string(apperr.RateLimited), refusal)
			return
		}
		// The slot is held until the stream ends: gqlgen's websocket
		// transport returns once the socket has closed.
		defer release()
		if stream {
			next.ServeHTTP(w, r)
			return
		}
		ops := newConnOperations(c.perConn)
		ctx := wsgorilla.WithReadGate(context.WithValue(r.Context(), opsKey{}, ops), ops)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// connOperations counts the operations of one websocket. It is the
// connection's wsgorilla.ReadGate: a client that sends operations faster
// than it reads their answers is read more slowly, so the answers waiting
// to be written (each a goroutine) stay bounded.
type connOperations struct {
	max int // subscriptions at once; 0 = no cap

	mu         sync.Mutex
	answering  sync.Cond // signalled when unanswered drops
	running    int       // subscriptions admitted and not finished
	unanswered int       // operations of any kind not yet answered in full
}

func newConnOperations(max int) *connOperations {
	o := &connOperations{max: max}
	o.answering.L = &o.mu
	return o
}

type opsKey struct{}

// Wait returns once fewer than twice the cap of operations are unanswered.
// Admitted subscriptions are at most the cap, and everything else ends
// without reading more from the client, so the wait always ends.
func (o *connOperations) Wait() {
	// gqlgen has just started the previous message's goroutine: let it
	// count itself in before deciding.
	runtime.Gosched()
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.max > 0 && o.unanswered >= 2*o.max {
		o.answering.Wait()
	}
}

// start counts an operation in and reports whether it may run: queries and
// mutations always, a subscription while fewer than max run. Every
// operation, a refused one too, counts as unanswered until answered.
func (o *connOperations) start(subscription bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unanswered++
	if !subscription {
		return true
	}
	if o.running >= o.max {
		return false
	}
	o.running++
	return true
}

// answered counts an operation out of unanswered.
func (o *connOperations) answered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unanswered--
	o.answering.Broadcast()
}

// stopped frees an admitted subscription's place.
func (o *connOperations) stopped() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
}

// limitOperations caps the subscriptions running at once on one websocket:
// one beyond connOperations.max gets a RATE_LIMITED error instead of
// running (it never subscribes), and the connection and its other
// operations carry on. A subscription holds its place until its stream
// ends (it completes, or the client stops it) or the socket closes; the
// place is free before the client is told "complete". Operations over plain
// HTTP are not counted.
func limitOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	ops, _ := ctx.Value(opsKey{}).(*connOperations)
	if ops == nil || ops.max <= 0 {
		return next(ctx)
	}
	op := graphql.GetOperationContext(ctx)
	subscription := op.Operation != nil && op.Operation.Operation == ast.Subscription
	admitted := ops.start(subscription)
	// gqlgen ends an operation's context after writing its last message.
	context.AfterFunc(ctx, ops.answered)
	if !admitted {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("too many subscriptions on this connection (at most %d at once); stop one first", ops.max),
			Extensions: map[string]any{"code": string(apperr.RateLimited)},
		}}})
	}
	if !subscription {
		return next(ctx)
	}
	var once sync.Once
	stop := func() { once.Do(ops.stopped) }
	context.AfterFunc(ctx, stop)
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		r := responses(ctx)
		if r == nil {
			stop() // the stream has ended; "complete" comes next
		}
		return r
	}
}
