package mail_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/fakesmtp"
	"github.com/rollcall/rollcall/internal/mail"
)

var _ mail.Sender = (*mail.SMTP)(nil)

const (
	smtpUser     = "rollcall"
	smtpPassword = "s3cret-Passw0rd"
)

// smtpBundle is a fake SMTP server and what a client needs to trust it.
type smtpBundle struct {
	server *fakesmtp.Server
	roots  *x509.CertPool
}

// startSMTP starts a fake server for opts; with tlsOn it gets a self-signed
// certificate (STARTTLS, or implicit TLS with opts.Implicit).
func startSMTP(t testing.TB, tlsOn bool, opts fakesmtp.Options) *smtpBundle {
	t.Helper()
	b := &smtpBundle{}
	if tlsOn {
		cfg, roots, err := fakesmtp.SelfSigned()
		require.NoError(t, err)
		opts.TLS, b.roots = cfg, roots
	}
	s, err := fakesmtp.Start(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	b.server = s
	return b
}

// sender returns an SMTP sender for url (with %d for the server's port),
// adjusted by modify, closed at the end of the test.
func (b *smtpBundle) sender(t testing.TB, url string, modify ...func(*mail.SMTPConfig)) *mail.SMTP {
	t.Helper()
	srv, err := mail.ParseSMTPURL(fmt.Sprintf(url, b.server.Port()))
	require.NoError(t, err)
	cfg := mail.SMTPConfig{Server: srv, RootCAs: b.roots, Timeout: 10 * time.Second}
	for _, m := range modify {
		m(&cfg)
	}
	s, err := mail.NewSMTP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// messageTo is validMessage addressed to addr.
func messageTo(addr string) mail.Message {
	m := validMessage()
	m.To = mail.Address{Name: "Ada Lovelace", Email: addr}
	return m
}

var authURL = "smtp://" + smtpUser + ":" + smtpPassword + "@127.0.0.1:%d"

func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, true, fakesmtp.Options{Users: map[string]string{smtpUser: smtpPassword}})
	s := b.sender(t, authURL)
	m := validMessage()
	m.Subject = "Einladung für Zoë"
	m.To.Name = `Ada "the Countess" Lovelace`
	id, err := s.Send(context.Background(), m)
	require.NoError(t, err)

	got := b.server.Messages()
	require.Len(t, got, 1)
	require.Equal(t, smtpUser, got[0].User, "authenticated")
	require.Equal(t, "noreply@rollcall.example", got[0].From, "envelope sender")
	require.Equal(t, "ada@example.com", got[0].To)

	msg, err := netmail.ReadMessage(bytes.NewReader(got[0].Data))
	require.NoError(t, err)
	require.Equal(t, "<"+id+">", msg.Header.Get("Message-Id"))
	require.True(t, strings.HasSuffix(id, "@rollcall.example"), id)
	require.Equal(t, "d-1", msg.Header.Get(mail.DeliveryHeader))
	require.Empty(t, msg.Header.Get("X-Mailgun-Variables"), "variables are not headers")
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, m.Subject, subject)
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, []*netmail.Address{{Name: m.To.Name, Address: "ada@example.com"}}, to)
	from, err := msg.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, "Rollcall", from[0].Name)
	replyTo, err := msg.Header.AddressList("Reply-To")
	require.NoError(t, err)
	require.Equal(t, "help@rollcall.example", replyTo[0].Address)
	_, err = msg.Header.Date()
	require.NoError(t, err)

	parts := readParts(t, msg)
	require.Equal(t, map[string]string{"text/plain": "Hello Ada", "text/html": "<p>Hello Ada</p>"}, parts)
}

