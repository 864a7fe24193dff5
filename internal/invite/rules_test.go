package invite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// requireCode checks err is the domain error code, with want in its
// message ("" for nil err).
func requireCode(t *testing.T, err error, code apperr.Code, want string) {
	t.Helper()
	if code == "" {
		require.NoError(t, err)
		return
	}
	var e *apperr.Error
	require.True(t, errors.As(err, &e), "want %s, got %v", code, err)
	require.Equal(t, code, e.Code, e.Message)
	require.Contains(t, e.Message, want)
}

func ptr[T any](v T) *T { return &v }

// TestCheckGrant: giving a role, or acting on the credentials of someone
// holding it, needs every permission the role grants.
func TestCheckGrant(t *testing.T) {
	t.Parallel()
	owner := &viewer.Viewer{Permissions: perm.All()}
	hr := &viewer.Viewer{Permissions: []perm.Permission{perm.PeopleRead, perm.PeopleInvite}}
	role := func(ps ...perm.Permission) *ent.Role { return &ent.Role{Name: "R", Permissions: ps} }
	for _, c := range []struct {
		name string
		v    *viewer.Viewer
		r    *ent.Role
		ok   bool
	}{
		{"a role without permissions", hr, role(), true},
		{"a role with the viewer's own permissions", hr, role(perm.PeopleRead, perm.PeopleInvite), true},
		{"a role with fewer", hr, role(perm.PeopleRead), true},
		{"a role with one more", hr, role(perm.PeopleRead, perm.PeopleManage), false},
		{"Owner's role, as Owner", owner, role(perm.All()...), true},
		{"nobody signed in", nil, role(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := CheckGrant(c.v, c.r)
			if c.ok {
				require.NoError(t, err)
				return
			}
			requireCode(t, err, apperr.Forbidden, "the role R grants permissions you do not hold")
		})
	}
}

// TestCheckProducts: only the organisation's enabled products are given.
func TestCheckProducts(t *testing.T) {
	t.Parallel()
	o := &ent.Organization{Products: []string{"crm", "wiki"}}
	require.NoError(t, CheckProducts(o, nil))
	require.NoError(t, CheckProducts(o, []string{"wiki", "crm"}))
	requireCode(t, CheckProducts(o, []string{"crm", "CRM"}), apperr.BadUserInput, `product "CRM" is not enabled`)
	requireCode(t, CheckProducts(&ent.Organization{}, []string{"crm"}), apperr.BadUserInput, `product "crm" is not enabled`)
}

// TestStatusRules: what each credential operation asks of the person's
// status, and resending's suppression rule, which force overrides.
func TestStatusRules(t *testing.T) {
	t.Parallel()
	const (
		notInvited  = user.StatusNotInvited
		invited     = user.StatusInvited
		active      = user.StatusActive
		deactivated = user.StatusDeactivated
	)
	bounced, complained, delivered := ptr(enum.DeliveryBounced), ptr(enum.DeliveryComplained), ptr(enum.DeliveryDelivered)
	person := func(st user.Status, last *enum.DeliveryStatus) *ent.User {
		return &ent.User{Email: "ada@example.com", Status: st, LastEmailStatus: last}
	}
	for _, c := range []struct {
		name  string
		check func(*ent.User) error
		u     *ent.User
		want  string // a part of the CONFLICT message; "" for none
	}{
		{"invite: the never invited", requireNotActive, person(notInvited, nil), ""},
		{"invite: the invited", requireNotActive, person(invited, nil), ""},
		{"invite: not an account", requireNotActive, person(active, nil), "already has an account: send password reset instructions instead"},
		{"invite: not the deactivated", requireNotActive, person(deactivated, nil), "is deactivated: reactivate them first"},

		{"temporary password: an account", requireNotDeactivated, person(active, nil), ""},
		{"temporary password: the invited", requireNotDeactivated, person(invited, nil), ""},
		{"temporary password: not the deactivated", requireNotDeactivated, person(deactivated, nil), "is deactivated"},

		{"revoke: a pending invitation", requirePending, person(invited, nil), ""},
		{"revoke: none pending", requirePending, person(notInvited, nil), "has no pending invitation"},
		{"revoke: not an account", requirePending, person(active, nil), "has no pending invitation"},

		{"resend: the invited", resend(false), person(invited, nil), ""},
		{"resend: after a delivery", resend(false), person(invited, delivered), ""},
		{"resend: not after a bounce", resend(false), person(invited, bounced), "is suppressed (an earlier email to this address bounced): pass force: true"},
		{"resend: not after a complaint", resend(false), person(notInvited, complained), "is suppressed (the recipient marked an earlier email as spam)"},
		{"resend: forced after a bounce", resend(true), person(invited, bounced), ""},
		{"resend: forced after a complaint", resend(true), person(invited, complained), ""},
		{"resend: force keeps the status rule", resend(true), person(active, bounced), "already has an account"},
		{"resend: status before suppression", resend(false), person(deactivated, bounced), "is deactivated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.want == "" {
				require.NoError(t, c.check(c.u))
				return
			}
			requireCode(t, c.check(c.u), apperr.Conflict, c.want)
		})
	}
}

