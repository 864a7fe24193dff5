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
	"github.com/rollcall/rollcall/internal/locale"
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
// (RoleID) within the kind, in one language (Locale, a BCP 47 tag) or, with
// Locale nil or empty, in every language without an override of its own.
type Override struct {
	Kind   Kind
	RoleID *int
	Locale *string
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

// Update stores an override after checking its locale (BAD_USER_INPUT on
// field locale), syntax and variables. There is one override per kind, role
// and locale: saving one for a combination that has one replaces it (two
// saved at once for a new combination: one is CONFLICT). Needs
// templates.manage.
func (s *Service) Update(ctx context.Context, in Override) (*ent.EmailTemplate, error) {
	a, err := s.begin(ctx, perm.TemplatesManage)
	if err != nil {
		return nil, err
	}
	loc, err := locale.CheckOptional("locale", in.Locale)
	if err != nil {
		return nil, err
	}
	if loc != nil && *loc == "" {
		loc = nil // every language
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
	if loc != nil {
		q = q.Where(emailtemplate.Locale(*loc))
	} else {
		q = q.Where(emailtemplate.LocaleIsNil())
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
				SetNillableRoleID(in.RoleID).SetNillableLocale(loc).SetSubject(in.Subject).SetHTML(in.HTML).SetText(in.Text).
				SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		}
		if ent.IsConstraintError(err) {
			// Another admin saved one for the same kind, role and locale
			// meanwhile: the partial unique indexes keep one.
			return apperr.New(apperr.Conflict, "an override for this kind, role and locale was saved at the same time; try again")
		}
		if err != nil {
			return fmt.Errorf("save template: %w", err)
		}
		label := string(in.Kind)
		if loc != nil {
			label += " " + *loc
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.Event{Action: "template.updated", TargetType: "EmailTemplate",
			TargetID: saved.ID, TargetLabel: label})
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
// (userID), or to a sample person holding roleID, with the template chosen
// for the person's locale, or for loc when given (a BCP 47 tag; a bad one
// is BAD_USER_INPUT on field locale). Nothing is sent and no token is
// issued. Needs people.invite.
func (s *Service) Preview(ctx context.Context, kind Kind, userID, roleID *int, loc *string) (*Preview, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	as, err := locale.CheckOptional("locale", loc)
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
	if as != nil && *as != "" {
		shown := *u // the stored person stays as they are
		shown.Locale = as
		u = &shown
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
	case Invitation, Reminder:
		e.TTL = credentials.TTL(a.org, invitation.KindINVITATION)
		e.URL = s.links.Invite(previewToken)
	case PasswordReset:
		e.TTL = credentials.TTL(a.org, invitation.KindPASSWORD_RESET)
		e.URL = s.links.Reset(previewToken)
	default:
		e.URL = s.links.SignIn()
		if a.org.SignInURL != nil {
			e.URL = *a.org.SignInURL
		}
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

// Resolver resolves the template a person's email goes out with (see For).
// It caches what it reads; use one per unit of work.
type Resolver struct {
	client  *ent.Client
	from    string
	log     *slog.Logger
	saved   map[savedKey][]saved     // an organisation's usable overrides of a kind, for a role
	chosen  map[chosenKey]*Chosen    // by person
	builtIn map[builtInKey]*Compiled // the shipped templates compiled so far
}

type savedKey struct {
	org, role int
	kind      Kind
}

type chosenKey struct {
	savedKey
	locale string
}

type builtInKey struct {
	kind   Kind
	locale string
}

// saved is an override that compiles under today's rules.
type saved struct {
	row *ent.EmailTemplate
	c   *Compiled
}

// Resolver returns a resolver with an empty cache.
func (s *Service) Resolver() *Resolver {
	return &Resolver{client: s.client, from: s.from, log: s.log,
		saved: map[savedKey][]saved{}, chosen: map[chosenKey]*Chosen{}, builtIn: map[builtInKey]*Compiled{}}
}

// Chosen is the template an email goes out with, and the locale its dates
// and durations are written in (one of locale.Shipped: the template's own
// language when Rollcall ships it, else as for a built-in template).
type Chosen struct {
	*Compiled
	Locale string
}

// For returns the template of kind for a person holding roleID in org,
// whose locale is personLocale ("" when they have none). The most specific
// override wins: for each locale of locale.Chain (the person's, its
// language, the organisation's default, its language), the role's override
// in it, then the organisation's; then the role's every-language override,
// then the organisation's. Without one, the built-in template in the
// shipped locale that serves the person (matched by language.Matcher),
// else the one that serves the organisation's default, else English. A
// saved override that breaks today's rules is passed over, with a warning
// in the log.
func (t *Resolver) For(ctx context.Context, org *ent.Organization, kind Kind, roleID int, personLocale string) (*Chosen, error) {
	key := chosenKey{savedKey{org.ID, roleID, kind}, personLocale}
	if c, ok := t.chosen[key]; ok {
		return c, nil
	}
	overrides, err := t.overrides(ctx, key.savedKey)
	if err != nil {
		return nil, err
	}
	rows := make([]*ent.EmailTemplate, len(overrides))
	for i, o := range overrides {
		rows[i] = o.row
	}
	ch := &Chosen{Locale: locale.Pick(personLocale, org.DefaultLocale)}
	if i := choose(rows, roleID, locale.Chain(personLocale, org.DefaultLocale)); i >= 0 {
		ch.Compiled = overrides[i].c
		if l := overrides[i].row.Locale; l != nil {
			ch.Locale = locale.Pick(*l, org.DefaultLocale)
		}
	} else if ch.Compiled, err = t.builtInTemplate(kind, ch.Locale); err != nil {
		return nil, err
	}
	t.chosen[key] = ch
	return ch, nil
}

// overrides reads and compiles an organisation's overrides of a kind that
// may apply to a role: the role's and the organisation-wide ones.
func (t *Resolver) overrides(ctx context.Context, k savedKey) ([]saved, error) {
	if s, ok := t.saved[k]; ok {
		return s, nil
	}
	rows, err := t.client.EmailTemplate.Query().
		Where(emailtemplate.OrganizationID(k.org), emailtemplate.KindEQ(emailtemplate.Kind(k.kind)),
			emailtemplate.Or(emailtemplate.RoleIDIsNil(), emailtemplate.RoleID(k.role))).
		All(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	out := make([]saved, 0, len(rows))
	for _, r := range rows {
		c, err := Compile(k.kind, Source{Subject: r.Subject, HTML: r.HTML, Text: r.Text})
		if err != nil {
			// Saved before today's rules (a remote image, say): the next
			// choice goes out rather than nothing, and the admin is told
			// in the log.
			t.log.WarnContext(ctx, "saved template breaks the rules; passing over it",
				slog.Int("template_id", r.ID), slog.String("kind", string(k.kind)), slog.String("error", err.Error()))
			continue
		}
		out = append(out, saved{row: r, c: c})
	}
	t.saved[k] = out
	return out, nil
}

// builtInTemplate compiles the shipped template of kind in loc once.
func (t *Resolver) builtInTemplate(kind Kind, loc string) (*Compiled, error) {
	k := builtInKey{kind, loc}
	if c, ok := t.builtIn[k]; ok {
		return c, nil
	}
	c, err := Compile(kind, DefaultIn(kind, loc))
	if err != nil {
		return nil, fmt.Errorf("built-in %s template in %s: %w", kind, loc, err)
	}
	t.builtIn[k] = c
	return c, nil
}

// choose returns the index among rows (overrides of one kind: roleID's and
// the organisation's) of the one a person holding roleID gets, trying the
// locales of chain in order, or -1 when none applies. For each locale: the
// role's override in it, then the organisation's; after every locale, the
// role's every-language override, then the organisation's.
func choose(rows []*ent.EmailTemplate, roleID int, chain []string) int {
	find := func(role bool, loc *string) int {
		for i, r := range rows {
			if (r.RoleID != nil) != role || (role && *r.RoleID != roleID) {
				continue
			}
			if (r.Locale == nil) != (loc == nil) || (loc != nil && *r.Locale != *loc) {
				continue
			}
			return i
		}
		return -1
	}
	for _, l := range chain {
		for _, role := range []bool{true, false} {
			if i := find(role, &l); i >= 0 {
				return i
			}
		}
	}
	for _, role := range []bool{true, false} {
		if i := find(role, nil); i >= 0 {
			return i
		}
	}
	return -1
}

// PersonLocale is u's locale, or "" when they have none.
func PersonLocale(u *ent.User) string {
	if u == nil || u.Locale == nil {
		return ""
	}
	return *u.Locale
}

// Render renders e with the template chosen for its person.
func (t *Resolver) Render(ctx context.Context, e Email) (mail.Message, error) {
	c, err := t.For(ctx, e.Org, e.Kind, e.Role.ID, PersonLocale(e.User))
	if err != nil {
		return mail.Message{}, err
	}
	e.Locale = c.Locale
	out, err := c.Render(DataOf(e))
	if err != nil {
		return mail.Message{}, fmt.Errorf("render %s email: %w", e.Kind, err)
	}
	return t.Message(e, out), nil
}

// BuiltInLocale returns the shipped locale whose built-in templates serve
// want, a BCP 47 tag ("" for English): its match, else English. A malformed
// or unknown tag is BAD_USER_INPUT naming field.
func BuiltInLocale(field, want string) (string, error) {
	if want == "" {
		return locale.Default, nil
	}
	tag, err := locale.Check(field, want)
	if err != nil {
		return "", err
	}
	return locale.Pick(tag, ""), nil
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
