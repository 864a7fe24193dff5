// Package audit appends to an organisation's audit log: who did what to whom,
// when, and from which address.
package audit

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Event is one entry. Actor and client address come from the context.
type Event struct {
	Action      string // e.g. "user.invited", "invitation.accepted"
	TargetType  string // e.g. "User"
	TargetID    int
	TargetLabel string // e.g. the person's email at the time
	Details     map[string]any
}

// Log writes audit events.
type Log struct {
	client *ent.Client
	clock  clock.Clock
}

// New returns an audit log.
func New(client *ent.Client, clk clock.Clock) *Log { return &Log{client: client, clock: clk} }

// System labels audit events no person or key performed.
const System = "system"

// Record appends events for organisation orgID through client (pass a
// transaction's client to make the events part of it). The actor is the
// viewer in ctx when it belongs to orgID, named by its label, with the
// person's or the API key's global id; anything else is the system.
func (l *Log) Record(ctx context.Context, client *ent.Client, orgID int, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	now := l.clock.Now()
	ip := clientip.FromContext(ctx)
	v := viewer.FromContext(ctx)
	actorLabel := System
	if v != nil && v.OrgID == orgID && v.Label != "" {
		actorLabel = v.Label
	}
	creates := make([]*ent.AuditEventCreate, len(events))
	for i, e := range events {
		c := client.AuditEvent.Create().
			SetOrganizationID(orgID).SetAction(e.Action).
			SetTargetType(e.TargetType).SetTargetLabel(e.TargetLabel).
			SetActorLabel(actorLabel).SetCreatedAt(now).SetUpdatedAt(now)
		if e.TargetID != 0 {
			c.SetTargetID(e.TargetID)
		}
		if v != nil && v.OrgID == orgID {
			c.SetActorID(v.ActorID())
		}
		if ip != "" {
			c.SetClientIP(ip)
		}
		if e.Details != nil {
			c.SetDetails(e.Details)
		}
		creates[i] = c
	}
	for start := 0; start < len(creates); start += 1000 {
		end := min(start+1000, len(creates))
		if err := client.AuditEvent.CreateBulk(creates[start:end]...).Exec(ctx); err != nil {
			return fmt.Errorf("record audit events: %w", err)
		}
	}
	return nil
}

// List returns a page of the organisation's audit log, newest first. The
// privacy rules let only holders of organization.manage read it.
func (l *Log) List(ctx context.Context, first *int, after *ent.Cursor, where *ent.AuditEventWhereInput) (*ent.AuditEventConnection, error) {
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	n := 50
	if first != nil {
		n = min(max(*first, 0), 500)
	}
	opts := []ent.AuditEventPaginateOption{ent.WithAuditEventOrder(&ent.AuditEventOrder{
		Field: ent.AuditEventOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc,
	})}
	if where != nil {
		opts = append(opts, ent.WithAuditEventFilter(where.Filter))
	}
	conn, err := l.client.AuditEvent.Query().Paginate(ctx, after, &n, nil, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return conn, nil
}

// PersonEvent is an event about one person, labelled with their address.
func PersonEvent(action string, u *ent.User) Event {
	return Event{Action: action, TargetType: "User", TargetID: u.ID, TargetLabel: u.Email}
}