func resend(force bool) func(*ent.User) error {
	return func(u *ent.User) error { return checkResend(u, force) }
}

// TestSuppressed: bounced and complained addresses get no more email; any
// other outcome, or none yet, does not suppress.
func TestSuppressed(t *testing.T) {
	t.Parallel()
	require.Empty(t, Suppressed(nil))
	for _, s := range enum.DeliveryStatus("").Values() {
		got := Suppressed(ptr(enum.DeliveryStatus(s)))
		switch enum.DeliveryStatus(s) {
		case enum.DeliveryBounced:
			require.Equal(t, "an earlier email to this address bounced", got)
		case enum.DeliveryComplained:
			require.Equal(t, "the recipient marked an earlier email as spam", got)
		default:
			require.Empty(t, got, s)
		}
	}
}

// TestScreen: which pasted entries may become people, and why the others
// are rejected.
func TestScreen(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("名", 201)
	valid, rejected := screen(emailaddr.ParseList([]string{
		"Ada Lovelace <ada@example.com>, bad@@example.com, carol@gmial.com",
		"evil\u202e@example.com; " + long + " <long@example.com>; Lovelace, " + long + " <longlast@example.com>; bob@example.com",
	}))
	var addrs []string
	for _, e := range valid {
		addrs = append(addrs, e.Address)
	}
	require.Equal(t, []string{"ada@example.com", "bob@example.com"}, addrs)
	require.Equal(t, []Rejection{
		{Email: "bad@@example.com", Reason: "not a valid email address"},
		{Email: "carol@gmial.com", Reason: "the domain looks like a typo", Suggestion: "carol@gmail.com"},
		{Email: "evil<U+202E>@example.com", Reason: rejected[2].Reason},
		{Email: "long@example.com", Reason: "the first name is longer than 200 characters"},
		{Email: "longlast@example.com", Reason: "the first name is longer than 200 characters"},
	}, rejected)
	require.Contains(t, rejected[2].Reason, "bidirectional")
}

// TestSortExisting: a new address makes a person; an address of someone
// never invited invites them again, when emails are sent; any other
// existing person is already a member.
func TestSortExisting(t *testing.T) {
	t.Parallel()
	entries := emailaddr.ParseList([]string{"new@example.com, Never <NEVER@example.com>, invited@example.com, active@example.com, gone@example.com"})
	existing := map[string]*ent.User{
		"never@example.com":   {ID: 1, Status: user.StatusNotInvited},
		"invited@example.com": {ID: 2, Status: user.StatusInvited},
		"active@example.com":  {ID: 3, Status: user.StatusActive},
		"gone@example.com":    {ID: 4, Status: user.StatusDeactivated},
	}
	member := func(email string) Rejection {
		return Rejection{Email: email, Reason: "already a member of the organisation"}
	}
	for _, send := range []bool{true, false} {
		fresh, reinvite, rejected := sortExisting(entries, existing, send)
		require.Len(t, fresh, 1)
		require.Equal(t, "new@example.com", fresh[0].Address)
		others := []Rejection{member("invited@example.com"), member("active@example.com"), member("gone@example.com")}
		if send {
			require.Equal(t, []*ent.User{existing["never@example.com"]}, reinvite)
			require.Equal(t, others, rejected)
		} else {
			require.Empty(t, reinvite)
			require.Equal(t, append([]Rejection{member("NEVER@example.com")}, others...), rejected)
		}
	}
}

// TestSplitName: a pasted display name gives a first and a last name.
func TestSplitName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in          string
		first, last *string
	}{
		{"", nil, nil},
		{"   ", nil, nil},
		{"Ada", ptr("Ada"), nil},
		{"Ada Lovelace", ptr("Ada"), ptr("Lovelace")},
		{"  Augusta Ada  King ", ptr("Augusta Ada"), ptr("King")},
		{"Lovelace, Ada", ptr("Ada"), ptr("Lovelace")},
		{"King, Augusta Ada", ptr("Augusta Ada"), ptr("King")},
		{"名 字", ptr("名"), ptr("字")},
	} {
		first, last := splitName(c.in)
		require.Equal(t, c.first, first, "%q", c.in)
		require.Equal(t, c.last, last, "%q", c.in)
	}
}

