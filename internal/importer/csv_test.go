package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// csvResult is what Parse reported for one file.
type csvResult struct {
	rows  []Row
	errs  []RowError
	stats Stats
	err   error
}

func parseCSV(in string, limits Limits, checks Checks) csvResult {
	var res csvResult
	res.stats, res.err = Parse(strings.NewReader(in), limits, checks,
		func(r Row) error { res.rows = append(res.rows, r); return nil },
		func(e RowError) error { res.errs = append(res.errs, e); return nil })
	return res
}

func str(s string) *string { return &s }

// fileErr asserts err is a *FileError and returns it.
func fileErr(t *testing.T, err error) *FileError {
	t.Helper()
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	return fe
}

// validFileCase is a case of TestParseValidFiles; FuzzCSV starts from
// their files.
type validFileCase struct {
	name  string
	in    string
	delim rune
	rows  []Row
	// ignored are the columns no field reads.
	ignored []string
}

func validFileCases() []validFileCase {
	return []validFileCase{
		{
			name:  "BOM",
			in:    "\xEF\xBB\xBFemail,first name\nada@example.com,Ada\n",
			delim: ',',
			rows:  []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")}},
		},
		{
			name:  "semicolons, with commas inside values",
			in:    "Email;First Name;Last Name\nAda@Example.com;Ada;\"Lovelace, Countess\"\n",
			delim: ';',
			rows: []Row{{Line: 2, Email: "Ada@Example.com", Normalized: "ada@example.com",
				FirstName: str("Ada"), LastName: str("Lovelace, Countess")}},
		},
		{
			name:  "semicolon header with a quoted comma stays semicolon",
			in:    "email;\"first, name\";x\nnope\n",
			delim: ';',
		},
		{
			name:    "Excel sep line",
			in:      "sep=;\r\nemail;first name,with comma\r\nada@example.com;Ada, Jr\r\n",
			delim:   ';',
			rows:    []Row{{Line: 3, Email: "ada@example.com", Normalized: "ada@example.com"}},
			ignored: []string{"first name,with comma"},
		},
		{
			name:  "tabs",
			in:    "email\tfirst name\nada@example.com\tAda\n",
			delim: '\t',
			rows:  []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")}},
		},
		{
			name:    "quoted newlines move the next record's line",
			in:      "email,notes,first name\nada@example.com,\"line one\nline two\r\nline three\",Ada\nbob@example.com,,Bob\n",
			delim:   ',',
			ignored: []string{"notes"},
			rows: []Row{
				{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada")},
				{Line: 5, Email: "bob@example.com", Normalized: "bob@example.com", FirstName: str("Bob")},
			},
		},
		{
			name:  "CRLF",
			in:    "email,first name,last name\r\nada@example.com,Ada,Lovelace\r\nbob@example.com,Bob,\r\n",
			delim: ',',
			rows: []Row{
				{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada"), LastName: str("Lovelace")},
				{Line: 3, Email: "bob@example.com", Normalized: "bob@example.com", FirstName: str("Bob")},
			},
		},
		{
			name: "aliases and case",
			in: "E-Mail,Given Name,SURNAME,User_Name,ROLE,Product,Unknown\n" +
				"ada@example.com,Ada,Lovelace,ada.l,Admin,crm,whatever\n",
			delim:   ',',
			ignored: []string{"Unknown"},
			rows: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada"),
				LastName: str("Lovelace"), Username: str("ada.l"), Role: str("Admin"), Products: []string{"crm"}}},
		},
		{
			name:  "more aliases",
			in:    "Email Address;forename;family-name;login;products\nada@example.com;Ada;Lovelace;ada;\n",
			delim: ';',
			rows: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str("Ada"),
				LastName: str("Lovelace"), Username: str("ada")}},
		},
		{
			name:  "mail alias, quoted header, escaped quotes, spaces around quotes",
			in:    "\"mail\",\"last name\"\n ada@example.com , \"O\"\"Brien\" \n",
			delim: ',',
			rows:  []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", LastName: str("O\"Brien")}},
		},
		{
			name:  "blank rows anywhere, fewer and more columns, no final newline",
			in:    "\n\nemail,first name,last name\n\n,,\nada@example.com\n   \nbob@example.com,Bob,B,extra,cells\ncy@example.com,Cy",
			delim: ',',
			rows: []Row{
				{Line: 6, Email: "ada@example.com", Normalized: "ada@example.com"},
				{Line: 8, Email: "bob@example.com", Normalized: "bob@example.com", FirstName: str("Bob"), LastName: str("B")},
				{Line: 9, Email: "cy@example.com", Normalized: "cy@example.com", FirstName: str("Cy")},
			},
		},
		{
			name:  "products: pipes, spaces, empty parts, case-insensitive repeats",
			in:    "email,products\nada@example.com,\"crm| hr |CRM||payroll|hr|\"\nbob@example.com,|\n",
			delim: ',',
			rows: []Row{
				{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", Products: []string{"crm", "hr", "payroll"}},
				{Line: 3, Email: "bob@example.com", Normalized: "bob@example.com"},
			},
		},
		{
			name:  "many products",
			in:    "email,products\nada@example.com,a|b|c|d|e|f|g|h|i|A|j|B|i|k\n",
			delim: ',',
			rows: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com",
				Products: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}},
		},
		{
			name:  "names in other scripts, joiners in names",
			in:    "email,first name,last name\nali@example.com,علی\u200Cرضا,کریمی\nksha@example.com,क्\u200Dष,Zoë José\n",
			delim: ',',
			rows: []Row{
				{Line: 2, Email: "ali@example.com", Normalized: "ali@example.com", FirstName: str("علی\u200Cرضا"), LastName: str("کریمی")},
				{Line: 3, Email: "ksha@example.com", Normalized: "ksha@example.com", FirstName: str("क्\u200Dष"), LastName: str("Zoë José")},
			},
		},
		{
			name:  "locales, stored canonical",
			in:    "email,Language\nada@example.com,pt-br\nbob@example.com, DE \ncy@example.com,\ndi@example.com,iw\nel@example.com,pt_BR\n",
			delim: ',',
			rows: []Row{
				{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", Locale: str("pt-BR")},
				{Line: 3, Email: "bob@example.com", Normalized: "bob@example.com", Locale: str("de")},
				{Line: 4, Email: "cy@example.com", Normalized: "cy@example.com"},
				{Line: 5, Email: "di@example.com", Normalized: "di@example.com", Locale: str("he")},
				{Line: 6, Email: "el@example.com", Normalized: "el@example.com", Locale: str("pt-BR")},
			},
		},
		{
			name:  "longest values",
			in:    "email,first name,last name,username,role,products\nada@example.com," + strings.Repeat("é", 200) + "," + strings.Repeat("L", 200) + "," + strings.Repeat("ü", 64) + "," + strings.Repeat("r", 100) + "," + strings.Repeat("p", 100) + "\n",
			delim: ',',
			rows: []Row{{Line: 2, Email: "ada@example.com", Normalized: "ada@example.com", FirstName: str(strings.Repeat("é", 200)),
				LastName: str(strings.Repeat("L", 200)), Username: str(strings.Repeat("ü", 64)), Role: str(strings.Repeat("r", 100)),
				Products: []string{strings.Repeat("p", 100)}}},
		},
	}
}

