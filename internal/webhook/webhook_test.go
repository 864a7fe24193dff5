package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/webhook"
)

const signingKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

// recorder stands in for the bulk-send service.
type recorder struct {
	mu     sync.Mutex
	events []webhook.Event
	fail   int // fail this many calls before succeeding
}

func (r *recorder) ApplyDeliveryEvent(_ context.Context, e webhook.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("database unavailable")
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) applied() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Event(nil), r.events...)
}

// syncBuffer is a log destination safe for concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	url     string
	clock   *clock.Manual
	applier *recorder
	logs    *syncBuffer
}

func newHarness(t *testing.T, cfg webhook.Config) *harness {
	t.Helper()
	d, err := db.Open(context.Background(), testkit.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	clk := clock.NewManual(testkit.Epoch)
	h := &harness{clock: clk, applier: &recorder{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(webhook.New(cfg, clk, throttle.New(d.Client, d.Dialect, clk), h.applier, log))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/webhooks/mailgun"
	return h
}

func configured() webhook.Config { return webhook.Config{SigningKey: signingKey} }

// post sends body and returns the status and the response's message.
func (h *harness) post(t *testing.T, body []byte) (int, string) {
	t.Helper()
	return h.do(t, http.MethodPost, body)
}

func (h *harness) do(t *testing.T, method string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out struct {
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), "response %q", raw)
	return resp.StatusCode, out.Message
}

func newToken() string {
	b := make([]byte, 25)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) // 50 hex characters, like Mailgun's
}

// signature builds Mailgun's signature block for key at time at.
func signature(key string, at time.Time, token string) map[string]any {
	ts := strconv.FormatInt(at.Unix(), 10)
	return map[string]any{
		"timestamp": ts,
		"token":     token,
		"signature": hex.EncodeToString(webhook.Sign(key, ts, token)),
	}
}

// eventData is a delivered event; change fields as needed.
func eventData(at time.Time) map[string]any {
	return map[string]any{
		"event":     "delivered",
		"timestamp": float64(at.UnixMicro()) / 1e6,
		"id":        "CPgfbmQMTCKtHW6uIWtuVe",
		"recipient": "alice@example.com",
		"message": map[string]any{
			"headers": map[string]any{
				"message-id": "20260302090000.1.ABCDEF@mg.example.com",
				"from":       "Rollcall <invites@mg.example.com>",
			},
		},
		"user-variables": map[string]any{"delivery_id": "dlv_42"},
		"delivery-status": map[string]any{
			"message":     "OK",
			"description": "",
			"code":        250,
		},
		"flags": map[string]any{"is-test-mode": false},
	}
}

func body(t *testing.T, sig, data map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"signature": sig, "event-data": data})
	require.NoError(t, err)
	return b
}

// signed is a correctly signed webhook for the harness's current time.
func (h *harness) signed(t *testing.T, data map[string]any) []byte {
	t.Helper()
	return body(t, signature(signingKey, h.clock.Now(), newToken()), data)
}

func TestMapping(t *testing.T) {
	t.Parallel()
	long := "x" + strings.Repeat("é", 300) // 601 bytes; byte 500 is mid-character
	tests := []struct {
		name   string
		edit   func(d map[string]any)
		status enum.DeliveryStatus
		reason string
	}{
		{
			name:   "delivered",
			edit:   func(map[string]any) {},
			status: enum.DeliveryDelivered,
			reason: "OK",
		},
		{
			name: "permanent failure bounces",
			edit: func(d map[string]any) {
				d["event"] = "failed"
				d["severity"] = "permanent"
				d["reason"] = "bounce"
				d["delivery-status"] = map[string]any{"message": "  550 5.1.1 The email account does not exist.  ", "code": 550}
			},
			status: enum.DeliveryBounced,
			reason: "550 5.1.1 The email account does not exist.",
		},
		{
			name: "temporary failure has no status",
			edit: func(d map[string]any) {
				d["event"] = "failed"
				d["severity"] = "temporary"
				d["reason"] = "generic"
				d["delivery-status"] = map[string]any{"message": "", "description": "Mailbox full, try later", "code": 452}
			},
			status: "",
			reason: "Mailbox full, try later",
		},
		{
			name: "suppressed address falls back to reason",
			edit: func(d map[string]any) {
				d["event"] = "failed"
				d["severity"] = "permanent"
				d["reason"] = "suppress-bounce"
				d["delivery-status"] = map[string]any{"message": "", "description": "", "code": 605}
			},
			status: enum.DeliveryBounced,
			reason: "suppress-bounce",
		},
		{
			name: "complained",
			edit: func(d map[string]any) {
				d["event"] = "complained"
				delete(d, "delivery-status")
			},
			status: enum.DeliveryComplained,
			reason: "",
		},
		{
			name: "long reason is trimmed to 500 bytes",
			edit: func(d map[string]any) {
				d["event"] = "failed"
				d["severity"] = "permanent"
				d["delivery-status"] = map[string]any{"message": long}
			},
			status: enum.DeliveryBounced,
			reason: "x" + strings.Repeat("é", 249), // 499 bytes, whole characters
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, configured())
			at := h.clock.Now().Add(-30*time.Second + 329574*time.Microsecond)
			data := eventData(at)
			data["message"].(map[string]any)["headers"].(map[string]any)["message-id"] = "<20260302090000.1.ABCDEF@mg.example.com>"
			tc.edit(data)

			code, msg := h.post(t, h.signed(t, data))
			require.Equal(t, http.StatusOK, code, msg)
			require.Equal(t, []webhook.Event{{
				DeliveryID: "dlv_42",
				MessageID:  "20260302090000.1.ABCDEF@mg.example.com",
				Recipient:  "alice@example.com",
				Status:     tc.status,
				Reason:     tc.reason,
				At:         at,
			}}, h.applier.applied())
			assert.LessOrEqual(t, len(tc.reason), webhook.MaxReasonBytes)
		})
	}
}

