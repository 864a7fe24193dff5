package event_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/viewer"
)

type fixture struct {
	db   *db.DB
	log  *event.Log
	clk  *clock.Manual
	sys  context.Context
	orgs [2]int
}

func setup(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	f := &fixture{db: d, clk: clock.NewManual(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)),
		sys: privacy.DecisionContext(ctx, privacy.Allow)}
	f.log = event.New(d.Client, f.clk, d.Dialect)
	for i, slug := range []string{"a", "b"} {
		f.orgs[i] = d.Client.Organization.Create().SetSlug(slug).SetName(slug).SaveX(f.sys).ID
	}
	return f
}

func (f *fixture) types(t *testing.T, ctx context.Context, after event.Position) []string {
	t.Helper()
	events, err := f.log.After(ctx, after, 100)
	require.NoError(t, err)
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// requireTypes waits until the events after p that ctx may read are of
// types want: on PostgreSQL an older transaction still open in the
// database holds newer events back until it ends.
func (f *fixture) requireTypes(t *testing.T, ctx context.Context, after event.Position, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f.types(t, ctx, after)
		if len(got) >= len(want) || time.Now().After(deadline) {
			require.Equal(t, want, got)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecordAndPage: events come back oldest first, a page at a time, with
// their data, and a reader scoped to one organisation sees only its own.
func TestRecordAndPage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0],
		event.Event{Type: "user.created", Data: map[string]any{"email": "ada@example.com"}},
		event.Event{Type: "invitation.sent"}))
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[1], event.Event{Type: "user.deleted"}))
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: "invitation.accepted"}))

	f.requireTypes(t, f.sys, event.Position{}, "user.created", "invitation.sent", "user.deleted", "invitation.accepted")

	first, err := f.log.After(f.sys, event.Position{}, 1)
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", first[0].Data["email"])
	require.Equal(t, f.clk.Now(), first[0].OccurredAt.UTC())
	f.requireTypes(t, f.sys, event.Of(first[0]), "invitation.sent", "user.deleted", "invitation.accepted")

	head, err := f.log.Head(f.sys)
	require.NoError(t, err)
	require.Empty(t, f.types(t, f.sys, head))

	// The privacy rules scope a viewer to its organisation and require
	// organization.manage.
	admin := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.orgs[0], UserID: 1, Permissions: []perm.Permission{perm.OrganizationManage}})
	f.requireTypes(t, admin, event.Position{}, "user.created", "invitation.sent", "invitation.accepted")
	reader := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.orgs[0], UserID: 1, Permissions: []perm.Permission{perm.PeopleRead}})
	_, err = f.log.After(reader, event.Position{}, 10)
	require.ErrorIs(t, err, privacy.Deny)
}

// TestRolledBackChangeLeavesNoEvent: the events are part of the change's
// transaction.
func TestRolledBackChangeLeavesNoEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tx, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	require.NoError(t, f.log.Record(f.sys, tx.Client(), f.orgs[0], event.Event{Type: "user.created"}))
	require.NoError(t, tx.Rollback())
	require.Empty(t, f.types(t, f.sys, event.Position{}))
}

// TestLateCommitIsNotSkipped: on PostgreSQL a transaction that took its id
// first but commits last is still read by a reader who already read what
// committed after it.
func TestLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if f.db.Dialect != dialect.Postgres {
		t.Skip("SQLite has one writer at a time: ids are commit order")
	}
	early, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	defer early.Rollback()
	require.NoError(t, f.log.Record(f.sys, early.Client(), f.orgs[0], event.Event{Type: "early"}))

	late, err := f.db.Client.Tx(f.sys)
	require.NoError(t, err)
	require.NoError(t, f.log.Record(f.sys, late.Client(), f.orgs[0], event.Event{Type: "late"}))
	require.NoError(t, late.Commit())

	// "late" committed but "early" is still open: neither is settled yet,
	// so a reader gets nothing rather than "late" alone.
	require.Empty(t, f.types(t, f.sys, event.Position{}))
	head, err := f.log.Head(f.sys)
	require.NoError(t, err)
	require.Equal(t, event.Position{}, head)

	require.NoError(t, early.Commit())
	f.requireTypes(t, f.sys, head, "early", "late")
	ids := f.db.Client.Event.Query().Order(ent.Asc(entevent.FieldID)).IDsX(f.sys)
	require.Len(t, ids, 2)
}

// TestPrune deletes what is older than the cutoff, in batches.
func TestPrune(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for range 5 {
		require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: "old"}))
	}
	f.clk.Advance(31 * 24 * time.Hour)
	require.NoError(t, f.log.Record(f.sys, f.db.Client, f.orgs[1], event.Event{Type: "new"}))
	n, err := f.log.Prune(f.sys, f.clk.Now().Add(-30*24*time.Hour), 2)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	f.requireTypes(t, f.sys, event.Position{}, "new")
}

// TestRecordIsTenantScoped: a viewer records its own organisation's events
// only; nothing is written when one of them is another's.
func TestRecordIsTenantScoped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.orgs[0], UserID: 1})
	require.NoError(t, f.log.Record(v, f.db.Client, f.orgs[0], event.Event{Type: "own"}))
	err := f.log.RecordEach(v, f.db.Client, event.Event{Type: "own", Org: f.orgs[0]}, event.Event{Type: "foreign", Org: f.orgs[1]})
	require.ErrorIs(t, err, privacy.Deny)
	require.ErrorIs(t, f.log.Record(context.Background(), f.db.Client, f.orgs[0], event.Event{Type: "nobody"}), privacy.Deny)
	require.Error(t, f.log.RecordEach(f.sys, f.db.Client, event.Event{Type: "no organisation"}))
	f.requireTypes(t, f.sys, event.Position{}, "own")
}

// TestFollowPokesUntilSettled: a commit's announcement pokes the reader;
// while what it announced is held back by an older transaction that will
// announce nothing (it writes no event), Follow pokes again until the
// reader can read it.
func TestFollowPokesUntilSettled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if f.db.Dialect != dialect.Postgres {
		t.Skip("SQLite has one writer at a time: nothing is held back")
	}
	bus := events.NewLocal()
	log := event.New(f.db.Client, f.clk, f.db.Dialect, event.WithBus(bus))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var read []string // what the reader read, poke by poke
	var pos event.Position
	poked := make(chan struct{}, 1000)
	go log.Follow(ctx, func(context.Context) (event.Position, error) {
		mu.Lock()
		defer mu.Unlock()
		return pos, nil
	}, func() {
		// The reader reads after its position at each poke.
		evs, err := log.After(f.sys, pos, 100)
		if err == nil && len(evs) > 0 {
			mu.Lock()
			pos = event.Of(evs[len(evs)-1])
			read = append(read, evs[0].Type)
			mu.Unlock()
		}
		poked <- struct{}{}
	})

	holder, err := f.db.SQL.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	_, err = holder.Exec(`SELECT txid_current()`) // takes an id: a running writer
	require.NoError(t, err)
	require.NoError(t, log.Record(f.sys, f.db.Client, f.orgs[0], event.Event{Type: "held"}))
	<-poked // the announcement; the event is held back
	mu.Lock()
	require.Empty(t, read)
	mu.Unlock()
	require.NoError(t, holder.Rollback()) // ends without an announcement
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(read)
		mu.Unlock()
		if len(got) > 0 {
			require.Equal(t, []string{"held"}, got)
			return
		}
		select {
		case <-poked:
		case <-deadline:
			t.Fatal("not poked again once the event settled")
		}
	}
}