func TestParseValidFiles(t *testing.T) {
	for _, c := range validFileCases() {
		t.Run(c.name, func(t *testing.T) {
			res := parseCSV(c.in, Limits{}, Checks{})
			if c.rows == nil {
				// Only the delimiter matters; the rows are rejected.
				require.NoError(t, res.err)
				require.Equal(t, c.delim, res.stats.Delimiter)
				return
			}
			require.NoError(t, res.err)
			assert.Empty(t, res.errs)
			assert.Equal(t, c.rows, res.rows)
			assert.Equal(t, Stats{Rows: len(c.rows), Valid: len(c.rows), Delimiter: c.delim, Encoding: "UTF-8", IgnoredColumns: c.ignored}, res.stats)
		})
	}
}

// rowErrorChecks are the organisation's roles and products in
// TestParseRowErrors (and FuzzCSV).
func rowErrorChecks() Checks {
	return Checks{
		Role:    func(name string) bool { return strings.EqualFold(name, "Member") || strings.EqualFold(name, "Admin") },
		Product: func(name string) bool { return name == "crm" || name == "hr" },
	}
}

// rowErrorCase is a case of TestParseRowErrors: one bad row between two
// good ones (rowErrorFile); FuzzCSV starts from their files.
type rowErrorCase struct {
	name  string
	cells string // email,first name,last name,username,role,products,locale
	email string
	msg   string
}

