package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

func TestTemporaryPassword(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	res, _ := a.invite(t, a.tok, []string{"bounced@example.com"}, "HR", true)
	id := res.InviteUsers.Users[0].ID
	oldLink := s.LastEmailTo(t, "bounced@example.com").Token()

	var out struct {
		SetTemporaryPassword struct {
			Status             string
			MustChangePassword bool
		}
	}
	s.Query(t, a.tok, `mutation($id: ID!, $pw: String!) { setTemporaryPassword(userId: $id, password: $pw) { status mustChangePassword } }`,
		map[string]any{"id": id, "pw": "Temporary-Pass-42"}).Decode(t, &out)
	require.Equal(t, "ACTIVE", out.SetTemporaryPassword.Status)
	require.True(t, out.SetTemporaryPassword.MustChangePassword)
	require.Equal(t, "INVALID_TOKEN", accept(s, t, oldLink, "another-password-1").Code(), "the invitation link died")

	var login struct {
		Login struct {
			Token string
			User  struct{ MustChangePassword bool }
		}
	}
	s.Query(t, "", `mutation { login(input: {login: "bounced@example.com", password: "Temporary-Pass-42"}) { token user { mustChangePassword } } }`, nil).Decode(t, &login)
	require.True(t, login.Login.User.MustChangePassword, "the login says so")
	tok := login.Login.Token

	resp := s.Query(t, tok, `{ users { totalCount } }`, nil)
	require.Equal(t, "FORBIDDEN", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "changePassword")
	var v struct{ Viewer struct{ Email string } }
	s.Query(t, tok, `{ viewer { email } }`, nil).Decode(t, &v)

	change := func(current, next string) *testkit.Response {
		return s.Query(t, tok, `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
			map[string]any{"in": map[string]any{"currentPassword": current, "newPassword": next}})
	}
	wrong := change("not-the-current-one", "My-Own-Password-7")
	require.Equal(t, "BAD_USER_INPUT", wrong.Code())
	require.Equal(t, "currentPassword", wrong.Errors[0].Extensions["field"])
	weak := change("Temporary-Pass-42", "qwertyuiop")
	require.Equal(t, "newPassword", weak.Errors[0].Extensions["field"])
	require.Empty(t, change("Temporary-Pass-42", "My-Own-Password-7").Errors)
	var page struct{ Users struct{ TotalCount int } }
	s.Query(t, tok, `{ users { totalCount } }`, nil).Decode(t, &page)
	require.Equal(t, 2, page.Users.TotalCount)
	s.Login(t, "acme", "bounced@example.com", "My-Own-Password-7")
}

func TestDeactivateAndReactivate(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	people := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-password-1"})
	id := fmt.Sprint(people[0].ID)
	tok := s.Login(t, "acme", "ada@example.com", "ada-password-1")

	var out struct{ DeactivateUser struct{ Status string } }
	s.Query(t, a.tok, `mutation($id: ID!) { deactivateUser(id: $id) { status } }`, map[string]any{"id": id}).Decode(t, &out)
	require.Equal(t, "DEACTIVATED", out.DeactivateUser.Status)
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, tok, `{ viewer { email } }`, nil).Code(), "sessions end")
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"login": "ada@example.com", "password": "ada-password-1"}}).Code())
	require.Equal(t, "CONFLICT", s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": id}).Code())

	var back struct{ ReactivateUser struct{ Status string } }
	s.Query(t, a.tok, `mutation($id: ID!) { reactivateUser(id: $id) { status } }`, map[string]any{"id": id}).Decode(t, &back)
	require.Equal(t, "ACTIVE", back.ReactivateUser.Status)
	s.Login(t, "acme", "ada@example.com", "ada-password-1")

	resp := s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": id})
	require.Equal(t, "CONFLICT", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "password reset")
}

func TestInvitationLinkAndRevoke(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	res, _ := a.invite(t, a.tok, []string{"nomail@example.com"}, "Member", false)
	u := res.InviteUsers.Users[0]
	require.Equal(t, "NOT_INVITED", u.Status)
	require.Empty(t, s.Outbox(t), "sendEmail: false creates people only")

	var link struct{ CreateInvitationLink struct{ URL string } }
	s.Query(t, a.tok, `mutation($id: ID!) { createInvitationLink(userId: $id) { url expiresAt } }`, map[string]any{"id": u.ID}).Decode(t, &link)
	require.True(t, strings.HasPrefix(link.CreateInvitationLink.URL, s.URL+"/invite/accept?token="))
	require.Empty(t, s.Outbox(t), "no email for a copied link")

	var revoked struct{ RevokeInvitation struct{ Status string } }
	s.Query(t, a.tok, `mutation($id: ID!) { revokeInvitation(userId: $id) { status } }`, map[string]any{"id": u.ID}).Decode(t, &revoked)
	require.Equal(t, "NOT_INVITED", revoked.RevokeInvitation.Status)
	_, tok, _ := strings.Cut(link.CreateInvitationLink.URL, "token=")
	require.Equal(t, "INVALID_TOKEN", accept(s, t, tok, "nomail-password-1").Code())

	// A second link works and the person can accept it.
	s.Query(t, a.tok, `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`, map[string]any{"id": u.ID}).Decode(t, &link)
	_, tok, _ = strings.Cut(link.CreateInvitationLink.URL, "token=")
	require.Empty(t, accept(s, t, tok, "nomail-password-1").Errors)

	// Inviting a NOT_INVITED address invites that person; a member's is rejected.
	again, _ := a.invite(t, a.tok, []string{"nomail@example.com"}, "Member", true)
	require.Empty(t, again.InviteUsers.Users)
	require.Equal(t, "already a member of the organisation", again.InviteUsers.Rejected[0].Reason)
	res, _ = a.invite(t, a.tok, []string{"later@example.com"}, "Member", false)
	res, _ = a.invite(t, a.tok, []string{"later@example.com"}, "Member", true)
	require.Len(t, res.InviteUsers.Users, 1)
	require.NotNil(t, res.InviteUsers.BulkSend)
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "later@example.com"), 1)
}

func TestUpdateUserAddressKillsLinks(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	res, _ := a.invite(t, a.tok, []string{"typo@exmaple.com"}, "Member", true)
	u := res.InviteUsers.Users[0]
	old := s.LastEmailTo(t, "typo@exmaple.com").Token()
	var out struct {
		UpdateUser struct {
			Email           string
			Status          string
			LastEmailStatus *string
		}
	}
	s.Query(t, a.tok, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { email status lastEmailStatus } }`,
		map[string]any{"id": u.ID, "in": map[string]any{"email": "fixed@example.com", "firstName": "Fix"}}).Decode(t, &out)
	require.Equal(t, "fixed@example.com", out.UpdateUser.Email)
	require.Nil(t, out.UpdateUser.LastEmailStatus)
	require.Equal(t, "INVALID_TOKEN", accept(s, t, old, "fixed-password-1").Code())
	var page userPage
	s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"inviteExpired": true}}).Decode(t, &page)
	require.Equal(t, []string{"fixed@example.com"}, page.emails(), "shown as expired until resent")

	taken := s.Query(t, a.tok, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { email } }`,
		map[string]any{"id": u.ID, "in": map[string]any{"email": "OWNER@acme.test"}})
	require.Equal(t, "CONFLICT", taken.Code())
	require.Equal(t, "email", taken.Errors[0].Extensions["field"])
	bad := s.Query(t, a.tok, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { email } }`,
		map[string]any{"id": u.ID, "in": map[string]any{"email": "not an address", "products": []string{"nope"}}})
	require.Equal(t, "BAD_USER_INPUT", bad.Code())
}

