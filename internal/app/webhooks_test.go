package app_test

// Outbound webhooks through the real handler and workers, with receivers on
// loopback. TestWebhooksForAnInvitation follows real changes end to end;
// the other tests write events with event.Log.Record over the app's client,
// as a change's transaction does, and wake fan-out themselves.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/auditevent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/ent/webhookdelivery"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/fakesmtp"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/webhookout"
)

// allowPrivate lets endpoints be loopback receivers.
func allowPrivate(c *config.Config) { c.Webhooks.AllowPrivate = true }

const endpointFields = `id url description eventTypes enabled disabledReason createdAt`

const createEndpoint = `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { secret endpoint { ` + endpointFields + ` } } }`

type endpointJSON struct {
	ID, URL        string
	Description    *string
	EventTypes     []string
	Enabled        bool
	DisabledReason *string
	CreatedAt      time.Time
}

type createdEndpoint struct {
	Secret   string
	Endpoint endpointJSON
}

func (a *admin) createEndpoint(t *testing.T, in map[string]any) createdEndpoint {
	t.Helper()
	var out struct{ CreateWebhookEndpoint createdEndpoint }
	a.s.Query(t, a.tok, createEndpoint, map[string]any{"in": in}).Decode(t, &out)
	return out.CreateWebhookEndpoint
}

// emit writes an event of a's organisation, as a change's transaction
// will, and returns its id.
func emit(t *testing.T, s *testkit.Server, orgID int, typ string, data map[string]any) int {
	t.Helper()
	log := event.New(s.DB.Client, s.Clock, s.DB.Dialect)
	require.NoError(t, log.Record(testkit.System(), s.DB.Client, orgID, event.Event{Type: typ, Data: data}))
	return s.DB.Client.Event.Query().Where(entevent.OrganizationID(orgID)).Order(ent.Desc(entevent.FieldID)).FirstIDX(testkit.System())
}

// await waits for rc's next call, waking s's webhook workers meanwhile.
func await(t *testing.T, s *testkit.Server, rc *testkit.WebhookReceiver) testkit.WebhookCall {
	t.Helper()
	return rc.Await(t, s.Webhooks.Wake)
}

// verify checks c's signature with secret both ways: the Standard Webhooks
// library (its timestamp tolerance aside: the test clock is not the real
// one) and the independent computation of testkit.
func verify(t *testing.T, c testkit.WebhookCall, secret string) bool {
	t.Helper()
	ok, err := c.VerifySignature(secret)
	require.NoError(t, err)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	libErr := wh.VerifyIgnoringTimestamp(c.Body, c.Header)
	require.Equal(t, ok, libErr == nil, "the library and the independent check disagree: %v", libErr)
	return ok
}

func payload(t *testing.T, c testkit.WebhookCall) webhookout.Payload {
	t.Helper()
	var p webhookout.Payload
	require.NoError(t, json.Unmarshal(c.Body, &p))
	return p
}

const attemptsQuery = `{ webhookEndpoints { id attempts(first: 20) { edges { node {
  attempt statusCode error durationMs createdAt nextAttemptAt event { id type } } } } } }`

type attemptJSON struct {
	Attempt       int
	StatusCode    *int
	Error         *string
	DurationMs    *int
	CreatedAt     time.Time
	NextAttemptAt *time.Time
	Event         *struct{ ID, Type string }
}

// attempts returns each endpoint's attempts (newest first), by endpoint id.
func (a *admin) attempts(t *testing.T) map[string][]attemptJSON {
	t.Helper()
	var out struct {
		WebhookEndpoints []struct {
			ID       string
			Attempts struct{ Edges []struct{ Node attemptJSON } }
		}
	}
	a.s.Query(t, a.tok, attemptsQuery, nil).Decode(t, &out)
	m := map[string][]attemptJSON{}
	for _, ep := range out.WebhookEndpoints {
		m[ep.ID] = []attemptJSON{}
		for _, e := range ep.Attempts.Edges {
			m[ep.ID] = append(m[ep.ID], e.Node)
		}
	}
	return m
}

