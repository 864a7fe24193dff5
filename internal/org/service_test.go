package org

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
)

// hashed stands in for the auth service's argon2id hasher (tested in
// package auth): it marks what it hashed, so a test sees which password was
// stored.
func hashed(_ context.Context, password string) (string, error) { return "hashed:" + password, nil }

func setup(t *testing.T) (*Service, *ent.Client) {
	t.Helper()
	d := testdb.Open(t)
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	return New(d.Client, clk, hashed, audit.New(d.Client, clk)), d.Client
}

// TestCreate: an organisation starts with the built-in roles and an active
// Owner; what it is given is checked first, and a failure creates nothing.
func TestCreate(t *testing.T) {
	t.Parallel()
	svc, client := setup(t)
	ctx := context.Background()

	c, err := svc.Create(ctx, CreateInput{Slug: " Acme ", Name: " Acme Ltd ", OwnerEmail: "Owner@Acme.test", OwnerPassword: "chosen-password-1"})
	require.NoError(t, err)
	require.Equal(t, "acme", c.Organization.Slug)
	require.Equal(t, "Acme Ltd", c.Organization.Name)
	require.Empty(t, c.GeneratedPassword, "a chosen password is not shown again")
	owner, err := client.User.Query().Where(user.ID(c.Owner.ID)).WithRole().Only(testdb.System())
	require.NoError(t, err)
	require.Equal(t, "Owner@Acme.test", owner.Email)
	require.Equal(t, "owner@acme.test", owner.EmailNormalized)
	require.Equal(t, user.StatusActive, owner.Status)
	require.Equal(t, "hashed:chosen-password-1", *owner.PasswordHash)
	require.Equal(t, perm.Owner, owner.Edges.Role.Name)
	roles, err := client.Role.Query().Where(role.OrganizationID(c.Organization.ID)).All(testdb.System())
	require.NoError(t, err)
	require.Len(t, roles, len(perm.BuiltinRoles()))
	for _, want := range perm.BuiltinRoles() {
		i := slices.IndexFunc(roles, func(r *ent.Role) bool { return r.Name == want.Name })
		require.GreaterOrEqual(t, i, 0, want.Name)
		require.True(t, roles[i].Builtin)
		require.ElementsMatch(t, want.Permissions, roles[i].Permissions, want.Name)
	}

	// A generated password is shown once; the name defaults to the slug.
	c, err = svc.Create(ctx, CreateInput{Slug: "beta", OwnerEmail: "owner@beta.test"})
	require.NoError(t, err)
	require.Equal(t, "beta", c.Organization.Name)
	require.GreaterOrEqual(t, len(c.GeneratedPassword), 16)
	require.Equal(t, "hashed:"+c.GeneratedPassword, *c.Owner.PasswordHash)

	count := func() int { return client.Organization.Query().CountX(testdb.System()) }
	for _, c := range []struct {
		name  string
		in    CreateInput
		code  apperr.Code
		field string
	}{
		{"a slug taken", CreateInput{Slug: "ACME", OwnerEmail: "x@example.com"}, apperr.Conflict, ""},
		{"not a slug", CreateInput{Slug: "acme corp", OwnerEmail: "x@example.com"}, apperr.BadUserInput, "slug"},
		{"a name on two lines", CreateInput{Slug: "gamma", Name: "Gamma\nBcc: x", OwnerEmail: "x@example.com"}, apperr.BadUserInput, "name"},
		{"not an address", CreateInput{Slug: "gamma", OwnerEmail: "x"}, apperr.BadUserInput, "ownerEmail"},
	} {
		_, err := svc.Create(ctx, c.in)
		require.True(t, apperr.Is(err, c.code), "%s: %v", c.name, err)
		if c.field != "" {
			requireInvalid(t, err, c.field, "")
		}
		require.Equal(t, 2, count(), "%s: nothing created", c.name)
	}
}

