package webhookout_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/webhookattempt"
	"github.com/rollcall/rollcall/ent/webhookdelivery"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/viewer"
	"github.com/rollcall/rollcall/internal/webhookout"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fixture is the service over a fresh database, with no workers running:
// tests call FanOut and DeliverDue themselves. Events are written with
// event.Log.Record, as the services will once they emit them.
type fixture struct {
	db     *db.DB
	clk    *clock.Manual
	events *event.Log
	svc    *webhookout.Service
	org    int
	sys    context.Context
}

func setup(t *testing.T, start time.Time, cfg webhookout.Config, r webhookout.Resolver) *fixture {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	f := &fixture{db: d, clk: clock.NewManual(start), sys: auth.AsSystem(ctx)}
	f.events = event.New(d.Client, f.clk, d.Dialect)
	f.svc = webhookout.New(webhookout.Deps{Client: d.Client, Dialect: d.Dialect, Clock: f.clk, Events: f.events,
		Audit: audit.New(d.Client, f.clk), Log: slog.New(slog.DiscardHandler), Config: cfg, Resolver: r})
	f.org = d.Client.Organization.Create().SetSlug("acme").SetName("Acme").SaveX(f.sys).ID
	// No fan-out yet: the first one (in work) creates the cursor, at the
	// start of the log, so events recorded before it are not skipped.
	return f
}

// endpoint inserts an endpoint as if created (and its URL validated) earlier.
func (f *fixture) endpoint(t *testing.T, url string, types ...string) *ent.WebhookEndpoint {
	t.Helper()
	if types == nil {
		types = []string{}
	}
	return f.db.Client.WebhookEndpoint.Create().SetOrganizationID(f.org).SetURL(url).SetEventTypes(types).
		SetSecret(secret).SetCreatedAt(f.clk.Now()).SetUpdatedAt(f.clk.Now()).SaveX(f.sys)
}

func (f *fixture) record(t *testing.T, typ string, data map[string]any) {
	t.Helper()
	require.NoError(t, f.events.Record(f.sys, f.db.Client, f.org, event.Event{Type: typ, Data: data}))
}

// work fans the recorded events out and makes the calls due. On
// PostgreSQL an event is read once every transaction older than its own has
// ended, on the whole server (other tests' included): fan-out is repeated
// until the log has been read to its last event.
func (f *fixture) work(t *testing.T) {
	t.Helper()
	last := f.db.Client.Event.Query().Order(ent.Desc(entevent.FieldID)).FirstX(f.sys)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := f.svc.FanOut(f.sys)
		require.NoError(t, err)
		if f.db.Client.WebhookCursor.Query().OnlyX(f.sys).EventID == last.ID {
			break
		}
		require.True(t, time.Now().Before(deadline), "event %d never read from the log", last.ID)
		time.Sleep(10 * time.Millisecond)
	}
	_, err := f.svc.DeliverDue(f.sys)
	require.NoError(t, err)
}

