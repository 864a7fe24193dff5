package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a loopback webhook endpoint (one path per endpoint) that
// verifies every call's signature and counts the distinct events each
// endpoint received.
type receiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	hook map[string]*standardwebhooks.Webhook // path → verifier
	seen map[string]map[string]bool           // path → webhook-id → seen
	// calls counts every call; repeats those of an event already seen;
	// bad those whose signature did not verify.
	calls, repeats, bad int
	first, last         time.Time
	changed             chan struct{} // closed and replaced on every call
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String(), hook: map[string]*standardwebhooks.Webhook{},
		seen: map[string]map[string]bool{}, changed: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) Close() error { return r.srv.Close() }

// add makes path an endpoint verified with secret.
func (r *receiver) add(path, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook[path], r.seen[path] = wh, map[string]bool{}
	return nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	wh := r.hook[req.URL.Path]
	r.mu.Unlock()
	ok := wh != nil && wh.VerifyIgnoringTimestamp(body, req.Header) == nil
	now := time.Now()
	r.mu.Lock()
	r.calls++
	if r.first.IsZero() {
		r.first = now
	}
	r.last = now
	switch id := req.Header.Get("webhook-id"); {
	case !ok:
		r.bad++
	case r.seen[req.URL.Path][id]:
		r.repeats++
	default:
		r.seen[req.URL.Path][id] = true
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// distinct is how many different events the endpoints received in all, and
// a channel closed at the next call.
func (r *receiver) distinct() (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ids := range r.seen {
		n += len(ids)
	}
	return n, r.changed
}

// waitFor waits until the endpoints have received want distinct events,
// reporting progress.
func (r *receiver) waitFor(ctx context.Context, want int, progress func(int)) error {
	for {
		n, changed := r.distinct()
		progress(n)
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhooks: %d of %d events received: %w", n, want, ctx.Err())
		case <-changed:
		}
	}
}

// webhookFigures is what the receiver saw.
type webhookFigures struct {
	endpoints, calls, distinct, repeats, bad int
	first, last                              time.Time
}

func (r *receiver) figures() webhookFigures {
	n, _ := r.distinct()
	r.mu.Lock()
	defer r.mu.Unlock()
	return webhookFigures{endpoints: len(r.hook), calls: r.calls, distinct: n, repeats: r.repeats, bad: r.bad, first: r.first, last: r.last}
}

// createEndpoints creates n endpoints on the receiver, each subscribed to
// invitation.sent only.
func (c *client) createEndpoints(ctx context.Context, r *receiver, n int) error {
	for i := range n {
		path := "/endpoint-" + strconv.Itoa(i+1)
		var out struct {
			CreateWebhookEndpoint struct{ Secret string } `json:"createWebhookEndpoint"`
		}
		err := c.do(ctx, `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { secret } }`,
			map[string]any{"in": map[string]any{"url": r.url + path, "eventTypes": []string{"invitation.sent"}}}, &out)
		if err != nil {
			return fmt.Errorf("createWebhookEndpoint: %w", err)
		}
		if err := r.add(path, out.CreateWebhookEndpoint.Secret); err != nil {
			return err
		}
	}
	return nil
}
