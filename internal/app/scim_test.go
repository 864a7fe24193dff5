package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/auditevent"
	"github.com/rollcall/rollcall/ent/bulksend"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testkit"
)

// The SCIM tests replay the request sequences Microsoft Entra ID and Okta
// document for their SCIM 2.0 provisioning (bodies as their docs show them,
// capitalised "Replace"/"Add" ops and "False" strings included), through
// the real handler over HTTP.

// scimClient talks SCIM to a test server with one bearer token.
type scimClient struct {
	t   *testing.T
	s   *testkit.Server
	key string
}

// scimResponse is a SCIM answer: status, headers and the decoded body.
type scimResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r scimResponse) str(key string) string { s, _ := r.Body[key].(string); return s }

// list is the Resources of a ListResponse.
func (r scimResponse) list() []map[string]any {
	raw, _ := r.Body["Resources"].([]any)
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i] = x.(map[string]any)
	}
	return out
}

func (r scimResponse) total() int { n, _ := r.Body["totalResults"].(float64); return int(n) }

// do sends method path with body (a string is sent as is, anything else as
// JSON) and extra headers as name, value pairs.
func (c scimClient) do(method, path string, body any, headers ...string) scimResponse {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.s.URL+"/scim/v2"+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/scim+json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	out := scimResponse{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 {
		require.Equal(c.t, "application/scim+json", res.Header.Get("Content-Type"), "%s %s: %s", method, path, raw)
		require.NoError(c.t, json.Unmarshal(raw, &out.Body), "%s %s: %s", method, path, raw)
	}
	return out
}

// must is do, failing unless the status is want.
func (c scimClient) must(want int, method, path string, body any, headers ...string) scimResponse {
	c.t.Helper()
	r := c.do(method, path, body, headers...)
	require.Equal(c.t, want, r.Status, "%s %s: %s", method, path, r.Raw)
	return r
}

// scimError checks r is a SCIM error of status and scimType ("" for none).
func scimError(t *testing.T, r scimResponse, status int, scimType string) {
	t.Helper()
	require.Equal(t, status, r.Status, r.Raw)
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, r.Body["schemas"], r.Raw)
	require.Equal(t, fmt.Sprint(status), r.Body["status"], r.Raw)
	if scimType == "" {
		require.NotContains(t, r.Body, "scimType", r.Raw)
	} else {
		require.Equal(t, scimType, r.Body["scimType"], r.Raw)
	}
	require.NotEmpty(t, r.Body["detail"])
}

