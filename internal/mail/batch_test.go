package mail_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/mail"
)

// Compile-time check: Mailgun sends batches.
var _ mail.BatchSender = (*mail.Mailgun)(nil)

// newBatchServer returns a recording fake Mailgun and a real Mailgun sender
// pointed at it.
func newBatchServer(t *testing.T) (*fakemailgun.Server, *mail.Mailgun) {
	t.Helper()
	fake := fakemailgun.New(fakemailgun.Options{Domain: testDomain, APIKey: testKey, Record: true})
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	return fake, newTestMailgun(t, ts.URL+"/v3", 0)
}

// batchOf returns a batch to n recipients, recipient i being
// "Person i" <user<i>@example.com> with name and delivery_id values.
func batchOf(n int) mail.Batch {
	b := mail.Batch{
		From:      mail.Address{Name: "Acme People", Email: "noreply@rollcall.example"},
		ReplyTo:   "people@acme.test",
		Subject:   "Welcome, %recipient.name%",
		Text:      "Hello %recipient.name%, accept at https://rollcall.example/accept?token=%recipient.token%",
		HTML:      `<p>Hello %recipient.name_html%, <a href="https://rollcall.example/accept?token=%recipient.token%">accept</a></p>`,
		Variables: map[string]string{"delivery_id": "%recipient.delivery_id%", "org": "acme"},
	}
	for i := range n {
		b.Recipients = append(b.Recipients, mail.Recipient{
			To: mail.Address{Name: fmt.Sprintf("Person %d", i), Email: fmt.Sprintf("user%d@example.com", i)},
			Values: map[string]string{
				"name":        fmt.Sprintf("Zoë & Co %d", i),
				"name_html":   fmt.Sprintf("Zoë &amp; Co &lt;%d&gt;", i), // escaped by the caller
				"token":       fmt.Sprintf("tok%d", i),
				"delivery_id": fmt.Sprintf("d-%d", i),
			},
		})
	}
	return b
}

func TestMailgunSendBatch(t *testing.T) {
	t.Parallel()
	fake, g := newBatchServer(t)

	id, err := g.SendBatch(context.Background(), batchOf(mail.MaxBatch))
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.False(t, strings.ContainsAny(id, "<>"), id)

	require.Equal(t, 1, fake.Calls(), "one provider call")
	msgs := fake.Messages()
	require.Len(t, msgs, mail.MaxBatch, "one copy per recipient")
	for i := range mail.MaxBatch {
		addr := fmt.Sprintf("user%d@example.com", i)
		got := fake.MessagesTo(addr)
		require.Len(t, got, 1, addr)
		m := got[0]
		require.Equal(t, fakemailgun.Message{
			To:      addr,
			ToName:  fmt.Sprintf("Person %d", i),
			From:    `"Acme People" <noreply@rollcall.example>`,
			ReplyTo: "people@acme.test",
			Subject: fmt.Sprintf("Welcome, Zoë & Co %d", i),
			Text:    fmt.Sprintf("Hello Zoë & Co %d, accept at https://rollcall.example/accept?token=tok%d", i, i),
			HTML: fmt.Sprintf(`<p>Hello Zoë &amp; Co &lt;%d&gt;, <a href="https://rollcall.example/accept?token=tok%d">accept</a></p>`,
				i, i),
			Variables: map[string]string{"delivery_id": fmt.Sprintf("d-%d", i), "org": "acme"},
			ID:        id,
			Call:      1,
		}, m)
	}
}

// TestMailgunSendBatchWithoutValues: recipients with no values still get a
// copy each; without recipient-variables Mailgun would list everyone in To.
func TestMailgunSendBatchWithoutValues(t *testing.T) {
	t.Parallel()
	fake, g := newBatchServer(t)
	b := batchOf(3)
	b.Subject, b.Text, b.HTML, b.Variables = "News", "Plain news", "", nil
	for i := range b.Recipients {
		b.Recipients[i].Values = nil
	}
	_, err := g.SendBatch(context.Background(), b)
	require.NoError(t, err)
	msgs := fake.Messages()
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		require.NotContains(t, m.To, ",", "nobody sees another recipient")
		require.Equal(t, "Plain news", m.Text)
		require.Empty(t, m.HTML)
		require.Equal(t, "people@acme.test", m.ReplyTo)
	}
}

func TestMailgunSendBatchNonASCIIName(t *testing.T) {
	t.Parallel()
	fake, g := newBatchServer(t)
	b := batchOf(1)
	b.Recipients[0].To = mail.Address{Name: "Zoë Ångström", Email: "zoe@example.com"}
	_, err := g.SendBatch(context.Background(), b)
	require.NoError(t, err)
	got := fake.MessagesTo("zoe@example.com")
	require.Len(t, got, 1)
	require.Equal(t, "Zoë Ångström", got[0].ToName)
	require.Equal(t, "Welcome, Zoë & Co 0", got[0].Subject, "variables found by bare address")
}

