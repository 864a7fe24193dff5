package app_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// roster seeds a varied organisation: every status, several roles, NULL and
// tied dates, bounced addresses, and invitations past and before expiry.
type roster struct {
	s      *testkit.Server
	org    *testkit.Org
	admin  string      // token of an Admin
	people []*ent.User // seeded people, without the Owner
}

func newRoster(t *testing.T) *roster {
	t.Helper()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	at := func(h int) *time.Time { v := testkit.Epoch.Add(time.Duration(h) * time.Hour); return &v }
	statuses := []user.Status{user.StatusNotInvited, user.StatusInvited, user.StatusActive, user.StatusDeactivated}
	roles := []string{"Member", "HR", "Member", "Security Administrator"}
	var seed []testkit.Person
	for i := range 24 {
		p := testkit.Person{
			Email:     fmt.Sprintf("p%02d@acme.test", i),
			Status:    statuses[i%4],
			Role:      roles[i%4],
			CreatedAt: testkit.Epoch.Add(-time.Duration(i%6) * 24 * time.Hour), // ties
		}
		if i%3 == 0 {
			p.FirstName, p.LastName = "Grace", fmt.Sprintf("Hopper%d", i)
		}
		if i == 1 {
			p.FirstName, p.LastName = "Zoë", `O\Neil`
		}
		if i%5 == 0 {
			p.Username = fmt.Sprintf("User%02d", i)
		}
		if p.Status != user.StatusNotInvited {
			p.InvitedAt = at(-(i % 4) * 24) // ties, and NULL for NOT_INVITED
			expiry := -48 + i*8             // some expired, some not
			p.InviteExpiresAt = at(expiry)
		}
		if p.Status == user.StatusActive && i%8 != 2 {
			p.LastLoginAt = at(-i) // NULL for some active people too
		}
		if i%7 == 0 {
			p.LastEmailStatus = enum.DeliveryBounced
		}
		seed = append(seed, p)
	}
	seed = append(seed, testkit.Person{Email: "admin@acme.test", Role: "Admin", Status: user.StatusActive, Password: "admin-password-1"})
	people := s.AddPeople(t, o, seed...)
	return &roster{s: s, org: o, admin: s.Login(t, "acme", "admin@acme.test", "admin-password-1"), people: people}
}

type userPage struct {
	Users struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct {
				ID     string
				Email  string
				Status string
				Role   struct{ Name string }
			}
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
	}
}

func (p userPage) emails() []string {
	var out []string
	for _, e := range p.Users.Edges {
		out = append(out, e.Node.Email)
	}
	return out
}

