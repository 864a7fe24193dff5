package people

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/throttle"
)

// queued records the one-person emails the service asks the engine for
// (package bulksend, tested on its own).
type queued struct {
	mu  sync.Mutex
	one []invite.OneEmail
}

func (q *queued) Queue(context.Context, *ent.Client, int, invite.Requester, bulksend.Kind, bulksend.Trigger, []int) (*ent.BulkSend, error) {
	panic("not used by people")
}

func (q *queued) QueuePeople(context.Context, *ent.Client, int, invite.Requester, bulksend.Kind, bulksend.Trigger, []*ent.User, ...audit.Event) (*ent.BulkSend, error) {
	panic("not used by people")
}

func (q *queued) Queued(context.Context, *ent.BulkSend) {}

func (q *queued) QueueOne(_ context.Context, _ *ent.Client, e invite.OneEmail) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.one = append(q.one, e)
	return len(q.one), nil
}

func (q *queued) Dispatch(context.Context, bool, ...int) {}

type bundle struct {
	client *ent.Client
	admin  *Admin
	people *Service
	mail   *queued
	clock  *clock.Manual
	org    *testdb.Org
	owner  *ent.User
}

// setup opens a database with organisation acme and its Owner, and the
// services on it.
func setup(t *testing.T) *bundle {
	t.Helper()
	d := testdb.Open(t)
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	log := slog.New(slog.DiscardHandler)
	sessions := auth.New(d.Client, clk, throttle.New(d.Client, d.Dialect, clk), auth.DefaultConfig(), log)
	q := &queued{}
	o := testdb.NewOrg(t, d.Client, "acme")
	return &bundle{client: d.Client, admin: NewAdmin(d.Client, clk, audit.New(d.Client, clk), sessions, q, log, WithEvents(event.New(d.Client, clk, d.Dialect))),
		people: New(d.Client), mail: q, clock: clk, org: o, owner: o.Person(t, "owner@acme.test", perm.Owner, user.StatusActive)}
}

func (b *bundle) reload(t *testing.T, u *ent.User) *ent.User {
	t.Helper()
	u, err := b.client.User.Get(testdb.System(), u.ID)
	require.NoError(t, err)
	return u
}

// lastOwner is lastOwnerIn in a transaction of its own.
func (b *bundle) lastOwner(ctx context.Context, u *ent.User, doing string) error {
	return db.InTx(ctx, b.client, func(tx *ent.Client) error { return lastOwnerIn(ctx, tx, u, doing) })
}

// TestLastOwner: an organisation keeps an active Owner. The only one cannot
// be deactivated, deleted or given another role; Owners who are invited or
// deactivated, and Owners of other organisations, do not count.
func TestLastOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	ctx := o.As(t, b.owner)
	testdb.NewOrg(t, b.client, "other").Person(t, "owner@other.test", perm.Owner, user.StatusActive)
	invitedOwner := o.Person(t, "invited-owner@acme.test", perm.Owner, user.StatusInvited)
	o.Person(t, "gone-owner@acme.test", perm.Owner, user.StatusDeactivated)
	admin := o.Person(t, "admin@acme.test", perm.Admin, user.StatusActive)

	for _, c := range []struct {
		name string
		u    *ent.User
		last bool
	}{
		{"the only active Owner", b.owner, true},
		{"an invited Owner", invitedOwner, false},
		{"not an Owner", admin, false},
	} {
		err := b.lastOwner(ctx, b.reloadWithRole(t, c.u), "deactivated")
		if c.last {
			requireCode(t, err, apperr.Conflict, "", "the last Owner cannot be deactivated: make someone else Owner first")
		} else {
			require.NoError(t, err, c.name)
		}
	}
	// An organisation whose Owners are all invited or deactivated has no
	// last Owner to keep.
	lapsed := testdb.NewOrg(t, b.client, "lapsed")
	lapsedCtx := lapsed.As(t, lapsed.Person(t, "admin@lapsed.test", perm.Admin, user.StatusActive))
	for _, st := range []user.Status{user.StatusInvited, user.StatusDeactivated} {
		u := lapsed.Person(t, string(st)+"@lapsed.test", perm.Owner, st)
		require.NoError(t, b.lastOwner(lapsedCtx, b.reloadWithRole(t, u), "deleted"), st)
	}

	_, err := b.admin.Deactivate(ctx, b.owner.ID)
	requireCode(t, err, apperr.Conflict, "", "the last Owner cannot be deactivated")
	requireCode(t, b.admin.Delete(ctx, b.owner.ID), apperr.Conflict, "", "the last Owner cannot be deleted")
	_, err = b.admin.UpdateUser(ctx, b.owner.ID, UpdateUserInput{RoleID: &o.Roles[perm.Admin].ID})
	requireCode(t, err, apperr.Conflict, "", "the last Owner cannot be given another role")
	require.Equal(t, user.StatusActive, b.reload(t, b.owner).Status)
	require.Equal(t, o.Roles[perm.Owner].ID, b.reload(t, b.owner).RoleID)

	// With a second active Owner, either may go; then the other is the last.
	second := o.Person(t, "second-owner@acme.test", perm.Owner, user.StatusActive)
	require.NoError(t, b.lastOwner(ctx, b.reloadWithRole(t, b.owner), "deactivated"))
	_, err = b.admin.UpdateUser(ctx, b.owner.ID, UpdateUserInput{RoleID: &o.Roles[perm.Admin].ID})
	require.NoError(t, err)
	_, err = b.admin.Deactivate(o.As(t, second), second.ID)
	requireCode(t, err, apperr.Conflict, "", "the last Owner cannot be deactivated")
}

