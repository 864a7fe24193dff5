package history_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/emailtemplate"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/history"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/viewer"
)

func TestKindAndReason(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	for _, tt := range []struct {
		action delivery.Action
		status enum.DeliveryStatus
		err    *string
		kind   *emailtemplate.Kind
		reason *string
	}{
		{delivery.ActionINVITATION, enum.DeliveryBounced, str("550 no such user"), ptr(emailtemplate.KindINVITATION), str("550 no such user")},
		{delivery.ActionPASSWORD_RESET, enum.DeliveryFailed, str("refused"), ptr(emailtemplate.KindPASSWORD_RESET), str("refused")},
		{delivery.ActionTEMPORARY_PASSWORD, enum.DeliveryComplained, nil, ptr(emailtemplate.KindTEMPORARY_PASSWORD), nil},
		{delivery.ActionSKIP, enum.DeliverySkipped, str("deactivated"), nil, str("deactivated")},
		{delivery.ActionINVITATION, enum.DeliveryQueued, str("provider busy, retrying"), ptr(emailtemplate.KindINVITATION), str("provider busy, retrying")},
		// A reason from before a later, better report is not shown.
		{delivery.ActionINVITATION, enum.DeliveryDelivered, str("provider retrying: busy"), ptr(emailtemplate.KindINVITATION), nil},
		{delivery.ActionINVITATION, enum.DeliverySent, str("old"), ptr(emailtemplate.KindINVITATION), nil},
		{delivery.ActionINVITATION, enum.DeliveryFailed, str(""), ptr(emailtemplate.KindINVITATION), nil},
	} {
		d := &ent.Delivery{Action: tt.action, Status: tt.status, Error: tt.err}
		require.Equal(t, tt.kind, history.Kind(d), "%s %s", tt.action, tt.status)
		require.Equal(t, tt.reason, history.Reason(d), "%s %s", tt.action, tt.status)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPageReadsReferencesOnce: the people and sends a page of emails names
// are read in one query each, however many emails ask for them at once.
func TestPageReadsReferencesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	c := d.Client
	o := c.Organization.Create().SetSlug("o").SetName("o").SaveX(sys)
	r := c.Role.Create().SetOrganizationID(o.ID).SetName("r").SaveX(sys)
	var users []*ent.User
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		users = append(users, c.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).SetEmail(e).SetEmailNormalized(e).SaveX(sys))
	}
	sends := []*ent.BulkSend{
		c.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(users[0].ID).SetKind("INVITATION").SaveX(sys),
		c.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(users[0].ID).SetKind("INVITATION").SaveX(sys),
	}
	for i := range 12 {
		u, b := users[i%3], sends[i%2]
		c.Delivery.Create().SetOrganizationID(o.ID).SetBulkSendID(b.ID).SetUserID(u.ID).SetEmail(u.Email).
			SetAction("INVITATION").SetStatus(enum.DeliverySent).ExecX(sys)
	}

	var queries atomic.Int64
	drv := dialect.DebugWithContext(entsql.OpenDB(d.Dialect, d.SQL), func(context.Context, ...any) { queries.Add(1) })
	svc := history.New(ent.NewClient(ent.Driver(drv)))
	vctx := viewer.NewContext(ctx, &viewer.Viewer{OrgID: o.ID, UserID: users[0].ID, Permissions: []perm.Permission{perm.PeopleRead}})

	for _, size := range []int{12, 5} {
		page, err := svc.Deliveries(vctx, sends[0].ID, &size, nil, nil)
		require.NoError(t, err)
		require.Len(t, page.Edges, min(size, 6))
		queries.Store(0)
		var wg sync.WaitGroup
		for _, e := range page.Edges {
			wg.Go(func() {
				u, err := svc.User(vctx, page, e.Node)
				if assert.NoError(t, err) {
					assert.Equal(t, *e.Node.UserID, u.ID)
				}
				b, err := svc.BulkSend(vctx, page, e.Node)
				if assert.NoError(t, err) {
					assert.Equal(t, sends[0].ID, b.ID)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 2, queries.Load(), "one query for the people, one for the sends")
	}

	page, err := svc.Emails(vctx, users[1].ID, nil, nil)
	require.NoError(t, err)
	require.Len(t, page.Edges, 4)
	for i := 1; i < len(page.Edges); i++ {
		require.Greater(t, page.Edges[i-1].Node.ID, page.Edges[i].Node.ID, "newest first")
	}
}
