package app_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// TestMutationPermissions runs every administrative operation as a person
// lacking its permission, and checks it is FORBIDDEN and changes nothing.
func TestMutationPermissions(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	people := s.AddPeople(t, a.org,
		testkit.Person{Email: "member@example.com", Status: user.StatusActive, Password: "member-password-1"},
		testkit.Person{Email: "hr@example.com", Role: "HR", Status: user.StatusActive, Password: "hr-password-12"},
		testkit.Person{Email: "sec@example.com", Role: "Security Administrator", Status: user.StatusActive, Password: "sec-password-12"},
		testkit.Person{Email: "target@example.com", Status: user.StatusInvited},
	)
	target := fmt.Sprint(people[3].ID)
	member := s.Login(t, "acme", "member@example.com", "member-password-1")
	hr := s.Login(t, "acme", "hr@example.com", "hr-password-12")
	sec := s.Login(t, "acme", "sec@example.com", "sec-password-12")
	vars := map[string]any{"id": target, "role": a.roleID("Member")}
	ops := []struct {
		name, query string
		forbidden   []string // tokens that must get FORBIDDEN
	}{
		{"inviteUsers", `mutation($role: ID!) { inviteUsers(input: {emails: ["x@example.com"], roleId: $role}) { users { id } } }`, []string{member, sec}},
		{"resendInvitation", `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, []string{member, sec}},
		{"revokeInvitation", `mutation($id: ID!) { revokeInvitation(userId: $id) { id } }`, []string{member, sec}},
		{"updateUser", `mutation($id: ID!) { updateUser(id: $id, input: {firstName: "X"}) { id } }`, []string{member, hr, sec}},
		{"updateUser username", `mutation($id: ID!) { updateUser(id: $id, input: {username: "xx"}) { id } }`, []string{member, hr, sec}},
		{"deactivateUser", `mutation($id: ID!) { deactivateUser(id: $id) { id } }`, []string{member, hr, sec}},
		{"reactivateUser", `mutation($id: ID!) { reactivateUser(id: $id) { id } }`, []string{member, hr, sec}},
		{"deleteUser", `mutation($id: ID!) { deleteUser(id: $id) }`, []string{member, hr, sec}},
		{"createInvitationLink", `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`, []string{member, hr}},
		{"setTemporaryPassword", `mutation($id: ID!) { setTemporaryPassword(userId: $id, password: "Some-Temp-Pass-1") { id } }`, []string{member, hr}},
		{"createRole", `mutation { createRole(input: {name: "X", permissions: []}) { id } }`, []string{member, hr, sec}},
		{"updateRole", `mutation($role: ID!) { updateRole(id: $role, input: {name: "Member", permissions: []}) { id } }`, []string{member, hr, sec}},
		{"deleteRole", `mutation($role: ID!) { deleteRole(id: $role) }`, []string{member, hr, sec}},
		{"updateEmailTemplate", `mutation { updateEmailTemplate(input: {kind: INVITATION, subject: "s", html: "h", text: "t"}) { id } }`, []string{member, hr, sec}},
		{"updateOrganization", `mutation { updateOrganization(input: {name: "Pwned"}) { id } }`, []string{member, hr, sec}},
		{"previewEmail", `{ previewEmail(kind: INVITATION) { subject } }`, []string{member, sec}},
		{"auditEvents", `{ auditEvents { totalCount } }`, []string{member, hr, sec}},
	}
	for _, op := range ops {
		for i, tok := range op.forbidden {
			resp := s.Query(t, tok, op.query, vars)
			require.Equal(t, "FORBIDDEN", resp.Code(), "%s as #%d: %+v", op.name, i, resp.Errors)
		}
		require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", op.query, vars).Code(), op.name)
	}
	u, err := s.DB.Client.User.Get(testkit.System(), people[3].ID)
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, u.Status)
	require.Nil(t, u.FirstName)
	o, err := s.DB.Client.Organization.Get(testkit.System(), a.org.ID)
	require.NoError(t, err)
	require.Equal(t, "acme", o.Name)
}

func TestCustomRolesAndGrants(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	createRole := func(tok, name string, perms ...string) *testkit.Response {
		if perms == nil {
			perms = []string{}
		}
		return s.Query(t, tok, `mutation($in: RoleInput!) { createRole(input: $in) { id name permissions } }`,
			map[string]any{"in": map[string]any{"name": name, "permissions": perms}})
	}
	var curator struct{ CreateRole struct{ ID string } }
	createRole(a.tok, "Curator", "people.read", "people.invite").Decode(t, &curator)
	var viewerRole struct{ CreateRole struct{ ID string } }
	createRole(a.tok, "Viewer", "people.read").Decode(t, &viewerRole)
	require.Equal(t, "CONFLICT", createRole(a.tok, "curator").Code(), "names are unique")
	require.Equal(t, "BAD_USER_INPUT", createRole(a.tok, "Odd", "people.fly").Code())

	s.AddPeople(t, a.org, testkit.Person{Email: "cu@example.com", Status: user.StatusActive, Password: "curator-pass-1"},
		testkit.Person{Email: "vi@example.com", Status: user.StatusActive, Password: "viewer-pass-12"})
	set := func(email, roleID string) {
		u, err := s.DB.Client.User.Query().Where(user.Email(email)).Only(testkit.System())
		require.NoError(t, err)
		var id int
		fmt.Sscan(roleID, &id)
		require.NoError(t, u.Update().SetRoleID(id).Exec(testkit.System()))
	}
	set("cu@example.com", curator.CreateRole.ID)
	set("vi@example.com", viewerRole.CreateRole.ID)
	cu := s.Login(t, "acme", "cu@example.com", "curator-pass-1")
	vi := s.Login(t, "acme", "vi@example.com", "viewer-pass-12")

	res, resp := a.invite(t, cu, []string{"new@example.com"}, "Member", true)
	require.Empty(t, resp.Errors, "a Curator granted people.invite can invite")
	require.Len(t, res.InviteUsers.Users, 1)
	_, resp = a.invite(t, vi, []string{"new2@example.com"}, "Member", true)
	require.Equal(t, "FORBIDDEN", resp.Code(), "one without it cannot")
	_, resp = a.invite(t, cu, []string{"boss@example.com"}, "Admin", true)
	require.Equal(t, "FORBIDDEN", resp.Code(), "nor give a role with permissions it lacks")
	require.Contains(t, resp.Errors[0].Message, "Admin")

	// An Admin (all but organization.manage) cannot make anyone Owner, nor
	// edit the Owner.
	s.AddPeople(t, a.org, testkit.Person{Email: "ad@example.com", Role: "Admin", Status: user.StatusActive, Password: "admin-pass-123"})
	ad := s.Login(t, "acme", "ad@example.com", "admin-pass-123")
	resp = s.Query(t, ad, `mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleId: $r}) { id } }`,
		map[string]any{"id": fmt.Sprint(a.org.Owner.ID), "r": a.roleID("Member")})
	require.Equal(t, "FORBIDDEN", resp.Code())
	resp = s.Query(t, ad, `mutation($id: ID!) { setTemporaryPassword(userId: $id, password: "Takeover-Pass-1") { id } }`,
		map[string]any{"id": fmt.Sprint(a.org.Owner.ID)})
	require.Equal(t, "FORBIDDEN", resp.Code(), "no taking over an account with more permissions")

	// Roles: the Owner keeps every permission; built-ins stay; held roles stay.
	require.Equal(t, "BAD_USER_INPUT", s.Query(t, a.tok, `mutation($r: ID!) { updateRole(id: $r, input: {name: "Owner", permissions: ["people.read"]}) { id } }`,
		map[string]any{"r": a.roleID("Owner")}).Code())
	require.Equal(t, "CONFLICT", s.Query(t, a.tok, `mutation($r: ID!) { deleteRole(id: $r) }`, map[string]any{"r": a.roleID("HR")}).Code())
	require.Equal(t, "CONFLICT", s.Query(t, a.tok, `mutation($r: ID!) { deleteRole(id: $r) }`, map[string]any{"r": curator.CreateRole.ID}).Code())
	var updated struct {
		UpdateRole struct{ Permissions []string }
	}
	s.Query(t, a.tok, `mutation($r: ID!) { updateRole(id: $r, input: {name: "Curator", permissions: ["people.read"]}) { permissions } }`,
		map[string]any{"r": curator.CreateRole.ID}).Decode(t, &updated)
	require.Equal(t, []string{"people.read"}, updated.UpdateRole.Permissions)
	_, resp = a.invite(t, cu, []string{"new3@example.com"}, "Member", true)
	require.Equal(t, "FORBIDDEN", resp.Code(), "permissions apply at once")
	var empty struct{ CreateRole struct{ ID string } }
	createRole(a.tok, "Empty").Decode(t, &empty)
	var deleted struct{ DeleteRole bool }
	s.Query(t, a.tok, `mutation($r: ID!) { deleteRole(id: $r) }`, map[string]any{"r": empty.CreateRole.ID}).Decode(t, &deleted)
	require.True(t, deleted.DeleteRole)
}

func TestLastOwnerAndErasure(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	owner := fmt.Sprint(a.org.Owner.ID)
	for _, q := range []string{
		`mutation($id: ID!) { deactivateUser(id: $id) { id } }`,
		`mutation($id: ID!) { deleteUser(id: $id) }`,
		`mutation($id: ID!, $r: ID!) { updateUser(id: $id, input: {roleId: $r}) { id } }`,
	} {
		resp := s.Query(t, a.tok, q, map[string]any{"id": owner, "r": a.roleID("Admin")})
		require.Equal(t, "CONFLICT", resp.Code(), q)
		require.Contains(t, resp.Errors[0].Message, "last Owner")
	}

	res, _ := a.invite(t, a.tok, []string{"Gone Person <gone@example.com>"}, "Member", true)
	id := res.InviteUsers.Users[0].ID
	var out struct{ DeleteUser bool }
	s.Query(t, a.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}).Decode(t, &out)
	require.True(t, out.DeleteUser)
	var node struct{ Node *struct{ ID string } }
	s.Query(t, a.tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &node)
	require.Nil(t, node.Node)
	var log struct {
		AuditEvents struct {
			TotalCount int
			Edges      []struct {
				Node struct{ Action, TargetLabel string }
			}
		}
	}
	s.Query(t, a.tok, `{ auditEvents(where: {targetTypeIn: ["User"]}) { totalCount edges { node { action targetLabel } } } }`, nil).Decode(t, &log)
	require.Equal(t, 2, log.AuditEvents.TotalCount)
	for _, e := range log.AuditEvents.Edges {
		require.NotContains(t, e.Node.TargetLabel, "gone")
		require.Contains(t, e.Node.TargetLabel, "erased-person-")
	}
	require.Equal(t, "user.deleted", log.AuditEvents.Edges[0].Node.Action, "newest first")
	require.Equal(t, "NOT_FOUND", s.Query(t, a.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}).Code())
}

func TestUpdateOrganization(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	var out struct {
		UpdateOrganization struct {
			Name, EmailFromName  string
			Products             []string
			InvitationTTLSeconds int
			ReplyTo              *string
		}
	}
	s.Query(t, a.tok, `mutation { updateOrganization(input: {name: "Acme Ltd", products: ["crm", "wiki", "crm"], invitationTTLSeconds: 3600, emailFromName: "Acme People", replyTo: "hr@acme.test"}) {
	  name emailFromName products invitationTTLSeconds replyTo } }`, nil).Decode(t, &out)
	require.Equal(t, []string{"crm", "wiki"}, out.UpdateOrganization.Products)
	require.Equal(t, 3600, out.UpdateOrganization.InvitationTTLSeconds)

	res, _ := a.invite(t, a.tok, []string{"p@example.com"}, "Member", true)
	mail := s.LastEmailTo(t, "p@example.com")
	require.Equal(t, "hr@acme.test", mail.ReplyTo)
	require.Contains(t, mail.Header.Get("From"), "Acme People")
	require.Contains(t, mail.Text, "1 hour")

	resp := s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {products: ["crm", "erp"]}) { id } }`, map[string]any{"id": res.InviteUsers.Users[0].ID})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "products", resp.Errors[0].Extensions["field"])
	var u struct{ UpdateUser struct{ Products []string } }
	s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {products: ["crm", "wiki"]}) { products } }`, map[string]any{"id": res.InviteUsers.Users[0].ID}).Decode(t, &u)
	s.Query(t, a.tok, `mutation { updateOrganization(input: {products: ["wiki"]}) { products } }`, nil).Decode(t, &out)
	var node struct{ Node struct{ Products []string } }
	s.Query(t, a.tok, `query($id: ID!) { node(id: $id) { ... on User { products } } }`, map[string]any{"id": res.InviteUsers.Users[0].ID}).Decode(t, &node)
	require.Equal(t, []string{"wiki"}, node.Node.Products, "a withdrawn product is taken from people")

	for in, field := range map[string]string{
		`{invitationTTLSeconds: 0}`:  "invitationTTLSeconds",
		`{resetTTLSeconds: 2592001}`: "resetTTLSeconds",
		`{replyTo: "nope"}`:          "replyTo",
		`{name: "  "}`:               "name",
		`{products: [""]}`:           "products",
	} {
		resp := s.Query(t, a.tok, `mutation { updateOrganization(input: `+in+`) { id } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), in)
		require.Equal(t, field, resp.Errors[0].Extensions["field"], in)
	}
	_, resp = a.invite(t, a.tok, []string{"q@example.com"}, "Member", true)
	resp = s.Query(t, a.tok, `mutation($role: ID!) { inviteUsers(input: {emails: ["q2@example.com"], roleId: $role, products: ["crm"]}) { users { id } } }`, map[string]any{"role": a.roleID("Member")})
	require.Equal(t, "products", resp.Errors[0].Extensions["field"])
}