// TestWebhooksForAnInvitation: an invitation sent over SMTP, one address
// bounced by the mail server, the other accepted on the public API. Every
// event of the organisation reaches the endpoint that takes everything,
// once, signed, woken by the commits' announcements alone; the endpoint
// filtered to email.bounced gets the bounce and nothing else.
func TestWebhooksForAnInvitation(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t, allowPrivate)
	fake.Fail(fakesmtp.StageRcpt, "gone@example.com", 1<<30, 550, "5.1.1 User unknown")
	a := signIn(t, s, "acme")
	everything, bounces := testkit.NewWebhookReceiver(t), testkit.NewWebhookReceiver(t)
	all := a.createEndpoint(t, map[string]any{"url": everything.URL})
	filtered := a.createEndpoint(t, map[string]any{"url": bounces.URL, "eventTypes": []string{"email.bounced"}})

	res, resp := a.invite(t, a.tok, []string{"Ada Lovelace <ada@example.com>", "gone@example.com"}, "Member", true)
	require.Empty(t, resp.Errors)
	s.WaitDeliveries(t)
	msgs := fake.MessagesTo("ada@example.com")
	require.Len(t, msgs, 1)
	token := testkit.ParseEmail(t, "ada's invitation", bytes.NewReader(msgs[0].Data)).Token()
	require.NotEmpty(t, token)
	require.Empty(t, accept(s, t, token, "ada-password-123").Errors)

	// Nobody pokes the workers: the commits' announcements wake them.
	calls := map[string]testkit.WebhookCall{}
	seen := func(typ string) bool {
		return slices.ContainsFunc(slices.Collect(maps.Values(calls)), func(c testkit.WebhookCall) bool { return payload(t, c).Type == typ })
	}
	for !seen("invitation.accepted") || !seen("email.bounced") {
		c := everything.Await(t, func() {})
		require.NotContains(t, calls, c.ID, "sent twice")
		require.True(t, verify(t, c, all.Secret))
		calls[c.ID] = c
	}
	bounce := bounces.Await(t, func() {})
	require.True(t, verify(t, bounce, filtered.Secret))
	p := payload(t, bounce)
	require.Equal(t, "email.bounced", p.Type)
	require.Equal(t, "gone@example.com", p.Data["email"])
	require.Contains(t, p.Data["reason"], "User unknown")

	// The rest of the organisation's events, then nothing more.
	waitFannedOut(t, s)
	require.NoError(t, waitIdle(s))
	for _, c := range everything.Drain() {
		require.NotContains(t, calls, c.ID, "sent twice")
		require.True(t, verify(t, c, all.Secret))
		calls[c.ID] = c
	}
	bounces.None(t)
	var want []string
	for _, e := range s.DB.Client.Event.Query().Where(entevent.OrganizationID(a.org.ID)).AllX(testkit.System()) {
		want = append(want, strconv.Itoa(e.ID))
		if c, ok := calls[strconv.Itoa(e.ID)]; ok {
			require.Equal(t, e.Type, payload(t, c).Type)
		}
	}
	require.ElementsMatch(t, want, slices.Collect(maps.Keys(calls)))

	ada := res.InviteUsers.Users[0]
	for _, c := range calls {
		if p := payload(t, c); p.Type == "invitation.accepted" {
			require.Equal(t, ada.ID, p.Data["user"].(map[string]any)["id"])
			require.Equal(t, fmt.Sprint(a.org.Owner.ID), p.Data["invitedById"])
		}
	}
}

