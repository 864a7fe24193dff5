package app_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

const formatsMutation = `mutation($in: ImportUsersInput!) { importUsers(input: $in) {
  created updated unchanged rejected errors { line email message } encoding ignoredColumns } }`

type formatsPayload struct {
	ImportUsers struct {
		Created, Updated, Unchanged, Rejected int
		Errors                                []struct {
			Line           int
			Email, Message string
		}
		Encoding       string
		IgnoredColumns []string
	}
}

// importFile uploads content with the input in (file added).
func (a *admin) importFile(t *testing.T, tok string, content []byte, in map[string]any) (formatsPayload, *testkit.Response) {
	t.Helper()
	if in == nil {
		in = map[string]any{}
	}
	in["file"] = nil
	resp := a.s.Upload(t, tok, formatsMutation, map[string]any{"in": in}, "in.file", "people.csv", content)
	var out formatsPayload
	if len(resp.Errors) == 0 {
		resp.Decode(t, &out)
	}
	return out, resp
}

// shownPerson is what the API shows of someone.
type shownPerson struct {
	Email, Status                 string
	FirstName, LastName, Username *string
	Locale                        *string
	Products                      []string
	Role                          struct{ Name string }
}

// people returns everyone of the viewer's organisation by email.
func (a *admin) people(t *testing.T) map[string]shownPerson {
	t.Helper()
	var page struct {
		Users struct{ Edges []struct{ Node shownPerson } }
	}
	a.s.Query(t, a.tok, `{ users(first: 500) { edges { node { email status firstName lastName username locale products role { name } } } } }`, nil).Decode(t, &page)
	out := map[string]shownPerson{}
	for _, e := range page.Users.Edges {
		out[e.Node.Email] = e.Node
	}
	return out
}

func ptrTo(s string) *string { return &s }

// exportCSV downloads the viewer's export with the query string q.
func (a *admin) exportCSV(t *testing.T, q string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.s.URL+"/export/users.csv"+q, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return body
}

func TestImportEncodings(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	for _, c := range []struct {
		name, file, encoding, read string
		want                       map[string][2]string // email -> first and last name
	}{
		{
			name: "Windows-1252 with a euro sign and curly quotes",
			file: "email;first name;last name\r\nw1@corp.example;\x93Ren\xe9e\x94;Price \x80 Co\r\nw2@corp.example;Fran\xe7ois;O\x92Neil\r\n",
			read: "windows-1252",
			want: map[string][2]string{"w1@corp.example": {"“Renée”", "Price € Co"}, "w2@corp.example": {"François", "O’Neil"}},
		},
		{
			name: "Latin-1",
			file: "email,first name,last name\nl1@corp.example,Zo\xeb,M\xfcller\nl2@corp.example,\xc5sa,\xd8deg\xe5rd\n",
			read: "ISO-8859-1",
			want: map[string][2]string{"l1@corp.example": {"Zoë", "Müller"}, "l2@corp.example": {"Åsa", "Ødegård"}},
		},
		{
			name: "UTF-8 with BOM",
			file: "\uFEFFemail,first name,last name\r\nu1@corp.example,Zoë,Nguyễn\r\nu2@corp.example,山田,太郎\r\n",
			read: "UTF-8",
			want: map[string][2]string{"u1@corp.example": {"Zoë", "Nguyễn"}, "u2@corp.example": {"山田", "太郎"}},
		},
		{
			name:     "Latin-1 given by name",
			file:     "email,first name,last name\ng1@corp.example,Jos\xe9,Pe\xf1a\n",
			encoding: "latin1",
			read:     "ISO-8859-1",
			want:     map[string][2]string{"g1@corp.example": {"José", "Peña"}},
		},
	} {
		in := map[string]any{}
		if c.encoding != "" {
			in["encoding"] = c.encoding
		}
		out, resp := a.importFile(t, a.tok, []byte(c.file), in)
		require.Empty(t, resp.Errors, c.name)
		require.Equal(t, len(c.want), out.ImportUsers.Created, c.name)
		require.Zero(t, out.ImportUsers.Rejected, c.name)
		require.Equal(t, c.read, out.ImportUsers.Encoding, c.name)
		got := a.people(t)
		for email, names := range c.want {
			require.Equal(t, names[0], *got[email].FirstName, c.name)
			require.Equal(t, names[1], *got[email].LastName, c.name)
		}
	}

	before := len(a.people(t))
	for name, enc := range map[string]string{"unknown": "klingon", "misspelt": "utf-9"} {
		_, resp := a.importFile(t, a.tok, []byte("email\nnew@corp.example\n"), map[string]any{"encoding": enc})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), name)
		require.Equal(t, "encoding", resp.Errors[0].Extensions["field"], name)
		require.Contains(t, resp.Errors[0].Message, `"`+enc+`"`, name)
	}
	_, resp := a.importFile(t, a.tok, []byte("\uFEFFemail\nnew@corp.example\n"), map[string]any{"encoding": "windows-1252"})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "encoding", resp.Errors[0].Extensions["field"])
	require.Len(t, a.people(t), before, "nothing imported")
}