func TestWithoutDeliveryID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	data := eventData(h.clock.Now())
	delete(data, "user-variables")
	code, _ := h.post(t, h.signed(t, data))
	require.Equal(t, http.StatusOK, code)
	events := h.applier.applied()
	require.Len(t, events, 1)
	assert.Empty(t, events[0].DeliveryID)
	assert.Equal(t, "20260302090000.1.ABCDEF@mg.example.com", events[0].MessageID, "found by message id instead")
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	for _, event := range []string{"opened", "clicked", "unsubscribed", "accepted", "stored", "rejected", ""} {
		t.Run("event "+event, func(t *testing.T) {
			data := eventData(h.clock.Now())
			data["event"] = event
			code, msg := h.post(t, h.signed(t, data))
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "event ignored", msg)
		})
	}
	t.Run("no delivery id nor message id", func(t *testing.T) {
		data := eventData(h.clock.Now())
		delete(data, "user-variables")
		delete(data, "message")
		code, _ := h.post(t, h.signed(t, data))
		assert.Equal(t, http.StatusOK, code)
	})
	assert.Empty(t, h.applier.applied(), "applier never called")
}

func TestRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	now := h.clock.Now()
	good := func() map[string]any { return signature(signingKey, now, newToken()) }
	tests := []struct {
		name string
		body func() []byte
		code int
	}{
		{"bad signature", func() []byte {
			sig := good()
			s := []byte(sig["signature"].(string))
			if s[0] == '0' { // still hex, one digit off
				s[0] = '1'
			} else {
				s[0] = '0'
			}
			sig["signature"] = string(s)
			return body(t, sig, eventData(now))
		}, http.StatusUnauthorized},
		{"signature not hex", func() []byte {
			sig := good()
			sig["signature"] = "not-a-signature"
			return body(t, sig, eventData(now))
		}, http.StatusUnauthorized},
		{"wrong key", func() []byte {
			return body(t, signature("key-someone-else", now, newToken()), eventData(now))
		}, http.StatusUnauthorized},
		{"signature of another token", func() []byte {
			sig := good()
			sig["token"] = newToken()
			return body(t, sig, eventData(now))
		}, http.StatusUnauthorized},
		{"timestamp changed after signing", func() []byte {
			sig := good()
			sig["timestamp"] = strconv.FormatInt(now.Unix()+1, 10)
			return body(t, sig, eventData(now))
		}, http.StatusUnauthorized},
		{"stale past", func() []byte {
			at := now.Add(-webhook.DefaultMaxAge - time.Second)
			return body(t, signature(signingKey, at, newToken()), eventData(at))
		}, http.StatusNotAcceptable},
		{"stale future", func() []byte {
			at := now.Add(webhook.DefaultMaxAge + time.Second)
			return body(t, signature(signingKey, at, newToken()), eventData(at))
		}, http.StatusNotAcceptable},
		{"malformed JSON", func() []byte { return []byte(`{"signature": {`) }, http.StatusBadRequest},
		{"not an object", func() []byte { return []byte(`[1, 2]`) }, http.StatusBadRequest},
		{"empty body", func() []byte { return nil }, http.StatusBadRequest},
		{"no signature", func() []byte { return body(t, nil, eventData(now)) }, http.StatusBadRequest},
		{"no timestamp", func() []byte {
			sig := good()
			delete(sig, "timestamp")
			return body(t, sig, eventData(now))
		}, http.StatusBadRequest},
		{"no token", func() []byte {
			sig := good()
			sig["token"] = ""
			return body(t, sig, eventData(now))
		}, http.StatusBadRequest},
		{"no signature value", func() []byte {
			sig := good()
			delete(sig, "signature")
			return body(t, sig, eventData(now))
		}, http.StatusBadRequest},
		{"timestamp not a number", func() []byte {
			sig := good()
			sig["timestamp"] = "yesterday"
			return body(t, sig, eventData(now))
		}, http.StatusBadRequest},
		{"event data of the wrong type", func() []byte {
			return body(t, good(), map[string]any{"event": 42})
		}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := h.post(t, tc.body())
			assert.Equal(t, tc.code, code, msg)
		})
	}
	assert.Empty(t, h.applier.applied())
	assert.Contains(t, h.logs.String(), "bad signature", "refused signatures are logged")
}

