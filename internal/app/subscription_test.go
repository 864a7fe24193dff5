package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

const (
	progressSubscription     = `subscription($id: ID!) { bulkSendProgress(id: $id) { id status total sent failed skipped finishedAt } }`
	notificationSubscription = `subscription { notificationAdded { id kind message read bulkSend { id } } }`
)

// wsFrame is one protocol message; its payload stays raw, since an "error"
// message carries a list.
type wsFrame struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsResult is the payload of a next (graphql-ws: data) message.
type wsResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []testkit.Error `json:"errors"`
}

// wsClient is a signed-in websocket. Every read has a deadline, so a missing
// message fails the test instead of hanging it.
type wsClient struct {
	t *testing.T
	p wsProtocol
	c *websocket.Conn
}

// wsOpen connects with token and waits for the connection_ack.
func wsOpen(t *testing.T, s *testkit.Server, p wsProtocol, token string) *wsClient {
	t.Helper()
	c, res, err := wsDial(t, s, p.name, nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, p.name, c.Subprotocol())
	w := &wsClient{t: t, p: p, c: c}
	init := wsMessage{Type: "connection_init"}
	if token != "" {
		init.Payload = map[string]any{"authorization": "Bearer " + token}
	}
	require.NoError(t, c.WriteJSON(init))
	m, err := w.read(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type, "%s", m.Payload)
	return w
}

// subscribe starts operation id.
func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.t.Helper()
	require.NoError(w.t, w.c.WriteJSON(map[string]any{"id": id, "type": w.p.subscribe,
		"payload": map[string]any{"query": query, "variables": vars}}))
}

// read returns the next message that is not a keep-alive, or the error that
// ended the connection (a *websocket.CloseError, or a timeout after wait).
func (w *wsClient) read(wait time.Duration) (wsFrame, error) {
	w.t.Helper()
	require.NoError(w.t, w.c.SetReadDeadline(time.Now().Add(wait)))
	for {
		var m wsFrame
		if err := w.c.ReadJSON(&m); err != nil {
			return m, err
		}
		if m.Type != "ka" && m.Type != "ping" && m.Type != "pong" {
			return m, nil
		}
	}
}

// next returns the next result of operation id, failing on anything else.
func (w *wsClient) next(id string, wait time.Duration) wsResult {
	w.t.Helper()
	m, err := w.read(wait)
	require.NoError(w.t, err, "no message within %s", wait)
	require.Equal(w.t, w.p.next, m.Type, "%s", m.Payload)
	require.Equal(w.t, id, m.ID)
	var r wsResult
	require.NoError(w.t, json.Unmarshal(m.Payload, &r))
	return r
}

// requireEnded waits for the server to end the connection because the
// session ended: operations may complete first, a legacy graphql-ws client
// is told "session ended", then the socket closes. A timeout means the
// subscription outlived its session.
func (w *wsClient) requireEnded() {
	w.t.Helper()
	var seen []wsFrame
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			var closed *websocket.CloseError
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				w.t.Fatalf("the connection is still open 10s later (saw %+v)", seen)
			}
			require.ErrorAs(w.t, err, &closed, "saw %+v", seen)
			break
		}
		seen = append(seen, m)
		if m.Type == w.p.next {
			// A subscription still starting may fail as its context ends.
			var r wsResult
			require.NoError(w.t, json.Unmarshal(m.Payload, &r))
			require.NotEmpty(w.t, r.Errors, "no data after the session ended: %s", m.Payload)
			continue
		}
		require.Contains(w.t, []string{"complete", "connection_error"}, m.Type, "%+v", m)
	}
	if w.p.name == "graphql-ws" {
		require.NotEmpty(w.t, seen, "graphql-ws says why")
		var reason struct{ Message string }
		last := seen[len(seen)-1]
		for _, m := range seen {
			if m.Type == "connection_error" {
				last = m
			}
		}
		require.Equal(w.t, "connection_error", last.Type)
		require.NoError(w.t, json.Unmarshal(last.Payload, &reason))
		require.Equal(w.t, "session ended", reason.Message)
	}
}

// requireProgress subscribes to send id as operation opID and returns the
// first state, which comes at once.
func (w *wsClient) requireProgress(opID, sendID string) bulkSend {
	w.t.Helper()
	w.subscribe(opID, progressSubscription, map[string]any{"id": sendID})
	r := w.next(opID, 5*time.Second)
	require.Empty(w.t, r.Errors)
	var out struct{ BulkSendProgress bulkSend }
	require.NoError(w.t, json.Unmarshal(r.Data, &out))
	require.Equal(w.t, sendID, out.BulkSendProgress.ID)
	return out.BulkSendProgress
}

