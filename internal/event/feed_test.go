package event_test

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// feedFixture is a fixture whose log announces commits on an in-process bus.
func feedFixture(t *testing.T, cfg event.FeedConfig) (*fixture, *event.Feed) {
	t.Helper()
	f := setup(t)
	bus := events.NewLocal()
	f.log = event.New(f.db.Client, f.clk, f.db.Dialect, event.WithBus(bus))
	feed := event.NewFeed(f.log, cfg)
	t.Cleanup(func() {
		feed.Close()
		require.NoError(t, bus.Close())
	})
	return f, feed
}

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine it started is left (such tests do not run in parallel).
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// reader is a viewer of org with people.read.
func reader(org int) context.Context {
	return viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: org, UserID: 1, Permissions: []perm.Permission{perm.PeopleRead}})
}

// receive reads n events from s, failing after a while.
func receive(t *testing.T, s *event.Subscription, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case e, ok := <-s.C:
			require.True(t, ok, "closed after %v: %v", got, s.Err())
			got = append(got, e.Type)
		case <-time.After(30 * time.Second):
			t.Fatalf("got %v, want %d events", got, n)
		}
	}
	return got
}

// TestFeedFiltersByOrganizationAndType: a subscriber gets the events of its
// own organisation, of its types, committed after it subscribed; the tailer
// stops when the last subscriber leaves.
func TestFeedFiltersByOrganizationAndType(t *testing.T) {
	noLeaks(t)
	f, feed := feedFixture(t, event.FeedConfig{Poll: time.Hour})
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: event.UserCreated}))
	f.requireTypes(t, f.sys, event.Position{}, event.UserCreated) // settled: before the head

	all, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)
	some, err := feed.Subscribe(reader(f.orgs[0]), []string{event.UserDeleted, event.InvitationAccepted})
	require.NoError(t, err)
	other, err := feed.Subscribe(reader(f.orgs[1]), nil)
	require.NoError(t, err)
	require.Equal(t, 3, feed.Subscribers())

	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[1], event.Event{Type: event.UserUpdated}))
	tx, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	require.NoError(t, f.log.Record(f.sys, tx.Client(), f.orgs[0],
		event.Event{Type: event.UserUpdated}, event.Event{Type: event.UserDeleted}))
	require.NoError(t, tx.Commit())
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: event.InvitationAccepted}))

	require.Equal(t, []string{event.UserUpdated, event.UserDeleted, event.InvitationAccepted}, receive(t, all, 3),
		"the event before the subscription is not sent")
	require.Equal(t, []string{event.UserDeleted, event.InvitationAccepted}, receive(t, some, 2))
	require.Equal(t, []string{event.UserUpdated}, receive(t, other, 1))

	for _, s := range []*event.Subscription{all, some, other} {
		s.Close()
		s.Close()
		_, open := <-s.C
		require.False(t, open)
		require.NoError(t, s.Err())
	}
	require.Zero(t, feed.Subscribers())
}

// TestFeedRefuses: people.read is needed, and types must exist.
func TestFeedRefuses(t *testing.T) {
	t.Parallel()
	f, feed := feedFixture(t, event.FeedConfig{})
	member := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.orgs[0], UserID: 1})
	_, err := feed.Subscribe(member, nil)
	require.True(t, apperr.Is(err, apperr.Forbidden), "%v", err)
	_, err = feed.Subscribe(context.Background(), nil)
	require.True(t, apperr.Is(err, apperr.Unauthenticated), "%v", err)
	_, err = feed.Subscribe(reader(f.orgs[0]), []string{"user.created", "user.exploded"})
	e, ok := apperr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, apperr.BadUserInput, e.Code)
	require.Equal(t, "types", e.Field)
	require.Contains(t, e.Message, `"user.exploded"`)
	require.Zero(t, feed.Subscribers())
}

// TestFeedEndsASlowSubscriber: a subscriber whose buffer is full is ended
// with ErrSlowSubscriber instead of missing events or holding up the
// others.
func TestFeedEndsASlowSubscriber(t *testing.T) {
	t.Parallel()
	f, feed := feedFixture(t, event.FeedConfig{Buffer: 2, Poll: time.Hour})
	slow, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)
	fast, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)

	// One at a time: the fast subscriber keeps up, the slow one never reads.
	for _, typ := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: typ}))
		require.Equal(t, []string{typ}, receive(t, fast, 1))
	}
	var got []string
	for e := range slow.C {
		got = append(got, e.Type)
	}
	require.Equal(t, []string{"a", "b"}, got, "what was buffered, then the end")
	require.ErrorIs(t, slow.Err(), event.ErrSlowSubscriber)
	require.Equal(t, 1, feed.Subscribers())
}

// TestFeedLateCommitIsNotSkipped: on PostgreSQL, a transaction that took its
// id first but commits after a later one's commit woke the tailer is still
// delivered, before the later one.
func TestFeedLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	f, feed := feedFixture(t, event.FeedConfig{Poll: time.Hour})
	if f.db.Dialect != dialect.Postgres {
		t.Skip("SQLite has one writer at a time: ids are commit order")
	}
	sub, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)
	early, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	defer early.Rollback()
	require.NoError(t, f.log.Record(f.sys, early.Client(), f.orgs[0], event.Event{Type: "early"}))
	late, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	require.NoError(t, f.log.Record(f.sys, late.Client(), f.orgs[0], event.Event{Type: "late"}))
	require.NoError(t, late.Commit()) // wakes the tailer, which finds "late" held back

	select {
	case e := <-sub.C:
		t.Fatalf("%s delivered while an earlier transaction is open", e.Type)
	case <-time.After(200 * time.Millisecond): // the tailer has read (and retried) meanwhile
	}
	// Its commit writes no announcement the tailer would not also get from
	// its retries: committing alone must be enough.
	require.NoError(t, early.Commit())
	require.Equal(t, []string{"early", "late"}, receive(t, sub, 2))
}

// TestFeedPollsWithoutAnnouncements: a log without a bus (or a lost
// announcement) is read every Poll.
func TestFeedPollsWithoutAnnouncements(t *testing.T) {
	t.Parallel()
	f := setup(t)
	feed := event.NewFeed(f.log, event.FeedConfig{Poll: 20 * time.Millisecond})
	t.Cleanup(feed.Close)
	sub, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: "polled"}))
	require.Equal(t, []string{"polled"}, receive(t, sub, 1))
}

// TestFeedClose ends every subscription and its goroutines.
func TestFeedClose(t *testing.T) {
	noLeaks(t)
	f, feed := feedFixture(t, event.FeedConfig{})
	sub, err := feed.Subscribe(reader(f.orgs[0]), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(reader(f.orgs[0]))
	byCtx, err := feed.Subscribe(ctx, nil)
	require.NoError(t, err)
	cancel()
	_, open := <-byCtx.C
	require.False(t, open, "ends with its context")
	feed.Close()
	_, open = <-sub.C
	require.False(t, open)
	_, err = feed.Subscribe(reader(f.orgs[0]), nil)
	require.Error(t, err)
}
