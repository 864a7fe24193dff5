package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/passwordresetrequest"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

const resetMutation = `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) }`

func requestReset(t *testing.T, s *testkit.Server, org, email string) {
	t.Helper()
	var out struct{ RequestPasswordReset bool }
	s.Query(t, "", resetMutation, map[string]any{"in": map[string]any{"organization": org, "email": email}}).Decode(t, &out)
	require.True(t, out.RequestPasswordReset)
}

// emailFiles counts the outbox's files without waiting for any work.
func emailFiles(t *testing.T, s *testkit.Server) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.OutboxDir, "*.eml"))
	require.NoError(t, err)
	return len(files)
}

// slowPoll leaves the reset worker to its wake-ups: it polls when it starts
// and then not within any test.
func slowPoll(c *config.Config) { c.ResetPoll = time.Hour }

// TestPasswordResetRequestsAreRecordedThenResolved checks that a request
// does the same work for a known and an unknown address (the same row, no
// lookup), that a worker resolves rows written while no worker ran (on
// another replica, or before a crash), and that a request wakes its
// replica's worker at once.
func TestPasswordResetRequestsAreRecordedThenResolved(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, slowPoll)
	s.StopWorkers() // a replica whose worker is down
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"})
	before := emailFiles(t, s)

	requestReset(t, s, "acme", " ADA@example.com")
	requestReset(t, s, "acme", "nobody@example.com")
	rows, err := s.DB.Client.PasswordResetRequest.Query().Order(passwordresetrequest.ByID()).All(testkit.System())
	require.NoError(t, err)
	require.Len(t, rows, 2, "a row for the known and for the unknown address")
	require.Equal(t, []string{"ada@example.com", "nobody@example.com"}, []string{rows[0].Email, rows[1].Email})
	for _, r := range rows {
		require.Equal(t, "acme", r.OrganizationSlug)
		require.Equal(t, "127.0.0.1", r.ClientIP)
		require.True(t, r.CreatedAt.Equal(testkit.Epoch))
		require.Nil(t, r.LeasedBy)
		require.Nil(t, r.LeaseExpiresAt)
		require.Zero(t, r.Attempts)
	}
	require.Equal(t, before, emailFiles(t, s), "nothing is looked up or sent in the request")

	// Another replica's worker polls when it starts and resolves both.
	up := s.Replica(t, true, slowPoll)
	s.WaitResets(t)
	require.Len(t, s.EmailsTo(t, "ada@example.com"), 1)
	require.Empty(t, s.EmailsTo(t, "nobody@example.com"), "an unknown address gets nothing")
	require.Equal(t, before+1, emailFiles(t, s))

	// A request on a replica whose worker runs wakes it: with an hour
	// between polls, only the wake-up resolves it within WaitResets' minute.
	requestReset(t, up, "", "ada@example.com")
	s.WaitResets(t)
	require.Len(t, s.EmailsTo(t, "ada@example.com"), 2)
}

// TestPasswordResetRequestsAreResolvedOnce races workers of two replicas
// over the same rows: each row is claimed once and each person gets one
// email.
func TestPasswordResetRequestsAreResolvedOnce(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, slowPoll)
	s.StopWorkers()
	other := s.Replica(t, false, slowPoll)
	acme := s.CreateOrg(t, "acme")
	var emails []string
	for i := range 6 {
		e := fmt.Sprintf("person-%d@example.com", i)
		emails = append(emails, e)
		status := user.StatusActive
		if i%3 == 0 {
			status = user.StatusInvited
		}
		s.AddPeople(t, acme, testkit.Person{Email: e, Status: status, Password: "person-password-1"})
	}
	before := emailFiles(t, s)
	for i, e := range emails {
		requestReset(t, []*testkit.Server{s, other}[i%2], "acme", e)
	}
	requestReset(t, other, "acme", "nobody@example.com")

	var claimed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		replica := []*testkit.Server{s, other}[i%2]
		wg.Go(func() {
			for {
				n, err := replica.Invites.ResolveResets(context.Background())
				require.NoError(t, err)
				if n == 0 {
					return
				}
				claimed.Add(int64(n))
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(len(emails)+1), claimed.Load(), "every row claimed exactly once")
	s.WaitResets(t)
	// The workers of both replicas are down: the emails wait as deliveries.
	_, err := other.BulkSends.WorkDue(context.Background())
	require.NoError(t, err)
	for _, e := range emails {
		require.Len(t, s.EmailsTo(t, e), 1, e)
	}
	require.Equal(t, before+len(emails), emailFiles(t, s))
}

// TestPasswordResetRequestLeases checks what happens to a request whose
// worker stopped half-way: it is taken over once its lease lapses, and a
// request that keeps failing is dropped in the end.
func TestPasswordResetRequestLeases(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, slowPoll, func(c *config.Config) { c.ResetLease = 30 * time.Second })
	s.StopWorkers()
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"})
	ctx := context.Background()
	add := func(attempts int, lease *time.Time) {
		t.Helper()
		c := s.DB.Client.PasswordResetRequest.Create().SetEmail("ada@example.com").SetCreatedAt(s.Clock.Now()).
			SetAttempts(attempts).SetNillableLeaseExpiresAt(lease)
		if lease != nil {
			c.SetLeasedBy("a worker that stopped")
		}
		require.NoError(t, c.Exec(testkit.System()))
	}

	t.Run("a lapsed lease is taken over", func(t *testing.T) {
		lease := s.Clock.Now().Add(30 * time.Second)
		add(1, &lease)
		n, err := s.Invites.ResolveResets(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "still leased")
		s.Clock.Advance(31 * time.Second)
		n, err = s.Invites.ResolveResets(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s.WaitResets(t)
		_, err = s.BulkSends.WorkDue(ctx)
		require.NoError(t, err)
		require.Len(t, s.EmailsTo(t, "ada@example.com"), 1)
	})

	t.Run("a request that keeps failing is dropped", func(t *testing.T) {
		add(5, nil) // its sixth claim
		n, err := s.Invites.ResolveResets(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s.WaitResets(t)
		_, err = s.BulkSends.WorkDue(ctx)
		require.NoError(t, err)
		require.Len(t, s.EmailsTo(t, "ada@example.com"), 1, "no new email")
	})
}

// TestPasswordResetRefusesUnmatchableInput: input no account can match is
// refused, naming the field, and records nothing.
func TestPasswordResetRefusesUnmatchableInput(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	for _, c := range []struct{ org, email, field string }{
		{"acme", strings.Repeat("a", 250) + "@example.com", "email"},
		{"acme", "ada\x00@example.com", "email"},
		{"Not a slug!", "ada@example.com", "organization"},
		{strings.Repeat("a", 64), "ada@example.com", "organization"},
	} {
		resp := s.Query(t, "", resetMutation, map[string]any{"in": map[string]any{"organization": c.org, "email": c.email}})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), c)
		require.Equal(t, c.field, resp.Errors[0].Extensions["field"], c)
	}
	n, err := s.DB.Client.PasswordResetRequest.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n)
}