func (b *bundle) reloadWithRole(t *testing.T, u *ent.User) *ent.User {
	t.Helper()
	u, err := b.client.User.Query().Where(user.ID(u.ID)).WithRole().Only(testdb.System())
	require.NoError(t, err)
	return u
}

// TestUpdateUserRules: who may change what of whom, and what a changed
// address does.
func TestUpdateUserRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	_, err := b.client.Organization.UpdateOneID(o.ID).SetProducts([]string{"crm"}).Save(testdb.System())
	require.NoError(t, err)
	managerRole := b.client.Role.Create().SetOrganizationID(o.ID).SetName("Manager").
		SetPermissions([]string{perm.PeopleRead, perm.PeopleManage}).SaveX(testdb.System())
	manager := b.client.User.Create().SetOrganizationID(o.ID).SetRoleID(managerRole.ID).SetEmail("manager@acme.test").
		SetEmailNormalized("manager@acme.test").SetStatus(user.StatusActive).SaveX(testdb.System())
	owner, asManager := o.As(t, b.owner), o.As(t, manager)
	hr := o.As(t, o.Person(t, "hr@acme.test", perm.HR, user.StatusActive))
	active := o.Person(t, "active@example.com", perm.Member, user.StatusActive)
	admin := o.Person(t, "admin@acme.test", perm.Admin, user.StatusActive)
	invited := b.client.User.UpdateOne(o.Person(t, "invited@example.com", perm.Member, user.StatusInvited)).
		SetLastEmailStatus(enum.DeliveryBounced).SetInviteExpiresAt(b.clock.Now().Add(time.Hour)).SaveX(testdb.System())
	foreign := testdb.NewOrg(t, b.client, "other").Person(t, "taken-elsewhere@example.com", perm.Member, user.StatusActive)

	for _, c := range []struct {
		name  string
		ctx   context.Context
		u     *ent.User
		in    UpdateUserInput
		code  apperr.Code
		field string
		want  string
	}{
		{"without people.manage", hr, active, UpdateUserInput{FirstName: ptr("X")}, apperr.Forbidden, "", "permission people.manage required"},
		{"a person of another organisation", owner, foreign, UpdateUserInput{FirstName: ptr("X")}, apperr.NotFound, "", "person not found"},
		{"someone holding more than the viewer", asManager, admin, UpdateUserInput{FirstName: ptr("X")}, apperr.Forbidden, "", "the role Admin grants permissions you do not hold"},
		{"a username without credentials.manage", asManager, active, UpdateUserInput{Username: ptr("ada")}, apperr.Forbidden, "", "permission credentials.manage required"},
		{"an account's address without credentials.manage", asManager, active, UpdateUserInput{Email: ptr("new@example.com")}, apperr.Forbidden, "email", "to change the address of an active account"},
		{"a role granting more than the viewer holds", asManager, active, UpdateUserInput{RoleID: &o.Roles[perm.Admin].ID}, apperr.Forbidden, "", "the role Admin grants"},
		{"a role of another organisation", owner, active, UpdateUserInput{RoleID: &foreign.RoleID}, apperr.NotFound, "roleId", "role not found"},
		{"an address another person has", owner, active, UpdateUserInput{Email: ptr("Admin@ACME.test")}, apperr.Conflict, "email", "another person has this address"},
		{"not an address", owner, active, UpdateUserInput{Email: ptr("not an address")}, apperr.BadUserInput, "email", ""},
		{"a product not enabled", owner, active, UpdateUserInput{Products: []string{"crm", "wiki"}}, apperr.BadUserInput, "products", `product "wiki" is not enabled`},
		{"a name too long", owner, active, UpdateUserInput{FirstName: ptr(strings.Repeat("名", 201))}, apperr.BadUserInput, "firstName", "longer than 200 characters"},
	} {
		_, err := b.admin.UpdateUser(c.ctx, c.u.ID, c.in)
		requireCode(t, err, c.code, c.field, c.want)
	}
	require.Equal(t, active.Email, b.reload(t, active).Email, "nothing changed")
	require.Nil(t, b.reload(t, active).FirstName, "nothing changed")
	require.Empty(t, b.mail.one)

	// An invited person's address is no credential: a manager may change
	// it. A bounce of the old address no longer counts, and the pending
	// invitation shows as expired until resent.
	u, err := b.admin.UpdateUser(asManager, invited.ID, UpdateUserInput{Email: ptr("Invited2@example.com"), FirstName: ptr(strings.Repeat("名", 200))})
	require.NoError(t, err)
	require.Equal(t, "Invited2@example.com", u.Email)
	require.Equal(t, "invited2@example.com", u.EmailNormalized)
	require.Nil(t, u.LastEmailStatus)
	require.True(t, u.InviteExpiresAt.Equal(b.clock.Now()))
	require.Equal(t, strings.Repeat("名", 200), *u.FirstName)
	require.Empty(t, b.mail.one, "nobody to warn: no account")

	// An account's address changes with credentials.manage, to one used in
	// another organisation too; the old address is told.
	u, err = b.admin.UpdateUser(owner, active.ID, UpdateUserInput{Email: ptr("taken-elsewhere@example.com")})
	require.NoError(t, err)
	require.Equal(t, "taken-elsewhere@example.com", u.Email)
	require.Equal(t, []invite.OneEmail{{OrgID: o.ID, UserID: active.ID, To: "active@example.com",
		Action: delivery.ActionEMAIL_CHANGED, NewEmail: "taken-elsewhere@example.com"}}, b.mail.one)

	// Only a case change: the same address, so no credential change.
	_, err = b.admin.UpdateUser(asManager, active.ID, UpdateUserInput{Email: ptr("Taken-Elsewhere@example.com")})
	require.NoError(t, err)
	require.Len(t, b.mail.one, 1)
}