func TestNobodyGrantsWhatTheyLack(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	var manager struct{ CreateRole struct{ ID string } }
	s.Query(t, a.tok, `mutation { createRole(input: {name: "Org manager", permissions: ["organization.manage"]}) { id } }`, nil).Decode(t, &manager)
	people := s.AddPeople(t, a.org, testkit.Person{Email: "om@example.com", Status: user.StatusActive, Password: "org-manager-pw-1"})
	var roleID int
	fmt.Sscan(manager.CreateRole.ID, &roleID)
	require.NoError(t, people[0].Update().SetRoleID(roleID).Exec(testkit.System()))
	om := s.Login(t, "acme", "om@example.com", "org-manager-pw-1")

	resp := s.Query(t, om, `mutation { createRole(input: {name: "Readers", permissions: ["people.read"]}) { id } }`, nil)
	require.Equal(t, "FORBIDDEN", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "people.read")
	resp = s.Query(t, om, `mutation($id: ID!) { updateRole(id: $id, input: {name: "Org manager", permissions: ["organization.manage", "people.manage"]}) { id } }`,
		map[string]any{"id": manager.CreateRole.ID})
	require.Equal(t, "FORBIDDEN", resp.Code(), "not even to its own role")
	var ok struct {
		CreateRole struct{ Permissions []string }
	}
	s.Query(t, om, `mutation { createRole(input: {name: "Managers", permissions: ["organization.manage"]}) { permissions } }`, nil).Decode(t, &ok)
	require.Equal(t, []string{"organization.manage"}, ok.CreateRole.Permissions)
}
