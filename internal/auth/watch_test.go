package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apikey"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/viewer"
)

// TestWatchReleases is not parallel: it checks that a watch leaves no
// goroutine behind once its context ends.
func TestWatchReleases(t *testing.T) {
	s := testkit.NewServer(t)
	v, err := s.Auth.Authenticate(context.Background(), s.Login(t, "default", "owner@example.com", testkit.OwnerPassword))
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(context.Background())
	watched := s.Auth.Watch(ctx, v)
	require.NoError(t, watched.Err())
	cancel()
	<-watched.Done()
	require.NotErrorIs(t, context.Cause(watched), auth.ErrSessionEnded)

	watched = s.Auth.Watch(context.Background(), v)
	require.NoError(t, s.Auth.Logout(viewer.NewContext(context.Background(), v)))
	select {
	case <-watched.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the watch outlived its session")
	}
	require.ErrorIs(t, context.Cause(watched), auth.ErrSessionEnded)
	goleak.VerifyNone(t, before)
}

func TestWatch(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	const password = "watch-password-1"

	cases := []struct {
		name string
		// end ends sessions; mine and other are two sessions of the watched
		// person, and stranger another person's.
		end   func(ctx context.Context, mine, other, stranger *viewer.Viewer) error
		ended bool
	}{
		{"logout", func(ctx context.Context, mine, _, _ *viewer.Viewer) error {
			return s.Auth.Logout(viewer.NewContext(ctx, mine))
		}, true},
		{"logout elsewhere", func(ctx context.Context, _, other, _ *viewer.Viewer) error {
			return s.Auth.Logout(viewer.NewContext(ctx, other))
		}, false},
		{"every session", func(ctx context.Context, mine, _, _ *viewer.Viewer) error {
			return s.Auth.EndSessions(ctx, s.DB.Client, 0, mine.UserID)
		}, true},
		{"every session but this one", func(ctx context.Context, mine, _, _ *viewer.Viewer) error {
			return s.Auth.EndSessions(ctx, s.DB.Client, mine.SessionID, mine.UserID)
		}, false},
		{"every session but another", func(ctx context.Context, mine, other, _ *viewer.Viewer) error {
			return s.Auth.EndSessions(ctx, s.DB.Client, other.SessionID, mine.UserID)
		}, true},
		{"another person's", func(ctx context.Context, _, _, stranger *viewer.Viewer) error {
			return s.Auth.EndSessions(ctx, s.DB.Client, 0, stranger.UserID)
		}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			me, stranger := fmt.Sprintf("me%d@example.com", i), fmt.Sprintf("stranger%d@example.com", i)
			s.AddPeople(t, o, testkit.Person{Email: me, Status: user.StatusActive, Password: password},
				testkit.Person{Email: stranger, Status: user.StatusActive, Password: password})
			signIn := func(email string) *viewer.Viewer {
				v, err := s.Auth.Authenticate(ctx, s.Login(t, "acme", email, password))
				require.NoError(t, err)
				return v
			}
			mine, other, them := signIn(me), signIn(me), signIn(stranger)

			watchCtx, stop := context.WithCancel(ctx)
			defer stop()
			watched := s.Auth.Watch(watchCtx, mine)
			// Our own subscriptions to both topics tell when the end has been
			// announced, so the watch has had its chance.
			mineEvents, unsubscribe := s.Bus.Subscribe(ctx, auth.SessionTopic(mine.UserID))
			defer unsubscribe()
			theirEvents, unsubscribeThem := s.Bus.Subscribe(ctx, auth.SessionTopic(them.UserID))
			defer unsubscribeThem()

			require.NoError(t, c.end(ctx, mine, other, them))
			select {
			case <-mineEvents:
			case <-theirEvents:
			case <-time.After(5 * time.Second):
				t.Fatal("no session event")
			}
			if c.ended {
				select {
				case <-watched.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the watch outlived its session")
				}
				require.ErrorIs(t, context.Cause(watched), auth.ErrSessionEnded)
				return
			}
			// The watch takes its events in order: a change of rights
			// announced after the end ends it with its own cause only if
			// the end let it live.
			s.Auth.RoleChanged(ctx, mine.UserID)
			select {
			case <-watched.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the watch missed the change of rights")
			}
			require.ErrorIs(t, context.Cause(watched), auth.ErrRightsChanged, "the session lived on")
		})
	}
}

// TestWatchKey: an API key's watch ends when the key is revoked or expires,
// when every session of its creator ends, and (rights changed) when its
// creator's role changes; not when its creator signs out of one session.
func TestWatchKey(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	const password = "watch-password-1"

	cases := []struct {
		name  string
		end   func(ctx context.Context, creator, key *viewer.Viewer) error
		cause error // nil: the watch lives on
	}{
		{"revoked", func(ctx context.Context, creator, key *viewer.Viewer) error {
			_, err := s.APIKeys.Revoke(viewer.NewContext(ctx, creator), key.APIKeyID)
			return err
		}, auth.ErrSessionEnded},
		{"expired", func(context.Context, *viewer.Viewer, *viewer.Viewer) error {
			s.Clock.Advance(time.Hour)
			return nil
		}, auth.ErrSessionEnded},
		{"every session of the creator", func(ctx context.Context, creator, _ *viewer.Viewer) error {
			return s.Auth.EndSessions(ctx, s.DB.Client, 0, creator.UserID)
		}, auth.ErrSessionEnded},
		{"the creator's role", func(ctx context.Context, creator, _ *viewer.Viewer) error {
			s.Auth.RoleChanged(ctx, creator.UserID)
			return nil
		}, auth.ErrRightsChanged},
		{"the creator signs out", func(ctx context.Context, creator, _ *viewer.Viewer) error {
			return s.Auth.Logout(viewer.NewContext(ctx, creator))
		}, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			email := fmt.Sprintf("keeper%d@example.com", i)
			s.AddPeople(t, o, testkit.Person{Email: email, Role: "Owner", Status: user.StatusActive, Password: password})
			creator, err := s.Auth.Authenticate(ctx, s.Login(t, "acme", email, password))
			require.NoError(t, err)
			expires := s.Clock.Now().Add(time.Hour)
			made, err := s.APIKeys.Create(viewer.NewContext(ctx, creator), apikey.CreateInput{Name: "k", Permissions: []string{"people.read"}, ExpiresAt: &expires})
			require.NoError(t, err)
			key, err := s.Auth.Authenticate(ctx, made.Secret)
			require.NoError(t, err)
			require.Equal(t, made.Key.ID, key.APIKeyID)
			require.Zero(t, key.UserID)

			watchCtx, stop := context.WithCancel(ctx)
			defer stop()
			watched := s.Auth.Watch(watchCtx, key)
			events, unsubscribe := s.Bus.Subscribe(ctx, auth.SessionTopic(creator.UserID))
			defer unsubscribe()
			require.NoError(t, c.end(ctx, creator, key))
			if c.cause == nil {
				select {
				case <-events:
				case <-time.After(5 * time.Second):
					t.Fatal("no session event")
				}
				time.Sleep(50 * time.Millisecond)
				require.NoError(t, watched.Err(), "the key's watch lives on")
				return
			}
			select {
			case <-watched.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the watch outlived its key")
			}
			require.ErrorIs(t, context.Cause(watched), c.cause)
		})
	}
}
