package app_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	entkey "github.com/rollcall/rollcall/ent/apikey"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testdb"
	"github.com/rollcall/rollcall/internal/testkit"
)

const (
	createKeyMutation = `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) {
  secret apiKey { id name prefix permissions createdAt expiresAt lastUsedAt revokedAt createdBy { email } } } }`
	revokeKeyMutation = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`
	listKeysQuery     = `{ apiKeys { id name prefix permissions createdAt expiresAt lastUsedAt revokedAt createdBy { email } } }`
)

// apiKey is an ApiKey as the API shows it.
type apiKey struct {
	ID, Name, Prefix                 string
	Permissions                      []string
	CreatedAt                        time.Time
	ExpiresAt, LastUsedAt, RevokedAt *time.Time
	CreatedBy                        *struct{ Email string }
}

// createKey makes a key as the holder of tok and returns it with its secret,
// failing the test on errors.
func createKey(t *testing.T, s *testkit.Server, tok, name string, perms []string, expires *time.Time) (apiKey, string) {
	t.Helper()
	resp := tryCreateKey(t, s, tok, name, perms, expires)
	var out struct {
		CreateApiKey struct {
			Secret string
			ApiKey apiKey
		}
	}
	resp.Decode(t, &out)
	return out.CreateApiKey.ApiKey, out.CreateApiKey.Secret
}

func tryCreateKey(t *testing.T, s *testkit.Server, tok, name string, perms []string, expires *time.Time) *testkit.Response {
	t.Helper()
	in := map[string]any{"name": name, "permissions": perms}
	if expires != nil {
		in["expiresAt"] = expires.Format(time.RFC3339Nano)
	}
	return s.Query(t, tok, createKeyMutation, map[string]any{"in": in})
}

func listKeys(t *testing.T, s *testkit.Server, tok string) []apiKey {
	t.Helper()
	var out struct{ ApiKeys []apiKey }
	s.Query(t, tok, listKeysQuery, nil).Decode(t, &out)
	return out.ApiKeys
}

// usersCount asks for the organisation's people count as tok.
const usersCount = `{ users(first: 1) { totalCount } }`

// rawGraphQL posts a query with an Authorization header and returns the
// status, the WWW-Authenticate header and the body, for comparing refusals
// byte for byte.
func rawGraphQL(t *testing.T, s *testkit.Server, authorization string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(`{"query":"{ organization { slug } }"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(body)
}

func TestAPIKeySecretShownOnce(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	k, secret := createKey(t, s, a.tok, "  HR sync  ", []string{"people.invite", "people.read", "people.read"}, nil)
	require.Len(t, secret, 46, "rk_ and 43 characters of base64url (32 random bytes)")
	require.True(t, strings.HasPrefix(secret, "rk_"))
	require.Equal(t, secret[:11], k.Prefix, "the prefix recognises the key: rk_ and eight characters")
	require.Equal(t, "HR sync", k.Name)
	require.Equal(t, []string{"people.read", "people.invite"}, k.Permissions, "known order, no repeats")
	require.Equal(t, testkit.Epoch, k.CreatedAt.UTC())
	require.Nil(t, k.ExpiresAt)
	require.Nil(t, k.LastUsedAt)
	require.Nil(t, k.RevokedAt)
	require.Equal(t, "owner@acme.test", k.CreatedBy.Email)

	// Only the hash is stored; no field shows either again.
	row, err := s.DB.Client.ApiKey.Query().Where(entkey.Prefix(k.Prefix)).Only(testkit.System())
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(secret))
	require.Equal(t, sum[:], row.SecretHash)
	listed := listKeys(t, s, a.tok)
	require.Len(t, listed, 1)
	require.Equal(t, k.ID, listed[0].ID)
	require.Equal(t, k.Prefix, listed[0].Prefix)
	for _, field := range []string{"secret", "secretHash"} {
		resp := s.Query(t, a.tok, `{ apiKeys { `+field+` } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), field)
		require.Contains(t, resp.Errors[0].Message, "Cannot query field", field)
	}
	raw := s.Query(t, a.tok, `query($id: ID!) { node(id: $id) { __typename ... on ApiKey { name prefix } } }`, map[string]any{"id": k.ID})
	require.NotContains(t, string(raw.Data), secret[11:])
	require.Contains(t, string(raw.Data), `"__typename":"ApiKey"`)

	// The key works as a bearer token; its use is recorded.
	var count struct{ Users struct{ TotalCount int } }
	s.Query(t, secret, usersCount, nil).Decode(t, &count)
	require.Equal(t, 1, count.Users.TotalCount)
	require.Equal(t, testkit.Epoch, listKeys(t, s, a.tok)[0].LastUsedAt.UTC())
}

// A key does what its permissions allow and nothing more, and acts as a
// machine: no viewer, no notifications, no session or password of its own,
// no keys of its own.
func TestAPIKeyActsWithItsPermissions(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	people := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"})
	_, reader := createKey(t, s, a.tok, "reader", []string{"people.read"}, nil)
	_, inviter := createKey(t, s, a.tok, "inviter", []string{"people.read", "people.invite"}, nil)

	var count struct{ Users struct{ TotalCount int } }
	s.Query(t, reader, usersCount, nil).Decode(t, &count)
	require.Equal(t, 3, count.Users.TotalCount)
	_, resp := a.invite(t, reader, []string{"eve@example.com"}, "Member", false)
	require.Equal(t, "FORBIDDEN", resp.Code(), "people.read cannot invite")

	res, resp := a.invite(t, inviter, []string{"eve@example.com"}, "Member", false)
	require.Empty(t, resp.Errors)
	require.Len(t, res.InviteUsers.Users, 1)
	for _, m := range []string{
		`mutation($id: ID!) { deactivateUser(id: $id) { id } }`,
		`mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`,
		`mutation($id: ID!) { deleteUser(id: $id) }`,
	} {
		require.Equal(t, "FORBIDDEN", s.Query(t, inviter, m, map[string]any{"id": fmt.Sprint(people[0].ID)}).Code(), m)
	}
	require.Equal(t, "FORBIDDEN", s.Query(t, inviter, `{ auditEvents { totalCount } }`, nil).Code())
	require.Equal(t, "FORBIDDEN", s.Query(t, inviter, `{ apiKeys { id } }`, nil).Code())

	// A machine: no viewer, no notifications, nothing to sign out of.
	var me struct {
		Viewer       *struct{ ID string }
		Organization struct{ Slug string }
	}
	s.Query(t, inviter, `{ viewer { id } organization { slug } }`, nil).Decode(t, &me)
	require.Nil(t, me.Viewer)
	require.Equal(t, "acme", me.Organization.Slug)
	var feed struct {
		Notifications struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
		}
		MarkNotificationsRead int
	}
	s.Query(t, inviter, `{ notifications(first: 10) { totalCount edges { node { id } } } }`, nil).Decode(t, &feed)
	require.Zero(t, feed.Notifications.TotalCount)
	require.Empty(t, feed.Notifications.Edges)
	s.Query(t, inviter, `mutation { markNotificationsRead }`, nil).Decode(t, &feed)
	require.Zero(t, feed.MarkNotificationsRead)
	require.Equal(t, "FORBIDDEN", s.Query(t, inviter, `mutation { logout }`, nil).Code())
	require.Equal(t, "FORBIDDEN", s.Query(t, inviter, `mutation { changePassword(input: {currentPassword: "x", newPassword: "a-long-new-password"}) }`, nil).Code())

	// Keys are made by people: not even a key holding organization.manage.
	_, manager := createKey(t, s, a.tok, "manager", []string{"organization.manage"}, nil)
	resp = tryCreateKey(t, s, manager, "child", []string{"organization.manage"}, nil)
	require.Equal(t, "FORBIDDEN", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "API key")
	require.Len(t, listKeys(t, s, manager), 3, "but it may list them")

	// The CSV export takes a key like a session.
	export := func(tok string) int {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/export/users.csv", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, export(reader))
	require.Equal(t, http.StatusForbidden, export(manager))
	require.Equal(t, http.StatusUnauthorized, export("rk_"+strings.Repeat("A", 43)))
}

// A key's permissions are a subset of its creator's; bad input is refused
// with the field at fault, and nothing is stored.
func TestAPIKeyCreationRules(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	var role struct{ CreateRole struct{ ID string } }
	s.Query(t, a.tok, `mutation { createRole(input: {name: "Key keeper", permissions: ["organization.manage", "people.read"]}) { id } }`, nil).Decode(t, &role)
	var roleID int
	_, err := fmt.Sscan(role.CreateRole.ID, &roleID)
	require.NoError(t, err)
	kim := s.AddPeople(t, a.org, testkit.Person{Email: "kim@acme.test", Status: user.StatusActive, Password: "kim-password-123"})[0]
	require.NoError(t, s.DB.Client.User.UpdateOne(kim).SetRoleID(roleID).Exec(testkit.System()))
	kimTok := s.Login(t, "acme", "kim@acme.test", "kim-password-123")
	hr := s.AddPeople(t, a.org, testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-1234"})[0]
	hrTok := s.Login(t, "acme", hr.Email, "hr-password-1234")

	past := testkit.Epoch.Add(-time.Second)
	now := testkit.Epoch
	cases := []struct {
		name, tok, keyName string
		perms              []string
		expires            *time.Time
		code, field        string
	}{
		{"a permission the creator lacks", kimTok, "k", []string{"people.read", "people.invite"}, nil, "FORBIDDEN", "permissions"},
		{"an unknown permission", kimTok, "k", []string{"people.fly"}, nil, "BAD_USER_INPUT", "permissions"},
		{"no permission", kimTok, "k", []string{}, nil, "BAD_USER_INPUT", "permissions"},
		{"an empty name", kimTok, "   ", []string{"people.read"}, nil, "BAD_USER_INPUT", "name"},
		{"a long name", kimTok, strings.Repeat("n", 101), []string{"people.read"}, nil, "BAD_USER_INPUT", "name"},
		{"a control character", kimTok, "sync\x07", []string{"people.read"}, nil, "BAD_USER_INPUT", "name"},
		{"a bidirectional control", kimTok, "sync\u202e", []string{"people.read"}, nil, "BAD_USER_INPUT", "name"},
		{"an expiry in the past", kimTok, "k", []string{"people.read"}, &past, "BAD_USER_INPUT", "expiresAt"},
		{"an expiry now", kimTok, "k", []string{"people.read"}, &now, "BAD_USER_INPUT", "expiresAt"},
		{"without organization.manage", hrTok, "k", []string{"people.read"}, nil, "FORBIDDEN", ""},
		{"anonymous", "", "k", []string{"people.read"}, nil, "UNAUTHENTICATED", ""},
	}
	for _, c := range cases {
		resp := tryCreateKey(t, s, c.tok, c.keyName, c.perms, c.expires)
		require.Equal(t, c.code, resp.Code(), c.name)
		if c.field != "" {
			require.Equal(t, c.field, resp.Errors[0].Extensions["field"], c.name)
		}
	}
	n, err := s.DB.Client.ApiKey.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n, "nothing stored")

	later := testkit.Epoch.Add(time.Hour)
	k, _ := createKey(t, s, kimTok, "reader", []string{"people.read", "organization.manage"}, &later)
	require.Equal(t, later, k.ExpiresAt.UTC())
	require.Equal(t, []string{"people.read", "organization.manage"}, k.Permissions)
}

// What a key may do follows its creator's current role: demoted, the key
// shrinks; deactivated or erased, it stops.
func TestAPIKeyFollowsItsCreator(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	kim := s.AddPeople(t, a.org, testkit.Person{Email: "kim@acme.test", Role: "Owner", Status: user.StatusActive, Password: "kim-password-123"})[0]
	kimTok := s.Login(t, "acme", kim.Email, "kim-password-123")
	k, secret := createKey(t, s, kimTok, "sync", []string{"people.read", "people.invite", "organization.manage"}, nil)
	invite := func(email string) string {
		_, resp := a.invite(t, secret, []string{email}, "Member", false)
		return resp.Code()
	}
	setRole := func(role string) {
		s.Query(t, a.tok, `mutation($id: ID!, $role: ID!) { updateUser(id: $id, input: {roleId: $role}) { id } }`,
			map[string]any{"id": fmt.Sprint(kim.ID), "role": a.roleID(role)}).Decode(t, &struct{}{})
	}
	require.Empty(t, invite("a@example.com"))

	setRole("HR") // people.read and people.invite: no organization.manage
	require.Empty(t, invite("b@example.com"))
	require.Equal(t, "FORBIDDEN", s.Query(t, secret, `{ apiKeys { id } }`, nil).Code(), "the key shrank with its creator")
	setRole("Member")
	require.Equal(t, "FORBIDDEN", invite("c@example.com"))
	require.Equal(t, "FORBIDDEN", s.Query(t, secret, usersCount, nil).Code())
	setRole("Owner")
	require.Empty(t, invite("c@example.com"), "promoted again, the key has its permissions back")

	s.Query(t, a.tok, `mutation($id: ID!) { deactivateUser(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(kim.ID)}).Decode(t, &struct{}{})
	resp := s.Query(t, secret, usersCount, nil)
	require.Equal(t, http.StatusUnauthorized, resp.Status)
	require.Equal(t, "UNAUTHENTICATED", resp.Code())
	s.Query(t, a.tok, `mutation($id: ID!) { reactivateUser(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(kim.ID)}).Decode(t, &struct{}{})
	require.Empty(t, s.Query(t, secret, usersCount, nil).Errors, "reactivated, the creator's keys work again")

	var del struct{ DeleteUser bool }
	s.Query(t, a.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": fmt.Sprint(kim.ID)}).Decode(t, &del)
	require.True(t, del.DeleteUser)
	require.Equal(t, http.StatusUnauthorized, s.Query(t, secret, usersCount, nil).Status, "erased, the creator's keys stop")
	keys := listKeys(t, s, a.tok)
	require.Len(t, keys, 1, "the key outlives its creator")
	require.Equal(t, k.ID, keys[0].ID)
	require.Nil(t, keys[0].CreatedBy)
}

// Revoked and expired keys, malformed and unknown ones: 401 at once, on
// every replica, with one answer that does not tell them apart.
func TestAPIKeyRefusals(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	other := s.Replica(t, false)
	k, revoked := createKey(t, s, a.tok, "revoked", []string{"people.read"}, nil)
	soon := testkit.Epoch.Add(time.Hour)
	_, expiring := createKey(t, s, a.tok, "expiring", []string{"people.read"}, &soon)
	for _, srv := range []*testkit.Server{s, other} {
		require.Empty(t, srv.Query(t, revoked, usersCount, nil).Errors)
		require.Empty(t, srv.Query(t, expiring, usersCount, nil).Errors)
	}

	var out struct {
		RevokeApiKey struct {
			ID        string
			RevokedAt *time.Time
		}
	}
	s.Query(t, a.tok, revokeKeyMutation, map[string]any{"id": k.ID}).Decode(t, &out)
	require.Equal(t, k.ID, out.RevokeApiKey.ID)
	require.Equal(t, testkit.Epoch, out.RevokeApiKey.RevokedAt.UTC())
	s.Clock.Advance(time.Minute)
	s.Query(t, a.tok, revokeKeyMutation, map[string]any{"id": k.ID}).Decode(t, &out)
	require.Equal(t, testkit.Epoch, out.RevokeApiKey.RevokedAt.UTC(), "revoking again changes nothing")

	s.Clock.Advance(time.Hour - time.Minute) // the expiry, to the microsecond
	status, challenge, body := rawGraphQL(t, other, "Bearer "+revoked)
	require.Equal(t, http.StatusUnauthorized, status, "revoked, at once on the other replica")
	require.Contains(t, body, `"UNAUTHENTICATED"`)
	require.Equal(t, `Bearer error="invalid_token"`, challenge)
	unknown := "rk_" + strings.Repeat("A", 43)
	for name, tok := range map[string]string{
		"expired": expiring, "unknown": unknown, "malformed": "rk_not-a-key", "too long": revoked + "A",
		"a session token's length": "rk_" + strings.Repeat("A", 40), "empty after the prefix": "rk_",
	} {
		for _, srv := range []*testkit.Server{s, other} {
			st, ch, b := rawGraphQL(t, srv, "Bearer "+tok)
			require.Equal(t, [3]any{status, challenge, body}, [3]any{st, ch, b}, "%s: the same answer as a revoked key", name)
		}
	}

	// Another organisation's key is not found, and not shown.
	b := signIn(t, s, "globex")
	resp := s.Query(t, b.tok, revokeKeyMutation, map[string]any{"id": k.ID})
	require.Equal(t, "NOT_FOUND", resp.Code())
	var node struct{ Node *struct{ ID string } }
	s.Query(t, b.tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": k.ID}).Decode(t, &node)
	require.Nil(t, node.Node)
	require.Empty(t, listKeys(t, s, b.tok))
	_, globexKey := createKey(t, s, b.tok, "globex", []string{"people.read", "organization.manage"}, nil)
	require.Equal(t, "NOT_FOUND", s.Query(t, globexKey, revokeKeyMutation, map[string]any{"id": k.ID}).Code())
	var count struct{ Users struct{ TotalCount int } }
	s.Query(t, globexKey, usersCount, nil).Decode(t, &count)
	require.Equal(t, 1, count.Users.TotalCount, "globex's own people only")
}

// An open websocket of a key runs each operation with the key as it is now,
// and closes when the key is revoked (on another replica too, on
// PostgreSQL, whose event bus spans replicas) or expires.
func TestAPIKeyWebsockets(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			// One email a second: the send runs while the test watches it.
			s := testkit.NewServer(t, func(c *config.Config) { c.Mail.SendRate = 1 })
			a := signIn(t, s, "acme")
			var people []testkit.Person
			for i := range 30 {
				people = append(people, testkit.Person{Email: fmt.Sprintf("p%02d@example.com", i)})
			}
			s.AddPeople(t, a.org, people...)
			send := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations.BulkSend
			// A websocket sees the revocation through the event bus: on
			// SQLite each replica has its own, so there it watches the
			// replica that revokes.
			watched := s
			if testdb.Postgres() {
				watched = s.Replica(t, false)
			}
			k, secret := createKey(t, s, a.tok, "dashboard", []string{"people.read", "people.invite"}, nil)
			soon := testkit.Epoch.Add(time.Hour)
			_, expiring := createKey(t, s, a.tok, "expiring", []string{"people.read"}, &soon)

			w := wsOpen(t, watched, p, secret)
			r := w.operation("1", `{ organization { slug } viewer { id } }`, nil)
			require.Empty(t, r.Errors)
			require.JSONEq(t, `{"organization": {"slug": "acme"}, "viewer": null}`, string(r.Data), "a key is nobody")
			r = w.operation("2", `subscription { notificationAdded { id } }`, nil)
			require.Equal(t, "FORBIDDEN", errorCode(r), "a key has no notifications")
			require.Nil(t, w.requireProgress("3", send.ID).FinishedAt)

			e := wsOpen(t, watched, p, expiring)
			require.Nil(t, e.requireProgress("1", send.ID).FinishedAt)

			// Revoked: the key's socket closes (progress may come first),
			// the other key's stays.
			s.Query(t, a.tok, revokeKeyMutation, map[string]any{"id": k.ID}).Decode(t, &struct{}{})
			w.requireClosed("session ended")
			require.Equal(t, http.StatusUnauthorized, watched.Query(t, secret, usersCount, nil).Status)
			require.Empty(t, e.operation("2", usersCount, nil).Errors)

			// Expired: the clock passing the expiry closes the socket.
			s.Clock.Advance(time.Hour)
			e.requireClosed("session ended")
			require.Equal(t, http.StatusUnauthorized, watched.Query(t, expiring, usersCount, nil).Status)
			s.Query(t, a.tok, `mutation($id: ID!) { cancelBulkSend(id: $id) { id } }`, map[string]any{"id": send.ID}).Decode(t, &struct{}{})
		})
	}
}

// A revocation whose event was lost (here: written straight to the
// database) still ends the key's websockets at the next check, and its next
// operation at once.
func TestAPIKeyWebsocketCheck(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Auth.SessionCheck = 50 * time.Millisecond })
	a := signIn(t, s, "acme")
	k, secret := createKey(t, s, a.tok, "dashboard", []string{"people.read"}, nil)
	p := wsProtocols[0]
	w := wsOpen(t, s, p, secret)
	require.Empty(t, w.operation("1", usersCount, nil).Errors)
	var id int
	_, err := fmt.Sscan(k.ID, &id)
	require.NoError(t, err)
	require.NoError(t, s.DB.Client.ApiKey.UpdateOneID(id).SetRevokedAt(s.Clock.Now()).Exec(testkit.System()))
	w.requireEnded()
}

// lastUsedAt moves with use, but is written at most once a minute.
func TestAPIKeyLastUsed(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	other := s.Replica(t, false)
	k, secret := createKey(t, s, a.tok, "sync", []string{"people.read"}, nil)
	lastUsed := func() *time.Time {
		row, err := s.DB.Client.ApiKey.Query().Where(entkey.Prefix(k.Prefix)).Only(testkit.System())
		require.NoError(t, err)
		return row.LastUsedAt
	}
	use := func(srv *testkit.Server) {
		require.Empty(t, srv.Query(t, secret, usersCount, nil).Errors)
	}
	require.Nil(t, lastUsed())
	use(s)
	require.Equal(t, testkit.Epoch, lastUsed().UTC())
	for i := range 5 {
		s.Clock.Advance(10 * time.Second)
		use([]*testkit.Server{s, other}[i%2])
		require.Equal(t, testkit.Epoch, lastUsed().UTC(), "not written again within the minute (%ds later)", 10*(i+1))
	}
	s.Clock.Advance(10 * time.Second) // a minute after the first use
	use(other)
	require.Equal(t, testkit.Epoch.Add(time.Minute), lastUsed().UTC(), "written once the minute has passed, by any replica")
	use(s)
	use(other)
	require.Equal(t, testkit.Epoch.Add(time.Minute), lastUsed().UTC())
	require.Equal(t, testkit.Epoch.Add(time.Minute), listKeys(t, s, a.tok)[0].LastUsedAt.UTC())
}

// The audit log names the key that acted, and its actor is the ApiKey.
func TestAPIKeyInAuditLog(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	k, secret := createKey(t, s, a.tok, "HR sync", []string{"people.read", "people.invite"}, nil)
	_, resp := a.invite(t, secret, []string{"ada@example.com"}, "Member", false)
	require.Empty(t, resp.Errors)
	s.Query(t, a.tok, revokeKeyMutation, map[string]any{"id": k.ID}).Decode(t, &struct{}{})

	type node struct {
		Typename string `json:"__typename"`
		ID       string
		Name     string
	}
	var log struct {
		AuditEvents struct {
			Edges []struct {
				Node struct {
					Action, ActorLabel, TargetLabel string
					ActorID                         *string
					Actor, Target                   *node
				}
			}
		}
	}
	s.Query(t, a.tok, `{ auditEvents(first: 50) { edges { node { action actorLabel actorID targetLabel
		actor { __typename id ... on ApiKey { name } } target { __typename id ... on ApiKey { name } } } } } }`, nil).Decode(t, &log)
	label := fmt.Sprintf("API key \"HR sync\" (%s…)", k.Prefix)
	seen := map[string]bool{}
	for _, e := range log.AuditEvents.Edges {
		n := e.Node
		seen[n.Action] = true
		switch n.Action {
		case "user.created":
			require.Equal(t, label, n.ActorLabel)
			require.Equal(t, k.ID, *n.ActorID)
			require.Equal(t, &node{"ApiKey", k.ID, "HR sync"}, n.Actor)
		case "api_key.created", "api_key.revoked":
			require.Equal(t, "owner@acme.test", n.ActorLabel)
			require.Equal(t, "User", n.Actor.Typename)
			require.Equal(t, label, n.TargetLabel)
			require.Equal(t, &node{"ApiKey", k.ID, "HR sync"}, n.Target)
		}
	}
	require.True(t, seen["user.created"] && seen["api_key.created"] && seen["api_key.revoked"], "%v", seen)
	var filtered struct{ AuditEvents struct{ TotalCount int } }
	s.Query(t, a.tok, `query($id: ID!) { auditEvents(where: {actorID: $id}) { totalCount } }`, map[string]any{"id": k.ID}).Decode(t, &filtered)
	require.Equal(t, 1, filtered.AuditEvents.TotalCount)
}

// A send a key starts is the key's: no person created it, the key may
// cancel it, its idempotency keys are its own, and its emails name the
// organisation as the inviter.
func TestAPIKeySends(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"})
	_, secret := createKey(t, s, a.tok, "sync", []string{"people.read", "people.invite"}, nil)
	_, another := createKey(t, s, a.tok, "other", []string{"people.read", "people.invite"}, nil)
	const sendQuery = `mutation($in: SendInvitationsInput!) { sendInvitations(input: $in) { bulkSend { id createdBy { email } } } }`
	send := func(tok, key string) (string, *testkit.Response) {
		resp := s.Query(t, tok, sendQuery, map[string]any{"in": map[string]any{
			"where": map[string]any{"emailContainsFold": "ada"}, "idempotencyKey": key}})
		var out struct {
			SendInvitations struct {
				BulkSend struct {
					ID        string
					CreatedBy *struct{ Email string }
				}
			}
		}
		if len(resp.Errors) > 0 {
			return "", resp
		}
		resp.Decode(t, &out)
		require.Nil(t, out.SendInvitations.BulkSend.CreatedBy, "a key's send has no person as its creator")
		return out.SendInvitations.BulkSend.ID, resp
	}
	id, _ := send(secret, "nightly-1")
	again, _ := send(secret, "nightly-1")
	require.Equal(t, id, again, "the same idempotency key returns the same send")
	_, resp := send(another, "nightly-1")
	require.Empty(t, resp.Errors, "another key's idempotency keys are its own")
	var ownerSend sendPayload
	s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{
		"where": map[string]any{"emailContainsFold": "bob"}, "idempotencyKey": "nightly-1"}}).Decode(t, &ownerSend)
	require.NotEqual(t, id, ownerSend.SendInvitations.BulkSend.ID, "and a person's are theirs")
	require.Equal(t, "owner@acme.test", ownerSend.SendInvitations.BulkSend.CreatedBy.Email)

	cancel := `mutation($id: ID!) { cancelBulkSend(id: $id) { id status } }`
	require.Equal(t, "FORBIDDEN", s.Query(t, another, cancel, map[string]any{"id": id}).Code(), "people.invite cancels its own sends only")
	require.Equal(t, "FORBIDDEN", s.Query(t, secret, cancel, map[string]any{"id": ownerSend.SendInvitations.BulkSend.ID}).Code())
	var cancelled struct{ CancelBulkSend struct{ ID, Status string } }
	s.Query(t, secret, cancel, map[string]any{"id": id}).Decode(t, &cancelled)
	require.Equal(t, id, cancelled.CancelBulkSend.ID)

	// The email names the organisation as the inviter (a send and one
	// person's resend alike).
	ada := s.LastEmailTo(t, "ada@example.com")
	require.Contains(t, ada.Text, "acme invited you")
	var users struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	s.Query(t, secret, `{ users(where: {email: "bob@example.com"}) { edges { node { id } } } }`, nil).Decode(t, &users)
	var resent struct{ ResendInvitation struct{ ID string } }
	s.Query(t, secret, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`,
		map[string]any{"id": users.Users.Edges[0].Node.ID}).Decode(t, &resent)
	require.Contains(t, s.LastEmailTo(t, "bob@example.com").Text, "acme invited you")

	// A preview as the key names the organisation too.
	var preview struct{ PreviewEmail struct{ Text string } }
	s.Query(t, secret, `{ previewEmail(kind: INVITATION) { text } }`, nil).Decode(t, &preview)
	require.Contains(t, preview.PreviewEmail.Text, "acme invited you")
}
