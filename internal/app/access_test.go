package app_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// twoTenants is two organisations, each with a Member, an HR person and
// people, and tokens for acme's.
type twoTenants struct {
	s                 *testkit.Server
	acme, globex      *testkit.Org
	member, hr, owner string // acme tokens
	acmeIDs, globexID []string
}

func newTwoTenants(t *testing.T) *twoTenants {
	t.Helper()
	s := testkit.NewServer(t)
	tt := &twoTenants{s: s, acme: s.CreateOrg(t, "acme"), globex: s.CreateOrg(t, "globex")}
	for _, o := range []*testkit.Org{tt.acme, tt.globex} {
		people := s.AddPeople(t, o,
			testkit.Person{Email: "member@" + o.Slug + ".test", Status: user.StatusActive, Password: "member-password-1"},
			testkit.Person{Email: "hr@" + o.Slug + ".test", Role: "HR", Status: user.StatusActive, Password: "hr-password-1"},
			testkit.Person{Email: "new@" + o.Slug + ".test"},
		)
		for _, p := range people {
			if o == tt.acme {
				tt.acmeIDs = append(tt.acmeIDs, fmt.Sprint(p.ID))
			} else {
				tt.globexID = append(tt.globexID, fmt.Sprint(p.ID))
			}
		}
	}
	tt.member = s.Login(t, "acme", "member@acme.test", "member-password-1")
	tt.hr = s.Login(t, "acme", "hr@acme.test", "hr-password-1")
	tt.owner = s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)
	return tt
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	tt := newTwoTenants(t)
	s := tt.s

	t.Run("a Member may not list people or roles", func(t *testing.T) {
		for _, q := range []string{`{ users { totalCount } }`, `{ roles { name } }`} {
			resp := s.Query(t, tt.member, q, nil)
			require.Equal(t, "FORBIDDEN", resp.Code(), q)
			require.Contains(t, resp.Errors[0].Message, "people.read")
		}
	})

	t.Run("a Member sees itself and its organisation", func(t *testing.T) {
		var data struct {
			Viewer struct {
				Email string
				Role  struct {
					Name        string
					Permissions []string
				}
			}
			Organization struct{ Slug string }
		}
		s.Query(t, tt.member, `{ viewer { email role { name permissions } } organization { slug } }`, nil).Decode(t, &data)
		require.Equal(t, "member@acme.test", data.Viewer.Email)
		require.Equal(t, "Member", data.Viewer.Role.Name)
		require.Empty(t, data.Viewer.Role.Permissions)
		require.Equal(t, "acme", data.Organization.Slug)
	})

	t.Run("a Member's node on a colleague is null, on itself is not", func(t *testing.T) {
		var data struct{ Colleague, Self *struct{ ID string } }
		s.Query(t, tt.member, `query($a: ID!, $b: ID!) { colleague: node(id: $a) { id } self: node(id: $b) { id } }`,
			map[string]any{"a": tt.acmeIDs[2], "b": tt.acmeIDs[0]}).Decode(t, &data)
		require.Nil(t, data.Colleague)
		require.NotNil(t, data.Self)
	})

	t.Run("HR lists people and roles", func(t *testing.T) {
		var data struct {
			Users struct{ TotalCount int }
			Roles []struct{ Name string }
		}
		s.Query(t, tt.hr, `{ users { totalCount } roles { name } }`, nil).Decode(t, &data)
		require.Equal(t, 4, data.Users.TotalCount, "three people and the Owner")
		require.Len(t, data.Roles, 5)
	})

	t.Run("anonymous requests must sign in", func(t *testing.T) {
		for _, q := range []string{`{ users { totalCount } }`, `{ roles { name } }`, `{ organization { slug } }`, `mutation { logout }`} {
			require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", q, nil).Code(), q)
		}
		resp := s.Query(t, "", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": tt.acmeIDs[0]})
		require.Equal(t, "UNAUTHENTICATED", resp.Code())
		require.JSONEq(t, `{"node": null}`, string(resp.Data))
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	tt := newTwoTenants(t)
	s := tt.s

	t.Run("users lists only the viewer's organisation", func(t *testing.T) {
		var page userPage
		s.Query(t, tt.owner, usersQuery, map[string]any{"first": 500}).Decode(t, &page)
		require.Equal(t, 4, page.Users.TotalCount)
		for _, e := range page.Users.Edges {
			require.Contains(t, e.Node.Email, "acme.test")
		}
	})

	t.Run("users cannot reach another organisation by id", func(t *testing.T) {
		var page userPage
		s.Query(t, tt.owner, usersQuery, map[string]any{"where": map[string]any{"idIn": tt.globexID}}).Decode(t, &page)
		require.Zero(t, page.Users.TotalCount)
		require.Empty(t, page.Users.Edges)
	})

	t.Run("node and nodes on foreign ids are null", func(t *testing.T) {
		foreign := append([]string{fmt.Sprint(tt.globex.ID), fmt.Sprint(tt.globex.Owner.ID), fmt.Sprint(tt.globex.Roles["Owner"].ID)}, tt.globexID...)
		for _, id := range foreign {
			var data struct{ Node *struct{ ID string } }
			s.Query(t, tt.owner, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &data)
			require.Nil(t, data.Node, id)
		}
		var data struct{ Nodes []*struct{ ID string } }
		s.Query(t, tt.owner, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
			map[string]any{"ids": []string{tt.acmeIDs[0], tt.globexID[0]}}).Decode(t, &data)
		require.Len(t, data.Nodes, 2)
		require.NotNil(t, data.Nodes[0])
		require.Nil(t, data.Nodes[1])
	})

	t.Run("own ids resolve to their types", func(t *testing.T) {
		var data struct {
			Org struct {
				Typename string `json:"__typename"`
				Slug     string
			}
			Role struct {
				Typename string `json:"__typename"`
				Name     string
			}
			User struct {
				Typename string `json:"__typename"`
				Email    string
			}
		}
		s.Query(t, tt.owner, `query($o: ID!, $r: ID!, $u: ID!) {
		  org: node(id: $o) { __typename ... on Organization { slug } }
		  role: node(id: $r) { __typename ... on Role { name } }
		  user: node(id: $u) { __typename ... on User { email } } }`,
			map[string]any{"o": tt.acme.ID, "r": tt.acme.Roles["HR"].ID, "u": tt.acmeIDs[1]}).Decode(t, &data)
		require.Equal(t, "acme", data.Org.Slug)
		require.Equal(t, "HR", data.Role.Name)
		require.Equal(t, "hr@acme.test", data.User.Email)
	})

	t.Run("ids of hidden types and unknown ids are null", func(t *testing.T) {
		sessions, err := s.DB.Client.Session.Query().All(testkit.System())
		require.NoError(t, err)
		for _, id := range []string{fmt.Sprint(sessions[0].ID), "1", "999999999999"} {
			var data struct{ Node *struct{ ID string } }
			s.Query(t, tt.owner, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &data)
			require.Nil(t, data.Node, id)
		}
		require.Equal(t, "BAD_USER_INPUT", s.Query(t, tt.owner, `{ node(id: "abc") { id } }`, nil).Code())
	})

	t.Run("secrets are not in the schema", func(t *testing.T) {
		for _, q := range []string{
			`{ viewer { passwordHash } }`,
			`{ users(where: {passwordHashNotNil: true}) { totalCount } }`,
			`{ users(where: {emailNormalized: "x"}) { totalCount } }`,
		} {
			require.Equal(t, "BAD_USER_INPUT", s.Query(t, tt.owner, q, nil).Code(), q)
		}
		var data struct {
			Schema struct{ Types []struct{ Name string } } `json:"__schema"`
		}
		s.Query(t, tt.owner, `{ __schema { types { name } } }`, nil).Decode(t, &data)
		for _, ty := range data.Schema.Types {
			require.NotContains(t, []string{"Session", "Invitation", "Throttle", "PasswordResetRequest"}, ty.Name)
		}
	})
}
