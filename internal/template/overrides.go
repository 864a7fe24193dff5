package template

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/emailtemplate"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Service keeps an organisation's template overrides: it saves and lists
// them, resolves the template an email goes out with, and previews emails.
// The pure parts of the package (Validate, Compile, Render, Default) do not
// touch the database.
type Service struct {
	client *ent.Client
	clock  clock.Clock
	audit  *audit.Log
	log    *slog.Logger
	from   string
	links  credentials.Links
}

// Deps are the Service's collaborators.
type Deps struct {
	Client *ent.Client
	Clock  clock.Clock
	Audit  *audit.Log
	Log    *slog.Logger
	From   string            // the address every email comes from
	Links  credentials.Links // for previews
}

// NewService returns the overrides service.
func NewService(d Deps) *Service {
	return &Service{client: d.Client, clock: d.Clock, audit: d.Audit, log: d.Log, from: d.From, links: d.Links}
}

// Override overrides a kind of email for the organisation, or for one role
// (RoleID) within the kind.
type Override struct {
	Kind   Kind
	RoleID *int
	Source
}

// actor is the signed-in admin with its organisation.
type actor struct {
	*viewer.Viewer
	org *ent.Organization
}

// begin checks the viewer holds p and loads its organisation.
func (s *Service) begin(ctx context.Context, p perm.Permission) (*actor, error) {
	if err := viewer.Require(ctx, p); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	o, err := s.client.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	return &actor{Viewer: v, org: o}, nil
}

// Update stores an override after checking its syntax and variables.
// Needs templates.manage.
func (s *Service) Update(ctx context.Context, in Override) (*ent.EmailTemplate, error) {
	a, err := s.begin(ctx, perm.TemplatesManage)
	if err != nil {
		return nil, err
	}
	if err := Validate(in.Kind, in.Source); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, apperr.Invalid(fe.Field, fe.Message)
		}
		return nil, apperr.Invalid("kind", err.Error())
	}
	q := s.client.EmailTemplate.Query().Where(emailtemplate.KindEQ(emailtemplate.Kind(in.Kind)))
	if in.RoleID != nil {
		if _, err := s.client.Role.Get(ctx, *in.RoleID); ent.IsNotFound(err) {
			return nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
		} else if err != nil {
			return nil, err
		}
		q = q.Where(emailtemplate.RoleID(*in.RoleID))
	} else {
		q = q.Where(emailtemplate.RoleIDIsNil())
	}
	existing, err := q.Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("read template: %w", err)
	}
	now := s.clock.Now()
	var saved *ent.EmailTemplate
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if existing != nil {
			saved, err = tx.EmailTemplate.UpdateOneID(existing.ID).SetSubject(in.Subject).SetHTML(in.HTML).
				SetText(in.Text).SetUpdatedAt(now).Save(ctx)
		} else {
			saved, err = tx.EmailTemplate.Create().SetOrganizationID(a.OrgID).SetKind(emailtemplate.Kind(in.Kind)).
				SetNillableRoleID(in.RoleID).SetSubject(in.Subject).SetHTML(in.HTML).SetText(in.Text).
				SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("save template: %w", err)
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.Event{Action: "template.updated", TargetType: "EmailTemplate",
			TargetID: saved.ID, TargetLabel: string(in.Kind)})
	})
	if err != nil {
		return nil, err
	}
	return saved.Unwrap(), nil
}

// List lists the organisation's overrides. Needs templates.manage or
// people.invite.
func (s *Service) List(ctx context.Context) ([]*ent.EmailTemplate, error) {
	if err := requireAny(ctx, perm.TemplatesManage, perm.PeopleInvite); err != nil {
		return nil, err
	}
	return s.client.EmailTemplate.Query().Order(emailtemplate.ByKind(), emailtemplate.ByID()).All(ctx)
}

func requireAny(ctx context.Context, perms ...perm.Permission) error {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return err
	}
	if !v.CanAny(perms...) {
		return apperr.New(apperr.Forbidden, fmt.Sprintf("one of %v required", perms))
	}
	return nil
}

// previewToken stands in for a real token in previews; it is not valid.
const previewToken = "preview-link-not-valid"