// rowErrorFile is the file a rowErrorCase's cells stand in, on line 3.
func rowErrorFile(cells string) string {
	return "email,first name,last name,username,role,products,locale\n" +
		"ok@example.com,,,,admin,hr\n" + cells + "\nok2@example.com\n"
}

func rowErrorCases() []rowErrorCase {
	longEmail := strings.Repeat("é", 200) + "@example.com" // 412 bytes
	return []rowErrorCase{
		{"email missing", ",Ada,,,,", "", "email is missing"},
		{"invalid", "ada,Ada,,,,", "ada", "not a valid email address"},
		{"invalid with suggestion", "ada@gmailcom,,,,,", "ada@gmailcom", "email domain is not valid (did you mean ada@gmail.com?)"},
		{"typo domain", "ada@gmial.com,,,,,", "ada@gmial.com", "the email domain looks mistyped (did you mean ada@gmail.com?)"},
		{"typo suffix", "ada@hotmail.con,,,,,", "ada@hotmail.con", "the email domain looks mistyped (did you mean ada@hotmail.com?)"},
		{"email too long", longEmail + ",,,,,", longEmail[:320], "email address is too long"},
		{"first name too long", "ada@example.com," + strings.Repeat("é", 201) + ",,,,", "ada@example.com", "first name is longer than 200 characters"},
		{"last name too long", "ada@example.com,," + strings.Repeat("x", 201) + ",,,", "ada@example.com", "last name is longer than 200 characters"},
		{"name with a line break", "ada@example.com,\"Ada\nMarie\",,,,", "ada@example.com", "first name contains a line break (U+000A)"},
		{"name with a tab", "ada@example.com,\"Ada\tMarie\",,,,", "ada@example.com", "first name contains a tab (U+0009)"},
		{"name with ESC", "ada@example.com,Ada\x1b[2J,,,,", "ada@example.com", "first name contains a control character (U+001B)"},
		{"name with a C1 control", "ada@example.com,Ada\u009b,,,,", "ada@example.com", "first name contains a control character (U+009B)"},
		{"name with a right-to-left override", "ada@example.com,,Love\u202Elace,,,", "ada@example.com", "last name contains a bidirectional control character (U+202E)"},
		{"name with a zero-width space", "ada@example.com,,Love\u200Blace,,,", "ada@example.com", "last name contains an invisible character (U+200B)"},
		{"name with a word joiner", "ada@example.com,A\u2060da,,,,", "ada@example.com", "first name contains an invisible character (U+2060)"},
		{"name with a BOM", "ada@example.com,\uFEFFAda,,,,", "ada@example.com", "first name contains an invisible character (U+FEFF)"},
		{"role with DEL", "ada@example.com,,,,Member\x7f,", "ada@example.com", "role contains a control character (U+007F)"},
		{"role with BEL", "ada@example.com,,,,\aMember,", "ada@example.com", "role contains a control character (U+0007)"},
		{"product with a left-to-right mark", "ada@example.com,,,,,crm\u200E", "ada@example.com", "product contains a bidirectional control character (U+200E)"},
		{"email with ESC", "ada\x1b@example.com,Ada,,,,", "ada<U+001B>@example.com", "email address contains a control character (U+001B)"},
		{"email with a right-to-left override", "ada\u202E@gmial.com,Ada,,,,", "ada<U+202E>@gmial.com", "email address contains a bidirectional control character (U+202E)"},
		{"email with a joiner", "a\u200Dda@example.com,,,,,", "a<U+200D>da@example.com", "email address contains an invisible character (U+200D)"},
		{"username too long", "ada@example.com,,," + strings.Repeat("u", 65) + ",,", "ada@example.com", "username is longer than 64 characters"},
		{"username too short", "ada@example.com,,,u,,", "ada@example.com", "username is shorter than 2 characters"},
		{"username with a space", "ada@example.com,,,ada l,,", "ada@example.com", `username may only contain letters, digits, dots, underscores and dashes (not ' ')`},
		{"username with @", "ada@example.com,,,ada@x,,", "ada@example.com", `username may only contain letters, digits, dots, underscores and dashes (not '@')`},
		{"role too long", "ada@example.com,,,," + strings.Repeat("r", 101) + ",", "ada@example.com", "role is longer than 100 characters"},
		{"product too long", "ada@example.com,,,,,crm|" + strings.Repeat("p", 101), "ada@example.com", "product is longer than 100 characters"},
		{"unknown role", "ada@example.com,,,,Pilot,", "ada@example.com", `unknown role "Pilot"`},
		{"unknown product", "ada@example.com,,,,member,crm|x", "ada@example.com", `unknown product "x"`},
		{"malformed locale", "ada@example.com,,,,,,xx-!!", "ada@example.com", `locale: "xx-!!" is not a BCP 47 language tag; use one such as en, de-CH or pt-BR`},
		{"unknown locale", "ada@example.com,,,,,,xx", "ada@example.com", `locale: "xx" is not a known language; use a BCP 47 tag such as en, de-CH or pt-BR`},
		{"unknown region", "ada@example.com,,,,,,de-YY", "ada@example.com", `locale: "de-YY" is not a known language tag ("YY" is unknown); use a BCP 47 tag such as en, de-CH or pt-BR`},
		{"locale with an extension", "ada@example.com,,,,,,en-u-ca-gregory", "ada@example.com", `locale: "en-u-ca-gregory" has extensions or private-use parts; use the language, script and region only, such as de-CH`},
		{"locale with a line break", "ada@example.com,,,,,,\"de\nen\"", "ada@example.com", `locale: "de\nen" is not a BCP 47 language tag; use one such as en, de-CH or pt-BR`},
		{"first failure wins", "ada@example.com," + strings.Repeat("x", 201) + ",,,Pilot,x", "ada@example.com", "first name is longer than 200 characters"},
	}
}

