package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Open returns a new, migrated database of this test's own (see
// DatabaseURL), closed when the test ends.
func Open(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), DatabaseURL(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// System is a context that passes every privacy rule, for seeding and
// checking rows.
func System() context.Context { return privacy.DecisionContext(context.Background(), privacy.Allow) }

// Org is an organisation seeded for a package's tests, with the built-in
// roles by name.
type Org struct {
	*ent.Organization
	Roles  map[string]*ent.Role
	client *ent.Client
}

// NewOrg seeds organisation slug with the built-in roles, straight through
// client (no service's rules).
func NewOrg(t testing.TB, client *ent.Client, slug string) *Org {
	t.Helper()
	ctx := System()
	o, err := client.Organization.Create().SetSlug(slug).SetName(slug).Save(ctx)
	if err != nil {
		t.Fatalf("seed organisation: %v", err)
	}
	out := &Org{Organization: o, Roles: map[string]*ent.Role{}, client: client}
	for _, r := range perm.BuiltinRoles() {
		role, err := client.Role.Create().SetOrganizationID(o.ID).SetName(r.Name).SetPermissions(r.Permissions).
			SetBuiltin(true).Save(ctx)
		if err != nil {
			t.Fatalf("seed role %s: %v", r.Name, err)
		}
		out.Roles[r.Name] = role
	}
	return out
}

// Person seeds a person of o holding role (a built-in role's name) with
// status; an ACTIVE person gets a password hash (not a usable one).
func (o *Org) Person(t testing.TB, email, role string, status user.Status) *ent.User {
	t.Helper()
	r, ok := o.Roles[role]
	if !ok {
		t.Fatalf("seed person: no role %q", role)
	}
	c := o.client.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).SetEmail(email).SetEmailNormalized(email).
		SetStatus(status)
	if status == user.StatusActive {
		c.SetPasswordHash("not-a-hash").SetAcceptedAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	u, err := c.Save(System())
	if err != nil {
		t.Fatalf("seed person %s: %v", email, err)
	}
	return u
}

// As returns a context whose viewer is u, signed in with the permissions of
// u's role.
func (o *Org) As(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	r, err := o.client.Role.Get(System(), u.RoleID)
	if err != nil {
		t.Fatalf("read role of %s: %v", u.Email, err)
	}
	return viewer.NewContext(context.Background(), &viewer.Viewer{OrgID: u.OrganizationID, UserID: u.ID, RoleID: r.ID,
		Label: u.Email, Permissions: r.Permissions})
}
