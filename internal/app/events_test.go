package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testkit"
)

const eventsQuery = `query($first: Int, $after: Cursor, $types: [String!], $since: Time) {
  events(first: $first, after: $after, types: $types, since: $since) {
    edges { cursor node { id type occurredAt data } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

// loggedEvent is an event as the events log gives it.
type loggedEvent struct {
	ID, Type   string
	OccurredAt time.Time
	Data       map[string]any
}

type eventsPage struct {
	Events struct {
		Edges []struct {
			Cursor string
			Node   loggedEvent
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
	}
}

// events reads one page of the log as the holder of tok.
func readEvents(t *testing.T, s *testkit.Server, tok string, vars map[string]any) eventsPage {
	t.Helper()
	var out eventsPage
	s.Query(t, tok, eventsQuery, vars).Decode(t, &out)
	return out
}

// eventLog follows an organisation's events log as its Owner.
type eventLog struct {
	a     *admin
	after *string
	seen  []loggedEvent
}

// expect waits until the events after those already read are of types
// want, in that order, and returns them. On PostgreSQL an event shows once
// every older transaction of its database has ended (the server's workers
// may still be in one), so it waits for them to settle.
func (l *eventLog) expect(t *testing.T, want ...string) []loggedEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []loggedEvent
	for {
		page := readEvents(t, l.a.s, l.a.tok, map[string]any{"after": l.after, "first": 100})
		for _, e := range page.Events.Edges {
			got = append(got, e.Node)
			c := e.Cursor
			l.after = &c
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	types := make([]string, len(got))
	for i, e := range got {
		types[i] = e.Type
	}
	require.Equal(t, want, types, "%+v", got)
	l.seen = append(l.seen, got...)
	return got
}

// person is the user object of an event's data.
func person(t *testing.T, e loggedEvent) map[string]any {
	t.Helper()
	u, ok := e.Data["user"].(map[string]any)
	require.True(t, ok, "%s has no user: %v", e.Type, e.Data)
	return u
}

// TestEventsOfEveryChange: each change made through the API writes its
// events, each once, with the data a consumer needs; a refused change
// writes none.
func TestEventsOfEveryChange(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	a := signIn(t, s, "acme")
	owner := fmt.Sprint(a.org.Owner.ID)
	log := &eventLog{a: a}
	message := func(to string) fakemailgun.Message {
		t.Helper()
		msgs := mg.MessagesTo(to)
		require.NotEmpty(t, msgs, "no message to %s", to)
		return msgs[len(msgs)-1]
	}
	mutate := func(query string, vars map[string]any) {
		t.Helper()
		resp := s.Query(t, a.tok, query, vars)
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
	}

	// user.created: inviteUsers without an email.
	res, _ := a.invite(t, a.tok, []string{"Ada Lovelace <ada@example.com>"}, "HR", false)
	ada := res.InviteUsers.Users[0].ID
	created := log.expect(t, "user.created")[0]
	require.Equal(t, map[string]any{"id": ada, "email": "ada@example.com", "username": nil, "firstName": "Ada",
		"lastName": "Lovelace", "status": "NOT_INVITED", "role": "HR", "roleId": a.roleID("HR"), "products": []any{}}, person(t, created))
	require.Equal(t, s.Clock.Now(), created.OccurredAt.UTC())

	// user.updated names the fields changed.
	mutate(`mutation($id: ID!) { updateUser(id: $id, input: {lastName: "King", roleId: "`+a.roleID("Member")+`"}) { id } }`, map[string]any{"id": ada})
	updated := log.expect(t, "user.updated")[0]
	require.Equal(t, []any{"lastName", "role"}, updated.Data["fields"])
	require.Equal(t, "King", person(t, updated)["lastName"])
	require.Equal(t, "Member", person(t, updated)["role"])

	// invitation.sent when the one-person email leaves; email.delivered
	// when the provider says so.
	mutate(resendMutation, map[string]any{"id": ada})
	sent := log.expect(t, "invitation.sent")[0]
	require.Equal(t, "INVITED", person(t, sent)["status"])
	require.Equal(t, "INVITATION", sent.Data["kind"])
	require.Nil(t, sent.Data["bulkSendId"])
	require.Equal(t, owner, sent.Data["invitedById"])
	require.NotEmpty(t, sent.Data["expiresAt"])
	deliveryID := sent.Data["deliveryId"]
	require.Equal(t, deliveryID, message("ada@example.com").Variables["delivery_id"])
	require.Equal(t, http.StatusOK, reportEvent(t, s, message("ada@example.com"), "delivered", ""))
	delivered := log.expect(t, "email.delivered")[0]
	require.Equal(t, deliveryID, delivered.Data["deliveryId"])
	require.Equal(t, "ada@example.com", delivered.Data["email"])
	require.Equal(t, ada, person(t, delivered)["id"])
	require.NotContains(t, delivered.Data, "reason")

	// invitation.revoked
	mutate(`mutation($id: ID!) { revokeInvitation(userId: $id) { id } }`, map[string]any{"id": ada})
	require.Equal(t, "NOT_INVITED", person(t, log.expect(t, "invitation.revoked")[0])["status"])

	// A bulk send: invitation.sent with the send, then bulk_send.completed
	// with its counters.
	send := a.send(t, map[string]any{"userIds": []string{ada}}).SendInvitations.BulkSend
	evs := log.expect(t, "invitation.sent", "bulk_send.completed")
	require.Equal(t, send.ID, evs[0].Data["bulkSendId"])
	completed := evs[1].Data["bulkSend"].(map[string]any)
	require.Equal(t, send.ID, completed["id"])
	require.Equal(t, "COMPLETED", completed["status"])
	require.Equal(t, "AUTO", completed["kind"])
	require.Equal(t, "MANUAL", completed["trigger"])
	require.Equal(t, owner, completed["createdById"])
	for k, v := range map[string]float64{"total": 1, "sent": 1, "failed": 0, "skipped": 0} {
		require.Equal(t, v, completed[k], k)
	}

	// invitation.accepted, once: the same link again is refused and
	// records nothing (the next step expects exactly its own event).
	tok := testkit.Email{Text: message("ada@example.com").Text}.Token()
	require.Empty(t, accept(s, t, tok, "ada-password-123").Errors)
	require.Equal(t, "INVALID_TOKEN", accept(s, t, tok, "ada-password-456").Code())
	accepted := log.expect(t, "invitation.accepted")[0]
	require.Equal(t, "ACTIVE", person(t, accepted)["status"])
	require.Equal(t, owner, accepted.Data["invitedById"])

	// password.reset when a reset link is spent (asking for one is no event).
	requestReset(t, s, "acme", "ada@example.com")
	s.WaitResets(t)
	s.WaitDeliveries(t)
	resetTok := testkit.Email{Text: message("ada@example.com").Text}.Token()
	resetResp := s.Query(t, "", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"token": resetTok, "password": "ada-new-password-1"}})
	require.Empty(t, resetResp.Errors)
	require.Equal(t, ada, person(t, log.expect(t, "password.reset")[0])["id"])

	// email.bounced, then email.complained, with the provider's reason.
	res, _ = a.invite(t, a.tok, []string{"bob@example.com"}, "Member", true)
	bob := res.InviteUsers.Users[0].ID
	log.expect(t, "user.created", "invitation.sent", "bulk_send.completed")
	require.Equal(t, http.StatusOK, reportEvent(t, s, message("bob@example.com"), "failed", "permanent"))
	bounced := log.expect(t, "email.bounced")[0]
	require.Equal(t, "550 mailbox unavailable", bounced.Data["reason"])
	require.Equal(t, bob, person(t, bounced)["id"])
	require.NotNil(t, bounced.Data["bulkSendId"])
	require.Equal(t, http.StatusOK, reportEvent(t, s, message("bob@example.com"), "complained", ""))
	log.expect(t, "email.complained")

	// email.failed when the provider refuses for good.
	mg.FailAddress("carol@example.com", http.StatusBadRequest)
	res, _ = a.invite(t, a.tok, []string{"carol@example.com"}, "Member", true)
	carol := res.InviteUsers.Users[0].ID
	evs = log.expect(t, "user.created", "email.failed", "bulk_send.completed")
	require.Equal(t, "carol@example.com", evs[1].Data["email"])
	require.Equal(t, "INVITATION", evs[1].Data["kind"])
	require.NotEmpty(t, evs[1].Data["reason"])
	require.Equal(t, "NOT_INVITED", person(t, evs[1])["status"])
	require.Equal(t, 1.0, evs[2].Data["bulkSend"].(map[string]any)["failed"])

	// Deactivating the last Owner is refused: no event; then carol's
	// user.deactivated, user.reactivated, user.deleted.
	require.Equal(t, "CONFLICT", s.Query(t, a.tok, `mutation($id: ID!) { deactivateUser(id: $id) { id } }`, map[string]any{"id": owner}).Code())
	mutate(`mutation($id: ID!) { deactivateUser(id: $id) { id } }`, map[string]any{"id": carol})
	require.Equal(t, "DEACTIVATED", person(t, log.expect(t, "user.deactivated")[0])["status"])
	mutate(`mutation($id: ID!) { reactivateUser(id: $id) { id } }`, map[string]any{"id": carol})
	require.Equal(t, "NOT_INVITED", person(t, log.expect(t, "user.reactivated")[0])["status"])
	mutate(`mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": carol})
	require.Equal(t, map[string]any{"id": carol}, person(t, log.expect(t, "user.deleted")[0]), "nothing else of an erased person")

	// An import: user.created and user.updated for each person, then
	// import.completed.
	imp, resp := a.importCSV(t, a.tok, "email,first_name,role\ndan@example.com,Dan,HR\nada@example.com,Augusta,\nbob@example.com,,\n", nil)
	require.Empty(t, resp.Errors)
	evs = log.expect(t, "user.created", "user.updated", "import.completed")
	require.Equal(t, "dan@example.com", person(t, evs[0])["email"])
	require.Equal(t, "HR", person(t, evs[0])["role"])
	require.Equal(t, imp.ImportUsers.Import.ID, evs[0].Data["importId"])
	require.Equal(t, ada, person(t, evs[1])["id"])
	require.Equal(t, "Augusta", person(t, evs[1])["firstName"])
	require.Equal(t, "ACTIVE", person(t, evs[1])["status"], "an import keeps the status")
	require.Equal(t, []any{"firstName"}, evs[1].Data["fields"])
	done := evs[2].Data["import"].(map[string]any)
	require.Equal(t, imp.ImportUsers.Import.ID, done["id"])
	for k, v := range map[string]float64{"created": 1, "updated": 1, "unchanged": 1, "rejected": 0} {
		require.Equal(t, v, done[k], k)
	}

	// A temporary password set by hand: user.updated.
	dan := person(t, evs[0])["id"]
	mutate(`mutation($id: ID!) { setTemporaryPassword(userId: $id, password: "dan-temporary-pw-1") { id } }`, map[string]any{"id": dan})
	temp := log.expect(t, "user.updated")[0]
	require.Equal(t, []any{"status", "mustChangePassword"}, temp.Data["fields"])
	require.Equal(t, "ACTIVE", person(t, temp)["status"])

	// Every type of the contract came, and the whole log is what was read
	// step by step: nothing more.
	var types []string
	for _, e := range log.seen {
		types = append(types, e.Type)
	}
	for _, typ := range []string{"user.created", "user.updated", "user.deactivated", "user.reactivated", "user.deleted",
		"invitation.sent", "invitation.accepted", "invitation.revoked", "email.delivered", "email.bounced",
		"email.complained", "email.failed", "password.reset", "bulk_send.completed", "import.completed"} {
		require.Contains(t, types, typ)
	}
	all := &eventLog{a: a}
	all.expect(t, types...)
	require.Equal(t, log.seen, all.seen)
}

