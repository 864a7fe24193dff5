package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

const importMutation = `mutation($in: ImportUsersInput!) { importUsers(input: $in) {
  created updated unchanged rejected invited errors { line email message } import { id } bulkSend { id total } } }`

type importPayload struct {
	ImportUsers struct {
		Created, Updated, Unchanged, Rejected, Invited int
		Errors                                         []struct {
			Line           int
			Email, Message string
		}
		Import   *struct{ ID string }
		BulkSend *struct {
			ID    string
			Total int
		}
	}
}

func (a *admin) importCSV(t *testing.T, tok, csv string, in map[string]any) (importPayload, *testkit.Response) {
	t.Helper()
	if in == nil {
		in = map[string]any{}
	}
	in["file"] = nil
	resp := a.s.Upload(t, tok, importMutation, map[string]any{"in": in}, "in.file", "people.csv", []byte(csv))
	var out importPayload
	if len(resp.Errors) == 0 {
		resp.Decode(t, &out)
	}
	return out, resp
}

func TestImport(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.Query(t, a.tok, `mutation { updateOrganization(input: {products: ["crm", "wiki"]}) { id } }`, nil)
	s.AddPeople(t, a.org,
		testkit.Person{Email: "active@example.com", FirstName: "Old", Status: user.StatusActive, Password: "active-password-1"},
		testkit.Person{Email: "gone@example.com", Status: user.StatusDeactivated},
	)
	file := "\uFEFFE-Mail;Given Name;Surname;Role;Products;Notes\r\n" +
		"ada@example.com;Ada;Lovelace;HR;crm|wiki;\r\n" +
		"\"bob@example.com\";\"Bob; the second\";Builder;;;\"a note\nover two lines\"\r\n" + // this record spans lines 3-4
		"not-an-address;X;;;\r\n" +
		"carol@gmial.com;Carol;;;\r\n" +
		"ADA@example.com;Dup;;;\r\n" +
		"active@example.com;New;;;\r\n" +
		"gone@example.com;Back;;;\r\n" +
		"dan@example.com;;;Pilot;\r\n" +
		"eve@example.com;;;;erp\r\n"
	out, resp := a.importCSV(t, a.tok, file, nil)
	require.Empty(t, resp.Errors)
	got := out.ImportUsers
	require.Equal(t, 2, got.Created, "ada and bob")
	require.Equal(t, 1, got.Updated, "active's first name")
	require.Equal(t, 6, got.Rejected)
	var lines []string
	for _, e := range got.Errors {
		lines = append(lines, fmt.Sprintf("%d %s", e.Line, e.Email))
	}
	require.Equal(t, []string{"5 not-an-address", "6 carol@gmial.com", "7 ADA@example.com", "9 gone@example.com", "10 dan@example.com", "11 eve@example.com"}, lines)
	require.Contains(t, got.Errors[1].Message, "gmail.com")
	require.Contains(t, got.Errors[2].Message, "line 2")
	require.Contains(t, got.Errors[4].Message, "Pilot")
	require.Contains(t, got.Errors[5].Message, "erp")
	require.Empty(t, s.Outbox(t), "importing emails nobody")

	var people struct {
		Users struct {
			Edges []struct {
				Node struct {
					Email, Status       string
					FirstName, LastName *string
					Products            []string
					Role                struct{ Name string }
				}
			}
		}
	}
	s.Query(t, a.tok, `query($id: ID!) { users(where: {hasImportWith: [{id: $id}]}, orderBy: {field: EMAIL}) {
	  edges { node { email status firstName lastName products role { name } } } } }`, map[string]any{"id": got.Import.ID}).Decode(t, &people)
	require.Len(t, people.Users.Edges, 3, "created and updated people link to the import")
	ada, active, bob := people.Users.Edges[1].Node, people.Users.Edges[0].Node, people.Users.Edges[2].Node
	require.Equal(t, "ada@example.com", ada.Email)
	require.Equal(t, "NOT_INVITED", ada.Status)
	require.Equal(t, "HR", ada.Role.Name)
	require.Equal(t, []string{"crm", "wiki"}, ada.Products)
	require.Equal(t, "Bob; the second", *bob.FirstName)
	require.Equal(t, "Member", bob.Role.Name, "no role: the default")
	require.Equal(t, "ACTIVE", active.Status, "never downgraded")
	require.Equal(t, "New", *active.FirstName)

	// Importing again changes nothing; an empty cell keeps the stored value.
	again, _ := a.importCSV(t, a.tok, "email,first name,last name\nada@example.com,,\nbob@example.com,Robert,\n", nil)
	require.Equal(t, 1, again.ImportUsers.Unchanged)
	require.Equal(t, 1, again.ImportUsers.Updated)
	var ada2 struct {
		Users struct {
			Edges []struct{ Node struct{ LastName *string } }
		}
	}
	s.Query(t, a.tok, `{ users(where: {email: "ada@example.com"}) { edges { node { lastName } } } }`, nil).Decode(t, &ada2)
	require.Equal(t, "Lovelace", *ada2.Users.Edges[0].Node.LastName)

	// Erasing a person takes their import links with them. On PostgreSQL
	// the links have no foreign key, so this checks the service; on SQLite
	// the foreign key's cascade does it anyway.
	var bobID struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	s.Query(t, a.tok, `{ users(where: {email: "bob@example.com"}) { edges { node { id } } } }`, nil).Decode(t, &bobID)
	resp = s.Query(t, a.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": bobID.Users.Edges[0].Node.ID})
	require.Empty(t, resp.Errors)
	var links, dangling int
	require.NoError(t, s.DB.SQL.QueryRow(`SELECT count(*) FROM user_import`).Scan(&links))
	require.NoError(t, s.DB.SQL.QueryRow(`SELECT count(*) FROM user_import WHERE user_id NOT IN (SELECT id FROM users)`).Scan(&dangling))
	require.Equal(t, 2, links, "ada and active from the first import; bob, in both, is gone")
	require.Zero(t, dangling)
}

func TestImportDryRunAndRefusedFiles(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	dry, _ := a.importCSV(t, a.tok, "email\nnew@example.com\n", map[string]any{"dryRun": true})
	require.Equal(t, 1, dry.ImportUsers.Created)
	require.Nil(t, dry.ImportUsers.Import)
	var page userPage
	s.Query(t, a.tok, usersQuery, nil).Decode(t, &page)
	require.Equal(t, 1, page.Users.TotalCount, "a dry run changes nothing")

	for name, c := range map[string]struct{ file, want string }{
		"UTF-8, then not": {"email,first name\nok@example.com,Zoë\ncafe@example.com,Caf\xe9\n", "line 3"},
		"binary":          {"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"},
		"empty":           {"", "no rows"},
		"no email column": {"name,phone\nAda,123\n", "email"},
		"one huge line":   {"email\n" + strings.Repeat("x", 5<<20) + "\n", "line 2"},
	} {
		_, resp := a.importCSV(t, a.tok, c.file, nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), name)
		require.Equal(t, "file", resp.Errors[0].Extensions["field"], name)
		require.Contains(t, resp.Errors[0].Message, c.want, name)
	}
	s.Query(t, a.tok, usersQuery, nil).Decode(t, &page)
	require.Equal(t, 1, page.Users.TotalCount, "refused files import nothing")

	var dup strings.Builder
	dup.WriteString("email\n")
	for range 10_000 {
		dup.WriteString("same@example.com\n")
	}
	res, _ := a.importCSV(t, a.tok, dup.String(), nil)
	require.Equal(t, 1, res.ImportUsers.Created)
	require.Equal(t, 9_999, res.ImportUsers.Rejected)
}