func filterQuery(f string, extra ...string) string {
	q := url.Values{"filter": {f}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "?" + q.Encode()
}

// scimSetup starts a server with an organisation whose Owner made a SCIM
// key; it returns the client and the organisation.
func scimSetup(t *testing.T, modify ...func(*config.Config)) (*testkit.Server, *testkit.Org, scimClient) {
	t.Helper()
	s := testkit.NewServer(t, modify...)
	o := s.CreateOrg(t, "acme")
	return s, o, scimKey(t, s, o, perm.ScimProvision)
}

// scimKey is a client with a new key of o's Owner holding perms.
func scimKey(t *testing.T, s *testkit.Server, o *testkit.Org, perms ...string) scimClient {
	t.Helper()
	tok := s.Login(t, o.Slug, o.Owner.Email, testkit.OwnerPassword)
	_, secret := createKey(t, s, tok, "scim", perms, nil)
	return scimClient{t: t, s: s, key: secret}
}

// scimPerson reads a person as the database holds them, with role.
func scimPerson(t *testing.T, s *testkit.Server, id string) *ent.User {
	t.Helper()
	var n int
	_, err := fmt.Sscan(id, &n)
	require.NoError(t, err)
	u, err := s.DB.Client.User.Query().Where(user.ID(n)).WithRole().Only(testkit.System())
	require.NoError(t, err)
	return u
}

func TestSCIMEntraSequence(t *testing.T) {
	s, o, c := scimSetup(t)
	// Create User.
	created := c.must(http.StatusCreated, http.MethodPost, "/Users", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
		"active": true,
		"emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
		"meta": {"resourceType": "User"},
		"name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles": [],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "42"}
	}`)
	id := created.str("id")
	require.NotEmpty(t, id)
	require.Equal(t, s.URL+"/scim/v2/Users/"+id, created.Header.Get("Location"))
	meta := created.Body["meta"].(map[string]any)
	require.Equal(t, created.Header.Get("Location"), meta["location"])
	require.Equal(t, created.Header.Get("ETag"), meta["version"])
	require.Equal(t, "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com", created.str("userName"))
	p := scimPerson(t, s, id)
	require.Equal(t, user.StatusNotInvited, p.Status)
	require.Equal(t, "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com", p.Email)
	require.Equal(t, "Member", p.Edges.Role.Name)

	// Get User by query, in the userName's other case too (case-insensitive).
	found := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com"`), nil)
	require.Equal(t, 1, found.total())
	require.Equal(t, id, found.list()[0]["id"])
	found = c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "test_user_AB6490EE-1e48-479e-a20b-2d77186b5dd1@CONTOSO.com"`), nil)
	require.Equal(t, 1, found.total())
	// Get User by query - zero results.
	none := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "non-existent user"`), nil)
	require.Equal(t, 0, none.total())
	require.Empty(t, none.list())
	// By externalId and by address.
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), nil).total())
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`emails[type eq "work" and value eq "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"]`), nil).total())

	// Update User [Multi-valued properties].
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [
			{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
			{"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
		]}`)
	p = scimPerson(t, s, id)
	require.Equal(t, "updatedEmail@microsoft.com", p.Email)
	require.Equal(t, "updatedFamilyName", *p.LastName)
	// Update User [Single-valued properties].
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}`)
	got := c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil)
	require.Equal(t, "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com", got.str("userName"))
	// displayName: without one given, first and last name; Entra's
	// validator replaces it and reads it back, and filters on it.
	require.Equal(t, "givenName updatedFamilyName", got.str("displayName"))
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "displayName", "value": "Test User 7b3c"}]}`)
	got = c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil)
	require.Equal(t, "Test User 7b3c", got.str("displayName"))
	require.Equal(t, "givenName updatedFamilyName", got.Body["name"].(map[string]any)["formatted"])
	byDisplay := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`displayName eq "test user 7B3C"`), nil)
	require.Equal(t, 1, byDisplay.total())
	require.Equal(t, id, byDisplay.list()[0]["id"])
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`displayName sw "Test User"`), nil).total())
	require.Equal(t, 0, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`displayName eq "givenName updatedFamilyName"`), nil).total())
	// Without a path too, and removed: the names show again.
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "value": {"displayName": "Renamed 7b3c"}}]}`)
	require.Equal(t, "Renamed 7b3c", c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil).str("displayName"))
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Remove", "path": "displayName"}]}`)
	require.Equal(t, "givenName updatedFamilyName", c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil).str("displayName"))
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`displayName eq "givenName updatedFamilyName"`), nil).total())
	// An Add without a path (Entra adds attributes that were empty so).
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Add", "value": {"name.givenName": "Given", "preferredLanguage": "de-CH", "title": "Engineer"}}]}`)
	p = scimPerson(t, s, id)
	require.Equal(t, "Given", *p.FirstName)
	require.Equal(t, "de-CH", *p.Locale)

	// Disable User: Entra's "False" string.
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}`)
	require.Equal(t, user.StatusDeactivated, scimPerson(t, s, id).Status)
	found = c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"`), nil)
	require.Equal(t, false, found.list()[0]["active"])
	// ... and back (a boolean this time).
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "active", "value": true}]}`)
	require.Equal(t, user.StatusNotInvited, scimPerson(t, s, id).Status)

	// Groups: Create Group.
	g := c.must(http.StatusCreated, http.MethodPost, "/Groups", `{
		"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"displayName": "displayName",
		"meta": {"resourceType": "Group"},
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}`)
	gid := g.str("id")
	// Get Group, without members.
	gg := c.must(http.StatusOK, http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil)
	require.NotContains(t, gg.Body, "members")
	require.Equal(t, "displayName", gg.str("displayName"))
	// Get Group by displayName.
	byName := c.must(http.StatusOK, http.MethodGet, "/Groups"+filterQuery(`displayName eq "displayName"`, "excludedAttributes", "members"), nil)
	require.Equal(t, 1, byName.total())
	// Update Group [Non-member attributes].
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}`)
	// Update Group [Add Members].
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "`+id+`"}]}]}`)
	gg = c.must(http.StatusOK, http.MethodGet, "/Groups/"+gid, nil)
	require.Len(t, gg.Body["members"], 1)
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Groups"+filterQuery(`members[value eq "`+id+`"]`), nil).total())
	userGroups := c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil).Body["groups"].([]any)
	require.Equal(t, gid, userGroups[0].(map[string]any)["value"])
	// Update Group [Remove Members].
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "`+id+`"}]}]}`)
	require.Empty(t, c.must(http.StatusOK, http.MethodGet, "/Groups/"+gid, nil).Body["members"])

	// Delete User: the resource is gone, the person stays, deactivated.
	c.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil)
	scimError(t, c.do(http.MethodGet, "/Users/"+id, nil), http.StatusNotFound, "")
	require.Equal(t, user.StatusDeactivated, scimPerson(t, s, id).Status)
	require.Equal(t, 0, c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"`), nil).total())
	// Delete Group.
	c.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+gid, nil)
	scimError(t, c.do(http.MethodGet, "/Groups/"+gid, nil), http.StatusNotFound, "")

	// Every change is in the audit log under the key, and in the events.
	sys := testkit.System()
	n, err := s.DB.Client.AuditEvent.Query().Where(auditevent.OrganizationID(o.ID), auditevent.ActorLabelContains("scim")).Count(sys)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 10)
	for _, typ := range []string{"user.created", "user.updated", "user.deactivated", "user.reactivated", "group.created", "group.updated", "group.deleted"} {
		ok, err := s.DB.Client.Event.Query().Where(entevent.OrganizationID(o.ID), entevent.Type(typ)).Exist(sys)
		require.NoError(t, err)
		require.True(t, ok, typ)
	}
}

