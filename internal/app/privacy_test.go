package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/viewer"
)

// TestPrivacyRulesGuardRawQueries checks the data layer on its own: plain ent
// calls, as any future service or resolver would make them, cannot cross
// tenants or exceed the viewer's permissions.
func TestPrivacyRulesGuardRawQueries(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme, globex := s.CreateOrg(t, "acme"), s.CreateOrg(t, "globex")
	acmePeople := s.AddPeople(t, acme, testkit.Person{Email: "a@acme.test"}, testkit.Person{Email: "b@acme.test"})
	globexPeople := s.AddPeople(t, globex, testkit.Person{Email: "x@globex.test"})
	client := s.DB.Client
	as := func(o *testkit.Org, userID int, perms ...perm.Permission) context.Context {
		return viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: o.ID, UserID: userID, Permissions: perms})
	}
	admin := as(acme, acme.Owner.ID, perm.All()...)
	member := as(acme, acmePeople[0].ID)

	t.Run("nobody signed in reads nothing", func(t *testing.T) {
		_, err := client.User.Query().All(context.Background())
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.Organization.Query().All(context.Background())
		require.ErrorIs(t, err, privacy.Deny)
	})

	t.Run("reads stay in the tenant", func(t *testing.T) {
		n, err := client.User.Query().Count(admin)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		_, err = client.User.Get(admin, globexPeople[0].ID)
		require.True(t, ent.IsNotFound(err))
		orgs, err := client.Organization.Query().All(admin)
		require.NoError(t, err)
		require.Len(t, orgs, 1)
		require.Equal(t, "acme", orgs[0].Slug)
	})

	t.Run("without people.read a viewer reads only itself", func(t *testing.T) {
		us, err := client.User.Query().All(member)
		require.NoError(t, err)
		require.Len(t, us, 1)
		require.Equal(t, acmePeople[0].ID, us[0].ID)
	})

	t.Run("writes stay in the tenant", func(t *testing.T) {
		n, err := client.User.Update().Where(user.ID(globexPeople[0].ID)).SetFirstName("Mallory").Save(admin)
		require.NoError(t, err)
		require.Zero(t, n, "a foreign row is invisible to an update")
		err = client.User.DeleteOneID(globexPeople[0].ID).Exec(admin)
		require.True(t, ent.IsNotFound(err))
		_, err = client.User.Create().SetOrganizationID(globex.ID).SetRoleID(globex.Roles["Member"].ID).
			SetEmail("plant@globex.test").SetEmailNormalized("plant@globex.test").Save(admin)
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.Organization.UpdateOneID(globex.ID).SetName("Pwned").Save(admin)
		require.True(t, ent.IsNotFound(err))
	})

	t.Run("writes need permissions", func(t *testing.T) {
		err := client.User.UpdateOneID(acmePeople[1].ID).SetFirstName("Eve").Exec(member)
		require.True(t, ent.IsNotFound(err), "a Member cannot edit a colleague: %v", err)
		require.NoError(t, client.User.UpdateOneID(acmePeople[0].ID).SetFirstName("Me").Exec(member), "but may edit itself")
		for name, escalate := range map[string]func(*ent.UserUpdateOne) *ent.UserUpdateOne{
			"role":   func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetRoleID(acme.Roles["Owner"].ID) },
			"status": func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetStatus(user.StatusActive) },
			"email": func(u *ent.UserUpdateOne) *ent.UserUpdateOne {
				return u.SetEmail("x@acme.test").SetEmailNormalized("x@acme.test")
			},
		} {
			err := escalate(client.User.UpdateOneID(acmePeople[0].ID)).Exec(member)
			require.ErrorIs(t, err, privacy.Deny, "not its own %s", name)
		}
		_, err = client.Role.UpdateOneID(acme.Roles["Member"].ID).SetPermissions(perm.All()).Save(member)
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.Organization.UpdateOneID(acme.ID).SetName("Mine").Save(as(acme, acmePeople[0].ID, perm.PeopleManage))
		require.ErrorIs(t, err, privacy.Deny)
	})

	t.Run("secret-bearing tables are system only", func(t *testing.T) {
		_, err := client.Session.Query().All(admin)
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.Invitation.Query().All(admin)
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.Throttle.Query().All(admin)
		require.ErrorIs(t, err, privacy.Deny)
	})

	t.Run("the audit log needs organization.manage", func(t *testing.T) {
		_, err := client.AuditEvent.Query().All(as(acme, acme.Owner.ID, perm.PeopleRead))
		require.ErrorIs(t, err, privacy.Deny)
		_, err = client.AuditEvent.Query().All(admin)
		require.NoError(t, err)
	})
}
