package credentials

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/token"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func issue(t *testing.T, client *ent.Client, now time.Time, u *ent.User, kind invitation.Kind, ttl time.Duration) string {
	t.Helper()
	out, err := Issue(context.Background(), client, now, u.OrganizationID, kind, ttl, nil, u.ID)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, u.ID, out[0].UserID)
	require.True(t, out[0].Expires.Equal(now.Add(ttl)))
	return out[0].Plain
}

// lookup is Lookup's error, nil for an open token.
func lookup(client *ent.Client, now time.Time, tok string, kind invitation.Kind) error {
	_, err := Lookup(context.Background(), client, now, tok, kind)
	return err
}

// TestTokens: a token opens for its kind only, until it expires, is used,
// replaced by a newer one of its kind, revoked, or its person deactivated.
// Only hashes are stored.
func TestTokens(t *testing.T) {
	t.Parallel()
	d := testdb.Open(t)
	c := d.Client
	o := testdb.NewOrg(t, c, "acme")
	ada := o.Person(t, "ada@example.com", perm.Member, user.StatusInvited)
	const day = 24 * time.Hour

	first := issue(t, c, epoch, ada, invitation.KindINVITATION, day)
	require.NoError(t, lookup(c, epoch, first, invitation.KindINVITATION))
	require.ErrorIs(t, lookup(c, epoch, first, invitation.KindPASSWORD_RESET), ErrInvalid, "another kind")
	stored := c.Invitation.Query().OnlyX(testdb.System())
	require.Equal(t, token.Hash(first), stored.TokenHash)
	require.NotContains(t, string(stored.TokenHash), first)

	second := issue(t, c, epoch.Add(time.Hour), ada, invitation.KindINVITATION, day)
	require.ErrorIs(t, lookup(c, epoch.Add(time.Hour), first, invitation.KindINVITATION), ErrInvalid, "replaced")
	reset := issue(t, c, epoch.Add(time.Hour), ada, invitation.KindPASSWORD_RESET, time.Hour)
	require.NoError(t, lookup(c, epoch.Add(time.Hour), second, invitation.KindINVITATION), "a token of another kind replaces nothing")

	// Expiry: open until the instant it expires.
	expires := epoch.Add(time.Hour + day)
	require.NoError(t, lookup(c, expires.Add(-time.Microsecond), second, invitation.KindINVITATION))
	require.ErrorIs(t, lookup(c, expires, second, invitation.KindINVITATION), ErrExpired)
	require.ErrorIs(t, lookup(c, expires.Add(time.Second), second, invitation.KindINVITATION), ErrExpired)

	for _, tok := range []string{"", "short", "not base64 !!!", first + "x"} {
		require.ErrorIs(t, lookup(c, epoch, tok, invitation.KindINVITATION), ErrInvalid, "%q", tok)
	}
	unknown, _ := token.New()
	require.ErrorIs(t, lookup(c, epoch, unknown, invitation.KindINVITATION), ErrInvalid)

	// A deactivated person's tokens open nothing.
	c.User.UpdateOne(ada).SetStatus(user.StatusDeactivated).ExecX(testdb.System())
	require.ErrorIs(t, lookup(c, epoch.Add(time.Hour), reset, invitation.KindPASSWORD_RESET), ErrInvalid)
	c.User.UpdateOne(ada).SetStatus(user.StatusActive).ExecX(testdb.System())
	require.NoError(t, lookup(c, epoch.Add(time.Hour), reset, invitation.KindPASSWORD_RESET))

	// Revoking every kind.
	require.NoError(t, Revoke(context.Background(), c, epoch.Add(2*time.Hour), "", ada.ID))
	require.ErrorIs(t, lookup(c, epoch.Add(2*time.Hour), reset, invitation.KindPASSWORD_RESET), ErrInvalid)
	require.ErrorIs(t, lookup(c, epoch.Add(2*time.Hour), second, invitation.KindINVITATION), ErrInvalid)
}

// TestSpend: a token is spent once, however many try at the same time,
// and not once expired or revoked.
func TestSpend(t *testing.T) {
	t.Parallel()
	d := testdb.Open(t)
	c := d.Client
	o := testdb.NewOrg(t, c, "acme")
	ada := o.Person(t, "ada@example.com", perm.Member, user.StatusInvited)
	ctx := testdb.System()
	idOf := func(tok string) int {
		return c.Invitation.Query().Where(invitation.TokenHash(token.Hash(tok))).OnlyIDX(ctx)
	}

	tok := issue(t, c, epoch, ada, invitation.KindINVITATION, time.Hour)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range cap(results) {
		wg.Go(func() { results <- Spend(ctx, c, idOf(tok), epoch.Add(time.Minute)) })
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		if err == nil {
			won++
		} else {
			require.ErrorIs(t, err, ErrInvalid)
		}
	}
	require.Equal(t, 1, won, "exactly one spends it")
	require.ErrorIs(t, lookup(c, epoch.Add(time.Minute), tok, invitation.KindINVITATION), ErrInvalid, "used")

	expired := issue(t, c, epoch, o.Person(t, "bob@example.com", perm.Member, user.StatusInvited), invitation.KindINVITATION, time.Hour)
	require.ErrorIs(t, Spend(ctx, c, idOf(expired), epoch.Add(time.Hour)), ErrInvalid)
	revoked := issue(t, c, epoch, o.Person(t, "carol@example.com", perm.Member, user.StatusInvited), invitation.KindINVITATION, time.Hour)
	carol := c.Invitation.Query().Where(invitation.ID(idOf(revoked))).QueryUser().OnlyIDX(ctx)
	require.NoError(t, Revoke(ctx, c, epoch, invitation.KindINVITATION, carol))
	require.True(t, errors.Is(Spend(ctx, c, idOf(revoked), epoch.Add(time.Minute)), ErrInvalid))
}

// TestActivateTemporary: a temporary password makes the person ACTIVE,
// to choose their own password at the next sign-in, and ends their links.
func TestActivateTemporary(t *testing.T) {
	t.Parallel()
	d := testdb.Open(t)
	c := d.Client
	o := testdb.NewOrg(t, c, "acme")
	ada := c.User.UpdateOne(o.Person(t, "ada@example.com", perm.Member, user.StatusInvited)).
		SetInviteExpiresAt(epoch.Add(time.Hour)).SaveX(testdb.System())
	inv := issue(t, c, epoch, ada, invitation.KindINVITATION, time.Hour)
	reset := issue(t, c, epoch, ada, invitation.KindPASSWORD_RESET, time.Hour)

	require.NoError(t, ActivateTemporary(context.Background(), c, epoch.Add(time.Minute), ada.ID, "hash"))
	u := c.User.GetX(testdb.System(), ada.ID)
	require.Equal(t, user.StatusActive, u.Status)
	require.Equal(t, "hash", *u.PasswordHash)
	require.True(t, u.MustChangePassword)
	require.Nil(t, u.InviteExpiresAt)
	require.ErrorIs(t, lookup(c, epoch.Add(time.Minute), inv, invitation.KindINVITATION), ErrInvalid)
	require.ErrorIs(t, lookup(c, epoch.Add(time.Minute), reset, invitation.KindPASSWORD_RESET), ErrInvalid)
}
