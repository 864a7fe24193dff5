// Package bulksend emails many people at once without losing any of them.
//
// Every email is a Delivery worked here, one person's (a resent invitation,
// reset instructions, a notice: a Delivery with no BulkSend, see QueueOne)
// or many's. A send is planned in one transaction: a BulkSend row and one
// Delivery row per person selected, each with the action that person gets (or SKIP, with
// the reason). Workers on every replica then claim queued deliveries in small
// units under a lease, issue the tokens, send (in Mailgun batches where the
// sender supports them), and record the outcome of the whole unit in one
// transaction that also moves the send's counters. A replica that dies leaves
// its claims to lapse; another replica takes them over, so at most the
// deliveries in flight at the crash are sent twice.
package bulksend

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/template"
	"github.com/rollcall/rollcall/internal/token"
)

// Config tunes the workers.
type Config struct {
	Concurrency int           // workers per replica, each making one provider call at a time; default 8
	Rate        float64       // recipients per second per replica; 0 = no fixed limit
	Lease       time.Duration // a claim lapses after this long unrenewed; default 30s
	BatchUnit   int           // deliveries claimed at once with a batch sender; default mail.MaxBatch
	SingleUnit  int           // deliveries claimed at once otherwise; default 200
	MaxAttempts int           // provider calls per delivery before it fails; default 10
	RetryBase   time.Duration // first retry delay, doubled each time with jitter; default 2s
	RetryMax    time.Duration // longest retry delay; default 5 min
	Poll        time.Duration // how often idle workers look for work nobody announced; default 1s
	SingleWait  time.Duration // how long Dispatch waits for one person's email to be recorded; default 5s
	Singly      bool          // never batch, even with a sender that can
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Concurrency, 8)
	def(&c.BatchUnit, mail.MaxBatch)
	def(&c.SingleUnit, 200)
	def(&c.MaxAttempts, 10)
	defDur(&c.Lease, 30*time.Second)
	defDur(&c.RetryBase, 2*time.Second)
	defDur(&c.RetryMax, 5*time.Minute)
	defDur(&c.Poll, time.Second)
	defDur(&c.SingleWait, 5*time.Second)
	c.BatchUnit = min(c.BatchUnit, mail.MaxBatch)
	return c
}

// Deps are the Service's collaborators.
type Deps struct {
	DB        *db.DB
	Clock     clock.Clock
	Bus       events.Bus
	Templates *template.Service // templates and the sender address
	Sender    mail.Sender       // also used for batches when it is a mail.BatchSender
	Links     credentials.Links
	Audit     *audit.Log
	Notify    *notify.Service
	// Events records what the engine does (invitation.sent, email.*,
	// bulk_send.completed) in the transaction that records it. Needed.
	Events    *event.Log
	Log       *slog.Logger
	Config    Config
	ReplicaID string // names this replica's claims; default host-pid-random
}

// Service plans, works and reports bulk sends.
type Service struct {
	store     store // the statements that differ between the databases
	client    *ent.Client
	clock     clock.Clock
	bus       events.Bus
	overrides *template.Service
	sender    mail.Sender
	batch     mail.BatchSender // nil when the sender cannot batch
	links     credentials.Links
	audit     *audit.Log
	notify    *notify.Service
	events    *event.Log
	log       *slog.Logger
	cfg       Config
	replicaID string
	limiter   *rate.Limiter
	wake      kicker // wakes a worker
	express   kicker // wakes the worker of one person's emails
	waiters   waiters
	pause     pause
	feeds     feeds
}

// New returns the bulk-send service. Call Run to start its workers.
func New(d Deps) *Service {
	cfg := d.Config.withDefaults()
	s := &Service{store: newStore(d.DB.Dialect), client: d.DB.Client, clock: d.Clock, bus: d.Bus, overrides: d.Templates, sender: d.Sender,
		links: d.Links, audit: d.Audit, notify: d.Notify, events: d.Events, log: d.Log, cfg: cfg, replicaID: d.ReplicaID,
		wake: newKicker(), express: newKicker(), waiters: waiters{m: map[int][]chan struct{}{}}, feeds: feeds{bus: d.Bus, m: map[int]*feed{}}}
	if b, ok := d.Sender.(mail.BatchSender); ok && !cfg.Singly {
		s.batch = b
	}
	if s.replicaID == "" {
		host, _ := os.Hostname()
		plain, _ := token.New()
		s.replicaID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), plain[:8])
	}
	if cfg.Rate > 0 {
		// A unit holds at most a tenth of a second's sending, so claims
		// stay short-lived (less to resend after a crash, fresher data,
		// a fair share for other replicas) and never exceed the burst.
		burst := max(1, int(cfg.Rate))
		s.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), burst)
		unit := max(1, int(cfg.Rate/10))
		s.cfg.BatchUnit = min(s.cfg.BatchUnit, unit)
		s.cfg.SingleUnit = min(s.cfg.SingleUnit, unit)
	}
	return s
}

// workTopic tells every replica's workers that deliveries were queued.
const workTopic = "bulksend:work"

// ProgressTopic is the events topic carrying send id's progress.
func ProgressTopic(id int) string { return "bulksend:" + strconv.Itoa(id) }

// fingerprint hashes a request's selection for idempotency checks.
func fingerprint(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return h.Sum(nil)
}
