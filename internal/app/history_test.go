package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// adaQuery answers "why did Ada not get her invitation?" in one query.
const adaQuery = `query($id: ID!) { node(id: $id) { ... on User { email emails { edges { cursor node {
  id kind status reason sentAt email user { email } bulkSend { id trigger } } } pageInfo { hasNextPage endCursor } } } } }`

type emailPage struct {
	Edges []struct {
		Cursor string
		Node   struct {
			ID, Status, Email string
			Kind, Reason      *string
			SentAt            *time.Time
			User              *struct{ Email string }
			BulkSend          *struct{ ID, Trigger string }
		}
	}
	PageInfo struct {
		HasNextPage bool
		EndCursor   *string
	}
}

type sendCounters struct {
	ID, Status, Kind, Trigger                             string
	Sent, Failed, Skipped, Delivered, Bounced, Complained int
	CreatedBy                                             *struct{ Email string }
}

const sendsQuery = `query($first: Int, $after: Cursor, $where: BulkSendWhereInput) {
  bulkSends(first: $first, after: $after, where: $where) { edges { node {
    id status kind trigger sent failed skipped delivered bounced complained createdBy { email } } }
    pageInfo { hasNextPage endCursor } } }`

type sendsPage struct {
	BulkSends struct {
		Edges    []struct{ Node sendCounters }
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

func (a *admin) bulkSends(t *testing.T, tok string, vars map[string]any) sendsPage {
	t.Helper()
	resp := a.s.Query(t, tok, sendsQuery, vars)
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	var out sendsPage
	resp.Decode(t, &out)
	return out
}

func sendIDs(p sendsPage) []string {
	var ids []string
	for _, e := range p.BulkSends.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

// TestEmailHistory: a send whose message to Ada bounced is explained by
// Ada's emails; the send's counters follow the provider's later reports,
// replayed and concurrent ones included; bulkSends and imports list, filter
// and page newest first; other tenants and viewers without people.read see
// nothing; no secret is in the schema.
func TestEmailHistory(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	a := signIn(t, s, "acme")
	people := s.AddPeople(t, a.org,
		testkit.Person{Email: "ada@example.com", FirstName: "Ada"},
		testkit.Person{Email: "bob@example.com"},
		testkit.Person{Email: "carol@example.com"},
		testkit.Person{Email: "dan@example.com", Status: user.StatusDeactivated},
		testkit.Person{Email: "member@example.com", Status: user.StatusActive, Password: "member-password-1"},
	)
	ada, dan := fmt.Sprint(people[0].ID), fmt.Sprint(people[3].ID)

	manual := a.send(t, map[string]any{"where": map[string]any{"emailIn": []string{
		"ada@example.com", "bob@example.com", "carol@example.com", "dan@example.com"}}}).SendInvitations.BulkSend
	s.WaitDeliveries(t)

	// The provider's reports: Ada's bounced (sent five times at once, and
	// a weaker "delivered" after it), Bob's delivered then complained of,
	// Carol's delivered (twice).
	now := s.Clock.Now()
	event := func(kind, severity, to string) []byte {
		got := mg.MessagesTo(to)
		require.Len(t, got, 1, to)
		return mailgunEvent(t, webhookKey, now, webhookToken(), map[string]any{
			"event": kind, "severity": severity, "timestamp": float64(now.UnixMicro()) / 1e6, "recipient": to,
			"user-variables":  map[string]any{"delivery_id": got[0].Variables["delivery_id"]},
			"message":         map[string]any{"headers": map[string]any{"message-id": got[0].ID}},
			"delivery-status": map[string]any{"message": "550 5.1.1 mailbox unavailable"},
		})
	}
	post := func(bodies ...[]byte) {
		t.Helper()
		statuses := make([]int, len(bodies))
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() {
				res, err := http.Post(s.URL+"/webhooks/mailgun", "application/json", strings.NewReader(string(b)))
				if err == nil {
					statuses[i] = res.StatusCode
					res.Body.Close()
				}
			})
		}
		wg.Wait()
		for _, st := range statuses {
			require.Equal(t, http.StatusOK, st)
		}
	}
	post(event("delivered", "", "bob@example.com"), event("delivered", "", "carol@example.com"),
		event("delivered", "", "carol@example.com"),
		event("failed", "permanent", "ada@example.com"), event("failed", "permanent", "ada@example.com"),
		event("failed", "permanent", "ada@example.com"), event("failed", "permanent", "ada@example.com"),
		event("failed", "permanent", "ada@example.com"))
	post(event("complained", "", "bob@example.com"), event("delivered", "", "ada@example.com"))

	t.Run("why Ada did not get her invitation, in one query", func(t *testing.T) {
		var data struct{ Node struct{ Emails emailPage } }
		resp := s.Query(t, a.tok, adaQuery, map[string]any{"id": ada})
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
		resp.Decode(t, &data)
		require.Len(t, data.Node.Emails.Edges, 1)
		e := data.Node.Emails.Edges[0].Node
		require.Equal(t, "INVITATION", *e.Kind)
		require.Equal(t, "BOUNCED", e.Status)
		require.Equal(t, "550 5.1.1 mailbox unavailable", *e.Reason)
		require.NotNil(t, e.SentAt)
		require.Equal(t, "ada@example.com", e.Email)
		require.Equal(t, "ada@example.com", e.User.Email)
		require.Equal(t, manual.ID, e.BulkSend.ID)
		require.Equal(t, "MANUAL", e.BulkSend.Trigger)

		// A skipped person got nothing: no kind, and the reason.
		resp = s.Query(t, a.tok, adaQuery, map[string]any{"id": dan})
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
		resp.Decode(t, &data)
		require.Len(t, data.Node.Emails.Edges, 1)
		e = data.Node.Emails.Edges[0].Node
		require.Nil(t, e.Kind)
		require.Equal(t, "SKIPPED", e.Status)
		require.NotEmpty(t, *e.Reason)
	})

	t.Run("the send's counters follow the reports", func(t *testing.T) {
		got := a.bulkSends(t, a.tok, map[string]any{"where": map[string]any{"id": manual.ID}})
		require.Len(t, got.BulkSends.Edges, 1)
		c := got.BulkSends.Edges[0].Node
		require.Equal(t, sendCounters{ID: manual.ID, Status: "COMPLETED", Kind: "AUTO", Trigger: "MANUAL",
			Sent: 3, Skipped: 1, Delivered: 1, Bounced: 1, Complained: 1, CreatedBy: &struct{ Email string }{"owner@acme.test"}}, c)
	})

	t.Run("a send's deliveries, by status and page", func(t *testing.T) {
		const q = `query($id: ID!, $status: [DeliveryStatus!], $first: Int, $after: Cursor) { node(id: $id) { ... on BulkSend {
		  deliveries(status: $status, first: $first, after: $after) { edges { cursor node { id email status bulkSend { id } } }
		  pageInfo { hasNextPage endCursor } } } } }`
		var data struct {
			Node struct{ Deliveries emailPage }
		}
		read := func(vars map[string]any) emailPage {
			t.Helper()
			vars["id"] = manual.ID
			resp := s.Query(t, a.tok, q, vars)
			require.Empty(t, resp.Errors, "%+v", resp.Errors)
			resp.Decode(t, &data)
			return data.Node.Deliveries
		}
		emails := func(p emailPage) []string {
			var out []string
			for _, e := range p.Edges {
				out = append(out, e.Node.Email)
			}
			return out
		}
		// Newest first: the deliveries were written in id order.
		require.Equal(t, []string{"dan@example.com", "carol@example.com", "bob@example.com", "ada@example.com"},
			emails(read(map[string]any{})))
		require.Equal(t, []string{"bob@example.com", "ada@example.com"},
			emails(read(map[string]any{"status": []string{"BOUNCED", "COMPLAINED"}})))
		var walked []string
		var after any
		for range 4 {
			p := read(map[string]any{"first": 1, "after": after})
			walked = append(walked, emails(p)...)
			if !p.PageInfo.HasNextPage {
				break
			}
			after = *p.PageInfo.EndCursor
		}
		require.Equal(t, []string{"dan@example.com", "carol@example.com", "bob@example.com", "ada@example.com"}, walked)
		require.Equal(t, "BAD_USER_INPUT", s.Query(t, a.tok, q, map[string]any{"id": manual.ID, "first": -1}).Code())
	})

	// Two imports, the second inviting its people: an IMPORT send.
	s.Clock.Advance(time.Minute)
	first, resp := a.importCSV(t, a.tok, "email\nerin@example.com\nnot-an-address\n", nil)
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	s.Clock.Advance(time.Minute)
	second, resp := a.importCSV(t, a.tok, "email\nfay@example.com\ngus@example.com\n", map[string]any{"sendInvitations": true})
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	require.NotNil(t, second.ImportUsers.BulkSend)
	imported := second.ImportUsers.BulkSend.ID
	s.WaitDeliveries(t)

	t.Run("bulkSends list, filter and page, newest first", func(t *testing.T) {
		all := a.bulkSends(t, a.tok, map[string]any{})
		require.Equal(t, []string{imported, manual.ID}, sendIDs(all))
		require.Equal(t, "IMPORT", all.BulkSends.Edges[0].Node.Trigger)
		for _, tt := range []struct {
			where map[string]any
			want  []string
		}{
			{map[string]any{"trigger": "IMPORT"}, []string{imported}},
			{map[string]any{"trigger": "MANUAL"}, []string{manual.ID}},
			{map[string]any{"triggerIn": []string{"REMINDER", "SCIM"}}, nil},
			{map[string]any{"kind": "INVITATION"}, []string{imported}},
			{map[string]any{"kind": "AUTO", "status": "COMPLETED"}, []string{manual.ID}},
			{map[string]any{"status": "RUNNING"}, nil},
			{map[string]any{"hasCreatedByWith": []any{map[string]any{"email": "owner@acme.test"}}}, []string{imported, manual.ID}},
			{map[string]any{"hasCreatedByWith": []any{map[string]any{"email": "bob@example.com"}}}, nil},
		} {
			require.Equal(t, tt.want, sendIDs(a.bulkSends(t, a.tok, map[string]any{"where": tt.where})), "%v", tt.where)
		}
		page := a.bulkSends(t, a.tok, map[string]any{"first": 1})
		require.Equal(t, []string{imported}, sendIDs(page))
		require.True(t, page.BulkSends.PageInfo.HasNextPage)
		page = a.bulkSends(t, a.tok, map[string]any{"first": 1, "after": *page.BulkSends.PageInfo.EndCursor})
		require.Equal(t, []string{manual.ID}, sendIDs(page))
		require.False(t, page.BulkSends.PageInfo.HasNextPage)
	})

	t.Run("imports list and page, newest first", func(t *testing.T) {
		const q = `query($first: Int, $after: Cursor) { imports(first: $first, after: $after) { edges { node {
		  id createdAt filename created updated unchanged rejected createdBy { email } } } pageInfo { hasNextPage endCursor } } }`
		type imp struct {
			ID, Filename                          string
			Created, Updated, Unchanged, Rejected int
			CreatedBy                             struct{ Email string }
		}
		var data struct {
			Imports struct {
				Edges    []struct{ Node imp }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		resp := s.Query(t, a.tok, q, nil)
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
		resp.Decode(t, &data)
		require.Len(t, data.Imports.Edges, 2)
		owner := struct{ Email string }{"owner@acme.test"}
		require.Equal(t, imp{ID: second.ImportUsers.Import.ID, Filename: "people.csv", Created: 2, CreatedBy: owner}, data.Imports.Edges[0].Node)
		require.Equal(t, imp{ID: first.ImportUsers.Import.ID, Filename: "people.csv", Created: 1, Rejected: 1, CreatedBy: owner}, data.Imports.Edges[1].Node)
		s.Query(t, a.tok, q, map[string]any{"first": 1}).Decode(t, &data)
		require.Equal(t, second.ImportUsers.Import.ID, data.Imports.Edges[0].Node.ID)
		require.True(t, data.Imports.PageInfo.HasNextPage)
		s.Query(t, a.tok, q, map[string]any{"first": 1, "after": *data.Imports.PageInfo.EndCursor}).Decode(t, &data)
		require.Len(t, data.Imports.Edges, 1)
		require.Equal(t, first.ImportUsers.Import.ID, data.Imports.Edges[0].Node.ID)
		require.False(t, data.Imports.PageInfo.HasNextPage)
	})

	// Ada's delivery, as a node.
	var adaData struct{ Node struct{ Emails emailPage } }
	s.Query(t, a.tok, adaQuery, map[string]any{"id": ada}).Decode(t, &adaData)
	adaDelivery := adaData.Node.Emails.Edges[0].Node.ID
	const deliveryNode = `query($id: ID!) { node(id: $id) { id ... on Delivery { status } } }`

	t.Run("a delivery is a node", func(t *testing.T) {
		var data struct {
			Node *struct {
				ID, Status, Kind, Reason string
				User                     struct{ Email string }
				BulkSend                 struct{ ID string }
			}
		}
		resp := s.Query(t, a.tok, `query($id: ID!) { node(id: $id) { id ... on Delivery { status kind reason user { email } bulkSend { id } } } }`,
			map[string]any{"id": adaDelivery})
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
		resp.Decode(t, &data)
		require.NotNil(t, data.Node)
		require.Equal(t, "BOUNCED", data.Node.Status)
		require.Equal(t, "INVITATION", data.Node.Kind)
		require.Equal(t, "550 5.1.1 mailbox unavailable", data.Node.Reason)
		require.Equal(t, "ada@example.com", data.Node.User.Email)
		require.Equal(t, manual.ID, data.Node.BulkSend.ID)
	})

	t.Run("another tenant sees nothing of it", func(t *testing.T) {
		other := signIn(t, s, "other")
		var data struct{ Node *struct{ ID string } }
		for _, id := range []string{adaDelivery, manual.ID, ada} {
			s.Query(t, other.tok, deliveryNode, map[string]any{"id": id}).Decode(t, &data)
			require.Nil(t, data.Node, id)
		}
		require.Empty(t, other.bulkSends(t, other.tok, map[string]any{}).BulkSends.Edges)
		require.Empty(t, other.bulkSends(t, other.tok, map[string]any{"where": map[string]any{"id": manual.ID}}).BulkSends.Edges)
		var imports struct{ Imports struct{ Edges []any } }
		s.Query(t, other.tok, `{ imports { edges { node { id } } } }`, nil).Decode(t, &imports)
		require.Empty(t, imports.Imports.Edges)
	})

	t.Run("without people.read: FORBIDDEN or nothing", func(t *testing.T) {
		member := s.Login(t, "acme", "member@example.com", "member-password-1")
		for _, q := range []string{
			`{ bulkSends { edges { node { id } } } }`,
			`{ imports { edges { node { id } } } }`,
			`{ viewer { emails { edges { node { id } } } } }`,
		} {
			require.Equal(t, "FORBIDDEN", s.Query(t, member, q, nil).Code(), q)
		}
		var data struct{ Node *struct{ ID string } }
		s.Query(t, member, deliveryNode, map[string]any{"id": adaDelivery}).Decode(t, &data)
		require.Nil(t, data.Node)
		// The send itself is readable (as before), its deliveries are not.
		resp := s.Query(t, member, `query($id: ID!) { bulkSend(id: $id) { deliveries { edges { node { id } } } } }`,
			map[string]any{"id": manual.ID})
		require.Equal(t, "FORBIDDEN", resp.Code())
	})

	t.Run("no secret of a delivery is in the schema", func(t *testing.T) {
		var data struct {
			Type struct{ Fields []struct{ Name string } } `json:"__type"`
		}
		s.Query(t, a.tok, `{ __type(name: "Delivery") { fields { name } } }`, nil).Decode(t, &data)
		var names []string
		for _, f := range data.Type.Fields {
			names = append(names, f.Name)
		}
		require.ElementsMatch(t, []string{"id", "kind", "status", "email", "user", "bulkSend", "reason",
			"createdAt", "sentAt", "updatedAt"}, names)
		for _, ty := range []string{"DeliveryWhereInput", "DeliveryOrder"} {
			var found struct {
				Type *struct{ Name string } `json:"__type"`
			}
			s.Query(t, a.tok, `query($n: String!) { __type(name: $n) { name } }`, map[string]any{"n": ty}).Decode(t, &found)
			require.Nil(t, found.Type, ty)
		}
	})
}

// TestDeliveryReportsRace: reports of one email arriving together (delivered,
// bounced and complained at once, each twice) leave it in the strongest
// state and the send's counters equal to its deliveries' states.
func TestDeliveryReportsRace(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	a := signIn(t, s, "acme")
	const n = 20
	var seeds []testkit.Person
	for i := range n {
		seeds = append(seeds, testkit.Person{Email: fmt.Sprintf("p%02d@example.com", i)})
	}
	s.AddPeople(t, a.org, seeds...)
	send := a.send(t, map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}}).SendInvitations.BulkSend
	s.WaitDeliveries(t)
	now := s.Clock.Now()
	var bodies [][]byte
	for _, p := range seeds {
		got := mg.MessagesTo(p.Email)
		require.Len(t, got, 1)
		for _, kind := range []string{"delivered", "failed", "complained", "delivered", "failed", "complained"} {
			bodies = append(bodies, mailgunEvent(t, webhookKey, now, webhookToken(), map[string]any{
				"event": kind, "severity": "permanent", "timestamp": float64(now.UnixMicro()) / 1e6, "recipient": p.Email,
				"user-variables": map[string]any{"delivery_id": got[0].Variables["delivery_id"]},
			}))
		}
	}
	statuses := make([]int, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			res, err := http.Post(s.URL+"/webhooks/mailgun", "application/json", strings.NewReader(string(b)))
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, st := range statuses {
		require.Equal(t, http.StatusOK, st)
	}
	got := a.bulkSends(t, a.tok, map[string]any{"where": map[string]any{"id": send.ID}}).BulkSends.Edges[0].Node
	require.Equal(t, [4]int{n, 0, 0, n}, [4]int{got.Sent, got.Delivered, got.Bounced, got.Complained})
}

// TestBulkSendTrigger: what started a send is recorded: sendInvitations and
// inviteUsers are MANUAL, importUsers' invitations IMPORT.
func TestBulkSendTrigger(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	invited, resp := a.invite(t, a.tok, []string{"ivy@example.com"}, "Member", true)
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	a.s.Clock.Advance(time.Second)
	imported, resp := a.importCSV(t, a.tok, "email\njon@example.com\n", map[string]any{"sendInvitations": true})
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	a.s.Clock.Advance(time.Second)
	sent := a.send(t, map[string]any{"userIds": []string{invited.InviteUsers.Users[0].ID}}).SendInvitations.BulkSend
	got := map[string]string{}
	for _, e := range a.bulkSends(t, a.tok, nil).BulkSends.Edges {
		got[e.Node.ID] = e.Node.Trigger
	}
	require.Equal(t, map[string]string{invited.InviteUsers.BulkSend.ID: "MANUAL", imported.ImportUsers.BulkSend.ID: "IMPORT",
		sent.ID: "MANUAL"}, got)
}
