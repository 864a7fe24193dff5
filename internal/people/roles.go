package people

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/plaintext"
)

// RoleInput names a role and the permissions it grants.
type RoleInput struct {
	Name        string
	Permissions []string
}

// checkRole validates in and refuses permissions the viewer does not hold.
// A name holding a character the text rule refuses in names is refused.
func checkRole(s *session, in RoleInput) (string, []string, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 {
		return "", nil, apperr.Invalid("name", "a role name has 1 to 100 characters")
	}
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return "", nil, apperr.Invalid("name", "the role name "+err.Error())
	}
	perms := []string{}
	for _, p := range in.Permissions {
		if !perm.Valid(p) {
			return "", nil, apperr.Invalid("permissions", fmt.Sprintf("unknown permission %q; known: %s", p, strings.Join(perm.All(), ", ")))
		}
		if !s.Can(p) {
			return "", nil, apperr.New(apperr.Forbidden, fmt.Sprintf("you cannot grant %s: you do not hold it", p))
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	return name, perms, nil
}

// CreateRole adds a role. Needs organization.manage; nobody grants a
// permission they do not hold.
func (a *Admin) CreateRole(ctx context.Context, in RoleInput) (*ent.Role, error) {
	s, err := a.begin(ctx, perm.OrganizationManage)
	if err != nil {
		return nil, err
	}
	name, perms, err := checkRole(s, in)
	if err != nil {
		return nil, err
	}
	if err := a.uniqueRole(ctx, name, 0); err != nil {
		return nil, err
	}
	var r *ent.Role
	now := a.clock.Now()
	err = db.InTx(ctx, a.client, func(tx *ent.Client) error {
		r, err = tx.Role.Create().SetOrganizationID(s.OrgID).SetName(name).SetPermissions(perms).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		return a.audit.Record(ctx, tx, s.OrgID, roleEvent("role.created", r))
	})
	if err != nil {
		return nil, err
	}
	return r.Unwrap(), nil
}

// UpdateRole renames a role and sets its permissions. Built-in roles keep
// their names, and the Owner role keeps every permission.
func (a *Admin) UpdateRole(ctx context.Context, id int, in RoleInput) (*ent.Role, error) {
	s, err := a.begin(ctx, perm.OrganizationManage)
	if err != nil {
		return nil, err
	}
	r, err := a.role(ctx, id)
	if err != nil {
		return nil, err
	}
	name, perms, err := checkRole(s, in)
	if err != nil {
		return nil, err
	}
	if err := checkRoleChange(r, name, perms); err != nil {
		return nil, err
	}
	if err := a.uniqueRole(ctx, name, r.ID); err != nil {
		return nil, err
	}
	before := r.Permissions
	err = db.InTx(ctx, a.client, func(tx *ent.Client) error {
		r, err = tx.Role.UpdateOneID(r.ID).SetName(name).SetPermissions(perms).SetUpdatedAt(a.clock.Now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		return a.audit.Record(ctx, tx, s.OrgID, roleEvent("role.updated", r))
	})
	if err != nil {
		return nil, err
	}
	if !slices.Equal(before, perms) {
		a.auth.PermissionsChanged(ctx, r.ID)
	}
	return r.Unwrap(), nil
}

// checkRoleChange refuses renaming a built-in role, and taking any
// permission from the built-in Owner role (name and perms as checkRole
// returns them).
func checkRoleChange(r *ent.Role, name string, perms []string) error {
	if r.Builtin && name != r.Name {
		return apperr.Invalid("name", "built-in roles cannot be renamed")
	}
	if r.Builtin && r.Name == perm.Owner && len(perms) != len(perm.All()) {
		return apperr.Invalid("permissions", "the Owner role keeps every permission")
	}
	return nil
}

// DeleteRole removes a role nobody holds. Built-in roles stay.
func (a *Admin) DeleteRole(ctx context.Context, id int) error {
	s, err := a.begin(ctx, perm.OrganizationManage)
	if err != nil {
		return err
	}
	r, err := a.role(ctx, id)
	if err != nil {
		return err
	}
	if r.Builtin {
		return apperr.New(apperr.Conflict, "built-in roles cannot be deleted")
	}
	held, err := a.client.User.Query().Where(user.RoleID(r.ID)).Count(ctx)
	if err != nil {
		return fmt.Errorf("count holders: %w", err)
	}
	if held > 0 {
		return apperr.New(apperr.Conflict, fmt.Sprintf("%d people hold the role %s: give them another role first", held, r.Name))
	}
	return db.InTx(ctx, a.client, func(tx *ent.Client) error {
		if err := tx.Role.DeleteOneID(r.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		return a.audit.Record(ctx, tx, s.OrgID, roleEvent("role.deleted", r))
	})
}

func (a *Admin) role(ctx context.Context, id int) (*ent.Role, error) {
	r, err := a.client.Role.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "role not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read role: %w", err)
	}
	return r, nil
}

func (a *Admin) uniqueRole(ctx context.Context, name string, self int) error {
	taken, err := a.client.Role.Query().Where(role.NameEqualFold(name), role.IDNEQ(self)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("check role name: %w", err)
	}
	if taken {
		return &apperr.Error{Code: apperr.Conflict, Message: fmt.Sprintf("a role named %s exists", name), Field: "name"}
	}
	return nil
}

func roleEvent(action string, r *ent.Role) audit.Event {
	return audit.Event{Action: action, TargetType: "Role", TargetID: r.ID, TargetLabel: r.Name,
		Details: map[string]any{"permissions": r.Permissions}}
}
