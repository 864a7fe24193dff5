package mail_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailgun/mailgun-go/v4"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/mail"
)

const (
	testDomain = "mg.rollcall.example"
	testKey    = "key-0123456789abcdef-secret"
)

// captured is what the fake Mailgun saw of one request.
type captured struct {
	domain     string
	user, pass string
	authOK     bool
	form       map[string][]string
	parseErr   error
}

// fakeMailgun serves POST /v3/{domain}/messages, hands each request to the
// test over the returned channel and answers with reply.
func fakeMailgun(t *testing.T, reply http.HandlerFunc) (*httptest.Server, <-chan captured) {
	t.Helper()
	seen := make(chan captured, 16)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/{domain}/messages", func(w http.ResponseWriter, r *http.Request) {
		c := captured{domain: r.PathValue("domain")}
		c.user, c.pass, c.authOK = r.BasicAuth()
		if c.parseErr = r.ParseMultipartForm(1 << 20); c.parseErr == nil {
			c.form = r.MultipartForm.Value
		}
		select {
		case seen <- c:
		default:
		}
		reply(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts, seen
}

// queued answers like Mailgun does on success.
func queued(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"<abc@mg>","message":"Queued. Thank you."}`))
}

// status answers with code and a body that echoes the API key, to prove it is
// scrubbed from errors.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"message":"rejected for key ` + testKey + `"}`))
	}
}

func newTestMailgun(t *testing.T, base string, timeout time.Duration) *mail.Mailgun {
	t.Helper()
	g, err := mail.NewMailgun(mail.MailgunConfig{Domain: testDomain, APIKey: testKey, APIBase: base, Timeout: timeout})
	require.NoError(t, err)
	return g
}

func TestMailgunSend(t *testing.T) {
	t.Parallel()
	ts, seen := fakeMailgun(t, queued)
	g := newTestMailgun(t, ts.URL+"/v3", 0)

	m := mail.Message{
		From:      mail.Address{Name: "Rollcall", Email: "noreply@rollcall.example"},
		ReplyTo:   "help@rollcall.example",
		To:        mail.Address{Name: "Zoë Ångström", Email: "zoe@example.com"},
		Subject:   "Välkommen 🎉",
		Text:      "Hej Zoë\nline two",
		HTML:      "<p>Hej Zoë</p>",
		Variables: map[string]string{"delivery_id": "d-42", "org": "Åcme"},
	}
	id, err := g.Send(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "abc@mg", id)

	c := <-seen
	require.NoError(t, c.parseErr)
	require.Equal(t, testDomain, c.domain)
	require.True(t, c.authOK)
	require.Equal(t, "api", c.user)
	require.Equal(t, testKey, c.pass)

	want := map[string]string{
		"from":          `"Rollcall" <noreply@rollcall.example>`,
		"to":            "=?utf-8?q?Zo=C3=AB_=C3=85ngstr=C3=B6m?= <zoe@example.com>",
		"subject":       m.Subject,
		"text":          m.Text,
		"html":          m.HTML,
		"h:Reply-To":    m.ReplyTo,
		"v:delivery_id": "d-42",
		"v:org":         "Åcme",
	}
	for field, value := range want {
		require.Equal(t, []string{value}, c.form[field], field)
	}
}

func TestMailgunSendWithoutOptionalFields(t *testing.T) {
	t.Parallel()
	ts, seen := fakeMailgun(t, queued)
	g := newTestMailgun(t, ts.URL+"/v3/", 0) // trailing slash tolerated

	m := validMessage()
	m.ReplyTo, m.HTML, m.Variables = "", "", nil
	id, err := g.Send(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "abc@mg", id)

	c := <-seen
	require.NoError(t, c.parseErr)
	for field := range c.form {
		require.NotEqual(t, "html", field)
		require.False(t, strings.HasPrefix(field, "h:") || strings.HasPrefix(field, "v:"), field)
	}
}