func TestParseRowErrors(t *testing.T) {
	checks := rowErrorChecks()
	for _, c := range rowErrorCases() {
		t.Run(c.name, func(t *testing.T) {
			res := parseCSV(rowErrorFile(c.cells), Limits{}, checks)
			require.NoError(t, res.err)
			require.Equal(t, []RowError{{Line: 3, Email: c.email, Message: c.msg}}, res.errs)
			require.Len(t, res.rows, 2)
			assert.Equal(t, 2, res.rows[0].Line)
			assert.Equal(t, []string{"hr"}, res.rows[0].Products)
			assert.Equal(t, str("admin"), res.rows[0].Role)
			assert.Equal(t, 4+strings.Count(c.cells, "\n"), res.rows[1].Line)
			assert.Equal(t, Stats{Rows: 3, Valid: 2, Rejected: 1, Delimiter: ',', Encoding: "UTF-8"}, res.stats)
		})
	}
}

func TestParseDuplicates(t *testing.T) {
	t.Run("the later row is the error", func(t *testing.T) {
		in := "email,first name\nada@example.com,Ada\nbob@example.com\n\"ADA@example.com\",Again\nbad@gmial.com\nbad@gmial.com\n"
		res := parseCSV(in, Limits{}, Checks{})
		require.NoError(t, res.err)
		require.Len(t, res.rows, 2)
		assert.Equal(t, []RowError{
			{Line: 4, Email: "ADA@example.com", Message: "duplicate of line 2"},
			{Line: 5, Email: "bad@gmial.com", Message: "the email domain looks mistyped (did you mean bad@gmail.com?)"},
			{Line: 6, Email: "bad@gmial.com", Message: "the email domain looks mistyped (did you mean bad@gmail.com?)"},
		}, res.errs)
	})
	t.Run("a rejected first row still owns the address", func(t *testing.T) {
		in := "email,role\nada@example.com,Pilot\nada@example.com,\n"
		res := parseCSV(in, Limits{}, Checks{Role: func(string) bool { return false }})
		require.NoError(t, res.err)
		assert.Empty(t, res.rows)
		assert.Equal(t, []RowError{
			{Line: 2, Email: "ada@example.com", Message: `unknown role "Pilot"`},
			{Line: 3, Email: "ada@example.com", Message: "duplicate of line 2"},
		}, res.errs)
	})
	t.Run("10,000 copies", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("email,first name\n")
		for range 10_000 {
			b.WriteString("ada@example.com,Ada\n")
		}
		began := time.Now()
		res := parseCSV(b.String(), Limits{}, Checks{})
		require.Less(t, time.Since(began), 2*time.Second)
		require.NoError(t, res.err)
		require.Len(t, res.rows, 1)
		require.Len(t, res.errs, 9_999)
		assert.Equal(t, RowError{Line: 3, Email: "ada@example.com", Message: "duplicate of line 2"}, res.errs[0])
		assert.Equal(t, RowError{Line: 10_001, Email: "ada@example.com", Message: "duplicate of line 2"}, res.errs[9_998])
		assert.Equal(t, Stats{Rows: 10_000, Valid: 1, Rejected: 9_999, Delimiter: ',', Encoding: "UTF-8"}, res.stats)
	})
}

