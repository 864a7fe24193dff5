// Package notify keeps each person's notification feed: notifications are
// rows read through GraphQL, and each new one is also published on the event
// bus for notificationAdded subscribers.
package notify

import (
	"context"
	"fmt"
	"strconv"

	"entgo.io/contrib/entgql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/notification"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Service reads, marks and streams notifications.
type Service struct {
	client *ent.Client
	clock  clock.Clock
	bus    events.Bus
}

// New returns the notification service.
func New(client *ent.Client, clk clock.Clock, bus events.Bus) *Service {
	return &Service{client: client, clock: clk, bus: bus}
}

// The kinds of notification.
const (
	// KindBulkSendFinished tells a send's creator it has finished, with
	// its summary; the notification names the send.
	KindBulkSendFinished = "bulk_send.finished"
	// KindInvitationAccepted tells the person who last invited someone
	// that they accepted.
	KindInvitationAccepted = "INVITATION_ACCEPTED"
)

// Topic is the event topic of a person's new notifications.
func Topic(userID int) string { return "notifications:" + strconv.Itoa(userID) }

// Create adds a notification for userID through tx (a transaction's client)
// as the system. Call Published with it after the transaction commits.
func (s *Service) Create(ctx context.Context, tx *ent.Client, orgID, userID int, kind, message string, bulkSendID *int) (*ent.Notification, error) {
	now := s.clock.Now()
	n, err := tx.Notification.Create().SetOrganizationID(orgID).SetUserID(userID).SetKind(kind).
		SetMessage(message).SetNillableBulkSendID(bulkSendID).SetCreatedAt(now).SetUpdatedAt(now).
		Save(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("create notification: %w", err)
	}
	return n, nil
}

// Published tells userID's subscribers that they have new notifications.
func (s *Service) Published(ctx context.Context, userID int) error {
	return s.bus.Publish(context.WithoutCancel(ctx), events.Event{Topic: Topic(userID)})
}

// MarkRead marks the viewer's notifications ids read (all when ids is nil)
// and returns how many changed. Others' ids are ignored: privacy limits the
// update to the viewer's own rows. An API key has none: 0.
func (s *Service) MarkRead(ctx context.Context, ids []int) (int, error) {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return 0, err
	}
	if v.IsKey() {
		return 0, nil
	}
	q := s.client.Notification.Update().Where(notification.Read(false))
	if ids != nil {
		q = q.Where(notification.IDIn(ids...))
	}
	n, err := q.SetRead(true).SetUpdatedAt(s.clock.Now()).Save(ctx)
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	return n, nil
}

// Stream sends the viewer's notifications created after it was called, until
// ctx ends or the bus closes. An API key has no notifications: FORBIDDEN.
func (s *Service) Stream(ctx context.Context) (<-chan *ent.Notification, error) {
	v, err := viewer.SignedPerson(ctx, "receive notifications")
	if err != nil {
		return nil, err
	}
	hints, cancel := s.bus.Subscribe(ctx, Topic(v.UserID))
	// The newest id seen so far; later ones are new.
	last, err := s.client.Notification.Query().Order(ent.Desc(notification.FieldID)).FirstID(ctx)
	if err != nil && !ent.IsNotFound(err) {
		cancel()
		if ctx.Err() != nil {
			// The subscriber left, or its session ended, while it
			// started: the stream is over before its first event (the
			// transport says why), not broken.
			out := make(chan *ent.Notification)
			close(out)
			return out, nil
		}
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	out := make(chan *ent.Notification)
	go func() {
		defer close(out)
		defer cancel()
		for range hints {
			fresh, err := s.client.Notification.Query().Where(notification.IDGT(last)).
				Order(ent.Asc(notification.FieldID)).Limit(100).All(ctx)
			if err != nil {
				return
			}
			for _, n := range fresh {
				last = n.ID
				select {
				case out <- n:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// List pages through the viewer's notifications, newest first: first
// defaults to DefaultPageSize and is capped at MaxPageSize. An API key's
// list is empty.
func (s *Service) List(ctx context.Context, first int, after *entgql.Cursor[int], unreadOnly bool) (*ent.NotificationConnection, error) {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return nil, err
	}
	first = pageSize(first)
	q := s.client.Notification.Query()
	if v.IsKey() {
		q = q.Where(notification.IDIn()) // nothing: the key is nobody
	}
	if unreadOnly {
		q = q.Where(notification.Read(false))
	}
	return q.Paginate(ctx, after, &first, nil, nil, ent.WithNotificationOrder(&ent.NotificationOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.NotificationOrderFieldCreatedAt,
	}))
}

// Page sizes of the notifications connection.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// pageSize is the page size first asks for: DefaultPageSize when zero or
// negative, at most MaxPageSize.
func pageSize(first int) int {
	if first <= 0 {
		return DefaultPageSize
	}
	return min(MaxPageSize, first)
}
