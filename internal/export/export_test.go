package export_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

var wantHeader = []string{
	"id", "email", "first_name", "last_name", "username", "role", "status", "products",
	"invited_at", "invitation_count", "accepted_at", "last_login_at", "last_email_status", "created_at",
	"locale",
}

// get requests the export as the holder of token ("" for anonymous).
func get(t testing.TB, s *testkit.Server, token string, params url.Values) *http.Response {
	t.Helper()
	u := s.URL + "/export/users.csv"
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// export reads the whole CSV, checks the header and returns the rows.
func export(t testing.TB, s *testkit.Server, token string, params url.Values) [][]string {
	t.Helper()
	resp := get(t, s, token, params)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("export %v: %d %s", params, resp.StatusCode, body)
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records)
	require.Equal(t, wantHeader, records[0])
	return records[1:]
}

// emails returns the sorted email column.
func emails(rows [][]string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[1])
	}
	slices.Sort(out)
	return out
}

// errorBody decodes a JSON error response.
func errorBody(t testing.TB, resp *http.Response) (code, message, field string) {
	t.Helper()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body struct {
		Errors []struct {
			Message    string
			Extensions struct{ Code, Field string }
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Len(t, body.Errors, 1)
	e := body.Errors[0]
	return e.Extensions.Code, e.Message, e.Extensions.Field
}

func ptr[T any](v T) *T { return &v }

// fixture is organisation acme with people of every status, and
// organisation globex next to it.
type fixture struct {
	s           *testkit.Server
	acme        *testkit.Org
	owner       string // acme Owner's token
	member      string // acme Member's token
	globexOwner string
	globex      []string // globex emails
}

// formulaNames are first names a spreadsheet would run, with what the export
// must write instead.
var formulaNames = map[string]string{
	"=1+2":     "'=1+2",
	"@SUM(A1)": "'@SUM(A1)",
	"-3":       "'-3",
	"+x":       "'+x",
	"\tx":      "'\tx",
	"\rx":      "'\rx",
}

// awkwardLastName needs quoting: a comma, quotes and a newline.
const awkwardLastName = "Doe, \"the\" Younger\nsecond line"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := testkit.NewServer(t)
	now := s.Clock.Now()
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme,
		testkit.Person{Email: "ada@acme.test", Username: "ada", FirstName: "Ada", LastName: "Lovelace", Role: "HR",
			Status: user.StatusActive, LastLoginAt: ptr(now.Add(-time.Hour)), LastEmailStatus: enum.DeliveryDelivered,
			CreatedAt: now.Add(-30 * 24 * time.Hour), Locale: "de-CH"},
		testkit.Person{Email: "bob@acme.test", FirstName: "Bob", Status: user.StatusInvited,
			InvitedAt: ptr(now.Add(-time.Hour)), InviteExpiresAt: ptr(now.Add(7 * 24 * time.Hour)), LastEmailStatus: enum.DeliverySent},
		testkit.Person{Email: "carol@acme.test", FirstName: "Carol", Role: "HR", Status: user.StatusInvited,
			InvitedAt: ptr(now.Add(-10 * 24 * time.Hour)), InviteExpiresAt: ptr(now.Add(-3 * 24 * time.Hour))},
		testkit.Person{Email: "dan@acme.test", Role: "Admin"},
		testkit.Person{Email: "erin@acme.test", Status: user.StatusDeactivated},
		testkit.Person{Email: "member@acme.test", Status: user.StatusActive, Password: "member-password-1"},
	)
	i := 0
	for name := range formulaNames {
		i++
		s.AddPeople(t, acme, testkit.Person{Email: fmt.Sprintf("formula%d@acme.test", i), FirstName: name, LastName: awkwardLastName})
	}
	globex := s.CreateOrg(t, "globex")
	s.AddPeople(t, globex,
		testkit.Person{Email: "ada@globex.test", FirstName: "Ada", Role: "HR", Status: user.StatusInvited,
			InvitedAt: ptr(now.Add(-10 * 24 * time.Hour)), InviteExpiresAt: ptr(now.Add(-3 * 24 * time.Hour))},
		testkit.Person{Email: "zed@globex.test", Status: user.StatusActive},
	)
	return &fixture{
		s: s, acme: acme,
		owner:       s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword),
		member:      s.Login(t, "acme", "member@acme.test", "member-password-1"),
		globexOwner: s.Login(t, "globex", "owner@globex.test", testkit.OwnerPassword),
		globex:      []string{"ada@globex.test", "owner@globex.test", "zed@globex.test"},
	}
}