func TestParseSuggestionsPerDomain(t *testing.T) {
	// The longest address at a typo domain has no suggestion (it would be
	// too long), which must not hide the typo for the next address there.
	long := strings.Repeat("x", 243) + "@hotmal.com"
	require.Len(t, long, 254)
	in := "email\n" + long + "\nada@hotmal.com\nbob@example.com\ncy@example.com\nada@Hotmal.com\n"
	res := parseCSV(in, Limits{}, Checks{})
	require.NoError(t, res.err)
	require.Len(t, res.rows, 3)
	assert.Equal(t, long, res.rows[0].Email)
	assert.Equal(t, []RowError{
		{Line: 3, Email: "ada@hotmal.com", Message: "the email domain looks mistyped (did you mean ada@hotmail.com?)"},
		{Line: 6, Email: "ada@Hotmal.com", Message: "the email domain looks mistyped (did you mean ada@hotmail.com?)"},
	}, res.errs)
}

// fileErrorCase is a case of TestParseFileErrors; FuzzCSV starts from
// their files and limits.
type fileErrorCase struct {
	name   string
	in     string
	limits Limits
	line   int
	msg    string
}

func fileErrorCases() []fileErrorCase {
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"
	return []fileErrorCase{
		{"empty", "", Limits{}, 0, "the file is empty (it has no rows)"},
		{"only a BOM and blank lines", "\xEF\xBB\xBF\r\n\n  \n", Limits{}, 0, "the file is empty (it has no rows)"},
		{"header only", "email,first name\n", Limits{}, 0, "the file has no rows, only a header"},
		{"header and blank rows", "email,first name\r\n,\r\n\r\n", Limits{}, 0, "the file has no rows, only a header"},
		{"no email column", "name,role\nAda,Admin\n", Limits{}, 1,
			"the file has no email column (looked for: email, e-mail, email address, mail, primary email, login, user principal name; name it with columns)"},
		{"no header at all", "ada@example.com,Ada\n", Limits{}, 1,
			"the file has no email column (looked for: email, e-mail, email address, mail, primary email, login, user principal name; name it with columns); the first line must name the columns, as in: email,first name,last name"},
		{"two email columns", "Email,name,E-mail\n", Limits{}, 1, `line 1 has two email columns ("Email" and "E-mail"): keep one, or choose one with columns`},
		{"UTF-8, then Latin-1", "email,first name\nada@example.com,Zo\xc3\xab\nbob@example.com,caf\xe9\n", Limits{}, 3,
			"line 3 is not UTF-8 though the lines before it are: save the file as UTF-8, or give its encoding (such as windows-1252)"},
		{"BOM, then Latin-1", "\xEF\xBB\xBFemail,first name\nbob@example.com,caf\xe9\n", Limits{}, 2,
			"line 2 is not UTF-8 though the lines before it are: save the file as UTF-8, or give its encoding (such as windows-1252)"},
		{"UTF-16 without an email column", "\xFF\xFEe\x00m\x00", Limits{}, 1,
			"the file has no email column (looked for: email, e-mail, email address, mail, primary email, login, user principal name; name it with columns)"},
		{"binary", png, Limits{}, 0, "the file looks like a binary file, not CSV"},
		{"NUL after 8 KB", "email\n" + strings.Repeat("a@example.com\n", 1000) + "b@example.com\x00\n", Limits{}, 1002,
			"line 1002 holds a NUL byte: the file looks like a binary file, not CSV"},
		{"unclosed quote", "email,first name\nada@example.com,\"Ada\nbob@example.com,Bob\n", Limits{}, 2,
			"line 2 opens a quote that is never closed"},
		{"unclosed quote running away", "email,first name\nada@example.com,\"Ada\n" + strings.Repeat("bob@example.com,Bob\n", 100), Limits{MaxLineBytes: 200}, 2,
			"the row starting on line 2 is longer than 200 bytes (is a quote not closed?)"},
		{"line too long", "email,first name\nada@example.com,Ada\nbob@example.com," + strings.Repeat("b", 100) + "\n", Limits{MaxLineBytes: 100}, 3,
			"line 3 is longer than 100 bytes"},
		{"line too long (CRLF not counted)", "email\r\n" + strings.Repeat("a", 90) + "@example.com\r\n", Limits{MaxLineBytes: 102}, 0, ""},
		{"long line within the limit", "email,notes\r\nada@example.com," + strings.Repeat("n", 100_000-16) + "\r\n", Limits{MaxLineBytes: 100_000}, 0, ""},
		{"long line over the limit", "email,notes\r\nada@example.com," + strings.Repeat("n", 100_000-15) + "\r\n", Limits{MaxLineBytes: 100_000}, 2,
			"line 2 is longer than 100000 bytes"},
		{"too many rows", "email\na@example.com\nb@example.com\n\nc@example.com\nd@example.com\n", Limits{MaxRows: 3}, 6,
			"the file has more than 3 rows (line 6 is one too many): split it into smaller files"},
		{"rows at the limit", "email\na@example.com\nb@example.com\n\nc@example.com\n\n", Limits{MaxRows: 3}, 0, ""},
		{"too large", "email\n" + strings.Repeat("a@example.com\n", 100), Limits{MaxBytes: 1000}, 0, "the file is larger than 1000 bytes"},
		{"too large (MB)", "email\n" + strings.Repeat("a@example.com\n", 100), Limits{MaxBytes: 3 << 20}, 0, ""},
		{"bad sep line", "sep=|\nemail\n", Limits{}, 1, `line 1 asks for the separator '|': use a comma or a semicolon`},
	}
}