// TestWebhookEndpoints: managing endpoints through GraphQL, with the
// permission, tenancy and input rules, the secret shown once, and audit
// events that name no secret.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate, func(c *config.Config) { c.Webhooks.MaxEndpoints = 2 })
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)

	created := a.createEndpoint(t, map[string]any{"url": rc.URL + "/in", "eventTypes": []string{"user.created", "user.created", "email.bounced"},
		"description": "  CRM sync  "})
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, created.Secret)
	ep := created.Endpoint
	require.Equal(t, rc.URL+"/in", ep.URL)
	require.Equal(t, []string{"user.created", "email.bounced"}, ep.EventTypes)
	require.Equal(t, "CRM sync", *ep.Description)
	require.True(t, ep.Enabled)
	require.Nil(t, ep.DisabledReason)
	require.True(t, ep.CreatedAt.Equal(testkit.Epoch))
	all := a.createEndpoint(t, map[string]any{"url": rc.URL + "/all"}).Endpoint
	require.Empty(t, all.EventTypes, "no types: every type")

	// The secret has no field: it is shown only by create and rotate.
	require.Equal(t, "BAD_USER_INPUT", s.Query(t, a.tok, `{ webhookEndpoints { secret } }`, nil).Code())

	var list struct{ WebhookEndpoints []endpointJSON }
	s.Query(t, a.tok, `{ webhookEndpoints { `+endpointFields+` } }`, nil).Decode(t, &list)
	require.Len(t, list.WebhookEndpoints, 2)
	require.Equal(t, ep.ID, list.WebhookEndpoints[0].ID, "oldest first")

	// At most MaxEndpoints per organisation.
	resp := s.Query(t, a.tok, createEndpoint, map[string]any{"in": map[string]any{"url": rc.URL + "/third"}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "at most 2 webhook endpoints")

	const update = `mutation($id: ID!, $in: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $in) { ` + endpointFields + ` } }`
	var up struct{ UpdateWebhookEndpoint endpointJSON }
	s.Query(t, a.tok, update, map[string]any{"id": ep.ID, "in": map[string]any{"eventTypes": []string{}, "description": "", "enabled": false}}).Decode(t, &up)
	require.Empty(t, up.UpdateWebhookEndpoint.EventTypes)
	require.Nil(t, up.UpdateWebhookEndpoint.Description)
	require.False(t, up.UpdateWebhookEndpoint.Enabled)
	require.Equal(t, ep.URL, up.UpdateWebhookEndpoint.URL, "absent fields are kept")
	s.Query(t, a.tok, update, map[string]any{"id": ep.ID, "in": map[string]any{"enabled": true, "url": rc.URL + "/moved"}}).Decode(t, &up)
	require.True(t, up.UpdateWebhookEndpoint.Enabled)
	require.Equal(t, rc.URL+"/moved", up.UpdateWebhookEndpoint.URL)

	// Bad input names its field and changes nothing.
	for _, c := range []struct {
		in    map[string]any
		field string
		msg   string
	}{
		{map[string]any{"eventTypes": []string{"user.created", "user.exploded"}}, "eventTypes", `unknown event type "user.exploded"`},
		{map[string]any{"url": "not a url"}, "url", "absolute URL"},
		{map[string]any{"url": "ftp://example.com/"}, "url", "https"},
		{map[string]any{"description": strings.Repeat("d", 501)}, "description", "at most 500"},
	} {
		resp := s.Query(t, a.tok, update, map[string]any{"id": ep.ID, "in": c.in})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), c.in)
		require.Equal(t, c.field, resp.Errors[0].Extensions["field"], c.in)
		require.Contains(t, resp.Errors[0].Message, c.msg)
	}
	resp = s.Query(t, a.tok, createEndpoint, map[string]any{"in": map[string]any{"url": rc.URL, "eventTypes": []string{"nope"}}})
	require.Equal(t, "eventTypes", resp.Errors[0].Extensions["field"])
	s.Query(t, a.tok, `{ webhookEndpoints { `+endpointFields+` } }`, nil).Decode(t, &list)
	require.Len(t, list.WebhookEndpoints, 2)
	require.Equal(t, rc.URL+"/moved", list.WebhookEndpoints[0].URL)

	const rotate = `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`
	var rot struct{ RotateWebhookSecret struct{ Secret string } }
	s.Query(t, a.tok, rotate, map[string]any{"id": ep.ID}).Decode(t, &rot)
	require.Regexp(t, `^whsec_`, rot.RotateWebhookSecret.Secret)
	require.NotEqual(t, created.Secret, rot.RotateWebhookSecret.Secret)

	// Another organisation's owner: NOT_FOUND for every id of acme's, and
	// an empty list. A person without organization.manage: FORBIDDEN.
	b := signIn(t, s, "bravo")
	const del = `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`
	const redeliver = `mutation($ep: ID!, $ev: ID!) { redeliverWebhookEvent(endpointId: $ep, eventId: $ev) }`
	evID := emit(t, s, a.org.ID, "user.created", nil)
	for _, op := range []struct {
		q    string
		vars map[string]any
	}{
		{update, map[string]any{"id": ep.ID, "in": map[string]any{"enabled": false}}},
		{rotate, map[string]any{"id": ep.ID}},
		{del, map[string]any{"id": ep.ID}},
		{redeliver, map[string]any{"ep": ep.ID, "ev": strconv.Itoa(evID)}},
	} {
		require.Equal(t, "NOT_FOUND", s.Query(t, b.tok, op.q, op.vars).Code(), op.q)
	}
	s.Query(t, b.tok, `{ webhookEndpoints { id } }`, nil).Decode(t, &list)
	require.Empty(t, list.WebhookEndpoints)
	s.AddPeople(t, a.org, testkit.Person{Email: "admin@acme.test", Role: "Admin", Status: user.StatusActive, Password: "admin-password-1"})
	adminTok := s.Login(t, "acme", "admin@acme.test", "admin-password-1")
	require.Equal(t, "FORBIDDEN", s.Query(t, adminTok, `{ webhookEndpoints { id } }`, nil).Code())
	require.Equal(t, "FORBIDDEN", s.Query(t, adminTok, createEndpoint, map[string]any{"in": map[string]any{"url": rc.URL}}).Code())
	require.Equal(t, "FORBIDDEN", s.Query(t, adminTok, del, map[string]any{"id": ep.ID}).Code())
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", `{ webhookEndpoints { id } }`, nil).Code())

	var deleted struct{ DeleteWebhookEndpoint bool }
	s.Query(t, a.tok, del, map[string]any{"id": ep.ID}).Decode(t, &deleted)
	require.True(t, deleted.DeleteWebhookEndpoint)
	require.Equal(t, "NOT_FOUND", s.Query(t, a.tok, del, map[string]any{"id": ep.ID}).Code())

	// Each change is audited, labelled with the URL; no secret anywhere.
	events := s.DB.Client.AuditEvent.Query().Where(auditevent.TargetType("WebhookEndpoint")).
		Order(ent.Asc(auditevent.FieldID)).AllX(testkit.System())
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		require.Equal(t, "owner@acme.test", e.ActorLabel)
		raw, err := json.Marshal(e)
		require.NoError(t, err)
		require.NotContains(t, string(raw), "whsec_")
	}
	require.Equal(t, []string{"webhook_endpoint.created", "webhook_endpoint.created", "webhook_endpoint.updated",
		"webhook_endpoint.updated", "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted"}, actions)
}

