// Package reminder sends reminder rounds: people still INVITED some hours
// after their previous email get a fresh link, by themselves, as bulk sends
// with trigger REMINDER.
//
// Every replica runs the scheduler (Run). A pass finds who is due with one
// indexed statement per organisation and round: a range of
// reminder_schedules (where each person's rounds stand, written afresh by
// every invitation through internal/rounds) joined to the people still
// waiting. It records each person's round in reminder_rounds, unique on
// (person, series, round): of two replicas (or a replica and its restarted
// self) only one inserts a given round, and only what it inserted is sent.
// The insert, the schedules moved on and the bulk send with its deliveries
// commit together, so a crash leaves either all of a round or none of it.
// Rounds are due by the times stored in the database: a server that was
// down catches up. Schedules that come due for people no longer waiting
// are removed as the pass finds them.
package reminder

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/reminderround"
	"github.com/rollcall/rollcall/ent/reminderschedule"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
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
	QueuePeople(ctx context.Context, tx *ent.Client, orgID int, by invite.Requester, kind bulksend.Kind, trigger bulksend.Trigger, people []*ent.User, events ...audit.Event) (*ent.BulkSend, error)
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
		var qs []due
		for i, h := range p.AfterHours {
			qs = append(qs, due{orgID: o.ID, round: i + 1, cutoff: now.Add(-time.Duration(h) * time.Hour), now: now, limit: s.batch})
		}
		if w := p.ExpiryWarningHours; w != nil {
			qs = append(qs, due{orgID: o.ID, round: 0, cutoff: now.Add(time.Duration(*w) * time.Hour), now: now, limit: s.batch})
		}
		for _, q := range qs {
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
			if q.round > 0 {
				return out, s.forget(ctx, q)
			}
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
		people, dueIDs, err := s.claim(sys, tx, q)
		if err != nil {
			return err
		}
		due = len(dueIDs)
		if q.round > 0 && due > 0 {
			// The next round counts from this one. Those whose round
			// another pass recorded move on too (that pass moved them
			// already, or they would be read again and again).
			if err := advance(sys, tx, dueIDs, q.round, q.now); err != nil {
				return err
			}
		}
		if len(people) == 0 {
			return nil
		}
		ids := make([]int, len(people))
		for i, u := range people {
			ids[i] = u.ID
		}
		// Nobody asked: the send has no creator and tells nobody.
		b, err = s.bulk.QueuePeople(sys, tx, q.orgID, invite.Requester{}, bulksend.KindREMINDER, bulksend.TriggerREMINDER, people)
		if err != nil {
			return err
		}
		return link(sys, tx, ids, q.round, b.ID)
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

// claim reads q's due people (at most q.limit) and records their round,
// skipping any whose round another pass recorded first. It returns the
// people recorded, with what their send needs, and the ids of all who were
// due.
func (s *Service) claim(ctx context.Context, tx *ent.Client, q due) ([]*ent.User, []int, error) {
	query, args := s.sql.dueRound, []any{q.orgID, q.round - 1, q.cutoff, q.limit}
	if q.round == 0 {
		query, args = s.sql.dueWarning, []any{q.orgID, q.now, q.cutoff, q.limit}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read due people: %w", err)
	}
	defer rows.Close()
	var candidates []*ent.User
	for rows.Next() {
		u := &ent.User{}
		var last sql.NullString
		if err := rows.Scan(&u.ID, &u.Email, &u.Status, &last, &u.RoleID, &u.InvitedAt); err != nil {
			return nil, nil, fmt.Errorf("read due people: %w", err)
		}
		if last.Valid {
			st := enum.DeliveryStatus(last.String)
			u.LastEmailStatus = &st
		}
		candidates = append(candidates, u)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read due people: %w", err)
	}
	recorded, err := s.record(ctx, tx, q, candidates)
	if err != nil {
		return nil, nil, err
	}
	var people []*ent.User
	ids := make([]int, len(candidates))
	for i, u := range candidates {
		ids[i] = u.ID
		if recorded[u.ID] {
			people = append(people, u)
		}
	}
	return people, ids, nil
}

// record inserts the round rows of people, skipping any another pass
// inserted first (it waits for that pass to end), and returns the people
// whose rows it inserted.
func (s *Service) record(ctx context.Context, tx *ent.Client, q due, people []*ent.User) (map[int]bool, error) {
	out := make(map[int]bool, len(people))
	for start := 0; start < len(people); start += chunk {
		part := people[start:min(start+chunk, len(people))]
		var values strings.Builder
		args := make([]any, 0, 3+2*len(part))
		args = append(args, q.orgID, q.round, q.now)
		for i, u := range part {
			if i > 0 {
				values.WriteString(", ")
			}
			fmt.Fprintf(&values, "($1, $%d, $%d, $2, $3, $3)", len(args)+1, len(args)+2)
			args = append(args, u.ID, *u.InvitedAt)
		}
		rows, err := tx.QueryContext(ctx, s.sql.rebind(`INSERT INTO reminder_rounds (organization_id, user_id, series_at, round, created_at, updated_at)
			VALUES `+values.String()+` ON CONFLICT (user_id, series_at, round) DO NOTHING RETURNING user_id`), args...)
		if err != nil {
			return nil, fmt.Errorf("record reminder rounds: %w", err)
		}
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("record reminder rounds: %w", err)
			}
			out[id] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("record reminder rounds: %w", err)
		}
	}
	return out, nil
}