// readParts returns the bodies of a multipart/alternative message by type.
func readParts(t *testing.T, msg *netmail.Message) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	out := map[string]string{}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		out[ct] = string(body)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, true, fakesmtp.Options{Implicit: true, Users: map[string]string{smtpUser: smtpPassword}})
	s := b.sender(t, "smtps://"+smtpUser+":"+smtpPassword+"@127.0.0.1:%d")
	_, err := s.Send(context.Background(), validMessage())
	require.NoError(t, err)
	require.Len(t, b.server.MessagesTo("ada@example.com"), 1)

	// smtp:// against a server speaking TLS from the first byte.
	plain := b.sender(t, "smtp://127.0.0.1:%d")
	_, err = plain.Send(context.Background(), validMessage())
	require.Error(t, err)
	require.Equal(t, 1, b.server.Count())
}

// TestSMTPRequiresSTARTTLS: a server that does not offer STARTTLS gets
// neither the password nor the message, and the error says why.
func TestSMTPRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{Users: map[string]string{smtpUser: smtpPassword}, InsecureAuth: true})
	s := b.sender(t, authURL)
	_, err := s.Send(context.Background(), validMessage())
	require.Error(t, err)
	require.False(t, mail.IsTemporary(err), "it will not mend by itself")
	require.Contains(t, err.Error(), "STARTTLS")
	require.Contains(t, err.Error(), "tls=none")
	require.NotContains(t, err.Error(), smtpPassword)
	require.Zero(t, b.server.Auths(), "no AUTH over plaintext")
	require.Zero(t, b.server.Mails())
	require.Zero(t, b.server.Count())

	// Saying tls=none explicitly allows it.
	s = b.sender(t, authURL+"?tls=none")
	_, err = s.Send(context.Background(), validMessage())
	require.NoError(t, err)
	require.Equal(t, 1, b.server.Auths())
	require.Equal(t, smtpUser, b.server.Messages()[0].User)
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, true, fakesmtp.Options{Users: map[string]string{smtpUser: smtpPassword}})
	s := b.sender(t, authURL, func(c *mail.SMTPConfig) { c.RootCAs = x509.NewCertPool() })
	_, err := s.Send(context.Background(), validMessage())
	require.Error(t, err)
	require.False(t, mail.IsTemporary(err))
	require.Contains(t, err.Error(), "not trusted")
	require.Zero(t, b.server.Auths())
	require.Zero(t, b.server.Count())
}

func TestSMTPAuthFailure(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, true, fakesmtp.Options{Users: map[string]string{smtpUser: "another-password"}})
	s := b.sender(t, authURL)
	_, err := s.Send(context.Background(), validMessage())
	var me *mail.Error
	require.ErrorAs(t, err, &me)
	require.False(t, me.Temporary)
	require.False(t, me.Bounced)
	require.Equal(t, 535, me.Code)
	require.NotContains(t, err.Error(), smtpPassword)
	require.Equal(t, 1, b.server.Auths())
	require.Zero(t, b.server.Count())
}

func TestSMTPConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none")
	b.server.Close()
	_, err := s.Send(context.Background(), validMessage())
	require.Error(t, err)
	require.True(t, mail.IsTemporary(err), "%v", err)
}

// TestSMTPReplies: each refusal is classified, carries the server's text,
// and leaves the connection fit for the next message.
func TestSMTPReplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		stage     fakesmtp.Stage
		code      int
		text      string
		temporary bool
		bounced   bool
	}{
		{"mailbox busy", fakesmtp.StageRcpt, 450, "4.2.1 Mailbox busy, try later", true, false},
		{"no such user", fakesmtp.StageRcpt, 550, "5.1.1 No such user", false, true},
		{"sender refused", fakesmtp.StageMail, 553, "5.7.1 Sender not allowed", false, false},
		{"content refused", fakesmtp.StageData, 554, "5.6.0 Message content rejected", false, false},
		{"greylisted data", fakesmtp.StageData, 451, "4.7.1 Try again later", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startSMTP(t, false, fakesmtp.Options{})
			s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) { c.Pool = 1 })
			b.server.Fail(tc.stage, "", 1, tc.code, tc.text)
			_, err := s.Send(context.Background(), validMessage())
			var me *mail.Error
			require.ErrorAs(t, err, &me)
			require.Equal(t, tc.temporary, me.Temporary, "%v", err)
			require.Equal(t, tc.temporary, mail.IsTemporary(err))
			require.Equal(t, tc.bounced, me.Bounced)
			require.Equal(t, tc.code, me.Code)
			reason, bounced := mail.Bounce(err)
			require.Equal(t, tc.bounced, bounced)
			if tc.bounced {
				require.Equal(t, fmt.Sprintf("%d %s", tc.code, tc.text), reason)
			}
			require.Contains(t, err.Error(), tc.text)

			_, err = s.Send(context.Background(), validMessage())
			require.NoError(t, err)
			require.Equal(t, 1, b.server.Count())
			require.Equal(t, 1, b.server.Connections(), "the connection is kept")
		})
	}
}

