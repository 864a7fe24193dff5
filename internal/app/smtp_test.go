package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/fakesmtp"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/testkit"
)

// withSMTP starts a server whose mailer is SMTP to a fake server on
// loopback (plain: TLS is the mail package's to test).
func withSMTP(t *testing.T, modify ...func(*config.Config)) (*testkit.Server, *fakesmtp.Server) {
	t.Helper()
	fake, err := fakesmtp.Start(fakesmtp.Options{})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	s := testkit.NewServer(t, append([]func(*config.Config){func(c *config.Config) {
		c.Mail.Mailer = "smtp"
		c.Mail.SMTP = config.SMTP{URL: fmt.Sprintf("smtp://127.0.0.1:%d?tls=none", fake.Port()), Pool: 2,
			Timeout: mail.DefaultSMTPTimeout, IdleTimeout: mail.DefaultSMTPIdleTimeout}
	}}, modify...)...)
	return s, fake
}

// TestSMTPBounce: the server's 550 to one recipient's RCPT TO bounces that
// person alone, with the server's words, as a provider's bounce report
// would: BOUNCED, suppressed, and counted by the send.
func TestSMTPBounce(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	fake.Fail(fakesmtp.StageRcpt, "gone@example.com", 1<<30, 550, "5.1.1 <gone@example.com>: Recipient address rejected: User unknown")
	a := signIn(t, s, "acme")

	res, resp := a.invite(t, a.tok, []string{"Ada <ada@example.com>", "gone@example.com", "bob@example.com"}, "Member", true)
	require.Empty(t, resp.Errors)
	s.WaitDeliveries(t)
	require.Len(t, fake.MessagesTo("ada@example.com"), 1)
	require.Len(t, fake.MessagesTo("bob@example.com"), 1)
	require.Empty(t, fake.MessagesTo("gone@example.com"))
	require.Equal(t, 2, fake.Count(), "one message per recipient")

	// The message is well-formed and names its delivery.
	msg, err := netmail.ReadMessage(bytes.NewReader(fake.MessagesTo("ada@example.com")[0].Data))
	require.NoError(t, err)
	ada := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ada, 1)
	require.Equal(t, fmt.Sprint(ada[0].ID), msg.Header.Get(mail.DeliveryHeader))
	require.Equal(t, "<"+*ada[0].ProviderMessageID+">", msg.Header.Get("Message-Id"))
	require.Contains(t, msg.Header.Get("To"), "ada@example.com")

	gone := res.InviteUsers.Users[1]
	require.Equal(t, "gone@example.com", gone.Email)
	var out struct{ Node struct{ Emails emailPage } }
	s.Query(t, a.tok, adaQuery, map[string]any{"id": gone.ID}).Decode(t, &out)
	page := out.Node.Emails
	require.Len(t, page.Edges, 1)
	require.Equal(t, "BOUNCED", page.Edges[0].Node.Status)
	require.Equal(t, "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown", *page.Edges[0].Node.Reason)
	require.Nil(t, page.Edges[0].Node.SentAt, "it never left")

	var people struct {
		Node struct{ Status, LastEmailStatus string }
	}
	s.Query(t, a.tok, `query($id: ID!) { node(id: $id) { ... on User { status lastEmailStatus } } }`,
		map[string]any{"id": gone.ID}).Decode(t, &people)
	require.Equal(t, "NOT_INVITED", people.Node.Status, "no link reached them")
	require.Equal(t, "BOUNCED", people.Node.LastEmailStatus)

	sends := a.bulkSends(t, a.tok, map[string]any{"first": 5})
	require.Len(t, sends.BulkSends.Edges, 1)
	c := sends.BulkSends.Edges[0].Node
	require.Equal(t, "COMPLETED", c.Status)
	require.Equal(t, []int{2, 1, 0, 1}, []int{c.Sent, c.Failed, c.Skipped, c.Bounced}, "%+v", c)

	// Suppressed like any bounce: the next plain resend is refused, and a
	// bulk send skips them.
	resp = s.Query(t, a.tok, resendMutation, map[string]any{"id": gone.ID})
	require.Equal(t, "CONFLICT", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "bounced")
	sent := a.send(t, map[string]any{"userIds": []string{gone.ID}})
	require.Equal(t, 1, sent.SendInvitations.Skipped)
	s.WaitDeliveries(t)
	require.Equal(t, 2, fake.Count())
}

// TestSMTPSingleBounce: one person's resent invitation refused at RCPT
// answers with the person BOUNCED.
func TestSMTPSingleBounce(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	fake.Fail(fakesmtp.StageRcpt, "ada@example.com", 1, 550, "5.2.1 Mailbox disabled")
	var out resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "NOT_INVITED", out.ResendInvitation.Status)
	require.Equal(t, "BOUNCED", *out.ResendInvitation.LastEmailStatus)
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Equal(t, enum.DeliveryBounced, ds[0].Status)
	require.Equal(t, "550 5.2.1 Mailbox disabled", *ds[0].Error)

	// force: true sends anyway (the server accepts it this time).
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID, "force": true}).Decode(t, &out)
	require.Equal(t, "INVITED", out.ResendInvitation.Status)
	require.Equal(t, "SENT", *out.ResendInvitation.LastEmailStatus)
	require.Len(t, fake.MessagesTo("ada@example.com"), 1)
}

