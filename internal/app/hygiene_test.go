package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/testkit"
)

// hostileChars are characters the red team pasted into names and addresses:
// each must be refused wherever a name or an address is stored.
var hostileChars = []struct{ name, char, code string }{
	{"ESC", "\x1b", "U+001B"},
	{"BEL", "\a", "U+0007"},
	{"DEL", "\x7f", "U+007F"},
	{"NUL", "\x00", "U+0000"},
	{"RLO", "\u202E", "U+202E"},
	{"ZWSP", "\u200B", "U+200B"},
}

// hygieneState is everything the refused operations could have changed, as
// a client reads it back.
const hygieneState = `{
  users(first: 100, orderBy: {field: EMAIL, direction: ASC}) { totalCount edges { node { email firstName lastName status } } }
  roles { name permissions }
  organization { name emailFromName products replyTo }
}`

func readHygieneState(t *testing.T, a *admin) string {
	t.Helper()
	resp := a.s.Query(t, a.tok, hygieneState, nil)
	require.Empty(t, resp.Errors)
	return string(resp.Data)
}

// requireRefused checks resp is BAD_USER_INPUT on field, naming the code point.
func requireRefused(t *testing.T, resp *testkit.Response, field, code string) {
	t.Helper()
	require.Len(t, resp.Errors, 1, "%+v", resp.Errors)
	require.Equal(t, "BAD_USER_INPUT", resp.Code(), resp.Errors[0].Message)
	require.Equal(t, field, resp.Errors[0].Extensions["field"], resp.Errors[0].Message)
	require.Contains(t, resp.Errors[0].Message, code)
}