// forget removes the schedules of q's round that came due for people no
// longer waiting (accepted, deactivated, suppressed...), so that no pass
// reads them again. A person invited again meanwhile has a schedule
// counted from later, out of the range.
func (s *Service) forget(ctx context.Context, q due) error {
	_, err := s.client.ExecContext(auth.AsSystem(ctx), s.sql.forget, q.orgID, q.round-1, q.cutoff)
	if err != nil {
		return fmt.Errorf("forget reminder schedules of organisation %d: %w", q.orgID, err)
	}
	return nil
}

// chunk bounds the rows one statement writes, within both databases'
// parameter limits.
const chunk = 1000

// statements are the scheduler's SQL in a database's dialect.
type statements struct {
	dueRound, dueWarning, forget string
	rebind                       func(string) string
}

// waiting is who may get a reminder (alias u): still INVITED, with a
// series, and not suppressed (bounced or complained).
const waiting = `u.status = 'INVITED' AND u.invited_at IS NOT NULL
	AND (u.last_email_status IS NULL OR u.last_email_status NOT IN ('BOUNCED', 'COMPLAINED'))`

// dueRoundSQL: $1 organisation, $2 the round before, $3 cutoff (the
// previous email at or before it), $4 limit; the longest due first.
const dueRoundSQL = `SELECT u.id, u.email, u.status, u.last_email_status, u.role_id, u.invited_at
	FROM reminder_schedules s JOIN users u ON u.id = s.id
	WHERE s.organization_id = $1 AND s.round = $2 AND s.anchor_at <= $3 AND ` + waiting + `
	ORDER BY s.anchor_at LIMIT $4`

// dueWarningSQL: $1 organisation, $2 now, $3 the warning horizon, $4
// limit: pending invitations expiring by the horizon whose series had no
// warning yet. status = 'INVITED' is written out so the partial index on
// invite_expires_at applies.
const dueWarningSQL = `SELECT u.id, u.email, u.status, u.last_email_status, u.role_id, u.invited_at FROM users u
	WHERE u.organization_id = $1 AND u.status = 'INVITED' AND u.invite_expires_at > $2 AND u.invite_expires_at <= $3 AND ` + waiting + `
		AND NOT EXISTS (SELECT 1 FROM reminder_rounds r WHERE r.user_id = u.id AND r.series_at = u.invited_at AND r.round = 0)
	LIMIT $4`

// forgetSQL: $1 organisation, $2 the round before, $3 cutoff: dueRoundSQL's
// range, less the people still waiting.
const forgetSQL = `DELETE FROM reminder_schedules WHERE organization_id = $1 AND round = $2 AND anchor_at <= $3
	AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = reminder_schedules.id AND ` + waiting + `)`

func statementsFor(name string) statements {
	re := func(q string) string { return db.Rebind(name, q) }
	return statements{dueRound: re(dueRoundSQL), dueWarning: re(dueWarningSQL), forget: re(forgetSQL), rebind: re}
}

// advance moves people to round, counting the next one from now.
func advance(ctx context.Context, tx *ent.Client, ids []int, round int, now time.Time) error {
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		err := tx.ReminderSchedule.Update().Where(reminderschedule.IDIn(part...)).SetRound(round).SetAnchorAt(now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("advance reminder rounds: %w", err)
		}
	}
	return nil
}

// link records the send that carries the people's round.
func link(ctx context.Context, tx *ent.Client, ids []int, round, sendID int) error {
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		err := tx.ReminderRound.Update().
			Where(reminderround.UserIDIn(part...), reminderround.Round(round), reminderround.BulkSendIDIsNil()).
			SetBulkSendID(sendID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("link reminder rounds: %w", err)
		}
	}
	return nil
}