// TestEventsLog: the log pages oldest first without gaps or repeats,
// filters by type and time, shows one organisation only, and needs
// organization.manage.
func TestEventsLog(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	other := signIn(t, s, "other")
	var emails []string
	for i := range 7 {
		emails = append(emails, fmt.Sprintf("p%d@example.com", i))
	}
	a.invite(t, a.tok, emails, "Member", false)
	other.invite(t, other.tok, []string{"x@example.com", "y@example.com"}, "Member", false)
	all := (&eventLog{a: a}).expect(t, slices.Repeat([]string{"user.created"}, 7)...)
	for i, e := range all {
		require.Equal(t, emails[i], person(t, e)["email"], "oldest first")
	}

	// Pages of 3: 3, 3, 1, in order, each continuing from the last cursor.
	var paged []loggedEvent
	var after *string
	for page := 0; ; page++ {
		p := readEvents(t, s, a.tok, map[string]any{"first": 3, "after": after})
		require.Equal(t, after != nil, p.Events.PageInfo.HasPreviousPage)
		for _, e := range p.Events.Edges {
			paged = append(paged, e.Node)
		}
		if !p.Events.PageInfo.HasNextPage {
			require.Equal(t, 2, page)
			break
		}
		require.Len(t, p.Events.Edges, 3)
		require.Equal(t, p.Events.Edges[2].Cursor, *p.Events.PageInfo.EndCursor)
		after = p.Events.PageInfo.EndCursor
	}
	require.Equal(t, all, paged)
	last := readEvents(t, s, a.tok, map[string]any{"after": after, "first": 50})
	require.Len(t, last.Events.Edges, 1)
	empty := readEvents(t, s, a.tok, map[string]any{"after": last.Events.Edges[0].Cursor})
	require.Empty(t, empty.Events.Edges)
	require.False(t, empty.Events.PageInfo.HasNextPage)

	// Types and since.
	s.Clock.Advance(time.Hour)
	since := s.Clock.Now()
	s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Pat"}) { id } }`,
		map[string]any{"id": all[0].Data["user"].(map[string]any)["id"]})
	log := &eventLog{a: a, after: &last.Events.Edges[0].Cursor}
	log.expect(t, "user.updated")
	p := readEvents(t, s, a.tok, map[string]any{"types": []string{"user.updated", "user.deleted"}})
	require.Len(t, p.Events.Edges, 1)
	require.Equal(t, "user.updated", p.Events.Edges[0].Node.Type)
	p = readEvents(t, s, a.tok, map[string]any{"since": since.Format(time.RFC3339Nano)})
	require.Len(t, p.Events.Edges, 1)
	require.Equal(t, "user.updated", p.Events.Edges[0].Node.Type)
	p = readEvents(t, s, a.tok, map[string]any{"since": since.Add(-2 * time.Hour).Format(time.RFC3339Nano), "types": []string{"user.created"}})
	require.Len(t, p.Events.Edges, 7)

	// The other organisation sees its own two only; an event is a node of
	// its own organisation only.
	p = readEvents(t, s, other.tok, nil)
	require.Len(t, p.Events.Edges, 2)
	for _, e := range p.Events.Edges {
		require.Contains(t, []string{"x@example.com", "y@example.com"}, person(t, e.Node)["email"])
	}
	node := `query($id: ID!) { node(id: $id) { ... on Event { type data } } }`
	var found struct{ Node *struct{ Type string } }
	s.Query(t, a.tok, node, map[string]any{"id": all[0].ID}).Decode(t, &found)
	require.Equal(t, "user.created", found.Node.Type)
	resp := s.Query(t, other.tok, node, map[string]any{"id": all[0].ID})
	require.True(t, resp.Code() == "NOT_FOUND" || string(resp.Data) == `{"node":null}`, "%s %+v", resp.Data, resp.Errors)

	// Who may read it, and bad input.
	s.AddPeople(t, a.org, testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"})
	hr := s.Login(t, "acme", "hr@acme.test", "hr-password-123")
	require.Equal(t, "FORBIDDEN", s.Query(t, hr, eventsQuery, nil).Code())
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", eventsQuery, nil).Code())
	for name, c := range map[string]struct {
		vars  map[string]any
		field string
	}{
		"unknown type":       {map[string]any{"types": []string{"user.created", "user.exploded"}}, "types"},
		"negative first":     {map[string]any{"first": -1}, "first"},
		"not a cursor":       {map[string]any{"after": "bm90IGEgY3Vyc29y"}, ""},
		"another list's one": {map[string]any{"after": auditCursor(t, a)}, "after"},
	} {
		resp := s.Query(t, a.tok, eventsQuery, c.vars)
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), name)
		if c.field != "" {
			require.Equal(t, c.field, resp.Errors[0].Extensions["field"], name)
		}
	}
}

