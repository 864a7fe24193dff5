// Package invite runs the invitation lifecycle: inviting people, resending and
// revoking invitations, personal links, accepting, password resets, temporary
// passwords and password changes. Links carry single-use tokens (see
// internal/credentials).
package invite

import (
	"context"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/password"
	"github.com/rollcall/rollcall/internal/queue"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Limits bound the public operations per client address and per address.
type Limits struct {
	PerClient int           // token checks, accepts and resets per client address per Window
	ResetsPer int           // reset requests per email address per Window
	Window    time.Duration // the window of both
}

// DefaultLimits are the production limits.
func DefaultLimits() Limits { return Limits{PerClient: 60, ResetsPer: 5, Window: 15 * time.Minute} }

// Service runs the invitation lifecycle.
type Service struct {
	client  *ent.Client
	clock   clock.Clock
	auth    *auth.Service
	policy  *password.Policy
	audit   *audit.Log
	limiter *throttle.Limiter
	links   credentials.Links
	limits  Limits
	bulk    Queuer
	log     *slog.Logger
	resets  ResetConfig
	events  *event.Log
	notify  *notify.Service
	// resetQueue holds the password-reset requests; resetWake wakes this
	// replica's worker (see RunResets).
	resetQueue *queue.Queue
	resetWake  queue.Waker
}

// Deps are the Service's collaborators.
type Deps struct {
	Client  *ent.Client
	Clock   clock.Clock
	Auth    *auth.Service
	Policy  *password.Policy
	Audit   *audit.Log
	Limiter *throttle.Limiter
	Links   credentials.Links
	Limits  Limits
	Bulk    Queuer
	Log     *slog.Logger
	// Dialect is the database's (entgo.io/ent/dialect's names).
	Dialect string
	Resets  ResetConfig
	// Events records the lifecycle's events (user.created,
	// invitation.accepted, …) in each change's transaction; Notify tells
	// inviters their invitation was accepted. Both are needed.
	Events *event.Log
	Notify *notify.Service
}

// Queuer queues emails inside a caller's transaction: the bulk-send engine,
// which works every email, one person's or many's (an interface, because
// that service renders with this package).
type Queuer interface {
	// Queue plans a bulk send of kind to userIDs, started by trigger; call
	// Queued with it after the transaction commits.
	Queue(ctx context.Context, tx *ent.Client, orgID int, by Requester, kind bulksend.Kind, trigger bulksend.Trigger, userIDs []int) (*ent.BulkSend, error)
	// QueuePeople is Queue for people just read or created through tx, all
	// of orgID (they are not read again), recording events in the audit
	// log with the send's own.
	QueuePeople(ctx context.Context, tx *ent.Client, orgID int, by Requester, kind bulksend.Kind, trigger bulksend.Trigger, people []*ent.User, events ...audit.Event) (*ent.BulkSend, error)
	Queued(ctx context.Context, b *ent.BulkSend)
	// QueueOne writes one person's email as a delivery with no send and
	// returns its id; call Dispatch with it after the transaction commits.
	QueueOne(ctx context.Context, tx *ent.Client, e OneEmail) (int, error)
	// Dispatch wakes the workers (this replica's at once, the others'
	// through the events bus) for committed deliveries; with wait it
	// returns once this replica has recorded the outcome of each of ids,
	// or after a bounded wait if another replica took them.
	Dispatch(ctx context.Context, wait bool, ids ...int)
}

// Requester is who asks for emails: a person (UserID), whom the emails
// name as the inviter and whose sends they are; an API key (APIKeyID),
// whose sends are its own and whose emails name the organisation as the
// inviter; or neither, the system.
type Requester struct {
	UserID, APIKeyID int
}

// RequesterOf is the viewer v as a requester: the person, or the API key.
func RequesterOf(v *viewer.Viewer) Requester {
	if v == nil {
		return Requester{}
	}
	if v.IsKey() {
		return Requester{APIKeyID: v.APIKeyID}
	}
	return Requester{UserID: v.UserID}
}

// Person is the requesting person's id, or nil.
func (r Requester) Person() *int { return nonZero(r.UserID) }

// Key is the requesting API key's id, or nil.
func (r Requester) Key() *int { return nonZero(r.APIKeyID) }

func nonZero(id int) *int {
	if id == 0 {
		return nil
	}
	return &id
}

// OneEmail is one person's email for the engine to deliver: the same
// rules as a bulk send's (suppression, retries, provider reports, the
// person's state change when it leaves), without a BulkSend.
type OneEmail struct {
	OrgID, UserID int
	To            string          // the address it goes to
	Action        delivery.Action // INVITATION, PASSWORD_RESET or EMAIL_CHANGED
	RequestedBy   Requester       // who asked (the inviter the email names); zero for the system
	NewEmail      string          // EMAIL_CHANGED: the address the account moved to
	// Last is the lastEmailStatus of the address To (the person's, before
	// any change in the caller's transaction): a bounced or complained
	// address gets a SKIPPED delivery with the reason, unless Force.
	Last  *enum.DeliveryStatus
	Force bool
}

// New returns the invitation service.
func New(d Deps) *Service {
	s := &Service{client: d.Client, clock: d.Clock, auth: d.Auth, policy: d.Policy,
		audit: d.Audit, limiter: d.Limiter, links: d.Links, limits: d.Limits, bulk: d.Bulk, log: d.Log,
		resets: d.Resets.withDefaults(), events: d.Events, notify: d.Notify, resetWake: queue.NewWaker()}
	s.resetQueue = queue.New(d.Client, d.Dialect, d.Clock, queue.Table{Name: "password_reset_requests", Scheduled: true}, s.resets.Lease)
	return s
}
