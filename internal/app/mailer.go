package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/tracing"
)

// newSender returns the configured mail transport, or says which setting
// makes the mail configuration unusable (the server then refuses to start).
func newSender(c config.Mail, log *slog.Logger) (mail.Sender, error) {
	d := c.SMTP
	if c.Mailer != "smtp" && (d.DKIMDomain != "" || d.DKIMSelector != "" || d.DKIMKeyFile != "") {
		return nil, fmt.Errorf("ROLLCALL_DKIM_*: DKIM signing is the smtp mailer's, and ROLLCALL_MAILER is %q (Mailgun signs its emails itself)", c.Mailer)
	}
	switch c.Mailer {
	case "outbox", "":
		return mail.NewOutbox(c.OutboxDir)
	case "mailgun":
		return mail.NewMailgun(mail.MailgunConfig{Domain: c.MailgunDomain, APIKey: c.MailgunKey, APIBase: c.MailgunAPIBase})
	case "smtp":
		return newSMTP(c, log)
	default:
		return nil, fmt.Errorf("ROLLCALL_MAILER %q: want outbox, mailgun or smtp", c.Mailer)
	}
}

// newSMTP checks the smtp mailer's settings and returns its sender. It does
// not connect: a server down at start is retried when emails are due.
func newSMTP(c config.Mail, log *slog.Logger) (*mail.SMTP, error) {
	s := c.SMTP
	srv, err := mail.ParseSMTPURL(s.URL)
	if err != nil {
		return nil, fmt.Errorf("ROLLCALL_SMTP_URL: %w", err)
	}
	switch {
	case s.Pool < 1:
		return nil, fmt.Errorf("ROLLCALL_SMTP_POOL %d: want at least 1", s.Pool)
	case s.Timeout <= 0:
		return nil, fmt.Errorf("ROLLCALL_SMTP_TIMEOUT %s: want more than 0", s.Timeout)
	case s.IdleTimeout <= 0:
		return nil, fmt.Errorf("ROLLCALL_SMTP_IDLE_TIMEOUT %s: want more than 0", s.IdleTimeout)
	case s.MaxPerConnection < 0:
		return nil, fmt.Errorf("ROLLCALL_SMTP_MAX_PER_CONNECTION %d: want 0 (no limit) or more", s.MaxPerConnection)
	}
	dkim, err := dkimConfig(s)
	if err != nil {
		return nil, err
	}
	if dkim != nil && !underDomain(c.From, dkim.Domain) {
		log.Warn("the sender address is not in the DKIM domain: receivers checking DMARC will not count the signature",
			slog.String("from", c.From), slog.String("dkim_domain", dkim.Domain))
	}
	sender, err := mail.NewSMTP(mail.SMTPConfig{Server: srv, Pool: s.Pool, Timeout: s.Timeout, IdleTimeout: s.IdleTimeout,
		MaxPerConnection: s.MaxPerConnection, DKIM: dkim})
	if err != nil {
		return nil, err
	}
	log.Info("mail leaves over SMTP", slog.String("server", srv.String()), slog.Int("pool", s.Pool), slog.Bool("dkim", dkim != nil))
	return sender, nil
}

// dkimConfig reads the DKIM settings: none (no signing), or all three with
// a usable key.
func dkimConfig(s config.SMTP) (*mail.DKIM, error) {
	set := map[string]string{"ROLLCALL_DKIM_DOMAIN": s.DKIMDomain, "ROLLCALL_DKIM_SELECTOR": s.DKIMSelector, "ROLLCALL_DKIM_KEY_FILE": s.DKIMKeyFile}
	var missing []string
	for _, name := range []string{"ROLLCALL_DKIM_DOMAIN", "ROLLCALL_DKIM_SELECTOR", "ROLLCALL_DKIM_KEY_FILE"} {
		if set[name] == "" {
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 3:
		return nil, nil
	case 0:
	default:
		return nil, fmt.Errorf("DKIM signing needs ROLLCALL_DKIM_DOMAIN, ROLLCALL_DKIM_SELECTOR and ROLLCALL_DKIM_KEY_FILE; missing %s", strings.Join(missing, ", "))
	}
	if !dnsName(s.DKIMDomain) {
		return nil, fmt.Errorf("ROLLCALL_DKIM_DOMAIN %q: not a domain name", s.DKIMDomain)
	}
	if !dnsName(s.DKIMSelector) {
		return nil, fmt.Errorf("ROLLCALL_DKIM_SELECTOR %q: want letters, digits, hyphens and dots, e.g. mail2026", s.DKIMSelector)
	}
	pem, err := os.ReadFile(s.DKIMKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ROLLCALL_DKIM_KEY_FILE: %w", err)
	}
	key, err := mail.LoadDKIMKey(pem)
	if err != nil {
		return nil, fmt.Errorf("ROLLCALL_DKIM_KEY_FILE %q: %w", s.DKIMKeyFile, err)
	}
	return &mail.DKIM{Domain: strings.ToLower(strings.TrimSuffix(s.DKIMDomain, ".")), Selector: s.DKIMSelector, Key: key}, nil
}

// dnsName reports whether s is dot-separated labels of letters, digits,
// hyphens and underscores, none empty, none longer than 63.
func dnsName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// underDomain reports whether address's domain is domain or one of its
// subdomains (DMARC's relaxed alignment, short of the public suffix list).
func underDomain(address, domain string) bool {
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return false
	}
	d := strings.ToLower(strings.TrimSuffix(address[at+1:], ">"))
	return d == domain || strings.HasSuffix(d, "."+domain) || strings.HasSuffix(domain, "."+d)
}

// tracedSender puts a span around each call to the mail provider. It keeps
// batch sending when s can.
func tracedSender(s mail.Sender, t trace.Tracer) mail.Sender {
	ts := traced{s: s, t: t, provider: attribute.String("mail.provider", fmt.Sprintf("%T", s))}
	if b, ok := s.(mail.BatchSender); ok {
		return tracedBatch{traced: ts, b: b}
	}
	return ts
}

type traced struct {
	s        mail.Sender
	t        trace.Tracer
	provider attribute.KeyValue // s's type, named once
}

func (s traced) Send(ctx context.Context, m mail.Message) (string, error) {
	ctx, span := s.t.Start(ctx, "mail send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.provider))
	id, err := s.s.Send(ctx, m)
	tracing.End(span, err)
	return id, err
}

type tracedBatch struct {
	traced
	b mail.BatchSender
}

func (s tracedBatch) SendBatch(ctx context.Context, b mail.Batch) (string, error) {
	ctx, span := s.t.Start(ctx, "mail send batch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.provider, attribute.Int("mail.recipients", len(b.Recipients))))
	id, err := s.b.SendBatch(ctx, b)
	tracing.End(span, err)
	return id, err
}
