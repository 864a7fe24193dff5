package notify

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
)

// TestPageSize: a page holds DefaultPageSize notifications unless asked
// for, and never more than MaxPageSize.
func TestPageSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{-1: DefaultPageSize, 0: DefaultPageSize, 1: 1, 50: 50, 500: 500, 501: MaxPageSize, 1 << 30: MaxPageSize} {
		require.Equal(t, want, pageSize(in), in)
	}
}

// TestTopic: each person's notifications have a topic of their own.
func TestTopic(t *testing.T) {
	t.Parallel()
	require.Equal(t, "notifications:7", Topic(7))
	require.NotEqual(t, Topic(7), Topic(70))
}

type bundle struct {
	svc    *Service
	client *ent.Client
	bus    events.Bus
	org    *testdb.Org
	ada    *ent.User
	bob    *ent.User
}

func setup(t *testing.T) *bundle {
	t.Helper()
	d := testdb.Open(t)
	bus := events.NewLocal()
	t.Cleanup(func() { bus.Close() })
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	o := testdb.NewOrg(t, d.Client, "acme")
	return &bundle{svc: New(d.Client, clk, bus), client: d.Client, bus: bus, org: o,
		ada: o.Person(t, "ada@acme.test", perm.Member, user.StatusActive),
		bob: o.Person(t, "bob@acme.test", perm.Owner, user.StatusActive)}
}

// notify creates a notification for u, as the bulk-send engine does.
func (b *bundle) notify(t *testing.T, u *ent.User, message string) *ent.Notification {
	t.Helper()
	n, err := b.svc.Create(context.Background(), b.client, u.OrganizationID, u.ID, "bulk_send.finished", message, nil)
	require.NoError(t, err)
	return n
}

func unread(t *testing.T, b *bundle, u *ent.User) int {
	t.Helper()
	page, err := b.svc.List(b.org.As(t, u), 0, nil, true)
	require.NoError(t, err)
	return page.TotalCount
}

// TestMarkRead: a person marks their own notifications read, some or all,
// and learns how many changed; others' ids are ignored, even an Owner's
// attempt at someone else's.
func TestMarkRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a1, a2 := b.notify(t, b.ada, "one"), b.notify(t, b.ada, "two")
	b.notify(t, b.ada, "three")
	b1 := b.notify(t, b.bob, "bob's")
	other := testdb.NewOrg(t, b.client, "other")
	c1 := b.notify(t, other.Person(t, "carol@other.test", perm.Owner, user.StatusActive), "carol's")
	ada, bob := b.org.As(t, b.ada), b.org.As(t, b.bob)

	_, err := b.svc.MarkRead(context.Background(), nil)
	require.True(t, apperr.Is(err, apperr.Unauthenticated), "%v", err)

	n, err := b.svc.MarkRead(bob, []int{a1.ID, c1.ID})
	require.NoError(t, err)
	require.Zero(t, n, "not Bob's")
	require.Equal(t, 3, unread(t, b, b.ada))

	n, err = b.svc.MarkRead(ada, []int{a1.ID, b1.ID, c1.ID, a1.ID})
	require.NoError(t, err)
	require.Equal(t, 1, n, "only Ada's own")
	n, err = b.svc.MarkRead(ada, []int{a1.ID, a2.ID})
	require.NoError(t, err)
	require.Equal(t, 1, n, "one was read already")
	n, err = b.svc.MarkRead(ada, []int{})
	require.NoError(t, err)
	require.Zero(t, n, "an empty list marks none")
	n, err = b.svc.MarkRead(ada, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n, "nil marks all the rest")
	require.Zero(t, unread(t, b, b.ada))
	require.Equal(t, 1, unread(t, b, b.bob))
}

// TestList: a person pages through their own notifications, newest first,
// all or only the unread.
func TestList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mine []*ent.Notification
	for _, m := range []string{"one", "two", "three"} {
		mine = append(mine, b.notify(t, b.ada, m))
	}
	b.notify(t, b.bob, "bob's")
	ada := b.org.As(t, b.ada)
	_, err := b.svc.MarkRead(ada, []int{mine[1].ID})
	require.NoError(t, err)
	_, err = b.svc.List(context.Background(), 10, nil, false)
	require.True(t, apperr.Is(err, apperr.Unauthenticated), "%v", err)

	messages := func(page *ent.NotificationConnection) []string {
		var out []string
		for _, e := range page.Edges {
			out = append(out, e.Node.Message)
		}
		return out
	}
	page, err := b.svc.List(ada, 0, nil, false)
	require.NoError(t, err)
	require.Equal(t, []string{"three", "two", "one"}, messages(page))
	page, err = b.svc.List(ada, 0, nil, true)
	require.NoError(t, err)
	require.Equal(t, []string{"three", "one"}, messages(page))
	page, err = b.svc.List(ada, 2, nil, false)
	require.NoError(t, err)
	require.Equal(t, []string{"three", "two"}, messages(page))
	require.True(t, page.PageInfo.HasNextPage)
	page, err = b.svc.List(ada, 2, page.PageInfo.EndCursor, false)
	require.NoError(t, err)
	require.Equal(t, []string{"one"}, messages(page))
}

// TestStream: a person's stream carries their notifications created after
// it started, in order, and nobody else's; it closes when its context ends.
func TestStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.notify(t, b.ada, "before")
	ctx, cancel := context.WithCancel(b.org.As(t, b.ada))
	defer cancel()
	_, err := b.svc.Stream(context.Background())
	require.True(t, apperr.Is(err, apperr.Unauthenticated), "%v", err)
	stream, err := b.svc.Stream(ctx)
	require.NoError(t, err)

	b.notify(t, b.bob, "bob's")
	require.NoError(t, b.svc.Published(context.Background(), b.bob.ID))
	b.notify(t, b.ada, "first")
	b.notify(t, b.ada, "second")
	require.NoError(t, b.svc.Published(context.Background(), b.ada.ID))
	require.Equal(t, "first", next(t, stream).Message)
	require.Equal(t, "second", next(t, stream).Message)
	// A hint that carries nothing new sends nothing; the next one sends
	// what is new since.
	require.NoError(t, b.svc.Published(context.Background(), b.ada.ID))
	b.notify(t, b.ada, "third")
	require.NoError(t, b.svc.Published(context.Background(), b.ada.ID))
	require.Equal(t, "third", next(t, stream).Message)

	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case n, ok := <-stream:
			if !ok {
				return
			}
			t.Fatalf("unexpected notification %q after the end", n.Message)
		case <-deadline:
			t.Fatal("the stream outlived its context by 5s")
		}
	}
}

// next returns the stream's next notification, failing after 5 seconds.
func next(t *testing.T, stream <-chan *ent.Notification) *ent.Notification {
	t.Helper()
	select {
	case n, ok := <-stream:
		require.True(t, ok, "the stream closed")
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
	}
	return nil
}