// TestWebhookURLsRefused: without ROLLCALL_WEBHOOK_ALLOW_PRIVATE, URLs that
// are not https or lead to non-public addresses are refused when created
// and when changed, and nothing is stored.
func TestWebhookURLsRefused(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	s.StopWorkers() // the public address below is never called
	a := signIn(t, s, "acme")
	for _, u := range []string{
		"http://93.184.216.34/hooks",
		"https://127.0.0.1/hooks",
		"https://localhost:8443/hooks",
		"https://[::1]/",
		"https://[::ffff:127.0.0.1]/",
		"https://10.1.2.3/",
		"https://172.20.0.1/",
		"https://192.168.1.10/",
		"https://169.254.169.254/latest/meta-data/",
		"https://100.64.0.7/",
		"https://[fd00::1]/",
		"https://[fe80::1]/",
		"https://0.0.0.0/",
		"https://user:secret@93.184.216.34/",
		"gopher://93.184.216.34/",
	} {
		resp := s.Query(t, a.tok, createEndpoint, map[string]any{"in": map[string]any{"url": u}})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), u)
		require.Equal(t, "url", resp.Errors[0].Extensions["field"], u)
	}
	require.Zero(t, s.DB.Client.WebhookEndpoint.Query().CountX(testkit.System()))

	// A public address literal is accepted (it resolves to itself: no DNS).
	ep := a.createEndpoint(t, map[string]any{"url": "https://93.184.216.34/hooks"}).Endpoint
	const update = `mutation($id: ID!, $url: String!) { updateWebhookEndpoint(id: $id, input: {url: $url}) { url } }`
	for _, u := range []string{"https://127.0.0.1/", "https://169.254.169.254/", "http://93.184.216.34/"} {
		resp := s.Query(t, a.tok, update, map[string]any{"id": ep.ID, "url": u})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), u)
		require.Equal(t, "url", resp.Errors[0].Extensions["field"])
	}
	stored := s.DB.Client.WebhookEndpoint.Query().OnlyX(testkit.System())
	require.Equal(t, "https://93.184.216.34/hooks", stored.URL)
}