// TestSMTPTemporaryThenSent: a 4xx is retried by the engine when the clock
// reaches the retry time, then sent once.
func TestSMTPTemporaryThenSent(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	fake.Fail(fakesmtp.StageRcpt, "ada@example.com", 1, 451, "4.7.1 Greylisted, try again later")
	var out resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "NOT_INVITED", out.ResendInvitation.Status, "refused for now")
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Equal(t, enum.DeliveryQueued, ds[0].Status)
	require.NotNil(t, ds[0].NextAttemptAt)
	require.Contains(t, *ds[0].Error, "451")

	s.Clock.Advance(ds[0].NextAttemptAt.Sub(s.Clock.Now()))
	s.WaitDeliveries(t)
	d, err := s.DB.Client.Delivery.Get(testkit.System(), ds[0].ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliverySent, d.Status)
	require.Equal(t, 2, d.Attempts)
	require.Len(t, fake.MessagesTo("ada@example.com"), 1)
	u, err := s.DB.Client.User.Get(testkit.System(), ada.ID)
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, u.Status)
	require.Equal(t, enum.DeliverySent, *u.LastEmailStatus)
}

// TestSMTPDataRefused: a 5xx after the message's data fails it (FAILED,
// not BOUNCED: the recipient was accepted, the content was not).
func TestSMTPDataRefused(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	fake.Fail(fakesmtp.StageData, "ada@example.com", 1, 554, "5.7.1 Message rejected as spam")
	var out resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "FAILED", *out.ResendInvitation.LastEmailStatus)
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Equal(t, enum.DeliveryFailed, ds[0].Status)
	require.Contains(t, *ds[0].Error, "554")
	require.Contains(t, *ds[0].Error, "5.7.1 Message rejected as spam")
	require.Zero(t, fake.Count())

	// Not suppressed: a plain resend goes.
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "SENT", *out.ResendInvitation.LastEmailStatus)
	require.Equal(t, 1, fake.Count())
}

// TestSMTPBulkSendThroughThePool: a bulk send over SMTP goes one message per
// recipient through at most the pool's connections, with a dropped
// connection mid-way costing nothing.
func TestSMTPBulkSendThroughThePool(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	fake.DropAfter(7)
	a := signIn(t, s, "acme")
	var people []testkit.Person
	for i := range 40 {
		people = append(people, testkit.Person{Email: fmt.Sprintf("p%02d@example.com", i)})
	}
	s.AddPeople(t, a.org, people...)
	out := a.send(t, map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}})
	require.Equal(t, 40, out.SendInvitations.Invitations)
	s.WaitDeliveries(t)
	b := a.bulkSendByID(t, out.SendInvitations.BulkSend.ID)
	require.Equal(t, "COMPLETED", b.Status)
	require.Equal(t, 40, b.Sent)
	require.Equal(t, 40, fake.Count())
	for _, p := range people {
		require.Len(t, fake.MessagesTo(p.Email), 1, p.Email)
	}
	require.GreaterOrEqual(t, fake.Connections(), 40/7, "dropped connections were replaced")
}

// TestSMTPBulkSendInEveryLocale: a send to 1,000 people over SMTP, a
// quarter each in German, Canadian French (French's template), Portuguese
// (no template: the organisation's Spanish) and no language (Spanish too).
// Every message parses, each person gets exactly one, in their language;
// the server's 550 to one RCPT bounces that person and nobody else.
func TestSMTPBulkSendInEveryLocale(t *testing.T) {
	t.Parallel()
	s, fake := withSMTP(t)
	const gone = "p0500@example.com"
	fake.Fail(fakesmtp.StageRcpt, gone, 1<<30, 550, "5.1.1 User unknown")
	a := signIn(t, s, "acme")
	s.Query(t, a.tok, `mutation { updateOrganization(input: {defaultLocale: "es"}) { defaultLocale } }`, nil).Decode(t, &struct{}{})
	locales := []struct{ tag, template string }{{"de", "de"}, {"fr-CA", "fr"}, {"pt", "es"}, {"", "es"}}
	want := map[string]string{} // address → the template's language
	var people []testkit.Person
	for i := range 1000 {
		l := locales[i%len(locales)]
		p := testkit.Person{Email: fmt.Sprintf("p%04d@example.com", i), FirstName: fmt.Sprintf("Person %d", i), Locale: l.tag}
		people = append(people, p)
		want[p.Email] = l.template
	}
	s.AddPeople(t, a.org, people...)
	out := a.send(t, map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}})
	require.Equal(t, 1000, out.SendInvitations.Invitations)
	s.WaitDeliveries(t)
	b := a.bulkSendByID(t, out.SendInvitations.BulkSend.ID)
	require.Equal(t, "COMPLETED", b.Status)
	require.Equal(t, 999, b.Sent)
	require.Equal(t, 1, b.Failed, "the bounce")

	got := map[string]int{}
	for _, m := range fake.Messages() {
		// A message to several would be recorded once per recipient,
		// each copy naming one address in its header.
		e := testkit.ParseEmail(t, m.To, bytes.NewReader(m.Data))
		require.Equal(t, m.To, e.To, "one recipient per message")
		got[e.To]++
		loc := want[e.To]
		require.Equal(t, invitationSubjects[loc], e.Subject, e.To)
		require.Contains(t, e.HTML, `<html lang="`+loc+`">`, e.To)
		require.NotEmpty(t, e.Token(), e.To)
	}
	require.Len(t, got, 999)
	for addr := range want {
		if addr == gone {
			require.Zero(t, got[addr])
			continue
		}
		require.Equal(t, 1, got[addr], addr)
	}
	var bounced struct {
		Users struct{ TotalCount int }
	}
	s.Query(t, a.tok, `{ users(where: {lastEmailStatus: BOUNCED}) { totalCount } }`, nil).Decode(t, &bounced)
	require.Equal(t, 1, bounced.Users.TotalCount, "only the refused address bounced")
	s.Query(t, a.tok, `query($e: String!) { users(where: {email: $e, lastEmailStatus: BOUNCED}) { totalCount } }`,
		map[string]any{"e": gone}).Decode(t, &bounced)
	require.Equal(t, 1, bounced.Users.TotalCount)
}

