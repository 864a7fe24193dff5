package mail_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/mail"
)

// Compile-time checks that both senders satisfy Sender.
var (
	_ mail.Sender = (*mail.Outbox)(nil)
	_ mail.Sender = (*mail.Mailgun)(nil)
)

// validMessage returns a plain message both senders accept.
func validMessage() mail.Message {
	return mail.Message{
		From:      mail.Address{Name: "Rollcall", Email: "noreply@rollcall.example"},
		ReplyTo:   "help@rollcall.example",
		To:        mail.Address{Name: "Ada Lovelace", Email: "ada@example.com"},
		Subject:   "You're invited",
		Text:      "Hello Ada",
		HTML:      "<p>Hello Ada</p>",
		Variables: map[string]string{"delivery_id": "d-1"},
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"temporary", &mail.Error{Temporary: true, Status: 503}, true},
		{"permanent", &mail.Error{Status: 400, Err: errors.New("bad")}, false},
		{"wrapped temporary", fmt.Errorf("send invite: %w", &mail.Error{Temporary: true}), true},
		{"wrapped permanent", fmt.Errorf("send invite: %w", &mail.Error{Status: 400}), false},
		{"temporary inside permanent", &mail.Error{Err: &mail.Error{Temporary: true}}, true},
		{"joined", errors.Join(errors.New("a"), &mail.Error{Temporary: true}), true},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"net timeout", fmt.Errorf("x: %w", timeoutErr{}), true},
		{"canceled", context.Canceled, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, mail.IsTemporary(c.err))
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	inner := errors.New("quota exceeded")
	cases := []struct {
		err  *mail.Error
		want string
	}{
		{&mail.Error{Temporary: true, Status: 429, Err: inner}, "mail: temporary send failure (status 429): quota exceeded"},
		{&mail.Error{Err: inner}, "mail: permanent send failure: quota exceeded"},
		{&mail.Error{}, "mail: permanent send failure"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.err.Error())
	}
	require.ErrorIs(t, &mail.Error{Err: inner}, inner)
}

// invalidMessages are messages both senders must refuse without sending.
func invalidMessages() []struct {
	name string
	edit func(*mail.Message)
} {
	return []struct {
		name string
		edit func(*mail.Message)
	}{
		{"subject injection", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: x@y" }},
		{"subject bare LF", func(m *mail.Message) { m.Subject = "Hi\nBcc: x@y" }},
		{"subject bare CR", func(m *mail.Message) { m.Subject = "Hi\rBcc: x@y" }},
		{"no recipient", func(m *mail.Message) { m.To.Email = "" }},
		{"blank recipient", func(m *mail.Message) { m.To.Email = "  " }},
		{"no sender", func(m *mail.Message) { m.From.Email = "" }},
		{"sender without domain", func(m *mail.Message) { m.From.Email = "noreply" }},
		{"sender ends with @", func(m *mail.Message) { m.From.Email = "noreply@" }},
		{"recipient without local part", func(m *mail.Message) { m.To.Email = "@example.com" }},
		{"recipient name", func(m *mail.Message) { m.To.Name = "Ada\r\nBcc: x@y" }},
		{"recipient address", func(m *mail.Message) { m.To.Email = "ada@example.com\r\nBcc: x@y" }},
		{"sender name", func(m *mail.Message) { m.From.Name = "Rollcall\n" }},
		{"sender address", func(m *mail.Message) { m.From.Email = "noreply@rollcall.example\r" }},
		{"reply-to", func(m *mail.Message) { m.ReplyTo = "help@rollcall.example\r\nBcc: x@y" }},
		{"variable key", func(m *mail.Message) { m.Variables = map[string]string{"a\r\nBcc": "x"} }},
		{"variable value", func(m *mail.Message) { m.Variables = map[string]string{"delivery_id": "1\r\nBcc: x@y"} }},
		{"empty variable key", func(m *mail.Message) { m.Variables = map[string]string{"": "x"} }},
		{"no body", func(m *mail.Message) { m.Text, m.HTML = "", "" }},
	}
}

func TestSendersRefuseInvalidMessages(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"id":"<x@mg>","message":"Queued. Thank you."}`))
	}))
	t.Cleanup(ts.Close)

	for _, c := range invalidMessages() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := validMessage()
			c.edit(&m)

			dir := t.TempDir()
			box, err := mail.NewOutbox(dir)
			require.NoError(t, err)
			mg, err := mail.NewMailgun(mail.MailgunConfig{Domain: "mg.example", APIKey: "key-secret", APIBase: ts.URL + "/v3"})
			require.NoError(t, err)

			for _, s := range []mail.Sender{box, mg} {
				id, err := s.Send(context.Background(), m)
				require.Error(t, err)
				require.Empty(t, id)
				var me *mail.Error
				require.ErrorAs(t, err, &me)
				require.False(t, me.Temporary)
				require.Zero(t, me.Status)
				require.False(t, mail.IsTemporary(err))
			}

			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "outbox wrote something")
		})
	}
	t.Cleanup(func() { require.Zero(t, hits.Load(), "mailgun server was called") })
}