// TestWebhooksDelivered: events reach their subscribed endpoints, signed
// with each endpoint's secret; a filtered endpoint gets only its types;
// attempts are listed newest first with their events.
func TestWebhooksDelivered(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	a := signIn(t, s, "acme")
	other := signIn(t, s, "bravo")
	everything, bounces := testkit.NewWebhookReceiver(t), testkit.NewWebhookReceiver(t)
	all := a.createEndpoint(t, map[string]any{"url": everything.URL})
	filtered := a.createEndpoint(t, map[string]any{"url": bounces.URL, "eventTypes": []string{"email.bounced"}})

	emitted := map[string]int{}
	for _, typ := range []string{"user.created", "email.bounced", "invitation.sent"} {
		s.Clock.Advance(time.Minute)
		emit(t, s, other.org.ID, typ, nil) // another tenant's: never sent here
		id := emit(t, s, a.org.ID, typ, map[string]any{"email": "ada@example.com", "user": map[string]any{"id": "42"}})
		emitted[typ] = id
		c := await(t, s, everything)
		require.Equal(t, strconv.Itoa(id), c.ID)
		p := payload(t, c)
		require.Equal(t, typ, p.Type)
		require.Equal(t, s.Clock.Now().Format(time.RFC3339Nano), p.Timestamp)
		require.Equal(t, "ada@example.com", p.Data["email"])
		require.Equal(t, strconv.FormatInt(s.Clock.Now().Unix(), 10), c.Timestamp)
		require.True(t, verify(t, c, all.Secret))
		require.False(t, verify(t, c, filtered.Secret))
		require.Len(t, strings.Fields(c.Signature), 1)
		if typ == "email.bounced" {
			c := await(t, s, bounces)
			require.Equal(t, strconv.Itoa(id), c.ID)
			require.True(t, verify(t, c, filtered.Secret))
		}
		// Recorded before the clock jumps past the calls' lease.
		require.NoError(t, waitIdle(s))
	}
	// Every event read, nothing else sent.
	waitFannedOut(t, s)
	require.NoError(t, waitIdle(s))
	everything.None(t)
	bounces.None(t)

	got := a.attempts(t)
	var types []string
	for i, at := range got[all.Endpoint.ID] {
		types = append(types, at.Event.Type)
		require.Equal(t, 1, at.Attempt)
		require.Equal(t, 200, *at.StatusCode)
		require.Nil(t, at.Error)
		require.NotNil(t, at.DurationMs)
		require.Nil(t, at.NextAttemptAt)
		if i > 0 {
			require.True(t, at.CreatedAt.Before(got[all.Endpoint.ID][i-1].CreatedAt))
		}
	}
	require.Equal(t, []string{"invitation.sent", "email.bounced", "user.created"}, types, "newest first")
	require.Len(t, got[filtered.Endpoint.ID], 1)
	require.Equal(t, strconv.Itoa(emitted["email.bounced"]), got[filtered.Endpoint.ID][0].Event.ID)

	// Pages of attempts follow the same order.
	var page struct {
		WebhookEndpoints []struct {
			Attempts struct {
				Edges []struct {
					Node struct{ Event struct{ Type string } }
				}
				PageInfo struct {
					EndCursor   string
					HasNextPage bool
				}
			}
		}
	}
	s.Query(t, a.tok, `{ webhookEndpoints { attempts(first: 2) { edges { node { event { type } } } pageInfo { endCursor hasNextPage } } } }`, nil).Decode(t, &page)
	first := page.WebhookEndpoints[0].Attempts
	require.True(t, first.PageInfo.HasNextPage)
	s.Query(t, a.tok, `query($after: Cursor) { webhookEndpoints { attempts(first: 2, after: $after) { edges { node { event { type } } } pageInfo { endCursor hasNextPage } } } }`,
		map[string]any{"after": first.PageInfo.EndCursor}).Decode(t, &page)
	rest := page.WebhookEndpoints[0].Attempts
	require.Len(t, rest.Edges, 1)
	require.Equal(t, "user.created", rest.Edges[0].Node.Event.Type)
	require.False(t, rest.PageInfo.HasNextPage)
}

// waitFannedOut waits until fan-out has read the log to its last event.
func waitFannedOut(t *testing.T, s *testkit.Server) {
	t.Helper()
	last := s.DB.Client.Event.Query().Order(ent.Desc(entevent.FieldID)).FirstIDX(testkit.System())
	deadline := time.Now().Add(30 * time.Second)
	for s.DB.Client.WebhookCursor.Query().OnlyX(testkit.System()).EventID != last {
		require.True(t, time.Now().Before(deadline), "fan-out never read event %d", last)
		s.Webhooks.Wake()
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until no delivery is due now or held by a worker.
func waitIdle(s *testkit.Server) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := s.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING),
			webhookdelivery.Or(webhookdelivery.NextAttemptAtIsNil(), webhookdelivery.NextAttemptAtLTE(s.Clock.Now()))).
			CountX(testkit.System())
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d webhook deliveries still due", n)
		}
		s.Webhooks.Wake()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhookRetries: a failed call is retried on the schedule with the
