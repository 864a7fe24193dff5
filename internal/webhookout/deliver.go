package webhookout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
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
	results := make([]result, len(rows))
	var wg sync.WaitGroup
	for i, d := range rows {
		wg.Go(func() {
			results[i] = s.deliver(sys, d, attempt[d.ID])
		})
	}
	wg.Wait()
	if err := s.record(context.WithoutCancel(sys), held, results); err != nil {
		return false, len(jobs), err
	}
	return len(jobs) == n, len(jobs), nil
}

// result is one claimed delivery's call: its attempt-th, made at at.
type result struct {
	d       *ent.WebhookDelivery
	attempt int
	at      time.Time
	out     outcome
	// skipped: the endpoint was disabled after the delivery was written;
	// no call was made.
	skipped bool
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

// deliver makes the attempt-th call of delivery d, unless its endpoint
// has been disabled meanwhile.
func (s *Service) deliver(ctx context.Context, d *ent.WebhookDelivery, attempt int) result {
	ep, ev := d.Edges.Endpoint, d.Edges.Event
	r := result{d: d, attempt: attempt, at: s.clock.Now()}
	if !ep.Enabled {
		r.skipped = true
		return r
	}
	body, err := json.Marshal(Payload{Type: ev.Type, Timestamp: ev.OccurredAt.UTC().Format(time.RFC3339Nano), Data: ev.Data})
	if err != nil {
		r.out.err = fmt.Sprintf("encode event %d: %v", ev.ID, err)
		return r
	}
	secrets := []string{ep.Secret}
	if ep.PreviousSecret != nil && ep.PreviousSecretExpiresAt != nil && r.at.Before(*ep.PreviousSecretExpiresAt) {
		secrets = append(secrets, *ep.PreviousSecret)
	}
	msgID := strconv.Itoa(ev.ID)
	sig, err := Sign(msgID, r.at, body, secrets...)
	if err != nil {
		r.out.err = err.Error()
		return r
	}
	r.out = s.call(ctx, ep.URL, msgID, r.at, body, sig)
	return r
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

// record settles a batch's calls in one transaction: each delivery's new
// state (delivered, retried at the next time of the schedule, given up, or
// skipped for a disabled endpoint), an attempt per call made, and on a 410
// the endpoint disabled. A delivery whose lease lapsed meanwhile (it may be
// another worker's now) gets only its attempt recorded. Calls abandoned
// when the worker stopped record nothing.
func (s *Service) record(ctx context.Context, lease queue.Lease, results []result) error {
	now := s.clock.Now()
	var delivered, skipped []int
	for _, r := range results {
		switch {
		case r.skipped:
			skipped = append(skipped, r.d.ID)
		case !r.out.abandoned && r.out.delivered():
			delivered = append(delivered, r.d.ID)
		}
	}
	return db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if _, err := s.deliveries.FinishAll(ctx, tx, lease, skipped,
			queue.Set{"status": webhookdelivery.StatusSKIPPED.String(), "updated_at": now}); err != nil {
			return err
		}
		settled, err := s.deliveries.FinishAll(ctx, tx, lease, delivered,
			queue.Set{"status": webhookdelivery.StatusDELIVERED.String(), "updated_at": now})
		if err != nil {
			return err
		}
		var attempts []*ent.WebhookAttemptCreate
		disabled := map[int]bool{}
		for _, r := range results {
			if r.skipped || r.out.abandoned {
				continue
			}
			held := slices.Contains(settled, r.d.ID)
			var next *time.Time
			if !r.out.delivered() {
				if held, next, err = s.settleFailure(ctx, tx, lease, r); err != nil {
					return err
				}
			}
			ep := r.d.Edges.Endpoint
			c := tx.WebhookAttempt.Create().SetOrganizationID(ep.OrganizationID).SetEndpointID(ep.ID).SetEventID(r.d.EventID).
				SetAttempt(r.attempt).SetNillableStatusCode(r.out.status).SetDurationMs(int(r.out.duration.Milliseconds())).
				SetCreatedAt(r.at).SetNillableNextAttemptAt(next)
			if r.out.err != "" {
				c.SetError(truncate(r.out.err, 2000))
			}
			attempts = append(attempts, c)
			if r.out.gone() && held && !disabled[ep.ID] {
				disabled[ep.ID] = true
				if err := s.disable(ctx, tx, ep, goneReason); err != nil {
					return err
				}
			}
		}
		if len(attempts) == 0 {
			return nil
		}
		if err := tx.WebhookAttempt.CreateBulk(attempts...).Exec(ctx); err != nil {
			return fmt.Errorf("record %d webhook attempts: %w", len(attempts), err)
		}
		return nil
	})
}

// settleFailure settles a failed call's delivery: retried at the next time
// of the schedule (returned), or given up after the last retry or a 410.
// held is false, and nothing written, if the lease lapsed.
func (s *Service) settleFailure(ctx context.Context, tx *ent.Client, lease queue.Lease, r result) (held bool, next *time.Time, err error) {
	set := queue.Set{"updated_at": s.clock.Now()}
	if !r.out.gone() && r.attempt <= len(s.cfg.Retry) {
		at := r.at.Add(s.cfg.Retry[r.attempt-1])
		next = &at
		err = s.deliveries.Retry(ctx, tx, lease, r.d.ID, at, set)
	} else {
		set["status"] = webhookdelivery.StatusFAILED.String()
		err = s.deliveries.Finish(ctx, tx, lease, r.d.ID, set)
	}
	if errors.Is(err, queue.ErrLeaseLost) {
		return false, nil, nil
	}
	return err == nil, next, err
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
