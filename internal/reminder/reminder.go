// Package reminder sends reminder rounds: people still INVITED some hours
// after their previous email get a fresh link, by themselves, as bulk sends
// with trigger REMINDER.
//
// Every replica runs the scheduler (Run). A pass finds who is due with one
// indexed statement per organisation and round (users' reminder_round and
// round_anchor_at, under the partial index user_reminder_due), and records
// each person's round in reminder_rounds, unique on (person, series, round):
// of two replicas (or a replica and its restarted self) only one inserts a
// given round, and only what it inserted is sent. The insert, the people's
// next anchor and the bulk send with its deliveries commit together, so a
// crash leaves either all of a round or none of it. Rounds are due by the
// times stored in the database: a server that was down catches up.
package reminder

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/reminderround"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/invite"
)

// Limits of a policy.
const (
	MaxRounds = 10  // afterHours values
	MinHours  = 1   // each afterHours value and expiryWarningHours
	MaxHours  = 720 // 30 days
)

// DefaultInterval is how often a replica looks for due rounds.
const DefaultInterval = time.Minute

// DefaultBatch is the most people one round's bulk send takes in a pass;
// more due people make more sends in the same pass.
const DefaultBatch = 10_000

// Policy is an organisation's reminder policy.
type Policy struct {
	Enabled            bool
	AfterHours         []int
	ExpiryWarningHours *int
}

// Of returns o's policy.
func Of(o *ent.Organization) Policy {
	hours := o.ReminderAfterHours
	if hours == nil {
		hours = []int{}
	}
	return Policy{Enabled: o.RemindersEnabled, AfterHours: hours, ExpiryWarningHours: o.ReminderExpiryWarningHours}
}

// Check refuses a policy out of bounds, naming the field at fault
// (reminders.afterHours, reminders.expiryWarningHours).
func Check(p Policy) error {
	if len(p.AfterHours) > MaxRounds {
		return apperr.Invalid("reminders.afterHours", fmt.Sprintf("at most %d rounds, not %d", MaxRounds, len(p.AfterHours)))
	}
	for i, h := range p.AfterHours {
		if h < MinHours || h > MaxHours {
			return apperr.Invalid("reminders.afterHours", fmt.Sprintf("round %d: %d hours is out of range: each value is from %d to %d hours", i+1, h, MinHours, MaxHours))
		}
	}
	if w := p.ExpiryWarningHours; w != nil && (*w < MinHours || *w > MaxHours) {
		return apperr.Invalid("reminders.expiryWarningHours", fmt.Sprintf("%d hours is out of range: from %d to %d hours", *w, MinHours, MaxHours))
	}
	return nil
}

// Queuer plans bulk sends inside a caller's transaction: the bulk-send
// engine (*bulksend.Service).
type Queuer interface {
	Queue(ctx context.Context, tx *ent.Client, orgID int, by invite.Requester, kind bulksend.Kind, trigger bulksend.Trigger, userIDs []int) (*ent.BulkSend, error)
	Queued(ctx context.Context, b *ent.BulkSend)
}

// Deps are the scheduler's collaborators.
type Deps struct {
	DB       *db.DB
	Clock    clock.Clock
	Bulk     Queuer
	Log      *slog.Logger
	Interval time.Duration // default DefaultInterval
	Batch    int           // default DefaultBatch
}

// Service is the reminder scheduler.
type Service struct {
	client   *ent.Client
	sql      statements
	clock    clock.Clock
	bulk     Queuer
	log      *slog.Logger
	interval time.Duration
	batch    int
}