const usersQuery = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $orderBy: UserOrder, $where: UserWhereInput, $search: String) {
  users(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy, where: $where, search: $search) {
    totalCount
    edges { cursor node { id email status role { name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

func (r *roster) list(t *testing.T, vars map[string]any) userPage {
	t.Helper()
	var page userPage
	r.s.Query(t, r.admin, usersQuery, vars).Decode(t, &page)
	return page
}

// everyone is every person of the org as the database holds them.
func (r *roster) everyone(t *testing.T) []*ent.User {
	all, err := r.s.DB.Client.User.Query().Where(user.OrganizationID(r.org.ID)).All(testkit.System())
	require.NoError(t, err)
	return all
}

func emailsOf(us []*ent.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestUsersFilters(t *testing.T) {
	t.Parallel()
	r := newRoster(t)
	now := r.s.Clock.Now()
	all := r.everyone(t)
	pick := func(keep func(*ent.User) bool) []string {
		var out []*ent.User
		for _, u := range all {
			if keep(u) {
				out = append(out, u)
			}
		}
		return emailsOf(out)
	}
	roleName := map[int]string{}
	for name, role := range r.org.Roles {
		roleName[role.ID] = name
	}
	expired := func(u *ent.User) bool {
		return u.Status == user.StatusInvited && u.InviteExpiresAt != nil && !u.InviteExpiresAt.After(now)
	}
	contains := func(p *string, sub string) bool { return p != nil && containsFold(*p, sub) }

	cases := []struct {
		name   string
		where  map[string]any
		search string
		want   []string
	}{
		{"status", map[string]any{"status": "INVITED"}, "", pick(func(u *ent.User) bool { return u.Status == user.StatusInvited })},
		{"statusIn", map[string]any{"statusIn": []string{"ACTIVE", "DEACTIVATED"}}, "", pick(func(u *ent.User) bool {
			return u.Status == user.StatusActive || u.Status == user.StatusDeactivated
		})},
		{"role by name", map[string]any{"hasRoleWith": []map[string]any{{"name": "HR"}}}, "", pick(func(u *ent.User) bool { return roleName[u.RoleID] == "HR" })},
		{"emailContainsFold", map[string]any{"emailContainsFold": "P1"}, "", pick(func(u *ent.User) bool { return containsFold(u.Email, "p1") })},
		{"createdAt range", map[string]any{"createdAtGTE": testkit.Epoch.Add(-48 * time.Hour), "createdAtLT": testkit.Epoch}, "", pick(func(u *ent.User) bool {
			return !u.CreatedAt.Before(testkit.Epoch.Add(-48*time.Hour)) && u.CreatedAt.Before(testkit.Epoch)
		})},
		{"lastEmailStatus", map[string]any{"lastEmailStatus": "BOUNCED"}, "", pick(func(u *ent.User) bool {
			return u.LastEmailStatus != nil && *u.LastEmailStatus == enum.DeliveryBounced
		})},
		{"lastLoginAt is nil", map[string]any{"lastLoginAtIsNil": true, "status": "ACTIVE"}, "", pick(func(u *ent.User) bool {
			return u.LastLoginAt == nil && u.Status == user.StatusActive
		})},
		{"inviteExpired", map[string]any{"inviteExpired": true}, "", pick(expired)},
		{"not inviteExpired", map[string]any{"inviteExpired": false}, "", pick(func(u *ent.User) bool { return !expired(u) })},
		{"or with inviteExpired", map[string]any{"or": []map[string]any{{"inviteExpired": true}, {"status": "NOT_INVITED"}}}, "", pick(func(u *ent.User) bool {
			return expired(u) || u.Status == user.StatusNotInvited
		})},
		{"search first name, any case", nil, "gRaCe", pick(func(u *ent.User) bool { return contains(u.FirstName, "grace") })},
		{"search last name", nil, "hopper1", pick(func(u *ent.User) bool { return contains(u.LastName, "hopper1") })},
		{"search username", nil, "USER1", pick(func(u *ent.User) bool { return contains(u.Username, "user1") })},
		{"search email", nil, "P2", pick(func(u *ent.User) bool { return containsFold(u.Email, "p2") })},
		{"search with filter", map[string]any{"status": "ACTIVE"}, "grace", pick(func(u *ent.User) bool {
			return contains(u.FirstName, "grace") && u.Status == user.StatusActive
		})},
		{"search across first and last name", nil, "grace HOPPER1", pick(func(u *ent.User) bool {
			return contains(u.FirstName, "grace") && contains(u.LastName, "hopper1")
		})},
		{"search matching nothing, wildcards literal", nil, "%_", nil},
		{"search with a backslash, literal", nil, `o\n`, pick(func(u *ent.User) bool { return contains(u.LastName, `o\n`) })},
		{"search non-ASCII, any case", nil, "ZOË", pick(func(u *ent.User) bool { return contains(u.FirstName, "zoë") })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]any{"first": 100, "where": c.where}
			if c.search != "" {
				vars["search"] = c.search
			}
			page := r.list(t, vars)
			require.Equal(t, c.want, sorted(page.emails()))
			require.Equal(t, len(c.want), page.Users.TotalCount)
		})
	}
	require.NotEmpty(t, pick(expired), "the roster has expired invitations")
	require.NotEmpty(t, pick(func(u *ent.User) bool { return u.Status == user.StatusInvited && !expired(u) }), "and pending ones")
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// expectedOrder sorts people as the API promises: by the key, NULLs after
// every value ascending (before them descending), ties by id the same way.
func expectedOrder(us []*ent.User, field, direction string) []string {
	type key struct {
		null bool
		v    string
	}
	keyOf := func(u *ent.User) key {
		ts := func(p *time.Time) key {
			if p == nil {
				return key{null: true}
			}
			return key{v: p.UTC().Format(time.RFC3339Nano)}
		}
		switch field {
		case "EMAIL":
			return key{v: strings.ToLower(u.Email)}
		case "STATUS":
			return key{v: string(u.Status)}
		case "CREATED_AT":
			return key{v: u.CreatedAt.UTC().Format(time.RFC3339Nano)}
		case "INVITED_AT":
			return ts(u.InvitedAt)
		case "LAST_LOGIN_AT":
			return ts(u.LastLoginAt)
		}
		return key{}
	}
	out := slices.Clone(us)
	slices.SortFunc(out, func(a, b *ent.User) int {
		ka, kb := keyOf(a), keyOf(b)
		c := 0
		switch {
		case ka.null && !kb.null:
			c = 1
		case !ka.null && kb.null:
			c = -1
		default:
			c = cmp.Compare(ka.v, kb.v)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if direction == "DESC" {
			c = -c
		}
		return c
	})
	emails := make([]string, len(out))
	for i, u := range out {
		emails[i] = u.Email
	}
	return emails
}

func TestUsersOrderAndCursorPagination(t *testing.T) {
	t.Parallel()
	r := newRoster(t)
	all := r.everyone(t)
	for _, field := range []string{"", "EMAIL", "CREATED_AT", "INVITED_AT", "LAST_LOGIN_AT", "STATUS"} {
		for _, dir := range []string{"ASC", "DESC"} {
			t.Run(field+" "+dir, func(t *testing.T) {
				var orderBy map[string]any
				want := expectedOrder(all, "", "ASC")
				if field != "" {
					orderBy = map[string]any{"field": field, "direction": dir}
					want = expectedOrder(all, field, dir)
				} else if dir == "DESC" {
					t.Skip("without a field the order is by id ascending")
				}

				// Forward, four at a time.
				var forward []string
				var after any
				for pages := 0; ; pages++ {
					require.Less(t, pages, 20)
					page := r.list(t, map[string]any{"first": 4, "after": after, "orderBy": orderBy})
					forward = append(forward, page.emails()...)
					require.Equal(t, len(all), page.Users.TotalCount)
					require.Equal(t, after != nil, page.Users.PageInfo.HasPreviousPage)
					if !page.Users.PageInfo.HasNextPage {
						break
					}
					after = *page.Users.PageInfo.EndCursor
				}
				require.Equal(t, want, forward)

				// Backward from the end, five at a time.
				var backward []string
				var before any
				for pages := 0; ; pages++ {
					require.Less(t, pages, 20)
					page := r.list(t, map[string]any{"last": 5, "before": before, "orderBy": orderBy})
					backward = append(page.emails(), backward...)
					require.Equal(t, before != nil, page.Users.PageInfo.HasNextPage)
					if !page.Users.PageInfo.HasPreviousPage {
						break
					}
					before = *page.Users.PageInfo.StartCursor
				}
				require.Equal(t, want, backward)
			})
		}
	}
}

func TestUsersPageSize(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "big")
	var seed []testkit.Person
	for i := range 520 {
		seed = append(seed, testkit.Person{Email: fmt.Sprintf("u%04d@big.test", i)})
	}
	s.AddPeople(t, o, seed...)
	tok := s.Login(t, "big", "owner@big.test", testkit.OwnerPassword)
	count := func(vars map[string]any) (int, int) {
		var page userPage
		s.Query(t, tok, usersQuery, vars).Decode(t, &page)
		return len(page.Users.Edges), page.Users.TotalCount
	}
	n, total := count(nil)
	require.Equal(t, 50, n, "default page")
	require.Equal(t, 521, total)
	n, _ = count(map[string]any{"first": 10000})
	require.Equal(t, 500, n, "capped")
	n, _ = count(map[string]any{"last": 501})
	require.Equal(t, 500, n, "capped backwards too")
	n, total = count(map[string]any{"first": 0})
	require.Equal(t, 0, n)
	require.Equal(t, 521, total)
}

func TestUsersBadArguments(t *testing.T) {
	t.Parallel()
	r := newRoster(t)
	emailPage := r.list(t, map[string]any{"first": 2, "orderBy": map[string]any{"field": "EMAIL"}})
	datePage := r.list(t, map[string]any{"first": 2, "orderBy": map[string]any{"field": "INVITED_AT"}})
	cases := map[string]struct {
		vars  map[string]any
		field string
	}{
		"first and last":           {map[string]any{"first": 1, "last": 1}, "first"},
		"negative first":           {map[string]any{"first": -1}, "first"},
		"negative last":            {map[string]any{"last": -3}, "last"},
		"cursor of another order":  {map[string]any{"first": 2, "after": *emailPage.Users.PageInfo.EndCursor}, "after"},
		"date cursor, email order": {map[string]any{"first": 2, "after": *datePage.Users.PageInfo.EndCursor, "orderBy": map[string]any{"field": "EMAIL"}}, "after"},
		"garbage cursor":           {map[string]any{"first": 2, "after": "not a cursor"}, ""},
		"search too long":          {map[string]any{"search": string(make([]byte, 201))}, "search"},
		"unknown status":           {map[string]any{"where": map[string]any{"status": "SLEEPING"}}, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp := r.s.Query(t, r.admin, usersQuery, c.vars)
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
			if c.field != "" {
				require.Equal(t, c.field, resp.Errors[0].Extensions["field"])
			}
		})
	}
}