func TestSCIMOktaSequence(t *testing.T) {
	s, o, c := scimSetup(t)
	// Okta first looks the user up, paging.
	none := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "test.user@okta.local"`, "startIndex", "1", "count", "100"), nil)
	require.Equal(t, 0, none.total())
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}, none.Body["schemas"])
	created := c.must(http.StatusCreated, http.MethodPost, "/Users", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName": "test.user@okta.local",
		"name": {"givenName": "Test", "familyName": "User"},
		"emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
		"displayName": "Test User",
		"locale": "en_US",
		"externalId": "00ujl29u0le5T6Aj10h7",
		"groups": [],
		"password": "1mz050nq",
		"active": true}`)
	id := created.str("id")
	require.Equal(t, "en-US", created.str("locale"))
	got := c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil)
	require.Equal(t, "Test User", got.str("displayName"))
	require.Equal(t, "00ujl29u0le5T6Aj10h7", got.str("externalId"))

	// Okta updates with a PUT of the whole user.
	put := got.Body
	put["name"] = map[string]any{"givenName": "Another", "familyName": "Name"}
	put["externalId"] = "00ujl29u0le5T6Aj10h8"
	put["displayName"] = "A. Name"
	c.must(http.StatusOK, http.MethodPut, "/Users/"+id, put)
	p := scimPerson(t, s, id)
	require.Equal(t, "Another", *p.FirstName)
	require.Equal(t, "00ujl29u0le5T6Aj10h8", *p.ScimExternalID)
	require.Equal(t, "A. Name", *p.ScimDisplayName)
	require.Equal(t, "A. Name", c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil).str("displayName"))

	// Deactivation and reactivation: PATCH without a path.
	deactivate := `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]}`
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, deactivate)
	require.Equal(t, user.StatusDeactivated, scimPerson(t, s, id).Status)
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": true}}]}`)
	require.Equal(t, user.StatusNotInvited, scimPerson(t, s, id).Status)

	// Push groups: a group named after a role gives it (the role with the
	// most permissions of several), leaving it gives Member back.
	other := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "second@okta.local",
		"name": map[string]any{"givenName": "Second", "familyName": "User"}, "active": true}).str("id")
	admins := c.must(http.StatusCreated, http.MethodPost, "/Groups", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "admin",
		"members": [{"value": "`+id+`", "display": "test.user@okta.local"}]}`).str("id")
	require.Equal(t, "Admin", scimPerson(t, s, id).Edges.Role.Name)
	hr := c.must(http.StatusCreated, http.MethodPost, "/Groups", `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "HR", "members": []}`).str("id")
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+hr, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "add", "path": "members", "value": [{"value": "`+id+`"}, {"value": "`+other+`"}]}]}`)
	require.Equal(t, "Admin", scimPerson(t, s, id).Edges.Role.Name, "Admin has more permissions than HR")
	require.Equal(t, "HR", scimPerson(t, s, other).Edges.Role.Name)
	// Okta renames with a no-path replace carrying the id.
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+hr, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "replace", "value": {"id": "`+hr+`", "displayName": "People team"}}]}`)
	require.Equal(t, "Member", scimPerson(t, s, other).Edges.Role.Name, "the group no longer names a role")
	// Remove by value filter.
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+admins, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "remove", "path": "members[value eq \"`+id+`\"]"}]}`)
	require.Equal(t, "Member", scimPerson(t, s, id).Edges.Role.Name)
	list := c.must(http.StatusOK, http.MethodGet, "/Groups?startIndex=1&count=100", nil)
	require.Equal(t, 2, list.total())

	// A group never gives Owner: a group named Owner is only a group.
	c.must(http.StatusCreated, http.MethodPost, "/Groups", `{"displayName": "Owner", "members": [{"value": "`+id+`"}]}`)
	require.Equal(t, "Member", scimPerson(t, s, id).Edges.Role.Name)

	// Delete, then a POST links the same person again.
	c.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil)
	again := c.must(http.StatusCreated, http.MethodPost, "/Users", created.Body)
	require.Equal(t, id, again.str("id"))
	require.Equal(t, user.StatusNotInvited, scimPerson(t, s, id).Status)

	// The last Owner cannot be deactivated or demoted through SCIM.
	owner := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": o.Owner.Email, "active": true}).str("id")
	require.Equal(t, fmt.Sprint(o.Owner.ID), owner, "the Owner's address links the Owner")
	scimError(t, c.do(http.MethodPatch, "/Users/"+owner, deactivate), http.StatusBadRequest, "mutability")
	scimError(t, c.do(http.MethodPatch, "/Groups/"+admins, `{"Operations": [{"op": "add", "path": "members", "value": [{"value": "`+owner+`"}]}]}`), http.StatusBadRequest, "mutability")
	scimError(t, c.do(http.MethodDelete, "/Users/"+owner, nil), http.StatusBadRequest, "mutability")
	p = scimPerson(t, s, owner)
	require.Equal(t, user.StatusActive, p.Status)
	require.Equal(t, "Owner", p.Edges.Role.Name)
}

