// Package webhook receives Mailgun's delivery webhooks (POST /webhooks/mailgun):
// it checks the signature, refuses stale and replayed requests, maps the
// event to a delivery status and hands it to an Applier.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/throttle"
)

// Defaults of Config.
const (
	DefaultMaxAge  = 5 * time.Minute
	DefaultMaxBody = 1 << 20
)

// MaxReasonBytes bounds Event.Reason.
const MaxReasonBytes = 500

// maxTokenLen bounds the signature token so the replay key fits the throttle
// key column (200 characters); Mailgun's tokens are 50 hex characters.
const maxTokenLen = 150

// replayPrefix starts the throttle key that marks a token as used.
const replayPrefix = "mailgun-webhook:"

// Event is one delivery outcome reported by Mailgun.
type Event struct {
	DeliveryID string              // from user-variables "delivery_id"; may be ""
	MessageID  string              // message.headers.message-id, without <>
	Recipient  string              // event-data.recipient
	Status     enum.DeliveryStatus // DELIVERED, BOUNCED (permanent failure), COMPLAINED, or "" for a temporary failure (Mailgun retries those itself)
	Reason     string              // delivery-status message / description / reason, trimmed to 500 bytes
	At         time.Time           // event-data.timestamp (UTC, microseconds)
}

// Applier records an event on the delivery and the person (implemented by the
// bulk-send service). It finds the delivery by DeliveryID, else by MessageID.
// An error makes the handler answer 500, so Mailgun sends the event again
// later; an event that matches no delivery should therefore return nil.
type Applier interface {
	ApplyDeliveryEvent(ctx context.Context, e Event) error
}

// Config of the handler.
type Config struct {
	SigningKey string        // Mailgun's webhook signing key; empty answers every request 503
	MaxAge     time.Duration // timestamps older or newer than this are refused; default 5 min
	MaxBody    int64         // default 1 MB
}

type handler struct {
	cfg     Config
	clock   clock.Clock
	replays *throttle.Limiter
	applier Applier
	log     *slog.Logger
}

