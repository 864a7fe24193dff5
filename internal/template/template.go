// Package template validates and renders the emails Rollcall sends: invitations,
// password resets, temporary passwords and notices of a changed address.
//
// Each kind has a default shipped in the binary (see Default); an organisation may
// replace it with its own Source, written in Go template syntax against the
// variables listed by Variables. Validate checks such a Source before it is stored
// and Render turns one into a ready-to-send email. HTML is rendered with
// html/template, so every value is escaped for its context; the subject and the
// plain-text body are rendered verbatim, and the subject is folded onto one line.
//
// Whoever edits templates must not be able to send a person's link or password
// anywhere but to that person, nor make an email load anything: Validate decides
// where each value may stand on the template's parse tree, over every branch,
// with an allow-list of HTML elements and attributes (see Validate).
//
// Service (overrides.go) is the only part that reads the database: it saves
// and lists an organisation's overrides, resolves the template an email goes
// out with (Resolver) and previews emails. Email and DataOf (email.go) turn a
// person and an organisation into Data. The other files are pure.
package template

import (
	"embed"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/rollcall/rollcall/internal/locale"
)

// Kind identifies which email a template is for.
type Kind string

// The kinds of email Rollcall sends.
const (
	// Invitation invites a person to join an organisation.
	Invitation Kind = "INVITATION"
	// PasswordReset carries a link to choose a new password.
	PasswordReset Kind = "PASSWORD_RESET"
	// TemporaryPassword carries a password to sign in with once.
	TemporaryPassword Kind = "TEMPORARY_PASSWORD"
	// EmailChanged tells a person, at their old address, that their address was
	// changed (to NewEmail). It carries no link and no password.
	EmailChanged Kind = "EMAIL_CHANGED"
	// Reminder reminds an invited person who has not answered: a fresh
	// link to the same invitation (reminder rounds, sendInvitations with
	// kind REMINDER).
	Reminder Kind = "REMINDER"
)

// Kinds returns every Kind, in a stable order. The slice is new on every call.
func Kinds() []Kind {
	return []Kind{Invitation, PasswordReset, TemporaryPassword, EmailChanged, Reminder}
}

// valid reports whether k is one of Kinds.
func (k Kind) valid() bool {
	switch k {
	case Invitation, PasswordReset, TemporaryPassword, EmailChanged, Reminder:
		return true
	}
	return false
}

// Source is a template as an admin writes it.
type Source struct {
	// Subject is the subject line; it is rendered as plain text on one line.
	Subject string
	// HTML is the HTML body; every value is escaped for its context.
	HTML string
	// Text is the plain-text body; values are inserted verbatim.
	Text string
}

// The default templates, one directory per shipped locale (locale.Shipped),
// each holding <kind>.subject.txt, .html and .txt for every kind (kind in
// lower case). A test reads every one of them, so a missing file fails the
// build's tests, not an email.
//
//go:embed defaults/*/*.txt defaults/*/*.html
var defaults embed.FS

// Default returns the built-in English template of kind k, or the zero Source
// for an unknown kind.
func Default(k Kind) Source { return DefaultIn(k, locale.Default) }

// DefaultIn returns the built-in template of kind k in the shipped locale
// loc (one of locale.Shipped, as locale.Pick returns), or the zero Source for
// an unknown kind or a locale Rollcall does not ship.
func DefaultIn(k Kind, loc string) Source {
	if !k.valid() || !slices.Contains(locale.Shipped(), loc) {
		return Source{}
	}
	base := "defaults/" + loc + "/" + strings.ToLower(string(k))
	return Source{
		Subject: strings.TrimSpace(mustRead(base + ".subject.txt")),
		HTML:    mustRead(base + ".html"),
		Text:    mustRead(base + ".txt"),
	}
}

// mustRead returns an embedded file. Every kind has its files in every
// shipped locale (a test reads them all), so a failure is a programming
// error.
func mustRead(name string) string {
	b, err := defaults.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("template: embedded default %s: %v", name, err))
	}
	return string(b)
}

// Data is what a template can use. All fields are plain strings, already formatted.
type Data struct {
	// FirstName is the recipient's first name, or "".
	FirstName string
	// LastName is the recipient's last name, or "".
	LastName string
	// FullName is "First Last", or whichever of the two is known, or "".
	FullName string
	// Email is the recipient's email address (for EMAIL_CHANGED, the old one,
	// which the email is sent to).
	Email string
	// NewEmail is the recipient's new address; only for EMAIL_CHANGED.
	NewEmail string
	// Username is the name the recipient signs in with, or "".
	Username string
	// OrganizationName is the name of the organisation sending the email.
	OrganizationName string
	// RoleName is the recipient's role in the organisation, or "".
	RoleName string
	// InviterName is who sent the invitation ("" when unknown).
	InviterName string
	// ActionURL is the personal link (accept / reset / sign-in page); a secret,
	// not for EMAIL_CHANGED.
	ActionURL string
	// ExpiresAt is when the link or password expires, written for the
	// email's locale: "Monday 9 March 2026, 09:00 UTC", "Montag, 9. März
	// 2026, 09:00 Uhr UTC".
	ExpiresAt string
	// ExpiresIn is how long until it expires, written for the email's
	// locale: "7 days", "1 hour", "7 Tage".
	ExpiresIn string
	// TemporaryPassword is the password to sign in with; a secret, only for
	// TEMPORARY_PASSWORD.
	TemporaryPassword string
	// ReplyTo is the organisation's reply-to address, may be "".
	ReplyTo string
	// SignInURL is where the organisation's people sign in
	// (Organization.signInURL), or "".
	SignInURL string
}

// Rendered is an email ready to send.
type Rendered struct {
	// Subject is a single line with no control characters.
	Subject string
	// HTML is the HTML body ("" when the Source has none).
	HTML string
	// Text is the plain-text body ("" when the Source has none).
	Text string
}

// Render checks src as Compile does, then executes it with d: HTML through
// html/template (escaping every value for its context), Text and Subject through
// text/template. The rendered subject has every run of whitespace and control
// characters (including CR/LF) collapsed to one space and is trimmed, so it can
// never inject a header. Problems with src are reported as a wrapped *FieldError.
func Render(k Kind, src Source, d Data) (Rendered, error) {
	c, err := compile(k, src, false)
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s template: %w", k, err)
	}
	return c.Render(d)
}

// Render executes the template with d.
func (c *Compiled) Render(d Data) (Rendered, error) {
	var out Rendered
	var b strings.Builder
	if err := c.subject.Execute(&b, d); err != nil {
		return Rendered{}, fmt.Errorf("render %s template: %w", c.kind, execError(fieldSubject, err))
	}
	out.Subject = OneLine(b.String())
	b.Reset()
	if err := c.html.Execute(&b, d); err != nil {
		return Rendered{}, fmt.Errorf("render %s template: %w", c.kind, execError(fieldHTML, err))
	}
	out.HTML = b.String()
	b.Reset()
	if err := c.text.Execute(&b, d); err != nil {
		return Rendered{}, fmt.Errorf("render %s template: %w", c.kind, execError(fieldText, err))
	}
	out.Text = b.String()
	return out, nil
}

// OneLine collapses every run of whitespace and control characters in s to a
// single space and trims the result.
func OneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