const (
	updateUserMutation = `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id firstName lastName email } }`
	createRoleMutation = `mutation($in: RoleInput!) { createRole(input: $in) { id name } }`
	updateRoleMutation = `mutation($id: ID!, $in: RoleInput!) { updateRole(id: $id, input: $in) { id name } }`
	updateOrgMutation  = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { name emailFromName products } }`
)

func TestHostileTextIsRefused(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	ada := fmt.Sprint(s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace"})[0].ID)
	var role struct{ CreateRole struct{ ID string } }
	s.Query(t, a.tok, createRoleMutation, map[string]any{"in": map[string]any{"name": "Auditors", "permissions": []string{"people.read"}}}).Decode(t, &role)
	s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{"emailFromName": "Acme People", "products": []string{"crm"}}}).Decode(t, &struct{}{})
	_, resp := a.invite(t, a.tok, []string{"grace@example.com"}, "Member", true)
	require.Empty(t, resp.Errors)
	link := s.LastEmailTo(t, "grace@example.com").Token()
	before := readHygieneState(t, a)

	for _, h := range hostileChars {
		t.Run(h.name, func(t *testing.T) {
			// A pasted list reports bad entries in rejected, as it does for
			// any invalid entry, and shows the character as its code point.
			out, resp := a.invite(t, a.tok, []string{"Eve" + h.char + " <eve@example.com>", "mallory" + h.char + "@example.com\nok" + h.char + "@example.com"}, "Member", true)
			if h.char == "\x00" {
				// NUL is refused in every argument, before any service
				// sees the request.
				require.Equal(t, "BAD_USER_INPUT", resp.Code())
				require.Equal(t, "emails", resp.Errors[0].Extensions["field"])
			} else {
				require.Empty(t, resp.Errors)
				require.Empty(t, out.InviteUsers.Users)
				require.Nil(t, out.InviteUsers.BulkSend)
				require.Len(t, out.InviteUsers.Rejected, 3)
				for _, r := range out.InviteUsers.Rejected {
					require.Contains(t, r.Reason, h.code)
					require.NotContains(t, r.Email, h.char)
					require.Contains(t, r.Email, "<"+h.code+">")
				}
				require.Contains(t, out.InviteUsers.Rejected[0].Reason, "display name")
				require.Contains(t, out.InviteUsers.Rejected[1].Reason, "email address")
			}

			for field, value := range map[string]string{
				"firstName": "Ada" + h.char,
				"lastName":  h.char + "Lovelace",
				"email":     "ada" + h.char + "@example.com",
			} {
				// With a good change beside it, which must not happen either.
				other := "firstName"
				if field == "firstName" {
					other = "lastName"
				}
				resp := s.Query(t, a.tok, updateUserMutation, map[string]any{"id": ada, "in": map[string]any{other: "Changed", field: value}})
				requireRefused(t, resp, field, h.code)
			}

			requireRefused(t, s.Query(t, a.tok, createRoleMutation, map[string]any{"in": map[string]any{"name": "Aud" + h.char + "itors2", "permissions": []string{}}}), "name", h.code)
			requireRefused(t, s.Query(t, a.tok, updateRoleMutation, map[string]any{"id": role.CreateRole.ID, "in": map[string]any{"name": "Auditors" + h.char, "permissions": []string{}}}), "name", h.code)

			for field, value := range map[string]any{
				"name":          "Acme" + h.char,
				"emailFromName": h.char + "Acme",
				"products":      []string{"crm", "wiki" + h.char},
				"replyTo":       "hr" + h.char + "@acme.test",
			} {
				requireRefused(t, s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{field: value, "invitationTTLSeconds": 60}}), field, h.code)
			}

			for field, value := range map[string]string{"firstName": "Grace" + h.char, "lastName": "Hop" + h.char + "per"} {
				resp := s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{"token": link, "password": "grace-password-1", field: value}})
				requireRefused(t, resp, field, h.code)
			}

			csv := "email,first name,last name,role\n" +
				"csv1@example.com,Eve" + h.char + ",,\n" +
				"csv2@example.com,,Mal" + h.char + "lory,\n" +
				"csv3" + h.char + "@example.com,,,\n"
			if h.char != "\x00" { // a NUL makes the whole file binary, refused as such
				imp, resp := a.importCSV(t, a.tok, csv, nil)
				require.Empty(t, resp.Errors)
				require.Zero(t, imp.ImportUsers.Created)
				require.Equal(t, 3, imp.ImportUsers.Rejected)
				for i, e := range imp.ImportUsers.Errors {
					require.Equal(t, i+2, e.Line)
					require.Contains(t, e.Message, h.code)
					require.NotContains(t, e.Email, h.char)
				}
			}

			require.Equal(t, before, readHygieneState(t, a), "nothing changed")
		})
	}

	resp = s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{"token": link, "password": "grace-password-1", "lastName": strings.Repeat("é", 201)}})
	requireRefused(t, resp, "lastName", "200 characters")

	// Nothing spent the link: Grace can still accept it.
	resp = s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{"token": link, "password": "grace-password-1", "firstName": "Grace"}})
	require.Empty(t, resp.Errors)
}

// TestLineBreaksStayOutOfEmailHeaders is the red team's case: an
// organisation name with CR/LF made every email fail. Names that end up in
// headers (the organisation's, the sender name, people's names) refuse line
// breaks, so emails keep going out.
func TestLineBreaksStayOutOfEmailHeaders(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	for _, brk := range []string{"\r\n", "\n", "\r", "\u0085", "\u2028"} {
		requireRefused(t, s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{"name": "Acme" + brk + "Bcc: victim@example.com"}}), "name", "")
		requireRefused(t, s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{"emailFromName": "Acme" + brk + "Bcc: victim@example.com"}}), "emailFromName", "")
		requireRefused(t, s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{"replyTo": "hr@acme.test" + brk + "Bcc: victim@example.com"}}), "replyTo", "")
	}
	// CR and LF separate entries in a pasted list; the other line breaks
	// are refused inside a name.
	out, resp := a.invite(t, a.tok, []string{"\"Ada\u2028Bcc: victim@example.com\" <ada@example.com>, Bob\u0085Bcc: victim@example.com <bob@example.com>"}, "Member", true)
	require.Empty(t, resp.Errors)
	require.Empty(t, out.InviteUsers.Users)
	require.Len(t, out.InviteUsers.Rejected, 2)

	_, _ = a.invite(t, a.tok, []string{"carol@example.com"}, "Member", true)
	mail := s.LastEmailTo(t, "carol@example.com")
	require.Contains(t, mail.Header.Get("From"), "acme")
	require.Empty(t, s.EmailsTo(t, "victim@example.com"))
}

// TestNamesInEveryScript checks the rule keeps what names need: letters of
// every script, spaces, and the joiners (ZWNJ, ZWJ) Persian and Indic
// scripts spell with.
func TestNamesInEveryScript(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	persian, hindi := "علی\u200Cرضا", "क्\u200Dष"
	out, resp := a.invite(t, a.tok, []string{persian + " کریمی <ali@example.com>; Zoë José <zoe@example.com>"}, "Member", false)
	require.Empty(t, resp.Errors)
	require.Empty(t, out.InviteUsers.Rejected)
	require.Len(t, out.InviteUsers.Users, 2)
	require.Equal(t, persian, *out.InviteUsers.Users[0].FirstName)
	require.Equal(t, "Zoë", *out.InviteUsers.Users[1].FirstName)

	var u struct {
		UpdateUser struct{ FirstName, LastName string }
	}
	s.Query(t, a.tok, updateUserMutation, map[string]any{"id": out.InviteUsers.Users[1].ID, "in": map[string]any{"firstName": hindi, "lastName": "山田\u3000太郎"}}).Decode(t, &u)
	require.Equal(t, hindi, u.UpdateUser.FirstName)
	require.Equal(t, "山田\u3000太郎", u.UpdateUser.LastName)

	var r struct{ CreateRole struct{ Name string } }
	s.Query(t, a.tok, createRoleMutation, map[string]any{"in": map[string]any{"name": "Team 👩\u200D💻", "permissions": []string{}}}).Decode(t, &r)
	require.Equal(t, "Team 👩\u200D💻", r.CreateRole.Name)
	var o struct{ UpdateOrganization struct{ Name string } }
	s.Query(t, a.tok, updateOrgMutation, map[string]any{"in": map[string]any{"name": "شرکت " + persian}}).Decode(t, &o)
	require.Equal(t, "شرکت "+persian, o.UpdateOrganization.Name)

	// A joiner is not allowed in an address, where it only hides.
	out, resp = a.invite(t, a.tok, []string{"a\u200Cli@example.com"}, "Member", false)
	require.Empty(t, resp.Errors)
	require.Empty(t, out.InviteUsers.Users)
	require.Equal(t, "email address contains an invisible character (U+200C)", out.InviteUsers.Rejected[0].Reason)
	require.Equal(t, "a<U+200C>li@example.com", out.InviteUsers.Rejected[0].Email)
	require.False(t, strings.ContainsRune(out.InviteUsers.Rejected[0].Email, 0x200C))
}
