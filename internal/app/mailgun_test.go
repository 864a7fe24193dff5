package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// mailgunServer speaks the part of Mailgun's API Rollcall uses: POST
// /v3/{domain}/messages, with basic auth "api:<key>".
type mailgunServer struct {
	*httptest.Server
	mu       sync.Mutex
	messages []map[string]string
	status   int // answer with this status when non-zero
}

func newMailgunServer(t *testing.T) *mailgunServer {
	m := &mailgunServer{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, key, ok := r.BasicAuth()
		if !ok || user != "api" || key != "key-test" || r.URL.Path != "/v3/mg.example.com/messages" {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.status != 0 {
			http.Error(w, `{"message":"rejected"}`, m.status)
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msg := map[string]string{}
		for k, v := range r.MultipartForm.Value {
			msg[k] = strings.Join(v, ",")
		}
		m.messages = append(m.messages, msg)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"<20260302.1@mg.example.com>","message":"Queued. Thank you."}`))
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mailgunServer) received() []map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]string(nil), m.messages...)
}

func TestMailgunDelivery(t *testing.T) {
	t.Parallel()
	mg := newMailgunServer(t)
	s := testkit.NewServer(t, func(c *config.Config) {
		c.Mail.Mailer = "mailgun"
		c.Mail.MailgunDomain, c.Mail.MailgunKey, c.Mail.MailgunAPIBase = "mg.example.com", "key-test", mg.URL+"/v3"
	})
	o := s.CreateOrg(t, "acme")
	a := &admin{s: s, org: o, tok: s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)}
	s.Query(t, a.tok, `mutation { updateOrganization(input: {replyTo: "people@acme.test", emailFromName: "Acme People"}) { id } }`, nil)

	res, _ := a.invite(t, a.tok, []string{"Ada <ada@example.com>", "bob@example.com"}, "Member", true)
	s.Invites.Wait()
	msgs := mg.received()
	require.Len(t, msgs, 2, "one message per recipient")
	for _, m := range msgs {
		require.NotContains(t, m["to"], ",", "nobody sees another recipient")
		require.Contains(t, m["from"], "Acme People")
		require.Equal(t, "people@acme.test", m["h:Reply-To"])
		require.Contains(t, m["text"], s.URL+"/invite/accept?token=")
		require.Contains(t, m["html"], "/invite/accept?token=")
	}
	var page userPage
	s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"lastEmailStatus": "SENT"}}).Decode(t, &page)
	require.Equal(t, 2, page.Users.TotalCount)

	// The link in the Mailgun message works.
	var tok string
	for _, m := range msgs {
		if strings.Contains(m["to"], "ada@example.com") {
			_, tok, _ = strings.Cut(strings.Fields(m["text"][strings.Index(m["text"], "token="):])[0], "token=")
		}
	}
	require.Empty(t, accept(s, t, tok, "ada-password-123").Errors)

	// A refusing provider: the invitation stands, the failure shows.
	mg.mu.Lock()
	mg.status = http.StatusBadRequest
	mg.mu.Unlock()
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
