package app_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// admin is a signed-in Owner of organisation acme.
type admin struct {
	s   *testkit.Server
	org *testkit.Org
	tok string
}

func newAdmin(t *testing.T) *admin {
	t.Helper()
	return signIn(t, testkit.NewServer(t), "acme")
}

// signIn creates organisation slug with its Owner signed in.
func signIn(t *testing.T, s *testkit.Server, slug string) *admin {
	t.Helper()
	o := s.CreateOrg(t, slug)
	return &admin{s: s, org: o, tok: s.Login(t, slug, "owner@"+slug+".test", testkit.OwnerPassword)}
}

func (a *admin) roleID(name string) string { return fmt.Sprint(a.org.Roles[name].ID) }

const inviteMutation = `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) {
  users { id email firstName lastName status invitedAt inviteExpiresAt invitationCount lastEmailStatus role { name } }
  rejected { email reason suggestion } bulkSend { id } } }`

type invitePayload struct {
	InviteUsers struct {
		Users []struct {
			ID, Email, Status, LastEmailStatus string
			FirstName, LastName                *string
			InvitedAt, InviteExpiresAt         *time.Time
			InvitationCount                    int
			Role                               struct{ Name string }
		}
		Rejected []struct {
			Email, Reason string
			Suggestion    *string
		}
		BulkSend *struct{ ID string }
	}
}

func (a *admin) invite(t *testing.T, tok string, emails []string, role string, send bool) (invitePayload, *testkit.Response) {
	t.Helper()
	resp := a.s.Query(t, tok, inviteMutation, map[string]any{"in": map[string]any{"emails": emails, "roleId": a.roleID(role), "sendEmail": send}})
	var out invitePayload
	if len(resp.Errors) == 0 {
		resp.Decode(t, &out)
	}
	return out, resp
}

const acceptMutation = `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { token user { email status username firstName acceptedAt } } }`

func accept(s *testkit.Server, t *testing.T, token, password string) *testkit.Response {
	return s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{"token": token, "password": password}})
}

