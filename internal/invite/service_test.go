package invite

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/testdb"
)

// queued records what the service asked the email engine for. It stands in
// for the engine (package bulksend), whose own tests cover sending; the
// sends it creates are real rows, in the caller's transaction.
type queued struct {
	mu     sync.Mutex
	people [][]int // one entry per QueuePeople: the people's ids
	one    []OneEmail
}

func (q *queued) Queue(ctx context.Context, tx *ent.Client, orgID int, by Requester, kind bulksend.Kind, trigger bulksend.Trigger, userIDs []int) (*ent.BulkSend, error) {
	q.mu.Lock()
	q.people = append(q.people, userIDs)
	q.mu.Unlock()
	c := tx.BulkSend.Create().SetOrganizationID(orgID).SetKind(kind).SetTrigger(trigger).SetTotal(len(userIDs))
	if by.UserID != 0 {
		c.SetCreatedByID(by.UserID)
	}
	return c.Save(testdb.System())
}

func (q *queued) QueuePeople(ctx context.Context, tx *ent.Client, orgID int, by Requester, kind bulksend.Kind, trigger bulksend.Trigger, people []*ent.User, _ ...audit.Event) (*ent.BulkSend, error) {
	ids := make([]int, len(people))
	for i, u := range people {
		ids[i] = u.ID
	}
	return q.Queue(ctx, tx, orgID, by, kind, trigger, ids)
}

func (q *queued) Queued(context.Context, *ent.BulkSend) {}

func (q *queued) QueueOne(_ context.Context, _ *ent.Client, e OneEmail) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.one = append(q.one, e)
	return len(q.one), nil
}

func (q *queued) Dispatch(context.Context, bool, ...int) {}

type bundle struct {
	client *ent.Client
	svc    *Service
	mail   *queued
	org    *testdb.Org
	owner  *ent.User
}

// setup opens a database with organisation acme and its signed-in Owner,
// and the service on it.
func setup(t *testing.T) *bundle {
	t.Helper()
	d := testdb.Open(t)
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	q := &queued{}
	svc := New(Deps{Client: d.Client, Clock: clk, Audit: audit.New(d.Client, clk), Bulk: q, Dialect: d.Dialect,
		Events: event.New(d.Client, clk, d.Dialect), Notify: notify.New(d.Client, clk, events.NewLocal()), Log: slog.New(slog.DiscardHandler)})
	o := testdb.NewOrg(t, d.Client, "acme")
	return &bundle{client: d.Client, svc: svc, mail: q, org: o, owner: o.Person(t, "owner@acme.test", "Owner", user.StatusActive)}
}

// TestInviteUsersRules: who may invite to which role, which products may be
// given, and who among the pasted addresses is created, invited again or
// refused; within the viewer's organisation only.
func TestInviteUsersRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	owner := o.As(t, b.owner)
	hr := o.As(t, o.Person(t, "hr@acme.test", "HR", user.StatusActive))
	member := o.As(t, o.Person(t, "member@acme.test", "Member", user.StatusActive))
	o.Person(t, "never@example.com", "Member", user.StatusNotInvited)
	o.Person(t, "active@example.com", "Member", user.StatusActive)
	other := testdb.NewOrg(t, b.client, "other")
	other.Person(t, "elsewhere@example.com", "Member", user.StatusActive)
	_, err := b.client.Organization.UpdateOneID(o.ID).SetProducts([]string{"crm"}).Save(testdb.System())
	require.NoError(t, err)
	count := func() int { return b.client.User.Query().Where(user.OrganizationID(o.ID)).CountX(testdb.System()) }
	before := count()

	in := func(role string, products ...string) InviteInput {
		return InviteInput{Emails: []string{"new@example.com"}, RoleID: o.Roles[role].ID, Products: products}
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		in   InviteInput
		code apperr.Code
		want string
	}{
		{"nobody signed in", context.Background(), in("Member"), apperr.Unauthenticated, "sign in required"},
		{"without people.invite", member, in("Member"), apperr.Forbidden, "permission people.invite required"},
		{"to a role granting more than the inviter holds", hr, in("Admin"), apperr.Forbidden, "the role Admin grants permissions you do not hold"},
		{"a role of another organisation", owner, InviteInput{Emails: []string{"new@example.com"}, RoleID: other.Roles["Member"].ID}, apperr.NotFound, "role not found"},
		{"a product not enabled", owner, in("Member", "crm", "wiki"), apperr.BadUserInput, `product "wiki" is not enabled`},
	} {
		_, err := b.svc.InviteUsers(c.ctx, c.in)
		requireCode(t, err, c.code, c.want)
		require.Equal(t, before, count(), "%s: nobody created", c.name)
	}

	// Without emails: the new are created, everyone already here refused,
	// whatever their status; an address of another organisation is new here.
	res, err := b.svc.InviteUsers(hr, InviteInput{RoleID: o.Roles["HR"].ID, Products: []string{"crm"},
		Emails: []string{"Ada Lovelace <ada@example.com>, NEVER@example.com, active@example.com, elsewhere@example.com"}})
	require.NoError(t, err)
	require.Nil(t, res.BulkSend)
	require.Empty(t, b.mail.people)
	var created []string
	for _, u := range res.Users {
		created = append(created, u.Email)
		require.Equal(t, user.StatusNotInvited, u.Status)
		require.Equal(t, []string{"crm"}, u.Products)
		require.Equal(t, "HR", u.Edges.Role.Name)
	}
	require.Equal(t, []string{"ada@example.com", "elsewhere@example.com"}, created)
	require.Equal(t, "Ada", *res.Users[0].FirstName)
	require.Equal(t, "Lovelace", *res.Users[0].LastName)
	require.Equal(t, []Rejection{
		{Email: "NEVER@example.com", Reason: "already a member of the organisation"},
		{Email: "active@example.com", Reason: "already a member of the organisation"},
	}, res.Rejected)

	// With emails: the never invited (Ada too, created above) are invited
	// again, keeping their role, with the new, in one send.
	res, err = b.svc.InviteUsers(owner, InviteInput{RoleID: o.Roles["Admin"].ID, SendEmail: true,
		Emails: []string{"never@example.com, active@example.com, ada@example.com, grace@example.com"}})
	require.NoError(t, err)
	require.NotNil(t, res.BulkSend)
	created = nil
	for _, u := range res.Users {
		created = append(created, u.Email+" "+u.Edges.Role.Name)
	}
	require.Equal(t, []string{"never@example.com Member", "ada@example.com HR", "grace@example.com Admin"}, created)
	require.Equal(t, []Rejection{{Email: "active@example.com", Reason: "already a member of the organisation"}}, res.Rejected)
	require.Equal(t, [][]int{{res.Users[0].ID, res.Users[1].ID, res.Users[2].ID}}, b.mail.people)
}