func TestSCIMTenantIsolation(t *testing.T) {
	s, _, a := scimSetup(t)
	b := scimKey(t, s, s.CreateOrg(t, "globex"), perm.ScimProvision)
	id := a.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ann@acme.test"}).str("id")
	gid := a.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "Acme people"}).str("id")
	scimError(t, b.do(http.MethodGet, "/Users/"+id, nil), http.StatusNotFound, "")
	scimError(t, b.do(http.MethodPatch, "/Users/"+id, `{"Operations": [{"op": "replace", "value": {"active": false}}]}`), http.StatusNotFound, "")
	scimError(t, b.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "x@globex.test"}), http.StatusNotFound, "")
	scimError(t, b.do(http.MethodDelete, "/Users/"+id, nil), http.StatusNotFound, "")
	scimError(t, b.do(http.MethodGet, "/Groups/"+gid, nil), http.StatusNotFound, "")
	scimError(t, b.do(http.MethodDelete, "/Groups/"+gid, nil), http.StatusNotFound, "")
	require.Equal(t, 0, b.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName eq "ann@acme.test"`), nil).total())
	require.Equal(t, 0, b.must(http.StatusOK, http.MethodGet, "/Groups", nil).total())
	// Another organisation's person cannot join a group.
	scimError(t, b.do(http.MethodPost, "/Groups", map[string]any{"displayName": "G", "members": []any{map[string]any{"value": id}}}), http.StatusBadRequest, "invalidValue")
	// The same userName is free in another organisation.
	b.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ann@acme.test"})
	require.Equal(t, user.StatusNotInvited, scimPerson(t, s, id).Status)
	require.Equal(t, 1, a.must(http.StatusOK, http.MethodGet, "/Users", nil).total())
}

func TestSCIMPagingAndAttributes(t *testing.T) {
	_, _, c := scimSetup(t, func(cfg *config.Config) { cfg.SCIMMaxCount = 7 })
	for i := range 23 {
		c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": fmt.Sprintf("p%02d@acme.test", i), "externalId": fmt.Sprint(i)})
	}
	seen := map[string]bool{}
	for start := 1; start <= 23; start += 5 {
		page := c.must(http.StatusOK, http.MethodGet, fmt.Sprintf("/Users?startIndex=%d&count=5", start), nil)
		require.Equal(t, 23, page.total())
		require.EqualValues(t, start, page.Body["startIndex"])
		for _, r := range page.list() {
			require.False(t, seen[r["id"].(string)], "a person on two pages")
			seen[r["id"].(string)] = true
		}
	}
	require.Len(t, seen, 23, "no gaps")
	capped := c.must(http.StatusOK, http.MethodGet, "/Users?count=100", nil)
	require.Len(t, capped.list(), 7)
	require.EqualValues(t, 7, capped.Body["itemsPerPage"])
	require.Equal(t, 23, capped.total())
	require.Empty(t, c.must(http.StatusOK, http.MethodGet, "/Users?count=0", nil).list())
	require.Empty(t, c.must(http.StatusOK, http.MethodGet, "/Users?startIndex=24", nil).list())
	sw := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`userName sw "p1" or externalId eq "20"`), nil)
	require.Equal(t, 11, sw.total())
	co := c.must(http.StatusOK, http.MethodGet, "/Users"+filterQuery(`emails.value co "0@" and userName pr`), nil)
	require.Equal(t, 3, co.total()) // p00, p10, p20

	only := c.must(http.StatusOK, http.MethodGet, "/Users?count=1&attributes=userName,name.givenName", nil).list()[0]
	require.ElementsMatch(t, []string{"id", "schemas", "meta", "userName", "name"}, keys(only))
	without := c.must(http.StatusOK, http.MethodGet, "/Users?count=1&excludedAttributes=emails,groups", nil).list()[0]
	require.NotContains(t, without, "emails")
	require.NotContains(t, without, "groups")
	require.Contains(t, without, "userName")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSCIMVersions(t *testing.T) {
	s, _, c := scimSetup(t)
	created := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "v@acme.test"})
	id, v1 := created.str("id"), created.Header.Get("ETag")
	require.True(t, strings.HasPrefix(v1, `W/"`), v1)
	c.must(http.StatusNotModified, http.MethodGet, "/Users/"+id, nil, "If-None-Match", v1)
	patched := c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{"Operations": [{"op": "replace", "path": "name.givenName", "value": "Vera"}]}`, "If-Match", v1)
	v2 := patched.Header.Get("ETag")
	require.NotEqual(t, v1, v2)
	scimError(t, c.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "v@acme.test"}, "If-Match", v1), http.StatusPreconditionFailed, "")
	scimError(t, c.do(http.MethodDelete, "/Users/"+id, nil, "If-Match", v1), http.StatusPreconditionFailed, "")
	c.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil)
	c.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"userName": "v@acme.test"}, "If-Match", v2)
	g := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "G"})
	gv := g.Header.Get("ETag")
	require.Equal(t, gv, c.must(http.StatusOK, http.MethodGet, "/Groups/"+g.str("id")+"?excludedAttributes=members", nil).Header.Get("ETag"),
		"a group's version does not depend on the members shown")
	s.Clock.Advance(time.Second)
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+g.str("id"), `{"Operations": [{"op": "add", "path": "members", "value": [{"value": "`+id+`"}]}]}`, "If-Match", gv)
	scimError(t, c.do(http.MethodPatch, "/Groups/"+g.str("id"), `{"Operations": [{"op": "replace", "path": "displayName", "value": "H"}]}`, "If-Match", gv), http.StatusPreconditionFailed, "")
}

func TestSCIMErrors(t *testing.T) {
	s, o, c := scimSetup(t, func(cfg *config.Config) { cfg.MaxBody = 64 << 10 })
	id := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "taken@acme.test", "name": map[string]any{"givenName": "Tess"}}).str("id")
	unchanged := func() {
		t.Helper()
		p := scimPerson(t, s, id)
		require.Equal(t, "Tess", *p.FirstName)
		require.Equal(t, "taken@acme.test", *p.ScimUserName)
		require.Equal(t, user.StatusNotInvited, p.Status)
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"malformed JSON", http.MethodPost, "/Users", `{"userName": "a@acme.test",`, 400, "invalidSyntax"},
		{"malformed PATCH", http.MethodPatch, "/Users/" + id, `{"Operations": [`, 400, "invalidSyntax"},
		{"unknown attribute", http.MethodPost, "/Users", map[string]any{"userName": "b@acme.test", "shoeSize": 44}, 400, "invalidValue"},
		{"unknown attribute in PUT", http.MethodPut, "/Users/" + id, map[string]any{"userName": "taken@acme.test", "name": map[string]any{"givenName": "X", "nick": "y"}}, 400, "invalidValue"},
		{"no userName", http.MethodPost, "/Users", map[string]any{"emails": []any{map[string]any{"value": "c@acme.test"}}}, 400, "invalidValue"},
		{"no address", http.MethodPost, "/Users", map[string]any{"userName": "not-an-address"}, 400, "invalidValue"},
		{"bad address", http.MethodPost, "/Users", map[string]any{"userName": "d", "emails": []any{map[string]any{"value": "not an address"}}}, 400, "invalidValue"},
		{"a bidirectional control in userName", http.MethodPost, "/Users", map[string]any{"userName": "evil\u202e@acme.test"}, 400, "invalidValue"},
		{"a control character in a group name", http.MethodPost, "/Groups", map[string]any{"displayName": "G\u0007"}, 400, "invalidValue"},
		{"active not a boolean", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "Replace", "path": "active", "value": "maybe"}]}`, 400, "invalidValue"},
		{"duplicate userName", http.MethodPost, "/Users", map[string]any{"userName": "TAKEN@acme.test", "emails": []any{map[string]any{"value": "other@acme.test"}}}, 409, "uniqueness"},
		{"duplicate address", http.MethodPost, "/Users", map[string]any{"userName": "else", "emails": []any{map[string]any{"value": "Taken@acme.test"}}}, 409, "uniqueness"},
		{"bad filter", http.MethodGet, "/Users" + filterQuery(`userName eq`), nil, 400, "invalidFilter"},
		{"unbalanced filter", http.MethodGet, "/Users" + filterQuery(`(userName eq "a"`), nil, 400, "invalidFilter"},
		{"filter on an unknown attribute", http.MethodGet, "/Users" + filterQuery(`shoeSize eq "44"`), nil, 400, "invalidFilter"},
		{"unsupported operator", http.MethodGet, "/Users" + filterQuery(`userName gt "a"`), nil, 400, "invalidFilter"},
		{"NUL in a filter", http.MethodGet, "/Users" + filterQuery("userName eq \"a\x00\""), nil, 400, "invalidFilter"},
		{"bad startIndex", http.MethodGet, "/Users?startIndex=x", nil, 400, "invalidValue"},
		{"unknown attributes parameter", http.MethodGet, "/Users?attributes=shoeSize", nil, 400, "invalidValue"},
		{"unknown PATCH path", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "replace", "path": "shoeSize", "value": 1}]}`, 400, "invalidPath"},
		{"unparsable PATCH path", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "replace", "path": "emails[type eq", "value": 1}]}`, 400, "invalidPath"},
		{"remove userName", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "remove", "path": "userName"}]}`, 400, "mutability"},
		{"PATCH of a read-only attribute", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "replace", "path": "id", "value": "1"}]}`, 400, "mutability"},
		{"PATCH of the groups of a user", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "add", "path": "groups", "value": [{"value": "1"}]}]}`, 400, "mutability"},
		{"PATCH of meta", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]}`, 400, "mutability"},
		{"remove without path", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "remove"}]}`, 400, "noTarget"},
		{"unknown op", http.MethodPatch, "/Users/" + id, `{"Operations": [{"op": "merge", "value": {}}]}`, 400, "invalidSyntax"},
		{"unknown id", http.MethodGet, "/Users/999999999", nil, 404, ""},
		{"not an id", http.MethodPatch, "/Users/abc", `{"Operations": [{"op": "replace", "value": {"active": false}}]}`, 404, ""},
		{"unknown endpoint", http.MethodGet, "/Devices", nil, 404, ""},
		{"a method the endpoint does not take", http.MethodDelete, "/Users", nil, 405, ""},
		{"huge body", http.MethodPost, "/Users", `{"userName": "h@acme.test", "title": "` + strings.Repeat("x", 100<<10) + `"}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scimError(t, c.do(tc.method, tc.path, tc.body), tc.status, tc.scimType)
			unchanged()
		})
	}
	require.Equal(t, 1, c.must(http.StatusOK, http.MethodGet, "/Users", nil).total(), "nothing was created")

	t.Run("no token", func(t *testing.T) {
		scimError(t, scimClient{t: t, s: s}.do(http.MethodGet, "/Users", nil), http.StatusUnauthorized, "")
	})
	t.Run("bad token", func(t *testing.T) {
		scimError(t, scimClient{t: t, s: s, key: "rk_nope"}.do(http.MethodGet, "/Users", nil), http.StatusUnauthorized, "")
	})
	t.Run("a session, not a key", func(t *testing.T) {
		tok := s.Login(t, o.Slug, o.Owner.Email, testkit.OwnerPassword)
		scimError(t, scimClient{t: t, s: s, key: tok}.do(http.MethodGet, "/Users", nil), http.StatusForbidden, "")
	})
	t.Run("a key without scim.provision", func(t *testing.T) {
		k := scimKey(t, s, o, perm.PeopleRead, perm.PeopleManage)
		scimError(t, k.do(http.MethodGet, "/Users", nil), http.StatusForbidden, "")
		scimError(t, k.do(http.MethodPost, "/Users", map[string]any{"userName": "k@acme.test"}), http.StatusForbidden, "")
		scimError(t, k.do(http.MethodGet, "/ServiceProviderConfig", nil), http.StatusForbidden, "")
	})
}

