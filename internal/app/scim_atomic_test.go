package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// scimSnapshot is what a refused SCIM PUT or PATCH must leave as it was:
// the person's names, address, status and link, and the organisation's
// event count.
type scimSnapshot struct {
	FirstName, LastName, UserName, ExternalID *string
	Email                                     string
	Status                                    user.Status
	Linked                                    bool
	Events                                    int
}

func snapshotOf(t *testing.T, s *testkit.Server, orgID int, id string) scimSnapshot {
	t.Helper()
	p := scimPerson(t, s, id)
	n, err := s.DB.Client.Event.Query().Where(entevent.OrganizationID(orgID)).Count(testkit.System())
	require.NoError(t, err)
	return scimSnapshot{FirstName: p.FirstName, LastName: p.LastName, UserName: p.ScimUserName, ExternalID: p.ScimExternalID,
		Email: p.Email, Status: p.Status, Linked: p.ScimLinked, Events: n}
}

const patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// TestSCIMPatchLastOwnerChangesNothing: a PATCH that renames the last Owner
// and sets active false is refused (400 mutability) and the name stays.
func TestSCIMPatchLastOwnerChangesNothing(t *testing.T) {
	s, o, c := scimSetup(t)
	owner := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": o.Owner.Email, "active": true,
		"name": map[string]any{"givenName": "Olga"}}).str("id")
	before := snapshotOf(t, s, o.ID, owner)
	require.Equal(t, "Olga", *before.FirstName)

	res := c.do(http.MethodPatch, "/Users/"+owner, map[string]any{"schemas": []any{patchOp}, "Operations": []any{
		map[string]any{"op": "replace", "path": "name.givenName", "value": "Oksana"},
		map[string]any{"op": "replace", "path": "active", "value": false},
	}})
	scimError(t, res, http.StatusBadRequest, "mutability")
	require.Contains(t, res.Raw, "last Owner")
	require.Equal(t, before, snapshotOf(t, s, o.ID, owner), "nothing changed")
	require.Equal(t, "Olga", c.must(http.StatusOK, http.MethodGet, "/Users/"+owner, nil).Body["name"].(map[string]any)["givenName"])
}

// TestSCIMPutTakenUserNameChangesNothing: a PUT that renames a person and
// takes another's userName is refused (409 uniqueness) and changes nothing:
// name, status, link, events.
func TestSCIMPutTakenUserNameChangesNothing(t *testing.T) {
	s, o, c := scimSetup(t)
	ann := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ann@acme.test", "active": true,
		"externalId": "a-1", "name": map[string]any{"givenName": "Ann", "familyName": "Ames"}}).str("id")
	c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "Bob.Builder", "active": true,
		"emails": []any{map[string]any{"value": "bob@acme.test", "primary": true}}})
	before := snapshotOf(t, s, o.ID, ann)

	res := c.do(http.MethodPut, "/Users/"+ann, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "bob.builder", "externalId": "a-2", "active": false,
		"name":   map[string]any{"givenName": "Anna", "familyName": "Ames-Berg"},
		"emails": []any{map[string]any{"value": "ann@acme.test", "primary": true}}})
	scimError(t, res, http.StatusConflict, "uniqueness")
	require.Equal(t, before, snapshotOf(t, s, o.ID, ann), "nothing changed")
}

// TestSCIMUpdateFailingLateChangesNothing: a PUT or PATCH refused by a rule
// checked after the status change (an address another person has, a name
// the name rule refuses) leaves the status, and everything else, as it was.
func TestSCIMUpdateFailingLateChangesNothing(t *testing.T) {
	s, o, c := scimSetup(t)
	ann := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ann@acme.test", "active": true,
		"name": map[string]any{"givenName": "Ann"}}).str("id")
	cid := c.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "cid@acme.test", "active": false}).str("id")
	s.AddPeople(t, o, testkit.Person{Email: "bob@acme.test", Role: "Member", Status: user.StatusActive})

	t.Run("deactivate and take an address", func(t *testing.T) {
		before := snapshotOf(t, s, o.ID, ann)
		res := c.do(http.MethodPatch, "/Users/"+ann, map[string]any{"schemas": []any{patchOp}, "Operations": []any{
			map[string]any{"op": "replace", "path": "name.givenName", "value": "Anna"},
			map[string]any{"op": "replace", "path": "active", "value": false},
			map[string]any{"op": "replace", "path": "emails", "value": []any{map[string]any{"value": "bob@acme.test", "primary": true}}},
		}})
		scimError(t, res, http.StatusConflict, "uniqueness")
		require.Equal(t, before, snapshotOf(t, s, o.ID, ann), "nothing changed")
	})
	t.Run("reactivate with a refused name", func(t *testing.T) {
		before := snapshotOf(t, s, o.ID, cid)
		require.Equal(t, user.StatusDeactivated, before.Status)
		res := c.do(http.MethodPut, "/Users/"+cid, map[string]any{"userName": "cid.new@acme.test", "active": true,
			"name": map[string]any{"givenName": "Cid\u202eevil"}})
		scimError(t, res, http.StatusBadRequest, "invalidValue")
		require.Equal(t, before, snapshotOf(t, s, o.ID, cid), "nothing changed")
	})
}
