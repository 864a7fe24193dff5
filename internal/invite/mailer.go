package invite

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/emailtemplate"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/template"
)

// Mailer renders an organisation's templates for people, from the address
// from. Sending is the bulk-send engine's: every email is a delivery.
type Mailer struct {
	client *ent.Client
	from   string
	log    *slog.Logger
}

// NewMailer returns a mailer whose emails come from the address from.
func NewMailer(client *ent.Client, from string, log *slog.Logger) *Mailer {
	return &Mailer{client: client, from: from, log: log}
}

// Email is one email to render and send.
type Email struct {
	Kind              template.Kind
	User              *ent.User
	Org               *ent.Organization
	Role              *ent.Role
	Inviter           string
	URL               string
	ExpiresAt         time.Time
	TTL               time.Duration
	TemporaryPassword string
	NewEmail          string // EMAIL_CHANGED: the address the account moved to
}

// Templates resolves the template an organisation uses for a kind and role:
// the role's override, else the kind's override, else the default.
type Templates struct {
	client *ent.Client
	from   string
	log    *slog.Logger
	cache  map[string]*template.Compiled
}

// NewTemplates returns a resolver that caches what it reads.
func (m *Mailer) NewTemplates() *Templates {
	return &Templates{client: m.client, from: m.from, log: m.log, cache: map[string]*template.Compiled{}}
}

// For returns the effective template, compiled.
func (t *Templates) For(ctx context.Context, orgID int, kind template.Kind, roleID int) (*template.Compiled, error) {
	key := fmt.Sprint(orgID, kind, roleID)
	if c, ok := t.cache[key]; ok {
		return c, nil
	}
	rows, err := t.client.EmailTemplate.Query().
		Where(emailtemplate.OrganizationID(orgID), emailtemplate.KindEQ(emailtemplate.Kind(kind)),
			emailtemplate.Or(emailtemplate.RoleIDIsNil(), emailtemplate.RoleID(roleID))).
		All(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	var override *ent.EmailTemplate
	for _, r := range rows {
		if r.RoleID == nil || *r.RoleID == roleID {
			override = r
			if r.RoleID != nil {
				break
			}
		}
	}
	var c *template.Compiled
	if override != nil {
		c, err = template.Compile(kind, template.Source{Subject: override.Subject, HTML: override.HTML, Text: override.Text})
		if err != nil {
			// Saved before today's rules (a remote image, say): the
			// default goes out rather than nothing, and the admin is told
			// in the log.
			t.log.WarnContext(ctx, "saved template breaks the rules; sending the default",
				slog.Int("template_id", override.ID), slog.String("kind", string(kind)), slog.String("error", err.Error()))
			c = nil
		}
	}
	if c == nil {
		if c, err = template.Compile(kind, template.Default(kind)); err != nil {
			return nil, err
		}
	}
	t.cache[key] = c
	return c, nil
}

// Render renders e with the organisation's template.
func (t *Templates) Render(ctx context.Context, e Email) (mail.Message, error) {
	c, err := t.For(ctx, e.Org.ID, e.Kind, e.Role.ID)
	if err != nil {
		return mail.Message{}, err
	}
	out, err := c.Render(Data(e))
	if err != nil {
		return mail.Message{}, fmt.Errorf("render %s email: %w", e.Kind, err)
	}
	return t.Message(e, out), nil
}

// Message addresses e's rendered content.
func (t *Templates) Message(e Email, out template.Rendered) mail.Message {
	msg := mail.Message{
		From:    t.From(e.Org),
		To:      mail.Address{Name: Data(e).FullName, Email: e.User.Email},
		Subject: out.Subject, Text: out.Text, HTML: out.HTML,
	}
	if e.Org.ReplyTo != nil {
		msg.ReplyTo = *e.Org.ReplyTo
	}
	return msg
}

// From is the sender of an organisation's emails.
func (t *Templates) From(o *ent.Organization) mail.Address {
	return mail.Address{Name: fromName(o), Email: t.from}
}

// fromName is the sender name of o's emails, on one line: names stored
// before line breaks were refused cannot break the header.
func fromName(o *ent.Organization) string {
	name := o.EmailFromName
	if name == "" {
		name = o.Name
	}
	return strings.Join(strings.Fields(name), " ")
}

// Data is what a template sees of e.
func Data(e Email) template.Data {
	d := template.Data{
		Email: e.User.Email, OrganizationName: e.Org.Name, InviterName: e.Inviter,
		ActionURL: e.URL, TemporaryPassword: e.TemporaryPassword, NewEmail: e.NewEmail,
	}
	if e.Role != nil {
		d.RoleName = e.Role.Name
	}
	if e.User.FirstName != nil {
		d.FirstName = *e.User.FirstName
	}
	if e.User.LastName != nil {
		d.LastName = *e.User.LastName
	}
	d.FullName = strings.TrimSpace(d.FirstName + " " + d.LastName)
	if e.User.Username != nil {
		d.Username = *e.User.Username
	}
	if e.Org.ReplyTo != nil {
		d.ReplyTo = *e.Org.ReplyTo
	}
	if !e.ExpiresAt.IsZero() {
		d.ExpiresAt = e.ExpiresAt.UTC().Format("Monday 2 January 2006, 15:04 MST")
		d.ExpiresIn = humanDuration(e.TTL)
	}
	return d
}

// humanDuration writes d the way an email would: "7 days", "1 hour".
func humanDuration(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	default:
		return unit(int64(max(d/time.Second, 1)), "second")
	}
}