func TestImportExportFormats(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	for _, c := range []struct {
		name, file string
		ignored    []string
		want       map[string]shownPerson
	}{
		{
			name: "Google Workspace",
			file: "First Name [Required],Last Name [Required],Email Address [Required],Password [Required],Password Hash Function [UPLOAD ONLY]," +
				"Org Unit Path [Required],New Primary Email [UPLOAD ONLY],Status [READ ONLY],Last Sign In [READ ONLY],Recovery Email,Work Secondary Email,Employee ID\r\n" +
				"Ada,Lovelace,ada@google.example,****,,/,,Active,2026/01/02 10:00:00,ada@home.example,,E1\r\n" +
				"Grace,Hopper,grace@google.example,****,,/Eng,,Suspended,Never logged in,,,E2\r\n",
			ignored: []string{"Password [Required]", "Password Hash Function [UPLOAD ONLY]", "Org Unit Path [Required]", "New Primary Email [UPLOAD ONLY]",
				"Status [READ ONLY]", "Last Sign In [READ ONLY]", "Recovery Email", "Work Secondary Email", "Employee ID"},
			want: map[string]shownPerson{
				"ada@google.example":   {FirstName: ptrTo("Ada"), LastName: ptrTo("Lovelace")},
				"grace@google.example": {FirstName: ptrTo("Grace"), LastName: ptrTo("Hopper")},
			},
		},
		{
			name: "Microsoft 365 admin center",
			file: "Block credential,City,Country/Region,Department,Display name,First name,Last name,Licenses,Preferred language,Proxy addresses,Title,Usage location,User principal name,When created\r\n" +
				"False,Perth,Australia,Ops,Ann Lee,Ann,Lee,Microsoft 365 E3,en-AU,SMTP:ann@ms.example,Engineer,AU,ann@ms.example,1/2/2026 10:00:00 AM\r\n",
			ignored: []string{"Block credential", "City", "Country/Region", "Department", "Display name", "Licenses", "Proxy addresses",
				"Title", "Usage location", "When created"},
			want: map[string]shownPerson{"ann@ms.example": {FirstName: ptrTo("Ann"), LastName: ptrTo("Lee"), Locale: ptrTo("en-AU")}},
		},
		{
			name: "Microsoft Entra",
			file: "userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled,usageLocation,createdDateTime\r\n" +
				"bo@entra.example,Bo Stone,Stone,bo.stone@entra.example,Bo,7cc0c81b,Member,,,True,SE,8/19/2021 1:25:31 PM\r\n" +
				"svc@entra.example,Scanner,,,,7cc0c81c,Member,,,True,,8/19/2021 1:25:31 PM\r\n",
			ignored: []string{"displayName", "id", "userType", "jobTitle", "department", "accountEnabled", "usageLocation", "createdDateTime"},
			want: map[string]shownPerson{
				"bo.stone@entra.example": {FirstName: ptrTo("Bo"), LastName: ptrTo("Stone")},
				"svc@entra.example":      {},
			},
		},
		{
			name: "Okta",
			file: "login,firstName,lastName,middleName,email,title,displayName,secondEmail,mobilePhone,preferredLanguage,locale,timezone\r\n" +
				"kim@okta.example,Kim,Ng,,kim.ng@okta.example,CTO,Kim N,kim@home.example,,en,en_GB,Europe/London\r\n" +
				"lu@okta.example,Lu,Xi,,,,,,,zh,,Asia/Shanghai\r\n",
			ignored: []string{"middleName", "title", "displayName", "secondEmail", "mobilePhone", "timezone"},
			want: map[string]shownPerson{
				"kim.ng@okta.example": {FirstName: ptrTo("Kim"), LastName: ptrTo("Ng"), Locale: ptrTo("en-GB")},
				"lu@okta.example":     {FirstName: ptrTo("Lu"), LastName: ptrTo("Xi"), Locale: ptrTo("zh")},
			},
		},
		{
			name: "Rollcall's own export",
			file: "id,email,first_name,last_name,username,role,status,products,invited_at,invitation_count,accepted_at,last_login_at,last_email_status,created_at,locale\r\n" +
				"7,'+tasha@corp.example,'=Tasha,'-Nguyễn,tasha,HR,INVITED,,2026-03-02T08:00:00Z,1,,,SENT,2026-03-01T08:00:00Z,vi\r\n",
			ignored: []string{"id", "status", "invited_at", "invitation_count", "accepted_at", "last_login_at", "last_email_status", "created_at"},
			want: map[string]shownPerson{"+tasha@corp.example": {FirstName: ptrTo("=Tasha"), LastName: ptrTo("-Nguyễn"), Username: ptrTo("tasha"),
				Locale: ptrTo("vi"), Role: struct{ Name string }{"HR"}}},
		},
	} {
		out, resp := a.importFile(t, a.tok, []byte(c.file), nil)
		require.Empty(t, resp.Errors, c.name)
		require.Empty(t, out.ImportUsers.Errors, c.name)
		require.Equal(t, len(c.want), out.ImportUsers.Created, c.name)
		require.Equal(t, c.ignored, out.ImportUsers.IgnoredColumns, c.name)
		got := a.people(t)
		for email, w := range c.want {
			p, ok := got[email]
			require.True(t, ok, "%s: %s imported", c.name, email)
			if w.Role.Name == "" {
				w.Role.Name = "Member"
			}
			w.Email, w.Status, w.Products = email, "NOT_INVITED", []string{}
			require.Equal(t, w, p, c.name)
		}
	}
}

