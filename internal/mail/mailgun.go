package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mailgun/mailgun-go/v4"
)

// defaultMailgunTimeout bounds one Mailgun API request when the config does not.
const defaultMailgunTimeout = 30 * time.Second

// MailgunConfig configures a Mailgun sender.
type MailgunConfig struct {
	Domain, APIKey string
	APIBase        string        // default mailgun.APIBase (US); may be any compatible server, e.g. http://127.0.0.1:PORT/v3
	Timeout        time.Duration // per request; default 30s
}

// Mailgun sends messages through the Mailgun HTTP API.
type Mailgun struct {
	client *mailgun.MailgunImpl
	key    string // only to scrub it from error messages
}

// NewMailgun returns a Mailgun sender. Domain and APIKey are required; an
// empty APIBase means mailgun.APIBase and a Timeout <= 0 means 30s.
func NewMailgun(cfg MailgunConfig) (*Mailgun, error) {
	if cfg.Domain == "" {
		return nil, errors.New("create mailgun sender: domain is empty")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("create mailgun sender: API key is empty")
	}
	base := cfg.APIBase
	if base == "" {
		base = mailgun.APIBase
	}
	base = strings.TrimRight(base, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("create mailgun sender: API base is not an absolute http(s) URL")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultMailgunTimeout
	}
	c := mailgun.NewMailgun(cfg.Domain, cfg.APIKey)
	c.SetAPIBase(base)
	c.SetClient(&http.Client{Timeout: timeout, Transport: newTransport()})
	return &Mailgun{client: c, key: cfg.APIKey}, nil
}

// Send posts m to Mailgun and returns the id Mailgun gave it, without the
// surrounding angle brackets. Errors are *Error: temporary for HTTP 429, 5xx,
// timeouts and connection failures, permanent otherwise.
func (g *Mailgun) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	msg, err := g.compose(m.From, m.ReplyTo, m.Subject, m.Text, m.HTML, m.Variables)
	if err != nil {
		return "", err
	}
	if err := msg.AddRecipient(formatAddress(m.To)); err != nil {
		return "", permanent(fmt.Errorf("mailgun add recipient: %w", g.redact(err)))
	}
	return g.post(ctx, msg)
}

// SendBatch posts b to Mailgun as one batch and returns the id Mailgun gave
// it, shared by every copy. Errors are *Error, classified as for Send.
func (g *Mailgun) SendBatch(ctx context.Context, b Batch) (string, error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	msg, err := g.compose(b.From, b.ReplyTo, b.Subject, b.Text, b.HTML, b.Variables)
	if err != nil {
		return "", err
	}
	// Mailgun sends each "to" a copy of its own only when recipient-variables
	// is present (else one message lists everyone), so every recipient gets a
	// map, even an empty one. Mailgun keys the variables by bare address, but
	// mailgun-go keys them by the "to" string as given, "Name" <addr>: re-key
	// through the map RecipientVariables returns, which is the message's own.
	for _, r := range b.Recipients {
		to := formatAddress(r.To)
		vars := make(map[string]any, len(r.Values))
		for k, v := range r.Values {
			vars[k] = v
		}
		if err := msg.AddRecipientAndVariables(to, vars); err != nil {
			return "", permanent(fmt.Errorf("mailgun add recipient: %w", g.redact(err)))
		}
		rv := msg.RecipientVariables()
		delete(rv, to)
		rv[r.To.Email] = vars
	}
	return g.post(ctx, msg)
}

// compose starts a Mailgun message with what Message and Batch share; the
// caller adds the recipients.
func (g *Mailgun) compose(from Address, replyTo, subject, text, html string, vars map[string]string) (*mailgun.Message, error) {
	msg := mailgun.NewMessage(formatAddress(from), subject, text)
	if html != "" {
		msg.SetHTML(html)
	}
	if replyTo != "" {
		msg.SetReplyTo(replyTo)
	}
	for k, v := range vars {
		if err := msg.AddVariable(k, v); err != nil {
			return nil, permanent(fmt.Errorf("mailgun add variable %q: %w", k, g.redact(err)))
		}
	}
	return msg, nil
}

// post sends msg and returns its id without the surrounding angle brackets.
func (g *Mailgun) post(ctx context.Context, msg *mailgun.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", ctxError("mailgun send", err)
	}
	_, id, err := g.client.Send(ctx, msg)
	if err != nil {
		return "", g.classify(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"), nil
}

// newTransport is HTTP for many messages to one host: enough idle
// connections for every worker (the default keeps two, so eight workers
// would open and close connections all the time), and request bodies sent
// in large writes.
func newTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return bufferedBodies{next: t}
}

// bufferedBodies reads each request body into memory before sending it.
// mailgun-go streams its multipart form through a pipe, and the socket would
// otherwise get one small write, one system call, per form field.
type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	buffered := r.Clone(r.Context())
	buffered.ContentLength = int64(len(body))
	buffered.Body = io.NopCloser(bytes.NewReader(body))
	buffered.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.RoundTrip(buffered)
}

// classify turns an error from mailgun-go into an *Error.
func (g *Mailgun) classify(err error) *Error {
	e := &Error{Err: fmt.Errorf("mailgun send: %w", g.redact(err))}
	var resp *mailgun.UnexpectedResponseError
	var netErr net.Error
	switch {
	case errors.As(err, &resp):
		e.Status = resp.Actual
		e.Temporary = resp.Actual == http.StatusTooManyRequests || resp.Actual >= 500
	case errors.Is(err, context.Canceled):
		// The caller gave up; retrying is its decision, not ours.
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr), // *url.Error from the HTTP client: refused, reset, timed out, DNS…
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		e.Temporary = true
	}
	return e
}

// redact wraps err so its message never shows the API key.
func (g *Mailgun) redact(err error) error {
	if g.key == "" || !strings.Contains(err.Error(), g.key) {
		return err
	}
	return &redactedError{err: err, secret: g.key}
}

// redactedError hides a secret from an error's message; Unwrap still reaches
// the original so errors.Is and errors.As keep working.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "[REDACTED]")
}

func (e *redactedError) Unwrap() error { return e.err }