// TestNamesProblem: each part of a pasted display name follows the name
// rule, counted in characters.
func TestNamesProblem(t *testing.T) {
	t.Parallel()
	at, over := strings.Repeat("名", 200), strings.Repeat("名", 201)
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Ada Lovelace", ""},
		{at, ""},
		{at + " " + at, ""},
		{over, "the first name is longer than 200 characters"},
		{"Ada " + over, "the last name is longer than 200 characters"},
		{over + ", Ada", "the last name is longer than 200 characters"},
		{"Lovelace, " + over, "the first name is longer than 200 characters"},
	} {
		require.Equal(t, c.want, namesProblem(c.in), "%.20q", c.in)
	}
}

// TestPersonName: a name given on acceptance is trimmed and held to the
// name rule, blaming the field.
func TestPersonName(t *testing.T) {
	t.Parallel()
	got, err := personName("firstName", "first name", "  Ada ")
	require.NoError(t, err)
	require.Equal(t, "Ada", got)
	got, err = personName("firstName", "first name", " "+strings.Repeat("名", 200)+" ")
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("名", 200), got)
	for _, c := range []struct{ in, want string }{
		{strings.Repeat("é", 201), "the last name is longer than 200 characters"},
		{"Ada\nLovelace", "the last name contains a line break"},
	} {
		_, err := personName("lastName", "last name", c.in)
		requireCode(t, err, apperr.BadUserInput, c.want)
		require.Equal(t, "lastName", err.(*apperr.Error).Field)
	}
}

// TestClip: junk echoed back is cut to n bytes on a character boundary.
func TestClip(t *testing.T) {
	t.Parallel()
	require.Equal(t, "abc", clip("abc", 3))
	require.Equal(t, "ab…", clip("abc", 2))
	require.Equal(t, "a…", clip("aé", 2), "not through a character")
}

// TestResetRequestClean: a reset request's address and slug are looked up
// trimmed and lower-cased; input no account can match is refused, any other
// address is taken.
func TestResetRequestClean(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		in          ResetRequest
		email, slug string
		field       string // refused on this field
	}{
		{"trimmed and lower-cased", ResetRequest{Organization: " Acme ", Email: " Ada@Example.COM "}, "ada@example.com", "acme", ""},
		{"no organisation", ResetRequest{Email: "ada@example.com"}, "ada@example.com", "", ""},
		{"not an address, taken all the same", ResetRequest{Email: "not an address"}, "not an address", "", ""},
		{"an address at the limit", ResetRequest{Email: strings.Repeat("a", emailaddr.MaxLength)}, strings.Repeat("a", emailaddr.MaxLength), "", ""},
		{"too long", ResetRequest{Email: strings.Repeat("a", emailaddr.MaxLength+1)}, "", "", "email"},
		{"NUL", ResetRequest{Email: "ada\x00@example.com"}, "", "", "email"},
		{"not a slug", ResetRequest{Organization: "acme corp", Email: "ada@example.com"}, "", "", "organization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			email, slug, err := c.in.clean()
			if c.field != "" {
				requireCode(t, err, apperr.BadUserInput, "")
				require.Equal(t, c.field, err.(*apperr.Error).Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.email, email)
			require.Equal(t, c.slug, slug)
		})
	}
}

// TestResetAction: a reset request sends the invited a fresh invitation,
// and an account reset instructions.
func TestResetAction(t *testing.T) {
	t.Parallel()
	require.Equal(t, delivery.ActionINVITATION, resetAction(user.StatusInvited))
	require.Equal(t, delivery.ActionPASSWORD_RESET, resetAction(user.StatusActive))
}

// TestResetConfigDefaults: a zero or negative setting takes its default.
func TestResetConfigDefaults(t *testing.T) {
	t.Parallel()
	d := DefaultResetConfig()
	require.Equal(t, d, ResetConfig{}.withDefaults())
	require.Equal(t, d, ResetConfig{Poll: -1, Lease: -1, Delay: -1}.withDefaults())
	set := ResetConfig{Poll: time.Second, Lease: 2 * time.Second, Delay: time.Millisecond}
	require.Equal(t, set, set.withDefaults())
}