// auditCursor is a cursor of the audit log, which is ordered by time.
func auditCursor(t *testing.T, a *admin) string {
	t.Helper()
	var out struct {
		AuditEvents struct{ Edges []struct{ Cursor string } }
	}
	a.s.Query(t, a.tok, `{ auditEvents(first: 1) { edges { cursor } } }`, nil).Decode(t, &out)
	require.NotEmpty(t, out.AuditEvents.Edges)
	return out.AuditEvents.Edges[0].Cursor
}

// TestEventsPageAcrossLateCommits: on PostgreSQL, writers keep committing
// events out of id order (the later id first) while a reader pages the log
// through the API from its last cursor; it reads every event once.
func TestEventsPageAcrossLateCommits(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	if !testkit.Postgres() {
		t.Skip("SQLite has one writer at a time: ids are commit order")
	}
	a := signIn(t, s, "acme")
	log := event.New(s.DB.Client, s.Clock, s.DB.Dialect)
	const writers, rounds = 6, 20
	record := func(tx *ent.Tx, w, n int, which string) {
		require.NoError(t, log.Record(testkit.System(), tx.Client(), a.org.ID,
			event.Event{Type: "user.updated", Data: map[string]any{"tag": fmt.Sprintf("%d/%d/%s", w, n, which)}}))
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range rounds {
				// early takes the lower id, late the higher; late commits first.
				early, err := s.DB.Client.Tx(testkit.System())
				require.NoError(t, err)
				record(early, w, n, "early")
				late, err := s.DB.Client.Tx(testkit.System())
				require.NoError(t, err)
				record(late, w, n, "late")
				require.NoError(t, late.Commit())
				require.NoError(t, early.Commit())
			}
		})
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	// A reader pages by the cursor all along, in small pages.
	seen := map[string]bool{}
	var after *string
	deadline := time.Now().Add(time.Minute)
	for done := false; ; {
		select {
		case <-writing:
			done = true // one more pass reads what committed last
		default:
		}
		for {
			p := readEvents(t, s, a.tok, map[string]any{"first": 7, "after": after})
			for _, e := range p.Events.Edges {
				require.False(t, seen[e.Node.ID], "event %s read twice", e.Node.ID)
				seen[e.Node.ID] = true
			}
			if p.Events.PageInfo.EndCursor != nil {
				after = p.Events.PageInfo.EndCursor
			}
			if !p.Events.PageInfo.HasNextPage {
				break
			}
		}
		if done && len(seen) == 2*writers*rounds {
			break
		}
		// Once the writers are done, what is left settles as soon as no
		// older transaction of the database (a worker's) is running.
		require.True(t, time.Now().Before(deadline), "read %d of %d events", len(seen), 2*writers*rounds)
	}
	require.Len(t, seen, 2*writers*rounds, "no gaps")
}