func TestSCIMDiscovery(t *testing.T) {
	_, _, c := scimSetup(t)
	sp := c.must(http.StatusOK, http.MethodGet, "/ServiceProviderConfig", nil)
	require.Equal(t, true, sp.Body["patch"].(map[string]any)["supported"])
	require.Equal(t, true, sp.Body["filter"].(map[string]any)["supported"])
	require.Equal(t, true, sp.Body["etag"].(map[string]any)["supported"])
	rt := c.must(http.StatusOK, http.MethodGet, "/ResourceTypes", nil)
	require.Equal(t, 2, rt.total())
	require.Equal(t, "/Users", c.must(http.StatusOK, http.MethodGet, "/ResourceTypes/User", nil).str("endpoint"))
	sc := c.must(http.StatusOK, http.MethodGet, "/Schemas", nil)
	require.GreaterOrEqual(t, sc.total(), 2)
	c.must(http.StatusOK, http.MethodGet, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil)
	scimError(t, c.do(http.MethodGet, "/Schemas/urn:nope", nil), http.StatusNotFound, "")
}

func TestSCIMInviteOnProvision(t *testing.T) {
	s, o, c := scimSetup(t, func(cfg *config.Config) { cfg.SCIMInviteDelay = 10 * time.Second })
	tok := s.Login(t, o.Slug, o.Owner.Email, testkit.OwnerPassword)
	var org struct {
		UpdateOrganization struct{ ScimInviteOnProvision bool }
	}
	s.Query(t, tok, `mutation { updateOrganization(input: {scimInviteOnProvision: true}) { scimInviteOnProvision } }`, nil).Decode(t, &org)
	require.True(t, org.UpdateOrganization.ScimInviteOnProvision)

	var ids []string
	for i := range 3 {
		ids = append(ids, c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": fmt.Sprintf("new%d@acme.test", i)}).str("id"))
	}
	for _, id := range ids {
		require.Equal(t, user.StatusNotInvited, scimPerson(t, s, id).Status, "nobody is invited during the burst")
	}
	// Once provisioning pauses for the delay, one send invites the burst.
	sends := func() []*ent.BulkSend {
		list, err := s.DB.Client.BulkSend.Query().Where(bulksend.OrganizationID(o.ID)).All(testkit.System())
		require.NoError(t, err)
		return list
	}
	// (The inviter may not be waiting yet when the answer comes: the clock
	// moves in small steps until the send appears, and stops then.)
	require.Eventually(t, func() bool {
		if len(sends()) > 0 {
			return true
		}
		s.Clock.Advance(time.Second)
		return false
	}, 30*time.Second, 10*time.Millisecond)
	list := sends()
	require.Len(t, list, 1)
	require.Equal(t, bulksend.TriggerSCIM, list[0].Trigger)
	require.Nil(t, list[0].CreatedByID)
	require.Nil(t, list[0].APIKeyID)
	require.Equal(t, 3, list[0].Total)
	s.WaitDeliveries(t)
	for i, id := range ids {
		require.Equal(t, user.StatusInvited, scimPerson(t, s, id).Status)
		require.Len(t, s.EmailsTo(t, fmt.Sprintf("new%d@acme.test", i)), 1)
	}
	// Nothing left to send.
	left, err := s.SCIMInviter.Flush(context.Background())
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestSCIMActivePerson(t *testing.T) {
	s, o, c := scimSetup(t)
	s.AddPeople(t, o, testkit.Person{Email: "ada@acme.test", FirstName: "Ada", Status: user.StatusActive, Password: "a long enough password 1"})
	session := s.Login(t, o.Slug, "ada@acme.test", "a long enough password 1")
	// The provider brings in someone Rollcall has: the person is linked.
	id := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ADA@acme.test", "externalId": "e1"}).str("id")
	p := scimPerson(t, s, id)
	require.Equal(t, user.StatusActive, p.Status)
	require.Equal(t, "ADA@acme.test", *p.ScimUserName, "stored as given")
	// The provider changes the address: sessions end, the old address is told.
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{"Operations": [{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada.lovelace@acme.test"}]}`)
	require.Equal(t, "ada.lovelace@acme.test", scimPerson(t, s, id).Email)
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, session, usersCount, nil).Code())
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "ada@acme.test"), 1)
	// Deactivation ends sessions at once.
	session = s.Login(t, o.Slug, "ada.lovelace@acme.test", "a long enough password 1")
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}`)
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, session, usersCount, nil).Code())
	c.must(http.StatusOK, http.MethodPatch, "/Users/"+id, `{"Operations": [{"op": "Replace", "path": "active", "value": "True"}]}`)
	require.Equal(t, user.StatusActive, scimPerson(t, s, id).Status, "an account comes back ACTIVE")
}

// TestSCIMGroupChangeIsAtomic makes a group's role change fail where only
// the role change itself can tell (the key's creator may not change a
// person whose current role holds a permission the creator lacks) and
// checks the group change as a whole did not happen: its members, the
// roles of people it would have moved, and its version stay as they were.
func TestSCIMGroupChangeIsAtomic(t *testing.T) {
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	// The key's creator holds everything but templates.manage, so it may
	// give HR and Security Administrator, and may not change an Admin.
	prov, err := s.DB.Client.Role.Create().SetOrganizationID(o.ID).SetName("Provisioner").
		SetPermissions([]string{perm.PeopleRead, perm.PeopleInvite, perm.PeopleManage, perm.CredentialsManage,
			perm.OrganizationManage, perm.ScimProvision}).Save(testkit.System())
	require.NoError(t, err)
	o.Roles[prov.Name] = prov
	s.AddPeople(t, o,
		testkit.Person{Email: "prov@acme.test", Role: prov.Name, Status: user.StatusActive, Password: testkit.OwnerPassword},
		testkit.Person{Email: "ada@acme.test", Role: perm.Admin})
	tok := s.Login(t, o.Slug, "prov@acme.test", testkit.OwnerPassword)
	_, secret := createKey(t, s, tok, "scim", []string{perm.ScimProvision}, nil)
	c := scimClient{t: t, s: s, key: secret}

	bob := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "bob@acme.test"}).str("id")
	ada := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ada@acme.test"}).str("id")
	require.Equal(t, perm.Admin, scimPerson(t, s, ada).Edges.Role.Name, "linking keeps her role")
	hr := c.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "HR",
		"members": []any{map[string]any{"value": bob}}})
	require.Equal(t, perm.HR, scimPerson(t, s, bob).Edges.Role.Name)
	before := c.must(http.StatusOK, http.MethodGet, "/Groups/"+hr.str("id"), nil)
	updates := func() int {
		n, err := s.DB.Client.Event.Query().Where(entevent.OrganizationID(o.ID), entevent.TypeIn("group.updated", "user.updated")).Count(testkit.System())
		require.NoError(t, err)
		return n
	}
	events := updates()

	// Bob leaves HR (he would become Member) and Ada joins (she cannot be
	// made HR by this key): nothing happens.
	r := c.do(http.MethodPatch, "/Groups/"+hr.str("id"), `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "replace", "path": "members", "value": [{"value": "`+ada+`"}]}]}`)
	scimError(t, r, http.StatusForbidden, "")
	after := c.must(http.StatusOK, http.MethodGet, "/Groups/"+hr.str("id"), nil)
	require.Equal(t, before.Body["members"], after.Body["members"], "the members are unchanged")
	require.Equal(t, before.Header.Get("ETag"), after.Header.Get("ETag"), "the group is unchanged")
	require.Equal(t, perm.HR, scimPerson(t, s, bob).Edges.Role.Name, "Bob keeps HR")
	require.Equal(t, perm.Admin, scimPerson(t, s, ada).Edges.Role.Name, "Ada keeps Admin")
	require.Equal(t, events, updates(), "no group.updated or user.updated event")

	// A new group that would move her is not created.
	r = c.do(http.MethodPost, "/Groups", map[string]any{"displayName": "Security Administrator",
		"members": []any{map[string]any{"value": bob}, map[string]any{"value": ada}}})
	scimError(t, r, http.StatusForbidden, "")
	require.Equal(t, 0, c.must(http.StatusOK, http.MethodGet, "/Groups"+filterQuery(`displayName eq "Security Administrator"`), nil).total())
	require.Equal(t, perm.HR, scimPerson(t, s, bob).Edges.Role.Name)
	require.Equal(t, events, updates())

	// Without her, the same change goes through.
	c.must(http.StatusOK, http.MethodPatch, "/Groups/"+hr.str("id"), `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "remove", "path": "members[value eq \"`+bob+`\"]"}]}`)
	require.Equal(t, perm.Member, scimPerson(t, s, bob).Edges.Role.Name)
}

// TestSCIMConcurrentProvisioning sends many POSTs at once, as a provider's
// first sync does: they are written in groups (one transaction for those
// that arrive together), and each still gets its own answer: a duplicate
// userName or address fails only its request (409), a known address links
// its person, and every created resource is the person it asked for.
func TestSCIMConcurrentProvisioning(t *testing.T) {
	s, o, c := scimSetup(t)
	known := s.AddPeople(t, o, testkit.Person{Email: "known@acme.test"})[0]
	type req struct {
		body     map[string]any
		userName string
		pair     int // requests of one pair (> 0) compete for one name or address
	}
	var reqs []req
	add := func(userName, email string, pair int) {
		reqs = append(reqs, req{body: map[string]any{"userName": userName, "active": true,
			"name":   map[string]any{"givenName": "G " + userName},
			"emails": []any{map[string]any{"value": email, "primary": true}}}, userName: userName, pair: pair})
	}
	for i := range 30 {
		add(fmt.Sprintf("p%02d@acme.test", i), fmt.Sprintf("p%02d@acme.test", i), 0)
	}
	for i := 1; i <= 4; i++ { // the same userName, in two cases
		add(fmt.Sprintf("same%d@acme.test", i), fmt.Sprintf("same%d-a@acme.test", i), i)
		add(fmt.Sprintf("SAME%d@acme.test", i), fmt.Sprintf("same%d-b@acme.test", i), i)
	}
	for i := 5; i <= 7; i++ { // the same address
		add(fmt.Sprintf("addr%d-a", i), fmt.Sprintf("addr%d@acme.test", i), i)
		add(fmt.Sprintf("addr%d-b", i), fmt.Sprintf("ADDR%d@acme.test", i), i)
	}
	add("known-user", "known@acme.test", 0)

	answers := make([]scimResponse, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			<-start
			answers[i] = c.do(http.MethodPost, "/Users", r.body)
		})
	}
	close(start)
	wg.Wait()

	created := 0
	wins := map[int]int{}
	for i, r := range reqs {
		a := answers[i]
		if r.pair > 0 && a.Status == http.StatusConflict {
			scimError(t, a, http.StatusConflict, "uniqueness")
			continue
		}
		require.Equal(t, http.StatusCreated, a.Status, "%s: %s", r.userName, a.Raw)
		require.Equal(t, r.userName, a.str("userName"))
		got := c.must(http.StatusOK, http.MethodGet, "/Users/"+a.str("id"), nil)
		require.Equal(t, r.userName, got.str("userName"), "the resource is the person asked for")
		require.Equal(t, "G "+r.userName, got.Body["name"].(map[string]any)["givenName"])
		if r.pair > 0 {
			wins[r.pair]++
		}
		if r.userName == "known-user" {
			require.Equal(t, fmt.Sprint(known.ID), a.str("id"), "the known address links its person")
		} else {
			created++
		}
	}
	for pair := 1; pair <= 7; pair++ {
		require.Equal(t, 1, wins[pair], "exactly one request of pair %d succeeds", pair)
	}
	require.Equal(t, 30+7, created)
	sys := testkit.System()
	n, err := s.DB.Client.Event.Query().Where(entevent.OrganizationID(o.ID), entevent.Type("user.created")).Count(sys)
	require.NoError(t, err)
	require.Equal(t, created, n, "one user.created event per person created")
	n, err = s.DB.Client.AuditEvent.Query().Where(auditevent.OrganizationID(o.ID), auditevent.Action("user.created")).Count(sys)
	require.NoError(t, err)
	require.Equal(t, created, n, "one audit entry per person created")
	require.Equal(t, created+1, c.must(http.StatusOK, http.MethodGet, "/Users?count=0", nil).total())
}
