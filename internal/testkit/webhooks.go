package testkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// WebhookCall is one request a WebhookReceiver got.
type WebhookCall struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Header                   http.Header
}

// WebhookReceiver is a webhook endpoint on loopback: it records every call
// and answers with Respond (200 when nil).
type WebhookReceiver struct {
	*httptest.Server
	calls chan WebhookCall
	mu    sync.Mutex
	// respond decides the answer to each call; it may block (a slow or
	// hanging endpoint) until the request's context ends.
	respond func(w http.ResponseWriter, r *http.Request, c WebhookCall)
}

// NewWebhookReceiver starts a receiver, closed when the test ends.
func NewWebhookReceiver(t testing.TB) *WebhookReceiver {
	t.Helper()
	rc := &WebhookReceiver{calls: make(chan WebhookCall, 10_000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := WebhookCall{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature"), Body: body, Header: r.Header.Clone()}
		rc.calls <- c
		rc.mu.Lock()
		respond := rc.respond
		rc.mu.Unlock()
		if respond != nil {
			respond(w, r, c)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Respond sets how the receiver answers from now on (nil: 200).
func (rc *WebhookReceiver) Respond(f func(w http.ResponseWriter, r *http.Request, c WebhookCall)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

// Next waits (up to 30 s) for the next call.
func (rc *WebhookReceiver) Next(t testing.TB) WebhookCall {
	t.Helper()
	select {
	case c := <-rc.calls:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook call within 30 s")
		return WebhookCall{}
	}
}

// Await waits (up to 30 s) for the next call, calling poke now and then
// meanwhile: a worker's wake-up, for work that may not be visible at the
// first one (on PostgreSQL an event is read once every older transaction on
// the server has ended).
func (rc *WebhookReceiver) Await(t testing.TB, poke func()) WebhookCall {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		poke()
		select {
		case c := <-rc.calls:
			return c
		case <-deadline:
			t.Fatal("no webhook call within 30 s")
			return WebhookCall{}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Drain returns the calls waiting to be read.
func (rc *WebhookReceiver) Drain() []WebhookCall {
	var out []WebhookCall
	for {
		select {
		case c := <-rc.calls:
			out = append(out, c)
		default:
			return out
		}
	}
}

// None checks that no call is waiting to be read.
func (rc *WebhookReceiver) None(t testing.TB) {
	t.Helper()
	select {
	case c := <-rc.calls:
		t.Fatalf("unexpected webhook call %s: %s", c.ID, c.Body)
	default:
	}
}

// VerifySignature checks the call's webhook-signature against secret
// (whsec_…) independently of any webhook library, from the Standard
// Webhooks specification's text: the header holds space-separated
// "v1,<base64>" signatures, each the HMAC-SHA256 of "id.timestamp.body"
// keyed by the base64-decoded part of the secret after "whsec_". It
// reports whether one of them matches.
func (c WebhookCall) VerifySignature(secret string) (bool, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false, fmt.Errorf("secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", c.ID, c.Timestamp, c.Body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(c.Signature) {
		version, value, ok := strings.Cut(sig, ",")
		if ok && version == "v1" && hmac.Equal([]byte(value), []byte(want)) {
			return true, nil
		}
	}
	return false, nil
}