// same webhook-id until it succeeds; every attempt is recorded; with the
// schedule used up the event is given up.
func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate, func(c *config.Config) {
		c.Webhooks.Retry = []time.Duration{5 * time.Second, 5 * time.Minute}
	})
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL})
	answers := make(chan int, 10)
	rc.Respond(func(w http.ResponseWriter, _ *http.Request, _ testkit.WebhookCall) {
		code := http.StatusOK
		select {
		case code = <-answers:
		default:
		}
		w.WriteHeader(code)
		if code != http.StatusOK {
			fmt.Fprint(w, "upstream \x00broken")
		}
	})

	answers <- http.StatusInternalServerError
	id := emit(t, s, a.org.ID, "user.created", nil)
	first := await(t, s, rc)
	require.Equal(t, strconv.Itoa(id), first.ID)
	require.NoError(t, waitIdle(s))
	got := a.attempts(t)[ep.Endpoint.ID]
	require.Len(t, got, 1)
	require.Equal(t, 500, *got[0].StatusCode)
	require.Equal(t, "HTTP 500: upstream broken", *got[0].Error)
	require.True(t, got[0].NextAttemptAt.Equal(s.Clock.Now().Add(5*time.Second)))

	// Not before it is due; then with the same id, and signed again.
	rc.None(t)
	s.Clock.Advance(5 * time.Second)
	second := await(t, s, rc)
	require.Equal(t, first.ID, second.ID)
	require.Equal(t, first.Body, second.Body)
	require.Equal(t, strconv.FormatInt(s.Clock.Now().Unix(), 10), second.Timestamp)
	require.True(t, verify(t, second, ep.Secret))
	require.NoError(t, waitIdle(s))
	got = a.attempts(t)[ep.Endpoint.ID]
	require.Len(t, got, 2)
	require.Equal(t, 2, got[0].Attempt)
	require.Equal(t, 200, *got[0].StatusCode)
	require.Nil(t, got[0].NextAttemptAt)
	d := s.DB.Client.WebhookDelivery.Query().OnlyX(testkit.System())
	require.Equal(t, webhookdelivery.StatusDELIVERED, d.Status)

	// An event failing every time: tried three times (the first call and
	// two retries), then given up.
	for range 3 {
		answers <- http.StatusServiceUnavailable
	}
	id = emit(t, s, a.org.ID, "user.deleted", nil)
	await(t, s, rc)
	require.NoError(t, waitIdle(s)) // recorded before the clock moves
	s.Clock.Advance(5 * time.Second)
	await(t, s, rc)
	require.NoError(t, waitIdle(s))
	s.Clock.Advance(5 * time.Minute)
	last := await(t, s, rc)
	require.Equal(t, strconv.Itoa(id), last.ID)
	require.NoError(t, waitIdle(s))
	got = a.attempts(t)[ep.Endpoint.ID]
	require.Equal(t, 3, got[0].Attempt)
	require.Equal(t, 503, *got[0].StatusCode)
	require.Nil(t, got[0].NextAttemptAt, "given up")
	require.Equal(t, webhookdelivery.StatusFAILED, s.DB.Client.WebhookDelivery.Query().
		Where(webhookdelivery.EventID(id)).OnlyX(testkit.System()).Status)
	s.Clock.Advance(24 * time.Hour)
	s.Webhooks.Wake()
	require.NoError(t, waitIdle(s))
	rc.None(t)
}

// TestWebhookTimeout: an endpoint that does not answer within the timeout
// is a failed attempt, retried.
func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate, func(c *config.Config) { c.Webhooks.Timeout = 300 * time.Millisecond })
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL})
	rc.Respond(func(_ http.ResponseWriter, r *http.Request, _ testkit.WebhookCall) { <-r.Context().Done() })
	emit(t, s, a.org.ID, "user.created", nil)
	await(t, s, rc)
	deadline := time.Now().Add(30 * time.Second)
	for s.DB.Client.WebhookAttempt.Query().CountX(testkit.System()) == 0 {
		require.True(t, time.Now().Before(deadline), "no attempt recorded")
		time.Sleep(10 * time.Millisecond)
	}
	got := a.attempts(t)[ep.Endpoint.ID]
	require.Nil(t, got[0].StatusCode)
	require.Equal(t, "no answer within 300ms", *got[0].Error)
	require.GreaterOrEqual(t, *got[0].DurationMs, 300)
	require.True(t, got[0].NextAttemptAt.Equal(s.Clock.Now().Add(5*time.Second)))
}