func TestMaxAgeBoundary(t *testing.T) {
	t.Parallel()
	h := newHarness(t, webhook.Config{SigningKey: signingKey, MaxAge: time.Minute})
	now := h.clock.Now()
	for _, at := range []time.Time{now.Add(-time.Minute), now.Add(time.Minute)} {
		code, msg := h.post(t, body(t, signature(signingKey, at, newToken()), eventData(at)))
		assert.Equal(t, http.StatusOK, code, msg)
	}
	at := now.Add(-time.Minute - time.Second)
	code, _ := h.post(t, body(t, signature(signingKey, at, newToken()), eventData(at)))
	assert.Equal(t, http.StatusNotAcceptable, code, "configured MaxAge applies")
	assert.Len(t, h.applier.applied(), 2)
}

func TestReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	b := h.signed(t, eventData(h.clock.Now()))

	code, msg := h.post(t, b)
	require.Equal(t, http.StatusOK, code, msg)
	h.clock.Advance(time.Minute)
	code, msg = h.post(t, b)
	require.Equal(t, http.StatusOK, code, "a replay is acknowledged so Mailgun stops")
	assert.Equal(t, "already processed", msg)

	require.Len(t, h.applier.applied(), 1, "applied once")
	assert.Contains(t, h.logs.String(), "replayed token")
}

func TestConcurrentCopiesAppliedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	b := h.signed(t, eventData(h.clock.Now()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			code, msg := h.post(t, b)
			assert.Equal(t, http.StatusOK, code, msg)
		})
	}
	wg.Wait()
	assert.Len(t, h.applier.applied(), 1)
}

func TestApplierFailureIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	h.applier.fail = 1
	data := eventData(h.clock.Now())
	data["event"] = "failed"
	data["severity"] = "permanent"
	b := h.signed(t, data)

	code, msg := h.post(t, b)
	require.Equal(t, http.StatusInternalServerError, code, "Mailgun retries a 500")
	assert.NotContains(t, msg, "database unavailable", "internal errors stay in the log")
	require.Empty(t, h.applier.applied())

	h.clock.Advance(time.Minute)
	code, msg = h.post(t, b)
	require.Equal(t, http.StatusOK, code, msg)
	assert.Equal(t, "ok", msg, "the retry is applied, not taken for a replay")
	events := h.applier.applied()
	require.Len(t, events, 1)
	assert.Equal(t, enum.DeliveryBounced, events[0].Status)

	code, msg = h.post(t, b)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "already processed", msg, "once applied, replays are refused again")
	assert.Len(t, h.applier.applied(), 1)
	assert.Contains(t, h.logs.String(), "database unavailable")
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, webhook.Config{SigningKey: signingKey, MaxBody: 1024})
	data := eventData(h.clock.Now())
	data["padding"] = strings.Repeat("x", 2048)
	code, _ := h.post(t, h.signed(t, data))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)

	small := eventData(h.clock.Now())
	code, msg := h.post(t, h.signed(t, small))
	assert.Equal(t, http.StatusOK, code, msg)
}

func TestDefaultMaxBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	data := eventData(h.clock.Now())
	data["padding"] = strings.Repeat("x", webhook.DefaultMaxBody)
	code, _ := h.post(t, h.signed(t, data))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Empty(t, h.applier.applied())
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		code, _ := h.do(t, method, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, code, method)
	}
	resp, err := http.Get(h.url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, webhook.Config{})
	// Signed with the empty key: still refused, an empty key is no key.
	b := body(t, signature("", h.clock.Now(), newToken()), eventData(h.clock.Now()))
	code, msg := h.post(t, b)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "webhooks not configured", msg)
	code, _ = h.do(t, http.MethodGet, nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Empty(t, h.applier.applied())
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configured())
	h.applier.fail = 1
	now := h.clock.Now()
	var signatures []string
	send := func(sig map[string]any, data map[string]any) {
		signatures = append(signatures, sig["signature"].(string))
		h.post(t, body(t, sig, data))
	}
	bad := signature(signingKey, now, newToken())
	bad["signature"] = hex.EncodeToString(webhook.Sign("guess", bad["timestamp"].(string), bad["token"].(string)))
	send(bad, eventData(now))                                     // bad signature
	send(signature("wrong-key", now, newToken()), eventData(now)) // wrong key
	old := now.Add(-time.Hour)
	send(signature(signingKey, old, newToken()), eventData(old)) // stale
	good := signature(signingKey, now, newToken())
	send(good, eventData(now)) // applier fails
	send(good, eventData(now)) // applied
	send(good, eventData(now)) // replay
	opened := eventData(now)
	opened["event"] = "opened"
	send(signature(signingKey, now, newToken()), opened) // ignored

	logs := h.logs.String()
	require.Contains(t, logs, "bad signature", "something was logged")
	require.Contains(t, logs, "replayed token")
	assert.NotContains(t, logs, signingKey)
	for _, s := range signatures {
		assert.NotContains(t, logs, s)
	}
}