// TestSMTPBounceOnlyThatRecipient: a refused recipient among others fails
// alone.
func TestSMTPBounceOnlyThatRecipient(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) { c.Pool = 2 })
	b.server.Fail(fakesmtp.StageRcpt, "Gone@Example.com", 1<<30, 550, "5.1.1 User unknown")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			addr := fmt.Sprintf("p%d@example.com", i)
			if i == 3 {
				addr = "gone@example.com"
			}
			_, errs[i] = s.Send(context.Background(), messageTo(addr))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 3 {
			reason, ok := mail.Bounce(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, "550 5.1.1 User unknown", reason)
			continue
		}
		require.NoError(t, err)
	}
	require.Equal(t, 5, b.server.Count())
	require.Empty(t, b.server.MessagesTo("gone@example.com"))
}

// TestSMTPPoolReusesConnections: messages share kept-open connections, with
// RSET between them; no more connections than the pool holds.
func TestSMTPPoolReusesConnections(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, true, fakesmtp.Options{Users: map[string]string{smtpUser: smtpPassword}})
	one := b.sender(t, authURL, func(c *mail.SMTPConfig) { c.Pool = 1 })
	for i := range 5 {
		_, err := one.Send(context.Background(), messageTo(fmt.Sprintf("p%d@example.com", i)))
		require.NoError(t, err)
	}
	require.Equal(t, 1, b.server.Connections())
	require.Equal(t, 1, b.server.Auths(), "one AUTH per connection")
	require.Equal(t, 5, b.server.Resets(), "RSET after every message")
	for _, m := range b.server.Messages() {
		require.Equal(t, 1, m.Conn)
	}

	four := b.sender(t, authURL, func(c *mail.SMTPConfig) { c.Pool = 4 })
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() { _, errs[i] = four.Send(context.Background(), messageTo(fmt.Sprintf("q%d@example.com", i))) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, 45, b.server.Count())
	require.LessOrEqual(t, b.server.Connections(), 1+4)
}

// TestSMTPReconnectsAfterDrop: the server cuts each connection after three
// messages; every message still gets out, none twice.
func TestSMTPReconnectsAfterDrop(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) { c.Pool = 1 })
	b.server.DropAfter(3)
	for i := range 10 {
		_, err := s.Send(context.Background(), messageTo(fmt.Sprintf("p%d@example.com", i)))
		require.NoError(t, err, "message %d", i)
	}
	require.Equal(t, 10, b.server.Count())
	require.Equal(t, 4, b.server.Connections())
	for i := range 10 {
		require.Len(t, b.server.MessagesTo(fmt.Sprintf("p%d@example.com", i)), 1)
	}
}

// TestSMTPDropWhileSending: a connection cut in the middle of a message
// (no reply to its data) is a temporary failure; the next message gets a
// new connection.
func TestSMTPDropWhileSending(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) { c.Pool = 1 })
	_, err := s.Send(context.Background(), messageTo("first@example.com"))
	require.NoError(t, err)
	b.server.Fail(fakesmtp.StageRcpt, "", 1, 421, "4.4.2 Closing connection")
	_, err = s.Send(context.Background(), messageTo("second@example.com"))
	require.True(t, mail.IsTemporary(err), "%v", err)
	_, err = s.Send(context.Background(), messageTo("third@example.com"))
	require.NoError(t, err)
	require.Equal(t, 2, b.server.Connections(), "a 421 ends the connection")
}