func TestParseFileErrors(t *testing.T) {
	for _, c := range fileErrorCases() {
		t.Run(c.name, func(t *testing.T) {
			res := parseCSV(c.in, c.limits, Checks{})
			if c.msg == "" {
				// Control case: just within a limit.
				require.NoError(t, res.err)
				return
			}
			fe := fileErr(t, res.err)
			assert.Equal(t, &FileError{Line: c.line, Message: c.msg}, fe)
			assert.Equal(t, c.msg, fe.Error())
		})
	}
}

// readCounter counts the bytes read from r.
type readCounter struct {
	r io.Reader
	n int64
}

func (c *readCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func TestParseStreams(t *testing.T) {
	t.Run("a 5 MB single line", func(t *testing.T) {
		data := bytes.Repeat([]byte("a"), 5<<20)
		src := &readCounter{r: bytes.NewReader(data)}
		began := time.Now()
		_, err := Parse(src, DefaultLimits(), Checks{}, nil, nil)
		assert.Less(t, time.Since(began), time.Second)
		assert.Equal(t, &FileError{Line: 1, Message: "line 1 is longer than 64 KB"}, fileErr(t, err))
		assert.Less(t, src.n, int64(256<<10), "read far beyond the line limit")
	})
	t.Run("a 5 MB data line", func(t *testing.T) {
		data := "email,first name\nada@example.com," + strings.Repeat("a", 5<<20) + "\n"
		_, err := Parse(strings.NewReader(data), DefaultLimits(), Checks{}, nil, nil)
		assert.Equal(t, &FileError{Line: 2, Message: "line 2 is longer than 64 KB"}, fileErr(t, err))
	})
	t.Run("an endless file stops at MaxBytes", func(t *testing.T) {
		src := &readCounter{r: &endlessCSV{}}
		stats, err := Parse(src, Limits{MaxBytes: 1 << 20}, Checks{}, nil, nil)
		assert.Equal(t, &FileError{Message: "the file is larger than 1 MB"}, fileErr(t, err))
		assert.Equal(t, int64(1<<20+1), src.n)
		assert.Greater(t, stats.Rows, 10_000, "rows before the limit are reported")
	})
	t.Run("rows are reported as they are read", func(t *testing.T) {
		in := "email,first name\nada@example.com,Zo\xc3\xab\nbob@example.com,Bob\ncaf\xe9@example.com,X\n"
		res := parseCSV(in, Limits{}, Checks{})
		assert.Len(t, res.rows, 2) // callers discard them: the file is refused
		assert.Equal(t, 2, res.stats.Rows)
		assert.Equal(t, 4, fileErr(t, res.err).Line)
	})
}

// endlessCSV is a header followed by distinct rows forever.
type endlessCSV struct {
	pending []byte
	n       int
}

func (e *endlessCSV) Read(b []byte) (int, error) {
	for len(e.pending) < len(b) {
		if e.n == 0 {
			e.pending = append(e.pending, "email,first name\n"...)
		}
		e.n++
		e.pending = fmt.Appendf(e.pending, "person%d@example.com,Person\n", e.n)
	}
	n := copy(b, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

func TestParseMaxBytesBoundary(t *testing.T) {
	in := "email\r\nada@example.com\r\n"
	res := parseCSV(in, Limits{MaxBytes: int64(len(in))}, Checks{})
	require.NoError(t, res.err)
	require.Len(t, res.rows, 1)
	res = parseCSV(in, Limits{MaxBytes: int64(len(in) - 1)}, Checks{})
	assert.Equal(t, &FileError{Message: fmt.Sprintf("the file is larger than %d bytes", len(in)-1)}, fileErr(t, res.err))
}

func TestParseCallbackErrors(t *testing.T) {
	stop := errors.New("stop")
	in := "email\nada@example.com\nbad\nbob@example.com\n"
	stats, err := Parse(strings.NewReader(in), Limits{}, Checks{}, func(Row) error { return stop }, nil)
	require.ErrorIs(t, err, stop)
	assert.Equal(t, Stats{Rows: 1, Valid: 1, Delimiter: ',', Encoding: "UTF-8"}, stats)

	stats, err = Parse(strings.NewReader(in), Limits{}, Checks{}, nil, func(RowError) error { return stop })
	require.ErrorIs(t, err, stop)
	assert.Equal(t, Stats{Rows: 2, Valid: 1, Rejected: 1, Delimiter: ',', Encoding: "UTF-8"}, stats)

	failing := io.MultiReader(strings.NewReader("email\nada@example.com\n"), iotestErrReader{})
	_, err = Parse(failing, Limits{}, Checks{}, nil, nil)
	require.ErrorIs(t, err, errRead)
	var fe *FileError
	assert.False(t, errors.As(err, &fe))
}

var errRead = errors.New("connection reset")

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errRead }

func TestDefaultLimits(t *testing.T) {
	assert.Equal(t, Limits{MaxBytes: 50 << 20, MaxRows: 1_000_000, MaxLineBytes: 64 << 10}, DefaultLimits())
	assert.Equal(t, DefaultLimits(), Limits{MaxRows: -1}.withDefaults())
	assert.Equal(t, "50 MB", formatSize(50<<20))
	assert.Equal(t, "1.5 MB", formatSize(3<<19))
	assert.Equal(t, "1,000,000", groupDigits(1_000_000))
	assert.Equal(t, "999", groupDigits(999))
}

// csv100k returns a 100,000-row file with every column filled.
func csv100k() []byte {
	var b bytes.Buffer
	b.WriteString("email,first name,last name,username,role,products\r\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "Person.%d@Example.com,First%d,\"Last, %d\",user%d,Member,crm|hr\r\n", i, i, i, i)
	}
	return b.Bytes()
}

func TestParse100k(t *testing.T) {
	data := csv100k()
	began := time.Now()
	stats, err := Parse(bytes.NewReader(data), Limits{}, Checks{}, func(Row) error { return nil }, nil)
	t.Logf("100,000 rows (%d bytes) in %v", len(data), time.Since(began))
	require.NoError(t, err)
	assert.Equal(t, Stats{Rows: 100_000, Valid: 100_000, Delimiter: ',', Encoding: "UTF-8"}, stats)
}

func BenchmarkParse100k(b *testing.B) {
	data := csv100k()
	checks := Checks{Role: func(string) bool { return true }, Product: func(string) bool { return true }}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		stats, err := Parse(bytes.NewReader(data), Limits{}, checks, func(Row) error { return nil }, nil)
		if err != nil || stats.Valid != 100_000 {
			b.Fatal(stats, err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