func TestInvitationJourney(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s

	res, _ := a.invite(t, a.tok, []string{"Ada Lovelace <ada@example.com>, bob@example.com;\tbad@@example.com\ncarol@gmial.com, BOB@example.com"}, "HR", true)
	users, rejected := res.InviteUsers.Users, res.InviteUsers.Rejected
	require.Len(t, users, 2)
	require.Equal(t, "ada@example.com", users[0].Email)
	require.Equal(t, "Ada", *users[0].FirstName)
	require.Equal(t, "Lovelace", *users[0].LastName)
	// The answer comes before the emails: the people become INVITED as
	// the bulk send delivers theirs.
	require.NotNil(t, res.InviteUsers.BulkSend)
	s.WaitDeliveries(t)
	for _, u := range users {
		require.Equal(t, "NOT_INVITED", u.Status)
		require.Equal(t, "HR", u.Role.Name)
		stored, err := s.DB.Client.User.Query().Where(user.EmailNormalized(u.Email)).Only(testkit.System())
		require.NoError(t, err)
		require.Equal(t, user.StatusInvited, stored.Status)
		require.Equal(t, 1, stored.InvitationCount)
		require.True(t, stored.InviteExpiresAt.Equal(testkit.Epoch.Add(7*24*time.Hour)))
	}
	require.Len(t, rejected, 2)
	require.Equal(t, "bad@@example.com", rejected[0].Email)
	require.Equal(t, "carol@gmial.com", rejected[1].Email)
	require.Equal(t, "carol@gmail.com", *rejected[1].Suggestion)

	// The email: one per recipient, a personal link to this server.
	mail := s.LastEmailTo(t, "ada@example.com")
	require.Len(t, s.Outbox(t), 2)
	require.Contains(t, mail.Subject, "acme")
	require.Contains(t, mail.Text, "Hi Ada")
	require.Equal(t, "rollcall@example.net", mail.From)
	tok := mail.Token()
	require.NotEmpty(t, tok)
	require.Contains(t, mail.Links()[0], s.URL+"/invite/accept?token=")
	require.Contains(t, mail.HTML, tok)
	require.NotEqual(t, tok, s.LastEmailTo(t, "bob@example.com").Token())
	var page userPage
	s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"lastEmailStatus": "SENT"}}).Decode(t, &page)
	require.Equal(t, 2, page.Users.TotalCount)

	// Opening the link spends nothing.
	for range 3 {
		var info struct {
			Invitation struct {
				Email, OrganizationName string
				FirstName               *string
				ExpiresAt               time.Time
			}
		}
		s.Query(t, "", `query($t: String!) { invitation(token: $t) { email firstName organizationName expiresAt } }`, map[string]any{"t": tok}).Decode(t, &info)
		require.Equal(t, "ada@example.com", info.Invitation.Email)
		require.Equal(t, "Ada", *info.Invitation.FirstName)
		require.Equal(t, "acme", info.Invitation.OrganizationName)
	}

	// Accept, then sign in with the new password.
	resp := s.Query(t, "", acceptMutation, map[string]any{"in": map[string]any{"token": tok, "password": "ada-chose-this-1", "username": "ada", "firstName": "Augusta Ada"}})
	var accepted struct {
		AcceptInvitation struct {
			Token string
			User  struct {
				Email, Status, Username, FirstName string
				AcceptedAt                         *time.Time
			}
		}
	}
	resp.Decode(t, &accepted)
	require.Equal(t, "ACTIVE", accepted.AcceptInvitation.User.Status)
	require.Equal(t, "ada", accepted.AcceptInvitation.User.Username)
	require.Equal(t, "Augusta Ada", accepted.AcceptInvitation.User.FirstName)
	require.NotNil(t, accepted.AcceptInvitation.User.AcceptedAt)
	var v struct{ Viewer struct{ Email string } }
	s.Query(t, accepted.AcceptInvitation.Token, `{ viewer { email } }`, nil).Decode(t, &v)
	require.Equal(t, "ada@example.com", v.Viewer.Email)
	s.Login(t, "acme", "ada", "ada-chose-this-1")

	// The link is single use, and the info query now refuses it too.
	require.Equal(t, "INVALID_TOKEN", accept(s, t, tok, "another-password-1").Code())
	require.Equal(t, "INVALID_TOKEN", s.Query(t, "", `query($t: String!) { invitation(token: $t) { email } }`, map[string]any{"t": tok}).Code())

	// Every step is in the audit log.
	var log struct {
		AuditEvents struct {
			Edges []struct {
				Node struct{ Action, TargetLabel, ActorLabel string }
			}
		}
	}
	s.Query(t, a.tok, `{ auditEvents(first: 50) { edges { node { action targetLabel actorLabel } } } }`, nil).Decode(t, &log)
	var actions []string
	for _, e := range log.AuditEvents.Edges {
		actions = append(actions, e.Node.Action+" "+e.Node.TargetLabel)
	}
	require.Contains(t, actions, "user.invited ada@example.com")
	require.Contains(t, actions, "invitation.accepted ada@example.com")
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	res, _ := a.invite(t, a.tok, []string{"bob@example.com", "dan@example.com", "eve@example.com"}, "Member", true)
	bob := res.InviteUsers.Users[0]

	t.Run("resend kills the older link at once", func(t *testing.T) {
		old := s.LastEmailTo(t, "bob@example.com").Token()
		var out struct{ ResendInvitation struct{ InvitationCount int } }
		s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { invitationCount } }`, map[string]any{"id": bob.ID}).Decode(t, &out)
		require.Equal(t, 2, out.ResendInvitation.InvitationCount)
		fresh := s.LastEmailTo(t, "bob@example.com").Token()
		require.NotEqual(t, old, fresh)
		require.Equal(t, "INVALID_TOKEN", accept(s, t, old, "bob-password-123").Code())
		require.Empty(t, accept(s, t, fresh, "bob-password-123").Errors)
	})

	t.Run("expired", func(t *testing.T) {
		tok := s.LastEmailTo(t, "dan@example.com").Token()
		s.Clock.Advance(7*24*time.Hour + time.Second)
		a.tok = s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword) // the old session idled out
		require.Equal(t, "TOKEN_EXPIRED", accept(s, t, tok, "dan-password-123").Code())
		var page userPage
		s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"inviteExpired": true}}).Decode(t, &page)
		require.Equal(t, []string{"dan@example.com", "eve@example.com"}, sorted(page.emails()))
	})

	t.Run("junk tokens", func(t *testing.T) {
		for _, junk := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 5000)} {
			require.Equal(t, "INVALID_TOKEN", accept(s, t, junk, "whatever-password-1").Code())
		}
	})

	t.Run("concurrent accepts: exactly one wins", func(t *testing.T) {
		var out struct{ ResendInvitation struct{ ID string } }
		s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": res.InviteUsers.Users[2].ID}).Decode(t, &out)
		tok := s.LastEmailTo(t, "eve@example.com").Token()
		var wg sync.WaitGroup
		codes := make(chan string, 8)
		for range 8 {
			wg.Go(func() { codes <- accept(s, t, tok, "eve-password-123").Code() })
		}
		wg.Wait()
		close(codes)
		wins := 0
		for c := range codes {
			if c == "" {
				wins++
			} else {
				require.Equal(t, "INVALID_TOKEN", c)
			}
		}
		require.Equal(t, 1, wins)
		n, err := s.DB.Client.Session.Query().Count(testkit.System())
		require.NoError(t, err)
		require.Equal(t, 4, n, "the admin's two, bob's, and one from eve's accepts")
	})

	t.Run("tokens are stored hashed", func(t *testing.T) {
		invs, err := s.DB.Client.Invitation.Query().Where(invitation.KindEQ(invitation.KindINVITATION)).All(testkit.System())
		require.NoError(t, err)
		for _, e := range s.Outbox(t) {
			for _, inv := range invs {
				require.NotContains(t, string(inv.TokenHash), e.Token())
			}
		}
	})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"})
	a.invite(t, a.tok, []string{"bob@example.com"}, "Member", true)
	request := func(email string) *testkit.Response {
		return s.Query(t, "", `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) }`,
			map[string]any{"in": map[string]any{"organization": "acme", "email": email}})
	}

	t.Run("an active person gets reset instructions", func(t *testing.T) {
		old := s.Login(t, "acme", "ada@example.com", "ada-old-password")
		var out struct{ RequestPasswordReset bool }
		request("ADA@example.com").Decode(t, &out)
		require.True(t, out.RequestPasswordReset)
		mail := s.LastEmailTo(t, "ada@example.com")
		require.Contains(t, mail.Links()[0], "/password/reset?token=")
		resp := s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token user { email } } }`,
			map[string]any{"in": map[string]any{"token": mail.Token(), "password": "ada-new-password"}})
		require.Empty(t, resp.Errors)
		s.Login(t, "acme", "ada@example.com", "ada-new-password")
		require.Equal(t, "UNAUTHENTICATED", s.Query(t, old, `{ viewer { email } }`, nil).Code(), "older sessions end")
		again := s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`,
			map[string]any{"in": map[string]any{"token": mail.Token(), "password": "ada-newer-password"}})
		require.Equal(t, "INVALID_TOKEN", again.Code())
	})

	t.Run("an invited person gets a fresh invitation", func(t *testing.T) {
		old := s.LastEmailTo(t, "bob@example.com")
		request("bob@example.com")
		fresh := s.LastEmailTo(t, "bob@example.com")
		require.NotEqual(t, old.File, fresh.File)
		require.Contains(t, fresh.Links()[0], "/invite/accept?token=")
		require.Equal(t, "INVALID_TOKEN", accept(s, t, old.Token(), "bob-password-123").Code())
	})

	t.Run("no enumeration", func(t *testing.T) {
		before := len(s.Outbox(t))
		known, unknown := request("ada@example.com"), request("nobody@example.com")
		require.Equal(t, known.Data, unknown.Data)
		require.Empty(t, unknown.Errors)
		require.Len(t, s.Outbox(t), before+1, "only the known address gets mail")
	})

	t.Run("rate limited per address", func(t *testing.T) {
		var last *testkit.Response
		for range 6 {
			last = request("zed@example.com")
		}
		require.Equal(t, "RATE_LIMITED", last.Code())
	})

	t.Run("an invitation token cannot reset", func(t *testing.T) {
		tok := s.LastEmailTo(t, "bob@example.com").Token()
		resp := s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`,
			map[string]any{"in": map[string]any{"token": tok, "password": "bob-password-123"}})
		require.Equal(t, "INVALID_TOKEN", resp.Code())
	})

	t.Run("password policy names the rule", func(t *testing.T) {
		request("ada@example.com")
		tok := s.LastEmailTo(t, "ada@example.com").Token()
		for pw, want := range map[string]string{"short": "10", "ada@example.com": "email", "password1234": "common"} {
			resp := s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`,
				map[string]any{"in": map[string]any{"token": tok, "password": pw}})
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), pw)
			require.Equal(t, "password", resp.Errors[0].Extensions["field"])
			require.Contains(t, strings.ToLower(resp.Errors[0].Message), want, pw)
		}
	})
}

func TestSPALinksAndPublicLimits(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) {
		c.Mail.InviteLink = "https://app.example.com/join?token={token}"
		c.Mail.ResetLink = "https://app.example.com/reset/{token}"
	})
	a := signIn(t, s, "acme")
	a.invite(t, a.tok, []string{"ada@example.com"}, "Member", true)
	mail := s.LastEmailTo(t, "ada@example.com")
	require.True(t, strings.HasPrefix(mail.Links()[0], "https://app.example.com/join?token="), mail.Links()[0])
	s.Query(t, "", `mutation { requestPasswordReset(input: {email: "owner@acme.test"}) }`, nil)
	reset := s.LastEmailTo(t, "owner@acme.test")
	require.True(t, strings.HasPrefix(reset.Links()[0], "https://app.example.com/reset/"), reset.Links()[0])

	// Token checks from one client address are limited (60 per 15 minutes).
	var last *testkit.Response
	for range 61 {
		last = s.Query(t, "", `query { invitation(token: "junk") { email } }`, nil)
	}
	require.Equal(t, "RATE_LIMITED", last.Code())
}