// New returns the scheduler; Run starts it.
func New(d Deps) *Service {
	s := &Service{client: d.DB.Client, sql: statementsFor(d.DB.Dialect), clock: d.Clock, bulk: d.Bulk, log: d.Log,
		interval: d.Interval, batch: d.Batch}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.batch <= 0 {
		s.batch = DefaultBatch
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Run makes a pass at once and then every interval on the clock, until ctx
// ends.
func (s *Service) Run(ctx context.Context) {
	t := s.clock.NewTicker(s.interval)
	defer t.Stop()
	for {
		if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "reminder pass", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Pass starts every round that is due now in every organisation with
// reminders enabled, and returns the bulk sends it started.
func (s *Service) Pass(ctx context.Context) ([]*ent.BulkSend, error) {
	sys := auth.AsSystem(ctx)
	orgs, err := s.client.Organization.Query().Where(organization.RemindersEnabled(true)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("read reminder policies: %w", err)
	}
	var out []*ent.BulkSend
	for _, o := range orgs {
		p := Of(o)
		now := s.clock.Now()
		for i, h := range p.AfterHours {
			q := due{orgID: o.ID, round: i + 1, cutoff: now.Add(-time.Duration(h) * time.Hour), now: now, limit: s.batch}
			sends, err := s.drain(ctx, q)
			out = append(out, sends...)
			if err != nil {
				return out, err
			}
		}
		if w := p.ExpiryWarningHours; w != nil {
			q := due{orgID: o.ID, round: 0, cutoff: now.Add(time.Duration(*w) * time.Hour), now: now, limit: s.batch}
			sends, err := s.drain(ctx, q)
			out = append(out, sends...)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// drain starts q's round in sends of at most q.limit people until nobody
// is left due.
func (s *Service) drain(ctx context.Context, q due) ([]*ent.BulkSend, error) {
	var out []*ent.BulkSend
	for {
		b, n, err := s.start(ctx, q)
		if err != nil {
			return out, fmt.Errorf("reminder round %d of organisation %d: %w", q.round, q.orgID, err)
		}
		if b != nil {
			out = append(out, b)
		}
		if n < q.limit {
			return out, nil
		}
	}
}

// due is one round's search: people of orgID due round (0: the expiry
// warning) by cutoff.
type due struct {
	orgID, round, limit int
	cutoff, now         time.Time
}

// start records, in one transaction, the round of up to q.limit due people
// that no other pass recorded first, moves their rounds on, and queues their
// reminders as one bulk send. It returns the send (nil if nobody) and how
// many people were due.
func (s *Service) start(ctx context.Context, q due) (*ent.BulkSend, int, error) {
	sys := auth.AsSystem(ctx)
	var b *ent.BulkSend
	var due int
	err := db.InTx(sys, s.client, func(tx *ent.Client) error {
		ids, err := s.claim(sys, tx, q)
		if err != nil {
			return err
		}
		due = len(ids)
		if len(ids) == 0 {
			return nil
		}
		if q.round > 0 {
			// The next round counts from this one.
			if err := s.sql.advance(sys, tx, ids, q.round, q.now); err != nil {
				return err
			}
		}
		// Nobody asked: the send has no creator and tells nobody.
		b, err = s.bulk.Queue(sys, tx, q.orgID, invite.Requester{}, bulksend.KindREMINDER, bulksend.TriggerREMINDER, ids)
		if err != nil {
			return err
		}
		return s.sql.link(sys, tx, ids, q.round, b.ID)
	})
	if err != nil {
		return nil, 0, err
	}
	if b != nil {
		s.bulk.Queued(ctx, b)
		s.log.InfoContext(ctx, "reminder round started", slog.Int("organization", q.orgID), slog.Int("round", q.round),
			slog.Int("bulkSend", b.ID), slog.Int("people", b.Total))
	}
	return b, due, nil
}

// claim inserts the round rows of q's due people, skipping any another
// pass inserted first, and returns the people inserted.
func (s *Service) claim(ctx context.Context, tx *ent.Client, q due) ([]int, error) {
	query := s.sql.dueRound
	args := []any{q.orgID, q.round, q.cutoff, q.now, q.round - 1, q.limit}
	if q.round == 0 {
		query = s.sql.dueWarning
		args = []any{q.orgID, q.now, q.cutoff, q.limit}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("claim due people: %w", err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("claim due people: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim due people: %w", err)
	}
	return ids, nil
}

// statements are the scheduler's SQL in a database's dialect.
type statements struct {
	dueRound, dueWarning string
}

// The suppressed (bounced or complained) get nothing: they are left out.
const notSuppressed = `(last_email_status IS NULL OR last_email_status NOT IN ('BOUNCED', 'COMPLAINED'))`

// dueRoundSQL: $1 organisation, $2 round, $3 cutoff (the previous email at
// or before it), $4 now, $5 the round before, $6 limit. status = 'INVITED'
// is written out so the partial index applies.
const dueRoundSQL = `INSERT INTO reminder_rounds (organization_id, user_id, series_at, round, created_at, updated_at)
	SELECT organization_id, id, invited_at, $2, $4, $4 FROM users
	WHERE organization_id = $1 AND status = 'INVITED' AND reminder_round = $5 AND round_anchor_at <= $3
		AND invited_at IS NOT NULL AND ` + notSuppressed + `
	ORDER BY round_anchor_at LIMIT $6
	ON CONFLICT (user_id, series_at, round) DO NOTHING
	RETURNING user_id`

// dueWarningSQL: $1 organisation, $2 now, $3 the warning horizon, $4
// limit: pending invitations expiring by the horizon whose series had no
// warning yet.
const dueWarningSQL = `INSERT INTO reminder_rounds (organization_id, user_id, series_at, round, created_at, updated_at)
	SELECT organization_id, id, invited_at, 0, $2, $2 FROM users
	WHERE organization_id = $1 AND status = 'INVITED' AND invite_expires_at > $2 AND invite_expires_at <= $3
		AND invited_at IS NOT NULL AND ` + notSuppressed + `
		AND NOT EXISTS (SELECT 1 FROM reminder_rounds r WHERE r.user_id = users.id AND r.series_at = users.invited_at AND r.round = 0)
	LIMIT $4
	ON CONFLICT (user_id, series_at, round) DO NOTHING
	RETURNING user_id`

func statementsFor(name string) statements {
	if name == dialect.Postgres {
		return statements{dueRound: dueRoundSQL, dueWarning: dueWarningSQL}
	}
	// SQLite numbers parameters ?NNN.
	re := func(q string) string { return strings.ReplaceAll(q, "$", "?") }
	return statements{dueRound: re(dueRoundSQL), dueWarning: re(dueWarningSQL)}
}

// advance moves people to round, counting the next one from now.
func (st statements) advance(ctx context.Context, tx *ent.Client, ids []int, round int, now time.Time) error {
	for start := 0; start < len(ids); start += 5000 {
		part := ids[start:min(start+5000, len(ids))]
		err := tx.User.Update().Where(user.IDIn(part...)).SetReminderRound(round).SetRoundAnchorAt(now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("advance reminder rounds: %w", err)
		}
	}
	return nil
}

// link records the send that carries the people's round.
func (st statements) link(ctx context.Context, tx *ent.Client, ids []int, round, sendID int) error {
	for start := 0; start < len(ids); start += 5000 {
		part := ids[start:min(start+5000, len(ids))]
		err := tx.ReminderRound.Update().
			Where(reminderround.UserIDIn(part...), reminderround.Round(round), reminderround.BulkSendIDIsNil()).
			SetBulkSendID(sendID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("link reminder rounds: %w", err)
		}
	}
	return nil
}
