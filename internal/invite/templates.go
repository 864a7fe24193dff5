package invite

import (
	"context"
	"errors"
	"fmt"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/emailtemplate"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/template"
	"github.com/rollcall/rollcall/internal/viewer"
)

// TemplateInput overrides a kind of email for the organisation, or for one
// role (RoleID) within the kind.
type TemplateInput struct {
	Kind   template.Kind
	RoleID *int
	template.Source
}

// UpdateTemplate stores an override after checking its syntax and
// variables. Needs templates.manage.
func (s *Service) UpdateTemplate(ctx context.Context, in TemplateInput) (*ent.EmailTemplate, error) {
	a, err := s.begin(ctx, perm.TemplatesManage)
	if err != nil {
		return nil, err
	}
	if err := template.Validate(in.Kind, in.Source); err != nil {
		var fe *template.FieldError
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

// Templates lists the organisation's overrides. Needs templates.manage or
// people.invite.
func (s *Service) Templates(ctx context.Context) ([]*ent.EmailTemplate, error) {
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
func (s *Service) Preview(ctx context.Context, kind template.Kind, userID, roleID *int) (*Preview, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	var u *ent.User
	switch {
	case userID != nil:
		if u, err = s.target(ctx, *userID); err != nil {
			return nil, err
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
	e := Email{Kind: kind, User: u, Org: a.org, Role: u.Edges.Role, Inviter: a.label}
	switch kind {
	case template.Invitation:
		e.TTL = credentials.TTL(a.org, invitation.KindINVITATION)
		e.URL = s.links.Invite(previewToken)
	case template.PasswordReset:
		e.TTL = credentials.TTL(a.org, invitation.KindPASSWORD_RESET)
		e.URL = s.links.Reset(previewToken)
	default:
		e.URL = s.links.SignIn()
		e.TemporaryPassword = "Example-Passw0rd-Shown-Here"
	}
	if e.TTL > 0 {
		e.ExpiresAt = s.clock.Now().Add(e.TTL)
	}
	msg, err := s.mailer.NewTemplates().Render(ctx, e)
	if err != nil {
		return nil, err
	}
	return &Preview{To: msg.To.Email, Subject: msg.Subject, HTML: msg.HTML, Text: msg.Text}, nil
}

// Preview is a rendered email that was not sent.
type Preview struct{ To, Subject, HTML, Text string }
