package bulksend

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

func status(s enum.DeliveryStatus) *enum.DeliveryStatus { return &s }

// TestDecide specifies what a person gets from an email, as a send plans it
// and as a worker applies it again when it claims the delivery.
func TestDecide(t *testing.T) {
	t.Parallel()
	const (
		inv   = delivery.ActionINVITATION
		reset = delivery.ActionPASSWORD_RESET
		temp  = delivery.ActionTEMPORARY_PASSWORD
		moved = delivery.ActionEMAIL_CHANGED
		skip  = delivery.ActionSKIP
	)
	bounced, complained := status(enum.DeliveryBounced), status(enum.DeliveryComplained)
	for _, c := range []struct {
		name   string
		f      facts
		action delivery.Action
		reason string // a part of it
	}{
		{"auto: an invitation to the never invited", facts{status: user.StatusNotInvited}, inv, ""},
		{"auto: an invitation again to the invited", facts{status: user.StatusInvited}, inv, ""},
		{"auto: reset instructions to an account", facts{status: user.StatusActive}, reset, ""},
		{"auto: nothing to the deactivated", facts{status: user.StatusDeactivated}, skip, "deactivated"},
		{"invitation: not to an account", facts{want: inv, status: user.StatusActive}, skip, "already has an account"},
		{"invitation: to the invited", facts{want: inv, status: user.StatusInvited}, inv, ""},
		{"reset: to an account", facts{want: reset, status: user.StatusActive}, reset, ""},
		{"reset: not to the invited", facts{want: reset, status: user.StatusInvited}, skip, "has no account yet"},
		{"reset: not to the deactivated", facts{want: reset, status: user.StatusDeactivated}, skip, "deactivated"},
		{"temporary password: to the never invited", facts{want: temp, status: user.StatusNotInvited}, temp, ""},
		{"temporary password: not to an account", facts{want: temp, status: user.StatusActive}, skip, "already has an account"},
		{"a guarded role", facts{want: temp, status: user.StatusInvited, guarded: true}, skip, "permissions you do not have"},
		{"deactivated before guarded", facts{status: user.StatusDeactivated, guarded: true}, skip, "deactivated"},
		{"a bounced address", facts{status: user.StatusInvited, last: bounced}, skip, "bounced"},
		{"a complaint", facts{want: reset, status: user.StatusActive, last: complained}, skip, "spam"},
		{"status before suppression", facts{want: reset, status: user.StatusInvited, last: bounced}, skip, "has no account yet"},
		{"delivered is no suppression", facts{status: user.StatusInvited, last: status(enum.DeliveryDelivered)}, inv, ""},
		{"forced past suppression", facts{want: inv, status: user.StatusInvited, last: bounced, force: true}, inv, ""},
		{"force keeps the status rule", facts{want: inv, status: user.StatusActive, force: true}, skip, "already has an account"},
		{"email changed: whatever the person", facts{want: moved, status: user.StatusDeactivated, last: bounced}, moved, ""},
		{"a cancelled send", facts{want: inv, status: user.StatusInvited, cancelled: true}, skip, "cancelled"},
		{"an erased person", facts{want: moved, erased: true}, skip, "person deleted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, reason := decide(c.f)
			require.Equal(t, c.action, a)
			if c.reason == "" {
				require.Empty(t, reason)
			} else {
				require.Contains(t, reason, c.reason)
			}
		})
	}
}

// TestWanted: a send's kind asks for the action of the same name; AUTO
// leaves it to the person's status.
func TestWanted(t *testing.T) {
	t.Parallel()
	require.Equal(t, delivery.Action(""), wanted(bulksend.KindAUTO))
	for _, k := range []bulksend.Kind{bulksend.KindINVITATION, bulksend.KindPASSWORD_RESET, bulksend.KindTEMPORARY_PASSWORD} {
		require.NoError(t, delivery.ActionValidator(wanted(k)), k)
		require.Equal(t, string(k), string(wanted(k)))
	}
}