// TestEventRetention: every replica deletes the events past their
// retention, on the service clock.
func TestEventRetention(t *testing.T) {
	t.Parallel()
	// A long retention and a second event just short of it: the clock can
	// run far ahead of a slow pruner without reaching the second cutoff.
	const retention = 1000 * time.Hour
	s := testkit.NewServer(t, func(c *config.Config) {
		c.Events.Retention = retention
		c.Events.PruneInterval = time.Hour
		c.Auth.SessionIdle, c.Auth.SessionMax = 10*retention, 10*retention
	})
	a := signIn(t, s, "acme")
	a.invite(t, a.tok, []string{"old@example.com"}, "Member", false)
	log := &eventLog{a: a}
	log.expect(t, "user.created")
	s.Clock.Advance(retention - time.Hour)
	a.invite(t, a.tok, []string{"new@example.com"}, "Member", false)
	log.expect(t, "user.created")

	// Time goes on, ten minutes at a time (the pruner may not be waiting
	// yet when the clock moves: the next step fires it): the first event
	// goes once it is past the retention, the second stays until the
	// retention later.
	deadline := time.Now().Add(30 * time.Second)
	for {
		edges := readEvents(t, s, a.tok, nil).Events.Edges
		if len(edges) == 1 && person(t, edges[0].Node)["email"] == "new@example.com" {
			require.Less(t, s.Clock.Now().Sub(testkit.Epoch), 2*retention-time.Hour)
			break
		}
		require.True(t, time.Now().Before(deadline), "not pruned by %s: %d events", s.Clock.Now(), len(edges))
		if len(edges) == 2 {
			s.Clock.Advance(10 * time.Minute)
		} // else, on PostgreSQL, a transaction still running holds events back: read again
		time.Sleep(time.Millisecond)
	}
}

