package people

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// requireCode checks err is the domain error code with want in its message
// (and on field, when given); an empty code means no error.
func requireCode(t *testing.T, err error, code apperr.Code, field, want string) {
	t.Helper()
	if code == "" {
		require.NoError(t, err)
		return
	}
	var e *apperr.Error
	require.True(t, errors.As(err, &e), "want %s, got %v", code, err)
	require.Equal(t, code, e.Code, e.Message)
	require.Contains(t, e.Message, want)
	if field != "" {
		require.Equal(t, field, e.Field)
	}
}

func ptr[T any](v T) *T { return &v }

// TestCheckRole: a role's name and permissions as given, and that nobody
// grants a permission they do not hold.
func TestCheckRole(t *testing.T) {
	t.Parallel()
	admin := &session{Viewer: &viewer.Viewer{Permissions: []perm.Permission{perm.PeopleRead, perm.PeopleInvite, perm.OrganizationManage}}}
	for _, c := range []struct {
		name  string
		in    RoleInput
		code  apperr.Code
		field string
		want  string // the message part, or the cleaned name when no code
		perms []string
	}{
		{"trimmed, permissions de-duplicated", RoleInput{Name: " Recruiter ", Permissions: []string{perm.PeopleInvite, perm.PeopleRead, perm.PeopleInvite}},
			"", "", "Recruiter", []string{perm.PeopleInvite, perm.PeopleRead}},
		{"no permissions", RoleInput{Name: "Guest"}, "", "", "Guest", []string{}},
		{"100 characters", RoleInput{Name: strings.Repeat("r", 100)}, "", "", strings.Repeat("r", 100), []string{}},
		{"empty", RoleInput{Name: "  "}, apperr.BadUserInput, "name", "a role name has 1 to 100 characters", nil},
		{"too long", RoleInput{Name: strings.Repeat("r", 101)}, apperr.BadUserInput, "name", "a role name has 1 to 100 characters", nil},
		{"a line break", RoleInput{Name: "Re\ncruiter"}, apperr.BadUserInput, "name", "the role name contains a line break", nil},
		{"an unknown permission", RoleInput{Name: "R", Permissions: []string{"people.read", "people.fly"}}, apperr.BadUserInput, "permissions", `unknown permission "people.fly"`, nil},
		{"a permission the viewer lacks", RoleInput{Name: "R", Permissions: []string{perm.PeopleRead, perm.CredentialsManage}},
			apperr.Forbidden, "", "you cannot grant credentials.manage: you do not hold it", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			name, perms, err := checkRole(admin, c.in)
			requireCode(t, err, c.code, c.field, c.want)
			if c.code == "" {
				require.Equal(t, c.want, name)
				require.Equal(t, c.perms, perms)
			}
		})
	}
}

// TestCheckRoleChange: built-in roles keep their names, and the Owner role
// every permission; other roles change freely.
func TestCheckRoleChange(t *testing.T) {
	t.Parallel()
	owner := &ent.Role{Name: perm.Owner, Builtin: true}
	member := &ent.Role{Name: perm.Member, Builtin: true}
	custom := &ent.Role{Name: "Recruiter"}
	all, fewer := perm.All(), perm.All()[1:]
	for _, c := range []struct {
		name  string
		r     *ent.Role
		to    string
		perms []string
		field string // refused on this field; "" when allowed
	}{
		{"a built-in role's permissions", member, perm.Member, []string{perm.PeopleRead}, ""},
		{"a built-in role renamed", member, "Members", nil, "name"},
		{"Owner keeps every permission", owner, perm.Owner, all, ""},
		{"Owner losing one", owner, perm.Owner, fewer, "permissions"},
		{"Owner renamed", owner, "Boss", all, "name"},
		{"a custom role renamed, with fewer permissions", custom, "Hiring", fewer, ""},
		{"a custom role named Owner has no Owner's rule", &ent.Role{Name: perm.Owner}, perm.Owner, nil, ""},
	} {
		err := checkRoleChange(c.r, c.to, c.perms)
		if c.field == "" {
			require.NoError(t, err, c.name)
			continue
		}
		requireCode(t, err, apperr.BadUserInput, c.field, "")
	}
}

// TestUpdatePermissions: editing a person needs people.manage; their
// username, credentials.manage too; changing the address of an active
// account, credentials.manage.
func TestUpdatePermissions(t *testing.T) {
	t.Parallel()
	require.Equal(t, []perm.Permission{perm.PeopleManage}, UpdateUserInput{FirstName: ptr("Ada"), Email: ptr("a@example.com")}.permissions())
	require.Equal(t, []perm.Permission{perm.PeopleManage, perm.CredentialsManage}, UpdateUserInput{Username: ptr("")}.permissions())

	manager := &viewer.Viewer{Permissions: []perm.Permission{perm.PeopleManage}}
	admin := &viewer.Viewer{Permissions: []perm.Permission{perm.PeopleManage, perm.CredentialsManage}}
	for _, st := range []user.Status{user.StatusNotInvited, user.StatusInvited, user.StatusActive, user.StatusDeactivated} {
		u := &ent.User{Status: st}
		require.NoError(t, checkAddressChange(admin, u), st)
		if st == user.StatusActive {
			requireCode(t, checkAddressChange(manager, u), apperr.Forbidden, "email", "permission credentials.manage required to change the address of an active account")
		} else {
			require.NoError(t, checkAddressChange(manager, u), st)
		}
	}
}

// TestOptionalName: a first or last name is trimmed, "" clears it, and the
// name rule holds, in characters.
func TestOptionalName(t *testing.T) {
	t.Parallel()
	v, err := optionalName("firstName", "   ")
	require.NoError(t, err)
	require.Nil(t, v)
	v, err = optionalName("firstName", " Ada ")
	require.NoError(t, err)
	require.Equal(t, "Ada", *v)
	v, err = optionalName("firstName", strings.Repeat("名", 200))
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("名", 200), *v)
	_, err = optionalName("lastName", strings.Repeat("a", 201))
	requireCode(t, err, apperr.BadUserInput, "lastName", "the name is longer than 200 characters")
	_, err = optionalName("lastName", "Ada\u2066")
	requireCode(t, err, apperr.BadUserInput, "lastName", "the name contains a bidirectional")
}

// TestReactivated: a deactivated person with an account gets it back; one
// without is as if never invited.
func TestReactivated(t *testing.T) {
	t.Parallel()
	require.Equal(t, user.StatusActive, reactivated(&ent.User{Status: user.StatusDeactivated, PasswordHash: ptr("h")}))
	require.Equal(t, user.StatusNotInvited, reactivated(&ent.User{Status: user.StatusDeactivated}))
}

// TestPseudonym: an erased person's stand-in is stable, distinct per
// person, and tells nothing about them.
func TestPseudonym(t *testing.T) {
	t.Parallel()
	require.Equal(t, Pseudonym(7), Pseudonym(7))
	require.NotEqual(t, Pseudonym(7), Pseudonym(8))
	require.Regexp(t, `^erased-person-[0-9a-f]{12}$`, Pseudonym(7))
}
