package scim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/ent"
	entsend "github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/invite"
)

// Inviter invites the people SCIM created in organisations with
// scimInviteOnProvision: not one send per request, but one bulk send
// (trigger SCIM, started by nobody: createdBy null) per organisation once
// provisioning pauses for Delay (or at the latest 10×Delay after it began).
// The people waiting are marked in the database (scim_invite_pending), so
// any replica's inviter, or this one after a restart, sends them.
type Inviter struct {
	client *ent.Client
	clock  clock.Clock
	bulk   invite.Queuer
	log    *slog.Logger
	delay  time.Duration
	wake   chan struct{}
}

// NewInviter returns an inviter; delay 0 means 5 seconds.
func NewInviter(client *ent.Client, clk clock.Clock, bulk invite.Queuer, log *slog.Logger, delay time.Duration) *Inviter {
	if delay <= 0 {
		delay = 5 * time.Second
	}
	return &Inviter{client: client, clock: clk, bulk: bulk, log: log, delay: delay, wake: make(chan struct{}, 1)}
}

// Provisioned tells the inviter that organisation orgID has people waiting.
func (i *Inviter) Provisioned(int) {
	select {
	case i.wake <- struct{}{}:
	default:
	}
}

// Run sends what is waiting at start, then each burst once it pauses,
// until ctx ends.
func (i *Inviter) Run(ctx context.Context) {
	i.flush(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-i.wake:
		}
		if !i.quiet(ctx) {
			return
		}
		i.flush(ctx)
	}
}

// quiet waits until no provisioning came for delay (at most 10×delay);
// false when ctx ended.
func (i *Inviter) quiet(ctx context.Context) bool {
	deadline := i.clock.Now().Add(10 * i.delay)
	t := i.clock.NewTimer(i.delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		case <-i.wake:
			if !i.clock.Now().Before(deadline) {
				return true
			}
			t.Reset(i.delay)
		}
	}
}

func (i *Inviter) flush(ctx context.Context) {
	if _, err := i.Flush(ctx); err != nil && ctx.Err() == nil {
		i.log.ErrorContext(ctx, "invite people provisioned over SCIM", slog.String("error", err.Error()))
	}
}

// Flush queues one invitation bulk send per organisation for the people
// waiting, and returns the sends.
func (i *Inviter) Flush(ctx context.Context) ([]*ent.BulkSend, error) {
	sys := auth.AsSystem(ctx)
	orgs, err := i.client.User.Query().Where(user.ScimInvitePending(true)).Unique(true).Select(user.FieldOrganizationID).Ints(sys)
	if err != nil {
		return nil, fmt.Errorf("find organisations with SCIM people to invite: %w", err)
	}
	var sends []*ent.BulkSend
	for _, org := range orgs {
		send, err := i.flushOrg(sys, org)
		if err != nil {
			return sends, err
		}
		if send != nil {
			sends = append(sends, send)
		}
	}
	return sends, nil
}

// flushOrg claims the waiting people of org (a conditional update, so two
// replicas never invite one person twice) and queues their send.
func (i *Inviter) flushOrg(ctx context.Context, org int) (*ent.BulkSend, error) {
	var send *ent.BulkSend
	err := db.InTx(ctx, i.client, func(tx *ent.Client) error {
		waiting, err := tx.User.Query().Where(user.OrganizationID(org), user.ScimInvitePending(true)).
			Order(ent.Asc(user.FieldID)).Limit(10_000).All(ctx)
		if err != nil {
			return fmt.Errorf("read SCIM people to invite: %w", err)
		}
		if len(waiting) == 0 {
			return nil
		}
		ids := make([]int, len(waiting))
		for n, u := range waiting {
			ids[n] = u.ID
		}
		claimed := 0
		for start := 0; start < len(ids); start += 1000 {
			n, err := tx.User.Update().Where(user.IDIn(ids[start:min(start+1000, len(ids))]...), user.ScimInvitePending(true)).
				SetScimInvitePending(false).Save(ctx)
			if err != nil {
				return fmt.Errorf("claim SCIM people to invite: %w", err)
			}
			claimed += n
		}
		if claimed != len(ids) {
			return errRaced
		}
		var people []*ent.User
		var events []audit.Event
		for _, u := range waiting {
			if u.Status == user.StatusNotInvited {
				people = append(people, u)
				events = append(events, audit.PersonEvent("user.invited", u))
			}
		}
		if len(people) == 0 {
			return nil
		}
		send, err = i.bulk.QueuePeople(ctx, tx, org, invite.Requester{}, entsend.KindINVITATION, entsend.TriggerSCIM, people, events...)
		return err
	})
	if errors.Is(err, errRaced) {
		return nil, nil // another replica took them
	}
	if err != nil || send == nil {
		return nil, err
	}
	send = send.Unwrap()
	i.bulk.Queued(ctx, send)
	return send, nil
}

// errRaced rolls back a claim another replica partly made first.
var errRaced = errors.New("SCIM invitations claimed by another replica")