func TestMailgunSendBatchInvalid(t *testing.T) {
	t.Parallel()
	fake, g := newBatchServer(t)

	cases := map[string]func(b *mail.Batch){
		"too many recipients": func(b *mail.Batch) { *b = batchOf(mail.MaxBatch + 1) },
		"no recipients":       func(b *mail.Batch) { b.Recipients = nil },
		"no body":             func(b *mail.Batch) { b.Text, b.HTML = "", "" },
		"bad sender":          func(b *mail.Batch) { b.From.Email = "noreply" },
		"bad recipient":       func(b *mail.Batch) { b.Recipients[1].To.Email = "user1@" },
		"empty recipient":     func(b *mail.Batch) { b.Recipients[1].To.Email = " " },
		"repeated recipient":  func(b *mail.Batch) { b.Recipients[1].To.Email = "USER0@example.com" },
		"subject injection":   func(b *mail.Batch) { b.Subject = "Hi\r\nBcc: victim@example.com" },
		"reply-to injection":  func(b *mail.Batch) { b.ReplyTo = "a@b.example\nBcc: victim@example.com" },
		"sender name injection": func(b *mail.Batch) {
			b.From.Name = "Acme\r\nBcc: victim@example.com"
		},
		"recipient name injection": func(b *mail.Batch) {
			b.Recipients[2].To.Name = "Eve\nBcc: victim@example.com"
		},
		"recipient address injection": func(b *mail.Batch) {
			b.Recipients[2].To.Email = "eve@example.com\r\nBcc: victim@example.com"
		},
		"value injection": func(b *mail.Batch) {
			b.Recipients[2].Values["name"] = "Eve\r\nBcc: victim@example.com"
		},
		"value name with line break": func(b *mail.Batch) { b.Recipients[2].Values["a\nb"] = "x" },
		"empty value name":           func(b *mail.Batch) { b.Recipients[2].Values[""] = "x" },
		"variable injection":         func(b *mail.Batch) { b.Variables["x"] = "1\r\nBcc: victim@example.com" },
	}
	for name, mutate := range cases {
		b := batchOf(3)
		mutate(&b)
		id, err := g.SendBatch(context.Background(), b)
		require.Error(t, err, name)
		require.Empty(t, id, name)
		var me *mail.Error
		require.ErrorAs(t, err, &me, name)
		require.False(t, me.Temporary, name)
		require.False(t, mail.IsTemporary(err), name)
		require.Zero(t, me.Status, name)
		require.NotContains(t, err.Error(), "victim", name)
	}
	require.Zero(t, fake.Calls(), "nothing invalid reaches Mailgun")
}

func TestMailgunSendBatchErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		temporary bool
	}{
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusBadRequest, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			t.Parallel()
			fake, g := newBatchServer(t)
			fake.Fail(1, c.status)
			id, err := g.SendBatch(context.Background(), batchOf(5))
			requireMailError(t, id, err, c.status, c.temporary)
			require.Empty(t, fake.Messages())

			// The next call goes through: a retry of the same batch works.
			_, err = g.SendBatch(context.Background(), batchOf(5))
			require.NoError(t, err)
			require.Len(t, fake.Messages(), 5)
		})
	}

	t.Run("one refused address fails the batch", func(t *testing.T) {
		t.Parallel()
		fake, g := newBatchServer(t)
		fake.FailAddress("user3@example.com", http.StatusBadRequest)
		_, err := g.SendBatch(context.Background(), batchOf(5))
		var me *mail.Error
		require.ErrorAs(t, err, &me)
		require.False(t, me.Temporary)
		require.Equal(t, http.StatusBadRequest, me.Status)
	})

	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		fake := fakemailgun.New(fakemailgun.Options{Domain: testDomain, APIKey: "another-key"})
		ts := httptest.NewServer(fake)
		t.Cleanup(ts.Close)
		_, err := newTestMailgun(t, ts.URL+"/v3", 0).SendBatch(context.Background(), batchOf(2))
		var me *mail.Error
		require.ErrorAs(t, err, &me)
		require.False(t, me.Temporary)
		require.Equal(t, http.StatusUnauthorized, me.Status)
		require.NotContains(t, err.Error(), testKey)
	})

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		fake, g := newBatchServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := g.SendBatch(ctx, batchOf(2))
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, mail.IsTemporary(err))
		require.Zero(t, fake.Calls())
	})
}

// TestMailgunSendThroughFake checks Send against the same fake: one copy,
// variables as given.
func TestMailgunSendThroughFake(t *testing.T) {
	t.Parallel()
	fake, g := newBatchServer(t)
	m := validMessage()
	id, err := g.Send(context.Background(), m)
	require.NoError(t, err)
	got := fake.MessagesTo(m.To.Email)
	require.Len(t, got, 1)
	require.Equal(t, id, got[0].ID)
	require.Equal(t, m.To.Name, got[0].ToName)
	require.Equal(t, m.Variables, got[0].Variables)
	require.Equal(t, m.HTML, got[0].HTML)
}