const organizationEventsSubscription = `subscription($types: [String!]) { organizationEvents(types: $types) { id type occurredAt data } }`

// waitSubscribers waits until s has n organizationEvents subscribers.
func waitSubscribers(t *testing.T, s *testkit.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Feed.Subscribers() != n {
		require.True(t, time.Now().Before(deadline), "%d subscribers, want %d", s.Feed.Subscribers(), n)
		time.Sleep(time.Millisecond)
	}
}

// nextEvent reads the next event of subscription id.
func (w *wsClient) nextEvent(id string) loggedEvent {
	w.t.Helper()
	r := w.next(id, 30*time.Second)
	require.Empty(w.t, r.Errors)
	var out struct{ OrganizationEvents loggedEvent }
	require.NoError(w.t, json.Unmarshal(r.Data, &out))
	return out.OrganizationEvents
}

// TestOrganizationEventsAcrossReplicas: a subscriber on one replica hears
// the changes made through another, of its organisation and types only,
// over both protocols.
func TestOrganizationEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			// On PostgreSQL the other replica's commits wake this one's
			// tailer; on SQLite, which has one server and no shared bus,
			// it finds them at its poll.
			s := testkit.NewServer(t, func(c *config.Config) { c.Events.Poll = 50 * time.Millisecond })
			r := s.Replica(t, true)
			a := signIn(t, s, "acme")
			other := signIn(t, s, "other")
			s.AddPeople(t, a.org, testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"})
			w := wsOpen(t, s, p, s.Login(t, "acme", "hr@acme.test", "hr-password-123"))
			w.subscribe("1", organizationEventsSubscription, map[string]any{"types": []string{"user.created", "invitation.accepted"}})
			waitSubscribers(t, s, 1)

			// Through the other replica: a change of a type not asked for,
			// another organisation's person, then the two awaited.
			viaR := &admin{s: r, org: a.org, tok: a.tok}
			r.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Olive"}) { id } }`,
				map[string]any{"id": fmt.Sprint(a.org.Owner.ID)})
			(&admin{s: r, org: other.org, tok: other.tok}).invite(t, other.tok, []string{"stranger@example.com"}, "Member", false)
			res, _ := viaR.invite(t, a.tok, []string{"ada@example.com"}, "Member", false)
			ada := res.InviteUsers.Users[0].ID
			var link struct{ CreateInvitationLink struct{ URL string } }
			r.Query(t, a.tok, `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`, map[string]any{"id": ada}).Decode(t, &link)
			_, tok, _ := strings.Cut(link.CreateInvitationLink.URL, "token=")
			require.Empty(t, accept(r, t, tok, "ada-password-123").Errors)

			created := w.nextEvent("1")
			require.Equal(t, "user.created", created.Type)
			require.Equal(t, "ada@example.com", person(t, created)["email"])
			accepted := w.nextEvent("1")
			require.Equal(t, "invitation.accepted", accepted.Type)
			require.Equal(t, ada, person(t, accepted)["id"])
			require.Equal(t, "ACTIVE", person(t, accepted)["status"])

			// The same events, with the same ids, are in the log.
			logged := (&eventLog{a: a}).expect(t, "user.updated", "user.created", "invitation.accepted")
			require.Equal(t, created.ID, logged[1].ID)
			require.Equal(t, accepted.ID, logged[2].ID)
		})
	}
}

