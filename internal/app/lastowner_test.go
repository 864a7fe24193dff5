package app_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/group"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testkit"
)

// ownerRace is an organisation with exactly two active Owners, both linked
// to SCIM, and an actor who may change them (every permission, through a
// role that is not Owner) over GraphQL and SCIM.
type ownerRace struct {
	s      *testkit.Server
	o      *testkit.Org
	tok    string // the actor's GraphQL session
	c      scimClient
	owners [2]int
	groups [2]string // SCIM groups "Admin" and "HR", one per Owner: joining one demotes
}

func newOwnerRace(t *testing.T) *ownerRace {
	t.Helper()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	super, err := s.DB.Client.Role.Create().SetOrganizationID(o.ID).SetName("Superuser").
		SetPermissions(perm.All()).Save(testkit.System())
	require.NoError(t, err)
	o.Roles[super.Name] = super
	second := s.AddPeople(t, o,
		testkit.Person{Email: "super@acme.test", Role: super.Name, Status: user.StatusActive, Password: testkit.OwnerPassword},
		testkit.Person{Email: "second@acme.test", Role: perm.Owner, Status: user.StatusActive, Password: testkit.OwnerPassword})[1]
	tok := s.Login(t, o.Slug, "super@acme.test", testkit.OwnerPassword)
	_, secret := createKey(t, s, tok, "scim", []string{perm.ScimProvision}, nil)
	c := scimClient{t: t, s: s, key: secret}
	r := &ownerRace{s: s, o: o, tok: tok, c: c, owners: [2]int{o.Owner.ID, second.ID}}
	for i, email := range []string{o.Owner.Email, "second@acme.test"} {
		id := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": email, "active": true}).str("id")
		require.Equal(t, fmt.Sprint(r.owners[i]), id, "the address links the Owner")
	}
	for i, name := range []string{"Admin", "HR"} {
		r.groups[i] = c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": name}).str("id")
	}
	return r
}

// activeOwners counts the organisation's active built-in Owners.
func (r *ownerRace) activeOwners(t *testing.T) int {
	t.Helper()
	n, err := r.s.DB.Client.User.Query().Where(user.OrganizationID(r.o.ID), user.StatusEQ(user.StatusActive),
		user.HasRoleWith(role.Name(perm.Owner), role.Builtin(true))).Count(testkit.System())
	require.NoError(t, err)
	return n
}

// reset makes both Owners active Owners again, in no group.
func (r *ownerRace) reset(t *testing.T) {
	t.Helper()
	sys := testkit.System()
	require.NoError(t, r.s.DB.Client.User.Update().Where(user.IDIn(r.owners[:]...)).
		SetRoleID(r.o.Roles[perm.Owner].ID).SetStatus(user.StatusActive).Exec(sys))
	for _, g := range r.groups {
		var id int
		_, err := fmt.Sscan(g, &id)
		require.NoError(t, err)
		require.NoError(t, r.s.DB.Client.Group.Update().Where(group.ID(id)).ClearMembers().Exec(sys))
	}
	require.Equal(t, 2, r.activeOwners(t))
}

// removal is one way to stop Owner k being an active Owner. It reports
// whether the request succeeded; a refusal must be the last-Owner rule's.
type removal struct {
	name string
	do   func(t *testing.T, r *ownerRace, k int) bool
}