func TestSMTPIdleAndMaxPerConnection(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) {
		c.Pool, c.Clock, c.IdleTimeout, c.MaxPerConnection = 1, clk, time.Minute, 3
	})
	send := func() {
		t.Helper()
		_, err := s.Send(context.Background(), validMessage())
		require.NoError(t, err)
	}
	send()
	clk.Advance(59 * time.Second)
	send()
	require.Equal(t, 1, b.server.Connections(), "not idle long enough")
	clk.Advance(time.Minute)
	send()
	require.Equal(t, 2, b.server.Connections(), "idle: replaced")
	send()
	send()
	require.Equal(t, 2, b.server.Connections())
	send()
	require.Equal(t, 3, b.server.Connections(), "three messages per connection")
}

func TestSMTPClose(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none")
	_, err := s.Send(context.Background(), validMessage())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Send(context.Background(), validMessage())
	require.True(t, mail.IsTemporary(err))
	require.NoError(t, s.Close(), "twice is fine")
}

func TestSMTPRejectsInvalidMessages(t *testing.T) {
	t.Parallel()
	b := startSMTP(t, false, fakesmtp.Options{})
	s := b.sender(t, "smtp://127.0.0.1:%d?tls=none")
	for _, m := range []mail.Message{
		func() mail.Message { m := validMessage(); m.Subject = "a\r\nBcc: x@evil.example"; return m }(),
		func() mail.Message { m := validMessage(); m.To.Email = "not an address@"; return m }(),
		func() mail.Message { m := validMessage(); m.To.Email = "a b@example.com"; return m }(),
		func() mail.Message { m := validMessage(); m.Text, m.HTML = "", ""; return m }(),
	} {
		_, err := s.Send(context.Background(), m)
		require.Error(t, err)
		require.False(t, mail.IsTemporary(err))
	}
	require.Zero(t, b.server.Connections(), "nothing to connect for")
}

// TestSMTPDKIM: signed messages verify against the published key, RSA and
// Ed25519 alike; a changed header breaks the signature.
func TestSMTPDKIM(t *testing.T) {
	t.Parallel()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for name, key := range map[string]crypto.Signer{"rsa": rsaKey, "ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startSMTP(t, false, fakesmtp.Options{})
			s := b.sender(t, "smtp://127.0.0.1:%d?tls=none", func(c *mail.SMTPConfig) {
				c.DKIM = &mail.DKIM{Domain: "rollcall.example", Selector: "mail2026", Key: key}
			})
			m := validMessage()
			m.Subject = "Willkommen, Zoë — ein langer Betreff, der gefaltet werden muss, weil er über die Zeilenlänge hinausgeht"
			_, err := s.Send(context.Background(), m)
			require.NoError(t, err)
			data := b.server.Messages()[0].Data

			record := dkimRecord(t, key)
			lookups := 0
			opts := &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
				lookups++
				if domain != "mail2026._domainkey.rollcall.example" {
					return nil, fmt.Errorf("no record for %s", domain)
				}
				return []string{record}, nil
			}}
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), opts)
			require.NoError(t, err)
			require.Len(t, vs, 1)
			require.NoError(t, vs[0].Err)
			require.Equal(t, "rollcall.example", vs[0].Domain)
			require.Contains(t, vs[0].HeaderKeys, "Reply-To")
			require.Equal(t, 1, lookups)

			forged := bytes.Replace(data, []byte("Reply-To: <help@rollcall.example>"), []byte("Reply-To: <thief@evil.example>"), 1)
			require.NotEqual(t, data, forged)
			vs, err = dkim.VerifyWithOptions(bytes.NewReader(forged), opts)
			require.NoError(t, err)
			require.Error(t, vs[0].Err)
		})
	}
}

// dkimRecord is the DNS TXT record publishing key's public half.
func dkimRecord(t *testing.T, key crypto.Signer) string {
	t.Helper()
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
}