func TestTemplatesAndPreview(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	update := func(role any, subject, html, text string) *testkit.Response {
		return s.Query(t, a.tok, `mutation($in: UpdateEmailTemplateInput!) { updateEmailTemplate(input: $in) { id kind role { name } subject } }`,
			map[string]any{"in": map[string]any{"kind": "INVITATION", "roleId": role, "subject": subject, "html": html, "text": text}})
	}
	require.Empty(t, update(nil, "Join {{.OrganizationName}}", "<p>Org-wide {{.ActionURL}}</p>", "Org-wide {{.ActionURL}}").Errors)
	require.Empty(t, update(a.roleID("HR"), "HR: join {{.OrganizationName}}", "<p>For HR, {{.FirstName}}: {{.ActionURL}}</p>", "For HR, {{.FirstName}}: {{.ActionURL}}").Errors)

	bad := update(nil, "ok", "<p>{{.Password}}</p>", "x")
	require.Equal(t, "BAD_USER_INPUT", bad.Code())
	require.Equal(t, "html", bad.Errors[0].Extensions["field"])
	broken := update(nil, "{{.FirstName", "<p>x</p>", "x")
	require.Equal(t, "subject", broken.Errors[0].Extensions["field"])

	a.invite(t, a.tok, []string{"Hera <hera@example.com>"}, "HR", true)
	a.invite(t, a.tok, []string{"mo@example.com"}, "Member", true)
	hr, member := s.LastEmailTo(t, "hera@example.com"), s.LastEmailTo(t, "mo@example.com")
	require.Equal(t, "HR: join acme", hr.Subject, "the role's version wins")
	require.Contains(t, hr.Text, "For HR, Hera:")
	require.Equal(t, "Join acme", member.Subject, "the kind's version for other roles")

	var list struct{ EmailTemplates []struct{ Kind string } }
	s.Query(t, a.tok, `{ emailTemplates { kind role { name } } }`, nil).Decode(t, &list)
	require.Len(t, list.EmailTemplates, 2)

	// Preview for a sample person of a role, and for a real person, whose
	// data is escaped in HTML.
	var preview struct {
		PreviewEmail struct{ To, Subject, HTML, Text string }
	}
	s.Query(t, a.tok, `query($r: ID) { previewEmail(kind: INVITATION, roleId: $r) { to subject html text } }`, map[string]any{"r": a.roleID("HR")}).Decode(t, &preview)
	require.Equal(t, "HR: join acme", preview.PreviewEmail.Subject)
	require.Contains(t, preview.PreviewEmail.Text, "For HR, Alex:")
	evil := s.AddPeople(t, a.org, testkit.Person{Email: "x@example.com", FirstName: "<script>alert(1)</script>", Role: "HR"})
	s.Query(t, a.tok, `query($u: ID) { previewEmail(kind: INVITATION, userId: $u) { to subject html text } }`, map[string]any{"u": evil[0].ID}).Decode(t, &preview)
	require.Equal(t, "x@example.com", preview.PreviewEmail.To)
	require.NotContains(t, preview.PreviewEmail.HTML, "<script>")
	require.Contains(t, preview.PreviewEmail.HTML, "&lt;script&gt;")
	require.Contains(t, preview.PreviewEmail.Text, "<script>alert(1)</script>")
	for _, kind := range []string{"PASSWORD_RESET", "TEMPORARY_PASSWORD"} {
		resp := s.Query(t, a.tok, `query($k: EmailKind!) { previewEmail(kind: $k) { subject text } }`, map[string]any{"k": kind})
		require.Empty(t, resp.Errors, kind)
	}
	var defaults struct {
		DefaultEmailTemplates []struct {
			Kind      string
			Variables []struct{ Name string }
		}
	}
	s.Query(t, a.tok, `{ defaultEmailTemplates { kind subject variables { name } } }`, nil).Decode(t, &defaults)
	require.Len(t, defaults.DefaultEmailTemplates, 5) // REMINDER too
	require.NotEmpty(t, defaults.DefaultEmailTemplates[0].Variables)
}
