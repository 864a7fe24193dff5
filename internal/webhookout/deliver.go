package webhookout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/webhookdelivery"
	"github.com/rollcall/rollcall/ent/webhookendpoint"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/queue"
)

const (
	// keptBody is how much of an answer's body is kept (in the attempt's
	// error); discardBody is how much more is read and dropped so the
	// connection can be reused. The rest is not read.
	keptBody    = 1 << 10
	discardBody = 64 << 10
	// goneReason is the disabledReason of an endpoint that answered 410.
	goneReason = "the endpoint answered 410 Gone"
)

// Payload is the body of a webhook call (Standard Webhooks v1).
type Payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// DeliverDue works every delivery due now, a batch at a time, in the
// caller's goroutine, and returns how many it claimed: for a replica whose
// workers do not run (tests, maintenance).
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		before := total
		more, n, err := s.deliverBatch(ctx, maxBatch)
		total += n
		if err != nil || !more || total == before {
			return total, err
		}
	}
}

// deliverDue is one round of a delivery worker: claim up to n due
// deliveries, call their endpoints together, record the outcomes; more
// reports a full claim.
func (s *Service) deliverDue(ctx context.Context, n int) (bool, error) {
	more, _, err := s.deliverBatch(ctx, n)
	return more, err
}

func (s *Service) deliverBatch(ctx context.Context, n int) (more bool, claimed int, err error) {
	sys := auth.AsSystem(ctx)
	// A claim commits or not regardless of a stop arriving meanwhile.
	lease, jobs, err := s.deliveries.Claim(context.WithoutCancel(sys), n)
	if err != nil || len(jobs) == 0 {
		return false, 0, err
	}
	if len(jobs) == n {
		s.deliverWake.Wake() // more may be due: for another worker
	}
	ids := make([]int, len(jobs))
	attempt := map[int]int{}
	for i, j := range jobs {
		ids[i] = j.ID
		attempt[j.ID] = j.Attempt
	}
	// The calls may outlast a lease: it is renewed until they are
	// recorded, and stops being renewed when ctx ends (see Run).
	held := lease
	stop := s.deliveries.Keep(sys, &lease, s.log, ids...)
	defer stop()
	rows, err := s.client.WebhookDelivery.Query().Where(webhookdelivery.IDIn(ids...)).
		WithEndpoint().WithEvent().All(sys)
	if err != nil {
		return false, len(jobs), fmt.Errorf("read webhook deliveries: %w", err)
	}
	var wg sync.WaitGroup
	for _, d := range rows {
		wg.Go(func() {
			if err := s.deliver(sys, held, d, attempt[d.ID]); err != nil {
				s.log.ErrorContext(sys, "webhook delivery", slog.Int("delivery_id", d.ID), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
	return len(jobs) == n, len(jobs), nil
}

// outcome is how one call ended.
type outcome struct {
	status   *int
	err      string
	duration time.Duration
	// abandoned: the worker stopped during the call; nothing is recorded.
	abandoned bool
}

func (o outcome) delivered() bool { return o.status != nil && *o.status >= 200 && *o.status < 300 }
func (o outcome) gone() bool      { return o.status != nil && *o.status == http.StatusGone }

// deliver makes one call of delivery d (its attempt-th) and records it.
func (s *Service) deliver(ctx context.Context, lease queue.Lease, d *ent.WebhookDelivery, attempt int) error {
	ep, ev := d.Edges.Endpoint, d.Edges.Event
	keep := context.WithoutCancel(ctx)
	if !ep.Enabled {
		err := s.deliveries.Finish(keep, nil, lease, d.ID, queue.Set{"status": webhookdelivery.StatusSKIPPED.String(), "updated_at": s.clock.Now()})
		if errors.Is(err, queue.ErrLeaseLost) {
			return nil
		}
		return err
	}
	now := s.clock.Now()
	body, err := json.Marshal(Payload{Type: ev.Type, Timestamp: ev.OccurredAt.UTC().Format(time.RFC3339Nano), Data: ev.Data})
	if err != nil {
		return fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	secrets := []string{ep.Secret}
	if ep.PreviousSecret != nil && ep.PreviousSecretExpiresAt != nil && now.Before(*ep.PreviousSecretExpiresAt) {
		secrets = append(secrets, *ep.PreviousSecret)
	}
	msgID := strconv.Itoa(ev.ID)
	sig, err := Sign(msgID, now, body, secrets...)
	if err != nil {
		return err
	}
	out := s.call(ctx, ep.URL, msgID, now, body, sig)
	if out.abandoned {
		return nil
	}
	return s.record(keep, lease, d, attempt, now, out)
}

// call POSTs body to url with the Standard Webhooks headers.
func (s *Service) call(ctx context.Context, target, msgID string, ts time.Time, body []byte, sig string) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return outcome{err: "bad endpoint URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Rollcall-Webhooks/1")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{abandoned: true}
		}
		return outcome{err: s.describe(err), duration: time.Since(start)}
	}
	defer resp.Body.Close()
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, keptBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, discardBody))
	status := resp.StatusCode
	out := outcome{status: &status, duration: time.Since(start)}
	switch {
	case out.delivered():
	case status >= 300 && status < 400:
		out.err = fmt.Sprintf("HTTP %d: redirects are not followed", status)
	default:
		out.err = fmt.Sprintf("HTTP %d", status)
		if text := clean(kept); text != "" {
			out.err += ": " + text
		}
	}
	return out
}

// describe words a failed call for the attempt's record, without the URL
// (net/http's errors repeat it).
func (s *Service) describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var refused errNotPublic
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return fmt.Sprintf("no answer within %s", s.cfg.Timeout)
	}
	return clean([]byte(err.Error()))
}

