package invite

import (
	"context"
	"fmt"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/personname"
)

// PersonInput is one person a directory (SCIM) brings in, not invited.
type PersonInput struct {
	Email               string
	FirstName, LastName *string // nil or blank: none
	Locale              *string // a BCP 47 tag; nil or blank: none
	// RoleID is the person's role; 0 gives the built-in Member role.
	RoleID int
	// Set adds the caller's own fields to the person's insert (such as a
	// SCIM link), given the organisation; a unique index they break is
	// CONFLICT.
	Set func(*ent.UserCreate, *ent.Organization)
}

// CreatePerson creates one person, NOT_INVITED, with the same rules as
// inviteUsers: people.invite and every permission of the role, a valid
// address not yet in the organisation (CONFLICT, from the unique index), names and
// locale the rules accept (BAD_USER_INPUT naming the field). The person's
// user.created event and audit event are written in the same transaction.
func (s *Service) CreatePerson(ctx context.Context, in PersonInput) (*ent.User, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	addr, norm, err := emailaddr.Normalize(in.Email)
	if err != nil {
		return nil, apperr.Invalid("email", err.Error())
	}
	first, err := cleanName("firstName", in.FirstName)
	if err != nil {
		return nil, err
	}
	last, err := cleanName("lastName", in.LastName)
	if err != nil {
		return nil, err
	}
	loc, err := locale.CheckOptional("locale", in.Locale)
	if err != nil {
		return nil, err
	}
	if loc != nil && *loc == "" {
		loc = nil
	}
	q := s.client.Role.Query()
	if in.RoleID != 0 {
		q = q.Where(role.ID(in.RoleID))
	} else {
		q = q.Where(role.Name(perm.Member), role.Builtin(true))
	}
	r, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
	} else if err != nil {
		return nil, fmt.Errorf("read role: %w", err)
	}
	if err := CheckGrant(a.Viewer, r); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var u *ent.User
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		c := tx.User.Create().SetOrganizationID(a.OrgID).SetRoleID(r.ID).
			SetEmail(addr).SetEmailNormalized(norm).SetNillableFirstName(first).SetNillableLastName(last).
			SetProducts([]string{}).SetNillableLocale(loc).SetCreatedAt(now).SetUpdatedAt(now)
		if in.Set != nil {
			in.Set(c, a.org)
		}
		u, err = c.Save(ctx)
		if ent.IsConstraintError(err) {
			return apperr.New(apperr.Conflict, "another person has this address or name")
		}
		if err != nil {
			return fmt.Errorf("create person %q: %w", addr, err)
		}
		if err := s.events.Record(ctx, tx, a.OrgID, event.UserEvent(event.UserCreated, u, r.Name)); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.PersonEvent("user.created", u))
	})
	if err != nil {
		return nil, err
	}
	u = u.Unwrap()
	u.Edges.Role = r
	return u, nil
}

// cleanName trims an optional name and refuses one the name rule refuses;
// nil or blank gives nil.
func cleanName(field string, v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	name := strings.TrimSpace(*v)
	if err := personname.Check(name); err != nil {
		return nil, apperr.Invalid(field, "the name "+err.Error())
	}
	if name == "" {
		return nil, nil
	}
	return &name, nil
}