// TestWebhookGoneDisables: a 410 disables the endpoint with a reason; it
// gets nothing more until an administrator enables it again.
func TestWebhookGoneDisables(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL})
	rc.Respond(func(w http.ResponseWriter, _ *http.Request, _ testkit.WebhookCall) { w.WriteHeader(http.StatusGone) })
	emit(t, s, a.org.ID, "user.created", nil)
	await(t, s, rc)
	require.NoError(t, waitIdle(s))

	var list struct{ WebhookEndpoints []endpointJSON }
	a.s.Query(t, a.tok, `{ webhookEndpoints { `+endpointFields+` } }`, nil).Decode(t, &list)
	require.False(t, list.WebhookEndpoints[0].Enabled)
	require.Equal(t, "the endpoint answered 410 Gone", *list.WebhookEndpoints[0].DisabledReason)
	got := a.attempts(t)[ep.Endpoint.ID]
	require.Equal(t, 410, *got[0].StatusCode)
	require.Nil(t, got[0].NextAttemptAt)
	audit := s.DB.Client.AuditEvent.Query().Where(auditevent.Action("webhook_endpoint.disabled")).OnlyX(testkit.System())
	require.Equal(t, "system", audit.ActorLabel)

	// Disabled: later events are not queued for it.
	rc.Respond(nil)
	later := emit(t, s, a.org.ID, "user.updated", nil)
	waitFannedOut(t, s)
	require.Zero(t, s.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EventID(later)).CountX(testkit.System()))

	// Enabled again: the reason goes, and new events flow.
	var up struct{ UpdateWebhookEndpoint endpointJSON }
	s.Query(t, a.tok, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) { `+endpointFields+` } }`,
		map[string]any{"id": ep.Endpoint.ID}).Decode(t, &up)
	require.True(t, up.UpdateWebhookEndpoint.Enabled)
	require.Nil(t, up.UpdateWebhookEndpoint.DisabledReason)
	s.Clock.Advance(time.Second)
	id := emit(t, s, a.org.ID, "user.deleted", nil)
	require.Equal(t, strconv.Itoa(id), await(t, s, rc).ID)
}

// TestWebhookSecretRotation: after a rotation both secrets sign, for 24
// hours; then only the new one.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL})
	var rot struct{ RotateWebhookSecret struct{ Secret string } }
	s.Query(t, a.tok, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`,
		map[string]any{"id": ep.Endpoint.ID}).Decode(t, &rot)
	newSecret := rot.RotateWebhookSecret.Secret

	emit(t, s, a.org.ID, "user.created", nil)
	c := await(t, s, rc)
	require.Len(t, strings.Fields(c.Signature), 2, "two signatures during the overlap")
	require.True(t, verify(t, c, newSecret))
	require.True(t, verify(t, c, ep.Secret))
	require.NoError(t, waitIdle(s)) // recorded before the clock moves

	s.Clock.Advance(23*time.Hour + 59*time.Minute)
	emit(t, s, a.org.ID, "user.updated", nil)
	c = await(t, s, rc)
	require.True(t, verify(t, c, ep.Secret), "still within 24 hours")
	require.NoError(t, waitIdle(s))

	s.Clock.Advance(time.Minute)
	emit(t, s, a.org.ID, "user.deleted", nil)
	c = await(t, s, rc)
	require.Len(t, strings.Fields(c.Signature), 1)
	require.True(t, verify(t, c, newSecret))
	require.False(t, verify(t, c, ep.Secret), "the old secret no longer signs")
}

// TestWebhookReplicaStopsMidCall: a replica whose workers stop during a
// call (as in a crash: nothing recorded) leaves the delivery to its lease;
// another replica sends it once the lease lapses. The receiver sees the
// event twice: at most one extra call per call cut off (a crash, or a lease
// lost before the outcome was recorded).
func TestWebhookReplicaStopsMidCall(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	a := signIn(t, s, "acme")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL})
	arrived := make(chan struct{}, 1)
	rc.Respond(func(w http.ResponseWriter, r *http.Request, _ testkit.WebhookCall) {
		arrived <- struct{}{}
		<-r.Context().Done() // hangs until the caller goes away
	})
	id := emit(t, s, a.org.ID, "user.created", nil)
	first := await(t, s, rc)
	<-arrived
	s.StopWorkers() // the call is cut off; nothing is recorded
	require.Zero(t, s.DB.Client.WebhookAttempt.Query().CountX(testkit.System()))
	d := s.DB.Client.WebhookDelivery.Query().OnlyX(testkit.System())
	require.NotNil(t, d.LeasedBy, "still held by the stopped replica")

	rc.Respond(nil)
	other := s.Replica(t, true, allowPrivate)
	other.Webhooks.Wake()
	rc.None(t) // not while the lease holds (it is on the test clock)
	s.Clock.Advance(31 * time.Second)
	second := await(t, other, rc)
	require.Equal(t, first.ID, second.ID)
	require.Equal(t, strconv.Itoa(id), second.ID)
	require.True(t, verify(t, second, ep.Secret))
	require.NoError(t, waitIdle(other))
	got := a.attempts(t)[ep.Endpoint.ID]
	require.Len(t, got, 1)
	require.Equal(t, 2, got[0].Attempt, "the cut-off call counted as an attempt")
	require.Equal(t, 200, *got[0].StatusCode)
}