// clean makes text fit to store: valid UTF-8, no NUL (PostgreSQL's text
// refuses it), trimmed.
func clean(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
}

// record settles delivery d after its attempt-th call made at now, in one
// transaction: the attempt, the delivery's new state (delivered, retried at
// the next time of the schedule, or given up), and on a 410 the endpoint
// disabled. If the lease lapsed meanwhile (the delivery may be another
// worker's now), only the attempt is recorded.
func (s *Service) record(ctx context.Context, lease queue.Lease, d *ent.WebhookDelivery, attempt int, now time.Time, out outcome) error {
	ep := d.Edges.Endpoint
	var next *time.Time
	settle := func(tx *ent.Client) error {
		set := queue.Set{"updated_at": s.clock.Now()}
		switch {
		case out.delivered():
			set["status"] = webhookdelivery.StatusDELIVERED.String()
		case !out.gone() && attempt <= len(s.cfg.Retry):
			at := now.Add(s.cfg.Retry[attempt-1])
			next = &at
			return s.deliveries.Retry(ctx, tx, lease, d.ID, at, set)
		default:
			set["status"] = webhookdelivery.StatusFAILED.String()
		}
		return s.deliveries.Finish(ctx, tx, lease, d.ID, set)
	}
	return db.InTx(ctx, s.client, func(tx *ent.Client) error {
		err := settle(tx)
		lost := errors.Is(err, queue.ErrLeaseLost)
		if err != nil && !lost {
			return err
		}
		if lost {
			next = nil
		}
		ms := int(out.duration.Milliseconds())
		c := tx.WebhookAttempt.Create().SetOrganizationID(ep.OrganizationID).SetEndpointID(ep.ID).SetEventID(d.EventID).
			SetAttempt(attempt).SetNillableStatusCode(out.status).SetDurationMs(ms).SetCreatedAt(now).SetNillableNextAttemptAt(next)
		if out.err != "" {
			c.SetError(truncate(out.err, 2000))
		}
		if err := c.Exec(ctx); err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		if out.gone() && !lost {
			return s.disable(ctx, tx, ep, goneReason)
		}
		return nil
	})
}

// disable turns endpoint ep off for reason (Rollcall's decision, not an
// administrator's), drops what waits for it, and audits it as the system.
func (s *Service) disable(ctx context.Context, tx *ent.Client, ep *ent.WebhookEndpoint, reason string) error {
	n, err := tx.WebhookEndpoint.Update().Where(webhookendpoint.ID(ep.ID), webhookendpoint.Enabled(true)).
		SetEnabled(false).SetDisabledReason(reason).SetUpdatedAt(s.clock.Now()).Save(ctx)
	if err != nil {
		return fmt.Errorf("disable webhook endpoint %d: %w", ep.ID, err)
	}
	if n == 0 {
		return nil // disabled already
	}
	if err := s.dropWaiting(ctx, tx, ep.ID); err != nil {
		return err
	}
	return s.audit.Record(ctx, tx, ep.OrganizationID, audit.Event{Action: "webhook_endpoint.disabled",
		TargetType: "WebhookEndpoint", TargetID: ep.ID, TargetLabel: ep.URL, Details: map[string]any{"reason": reason}})
}

// dropWaiting marks the deliveries waiting for endpoint id SKIPPED; those
// in flight finish as they end.
func (s *Service) dropWaiting(ctx context.Context, tx *ent.Client, id int) error {
	err := tx.WebhookDelivery.Update().
		Where(webhookdelivery.EndpointID(id), webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING), webhookdelivery.LeasedByIsNil()).
		SetStatus(webhookdelivery.StatusSKIPPED).SetUpdatedAt(s.clock.Now()).Exec(auth.AsSystem(ctx))
	if err != nil {
		return fmt.Errorf("drop deliveries waiting for endpoint %d: %w", id, err)
	}
	return nil
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
