package importer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseWith(in string, opts Options) csvResult {
	var res csvResult
	res.stats, res.err = ParseWith(strings.NewReader(in), opts,
		func(r Row) error { res.rows = append(res.rows, r); return nil },
		func(e RowError) error { res.errs = append(res.errs, e); return nil })
	return res
}

// inputErr asserts err is an *InputError and returns it.
func inputErr(t *testing.T, err error) *InputError {
	t.Helper()
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	return ie
}

func TestGuard(t *testing.T) {
	for _, c := range []struct{ in, guarded string }{
		{"", ""},
		{"ada@example.com", "ada@example.com"},
		{"+tasha@corp.example", "'+tasha@corp.example"},
		{"=1+2", "'=1+2"},
		{"-3", "'-3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'=x", "''=x"},   // a stored apostrophe survives the round trip
		{"''+y", "'''+y"}, // however many
		{"'plain", "'plain"},
		{"'", "'"},
		{"''", "''"},
		{"O'Brien", "O'Brien"},
		{"a=b", "a=b"},
		{"crm|=x", "crm|=x"}, // only the start of a cell runs
	} {
		g := Guard(c.in)
		assert.Equal(t, c.guarded, g, "Guard(%q)", c.in)
		assert.Equal(t, c.in, Unguard(g), "Unguard(Guard(%q))", c.in)
		if g != "" {
			assert.False(t, formulaStart(g[0]), "Guard(%q) starts a formula", c.in)
		}
	}
	// Cells no export wrote: only the apostrophe before a formula character goes.
	assert.Equal(t, "'hello", Unguard("'hello"))
	assert.Equal(t, "+x", Unguard("'+x"))
}