var removals = []removal{
	{"GraphQL deactivateUser", func(t *testing.T, r *ownerRace, k int) bool {
		res := r.s.Query(t, r.tok, `mutation($id: ID!) { deactivateUser(id: $id) { status } }`, map[string]any{"id": fmt.Sprint(r.owners[k])})
		return graphQLOutcome(t, res)
	}},
	{"GraphQL updateUser role", func(t *testing.T, r *ownerRace, k int) bool {
		res := r.s.Query(t, r.tok, `mutation($id: ID!, $role: ID!) { updateUser(id: $id, input: {roleId: $role}) { id } }`,
			map[string]any{"id": fmt.Sprint(r.owners[k]), "role": fmt.Sprint(r.o.Roles[perm.Admin].ID)})
		return graphQLOutcome(t, res)
	}},
	{"SCIM PATCH active false", func(t *testing.T, r *ownerRace, k int) bool {
		res := r.c.do(http.MethodPatch, fmt.Sprintf("/Users/%d", r.owners[k]), `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "replace", "path": "active", "value": false}]}`)
		return scimOutcome(t, res)
	}},
	{"SCIM group join", func(t *testing.T, r *ownerRace, k int) bool {
		res := r.c.do(http.MethodPatch, "/Groups/"+r.groups[k], fmt.Sprintf(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "add", "path": "members", "value": [{"value": "%d"}]}]}`, r.owners[k]))
		return scimOutcome(t, res)
	}},
	{"GraphQL importUsers role", func(t *testing.T, r *ownerRace, k int) bool {
		email, err := r.s.DB.Client.User.Query().Where(user.ID(r.owners[k])).Select(user.FieldEmail).String(testkit.System())
		require.NoError(t, err)
		res := r.s.Upload(t, r.tok, importMutation, map[string]any{"in": map[string]any{"file": nil}}, "in.file", "people.csv",
			[]byte("email,role\n"+email+",Admin\n"))
		return graphQLOutcome(t, res)
	}},
}

func graphQLOutcome(t *testing.T, res *testkit.Response) bool {
	if len(res.Errors) == 0 {
		return true
	}
	require.Equal(t, "CONFLICT", res.Code(), "%+v", res.Errors)
	require.Contains(t, res.Errors[0].Message, "last Owner")
	return false
}

func scimOutcome(t *testing.T, res scimResponse) bool {
	if res.Status == http.StatusOK {
		return true
	}
	scimError(t, res, http.StatusBadRequest, "mutability")
	require.Contains(t, res.Raw, "last Owner")
	return false
}

// TestLastOwnerConcurrentRemovals sends, in each round, two requests at once
// that each demote or deactivate one of an organisation's two active Owners,
// through every pair of GraphQL (deactivateUser, updateUser, importUsers)
// and SCIM (PATCH active, a group's role) doors: exactly one succeeds, and
// one active Owner is always left.
func TestLastOwnerConcurrentRemovals(t *testing.T) {
	r := newOwnerRace(t)
	rounds := len(removals) * len(removals) // every pair
	var broken []string
	for i := range rounds {
		a, b := removals[i%len(removals)], removals[(i/len(removals))%len(removals)]
		r.reset(t)
		var ok [2]bool
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k, rm := range []removal{a, b} {
			wg.Go(func() {
				<-start
				ok[k] = rm.do(t, r, k)
			})
		}
		close(start)
		wg.Wait()
		if n := r.activeOwners(t); ok[0] == ok[1] || n != 1 {
			broken = append(broken, fmt.Sprintf("round %d (%s, %s): succeeded %v, %d active Owners left", i, a.name, b.name, ok, n))
		}
	}
	require.Empty(t, broken, "in every round exactly one succeeds and one active Owner is left")
}

// TestSCIMDeleteLastOwnerChangesNothing: a SCIM DELETE of the last Owner is
// refused (400 mutability) and leaves everything as it was, the groups it
// would have left included; a DELETE that goes through leaves the groups,
// deactivates and unlinks together.
func TestSCIMDeleteLastOwnerChangesNothing(t *testing.T) {
	s, o, c := scimSetup(t)
	owner := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": o.Owner.Email, "active": true}).str("id")
	ann := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ann@acme.test", "active": true}).str("id")
	// Groups that give no role: an Owner may be in them.
	everyone := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "Everyone",
		"members": []any{map[string]any{"value": owner}, map[string]any{"value": ann}}}).str("id")
	berlin := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "Berlin office",
		"members": []any{map[string]any{"value": owner}}}).str("id")
	hr := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "HR",
		"members": []any{map[string]any{"value": ann}}}).str("id")
	require.Equal(t, perm.HR, scimPerson(t, s, ann).Edges.Role.Name)

	groupsOf := func(id string) []any {
		t.Helper()
		got, _ := c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil).Body["groups"].([]any)
		return got
	}
	versions := func() []string {
		t.Helper()
		var out []string
		for _, g := range []string{everyone, berlin} {
			out = append(out, c.must(http.StatusOK, http.MethodGet, "/Groups/"+g, nil).Header.Get("ETag"))
		}
		return out
	}
	events := func() int {
		t.Helper()
		n, err := s.DB.Client.Event.Query().Where(entevent.OrganizationID(o.ID)).Count(testkit.System())
		require.NoError(t, err)
		return n
	}
	beforeGroups, beforeVersions, beforeEvents := groupsOf(owner), versions(), events()
	require.Len(t, beforeGroups, 2)

	scimError(t, c.do(http.MethodDelete, "/Users/"+owner, nil), http.StatusBadRequest, "mutability")
	p := scimPerson(t, s, owner)
	require.Equal(t, user.StatusActive, p.Status, "still active")
	require.Equal(t, perm.Owner, p.Edges.Role.Name, "still Owner")
	require.True(t, p.ScimLinked, "still linked")
	require.Equal(t, beforeGroups, groupsOf(owner), "still in both groups")
	require.Equal(t, beforeVersions, versions(), "the groups are unchanged")
	require.Equal(t, beforeEvents, events(), "no event recorded")

	// Ann's DELETE goes through: out of her groups (her role with them),
	// deactivated and unlinked.
	c.must(http.StatusNoContent, http.MethodDelete, "/Users/"+ann, nil)
	p = scimPerson(t, s, ann)
	require.Equal(t, user.StatusDeactivated, p.Status)
	require.Equal(t, perm.Member, p.Edges.Role.Name, "leaving HR takes its role")
	require.False(t, p.ScimLinked)
	c.must(http.StatusNotFound, http.MethodGet, "/Users/"+ann, nil)
	for _, g := range []string{everyone, hr} {
		members, _ := c.must(http.StatusOK, http.MethodGet, "/Groups/"+g, nil).Body["members"].([]any)
		for _, m := range members {
			require.NotEqual(t, ann, m.(map[string]any)["value"], "she left group %s", g)
		}
	}
}

// TestImportKeepsAnOwner: a CSV import cannot give the last active Owner
// another role; it may demote one Owner of two.
func TestImportKeepsAnOwner(t *testing.T) {
	a := newAdmin(t)
	owner := func(id int) string {
		t.Helper()
		u, err := a.s.DB.Client.User.Query().Where(user.ID(id)).WithRole().Only(testkit.System())
		require.NoError(t, err)
		return u.Edges.Role.Name
	}
	_, resp := a.importCSV(t, a.tok, "email,role,first name\nowner@acme.test,Admin,Olga\n", nil)
	require.Equal(t, "CONFLICT", resp.Code(), "%+v", resp.Errors)
	require.Contains(t, resp.Errors[0].Message, "last Owner")
	require.Equal(t, perm.Owner, owner(a.org.Owner.ID), "nothing changed")
	u, err := a.s.DB.Client.User.Get(testkit.System(), a.org.Owner.ID)
	require.NoError(t, err)
	require.Nil(t, u.FirstName, "nothing changed")

	second := a.s.AddPeople(t, a.org, testkit.Person{Email: "second@acme.test", Role: perm.Owner, Status: user.StatusActive})[0]
	_, resp = a.importCSV(t, a.tok, "email,role\nowner@acme.test,Admin\nsecond@acme.test,HR\n", nil)
	require.Equal(t, "CONFLICT", resp.Code(), "both at once: %+v", resp.Errors)
	require.Equal(t, perm.Owner, owner(second.ID))
	out, resp := a.importCSV(t, a.tok, "email,role\nsecond@acme.test,HR\n", nil)
	require.Empty(t, resp.Errors)
	require.Equal(t, 1, out.ImportUsers.Updated)
	require.Equal(t, perm.HR, owner(second.ID))
}
