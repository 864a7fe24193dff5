package importer

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/rollcall/rollcall/internal/plaintext"
)

// Field is a value a row may give.
type Field int

// The fields, in the order of Parse's checks.
const (
	FieldEmail Field = iota
	FieldFirstName
	FieldLastName
	FieldUsername
	FieldRole
	FieldProducts
	FieldLocale
	numFields
)

var fieldNames = [numFields]string{"email", "first name", "last name", "username", "role", "products", "locale"}

// fieldIgnore is a column the columns mapping tells the importer to skip.
const fieldIgnore Field = -1

// FieldNames are the names a Column's Field takes, as the GraphQL enum
// ImportField spells them; IGNORE skips the column.
var mappingFields = map[string]Field{
	"EMAIL": FieldEmail, "FIRST_NAME": FieldFirstName, "LAST_NAME": FieldLastName, "USERNAME": FieldUsername,
	"ROLE": FieldRole, "PRODUCTS": FieldProducts, "LOCALE": FieldLocale, "IGNORE": fieldIgnore,
}

// MaxColumns bounds the entries of a columns mapping.
const MaxColumns = 1000

// Column maps one of the file's columns, by its header, to a field: EMAIL,
// FIRST_NAME, LAST_NAME, USERNAME, ROLE, PRODUCTS, LOCALE, or IGNORE to
// skip it.
type Column struct {
	Header string
	Field  string
}

// InputError refuses an argument of the import (the encoding, the columns
// mapping) before anything is imported.
type InputError struct {
	Field   string // the argument: "encoding" or "columns"
	Message string
}

// Error returns the message.
func (e *InputError) Error() string { return e.Message }

// mapping is a checked columns mapping.
type mapping struct {
	headers []string // trimmed, as given
	fields  []Field
	named   [numFields]bool // fields the mapping gives a column
}

// CheckColumns checks a columns mapping on its own: each header given once
// and not blank, each field known and given at most once (IGNORE any number
// of times), at most MaxColumns entries. Whether the headers are in the file
// is checked when its header line is read.
func CheckColumns(cols []Column) error {
	_, err := checkColumns(cols)
	return err
}

func checkColumns(cols []Column) (*mapping, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return &InputError{Field: "columns", Message: fmt.Sprintf(format, args...)}
	}
	if len(cols) > MaxColumns {
		return nil, bad("columns maps %d columns; at most %d can be mapped", len(cols), MaxColumns)
	}
	m := &mapping{}
	var given [numFields]string
	for _, c := range cols {
		h := strings.TrimSpace(c.Header)
		if h == "" {
			return nil, bad("columns: a header is blank; give each column's name as the file's first line writes it")
		}
		shown := visible(h)
		f, ok := mappingFields[strings.ToUpper(strings.TrimSpace(c.Field))]
		if !ok {
			return nil, bad("columns: %q is not a field (for the column %q): use EMAIL, FIRST_NAME, LAST_NAME, USERNAME, ROLE, PRODUCTS, LOCALE or IGNORE",
				visible(c.Field), shown)
		}
		if slices.ContainsFunc(m.headers, func(o string) bool { return strings.EqualFold(o, h) }) {
			return nil, bad("columns: the column %q is mapped twice", shown)
		}
		if f != fieldIgnore {
			if given[f] != "" {
				return nil, bad("columns: the columns %q and %q are both mapped to %s: map one", visible(given[f]), shown, strings.ToUpper(strings.ReplaceAll(fieldNames[f], " ", "_")))
			}
			given[f] = h
			m.named[f] = true
		}
		m.headers = append(m.headers, h)
		m.fields = append(m.fields, f)
	}
	return m, nil
}

// visible clips s and writes the characters the text rule refuses as
// <U+XXXX>, for a message.
func visible(s string) string {
	return clipEmail(plaintext.Visible(plaintext.Name, strings.ToValidUTF8(s, "\uFFFD")))
}

// alias is a header a field is detected by. Of the columns of one field,
// the lowest rank is read first and the others fill its empty cells; two
// columns of the same field and rank are an error.
type alias struct {
	field  Field
	signIn bool // a sign-in name: an address there is the email, anything else the username
	rank   int
}

// aliases maps header names, as headerKey writes them, to fields: Rollcall's
// own export and the user exports of Google Workspace ("Email Address
// [Required]"), Microsoft 365 ("User principal name", "First name"),
// Microsoft Entra ("userPrincipalName", "givenName", "surname", "mail",
// "preferredLanguage") and Okta ("login", "firstName", "lastName", "email",
// "locale", "preferredLanguage").
var aliases = map[string]alias{
	"email": {field: FieldEmail}, "emailaddress": {field: FieldEmail},
	"mail": {field: FieldEmail, rank: 1}, "primaryemail": {field: FieldEmail, rank: 1},
	"login":             {signIn: true},
	"userprincipalname": {signIn: true, rank: 1}, "upn": {signIn: true, rank: 1},
	"firstname": {field: FieldFirstName}, "givenname": {field: FieldFirstName}, "forename": {field: FieldFirstName},
	"lastname": {field: FieldLastName}, "surname": {field: FieldLastName}, "familyname": {field: FieldLastName},
	"username": {field: FieldUsername},
	"role":     {field: FieldRole},
	"products": {field: FieldProducts}, "product": {field: FieldProducts},
	"locale": {field: FieldLocale}, "language": {field: FieldLocale}, "lang": {field: FieldLocale},
	"preferredlanguage": {field: FieldLocale, rank: 1},
}