// TestResendRules: resending an invitation, within the organisation, to
// someone without an account; to a suppressed address only with force.
func TestResendRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.org
	owner := o.As(t, b.owner)
	member := o.As(t, o.Person(t, "member@acme.test", "Member", user.StatusActive))
	invited := o.Person(t, "invited@example.com", "Member", user.StatusInvited)
	last := func(u *ent.User, s enum.DeliveryStatus) *ent.User {
		return b.client.User.UpdateOne(u).SetLastEmailStatus(s).SaveX(testdb.System())
	}
	bounced := last(o.Person(t, "bounced@example.com", "Member", user.StatusInvited), enum.DeliveryBounced)
	complained := last(o.Person(t, "complained@example.com", "Member", user.StatusNotInvited), enum.DeliveryComplained)
	active := last(o.Person(t, "active@example.com", "Member", user.StatusActive), enum.DeliveryDelivered)
	foreign := testdb.NewOrg(t, b.client, "other").Person(t, "foreign@example.com", "Member", user.StatusInvited)

	for _, c := range []struct {
		name  string
		ctx   context.Context
		u     *ent.User
		force bool
		code  apperr.Code
		want  string
	}{
		{"without people.invite", member, invited, false, apperr.Forbidden, "people.invite"},
		{"a person of another organisation", owner, foreign, true, apperr.NotFound, "person not found"},
		{"an account", owner, active, true, apperr.Conflict, "already has an account"},
		{"a bounced address", owner, bounced, false, apperr.Conflict, "bounced@example.com is suppressed (an earlier email to this address bounced)"},
		{"a complaint", owner, complained, false, apperr.Conflict, "the recipient marked an earlier email as spam"},
	} {
		_, err := b.svc.Resend(c.ctx, c.u.ID, c.force)
		requireCode(t, err, c.code, c.want)
		require.Empty(t, b.mail.one, "%s: nothing queued", c.name)
	}

	sent := []struct {
		u     *ent.User
		force bool
	}{{invited, false}, {bounced, true}, {complained, true}}
	for _, c := range sent {
		_, err := b.svc.Resend(owner, c.u.ID, c.force)
		require.NoError(t, err, c.u.Email)
	}
	require.Len(t, b.mail.one, len(sent))
	for i, want := range sent {
		e := b.mail.one[i]
		require.Equal(t, want.u.ID, e.UserID)
		require.Equal(t, want.u.Email, e.To)
		require.Equal(t, want.force, e.Force)
		require.Equal(t, want.u.LastEmailStatus, e.Last, "the engine applies the same rule again")
		require.Equal(t, b.owner.ID, e.RequestedBy.UserID)
	}
}