// waitFinished waits until send id has finished (its notification is then
// written too).
func waitFinished(t *testing.T, a *admin, id string) {
	t.Helper()
	a.awaitSend(t, id, func(b *ent.BulkSend) bool { return b.FinishedAt != nil })
}

// requireFinished subscribes to the finished send id as operation opID: its
// final state comes at once, then the operation completes.
func (w *wsClient) requireFinished(opID, sendID string) {
	w.t.Helper()
	require.NotNil(w.t, w.requireProgress(opID, sendID).FinishedAt)
	m, err := w.read(5 * time.Second)
	require.NoError(w.t, err)
	require.Equal(w.t, "complete", m.Type, "%s", m.Payload)
	require.Equal(w.t, opID, m.ID)
}

func TestSubscriptionBulkSendProgress(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.NewServer(t, func(c *config.Config) { c.Mail.SendRate = 50 })
			a := signIn(t, s, "acme")
			var people []testkit.Person
			for i := range 100 {
				people = append(people, testkit.Person{Email: fmt.Sprintf("p%03d@example.com", i)})
			}
			s.AddPeople(t, a.org, people...)
			res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
			require.Equal(t, 100, res.Total)

			w := wsOpen(t, s, p, a.tok)
			start := time.Now()
			w.subscribe("1", progressSubscription, map[string]any{"id": res.BulkSend.ID})
			var states []bulkSend
			for {
				m, err := w.read(10 * time.Second)
				require.NoError(t, err, "after %d states", len(states))
				require.Equal(t, "1", m.ID)
				if m.Type == "complete" {
					break
				}
				require.Equal(t, p.next, m.Type, "%s", m.Payload)
				var r wsResult
				require.NoError(t, json.Unmarshal(m.Payload, &r))
				require.Empty(t, r.Errors)
				var out struct{ BulkSendProgress bulkSend }
				require.NoError(t, json.Unmarshal(r.Data, &out))
				if len(states) == 0 {
					require.Less(t, time.Since(start), time.Second, "the current state comes at once")
				}
				states = append(states, out.BulkSendProgress)
			}
			elapsed := time.Since(start)

			require.NotEmpty(t, states)
			first := states[0]
			require.Equal(t, res.BulkSend.ID, first.ID)
			require.Equal(t, 100, first.Total)
			require.Less(t, first.Sent, 100, "the first state is from before the end (a send of 100 at 50 a second takes a second)")
			for i := 1; i < len(states); i++ {
				prev, cur := states[i-1], states[i]
				require.GreaterOrEqual(t, cur.Sent, prev.Sent, "counts never decrease: %+v", states)
				require.GreaterOrEqual(t, cur.Failed, prev.Failed, "counts never decrease: %+v", states)
				require.GreaterOrEqual(t, cur.Skipped, prev.Skipped, "counts never decrease: %+v", states)
				require.Nil(t, prev.FinishedAt, "only the last state is final")
			}
			// At most 10 a second: the first comes at once and the final one
			// without waiting, so allow those two and some jitter.
			limit := int(elapsed.Seconds()*10) + 3
			require.LessOrEqual(t, len(states), limit, "%d states in %s", len(states), elapsed)

			last := states[len(states)-1]
			require.Equal(t, "COMPLETED", last.Status)
			require.NotNil(t, last.FinishedAt)
			require.Equal(t, last.Total, last.Sent+last.Failed+last.Skipped)
			require.Equal(t, 100, last.Sent)

			// A finished send: its final state at once, then complete.
			w.requireFinished("2", res.BulkSend.ID)
		})
	}
}

func TestSubscriptionNotificationAdded(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			// At one a second the second email leaves a second after the
			// first, so the send finishes well after the subscription starts
			// (notificationAdded sends nothing to say it has).
			s := testkit.NewServer(t, func(c *config.Config) { c.Mail.SendRate = 1 })
			a := signIn(t, s, "acme")
			s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"})
			w := wsOpen(t, s, p, a.tok)
			w.subscribe("1", notificationSubscription, nil)

			res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
			require.Equal(t, 2, res.Total)
			r := w.next("1", 15*time.Second)
			require.Empty(t, r.Errors)
			var out struct {
				NotificationAdded struct {
					ID, Kind, Message string
					Read              bool
					BulkSend          *struct{ ID string }
				}
			}
			require.NoError(t, json.Unmarshal(r.Data, &out))
			n := out.NotificationAdded
			require.Equal(t, "2 invitations or password reset instructions sent, 0 failed", n.Message)
			require.NotNil(t, n.BulkSend)
			require.Equal(t, res.BulkSend.ID, n.BulkSend.ID)
			require.False(t, n.Read)
			require.NotEmpty(t, n.ID)

			// The same notification is in the feed.
			var feed struct {
				Notifications struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			s.Query(t, a.tok, `{ notifications(first: 10) { edges { node { id } } } }`, nil).Decode(t, &feed)
			require.Len(t, feed.Notifications.Edges, 1)
			require.Equal(t, n.ID, feed.Notifications.Edges[0].Node.ID)
		})
	}
}

func TestSubscriptionTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.NewServer(t)
			a := signIn(t, s, "acme")
			s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"},
				testkit.Person{Email: "member@acme.test", Status: user.StatusActive, Password: "member-password-1"})
			res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
			waitFinished(t, a, res.BulkSend.ID)

			// Another organisation's viewer gets NOT_FOUND and no data.
			other := signIn(t, s, "other")
			w := wsOpen(t, s, p, other.tok)
			w.subscribe("1", progressSubscription, map[string]any{"id": res.BulkSend.ID})
			m, err := w.read(5 * time.Second)
			require.NoError(t, err)
			require.Equal(t, "1", m.ID)
			switch m.Type {
			case p.next:
				var r wsResult
				require.NoError(t, json.Unmarshal(m.Payload, &r))
				require.NotEmpty(t, r.Errors)
				require.Equal(t, "NOT_FOUND", r.Errors[0].Code())
				require.Contains(t, []string{"", "null"}, string(r.Data), "no data")
				m, err = w.read(5 * time.Second)
				require.NoError(t, err)
				require.Equal(t, "complete", m.Type, "%s", m.Payload)
			case "error":
				var errs []testkit.Error
				require.NoError(t, json.Unmarshal(m.Payload, &errs))
				require.NotEmpty(t, errs)
				require.Equal(t, "NOT_FOUND", errs[0].Code())
			default:
				t.Fatalf("want NOT_FOUND, got %s %s", m.Type, m.Payload)
			}

			// The connection still serves its own organisation, and a Member
			// of the first one reads the send.
			other.s.AddPeople(t, other.org, testkit.Person{Email: "x@example.com"})
			own := other.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
			w.requireProgress("2", own.BulkSend.ID)
			member := wsOpen(t, s, p, s.Login(t, "acme", "member@acme.test", "member-password-1"))
			member.requireFinished("1", res.BulkSend.ID)

			// Nobody signed in: no connection, so no subscription.
			require.NotEmpty(t, wsRefusal(t, s, p, nil))
		})
	}
}