// lookupAlias finds the field of a header. A bracketed part is read first
// when it names a field (Entra's "First name [givenName]"), else dropped
// (Google's "First Name [Required]"); a "profile." prefix (Okta's profile
// attributes) and a trailing "*" are dropped.
func lookupAlias(header string) (alias, bool) {
	h := strings.TrimSpace(header)
	var outside strings.Builder
	for {
		open := strings.IndexByte(h, '[')
		end := strings.IndexByte(h[max(open, 0):], ']')
		if open < 0 || end < 0 {
			outside.WriteString(h)
			break
		}
		end += open
		if a, ok := aliases[headerKey(h[open+1:end])]; ok {
			return a, true
		}
		outside.WriteString(h[:open])
		outside.WriteByte(' ')
		h = h[end+1:]
	}
	key := headerKey(outside.String())
	key = strings.TrimPrefix(key, "profile.")
	key = strings.TrimRight(key, "*")
	a, ok := aliases[key]
	return a, ok
}

// headerKey lower-cases a header name and drops spaces, underscores and
// dashes.
func headerKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '\t':
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(s))
}

// candidate is a column found for a field.
type candidate struct {
	col, rank int
}

// assignColumns reads the header: each field's columns (the mapping's
// first, then the detected ones by rank), the sign-in columns, and the
// names of the columns nothing reads.
func (p *csvParser) assignColumns(start int, header []string) error {
	var found [numFields][]candidate
	var signIn []candidate
	mapped := map[int]Field{}
	if m := p.mapping; m != nil {
		for i, h := range m.headers {
			col := -1
			for j, name := range header {
				if strings.EqualFold(strings.TrimSpace(name), h) {
					if col >= 0 {
						return &InputError{Field: "columns", Message: fmt.Sprintf("columns: the file has two columns named %q", visible(h))}
					}
					col = j
				}
			}
			if col < 0 {
				return &InputError{Field: "columns", Message: fmt.Sprintf("columns: the file has no column %q (its columns: %s)", visible(h), p.headerList(header))}
			}
			mapped[col] = m.fields[i]
		}
	}
	for i, name := range header {
		if f, ok := mapped[i]; ok {
			if f != fieldIgnore {
				found[f] = append(found[f], candidate{col: i, rank: -1})
			}
			continue
		}
		a, ok := lookupAlias(name)
		switch {
		case !ok:
		case a.signIn:
			if p.mapping == nil || (!p.mapping.named[FieldEmail] && !p.mapping.named[FieldUsername]) {
				signIn = append(signIn, candidate{col: i, rank: a.rank})
			}
		case p.mapping == nil || !p.mapping.named[a.field]:
			found[a.field] = append(found[a.field], candidate{col: i, rank: a.rank})
		}
	}
	order := func(what string, cands []candidate) ([]int, error) {
		slices.SortStableFunc(cands, func(a, b candidate) int { return a.rank - b.rank })
		cols := make([]int, len(cands))
		for k, c := range cands {
			if k > 0 && cands[k-1].rank == c.rank {
				return nil, &FileError{Line: start, Message: fmt.Sprintf(
					"line %d has two %s columns (%q and %q): keep one, or choose one with columns",
					start, what, visible(strings.TrimSpace(header[cands[k-1].col])), visible(strings.TrimSpace(header[c.col])))}
			}
			cols[k] = c.col
		}
		return cols, nil
	}
	used := make([]bool, len(header))
	for f := range found {
		cols, err := order(fieldNames[f], found[f])
		if err != nil {
			return err
		}
		p.cols[f] = cols
		for _, c := range cols {
			used[c] = true
		}
	}
	cols, err := order("sign-in name", signIn)
	if err != nil {
		return err
	}
	p.signIn = cols
	for _, c := range cols {
		used[c] = true
	}
	for i, name := range header {
		if used[i] {
			continue
		}
		name = strings.TrimSpace(name)
		if name == "" {
			name = fmt.Sprintf("(column %d)", i+1)
		}
		p.stats.IgnoredColumns = append(p.stats.IgnoredColumns, visible(name))
	}
	return nil
}

// headerList names the file's columns for a message, the first 20.
func (p *csvParser) headerList(header []string) string {
	names := make([]string, 0, min(len(header), 20))
	for _, h := range header[:min(len(header), 20)] {
		names = append(names, fmt.Sprintf("%q", visible(strings.TrimSpace(h))))
	}
	s := strings.Join(names, ", ")
	if len(header) > 20 {
		s += fmt.Sprintf(" and %d more", len(header)-20)
	}
	return s
}

// cells reads a record's fields: for each field, the first column of it
// with a non-empty cell (trimmed, the export's formula guard taken off);
// then a sign-in name gives the email when the row has none if it holds an
// @, else the username when the row has none.
func (p *csvParser) cells(fields []string) (cells [numFields]string) {
	first := func(cols []int) string {
		for _, i := range cols {
			if i < len(fields) {
				if v := Unguard(strings.TrimSpace(fields[i])); v != "" {
					return v
				}
			}
		}
		return ""
	}
	for f, cols := range p.cols {
		cells[f] = first(cols)
	}
	if s := first(p.signIn); s != "" {
		switch {
		case strings.Contains(s, "@"):
			if cells[FieldEmail] == "" {
				cells[FieldEmail] = s
			}
		case cells[FieldUsername] == "":
			cells[FieldUsername] = s
		}
	}
	return cells
}