// TestWebhookFanOutOnce: with two replicas fanning out and delivering at
// once, each (endpoint, event) becomes one delivery and one call.
func TestWebhookFanOutOnce(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	r := s.Replica(t, true, allowPrivate)
	a := signIn(t, s, "acme")
	rcs := []*testkit.WebhookReceiver{testkit.NewWebhookReceiver(t), testkit.NewWebhookReceiver(t)}
	for _, rc := range rcs {
		a.createEndpoint(t, map[string]any{"url": rc.URL})
	}
	// Both replicas are woken for every event and race over the cursor.
	const n = 40
	for i := range n {
		emit(t, []*testkit.Server{s, r}[i%2], a.org.ID, "user.created", map[string]any{"n": i})
		s.Webhooks.Wake()
		r.Webhooks.Wake()
	}
	seen := map[string]int{}
	for _, rc := range rcs {
		for range n {
			seen[rc.URL+" "+rc.Await(t, func() { s.Webhooks.Wake(); r.Webhooks.Wake() }).ID]++
		}
	}
	waitFannedOut(t, s)
	require.NoError(t, waitIdle(s))
	for _, rc := range rcs {
		rc.None(t)
	}
	require.Len(t, seen, 2*n)
	for k, v := range seen {
		require.Equal(t, 1, v, k)
	}
	require.Equal(t, 2*n, s.DB.Client.WebhookDelivery.Query().CountX(testkit.System()))
	require.Equal(t, 2*n, s.DB.Client.WebhookAttempt.Query().CountX(testkit.System()))
}

// TestWebhookRedeliver: an event delivered is sent again on request, with a
// fresh schedule; also one the endpoint never got. Unknown and foreign ids
// are NOT_FOUND; a disabled endpoint is refused.
func TestWebhookRedeliver(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, allowPrivate)
	a := signIn(t, s, "acme")
	b := signIn(t, s, "bravo")
	rc := testkit.NewWebhookReceiver(t)
	ep := a.createEndpoint(t, map[string]any{"url": rc.URL, "eventTypes": []string{"user.created"}})
	id := emit(t, s, a.org.ID, "user.created", nil)
	first := await(t, s, rc)
	require.NoError(t, waitIdle(s))

	const redeliver = `mutation($ep: ID!, $ev: ID!) { redeliverWebhookEvent(endpointId: $ep, eventId: $ev) }`
	var ok struct{ RedeliverWebhookEvent bool }
	s.Clock.Advance(time.Hour)
	s.Query(t, a.tok, redeliver, map[string]any{"ep": ep.Endpoint.ID, "ev": strconv.Itoa(id)}).Decode(t, &ok)
	require.True(t, ok.RedeliverWebhookEvent)
	again := await(t, s, rc)
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, first.Body, again.Body)
	require.NotEqual(t, first.Timestamp, again.Timestamp)
	require.NoError(t, waitIdle(s))
	got := a.attempts(t)[ep.Endpoint.ID]
	require.Len(t, got, 2)
	require.Equal(t, 1, got[0].Attempt, "a redelivery starts a new round")

	// An event of a type the endpoint does not take: sent on request.
	skipped := emit(t, s, a.org.ID, "user.deleted", nil)
	waitFannedOut(t, s)
	s.Query(t, a.tok, redeliver, map[string]any{"ep": ep.Endpoint.ID, "ev": strconv.Itoa(skipped)}).Decode(t, &ok)
	require.Equal(t, strconv.Itoa(skipped), await(t, s, rc).ID)

	foreign := emit(t, s, b.org.ID, "user.created", nil)
	for _, vars := range []map[string]any{
		{"ep": ep.Endpoint.ID, "ev": strconv.Itoa(foreign)},
		{"ep": ep.Endpoint.ID, "ev": "999999"},
		{"ep": "123", "ev": strconv.Itoa(id)},
	} {
		require.Equal(t, "NOT_FOUND", s.Query(t, a.tok, redeliver, vars).Code(), vars)
	}
	s.Query(t, a.tok, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: false}) { id } }`,
		map[string]any{"id": ep.Endpoint.ID}).Decode(t, &struct{}{})
	resp := s.Query(t, a.tok, redeliver, map[string]any{"ep": ep.Endpoint.ID, "ev": strconv.Itoa(id)})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "endpointId", resp.Errors[0].Extensions["field"])
	require.True(t, slices.ContainsFunc(s.DB.Client.AuditEvent.Query().AllX(testkit.System()),
		func(e *ent.AuditEvent) bool { return e.Action == "webhook_endpoint.redelivered" }))
}