// TestOrganizationEventsRights: people.read is needed to subscribe, and a
// subscription ends when its viewer is demoted below it.
func TestOrganizationEventsRights(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			a := newAdmin(t)
			s := a.s
			people := s.AddPeople(t, a.org,
				testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"},
				testkit.Person{Email: "member@acme.test", Role: "Member", Status: user.StatusActive, Password: "member-password-1"})

			member := wsOpen(t, s, p, s.Login(t, "acme", "member@acme.test", "member-password-1"))
			member.subscribe("1", organizationEventsSubscription, nil)
			m, err := member.read(5 * time.Second)
			require.NoError(t, err)
			switch m.Type {
			case p.next:
				var r wsResult
				require.NoError(t, json.Unmarshal(m.Payload, &r))
				require.Equal(t, "FORBIDDEN", errorCode(r))
			case "error":
				var errs []testkit.Error
				require.NoError(t, json.Unmarshal(m.Payload, &errs))
				require.Equal(t, "FORBIDDEN", errs[0].Code())
			default:
				t.Fatalf("want FORBIDDEN, got %s %s", m.Type, m.Payload)
			}

			w := wsOpen(t, s, p, s.Login(t, "acme", "hr@acme.test", "hr-password-123"))
			w.subscribe("1", organizationEventsSubscription, nil)
			waitSubscribers(t, s, 1)
			a.invite(t, a.tok, []string{"ada@example.com"}, "Member", false)
			require.Equal(t, "user.created", w.nextEvent("1").Type)

			var out struct{ UpdateUser struct{ ID string } }
			s.Query(t, a.tok, `mutation($id: ID!, $role: ID!) { updateUser(id: $id, input: {roleId: $role}) { id } }`,
				map[string]any{"id": fmt.Sprint(people[0].ID), "role": a.roleID("Member")}).Decode(t, &out)
			w.requireClosed("permissions changed")
			waitSubscribers(t, s, 0)
		})
	}
}