func TestParseEncodings(t *testing.T) {
	const header = "email,first name,last name,products\r\n"
	for _, c := range []struct {
		name, in, encoding string
		want               []Row
		read               string
	}{
		{
			name: "Windows-1252 with a euro sign and curly quotes",
			in:   header + "ada@example.com,\x93Ada\x94,L\xf6velace,Caf\xe9 \x80\r\n",
			want: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("“Ada”"),
				LastName: str("Lövelace"), Products: []string{"Café €"}}},
			read: EncodingWindows1252,
		},
		{
			name: "Latin-1",
			in:   header + "zoe@example.com,Zo\xeb,Fran\xe7ois-M\xfcller,\r\nada@example.com,Ada,,\r\n",
			want: []Row{{Line: 2, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë"), LastName: str("François-Müller")},
				{Line: 3, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")}},
			read: EncodingLatin1,
		},
		{
			name: "Latin-1 after ASCII lines: the first line that is not ASCII decides",
			in:   header + "ada@example.com,Ada,,\r\nbob@example.com,Bob,,\r\nzoe@example.com,Zo\xeb,,\r\n",
			want: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")},
				{Line: 3, Email: "bob@example.com", Normalized: "bob@example.com", FirstName: str("Bob")},
				{Line: 4, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë")}},
			read: EncodingLatin1,
		},
		{
			name: "UTF-8 with BOM",
			in:   "\xEF\xBB\xBF" + header + "zoe@example.com,Zoë,Ñúñez,\r\n",
			want: []Row{{Line: 2, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë"), LastName: str("Ñúñez")}},
			read: EncodingUTF8,
		},
		{
			name: "UTF-8 without BOM",
			in:   header + "zoe@example.com,Zoë,“Ñúñez”,\r\n",
			want: []Row{{Line: 2, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë"), LastName: str("“Ñúñez”")}},
			read: EncodingUTF8,
		},
		{
			name: "UTF-16 with BOM (Excel's Unicode text, tab-separated)",
			in:   utf16LE("\uFEFFemail\tfirst name\r\nzoe@example.com\tZoë €\r\n"),
			want: []Row{{Line: 2, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë €")}},
			read: "UTF-16LE",
		},
		{
			name:     "given: latin1 reads a byte Windows-1252 would print as a control character",
			in:       header + "ada@example.com,Ada,,\r\n",
			encoding: "latin1",
			want:     []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")}},
			read:     EncodingLatin1,
		},
		{
			name:     "given: cp1252 (a WHATWG label), any case",
			in:       header + "ada@example.com,\x93Ada\x94,,\r\n",
			encoding: "CP1252",
			want:     []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("“Ada”")}},
			read:     EncodingWindows1252,
		},
		{
			name:     "given: ISO-8859-15 has its own euro sign",
			in:       header + "ada@example.com,Ada \xa4,,\r\n",
			encoding: "ISO 8859-15",
			want:     []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada €")}},
			read:     "ISO-8859-15",
		},
		{
			name:     "given: UTF-8",
			in:       header + "zoe@example.com,Zoë,,\r\n",
			encoding: "utf-8",
			want:     []Row{{Line: 2, Email: "zoe@example.com", Normalized: "zoe@example.com", FirstName: str("Zoë")}},
			read:     EncodingUTF8,
		},
		{
			name: "ASCII is UTF-8",
			in:   header + "ada@example.com,Ada,,\r\n",
			want: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")}},
			read: EncodingUTF8,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parseWith(c.in, Options{Encoding: c.encoding})
			require.NoError(t, res.err)
			assert.Empty(t, res.errs)
			assert.Equal(t, c.want, res.rows)
			assert.Equal(t, c.read, res.stats.Encoding)
		})
	}

	t.Run("latin1 given: 0x80 is a control character, refused in a name", func(t *testing.T) {
		res := parseWith(header+"ada@example.com,Ada\x80,,\r\n", Options{Encoding: "ISO-8859-1"})
		require.NoError(t, res.err)
		require.Len(t, res.errs, 1)
		assert.Equal(t, "first name contains a control character (U+0080)", res.errs[0].Message)
	})
	t.Run("detected: a byte Windows-1252 leaves undefined is refused with its code", func(t *testing.T) {
		res := parseWith(header+"ada@example.com,Ada\x81,,\r\n", Options{})
		require.NoError(t, res.err)
		require.Len(t, res.errs, 1)
		assert.Equal(t, "first name contains a control character (U+0081)", res.errs[0].Message)
	})

	for _, c := range []struct {
		name, in, encoding string
		field, message     string
	}{
		{"unknown name", header, "klingon", "encoding",
			`unknown encoding "klingon": give a name such as UTF-8, windows-1252 or ISO-8859-1 (latin1), or leave it out to detect it`},
		{"a BOM says UTF-8", "\xEF\xBB\xBF" + header + "ada@example.com,Ada,,\r\n", "windows-1252", "encoding",
			"the file starts with a UTF-8 byte order mark, so it is UTF-8, not windows-1252: leave encoding out or give UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parseWith(c.in, Options{Encoding: c.encoding})
			ie := inputErr(t, res.err)
			assert.Equal(t, &InputError{Field: c.field, Message: c.message}, ie)
			assert.Empty(t, res.rows)
		})
	}
	t.Run("UTF-8 given, a Latin-1 line", func(t *testing.T) {
		res := parseWith(header+"zoe@example.com,Zo\xeb,,\r\n", Options{Encoding: "UTF-8"})
		assert.Equal(t, &FileError{Line: 2, Message: "line 2 is not UTF-8: give the file's encoding (such as windows-1252), or leave encoding out to detect it"},
			fileErr(t, res.err))
	})
}

// utf16LE writes s as UTF-16, little-endian (s is BMP only).
func utf16LE(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	return b.String()
}

func TestLookupEncoding(t *testing.T) {
	for name, want := range map[string]string{
		"latin1": EncodingLatin1, "ISO-8859-1": EncodingLatin1, "l1": EncodingLatin1, "iso_8859-1": EncodingLatin1,
		"windows-1252": EncodingWindows1252, "Windows 1252": EncodingWindows1252, "cp1252": EncodingWindows1252,
		"UTF-8": EncodingUTF8, "utf8": EncodingUTF8, " utf-8 ": EncodingUTF8,
		"UTF-16": "UTF-16", "macintosh": "macintosh",
	} {
		enc, got, err := LookupEncoding(name)
		require.NoError(t, err, name)
		require.NotNil(t, enc, name)
		assert.Equal(t, want, got, name)
	}
	enc, _, err := LookupEncoding("  ")
	require.NoError(t, err)
	assert.Nil(t, enc, "blank detects")
	for _, bad := range []string{"klingon", "utf-9", "x"} {
		_, _, err := LookupEncoding(bad)
		assert.Equal(t, "encoding", inputErr(t, err).Field, bad)
		assert.Contains(t, err.Error(), bad)
	}
}

func TestParseExportFormats(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []Row
		ignored  []string
	}{
		{
			name: "Google Workspace",
			in: "First Name [Required],Last Name [Required],Email Address [Required],Password [Required],Password Hash Function [UPLOAD ONLY]," +
				"Org Unit Path [Required],New Primary Email [UPLOAD ONLY],Status [READ ONLY],Last Sign In [READ ONLY],Recovery Email," +
				"Work Secondary Email,Manager Email,Department,Change Password at Next Sign-In\r\n" +
				"Ada,Lovelace,ada@corp.example,****,,/,,Active,2026/01/02 10:00:00,ada@home.example,,boss@corp.example,R&D,False\r\n",
			want: []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada"), LastName: str("Lovelace")}},
			ignored: []string{"Password [Required]", "Password Hash Function [UPLOAD ONLY]", "Org Unit Path [Required]",
				"New Primary Email [UPLOAD ONLY]", "Status [READ ONLY]", "Last Sign In [READ ONLY]", "Recovery Email",
				"Work Secondary Email", "Manager Email", "Department", "Change Password at Next Sign-In"},
		},
		{
			name: "Microsoft 365 admin center: the address is the user principal name",
			in: "Block credential,City,Country/Region,Department,Display name,First name,Last name,Licenses,Office,Preferred language," +
				"Proxy addresses,Title,Usage location,User principal name,When created\r\n" +
				"False,Perth,Australia,Ops,Ada Lovelace,Ada,Lovelace,Microsoft 365 E3,,en-AU,SMTP:ada@corp.example,Engineer,AU,ada@corp.example,1/2/2026 10:00:00 AM\r\n",
			want: []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada"), LastName: str("Lovelace"), Locale: str("en-AU")}},
			ignored: []string{"Block credential", "City", "Country/Region", "Department", "Display name", "Licenses", "Office",
				"Proxy addresses", "Title", "Usage location", "When created"},
		},
		{
			name: "Microsoft Entra: mail, else the user principal name",
			in: "userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled,usageLocation,createdDateTime\r\n" +
				"ada@corp.example,Ada Lovelace,Lovelace,ada.lovelace@corp.example,Ada,7cc0c81b,Member,,,True,GB,1/2/2026 10:00:00 AM\r\n" +
				"svc@corp.onmicrosoft.com,Scanner,,,,7cc0c81c,Member,,,True,,1/2/2026 10:00:00 AM\r\n",
			want: []Row{
				{Line: 2, Email: "ada.lovelace@corp.example", Normalized: "ada.lovelace@corp.example", FirstName: str("Ada"), LastName: str("Lovelace")},
				{Line: 3, Email: "svc@corp.onmicrosoft.com", Normalized: "svc@corp.onmicrosoft.com"},
			},
			ignored: []string{"displayName", "id", "userType", "jobTitle", "department", "accountEnabled", "usageLocation", "createdDateTime"},
		},
		{
			name: "Microsoft Entra bulk template: a version line, property names in brackets",
			in: "version:v1.0\r\nName [displayName] Required,User name [userPrincipalName] Required,Initial password [passwordProfile] Required," +
				"Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Last name [surname]\r\n" +
				"Ada Lovelace,ada@corp.example,secret,No,Ada,Lovelace\r\n",
			want:    []Row{{Line: 3, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada"), LastName: str("Lovelace")}},
			ignored: []string{"Name [displayName] Required", "Initial password [passwordProfile] Required", "Block sign in (Yes/No) [accountEnabled] Required"},
		},
		{
			name: "Okta: email, and login only when email is empty; locale before preferredLanguage",
			in: "login,firstName,lastName,middleName,email,title,displayName,secondEmail,mobilePhone,preferredLanguage,locale,timezone,department\r\n" +
				"ada@corp.example,Ada,Lovelace,,ada.lovelace@corp.example,Engineer,Ada L,ada@home.example,,en,en_GB,Europe/London,R&D\r\n" +
				"bob@corp.example,Bob,Builder,,,,,,,fr,,Europe/Paris,\r\n",
			want: []Row{
				{Line: 2, Email: "ada.lovelace@corp.example", Normalized: "ada.lovelace@corp.example", FirstName: str("Ada"), LastName: str("Lovelace"), Locale: str("en-GB")},
				{Line: 3, Email: "bob@corp.example", Normalized: "bob@corp.example", FirstName: str("Bob"), LastName: str("Builder"), Locale: str("fr")},
			},
			ignored: []string{"middleName", "title", "displayName", "secondEmail", "mobilePhone", "timezone", "department"},
		},
		{
			name:    "Okta API attributes with a profile. prefix",
			in:      "id,status,profile.login,profile.firstName,profile.lastName,profile.email\r\n00u1,ACTIVE,ada,Ada,Lovelace,ada@corp.example\r\n",
			want:    []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada"), LastName: str("Lovelace"), Username: str("ada")}},
			ignored: []string{"id", "status"},
		},
		{
			name: "Rollcall's own export: guarded cells come back as they were",
			in: "id,email,first_name,last_name,username,role,status,products,invited_at,invitation_count,accepted_at,last_login_at,last_email_status,created_at,locale\r\n" +
				"7,'+tasha@corp.example,'=1+2,''-x,tasha,Member,INVITED,'@crm|wiki,2026-03-02T08:00:00Z,1,,,SENT,2026-03-01T08:00:00Z,de-CH\r\n",
			want: []Row{{Line: 2, Email: "+tasha@corp.example", Normalized: "+tasha@corp.example", FirstName: str("=1+2"), LastName: str("'-x"),
				Username: str("tasha"), Role: str("Member"), Products: []string{"@crm", "wiki"}, Locale: str("de-CH")}},
			ignored: []string{"id", "status", "invited_at", "invitation_count", "accepted_at", "last_login_at", "last_email_status", "created_at"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parseWith(c.in, Options{})
			require.NoError(t, res.err)
			assert.Empty(t, res.errs)
			assert.Equal(t, c.want, res.rows)
			assert.Equal(t, c.ignored, res.stats.IgnoredColumns)
		})
	}
}

func TestParseColumns(t *testing.T) {
	const file = "Work Mail,Email,Vorname,Nachname,Kürzel,Notes\r\nada@corp.example,ada@home.example,Ada,Lovelace,al,hi\r\n"
	t.Run("mapped fields override detection; the others are still detected", func(t *testing.T) {
		res := parseWith(file, Options{Columns: []Column{
			{Header: "work mail", Field: "EMAIL"}, {Header: " Vorname ", Field: "FIRST_NAME"},
			{Header: "Nachname", Field: "last_name"}, {Header: "KÜRZEL", Field: "USERNAME"}, {Header: "Notes", Field: "IGNORE"},
		}})
		require.NoError(t, res.err)
		assert.Equal(t, []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada"),
			LastName: str("Lovelace"), Username: str("al")}}, res.rows)
		assert.Equal(t, []string{"Email", "Notes"}, res.stats.IgnoredColumns, "the detected Email column lost to the mapping")
	})
	t.Run("IGNORE keeps a detected column out", func(t *testing.T) {
		res := parseWith("email,first name,role\r\nada@corp.example,Ada,Admin\r\n", Options{Columns: []Column{{Header: "role", Field: "IGNORE"}}})
		require.NoError(t, res.err)
		assert.Equal(t, []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example", FirstName: str("Ada")}}, res.rows)
		assert.Equal(t, []string{"role"}, res.stats.IgnoredColumns)
	})
	t.Run("a mapped email silences the sign-in name", func(t *testing.T) {
		res := parseWith("login,Correo\r\nada,ada@corp.example\r\n", Options{Columns: []Column{{Header: "Correo", Field: "EMAIL"}}})
		require.NoError(t, res.err)
		assert.Equal(t, []Row{{Line: 2, Email: "ada@corp.example", Normalized: "ada@corp.example"}}, res.rows)
		assert.Equal(t, []string{"login"}, res.stats.IgnoredColumns)
	})
	for _, c := range []struct {
		name    string
		file    string
		columns []Column
		message string
	}{
		{"unknown field", file, []Column{{Header: "Vorname", Field: "GIVEN"}},
			`columns: "GIVEN" is not a field (for the column "Vorname"): use EMAIL, FIRST_NAME, LAST_NAME, USERNAME, ROLE, PRODUCTS, LOCALE or IGNORE`},
		{"header not in the file", file, []Column{{Header: "Mail", Field: "EMAIL"}},
			`columns: the file has no column "Mail" (its columns: "Work Mail", "Email", "Vorname", "Nachname", "Kürzel", "Notes")`},
		{"a header twice", file, []Column{{Header: "Vorname", Field: "FIRST_NAME"}, {Header: "vorname", Field: "LAST_NAME"}},
			`columns: the column "vorname" is mapped twice`},
		{"a field twice", file, []Column{{Header: "Vorname", Field: "FIRST_NAME"}, {Header: "Nachname", Field: "FIRST_NAME"}},
			`columns: the columns "Vorname" and "Nachname" are both mapped to FIRST_NAME: map one`},
		{"a blank header", file, []Column{{Header: " ", Field: "EMAIL"}},
			`columns: a header is blank; give each column's name as the file's first line writes it`},
		{"a header the file has twice", "x,X,email\r\n", []Column{{Header: "x", Field: "FIRST_NAME"}},
			`columns: the file has two columns named "x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parseWith(c.file, Options{Columns: c.columns})
			assert.Equal(t, &InputError{Field: "columns", Message: c.message}, inputErr(t, res.err))
			assert.Empty(t, res.rows)
			assert.Empty(t, res.errs)
		})
	}
}
