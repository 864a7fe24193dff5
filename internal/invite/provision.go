package invite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/predicate"
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
	users, errs, err := s.CreatePeople(ctx, []PersonInput{in})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	return users[0], nil
}

// CreatePeople is CreatePerson for several people at once (SCIM groups
// concurrent requests so): the organisation and roles are read once, and
// the people, their user.created events and audit events are written in
// one transaction, a statement each. A person the rules refuse gets the
// error at its index in errs and is left out; the others are created
// (users holds them at their indexes). err fails them all: an address or
// name that is taken (CONFLICT, from the unique indexes, without saying
// whose: create them one by one to find out), or the database's failure.
func (s *Service) CreatePeople(ctx context.Context, ins []PersonInput) (users []*ent.User, errs []error, err error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, nil, err
	}
	type person struct {
		addr, norm  string
		first, last *string
		loc         *string
	}
	people := make([]person, len(ins))
	errs = make([]error, len(ins))
	roleIDs := []int{}
	member := false
	for i, in := range ins {
		p, err := func() (p person, err error) {
			if p.addr, p.norm, err = emailaddr.Normalize(in.Email); err != nil {
				return p, apperr.Invalid("email", err.Error())
			}
			if p.first, err = cleanName("firstName", in.FirstName); err != nil {
				return p, err
			}
			if p.last, err = cleanName("lastName", in.LastName); err != nil {
				return p, err
			}
			if p.loc, err = locale.CheckOptional("locale", in.Locale); err != nil {
				return p, err
			}
			if p.loc != nil && *p.loc == "" {
				p.loc = nil
			}
			return p, nil
		}()
		if err != nil {
			errs[i] = err
			continue
		}
		people[i] = p
		if in.RoleID == 0 {
			member = true
		} else if !slices.Contains(roleIDs, in.RoleID) {
			roleIDs = append(roleIDs, in.RoleID)
		}
	}
	var which []predicate.Role
	if len(roleIDs) > 0 {
		which = append(which, role.IDIn(roleIDs...))
	}
	if member {
		which = append(which, role.And(role.Name(perm.Member), role.Builtin(true)))
	}
	roles := map[int]*ent.Role{}
	if len(which) > 0 {
		rs, err := s.client.Role.Query().Where(role.Or(which...)).All(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read roles: %w", err)
		}
		for _, r := range rs {
			if r.Builtin && r.Name == perm.Member {
				roles[0] = r
			}
			roles[r.ID] = r
		}
	}
	var at []int // the indexes in ins of the people to create
	for i, in := range ins {
		if errs[i] != nil {
			continue
		}
		r := roles[in.RoleID]
		if r == nil {
			errs[i] = &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
			continue
		}
		if err := CheckGrant(a.Viewer, r); err != nil {
			errs[i] = err
			continue
		}
		at = append(at, i)
	}
	users = make([]*ent.User, len(ins))
	if len(at) == 0 {
		return users, errs, nil
	}
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		creates := make([]*ent.UserCreate, len(at))
		for j, i := range at {
			p, r := people[i], roles[ins[i].RoleID]
			creates[j] = tx.User.Create().SetOrganizationID(a.OrgID).SetRoleID(r.ID).
				SetEmail(p.addr).SetEmailNormalized(p.norm).SetNillableFirstName(p.first).SetNillableLastName(p.last).
				SetProducts([]string{}).SetNillableLocale(p.loc).SetCreatedAt(now).SetUpdatedAt(now)
			if ins[i].Set != nil {
				ins[i].Set(creates[j], a.org)
			}
		}
		created, err := tx.User.CreateBulk(creates...).Save(ctx)
		if ent.IsConstraintError(err) {
			return apperr.New(apperr.Conflict, "another person has this address or name")
		}
		if err != nil {
			return fmt.Errorf("create %d people: %w", len(creates), err)
		}
		evs := make([]event.Event, len(created))
		audits := make([]audit.Event, len(created))
		for j, u := range created {
			r := roles[ins[at[j]].RoleID]
			evs[j] = event.UserEvent(event.UserCreated, u, r.Name)
			audits[j] = audit.PersonEvent("user.created", u)
		}
		if err := s.events.Record(ctx, tx, a.OrgID, evs...); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, a.OrgID, audits...); err != nil {
			return err
		}
		for j, u := range created {
			u = u.Unwrap()
			u.Edges.Role = roles[ins[at[j]].RoleID]
			users[at[j]] = u
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return users, errs, nil
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