// TestOrganizationEventsSlowSubscriber: a subscriber more than the buffer
// behind is told so and its subscription ends; the connection stays.
func TestOrganizationEventsSlowSubscriber(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.NewServer(t, func(c *config.Config) { c.Events.Buffer = 2 })
			a := signIn(t, s, "acme")
			w := wsOpen(t, s, p, a.tok)
			w.subscribe("1", organizationEventsSubscription, nil)
			waitSubscribers(t, s, 1)
			// Ten events in one transaction reach the tailer at once: more
			// than the buffer holds.
			var emails []string
			for i := range 10 {
				emails = append(emails, fmt.Sprintf("p%d@example.com", i))
			}
			a.invite(t, a.tok, emails, "Member", false)
			var got int
			for {
				r := w.next("1", 30*time.Second)
				if len(r.Errors) > 0 {
					require.Equal(t, "RATE_LIMITED", errorCode(r))
					require.Contains(t, r.Errors[0].Message, "fell too far behind")
					break
				}
				got++
			}
			// What the buffer held, and what its reader took meanwhile.
			require.GreaterOrEqual(t, got, 2)
			require.Less(t, got, 10)
			m, err := w.read(5 * time.Second)
			require.NoError(t, err)
			require.Equal(t, "complete", m.Type, "%s", m.Payload)
			waitSubscribers(t, s, 0)
			// The connection still serves.
			w.subscribe("2", organizationEventsSubscription, nil)
			waitSubscribers(t, s, 1)
			a.invite(t, a.tok, []string{"late@example.com"}, "Member", false)
			// The tailer may still be handing out the end of the first ten
			// when the new subscription joins: those may come first.
			for {
				email := person(t, w.nextEvent("2"))["email"]
				if email == "late@example.com" {
					break
				}
				require.Contains(t, emails, email)
			}
		})
	}
}