// TestRoleAdmin: role names are unique ignoring case; built-in roles stay;
// a role is deleted only when nobody holds it.
func TestRoleAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	ctx := o.As(t, b.owner)
	hr := o.As(t, o.Person(t, "hr@acme.test", perm.HR, user.StatusActive))
	_, err := b.admin.CreateRole(hr, RoleInput{Name: "Recruiter"})
	requireCode(t, err, apperr.Forbidden, "", "permission organization.manage required")

	r, err := b.admin.CreateRole(ctx, RoleInput{Name: " Recruiter ", Permissions: []string{perm.PeopleInvite, perm.PeopleRead}})
	require.NoError(t, err)
	require.Equal(t, "Recruiter", r.Name)
	for _, name := range []string{"recruiter", "MEMBER"} {
		_, err = b.admin.CreateRole(ctx, RoleInput{Name: name})
		requireCode(t, err, apperr.Conflict, "name", "a role named "+name+" exists")
	}
	_, err = b.admin.UpdateRole(ctx, o.Roles[perm.Member].ID, RoleInput{Name: "recruiter"})
	requireCode(t, err, apperr.BadUserInput, "name", "built-in roles cannot be renamed")
	_, err = b.admin.UpdateRole(ctx, r.ID, RoleInput{Name: "member"})
	requireCode(t, err, apperr.Conflict, "name", "a role named member exists")
	_, err = b.admin.UpdateRole(ctx, o.Roles[perm.Owner].ID, RoleInput{Name: perm.Owner, Permissions: perm.All()[1:]})
	requireCode(t, err, apperr.BadUserInput, "permissions", "the Owner role keeps every permission")
	r, err = b.admin.UpdateRole(ctx, r.ID, RoleInput{Name: "RECRUITER", Permissions: []string{perm.PeopleRead}})
	require.NoError(t, err, "renamed in another case")
	require.Equal(t, []string{perm.PeopleRead}, r.Permissions)

	requireCode(t, b.admin.DeleteRole(ctx, o.Roles[perm.Member].ID), apperr.Conflict, "", "built-in roles cannot be deleted")
	holder := b.client.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).SetEmail("r@example.com").
		SetEmailNormalized("r@example.com").SaveX(testdb.System())
	requireCode(t, b.admin.DeleteRole(ctx, r.ID), apperr.Conflict, "", "1 people hold the role RECRUITER: give them another role first")
	b.client.User.DeleteOne(holder).ExecX(testdb.System())
	require.NoError(t, b.admin.DeleteRole(ctx, r.ID))
	requireCode(t, b.admin.DeleteRole(ctx, r.ID), apperr.NotFound, "", "role not found")
	foreign := testdb.NewOrg(t, b.client, "other")
	_, err = b.admin.UpdateRole(ctx, foreign.Roles[perm.Member].ID, RoleInput{Name: perm.Member})
	requireCode(t, err, apperr.NotFound, "", "role not found")
}