// TestRecheck: a claimed job is sent, skipped by decide, or failed once out
// of attempts.
func TestRecheck(t *testing.T) {
	t.Parallel()
	person := func(st user.Status, last *enum.DeliveryStatus) *ent.User {
		return &ent.User{Status: st, LastEmailStatus: last}
	}
	running := &ent.BulkSend{Status: bulksend.StatusRUNNING}
	for _, c := range []struct {
		name string
		j    job
		want result
	}{
		{"sent", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 1}, user: person(user.StatusInvited, nil), send: running}, result{}},
		{"one person's email", job{claimed: &claimed{action: delivery.ActionPASSWORD_RESET, attempts: 1}, user: person(user.StatusActive, nil)}, result{}},
		{"became active", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 1}, user: person(user.StatusActive, nil), send: running},
			result{kind: skipped, reason: "already has an account"}},
		{"bounced meanwhile", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 1}, user: person(user.StatusInvited, status(enum.DeliveryBounced))},
			result{kind: skipped, reason: "suppressed: an earlier email to this address bounced"}},
		{"forced", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 1, force: true}, user: person(user.StatusInvited, status(enum.DeliveryBounced))}, result{}},
		{"cancelled", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 1}, user: person(user.StatusInvited, nil), send: &ent.BulkSend{Status: bulksend.StatusCANCELLED}},
			result{kind: skipped, reason: "cancelled"}},
		{"erased", job{claimed: &claimed{action: delivery.ActionEMAIL_CHANGED, attempts: 1}}, result{kind: skipped, reason: "person deleted"}},
		{"out of attempts", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 11}, user: person(user.StatusInvited, nil)},
			result{kind: failed, reason: "gave up after 10 attempts"}},
		{"the last attempt", job{claimed: &claimed{action: delivery.ActionINVITATION, attempts: 10}, user: person(user.StatusInvited, nil)}, result{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, recheck(&c.j, 10))
		})
	}
}

// TestGuardedRoles: a temporary password hands the account over, so it is
// sent only to holders of roles whose every permission the sender holds;
// invitations and reset instructions go to anyone the send may reach.
func TestGuardedRoles(t *testing.T) {
	t.Parallel()
	roles := []*ent.Role{
		{ID: 1, Name: "Owner", Permissions: perm.All()},
		{ID: 2, Name: "Admin", Permissions: []perm.Permission{perm.PeopleRead, perm.PeopleInvite, perm.PeopleManage, perm.CredentialsManage, perm.TemplatesManage}},
		{ID: 3, Name: "HR", Permissions: []perm.Permission{perm.PeopleRead, perm.PeopleInvite}},
		{ID: 4, Name: "Member", Permissions: []perm.Permission{}},
	}
	hr := &viewer.Viewer{Permissions: []perm.Permission{perm.PeopleRead, perm.PeopleInvite}}
	admin := &viewer.Viewer{Permissions: roles[1].Permissions}
	owner := &viewer.Viewer{Permissions: perm.All()}
	require.Equal(t, map[int]bool{1: true, 2: true}, guardedAmong(hr, roles))
	require.Equal(t, map[int]bool{1: true}, guardedAmong(admin, roles))
	require.Empty(t, guardedAmong(owner, roles))

	for _, k := range []bulksend.Kind{bulksend.KindAUTO, bulksend.KindINVITATION, bulksend.KindPASSWORD_RESET, bulksend.KindTEMPORARY_PASSWORD} {
		require.Equal(t, k == bulksend.KindTEMPORARY_PASSWORD, handsOver(k), k)
	}

	// As a send plans it: an Admin's temporary passwords skip the Owner.
	people := func() []*recipient {
		return []*recipient{{ID: 10, Status: user.StatusNotInvited, RoleID: 1}, {ID: 11, Status: user.StatusNotInvited, RoleID: 2}, {ID: 12, Status: user.StatusNotInvited, RoleID: 4}}
	}
	ps := people()
	res := count(ps, bulksend.KindTEMPORARY_PASSWORD, guardedAmong(admin, roles))
	require.Equal(t, &Result{Total: 3, TemporaryPasswords: 2, Skipped: 1}, res)
	require.Equal(t, delivery.ActionSKIP, ps[0].action)
	require.Contains(t, ps[0].reason, "permissions you do not have")
	require.Equal(t, delivery.ActionTEMPORARY_PASSWORD, ps[1].action)
	require.Equal(t, delivery.ActionTEMPORARY_PASSWORD, ps[2].action)
}