func TestSubscriptionEndsWithSession(t *testing.T) {
	t.Parallel()
	const password = "ada-password-123"
	newPassword := "ada-new-password-456"

	cases := []struct {
		name string
		// end ends session a (and perhaps others) over HTTP, and returns a
		// token that must still work ("" if none).
		end func(t *testing.T, a *admin, ada int, a1, a2 string) (alive string)
		// ended says which of ada's two connections must end; ownerEnded,
		// whether the Owner's must.
		ended      [2]bool
		ownerEnded bool
	}{
		{"logout ends that session only", func(t *testing.T, a *admin, _ int, a1, _ string) string {
			var out struct{ Logout bool }
			a.s.Query(t, a1, `mutation { logout }`, nil).Decode(t, &out)
			require.True(t, out.Logout)
			return ""
		}, [2]bool{true, false}, false},
		{"deactivation ends every session", func(t *testing.T, a *admin, ada int, _, _ string) string {
			var out struct{ DeactivateUser struct{ Status string } }
			a.s.Query(t, a.tok, `mutation($id: ID!) { deactivateUser(id: $id) { status } }`, map[string]any{"id": fmt.Sprint(ada)}).Decode(t, &out)
			require.Equal(t, "DEACTIVATED", out.DeactivateUser.Status)
			return ""
		}, [2]bool{true, true}, false},
		{"a password reset ends every session", func(t *testing.T, a *admin, _ int, _, _ string) string {
			var sent struct{ RequestPasswordReset bool }
			a.s.Query(t, "", `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) }`,
				map[string]any{"in": map[string]any{"organization": "acme", "email": "ada@example.com"}}).Decode(t, &sent)
			require.True(t, sent.RequestPasswordReset)
			tok := a.s.LastEmailTo(t, "ada@example.com").Token()
			require.NotEmpty(t, tok)
			var out struct{ ResetPassword struct{ Token string } }
			a.s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`,
				map[string]any{"in": map[string]any{"token": tok, "password": newPassword}}).Decode(t, &out)
			return out.ResetPassword.Token // the session the reset opens
		}, [2]bool{true, true}, false},
		{"a password change ends the other sessions", func(t *testing.T, a *admin, _ int, _, a2 string) string {
			var out struct{ ChangePassword bool }
			a.s.Query(t, a2, `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
				map[string]any{"in": map[string]any{"currentPassword": password, "newPassword": newPassword}}).Decode(t, &out)
			require.True(t, out.ChangePassword)
			return ""
		}, [2]bool{true, false}, false},
		{"another person's logout ends only theirs", func(t *testing.T, a *admin, _ int, _, _ string) string {
			var out struct{ Logout bool }
			a.s.Query(t, a.tok, `mutation { logout }`, nil).Decode(t, &out)
			require.True(t, out.Logout)
			return ""
		}, [2]bool{false, false}, true},
	}
	for _, p := range wsProtocols {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				s := testkit.NewServer(t)
				a := signIn(t, s, "acme")
				ada := s.AddPeople(t, a.org,
					testkit.Person{Email: "ada@example.com", Role: "HR", Status: user.StatusActive, Password: password},
					testkit.Person{Email: "new@example.com"})[0]
				send := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations.BulkSend
				waitFinished(t, a, send.ID)

				tokens := [2]string{s.Login(t, "acme", "ada@example.com", password), s.Login(t, "acme", "ada@example.com", password)}
				var conns [2]*wsClient
				for i, tok := range tokens {
					conns[i] = wsOpen(t, s, p, tok)
				}
				owner := wsOpen(t, s, p, a.tok) // another person's connection
				for _, w := range append(conns[:], owner) {
					w.subscribe("1", notificationSubscription, nil)
					w.requireFinished("2", send.ID) // a round trip: the connection is in use
				}

				alive := c.end(t, a, ada.ID, tokens[0], tokens[1])

				for i, w := range conns {
					if c.ended[i] {
						w.requireEnded()
					}
				}
				if c.ownerEnded {
					owner.requireEnded()
				}
				// The others still serve. Each watch takes its events in
				// order, so a change of rights announced now reaches it
				// after the end did: it is what closes the connection, and
				// says so on the legacy protocol (graphql-transport-ws
				// closes without a reason), only if the end left it open.
				var open []*wsClient
				for i, w := range conns {
					if !c.ended[i] {
						open = append(open, w)
					}
				}
				if !c.ownerEnded {
					open = append(open, owner)
				}
				for _, w := range open {
					w.requireFinished("3", send.ID)
				}
				s.Auth.RoleChanged(context.Background(), ada.ID, a.org.Owner.ID)
				for _, w := range open {
					w.requireClosed("permissions changed")
				}
				if alive != "" {
					wsOpen(t, s, p, alive).requireFinished("1", send.ID)
				}
				for i, tok := range tokens {
					if c.ended[i] {
						// Reconnecting with an ended session is refused.
						cl, res, err := wsDial(t, s, p.name, nil)
						require.NoError(t, err)
						res.Body.Close()
						refused := &wsClient{t: t, p: p, c: cl}
						require.NoError(t, cl.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + tok}}))
						m, err := refused.read(5 * time.Second)
						if err == nil {
							require.Equal(t, "connection_error", m.Type)
						} else {
							var closed *websocket.CloseError
							require.ErrorAs(t, err, &closed)
							require.Equal(t, 4403, closed.Code)
						}
					}
				}
			})
		}
	}
}

// TestSubscriptionSessionCheck: an ended session whose event was lost (here:
// there was none) still ends its subscriptions at the next check.
func TestSubscriptionSessionCheck(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.NewServer(t, func(c *config.Config) { c.Auth.SessionCheck = 50 * time.Millisecond })
			a := signIn(t, s, "acme")
			w := wsOpen(t, s, p, a.tok)
			w.subscribe("1", notificationSubscription, nil)
			// Not a wait for a condition: a window, on the watch's own
			// real-time ticker, in which several checks find the session
			// alive and must leave it so.
			time.Sleep(200 * time.Millisecond)
			_, err := s.DB.Client.Session.Delete().Exec(testkit.System())
			require.NoError(t, err)
			w.requireEnded()
		})
	}
}