func TestMailgunErrors(t *testing.T) {
	t.Parallel()

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens here any more

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name      string
		reply     http.HandlerFunc // nil: no server, use base
		base      string
		path      string // API base path on the server; default /v3
		ctx       context.Context
		timeout   time.Duration
		temporary bool
		status    int
		target    error // when set, err must wrap it
	}{
		{name: "429", reply: status(http.StatusTooManyRequests), temporary: true, status: 429},
		{name: "500", reply: status(http.StatusInternalServerError), temporary: true, status: 500},
		{name: "503", reply: status(http.StatusServiceUnavailable), temporary: true, status: 503},
		{name: "400", reply: status(http.StatusBadRequest), status: 400},
		{name: "401", reply: status(http.StatusUnauthorized), status: 401},
		{name: "404", reply: status(http.StatusNotFound), status: 404},
		{
			name: "timeout",
			reply: func(w http.ResponseWriter, r *http.Request) {
				select { // outlast the client's timeout, but let Close finish promptly
				case <-r.Context().Done():
				case <-time.After(900 * time.Millisecond):
				}
				queued(w, r)
			},
			timeout:   100 * time.Millisecond,
			temporary: true,
		},
		{name: "connection refused", base: closedURL + "/v3", temporary: true},
		{name: "cancelled context", reply: queued, ctx: cancelled, target: context.Canceled},
		{name: "API base without version", reply: queued, path: "/api"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := c.base
			if c.reply != nil {
				ts, _ := fakeMailgun(t, c.reply)
				path := c.path
				if path == "" {
					path = "/v3"
				}
				base = ts.URL + path
			}
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			g := newTestMailgun(t, base, c.timeout)

			id, err := g.Send(ctx, validMessage())
			requireMailError(t, id, err, c.status, c.temporary)
			if c.target != nil {
				require.ErrorIs(t, err, c.target)
			}
		})
	}
}

// requireMailError checks a failed call: no id, a *mail.Error with the
// status and classification, and the API key nowhere in the message.
func requireMailError(t *testing.T, id string, err error, status int, temporary bool) {
	t.Helper()
	require.Error(t, err)
	require.Empty(t, id)
	var me *mail.Error
	require.ErrorAs(t, err, &me)
	require.Equal(t, temporary, me.Temporary)
	require.Equal(t, temporary, mail.IsTemporary(err))
	require.Equal(t, status, me.Status)
	require.NotContains(t, err.Error(), testKey)
}

func TestNewMailgun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  mail.MailgunConfig
		ok   bool
	}{
		{"defaults", mail.MailgunConfig{Domain: testDomain, APIKey: testKey}, true},
		{"EU base", mail.MailgunConfig{Domain: testDomain, APIKey: testKey, APIBase: mailgun.APIBaseEU, Timeout: time.Second}, true},
		{"no domain", mail.MailgunConfig{APIKey: testKey}, false},
		{"no key", mail.MailgunConfig{Domain: testDomain}, false},
		{"relative base", mail.MailgunConfig{Domain: testDomain, APIKey: testKey, APIBase: "/v3"}, false},
		{"bad scheme", mail.MailgunConfig{Domain: testDomain, APIKey: testKey, APIBase: "ftp://example.com/v3"}, false},
		{"unparsable base", mail.MailgunConfig{Domain: testDomain, APIKey: testKey, APIBase: "http://[::1/v3"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g, err := mail.NewMailgun(c.cfg)
			if c.ok {
				require.NoError(t, err)
				require.NotNil(t, g)
				return
			}
			require.Error(t, err)
			require.Nil(t, g)
			require.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestMailgunMockServer(t *testing.T) {
	t.Parallel()
	srv := mailgun.NewMockServer()
	t.Cleanup(srv.Stop)

	g, err := mail.NewMailgun(mail.MailgunConfig{Domain: "mailgun.test", APIKey: "test-key", APIBase: srv.URL()})
	require.NoError(t, err)
	id, err := g.Send(context.Background(), validMessage())
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.False(t, strings.ContainsAny(id, "<>"), id)
}