func formulaEmails() []string {
	out := make([]string, 0, len(formulaNames))
	for i := range len(formulaNames) {
		out = append(out, fmt.Sprintf("formula%d@acme.test", i+1))
	}
	return out
}

func sorted(ss ...[]string) []string {
	out := slices.Concat(ss...)
	slices.Sort(out)
	return out
}

func TestExportColumnsAndHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.s
	now := s.Clock.Now()
	ada, err := s.DB.Client.User.Query().Where(user.EmailNormalized("ada@acme.test")).Only(testkit.System())
	require.NoError(t, err)
	ada, err = ada.Update().SetProducts([]string{"crm", "payroll"}).SetInvitationCount(2).
		SetAcceptedAt(now.Add(-48 * time.Hour).Add(123456 * time.Microsecond)).Save(testkit.System())
	require.NoError(t, err)

	resp := get(t, s, f.owner, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="users-acme-2026-03-02.csv"`, resp.Header.Get("Content-Disposition"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	records, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, wantHeader, records[0])

	byEmail := map[string][]string{}
	for _, r := range records[1:] {
		require.Len(t, r, len(wantHeader))
		byEmail[r[1]] = r
	}
	require.Equal(t, []string{
		strconv.Itoa(ada.ID), "ada@acme.test", "Ada", "Lovelace", "ada", "HR", "ACTIVE", "crm|payroll",
		"", "2", "2026-02-28T09:00:00Z", "2026-03-02T08:00:00Z", "DELIVERED", "2026-01-31T09:00:00Z", "de-CH",
	}, byEmail["ada@acme.test"])
	require.Equal(t, []string{"bob@acme.test", "Bob", "", "", "Member", "INVITED", "",
		"2026-03-02T08:00:00Z", "0", "", "", "SENT", "2026-03-02T09:00:00Z", ""}, byEmail["bob@acme.test"][1:])

	head, err := http.NewRequest(http.MethodHead, s.URL+"/export/users.csv", nil)
	require.NoError(t, err)
	head.Header.Set("Authorization", "Bearer "+f.owner)
	headResp, err := http.DefaultClient.Do(head)
	require.NoError(t, err)
	headResp.Body.Close()
	require.Equal(t, http.StatusOK, headResp.StatusCode)
	require.Equal(t, resp.Header.Get("Content-Disposition"), headResp.Header.Get("Content-Disposition"))

	// The id is the one the GraphQL API shows.
	var data struct {
		Users struct {
			Edges []struct{ Node struct{ ID, Email string } }
		}
	}
	s.Query(t, f.owner, `{ users(first: 500) { edges { node { id email } } } }`, nil).Decode(t, &data)
	require.Len(t, data.Users.Edges, len(records)-1)
	for _, e := range data.Users.Edges {
		require.Equal(t, e.Node.ID, byEmail[e.Node.Email][0], e.Node.Email)
	}
}

func TestExportFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := sorted([]string{"owner@acme.test", "ada@acme.test", "bob@acme.test", "carol@acme.test",
		"dan@acme.test", "erin@acme.test", "member@acme.test"}, formulaEmails())
	for _, c := range []struct {
		name   string
		params url.Values
		want   []string
	}{
		{"none", nil, all},
		{"active", url.Values{"status": {"ACTIVE"}}, sorted([]string{"owner@acme.test", "ada@acme.test", "member@acme.test"})},
		{"invited includes expired", url.Values{"status": {"INVITED"}}, sorted([]string{"bob@acme.test", "carol@acme.test"})},
		{"expired", url.Values{"status": {"EXPIRED"}}, []string{"carol@acme.test"}},
		{"not invited", url.Values{"status": {"NOT_INVITED"}}, sorted([]string{"dan@acme.test"}, formulaEmails())},
		{"deactivated", url.Values{"status": {"DEACTIVATED"}}, []string{"erin@acme.test"}},
		{"repeated", url.Values{"status": {"ACTIVE", "DEACTIVATED"}}, sorted([]string{"owner@acme.test", "ada@acme.test", "member@acme.test", "erin@acme.test"})},
		{"expired or deactivated", url.Values{"status": {"EXPIRED", "DEACTIVATED"}}, sorted([]string{"carol@acme.test", "erin@acme.test"})},
		{"invited and expired", url.Values{"status": {"INVITED", "EXPIRED"}}, sorted([]string{"bob@acme.test", "carol@acme.test"})},
		{"status any case", url.Values{"status": {"expired"}}, []string{"carol@acme.test"}},
		{"role", url.Values{"role": {"HR"}}, sorted([]string{"ada@acme.test", "carol@acme.test"})},
		{"role any case", url.Values{"role": {"hr"}}, sorted([]string{"ada@acme.test", "carol@acme.test"})},
		{"roles repeated", url.Values{"role": {"hr", "ADMIN"}}, sorted([]string{"ada@acme.test", "carol@acme.test", "dan@acme.test"})},
		{"search email", url.Values{"search": {"ADA@"}}, []string{"ada@acme.test"}},
		{"search last name", url.Values{"search": {"lovelace"}}, []string{"ada@acme.test"}},
		{"search first name", url.Values{"search": {"caro"}}, []string{"carol@acme.test"}},
		{"search nothing", url.Values{"search": {"nobody-at-all"}}, []string{}},
		{"status and role", url.Values{"status": {"INVITED"}, "role": {"HR"}}, []string{"carol@acme.test"}},
		{"expired and role", url.Values{"status": {"EXPIRED"}, "role": {"Member"}}, []string{}},
		{"role and search", url.Values{"role": {"hr"}, "search": {"ada"}}, []string{"ada@acme.test"}},
		{"all three", url.Values{"status": {"ACTIVE", "INVITED"}, "role": {"Member", "HR"}, "search": {"b"}}, []string{"bob@acme.test", "member@acme.test"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, emails(export(t, f.s, f.owner, c.params)))
		})
	}

	t.Run("expiry follows the clock", func(t *testing.T) {
		f.s.Clock.Advance(8 * 24 * time.Hour) // bob's invitation lapses too
		tok := f.s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)
		require.Equal(t, sorted([]string{"bob@acme.test", "carol@acme.test"}), emails(export(t, f.s, tok, url.Values{"status": {"EXPIRED"}})))
	})
}

func TestExportStaysInTheOrganisation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, params := range []url.Values{nil, {"search": {"ada"}}, {"status": {"EXPIRED"}}, {"role": {"HR"}}, {"search": {"globex"}}} {
		for _, r := range export(t, f.s, f.owner, params) {
			require.True(t, strings.HasSuffix(r[1], "@acme.test"), "acme's export shows %s", r[1])
		}
	}
	require.Equal(t, f.globex, emails(export(t, f.s, f.globexOwner, nil)))
	resp := get(t, f.s, f.globexOwner, nil)
	require.Equal(t, `attachment; filename="users-globex-2026-03-02.csv"`, resp.Header.Get("Content-Disposition"))
}

func TestExportRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("anonymous", func(t *testing.T) {
		resp := get(t, f.s, "", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.JSONEq(t, `{"errors":[{"message":"sign in required","extensions":{"code":"UNAUTHENTICATED"}}]}`, string(body))
	})
	t.Run("bad token", func(t *testing.T) {
		resp := get(t, f.s, "not-a-session", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		code, _, _ := errorBody(t, resp)
		require.Equal(t, "UNAUTHENTICATED", code)
	})
	t.Run("member lacks people.read", func(t *testing.T) {
		resp := get(t, f.s, f.member, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		code, _, _ := errorBody(t, resp)
		require.Equal(t, "FORBIDDEN", code)
	})
	t.Run("unknown status", func(t *testing.T) {
		resp := get(t, f.s, f.owner, url.Values{"status": {"ACTIVE", "PENDING"}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		code, msg, field := errorBody(t, resp)
		require.Equal(t, "BAD_USER_INPUT", code)
		require.Equal(t, "status", field)
		require.Contains(t, msg, `"PENDING"`)
	})
	t.Run("unknown role", func(t *testing.T) {
		resp := get(t, f.s, f.owner, url.Values{"role": {"Wizard"}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		code, msg, field := errorBody(t, resp)
		require.Equal(t, "BAD_USER_INPUT", code)
		require.Equal(t, "role", field)
		require.Contains(t, msg, `"Wizard"`)
	})
	t.Run("search too long", func(t *testing.T) {
		resp := get(t, f.s, f.owner, url.Values{"search": {strings.Repeat("a", 201)}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		code, _, field := errorBody(t, resp)
		require.Equal(t, "BAD_USER_INPUT", code)
		require.Equal(t, "search", field)
	})
	t.Run("post", func(t *testing.T) {
		resp, err := http.Post(f.s.URL+"/export/users.csv", "text/plain", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
}

func TestExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A username and a product may carry formulas too.
	_, err := f.s.DB.Client.User.Update().Where(user.EmailNormalized("dan@acme.test")).
		SetUsername("-dan").SetUsernameNormalized("-dan").SetProducts([]string{"=HYPERLINK(\"x\")", "crm"}).Save(testkit.System())
	require.NoError(t, err)

	rows := export(t, f.s, f.owner, url.Values{"status": {"NOT_INVITED"}})
	seen := map[string]bool{}
	for _, r := range rows {
		if r[1] == "dan@acme.test" {
			require.Equal(t, "'-dan", r[4])
			require.Equal(t, "'=HYPERLINK(\"x\")|crm", r[7])
			continue
		}
		seen[r[2]] = true
		require.Equal(t, awkwardLastName, r[3], "a quoted cell survives whole")
	}
	want := map[string]bool{}
	for _, safe := range formulaNames {
		want[safe] = true
	}
	require.Equal(t, want, seen)
}

func TestExportPagesThroughEveryone(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme := s.CreateOrg(t, "acme")
	other := s.CreateOrg(t, "other")
	const n = 3_100
	want := map[int]bool{acme.Owner.ID: true}
	invited := map[int]bool{}
	for start := 0; start < n; start += 1000 {
		var batch, foreign []testkit.Person
		for i := start; i < min(start+1000, n); i++ {
			p := testkit.Person{Email: fmt.Sprintf("p%05d@acme.test", i), FirstName: fmt.Sprintf("Person %d", i)}
			if i%3 != 0 { // 2,067 invited: more than one batch
				p.Status = user.StatusInvited
			}
			batch = append(batch, p)
			if i%10 == 0 { // interleave another tenant's ids
				foreign = append(foreign, testkit.Person{Email: fmt.Sprintf("p%05d@other.test", i)})
			}
		}
		for _, u := range s.AddPeople(t, acme, batch...) {
			want[u.ID] = true
			if u.Status == user.StatusInvited {
				invited[u.ID] = true
			}
		}
		s.AddPeople(t, other, foreign...)
	}
	tok := s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)

	check := func(t *testing.T, rows [][]string, want map[int]bool) {
		t.Helper()
		require.Len(t, rows, len(want))
		last := 0
		for _, r := range rows {
			id, err := strconv.Atoi(r[0])
			require.NoError(t, err)
			require.Greater(t, id, last, "rows in id order")
			require.True(t, want[id], "unexpected row %v", r)
			last = id
		}
	}
	t.Run("all", func(t *testing.T) { check(t, export(t, s, tok, nil), want) })
	t.Run("filtered", func(t *testing.T) {
		check(t, export(t, s, tok, url.Values{"status": {"INVITED"}}), invited)
	})
}

// TestExportFailure breaks one row so reading it fails: before the first
// byte the answer is a JSON INTERNAL error; after it, the connection is
// dropped so the client cannot mistake the truncated file for a whole one.
func TestExportFailure(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme := s.CreateOrg(t, "acme")
	var ids []int
	for start := 0; start < 3000; start += 1000 {
		var batch []testkit.Person
		for i := start; i < start+1000; i++ {
			batch = append(batch, testkit.Person{Email: fmt.Sprintf("p%05d@acme.test", i)})
		}
		for _, u := range s.AddPeople(t, acme, batch...) {
			ids = append(ids, u.ID)
		}
	}
	tok := s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)
	// Valid JSON on both databases, but not a list of products.
	breakRow := func(id int) {
		_, err := s.DB.SQL.Exec(fmt.Sprintf(`UPDATE users SET products = '{"not":"a list"}' WHERE id = %d`, id))
		require.NoError(t, err)
	}

	breakRow(ids[2500]) // in the second batch
	resp := get(t, s, tok, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := csv.NewReader(resp.Body)
	rows := 0
	var err error
	for ; err == nil; rows++ {
		_, err = r.Read()
	}
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, rows, 2600)

	breakRow(ids[10]) // in the first batch
	resp = get(t, s, tok, nil)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	code, msg, _ := errorBody(t, resp)
	require.Equal(t, "INTERNAL", code)
	require.Equal(t, "internal error", msg)
}

// TestExportByteOrderMark: bom=1 starts the file with a UTF-8 byte order
// mark (Excel then reads it as UTF-8); without it, or with bom=0, the file
// starts with the header; anything else is bad input.
func TestExportByteOrderMark(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	read := func(params url.Values) []byte {
		resp := get(t, f.s, f.owner, params)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return body
	}
	plain := read(nil)
	require.True(t, strings.HasPrefix(string(plain), "id,email,"))
	require.Equal(t, plain, read(url.Values{"bom": {"0"}}))
	for _, on := range []string{"1", "true"} {
		withBOM := read(url.Values{"bom": {on}})
		require.Equal(t, "\xEF\xBB\xBF"+string(plain), string(withBOM), on)
	}
	resp := get(t, f.s, f.owner, url.Values{"bom": {"yes please"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	code, msg, field := errorBody(t, resp)
	require.Equal(t, "BAD_USER_INPUT", code)
	require.Equal(t, "bom", field)
	require.Contains(t, msg, `"yes please"`)
}