func TestImportWithInvitationsAndPermissions(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.AddPeople(t, a.org,
		testkit.Person{Email: "waiting@example.com"},
		testkit.Person{Email: "active@example.com", Status: user.StatusActive, Password: "active-password-1"},
	)
	out, resp := a.importCSV(t, a.tok, "email\nnew1@example.com\nnew2@example.com\nwaiting@example.com\nactive@example.com\n",
		map[string]any{"sendInvitations": true})
	require.Empty(t, resp.Errors)
	require.Equal(t, 3, out.ImportUsers.Invited, "the new and the never-invited, not the active")
	for _, addr := range []string{"new1@example.com", "new2@example.com", "waiting@example.com"} {
		require.Len(t, s.EmailsTo(t, addr), 1, "exactly one invitation to %s", addr)
	}
	require.Empty(t, s.EmailsTo(t, "active@example.com"))
	require.NotNil(t, out.ImportUsers.BulkSend, "the invitations are one bulk send")
	require.Equal(t, 3, out.ImportUsers.BulkSend.Total)

	// Invite from the import summary: exactly the people of a later import.
	later, resp := a.importCSV(t, a.tok, "email\nlate1@example.com\nlate2@example.com\n", nil)
	require.Empty(t, resp.Errors)
	require.Nil(t, later.ImportUsers.BulkSend, "no invitations unless asked")
	require.Empty(t, s.EmailsTo(t, "late1@example.com"))
	send := a.send(t, map[string]any{"where": map[string]any{"hasImportWith": []any{map[string]any{"id": later.ImportUsers.Import.ID}}}}).SendInvitations
	require.Equal(t, 2, send.Total)
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "late1@example.com"), 1)
	require.Len(t, s.EmailsTo(t, "late2@example.com"), 1)
	require.Len(t, s.EmailsTo(t, "new1@example.com"), 1, "earlier imports are not selected")

	s.AddPeople(t, a.org,
		testkit.Person{Email: "hr@example.com", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"},
		testkit.Person{Email: "ad@example.com", Role: "Admin", Status: user.StatusActive, Password: "admin-password-1"})
	hr := s.Login(t, "acme", "hr@example.com", "hr-password-123")
	_, resp = a.importCSV(t, hr, "email\nx@example.com\n", nil)
	require.Equal(t, "FORBIDDEN", resp.Code(), "import needs people.manage")
	ad := s.Login(t, "acme", "ad@example.com", "admin-password-1")
	res, resp := a.importCSV(t, ad, "email,role\ny@example.com,Owner\nz@example.com,HR\n", nil)
	require.Empty(t, resp.Errors)
	require.Equal(t, 1, res.ImportUsers.Created)
	require.Contains(t, res.ImportUsers.Errors[0].Message, "you cannot give the role Owner")
}