// TestInviterNotified: the person who last invited someone (by hand: not
// a system round) is told when they accept; nobody is when no person sent
// them an invitation.
func TestInviterNotified(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org, testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"})
	hr := s.Login(t, "acme", "hr@acme.test", "hr-password-123")
	accepted := func(tok string) []string {
		t.Helper()
		var out struct {
			Notifications struct {
				Edges []struct {
					Node struct{ Kind, Message string }
				}
			}
		}
		s.Query(t, tok, `{ notifications(first: 50) { edges { node { kind message } } } }`, nil).Decode(t, &out)
		var msgs []string
		for _, e := range out.Notifications.Edges {
			if e.Node.Kind == "INVITATION_ACCEPTED" {
				msgs = append(msgs, e.Node.Message)
			}
		}
		return msgs
	}

	// HR invites Ada, the Owner sends her another invitation, then the
	// system sends a fresh one (she asked for a reset): the Owner invited
	// her last.
	res, _ := a.invite(t, hr, []string{"Ada Lovelace <ada@example.com>"}, "Member", true)
	ada := res.InviteUsers.Users[0].ID
	s.WaitDeliveries(t)
	var resent resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada}).Decode(t, &resent)
	requestReset(t, s, "acme", "ada@example.com")
	s.WaitResets(t)
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "ada@example.com"), 3)
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "ada@example.com").Token(), "ada-password-123").Errors)
	require.Equal(t, []string{"Ada Lovelace (ada@example.com) accepted your invitation."}, accepted(a.tok))
	require.Empty(t, accepted(hr))

	// Eve was only ever invited by the system: nobody is told.
	s.AddPeople(t, a.org, testkit.Person{Email: "eve@example.com", Status: user.StatusInvited})
	requestReset(t, s, "acme", "eve@example.com")
	s.WaitResets(t)
	s.WaitDeliveries(t)
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "eve@example.com").Token(), "eve-password-123").Errors)
	require.Len(t, accepted(a.tok), 1)
	require.Empty(t, accepted(hr))
	log := (&eventLog{a: a})
	evs := log.expect(t, "user.created", "invitation.sent", "bulk_send.completed", "invitation.sent", "invitation.sent",
		"invitation.accepted", "invitation.sent", "invitation.accepted")
	require.Equal(t, fmt.Sprint(a.org.Owner.ID), evs[5].Data["invitedById"])
	require.Nil(t, evs[4].Data["invitedById"], "the system's invitation")
	require.Nil(t, evs[7].Data["invitedById"])
}
