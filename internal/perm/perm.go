// Package perm names the permissions a role can grant and the built-in roles
// every organisation starts with.
package perm

import "slices"

// Permission is one capability a role grants, such as "people.read".
type Permission = string

// The permissions (docs/api.md, Permissions and roles).
const (
	PeopleRead         Permission = "people.read"
	PeopleInvite       Permission = "people.invite"
	PeopleManage       Permission = "people.manage"
	CredentialsManage  Permission = "credentials.manage"
	TemplatesManage    Permission = "templates.manage"
	OrganizationManage Permission = "organization.manage"
	// ScimProvision lets an API key provision people through SCIM.
	ScimProvision Permission = "scim.provision"
)

// All lists every permission, in a stable order.
func All() []Permission {
	return []Permission{PeopleRead, PeopleInvite, PeopleManage, CredentialsManage, TemplatesManage, OrganizationManage, ScimProvision}
}

// Valid reports whether p names a known permission.
func Valid(p Permission) bool { return slices.Contains(All(), p) }

// Role is a built-in role's name and permissions.
type Role struct {
	Name        string
	Permissions []Permission
}

// Names of the built-in roles.
const (
	Owner                 = "Owner"
	Admin                 = "Admin"
	SecurityAdministrator = "Security Administrator"
	HR                    = "HR"
	Member                = "Member"
)

// BuiltinRoles returns the roles created with every organisation.
func BuiltinRoles() []Role {
	return []Role{
		{Name: Owner, Permissions: All()},
		{Name: Admin, Permissions: []Permission{PeopleRead, PeopleInvite, PeopleManage, CredentialsManage, TemplatesManage}},
		{Name: SecurityAdministrator, Permissions: []Permission{PeopleRead, CredentialsManage}},
		{Name: HR, Permissions: []Permission{PeopleRead, PeopleInvite}},
		{Name: Member, Permissions: []Permission{}},
	}
}
