package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// sseEvent is one event of a graphql-sse stream: "next" with a result, or
// "complete".
type sseEvent struct {
	Event string
	Data  wsResult
}

// sseStream is an open graphql-sse (distinct connections mode) operation.
type sseStream struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
}

// sseRequest POSTs an operation asking for an event stream.
func sseRequest(t *testing.T, url, token string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return res
}

// sseOpen starts query over SSE and reads its events as they come.
func sseOpen(t *testing.T, url, token, query string, vars map[string]any) *sseStream {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	res := sseRequest(t, url, token, body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &sseStream{t: t, res: res, events: make(chan sseEvent, 100)}
	t.Cleanup(func() { res.Body.Close() })
	go s.read()
	return s
}

// read parses the stream: "event:" and "data:" lines, a blank line ending
// each event, ":" lines being keep-alives.
func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.res.Body)
	sc.Buffer(nil, 1<<20)
	var ev sseEvent
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			ev.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		case line == "" && ev.Event != "":
			if data.Len() > 0 {
				if err := json.Unmarshal([]byte(data.String()), &ev.Data); err != nil {
					ev.Data.Errors = []testkit.Error{{Message: "bad JSON: " + data.String()}}
				}
			}
			s.events <- ev
			ev, data = sseEvent{}, strings.Builder{}
		}
	}
}

// next returns the next event, failing the test after wait.
func (s *sseStream) next(wait time.Duration) sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		require.True(s.t, ok, "the stream ended without complete")
		return ev
	case <-time.After(wait):
		s.t.Fatalf("no event within %s", wait)
		return sseEvent{}
	}
}

// requireClosed waits for the server to close the stream after complete.
func (s *sseStream) requireClosed() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		require.False(s.t, ok, "an event after complete: %+v", ev)
	case <-time.After(5 * time.Second):
		s.t.Fatal("the stream is still open 5s after complete")
	}
}

func TestSSEBulkSendProgress(t *testing.T) {
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

	stream := sseOpen(t, s.URL, a.tok, progressSubscription, map[string]any{"id": res.BulkSend.ID})
	var states []bulkSend
	for {
		ev := stream.next(10 * time.Second)
		if ev.Event == "complete" {
			break
		}
		require.Equal(t, "next", ev.Event)
		require.Empty(t, ev.Data.Errors)
		var out struct{ BulkSendProgress bulkSend }
		require.NoError(t, json.Unmarshal(ev.Data.Data, &out))
		states = append(states, out.BulkSendProgress)
	}
	stream.requireClosed()
	require.GreaterOrEqual(t, len(states), 2, "progress, then the final state: %+v", states)
	require.Less(t, states[0].Sent, 100, "the first state is from before the end")
	for i := 1; i < len(states); i++ {
		require.GreaterOrEqual(t, states[i].Sent, states[i-1].Sent, "counts never decrease: %+v", states)
	}
	last := states[len(states)-1]
	require.Equal(t, "COMPLETED", last.Status)
	require.NotNil(t, last.FinishedAt)
	require.Equal(t, 100, last.Sent)
}

func TestSSEAuthentication(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	body := []byte(`{"query": "subscription { notificationAdded { id } }"}`)

	// No token and a bad one get the same answer, as on a websocket.
	var answers []string
	for _, tok := range []string{"", "not-a-token", "rk_not-a-key"} {
		res := sseRequest(t, s.URL, tok, body)
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s", raw)
		require.Contains(t, string(raw), `"UNAUTHENTICATED"`)
		answers = append(answers, string(raw))
	}
	require.Equal(t, answers[1], answers[2])

	// A body that is JSON but not a GraphQL request is refused before
	// gqlgen sees it (it would log the body, password and all).
	res := sseRequest(t, s.URL, a.tok, []byte(`{"query": 5, "variables": {"password": "hunter2-secret"}}`))
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, string(raw), `"BAD_USER_INPUT"`)
	require.NotContains(t, string(raw), "hunter2-secret")

	// An API key subscribes too.
	_, secret := createKey(t, s, a.tok, "feed", []string{"people.read"}, nil)
	stream := sseOpen(t, s.URL, secret, organizationEventsSubscription, nil)
	waitSubscribers(t, s, 1)
	res2 := s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Olive"}) { id } }`,
		map[string]any{"id": fmt.Sprint(a.org.Owner.ID)})
	require.Empty(t, res2.Errors)
	ev := stream.next(10 * time.Second)
	require.Equal(t, "next", ev.Event)
	require.Empty(t, ev.Data.Errors)
	require.Contains(t, string(ev.Data.Data), "user.updated")
}

// TestSSEEndsWithSession: signing out ends the session's event streams,
// saying why, as it closes its websockets.
func TestSSEEndsWithSession(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	tok := s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)
	stream := sseOpen(t, s.URL, tok, notificationSubscription, nil)
	other := sseOpen(t, s.URL, a.tok, notificationSubscription, nil)
	// The watch on the session is in place before the stream's headers
	// are written.
	var out struct{ Logout bool }
	s.Query(t, tok, `mutation { logout }`, nil).Decode(t, &out)
	require.True(t, out.Logout)

	ev := stream.next(10 * time.Second)
	require.Equal(t, "next", ev.Event)
	require.NotEmpty(t, ev.Data.Errors)
	require.Equal(t, "UNAUTHENTICATED", ev.Data.Errors[0].Code(), "%+v", ev.Data.Errors)
	require.Equal(t, "complete", stream.next(5*time.Second).Event)
	stream.requireClosed()

	// The other session's stream carries on.
	select {
	case ev, ok := <-other.events:
		t.Fatalf("the other session's stream changed: %+v (open %v)", ev, ok)
	default:
	}
}

// TestSSEAcrossReplicas: a subscriber over SSE on one replica hears the
// changes made through another.
func TestSSEAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Events.Poll = 50 * time.Millisecond })
	r := s.Replica(t, true)
	a := signIn(t, s, "acme")
	stream := sseOpen(t, s.URL, a.tok, organizationEventsSubscription, map[string]any{"types": []string{"user.updated"}})
	waitSubscribers(t, s, 1)
	resp := r.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Olive"}) { id } }`,
		map[string]any{"id": fmt.Sprint(a.org.Owner.ID)})
	require.Empty(t, resp.Errors)
	ev := stream.next(10 * time.Second)
	require.Equal(t, "next", ev.Event)
	require.Empty(t, ev.Data.Errors)
	require.Contains(t, string(ev.Data.Data), "Olive")
}

// TestSSECap: event streams count against the caps on websockets.
func TestSSECap(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Conns.MaxWebsocketsPerIP = 1 })
	a := signIn(t, s, "acme")
	first := sseOpen(t, s.URL, a.tok, notificationSubscription, nil)
	res := sseRequest(t, s.URL, a.tok, []byte(`{"query": "subscription { notificationAdded { id } }"}`))
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "%s", raw)
	require.Contains(t, string(raw), "RATE_LIMITED")

	// Closing the first frees its place.
	first.res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := sseRequest(t, s.URL, a.tok, []byte(`{"query": "subscription { notificationAdded { id } }"}`))
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "the place is still taken")
		time.Sleep(10 * time.Millisecond)
	}
}