func TestImportColumns(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	file := []byte("Personal Mail,Work Mail,Vorname,Nachname,Kürzel,Abteilung\r\nada@home.example,ada@corp.example,Ada,Lovelace,ada,R&D\r\n")
	cols := []map[string]any{
		{"header": "work mail", "field": "EMAIL"}, {"header": "Vorname", "field": "FIRST_NAME"},
		{"header": "Nachname", "field": "LAST_NAME"}, {"header": "Kürzel", "field": "USERNAME"},
	}
	out, resp := a.importFile(t, a.tok, file, map[string]any{"columns": cols})
	require.Empty(t, resp.Errors)
	require.Equal(t, 1, out.ImportUsers.Created)
	require.Equal(t, []string{"Personal Mail", "Abteilung"}, out.ImportUsers.IgnoredColumns)
	ada := a.people(t)["ada@corp.example"]
	require.Equal(t, "Ada", *ada.FirstName)
	require.Equal(t, "Lovelace", *ada.LastName)
	require.Equal(t, "ada", *ada.Username)

	before := len(a.people(t))
	_, resp = a.importFile(t, a.tok, file, map[string]any{"columns": []map[string]any{{"header": "Mail", "field": "EMAIL"}}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "columns", resp.Errors[0].Extensions["field"])
	require.Contains(t, resp.Errors[0].Message, `the file has no column "Mail"`)
	_, resp = a.importFile(t, a.tok, file, map[string]any{"columns": []map[string]any{
		{"header": "Work Mail", "field": "EMAIL"}, {"header": "Personal Mail", "field": "EMAIL"}}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "columns", resp.Errors[0].Extensions["field"])
	require.Contains(t, resp.Errors[0].Message, "both mapped to EMAIL")
	_, resp = a.importFile(t, a.tok, file, map[string]any{"columns": []map[string]any{{"header": "Work Mail", "field": "E_MAIL"}}})
	require.NotEmpty(t, resp.Errors, "an unknown field is refused")
	require.Contains(t, resp.Errors[0].Message, "ImportField")
	require.Len(t, a.people(t), before, "nothing imported")
}

// TestExportImportRoundTrip exports people whose values a spreadsheet
// would run as formulas, or that are not ASCII, imports the file back
// unchanged, and into another organisation as the same people.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	s.Query(t, a.tok, `mutation { updateOrganization(input: {products: ["crm", "wiki"]}) { id } }`, nil)
	seed := "email,first name,last name,username,role,products,locale\n" +
		"+tasha@corp.example,+Tasha,Nguyễn,tasha,HR,crm,vi\n" +
		"eq@corp.example,=1+2,-minus,,Admin,crm|wiki,\n" +
		"at@corp.example,@home,Ødegård,,Member,,nb-NO\n" +
		"zoe@corp.example,Zoë,\"O'Brien, Jr\",zoe,,wiki,fr-CA\n" +
		"yamada@corp.example,山田,太郎,,,,ja\n"
	out, resp := a.importFile(t, a.tok, []byte(seed), nil)
	require.Empty(t, resp.Errors)
	require.Equal(t, 5, out.ImportUsers.Created)
	s.AddPeople(t, a.org,
		testkit.Person{Email: "gone@corp.example", FirstName: "-Gone", Status: user.StatusDeactivated},
		testkit.Person{Email: "act@corp.example", FirstName: "Åke", Role: "Admin", Status: user.StatusActive, Password: "active-password-1"})
	// Values only the database can hold: apostrophes before a formula
	// character, and a product the organisation has since turned off.
	_, err := s.DB.Client.User.Update().Where(user.EmailNormalized("zoe@corp.example")).
		SetFirstName("'=x").SetLastName("''+y").SetProducts([]string{"wiki", "legacy"}).Save(testkit.System())
	require.NoError(t, err)

	first := a.exportCSV(t, "?bom=1")
	require.True(t, bytes.HasPrefix(first, []byte("\xEF\xBB\xBFid,email,")), "bom=1 starts with a byte order mark")
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(first, []byte("\xEF\xBB\xBF")))).ReadAll()
	require.NoError(t, err)
	cells := map[string][]string{}
	for _, r := range records[1:] {
		cells[r[1]] = r
	}
	require.Contains(t, cells, "'+tasha@corp.example", "the address is guarded in the file")
	require.Equal(t, []string{"'+Tasha", "Nguyễn"}, cells["'+tasha@corp.example"][2:4])
	require.Equal(t, []string{"'=1+2", "'-minus"}, cells["eq@corp.example"][2:4])
	require.Equal(t, []string{"''=x", "'''+y"}, cells["zoe@corp.example"][2:4])
	require.Equal(t, "'@home", cells["at@corp.example"][2])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, cells["owner@acme.test"][13], "created_at to the second")

	back, resp := a.importFile(t, a.tok, first, nil)
	require.Empty(t, resp.Errors)
	require.Empty(t, back.ImportUsers.Errors)
	require.Zero(t, back.ImportUsers.Created)
	require.Zero(t, back.ImportUsers.Updated, "nothing changes")
	require.Equal(t, len(records)-1, back.ImportUsers.Unchanged, "every row, the deactivated shownPerson's included")
	require.Equal(t, "UTF-8", back.ImportUsers.Encoding)
	require.Equal(t, []string{"id", "status", "invited_at", "invitation_count", "accepted_at", "last_login_at", "last_email_status", "created_at"},
		back.ImportUsers.IgnoredColumns)
	require.Equal(t, string(first), string(a.exportCSV(t, "?bom=1")), "the export after the import is the same file")

	// An Admin may import it back too: the Owner's row gives the role the
	// Owner already has, which changes nothing.
	ad := &admin{s: s, org: a.org, tok: s.Login(t, "acme", "act@corp.example", "active-password-1")}
	byAdmin, resp := ad.importFile(t, ad.tok, first, nil)
	require.Empty(t, resp.Errors)
	require.Empty(t, byAdmin.ImportUsers.Errors)
	require.Equal(t, len(records)-1, byAdmin.ImportUsers.Unchanged)
	// Changing the Owner's role is still refused.
	changed, resp := ad.importFile(t, ad.tok, []byte("email,role\nowner@acme.test,Member\n"), nil)
	require.Empty(t, resp.Errors)
	require.Len(t, changed.ImportUsers.Errors, 1)
	require.Contains(t, changed.ImportUsers.Errors[0].Message, "you cannot change this person's role")

	// Into another organisation: the same people, field for field.
	g := signIn(t, s, "globex")
	s.Query(t, g.tok, `mutation { updateOrganization(input: {products: ["crm", "wiki", "legacy"]}) { id } }`, nil)
	into, resp := g.importFile(t, g.tok, first, nil)
	require.Empty(t, resp.Errors)
	require.Empty(t, into.ImportUsers.Errors)
	require.Equal(t, len(records)-1, into.ImportUsers.Created)
	want, got := a.people(t), g.people(t)
	delete(got, "owner@globex.test")
	require.Len(t, got, len(want))
	for email, p := range want {
		q := got[email]
		p.Status, q.Status = "", "" // statuses are not imported
		require.Equal(t, p, q, email)
	}
	require.True(t, slices.Contains(got["zoe@corp.example"].Products, "legacy"))
	require.Equal(t, "''+y", *got["zoe@corp.example"].LastName)
	require.False(t, strings.HasPrefix(*got["eq@corp.example"].FirstName, "'"))
}
