package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// TestNameRuleThroughEveryDoor: a first name is held to one rule, counted in
// characters, whichever way it comes in: pasted into inviteUsers, typed into
// updateUser, given when accepting, or imported from a file. A name of 100
// or 200 characters of three bytes each is kept as given; one of 201 is
// refused, naming the rule, and changes nothing.
func TestNameRuleThroughEveryDoor(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	names := map[string]string{
		"100": strings.Repeat("名", 100), // 300 bytes
		"200": strings.Repeat("ß", 100) + strings.Repeat("名", 100),
		"201": strings.Repeat("名", 201),
	}
	const refusal = "200 characters"
	stored := func(t *testing.T, email string) *string {
		t.Helper()
		u, err := s.DB.Client.User.Query().Where(user.EmailNormalized(email)).Only(testkit.System())
		require.NoError(t, err)
		return u.FirstName
	}
	for _, n := range []string{"100", "200", "201"} {
		name := names[n]
		ok := n != "201"
		t.Run("inviteUsers "+n, func(t *testing.T) {
			email := "invite" + n + "@example.com"
			res, resp := a.invite(t, a.tok, []string{name + " <" + email + ">"}, "Member", false)
			require.Empty(t, resp.Errors)
			if ok {
				require.Empty(t, res.InviteUsers.Rejected)
				require.Len(t, res.InviteUsers.Users, 1)
				require.Equal(t, name, *res.InviteUsers.Users[0].FirstName)
				require.Equal(t, name, *stored(t, email))
				return
			}
			require.Empty(t, res.InviteUsers.Users)
			require.Len(t, res.InviteUsers.Rejected, 1)
			require.Contains(t, res.InviteUsers.Rejected[0].Reason, refusal)
			require.False(t, s.DB.Client.User.Query().Where(user.EmailNormalized(email)).ExistX(testkit.System()))
		})
		t.Run("updateUser "+n, func(t *testing.T) {
			email := "update" + n + "@example.com"
			p := s.AddPeople(t, a.org, testkit.Person{Email: email, FirstName: "Before"})[0]
			resp := s.Query(t, a.tok, `mutation($id: ID!, $n: String!) { updateUser(id: $id, input: {firstName: $n}) { firstName } }`,
				map[string]any{"id": fmt.Sprint(p.ID), "n": name})
			if ok {
				var out struct{ UpdateUser struct{ FirstName string } }
				resp.Decode(t, &out)
				require.Equal(t, name, out.UpdateUser.FirstName)
				require.Equal(t, name, *stored(t, email))
				return
			}
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
			require.Contains(t, resp.Errors[0].Message, refusal)
			require.Equal(t, "Before", *stored(t, email))
		})
		t.Run("acceptInvitation "+n, func(t *testing.T) {
			email := "accept" + n + "@example.com"
			a.invite(t, a.tok, []string{email}, "Member", true)
			s.WaitDeliveries(t)
			resp := s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{
				"token": s.LastEmailTo(t, email).Token(), "password": "a-chosen-password-" + n, "firstName": name}})
			if ok {
				var out struct {
					AcceptInvitation struct{ User struct{ FirstName string } }
				}
				resp.Decode(t, &out)
				require.Equal(t, name, out.AcceptInvitation.User.FirstName)
				require.Equal(t, name, *stored(t, email))
				return
			}
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
			require.Contains(t, resp.Errors[0].Message, refusal)
			require.Nil(t, stored(t, email))
		})
		t.Run("importUsers "+n, func(t *testing.T) {
			email := "import" + n + "@example.com"
			res, resp := a.importCSV(t, a.tok, "email,first name\n"+email+","+name+"\n", nil)
			require.Empty(t, resp.Errors)
			if ok {
				require.Equal(t, 1, res.ImportUsers.Created, "%+v", res.ImportUsers.Errors)
				require.Equal(t, name, *stored(t, email))
				return
			}
			require.Equal(t, 1, res.ImportUsers.Rejected)
			require.Contains(t, res.ImportUsers.Errors[0].Message, refusal)
			require.False(t, s.DB.Client.User.Query().Where(user.EmailNormalized(email)).ExistX(testkit.System()))
		})
	}
}