// TestSign: the library's signature is the specification's, checked by an
// independent computation; two secrets give two signatures, either of which
// verifies.
func TestSign(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"user.created","timestamp":"2026-03-02T09:00:00Z","data":{}}`)
	sig, err := webhookout.Sign("42", ts, body, secret)
	require.NoError(t, err)
	require.Regexp(t, `^v1,[A-Za-z0-9+/]{43}=$`, sig)
	c := testkit.WebhookCall{ID: "42", Timestamp: "1700000000", Signature: sig, Body: body}
	ok, err := c.VerifySignature(secret)
	require.NoError(t, err)
	require.True(t, ok)

	other := "whsec_" + "dGhlIG90aGVyIHNlY3JldCwgMzIgYnl0ZXMgbG9uZyE="
	both, err := webhookout.Sign("42", ts, body, other, secret)
	require.NoError(t, err)
	require.Len(t, strings.Fields(both), 2)
	c.Signature = both
	for _, s := range []string{secret, other} {
		ok, err := c.VerifySignature(s)
		require.NoError(t, err)
		require.True(t, ok)
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		require.NoError(t, wh.VerifyIgnoringTimestamp(body, header(c)))
	}
	c.Body = []byte(`{"type":"user.deleted"}`)
	ok, err = c.VerifySignature(secret)
	require.NoError(t, err)
	require.False(t, ok, "a changed body does not verify")
}

func header(c testkit.WebhookCall) http.Header {
	h := http.Header{}
	h.Set("webhook-id", c.ID)
	h.Set("webhook-timestamp", c.Timestamp)
	h.Set("webhook-signature", c.Signature)
	return h
}

// TestDeliveredAndSigned: an event reaches a loopback receiver as the
// specification's POST, verified by the library's Verify (timestamp
// tolerance included: the clock starts at the real time here) and by an
// independent computation; the attempt is recorded.
func TestDeliveredAndSigned(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Now(), webhookout.Config{AllowPrivate: true}, nil)
	rc := testkit.NewWebhookReceiver(t)
	ep := f.endpoint(t, rc.URL+"/hooks")
	f.record(t, "user.created", map[string]any{"user": map[string]any{"id": "4294967297", "email": "ada@example.com"}})
	f.work(t)

	c := rc.Next(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(c.Body, c.Header))
	ok, err := c.VerifySignature(secret)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "application/json", c.Header.Get("Content-Type"))
	require.Equal(t, strconv.FormatInt(f.clk.Now().Unix(), 10), c.Timestamp)

	ev := f.db.Client.Event.Query().OnlyX(f.sys)
	require.Equal(t, strconv.Itoa(ev.ID), c.ID)
	var body webhookout.Payload
	require.NoError(t, json.Unmarshal(c.Body, &body))
	require.Equal(t, "user.created", body.Type)
	require.Equal(t, ev.OccurredAt.UTC().Format(time.RFC3339Nano), body.Timestamp)
	require.Equal(t, "ada@example.com", body.Data["user"].(map[string]any)["email"])

	d := f.db.Client.WebhookDelivery.Query().OnlyX(f.sys)
	require.Equal(t, webhookdelivery.StatusDELIVERED, d.Status)
	require.Nil(t, d.LeasedBy)
	a := f.db.Client.WebhookAttempt.Query().OnlyX(f.sys)
	require.Equal(t, ep.ID, a.EndpointID)
	require.Equal(t, ev.ID, *a.EventID)
	require.Equal(t, 1, a.Attempt)
	require.Equal(t, 200, *a.StatusCode)
	require.Nil(t, a.Error)
	require.Nil(t, a.NextAttemptAt)
	rc.None(t)

	// Pruned past retention, the event goes with its delivery; the
	// attempt stays, without it.
	f.clk.Advance(31 * 24 * time.Hour)
	_, err = f.events.Prune(f.sys, f.clk.Now().Add(-30*24*time.Hour), 100)
	require.NoError(t, err)
	require.Zero(t, f.db.Client.WebhookDelivery.Query().CountX(f.sys))
	a = f.db.Client.WebhookAttempt.Query().OnlyX(f.sys)
	require.Nil(t, a.EventID)
}

// TestBodiesAreBounded: a huge answer is read only up to a small limit,
// and its start is kept in the attempt's error.
func TestBodiesAreBounded(t *testing.T) {
	t.Parallel()
	f := setup(t, testkit.Epoch, webhookout.Config{AllowPrivate: true}, nil)
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for range 1000 { // 64 MB, if anyone read it
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	f.record(t, "user.created", nil)
	f.work(t)
	a := f.db.Client.WebhookAttempt.Query().OnlyX(f.sys)
	require.Equal(t, 500, *a.StatusCode)
	require.Equal(t, "HTTP 500: ", (*a.Error)[:10])
	require.Len(t, *a.Error, 10+1024)
	require.NotNil(t, a.NextAttemptAt)
	require.Less(t, sent.Load(), int64(64<<20), "the rest of the body was not read")
}

// TestRedirectsAreNotFollowed: a 3xx is a failed attempt; the target is
// never called.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	f := setup(t, testkit.Epoch, webhookout.Config{AllowPrivate: true}, nil)
	rc := testkit.NewWebhookReceiver(t)
	srv := httptest.NewServer(http.RedirectHandler(rc.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	f.record(t, "user.created", nil)
	f.work(t)
	a := f.db.Client.WebhookAttempt.Query().OnlyX(f.sys)
	require.Equal(t, 307, *a.StatusCode)
	require.Equal(t, "HTTP 307: redirects are not followed", *a.Error)
	rc.None(t)
}

// rebinding resolves a name to a public address first (when the URL is
// saved) and to loopback afterwards (when it is called).
type rebinding struct{ calls atomic.Int64 }

func (r *rebinding) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestConnectTimeRefusal: with private addresses not allowed, a host that
// passed validation but resolves to loopback when called is refused at
// connect time (DNS rebinding); the attempt says so and the receiver on
// loopback gets nothing.
func TestConnectTimeRefusal(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	f := setup(t, testkit.Epoch, webhookout.Config{}, &rebinding{})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	url := "https://hooks.example.com:" + strconv.Itoa(port) + "/in"

	// Saved through the service: validation resolves the public address.
	admin := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.org, UserID: 1, Label: "admin@acme.test",
		Permissions: []perm.Permission{perm.OrganizationManage}})
	created, err := f.svc.Create(admin, webhookout.CreateInput{URL: url})
	require.NoError(t, err)
	require.Equal(t, url, created.Endpoint.URL)
	f.record(t, "user.created", nil)
	f.work(t)
	a := f.db.Client.WebhookAttempt.Query().Where(webhookattempt.Attempt(1)).OnlyX(f.sys)
	require.Nil(t, a.StatusCode)
	require.Equal(t, "refused to connect to 127.0.0.1: not a public address", *a.Error)
	require.NotNil(t, a.NextAttemptAt, "retried, in case the name resolves publicly again")
	require.Zero(t, hits.Load())
}

// TestFanOutRules: an endpoint gets the events from its creation on, and a
// pair queued already (a redelivery that ran ahead of fan-out) is not
// queued twice.
func TestFanOutRules(t *testing.T) {
	t.Parallel()
	f := setup(t, testkit.Epoch, webhookout.Config{AllowPrivate: true}, nil)
	rc := testkit.NewWebhookReceiver(t)
	f.record(t, "user.created", map[string]any{"n": 1})
	f.clk.Advance(time.Minute)
	ep := f.endpoint(t, rc.URL)
	f.record(t, "user.updated", map[string]any{"n": 2})
	f.record(t, "user.deleted", map[string]any{"n": 3})
	last := f.db.Client.Event.Query().Order(ent.Desc(entevent.FieldID)).FirstX(f.sys)

	admin := viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: f.org, UserID: 1, Label: "admin@acme.test",
		Permissions: []perm.Permission{perm.OrganizationManage}})
	require.NoError(t, f.svc.Redeliver(admin, ep.ID, last.ID))
	f.work(t)

	var got []string
	for range 2 {
		got = append(got, payload(t, rc.Next(t)).Type)
	}
	require.ElementsMatch(t, []string{"user.updated", "user.deleted"}, got)
	rc.None(t)
	require.Equal(t, 2, f.db.Client.WebhookDelivery.Query().CountX(f.sys))
}

func payload(t *testing.T, c testkit.WebhookCall) webhookout.Payload {
	t.Helper()
	var p webhookout.Payload
	require.NoError(t, json.Unmarshal(c.Body, &p))
	return p
}