// TestBootstrap: the first organisation is created once, when there is none.
func TestBootstrap(t *testing.T) {
	t.Parallel()
	svc, client := setup(t)
	in := CreateInput{Slug: "first", OwnerEmail: "first@example.com"}
	c, err := svc.Bootstrap(context.Background(), in)
	require.NoError(t, err)
	require.NotNil(t, c)
	c, err = svc.Bootstrap(context.Background(), CreateInput{Slug: "second", OwnerEmail: "second@example.com"})
	require.NoError(t, err)
	require.Nil(t, c)
	require.Equal(t, []string{"first"}, client.Organization.Query().Select(organization.FieldSlug).StringsX(testdb.System()))
}

// TestUpdate: who may change the organisation, what a change is checked
// against, and that a product taken away is taken from everyone in the
// organisation who had it, and from nobody elsewhere.
func TestUpdate(t *testing.T) {
	t.Parallel()
	svc, client := setup(t)
	o := testdb.NewOrg(t, client, "acme")
	owner := o.As(t, o.Person(t, "owner@acme.test", perm.Owner, user.StatusActive))
	admin := o.As(t, o.Person(t, "admin@acme.test", perm.Admin, user.StatusActive))
	other := testdb.NewOrg(t, client, "other")
	elsewhere := other.Person(t, "elsewhere@example.com", perm.Member, user.StatusActive)

	_, err := svc.Update(context.Background(), UpdateInput{Name: ptr("X")})
	require.True(t, apperr.Is(err, apperr.Unauthenticated), "%v", err)
	_, err = svc.Update(admin, UpdateInput{Name: ptr("X")})
	require.True(t, apperr.Is(err, apperr.Forbidden), "%v", err)

	got, err := svc.Update(owner, UpdateInput{Name: ptr(" Acme Ltd "), Products: []string{"crm", "wiki", "erp"},
		InvitationTTLSeconds: ptr(3600), EmailFromName: ptr(" Acme People "), ReplyTo: ptr("hr@acme.test")})
	require.NoError(t, err)
	require.Equal(t, "Acme Ltd", got.Name)
	require.Equal(t, []string{"crm", "wiki", "erp"}, got.Products)
	require.Equal(t, 3600, got.InvitationTTLSeconds)
	require.Equal(t, "Acme People", got.EmailFromName)
	require.Equal(t, "hr@acme.test", *got.ReplyTo)

	// Invalid input changes nothing, whichever field is wrong.
	for _, in := range []UpdateInput{
		{Name: ptr("Changed"), ResetTTLSeconds: ptr(0)},
		{Name: ptr("Changed"), InvitationTTLSeconds: ptr(MaxTTLSeconds + 1)},
		{Name: ptr("Changed"), EmailFromName: ptr("a\nb")},
		{Name: ptr("Changed"), ReplyTo: ptr("nobody")},
		{Name: ptr("Changed"), Products: []string{""}},
		{Name: ptr("")},
	} {
		_, err := svc.Update(owner, in)
		require.True(t, apperr.Is(err, apperr.BadUserInput), "%+v: %v", in, err)
	}
	got, err = svc.Current(owner)
	require.NoError(t, err)
	require.Equal(t, "Acme Ltd", got.Name)

	holders := map[string][]string{"both@example.com": {"crm", "wiki"}, "crm@example.com": {"crm"}, "erp@example.com": {"erp"}}
	for email, products := range holders {
		u := o.Person(t, email, perm.Member, user.StatusNotInvited)
		client.User.UpdateOne(u).SetProducts(products).ExecX(testdb.System())
	}
	client.User.UpdateOne(elsewhere).SetProducts([]string{"crm", "wiki"}).ExecX(testdb.System())

	got, err = svc.Update(owner, UpdateInput{Products: []string{"wiki", "erp"}, ReplyTo: ptr(" ")})
	require.NoError(t, err)
	require.Equal(t, []string{"wiki", "erp"}, got.Products)
	require.Nil(t, got.ReplyTo, "a blank reply-to clears it")
	for email, want := range map[string][]string{"both@example.com": {"wiki"}, "crm@example.com": {}, "erp@example.com": {"erp"}} {
		u, err := client.User.Query().Where(user.OrganizationID(o.ID), user.EmailNormalized(email)).Only(testdb.System())
		require.NoError(t, err)
		require.Equal(t, want, u.Products, email)
	}
	require.Equal(t, []string{"crm", "wiki"}, client.User.GetX(testdb.System(), elsewhere.ID).Products,
		"another organisation's product of the same name stays")
}