func TestLoadDKIMKey(t *testing.T) {
	t.Parallel()
	encode := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return der
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)

	cases := []struct {
		name string
		pem  []byte
		err  string
	}{
		{"rsa pkcs1", encode("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048)), ""},
		{"rsa pkcs8", encode("PRIVATE KEY", pkcs8(rsa2048)), ""},
		{"ed25519", encode("PRIVATE KEY", pkcs8(ed)), ""},
		{"ecdsa", encode("PRIVATE KEY", pkcs8(ec)), "unsupported key type"},
		{"public key", encode("PUBLIC KEY", []byte("x")), "unsupported PEM block"},
		{"not pem", []byte("hello"), "no valid PEM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := mail.LoadDKIMKey(tc.pem)
			if tc.err == "" {
				require.NoError(t, err)
				require.NotNil(t, key)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		want mail.SMTPServer
		err  string
	}{
		{"smtp://user:p%40ss@mail.example.com", mail.SMTPServer{Host: "mail.example.com", Port: 587, TLS: mail.TLSStartTLS, Username: "user", Password: "p@ss"}, ""},
		{"smtp://mail.example.com:2525", mail.SMTPServer{Host: "mail.example.com", Port: 2525, TLS: mail.TLSStartTLS}, ""},
		{"SMTP://relay.local:25?tls=none", mail.SMTPServer{Host: "relay.local", Port: 25, TLS: mail.TLSNone}, ""},
		{"smtp://relay.local?tls=starttls", mail.SMTPServer{Host: "relay.local", Port: 587, TLS: mail.TLSStartTLS}, ""},
		{"smtps://apikey:k3y@smtp.example.com", mail.SMTPServer{Host: "smtp.example.com", Port: 465, TLS: mail.TLSImplicit, Username: "apikey", Password: "k3y"}, ""},
		{"smtps://[::1]:4650/", mail.SMTPServer{Host: "::1", Port: 4650, TLS: mail.TLSImplicit}, ""},
		{"", mail.SMTPServer{}, "empty"},
		{"http://mail.example.com", mail.SMTPServer{}, `scheme "http"`},
		{"mail.example.com:587", mail.SMTPServer{}, "scheme"},
		{"smtp://", mail.SMTPServer{}, "no host"},
		{"smtp://user:pw@:587", mail.SMTPServer{}, "no host"},
		{"smtp:mail.example.com", mail.SMTPServer{}, "no host"},
		{"smtp://mail.example.com:0", mail.SMTPServer{}, "port"},
		{"smtp://mail.example.com:99999", mail.SMTPServer{}, "port"},
		{"smtp://mail.example.com/inbox", mail.SMTPServer{}, "path"},
		{"smtp://user@mail.example.com", mail.SMTPServer{}, "no password"},
		{"smtp://:pw@mail.example.com", mail.SMTPServer{}, "without a user"},
		{"smtp://mail.example.com?tls=off", mail.SMTPServer{}, `tls="off"`},
		{"smtp://mail.example.com?tls=none&tls=none", mail.SMTPServer{}, "more than once"},
		{"smtp://mail.example.com?verify=false", mail.SMTPServer{}, `unknown parameter "verify"`},
		{"smtps://mail.example.com?tls=none", mail.SMTPServer{}, "implicit TLS"},
		{"smtp://user:top#secret@mail.example.com", mail.SMTPServer{}, "not a valid URL"},
		{"smtp://mail.example.com#secret", mail.SMTPServer{}, "fragment"},
		{"smtp://user:to p%zzsecret@mail.example.com", mail.SMTPServer{}, "not a valid URL"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			got, err := mail.ParseSMTPURL(tc.url)
			if tc.err == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				if got.Password != "" {
					require.NotContains(t, got.String(), got.Password, "String hides the password")
				}
				return
			}
			require.ErrorContains(t, err, tc.err)
			for _, secret := range []string{"pw", "secret", "zzsecret"} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}
