// Package invite runs the invitation lifecycle: inviting people, resending and
// revoking invitations, personal links, accepting, password resets, temporary
// passwords and password changes. Links carry single-use tokens stored as
// hashes; issuing a token of a kind revokes the person's older ones.
package invite

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/password"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/token"
)

// Links builds the URLs put in emails.
type Links struct {
	PublicURL string // base of the built-in pages, e.g. http://localhost:8080
	// Optional SPA pages; "{token}" is replaced by the token.
	InviteTemplate, ResetTemplate string
}

// Invite is the link that accepts an invitation.
func (l Links) Invite(tok string) string {
	return l.build(l.InviteTemplate, "/invite/accept", tok)
}

// Reset is the link that sets a new password.
func (l Links) Reset(tok string) string {
	return l.build(l.ResetTemplate, "/password/reset", tok)
}

// SignIn is where people sign in.
func (l Links) SignIn() string { return strings.TrimRight(l.PublicURL, "/") + "/" }

func (l Links) build(tmpl, path, tok string) string {
	if tmpl != "" {
		return strings.ReplaceAll(tmpl, "{token}", url.QueryEscape(tok))
	}
	return strings.TrimRight(l.PublicURL, "/") + path + "?token=" + url.QueryEscape(tok)
}

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
	mailer  *Mailer
	audit   *audit.Log
	limiter *throttle.Limiter
	links   Links
	limits  Limits
	bulk    Queuer
	log     *slog.Logger
	dialect string
	resets  ResetConfig
	// resetWake wakes this replica's reset worker (see RunResets).
	resetWake chan struct{}
}

// Deps are the Service's collaborators.
type Deps struct {
	Client  *ent.Client
	Clock   clock.Clock
	Auth    *auth.Service
	Policy  *password.Policy
	Mailer  *Mailer
	Audit   *audit.Log
	Limiter *throttle.Limiter
	Links   Links
	Limits  Limits
	Bulk    Queuer
	Log     *slog.Logger
	// Dialect is the database's (entgo.io/ent/dialect's names).
	Dialect string
	Resets  ResetConfig
}

// Queuer queues emails inside a caller's transaction: the bulk-send engine,
// which works every email, one person's or many's (an interface, because
// that service renders with this package).
type Queuer interface {
	// Queue plans a bulk send of kind to userIDs, started by trigger; call
	// Queued with it after the transaction commits.
	Queue(ctx context.Context, tx *ent.Client, orgID, createdBy int, kind bulksend.Kind, trigger bulksend.Trigger, userIDs []int) (*ent.BulkSend, error)
	// QueuePeople is Queue for people just read or created through tx, all
	// of orgID (they are not read again), recording events in the audit
	// log with the send's own.
	QueuePeople(ctx context.Context, tx *ent.Client, orgID, createdBy int, kind bulksend.Kind, trigger bulksend.Trigger, people []*ent.User, events ...audit.Event) (*ent.BulkSend, error)
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

// OneEmail is one person's email for the engine to deliver: the same
// rules as a bulk send's (suppression, retries, provider reports, the
// person's state change when it leaves), without a BulkSend.
type OneEmail struct {
	OrgID, UserID int
	To            string          // the address it goes to
	Action        delivery.Action // INVITATION, PASSWORD_RESET or EMAIL_CHANGED
	RequestedBy   *int            // who asked (the inviter the email names); nil for the system
	NewEmail      string          // EMAIL_CHANGED: the address the account moved to
	// Last is the lastEmailStatus of the address To (the person's, before
	// any change in the caller's transaction): a bounced or complained
	// address gets a SKIPPED delivery with the reason, unless Force.
	Last  *enum.DeliveryStatus
	Force bool
}

// New returns the invitation service.
func New(d Deps) *Service {
	return &Service{client: d.Client, clock: d.Clock, auth: d.Auth, policy: d.Policy, mailer: d.Mailer,
		audit: d.Audit, limiter: d.Limiter, links: d.Links, limits: d.Limits, bulk: d.Bulk, log: d.Log,
		dialect: d.Dialect, resets: d.Resets.withDefaults(), resetWake: make(chan struct{}, 1)}
}

// issued is a token handed to one person.
type issued struct {
	userID  int
	plain   string
	expires time.Time
}

// issueTokens revokes every open token of kind held by users and records a
// new one for each, in the transaction behind tx. It returns the plain tokens.
func (s *Service) issueTokens(ctx context.Context, tx *ent.Client, orgID int, kind invitation.Kind, ttl time.Duration, createdBy *int, userIDs ...int) ([]issued, error) {
	ctx = auth.AsSystem(ctx)
	now := s.clock.Now()
	if err := RevokeTokens(ctx, tx, now, kind, userIDs...); err != nil {
		return nil, err
	}
	out := make([]issued, len(userIDs))
	creates := make([]*ent.InvitationCreate, len(userIDs))
	for i, id := range userIDs {
		plain, hash := token.New()
		out[i] = issued{userID: id, plain: plain, expires: now.Add(ttl)}
		creates[i] = tx.Invitation.Create().SetOrganizationID(orgID).SetUserID(id).SetKind(kind).
			SetTokenHash(hash).SetExpiresAt(now.Add(ttl)).SetNillableCreatedByID(createdBy).
			SetCreatedAt(now).SetUpdatedAt(now)
	}
	for start := 0; start < len(creates); start += 1000 {
		end := min(start+1000, len(creates))
		if err := tx.Invitation.CreateBulk(creates[start:end]...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("issue tokens: %w", err)
		}
	}
	return out, nil
}

// RevokeTokens revokes the open tokens of kind (every kind when kind is "")
// held by users, through client (a transaction's, usually).
func RevokeTokens(ctx context.Context, client *ent.Client, now time.Time, kind invitation.Kind, userIDs ...int) error {
	for start := 0; start < len(userIDs); start += 1000 {
		end := min(start+1000, len(userIDs))
		q := client.Invitation.Update().
			Where(invitation.UserIDIn(userIDs[start:end]...), invitation.UsedAtIsNil(), invitation.RevokedAtIsNil())
		if kind != "" {
			q = q.Where(invitation.KindEQ(kind))
		}
		if _, err := q.SetRevokedAt(now).SetUpdatedAt(now).Save(auth.AsSystem(ctx)); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
	}
	return nil
}