// TestSMTPConfigRefused: a broken mail configuration stops the server from
// starting, naming the setting and never repeating the password.
func TestSMTPConfigRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "dkim.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	junkFile := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junkFile, []byte("not a key"), 0o600))

	good := config.SMTP{URL: "smtp://user:hunter2@mail.example.com:587", Pool: 4, Timeout: mail.DefaultSMTPTimeout, IdleTimeout: mail.DefaultSMTPIdleTimeout}
	dkim := func(c *config.SMTP) { c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile = "example.com", "mail2026", keyFile }
	cases := []struct {
		name   string
		mailer string
		modify func(*config.SMTP)
		want   string
	}{
		{"unknown mailer", "sendmail", nil, `ROLLCALL_MAILER "sendmail": want outbox, mailgun or smtp`},
		{"no URL", "smtp", func(c *config.SMTP) { c.URL = "" }, "ROLLCALL_SMTP_URL: empty"},
		{"bad URL", "smtp", func(c *config.SMTP) { c.URL = "smtp://user:hun ter2@host" }, "ROLLCALL_SMTP_URL: not a valid URL"},
		{"unknown scheme", "smtp", func(c *config.SMTP) { c.URL = "imap://user:hunter2@host" }, `ROLLCALL_SMTP_URL: scheme "imap"`},
		{"no host", "smtp", func(c *config.SMTP) { c.URL = "smtp://user:hunter2@:587" }, "ROLLCALL_SMTP_URL: no host"},
		{"unknown tls", "smtp", func(c *config.SMTP) { c.URL = "smtp://host?tls=maybe" }, `ROLLCALL_SMTP_URL: tls="maybe"`},
		{"pool", "smtp", func(c *config.SMTP) { c.Pool = 0 }, "ROLLCALL_SMTP_POOL 0"},
		{"timeout", "smtp", func(c *config.SMTP) { c.Timeout = 0 }, "ROLLCALL_SMTP_TIMEOUT"},
		{"dkim partial", "smtp", func(c *config.SMTP) { dkim(c); c.DKIMSelector = "" }, "missing ROLLCALL_DKIM_SELECTOR"},
		{"dkim missing key file", "smtp", func(c *config.SMTP) { dkim(c); c.DKIMKeyFile = filepath.Join(dir, "nope.pem") }, "ROLLCALL_DKIM_KEY_FILE: open"},
		{"dkim junk key", "smtp", func(c *config.SMTP) { dkim(c); c.DKIMKeyFile = junkFile }, "ROLLCALL_DKIM_KEY_FILE"},
		{"dkim bad domain", "smtp", func(c *config.SMTP) { dkim(c); c.DKIMDomain = "exa mple.com" }, "ROLLCALL_DKIM_DOMAIN"},
		{"dkim without smtp", "outbox", dkim, "ROLLCALL_DKIM_*"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testkit.Config("sqlite::memory:")
			cfg.Mail.Mailer, cfg.Mail.SMTP, cfg.Mail.OutboxDir = tc.mailer, good, t.TempDir()
			if tc.modify != nil {
				tc.modify(&cfg.Mail.SMTP)
			}
			a, err := app.New(context.Background(), cfg, testkit.Logger(), clock.NewManual(testkit.Epoch))
			if a != nil {
				_ = a.Close()
			}
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}

	// The good configuration, signed, starts.
	cfg := testkit.Config("sqlite::memory:")
	cfg.Mail.Mailer, cfg.Mail.SMTP = "smtp", good
	dkim(&cfg.Mail.SMTP)
	a, err := app.New(context.Background(), cfg, testkit.Logger(), clock.NewManual(testkit.Epoch))
	require.NoError(t, err)
	require.NoError(t, a.Close())
}
