// Package mail is the transport seam for email: it sends one already-rendered
// message to Mailgun, to an SMTP server, or to a directory of .eml files.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Address is a display name and an email address.
type Address struct{ Name, Email string }

// Message is one rendered email to one recipient.
type Message struct {
	From    Address
	ReplyTo string // optional address
	To      Address
	Subject string
	Text    string // text/plain body
	HTML    string // text/html body
	// Variables travel with the message for the provider's webhooks
	// (Mailgun custom variables "v:KEY", e.g. delivery_id).
	Variables map[string]string
}

// Sender sends one message and returns the provider's message id.
type Sender interface {
	Send(ctx context.Context, m Message) (id string, err error)
}

// Error is a failed send. Temporary errors (HTTP 429 and 5xx, SMTP 4xx,
// timeouts, connection failures) are worth retrying; the others are permanent.
type Error struct {
	Temporary bool
	Status    int // HTTP status when an HTTP provider answered, else 0
	Code      int // SMTP reply code when an SMTP server answered, else 0
	// Bounced says the recipient's address was refused for good (an SMTP
	// server's 5xx to RCPT TO): the email is recorded BOUNCED with Reason,
	// and the address is suppressed as if a provider had reported a bounce.
	Bounced bool
	Reason  string // the server's reply, e.g. "550 5.1.1 No such user", when it gave one
	Err     error
}

// Error describes the failure, its kind and the provider's status if any.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mail: ")
	if e.Temporary {
		b.WriteString("temporary")
	} else {
		b.WriteString("permanent")
	}
	b.WriteString(" send failure")
	if e.Status != 0 {
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (reply %d)", e.Code)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// IsTemporary reports whether err (anywhere in its chain) is a temporary *Error,
// or a context deadline / net timeout.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	if anyInChain(err, func(err error) bool {
		e, ok := err.(*Error)
		return ok && e.Temporary
	}) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// anyInChain reports whether f holds for err or anything it wraps, following
// both Unwrap() error and Unwrap() []error.
func anyInChain(err error, f func(error) bool) bool {
	for err != nil {
		if f(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if anyInChain(e, f) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// permanent wraps err as a permanent *Error with no status.
func permanent(err error) *Error { return &Error{Err: err} }

// Bounce returns the server's reason when err (anywhere in its chain) is a
// permanent *Error that bounced the recipient, and whether it is one.
func Bounce(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) || !e.Bounced || e.Temporary {
		return "", false
	}
	if e.Reason != "" {
		return e.Reason, true
	}
	return e.Error(), true
}

// ctxError turns a done context's error into an *Error: a passed deadline is
// worth retrying, a cancellation is not (the caller gave up).
func ctxError(what string, err error) *Error {
	return &Error{
		Temporary: errors.Is(err, context.DeadlineExceeded),
		Err:       fmt.Errorf("%s: %w", what, err),
	}
}

// validate checks what both senders require, returning a permanent *Error:
// both addresses present and of the form local@domain, some body, and no CR or LF in anything that ends up
// in a header (which would let a caller's input inject headers).
func (m Message) validate() error {
	if strings.TrimSpace(m.From.Email) == "" {
		return permanent(errors.New("validate message: sender address is empty"))
	}
	if strings.TrimSpace(m.To.Email) == "" {
		return permanent(errors.New("validate message: recipient address is empty"))
	}
	if !hasLocalAndDomain(m.From.Email) {
		return permanent(errors.New("validate message: sender address has no local part or domain"))
	}
	if !hasLocalAndDomain(m.To.Email) {
		return permanent(errors.New("validate message: recipient address has no local part or domain"))
	}
	if m.Text == "" && m.HTML == "" {
		return permanent(errors.New("validate message: text and HTML bodies are both empty"))
	}
	fields := []struct{ name, value string }{
		{"sender name", m.From.Name},
		{"sender address", m.From.Email},
		{"recipient name", m.To.Name},
		{"recipient address", m.To.Email},
		{"reply-to", m.ReplyTo},
		{"subject", m.Subject},
	}
	for _, f := range fields {
		if hasLineBreak(f.value) {
			return permanent(fmt.Errorf("validate message: %s contains a line break", f.name))
		}
	}
	for k, v := range m.Variables {
		switch {
		case k == "":
			return permanent(errors.New("validate message: variable with an empty name"))
		case hasLineBreak(k):
			return permanent(fmt.Errorf("validate message: variable name %q contains a line break", k))
		case hasLineBreak(v):
			return permanent(fmt.Errorf("validate message: variable %q contains a line break", k))
		}
	}
	return nil
}

// hasLineBreak reports whether s contains a CR or LF.
func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

// hasLocalAndDomain reports whether email has text both sides of its last @.
func hasLocalAndDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at > 0 && at < len(email)-1
}
