package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testkit"
)

// withMailgun starts a server whose mailer is a fake Mailgun on loopback,
// recording every message; modify adjusts the config further.
func withMailgun(t *testing.T, modify ...func(*config.Config)) (*testkit.Server, *fakemailgun.Server) {
	t.Helper()
	mg := fakemailgun.New(fakemailgun.Options{Domain: "mg.example.com", APIKey: "key-test", Record: true})
	ts := httptest.NewServer(mg)
	t.Cleanup(ts.Close)
	s := testkit.NewServer(t, append([]func(*config.Config){func(c *config.Config) {
		c.Mail.Mailer = "mailgun"
		c.Mail.MailgunDomain, c.Mail.MailgunKey, c.Mail.MailgunAPIBase = "mg.example.com", "key-test", ts.URL+"/v3"
	}}, modify...)...)
	return s, mg
}

func TestMailgunDelivery(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t)
	a := signIn(t, s, "acme")
	s.Query(t, a.tok, `mutation { updateOrganization(input: {replyTo: "people@acme.test", emailFromName: "Acme People"}) { id } }`, nil)

	res, _ := a.invite(t, a.tok, []string{"Ada <ada@example.com>", "bob@example.com"}, "Member", true)
	s.WaitDeliveries(t)
	msgs := mg.Messages()
	require.Len(t, msgs, 2, "one message per recipient")
	for _, m := range msgs {
		require.NotContains(t, m.To, ",", "nobody sees another recipient")
		require.Contains(t, m.From, "Acme People")
		require.Equal(t, "people@acme.test", m.ReplyTo)
		require.Contains(t, m.Text, s.URL+"/invite/accept?token=")
		require.Contains(t, m.HTML, "/invite/accept?token=")
	}
	var page userPage
	s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"lastEmailStatus": "SENT"}}).Decode(t, &page)
	require.Equal(t, 2, page.Users.TotalCount)

	// The link in the Mailgun message works.
	var tok string
	for _, m := range msgs {
		if strings.Contains(m.To, "ada@example.com") {
			tok = testkit.Email{Text: m.Text}.Token()
		}
	}
	require.Empty(t, accept(s, t, tok, "ada-password-123").Errors)

	// A refusing provider: the invitation stands, the failure shows.
	mg.Fail(1<<30, http.StatusBadRequest) // every call from now on
	var out struct {
		ResendInvitation struct{ Status, LastEmailStatus string }
	}
	s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { status lastEmailStatus } }`,
		map[string]any{"id": res.InviteUsers.Users[1].ID}).Decode(t, &out)
	require.Equal(t, "INVITED", out.ResendInvitation.Status)
	require.Equal(t, "FAILED", out.ResendInvitation.LastEmailStatus)
	var link struct{ CreateInvitationLink struct{ URL string } }
	s.Query(t, a.tok, `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`,
		map[string]any{"id": res.InviteUsers.Users[1].ID}).Decode(t, &link)
	_, tok, _ = strings.Cut(link.CreateInvitationLink.URL, "token=")
	require.Empty(t, accept(s, t, tok, "bob-password-123").Errors, "a copied link still gets them in")
}