// TestDeactivateReactivate: deactivating is idempotent and reactivating
// restores an account, or leaves someone never invited.
func TestDeactivateReactivate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	ctx := o.As(t, b.owner)
	active := o.Person(t, "active@example.com", perm.Member, user.StatusActive)
	invited := o.Person(t, "invited@example.com", perm.Member, user.StatusInvited)
	for _, c := range []struct {
		u     *ent.User
		after user.Status
	}{{active, user.StatusActive}, {invited, user.StatusNotInvited}} {
		for range 2 {
			u, err := b.admin.Deactivate(ctx, c.u.ID)
			require.NoError(t, err)
			require.Equal(t, user.StatusDeactivated, u.Status)
		}
		for range 2 {
			u, err := b.admin.Reactivate(ctx, c.u.ID)
			require.NoError(t, err)
			require.Equal(t, c.after, u.Status, c.u.Email)
		}
	}
}

// TestSearch: a search matches part of the address, a name, both names or
// the username, ignoring case, with LIKE's wildcards taken literally.
func TestSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	ctx := o.As(t, b.owner)
	add := func(email, first, last, username string) {
		c := b.client.User.Create().SetOrganizationID(o.ID).SetRoleID(o.Roles[perm.Member].ID).SetEmail(email).
			SetEmailNormalized(strings.ToLower(email)).SetFirstName(first).SetLastName(last)
		if username != "" {
			c.SetUsername(username).SetUsernameNormalized(strings.ToLower(username))
		}
		c.ExecX(testdb.System())
	}
	add("Ann.Smith@example.com", "Ann", "Smith", "")
	add("percent@example.com", "100%", "Sure", "")
	add("under@example.com", "a_b", "Under", "")
	add("plain@example.com", "aXb", "Plain", "Grace_H")
	add("emile@example.com", "émile", "Zola", "")
	testdb.NewOrg(t, b.client, "other").Person(t, "ann@other.test", perm.Member, user.StatusActive)

	for _, c := range []struct {
		search string
		want   []string
	}{
		{"ANN", []string{"ann.smith@example.com"}},
		{"ÉMILE", []string{"emile@example.com"}},
		{"ann smith", []string{"ann.smith@example.com"}},
		{"smith@EXAMPLE", []string{"ann.smith@example.com"}},
		{"0%", []string{"percent@example.com"}},
		{"a_b", []string{"under@example.com"}},
		{"grace_", []string{"plain@example.com"}},
		{`\`, nil},
		{"%", []string{"percent@example.com"}},
	} {
		got := b.client.User.Query().Where(Matching(c.search)).Order(ent.Asc(user.FieldEmailNormalized)).
			Select(user.FieldEmailNormalized).StringsX(ctx)
		require.Equal(t, c.want, got, "search %q", c.search)
	}

	page, err := b.people.List(ctx, ListParams{Search: "  ann  "})
	require.NoError(t, err)
	require.Len(t, page.Edges, 1, "the search is trimmed, and another organisation's Ann is not found")
	_, err = b.people.List(ctx, ListParams{Search: strings.Repeat("a", MaxSearchLength+1)})
	requireCode(t, err, apperr.BadUserInput, "search", "search is longer than 200 characters")
	_, err = b.people.List(o.As(t, o.Person(t, "member@acme.test", perm.Member, user.StatusActive)), ListParams{})
	requireCode(t, err, apperr.Forbidden, "", "permission people.read required")
}

// TestInviteExpired: an invitation has expired at its expiry, and only a
// pending one (INVITED) can.
func TestInviteExpired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	now := b.clock.Now()
	at := func(email string, st user.Status, expires time.Time) {
		u := o.Person(t, email, perm.Member, st)
		b.client.User.UpdateOne(u).SetInviteExpiresAt(expires).ExecX(testdb.System())
	}
	at("past@example.com", user.StatusInvited, now.Add(-time.Second))
	at("now@example.com", user.StatusInvited, now)
	at("future@example.com", user.StatusInvited, now.Add(time.Second))
	at("accepted@example.com", user.StatusActive, now.Add(-time.Hour))
	o.Person(t, "never@example.com", perm.Member, user.StatusNotInvited)
	ctx := o.As(t, b.owner)
	emails := func(expired bool) []string {
		got := b.client.User.Query().Where(InviteExpired(now, expired)).Select(user.FieldEmailNormalized).StringsX(ctx)
		slices.Sort(got)
		return got
	}
	require.Equal(t, []string{"now@example.com", "past@example.com"}, emails(true))
	require.Equal(t, []string{"accepted@example.com", "future@example.com", "never@example.com", "owner@acme.test"}, emails(false))
}