// Preview renders the email kind as it would go out: to a real person
// (userID), or to a sample person holding roleID. Nothing is sent and no
// token is issued. Needs people.invite.
func (s *Service) Preview(ctx context.Context, kind Kind, userID, roleID *int) (*Preview, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	var u *ent.User
	switch {
	case userID != nil:
		u, err = s.client.User.Query().Where(user.ID(*userID)).WithRole().Only(ctx)
		if ent.IsNotFound(err) {
			return nil, apperr.New(apperr.NotFound, "person not found")
		}
		if err != nil {
			return nil, fmt.Errorf("read person: %w", err)
		}
	default:
		first, last := "Alex", "Example"
		u = &ent.User{Email: "alex@example.com", FirstName: &first, LastName: &last}
		q := s.client.Role.Query()
		if roleID != nil {
			q = q.Where(role.ID(*roleID))
		} else {
			q = q.Where(role.Name(perm.Member))
		}
		r, err := q.Only(ctx)
		if ent.IsNotFound(err) {
			return nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
		} else if err != nil {
			return nil, err
		}
		u.Edges.Role = r
	}
	// The inviter is the viewer, as a send would name them; an API key's
	// sends name the organisation.
	inviter := a.org.Name
	if !a.IsKey() {
		me, err := s.client.User.Get(ctx, a.UserID)
		if err != nil {
			return nil, fmt.Errorf("read viewer: %w", err)
		}
		inviter = DisplayName(me)
	}
	e := Email{Kind: kind, User: u, Org: a.org, Role: u.Edges.Role, Inviter: inviter}
	switch kind {
	case Invitation:
		e.TTL = credentials.TTL(a.org, invitation.KindINVITATION)
		e.URL = s.links.Invite(previewToken)
	case PasswordReset:
		e.TTL = credentials.TTL(a.org, invitation.KindPASSWORD_RESET)
		e.URL = s.links.Reset(previewToken)
	default:
		e.URL = s.links.SignIn()
		e.TemporaryPassword = "Example-Passw0rd-Shown-Here"
	}
	if e.TTL > 0 {
		e.ExpiresAt = s.clock.Now().Add(e.TTL)
	}
	msg, err := s.Resolver().Render(ctx, e)
	if err != nil {
		return nil, err
	}
	return &Preview{To: msg.To.Email, Subject: msg.Subject, HTML: msg.HTML, Text: msg.Text}, nil
}

// Preview is a rendered email that was not sent.
type Preview struct{ To, Subject, HTML, Text string }

// Resolver resolves the template an organisation uses for a kind and role:
// the role's override, else the kind's override, else the default. It
// caches what it reads; use one per unit of work.
type Resolver struct {
	client *ent.Client
	from   string
	log    *slog.Logger
	cache  map[string]*Compiled
}

// Resolver returns a resolver with an empty cache.
func (s *Service) Resolver() *Resolver {
	return &Resolver{client: s.client, from: s.from, log: s.log, cache: map[string]*Compiled{}}
}

// For returns the effective template, compiled. A saved override that
// breaks today's rules yields the default, with a warning in the log.
func (t *Resolver) For(ctx context.Context, orgID int, kind Kind, roleID int) (*Compiled, error) {
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
	var c *Compiled
	if override != nil {
		c, err = Compile(kind, Source{Subject: override.Subject, HTML: override.HTML, Text: override.Text})
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
		if c, err = Compile(kind, Default(kind)); err != nil {
			return nil, err
		}
	}
	t.cache[key] = c
	return c, nil
}

// Render renders e with the organisation's template.
func (t *Resolver) Render(ctx context.Context, e Email) (mail.Message, error) {
	c, err := t.For(ctx, e.Org.ID, e.Kind, e.Role.ID)
	if err != nil {
		return mail.Message{}, err
	}
	out, err := c.Render(DataOf(e))
	if err != nil {
		return mail.Message{}, fmt.Errorf("render %s email: %w", e.Kind, err)
	}
	return t.Message(e, out), nil
}

// Message addresses e's rendered content.
func (t *Resolver) Message(e Email, out Rendered) mail.Message {
	msg := mail.Message{
		From:    t.From(e.Org),
		To:      mail.Address{Name: DataOf(e).FullName, Email: e.User.Email},
		Subject: out.Subject, Text: out.Text, HTML: out.HTML,
	}
	if e.Org.ReplyTo != nil {
		msg.ReplyTo = *e.Org.ReplyTo
	}
	return msg
}

// From is the sender of an organisation's emails.
func (t *Resolver) From(o *ent.Organization) mail.Address {
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
