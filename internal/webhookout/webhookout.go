// Package webhookout sends an organisation's events to its platform as
// signed HTTP calls, following the Standard Webhooks specification v1.
//
// The path of an event: a change writes its Event row in its own
// transaction (internal/event). Fan-out reads the log in commit order from a
// cursor that one replica at a time holds under a lease, and writes one
// WebhookDelivery per enabled, subscribed endpoint, advancing the cursor in
// the same transaction, so each (endpoint, event) is written exactly once.
// Delivery workers on every replica claim due deliveries (internal/queue),
// POST them, and record each attempt; failures are retried on the
// configured schedule, a 410 disables the endpoint. A worker that stops
// mid-call settles nothing: its lease lapses and another replica sends the
// event again, so every event reaches every subscribed endpoint at least
// once; order is not promised.
//
// Endpoints, secrets and redelivery are managed here too, with
// organization.manage.
package webhookout

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/queue"
)

// Config tunes webhooks; zero values take the defaults (DefaultConfig).
type Config struct {
	// Timeout bounds one call: connecting, sending, and the answer's
	// headers and (bounded) body.
	Timeout time.Duration
	// Retry is the wait before each retry after a failed call; when it is
	// used up the delivery is given up.
	Retry []time.Duration
	// AllowPrivate lets endpoints use http and private or loopback
	// addresses (development and tests).
	AllowPrivate bool
	// Poll is how often a replica looks for work nobody woke it for.
	Poll time.Duration
	// Lease is how long a worker's claim lasts unrenewed.
	Lease time.Duration
	// Concurrency is the most calls in flight per replica.
	Concurrency int
	// MaxEndpoints is the most endpoints an organisation may have.
	MaxEndpoints int
}

// DefaultRetry is the default retry schedule: about 28 hours in all.
func DefaultRetry() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// DefaultConfig is the production configuration.
func DefaultConfig() Config {
	return Config{Timeout: 15 * time.Second, Retry: DefaultRetry(), Poll: 5 * time.Second, Lease: 30 * time.Second,
		Concurrency: 32, MaxEndpoints: 20}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if len(c.Retry) == 0 {
		c.Retry = d.Retry
	}
	if c.Poll <= 0 {
		c.Poll = d.Poll
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MaxEndpoints <= 0 {
		c.MaxEndpoints = d.MaxEndpoints
	}
	return c
}

// ParseRetry reads a retry schedule: durations separated by commas, such as
// "5s,5m,30m,2h".
func ParseRetry(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("webhook retry schedule %q: %q is not a positive duration such as 5s or 2h", s, part)
		}
		out = append(out, d)
	}
	if len(out) == 0 || len(out) > 50 {
		return nil, fmt.Errorf("webhook retry schedule %q: want 1 to 50 durations separated by commas", s)
	}
	return out, nil
}

// EventTypes lists the event types an endpoint may subscribe to (docs/api.md).
func EventTypes() []string {
	return []string{
		"user.created", "user.updated", "user.deactivated", "user.reactivated", "user.deleted",
		"invitation.sent", "invitation.accepted", "invitation.revoked",
		"email.delivered", "email.bounced", "email.complained", "email.failed",
		"password.reset", "bulk_send.completed", "import.completed",
	}
}

// RotationOverlap is how long the previous secret still signs after a
// rotation.
const RotationOverlap = 24 * time.Hour

// Deps are the Service's collaborators.
type Deps struct {
	Client *ent.Client
	// Dialect is the database's (entgo.io/ent/dialect's names).
	Dialect string
	Clock   clock.Clock
	Events  *event.Log
	Audit   *audit.Log
	Log     *slog.Logger
	Config  Config
	// Resolver looks endpoint hosts up, when they are saved and when they
	// are called; nil: the system's resolver.
	Resolver Resolver
}

// Service manages endpoints and runs fan-out and delivery.
type Service struct {
	client   *ent.Client
	clock    clock.Clock
	events   *event.Log
	audit    *audit.Log
	log      *slog.Logger
	cfg      Config
	resolver Resolver
	http     *http.Client
	// deliveries and cursor are the work rows; fanWake and deliverWake
	// wake this replica's fan-out and delivery workers.
	deliveries  *queue.Queue
	cursor      *queue.Queue
	fanWake     queue.Waker
	deliverWake queue.Waker
	// cursorReady is set once the fan-out cursor's row is known to exist.
	cursorReady atomic.Bool
}

// New returns the service.
func New(d Deps) *Service {
	s := &Service{client: d.Client, clock: d.Clock, events: d.Events, audit: d.Audit, log: d.Log,
		cfg: d.Config.withDefaults(), resolver: d.Resolver, fanWake: queue.NewWaker(), deliverWake: queue.NewWaker()}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	s.http = s.newClient()
	s.deliveries = queue.New(d.Client, d.Dialect, d.Clock,
		queue.Table{Name: "webhook_deliveries", Ready: "status = 'PENDING'", Scheduled: true}, s.cfg.Lease)
	s.cursor = queue.New(d.Client, d.Dialect, d.Clock, queue.Table{Name: "webhook_cursors"}, s.cfg.Lease)
	return s
}

// Wake tells this replica new events have committed: fan-out runs at once
// (and delivery after it). It never blocks.
func (s *Service) Wake() {
	s.fanWake.Wake()
	s.deliverWake.Wake()
}

// newSecret returns a signing secret: whsec_ and the base64 of 32 random
// bytes, as the specification writes them.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header of a message: one "v1,"
// signature per secret, space-separated (two during a rotation's overlap),
// computed by the Standard Webhooks library over id.timestamp.body.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return "", fmt.Errorf("read webhook secret: %w", err)
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			return "", fmt.Errorf("sign webhook: %w", err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Run runs this replica's fan-out and delivery workers until ctx ends.
// Fan-out runs when a commit that wrote events is announced on any replica,
// and every Poll.
// Calls in flight when it ends are abandoned, as in a crash: nothing is
// recorded for them, and their leases lapse so that another replica (or
// this one, restarted) sends them again.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.events.Follow(ctx, s.position, s.Wake) })
	wg.Go(func() {
		queue.Loop{Name: "webhook fan-out", Clock: s.clock, Poll: s.cfg.Poll, Wake: s.fanWake, Log: s.log,
			Work: s.FanOut}.Run(ctx)
	})
	for _, n := range batches(s.cfg.Concurrency) {
		wg.Go(func() {
			queue.Loop{Name: "webhook delivery", Clock: s.clock, Poll: s.cfg.Poll, Wake: s.deliverWake, Log: s.log,
				Work: func(ctx context.Context) (bool, error) { return s.deliverDue(ctx, n) }, Next: s.deliveries.NextDue}.Run(ctx)
		})
	}
	wg.Wait()
	s.http.CloseIdleConnections()
}

// maxBatch is the most deliveries one worker claims at once (their calls go
// out together).
const maxBatch = 8

// batches splits concurrency calls in flight among delivery workers: one per
// maxBatch calls, each claiming its share.
func batches(concurrency int) []int {
	workers := (concurrency + maxBatch - 1) / maxBatch
	out := make([]int, workers)
	for i := range out {
		out[i] = concurrency / workers
		if i < concurrency%workers {
			out[i]++
		}
	}
	return out
}