// New returns the handler of Mailgun's webhooks. replays remembers used
// signature tokens and applier records the events; both are required unless
// cfg.SigningKey is empty. A nil clk means the system clock, a nil log
// discards.
func New(cfg Config, clk clock.Clock, replays *throttle.Limiter, applier Applier, log *slog.Logger) http.Handler {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if clk == nil {
		clk = clock.System{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, clock: clk, replays: replays, applier: applier, log: log}
}

// payload is the part of Mailgun's JSON webhook the handler reads.
type payload struct {
	Signature *struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
	EventData struct {
		Event     string  `json:"event"`
		Severity  string  `json:"severity"`
		Timestamp float64 `json:"timestamp"`
		Recipient string  `json:"recipient"`
		Message   struct {
			Headers struct {
				MessageID string `json:"message-id"`
			} `json:"headers"`
		} `json:"message"`
		UserVariables  map[string]json.RawMessage `json:"user-variables"`
		DeliveryStatus struct {
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"delivery-status"`
		Reason string `json:"reason"`
	} `json:"event-data"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.SigningKey == "" {
		respond(w, http.StatusServiceUnavailable, "webhooks not configured")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		respond(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			respond(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		respond(w, http.StatusBadRequest, "could not read request body")
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		respond(w, http.StatusBadRequest, "malformed JSON")
		return
	}
	sig := p.Signature
	if sig == nil || sig.Timestamp == "" || sig.Token == "" || sig.Signature == "" {
		respond(w, http.StatusBadRequest, "missing signature")
		return
	}
	unix, err := strconv.ParseInt(sig.Timestamp, 10, 64)
	if err != nil || len(sig.Token) > maxTokenLen {
		respond(w, http.StatusBadRequest, "malformed signature")
		return
	}
	if !Verify(h.cfg.SigningKey, sig.Timestamp, sig.Token, sig.Signature) {
		h.log.WarnContext(r.Context(), "mailgun webhook: bad signature",
			slog.String("remote", r.RemoteAddr), slog.String("timestamp", sig.Timestamp))
		respond(w, http.StatusUnauthorized, "invalid signature")
		return
	}
	now := h.clock.Now()
	signedAt := time.Unix(unix, 0)
	if skew := now.Sub(signedAt); skew > h.cfg.MaxAge || skew < -h.cfg.MaxAge {
		h.log.WarnContext(r.Context(), "mailgun webhook: stale timestamp",
			slog.Time("signed_at", signedAt), slog.Duration("skew", skew))
		respond(w, http.StatusNotAcceptable, "timestamp too old or too far in the future")
		return
	}

	ed := p.EventData
	status, ok := mapStatus(ed.Event, ed.Severity)
	if !ok {
		h.log.DebugContext(r.Context(), "mailgun webhook: event ignored", slog.String("event", ed.Event))
		respond(w, http.StatusOK, "event ignored")
		return
	}
	e := Event{
		DeliveryID: userVariable(ed.UserVariables, "delivery_id"),
		MessageID:  strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(ed.Message.Headers.MessageID), "<"), ">"),
		Recipient:  strings.TrimSpace(ed.Recipient),
		Status:     status,
		Reason:     reason(ed.DeliveryStatus.Message, ed.DeliveryStatus.Description, ed.Reason),
		At:         eventTime(ed.Timestamp, signedAt),
	}
	attrs := []any{slog.String("event", ed.Event), slog.String("severity", ed.Severity),
		slog.String("delivery_id", e.DeliveryID), slog.String("message_id", e.MessageID)}
	if e.DeliveryID == "" && e.MessageID == "" {
		h.log.WarnContext(r.Context(), "mailgun webhook: event names no delivery; ignored", attrs...)
		respond(w, http.StatusOK, "event ignored: no delivery_id or message-id")
		return
	}

	// The token is taken before applying, so two copies arriving at once are
	// applied once, and released if applying fails, so Mailgun's retry of the
	// 500 is applied.
	key := replayPrefix + sig.Token
	fresh, _, err := h.replays.Take(r.Context(), throttle.Rule{Key: key, Limit: 1, Window: 2 * h.cfg.MaxAge})
	if err != nil {
		h.log.ErrorContext(r.Context(), "mailgun webhook: record token", append(attrs, slog.Any("error", err))...)
		respond(w, http.StatusInternalServerError, "internal error")
		return
	}
	if !fresh {
		h.log.InfoContext(r.Context(), "mailgun webhook: replayed token; ignored", attrs...)
		respond(w, http.StatusOK, "already processed")
		return
	}
	if err := h.applier.ApplyDeliveryEvent(r.Context(), e); err != nil {
		h.log.ErrorContext(r.Context(), "mailgun webhook: apply event", append(attrs, slog.Any("error", err))...)
		// The request may have been cancelled; release the token regardless.
		if cerr := h.replays.Clear(context.WithoutCancel(r.Context()), key); cerr != nil {
			h.log.ErrorContext(r.Context(), "mailgun webhook: release token; a retry will be ignored as a replay",
				append(attrs, slog.Any("error", cerr))...)
		}
		respond(w, http.StatusInternalServerError, "could not record event")
		return
	}
	h.log.InfoContext(r.Context(), "mailgun webhook: event applied", append(attrs, slog.String("status", string(status)))...)
	respond(w, http.StatusOK, "ok")
}

// Verify reports whether signature is hex(HMAC-SHA256(key, timestamp+token)),
// comparing in constant time.
func Verify(key, timestamp, token, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	return hmac.Equal(got, Sign(key, timestamp, token))
}

// Sign returns HMAC-SHA256(key, timestamp+token), the raw bytes of Mailgun's
// webhook signature.
func Sign(key, timestamp, token string) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(token))
	return mac.Sum(nil)
}

// mapStatus maps a Mailgun event to a delivery status; ok is false for events
// that do not change a delivery (opened, clicked, accepted, …).
func mapStatus(event, severity string) (enum.DeliveryStatus, bool) {
	switch strings.ToLower(event) {
	case "delivered":
		return enum.DeliveryDelivered, true
	case "failed":
		if strings.EqualFold(severity, "temporary") {
			return "", true
		}
		// Mailgun marks final failures "permanent"; anything but
		// "temporary" is treated as one.
		return enum.DeliveryBounced, true
	case "complained":
		return enum.DeliveryComplained, true
	}
	return "", false
}

// userVariable reads a custom variable; Mailgun passes them as JSON values,
// usually strings.
func userVariable(vars map[string]json.RawMessage, name string) string {
	raw, ok := vars[name]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	return ""
}

// reason picks the first non-blank of the texts, trimmed to MaxReasonBytes
// without splitting a character.
func reason(texts ...string) string {
	for _, t := range texts {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if len(t) > MaxReasonBytes {
			cut := MaxReasonBytes
			for cut > 0 && !utf8.RuneStart(t[cut]) {
				cut--
			}
			t = t[:cut]
		}
		return t
	}
	return ""
}

// eventTime converts Mailgun's fractional Unix timestamp; without one, the
// signature's time stands in.
func eventTime(ts float64, fallback time.Time) time.Time {
	if ts <= 0 || math.IsNaN(ts) || math.IsInf(ts, 0) || ts > 1e12 {
		return fallback.UTC()
	}
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC().Truncate(time.Microsecond)
}

func respond(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}
