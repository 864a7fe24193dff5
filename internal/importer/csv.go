package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/personname"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/username"
)

// Lengths of the values a row may hold, in characters (runes).
const (
	MaxNameLength     = personname.MaxLength // first name, last name (the rule is personname's)
	MinUsernameLength = username.MinLength
	MaxUsernameLength = username.MaxLength
	MaxRoleLength     = 100
	MaxProductLength  = 100
)

// maxErrorEmailBytes bounds the address a RowError repeats.
const maxErrorEmailBytes = 320

// binarySniffBytes is how much of the file is looked at for NUL bytes.
const binarySniffBytes = 8 << 10

// readBufferBytes is the read buffer; lines longer than it are gathered in a
// separate buffer, up to Limits.MaxLineBytes.
const readBufferBytes = 64 << 10

// Limits bound a CSV file. A zero or negative field takes its default.
type Limits struct {
	MaxBytes     int64 // whole file; default 50 MB
	MaxRows      int   // data rows; default 1,000,000
	MaxLineBytes int   // one physical line, and one record; default 64 KB
}

// DefaultLimits returns the limits used when none are configured.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 50 << 20, MaxRows: 1_000_000, MaxLineBytes: 64 << 10}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = d.MaxRows
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	return l
}

// Row is one valid data row. Empty cells are nil: "keep the stored value".
type Row struct {
	Line                          int    // physical line where the record starts (header = line 1)
	Email                         string // as written (trimmed)
	Normalized                    string // lower-cased
	FirstName, LastName, Username *string
	Role                          *string  // role name as written, nil when empty
	Products                      []string // nil when the cell is empty or the column is absent; split on '|', trimmed, empty parts dropped, de-duplicated case-insensitively (the first spelling stays)
	Locale                        *string  // a BCP 47 tag in canonical form (locale.Parse), nil when empty
}

// RowError is one rejected row.
type RowError struct {
	Line    int
	Email   string // as written, possibly "" or invalid, with characters the text rule refuses written as <U+XXXX> (plaintext.Visible); clipped to 320 bytes
	Message string
}

// FileError refuses the whole file: not UTF-8, no email column, over a
// limit, empty, binary, malformed CSV. Message is a sentence for the admin
// and names the line itself when there is one.
type FileError struct {
	Line    int // 0 when not about a line
	Message string
}

// Error returns the message.
func (e *FileError) Error() string { return e.Message }

// Checks validate values that depend on the organisation; nil funcs accept anything.
type Checks struct {
	Role    func(name string) bool // known role (case-insensitive is up to the caller)
	Product func(name string) bool // enabled product
}

// Stats counts what Parse read. Rows = Valid + Rejected; blank rows are not
// counted.
type Stats struct {
	Rows, Valid, Rejected int
	Delimiter             rune
	Encoding              string   // what the file was read as: UTF-8, windows-1252, ISO-8859-1, UTF-16LE or the encoding given
	IgnoredColumns        []string // header names of the columns no field reads, in file order (a blank one as "(column N)")
}

// Options say how to read a file. The zero value detects the encoding and
// the columns.
type Options struct {
	Limits   Limits
	Checks   Checks
	Encoding string   // "" detects; else a name LookupEncoding knows
	Columns  []Column // explicit columns for the fields they name; detection finds the others
}

// Parse streams r, calling row for each valid row and rowErr for each
// rejected one, in file order (nil callbacks are skipped). It returns a
// *FileError when the file as a whole is refused (then some rows may already
// have been reported: callers of a refused file must discard what they
// collected), any error returned by a callback as is, and read errors of r.
//
// The file is UTF-8 (with or without a byte order mark), UTF-16 with a byte
// order mark, or Windows-1252/ISO-8859-1: the first line that is not ASCII
// decides (setSource, text). The delimiter is
// found on the header line: a tab when it has more tabs than commas and
// semicolons, else ';' when it has more semicolons than commas, else ',' (an
// Excel "sep=;" first line is honoured too). Fields may be quoted, with ""
// for a quote and with delimiters and line breaks inside; lines end in LF or
// CRLF. Parsing is lenient: text after a closing quote is kept, a quote inside
// an unquoted field is an ordinary character, missing cells are empty, extra
// cells are ignored, and blank rows (also ",,,") are skipped anywhere. An
// unclosed quote refuses the file.
//
// Header names are matched case-insensitively, ignoring spaces, underscores
// and dashes (and bracketed notes, see lookupAlias): email, e-mail, email
// address, then mail, primary email; first name, given name, forename; last
// name, surname, family name; username; role; products, product; locale,
// language, lang, then preferred language; and the sign-in names login, then
// user principal name, upn, which give the email (holding an @) or the
// username of a row that has none. Of a field's columns the first non-empty
// cell is read, by rank; a cell's formula guard is taken off (Unguard). Other
// columns are ignored and named in Stats.IgnoredColumns.
//
// Rows are checked in this order, the first failure rejecting the row: the
// email is present; it is valid (emailaddr.Normalize, with emailaddr.Suggest's
// correction when there is one); its domain is not a likely typo (rejected
// with the suggestion, since admins fix typos before importing); first and
// last name follow the name rule (package personname: at most 200
// characters), the username 2 to 64 letters, digits, dots, underscores or
// dashes, the role and each product at most 100 characters; names, role and
// products hold no character the text rule refuses in names
// (package plaintext: controls such as line breaks from quoted cells,
// bidirectional controls, invisible characters); the locale is a known BCP
// 47 tag (locale.Parse; stored canonical, so pt-br is pt-BR); the role and
// products pass checks; the address (compared
// lower-cased) was not on an earlier row. That earlier row owns the address
// even if it was rejected for another reason: of two rows for one address,
// the later one is the error, "duplicate of line N".
//
// Memory stays flat: the file is read line by line through a fixed buffer,
// and only a map of the addresses seen (for duplicates) grows with the rows.
func Parse(r io.Reader, limits Limits, checks Checks, row func(Row) error, rowErr func(RowError) error) (Stats, error) {
	return ParseWith(r, Options{Limits: limits, Checks: checks}, row, rowErr)
}

// ParseWith is Parse with an encoding and a columns mapping (opts). A bad
// encoding name or mapping, or a mapped header the file lacks, is an
// *InputError, before any row is reported.
func ParseWith(r io.Reader, opts Options, row func(Row) error, rowErr func(RowError) error) (Stats, error) {
	limits := opts.Limits.withDefaults()
	p := &csvParser{
		limits:  limits,
		checks:  opts.Checks,
		onRow:   row,
		onError: rowErr,
		seen:    make(map[string]int),
	}
	enc, name, err := LookupEncoding(opts.Encoding)
	if err != nil {
		return p.stats, err
	}
	if p.mapping, err = checkColumns(opts.Columns); err != nil {
		return p.stats, err
	}
	cr := &countingReader{r: r, max: limits.MaxBytes}
	if err := p.setSource(bufio.NewReaderSize(cr, readBufferBytes), enc, name); err != nil {
		return p.stats, err
	}
	err = p.run()
	p.stats.Encoding = p.encodingRead()
	return p.stats, err
}

// errTooLarge is returned by countingReader past its limit.
var errTooLarge = errors.New("file too large")

// countingReader reads at most max bytes of r and returns errTooLarge when r
// holds more.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	if c.n > c.max {
		return 0, errTooLarge
	}
	if rest := c.max + 1 - c.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.n > c.max {
		return n, errTooLarge
	}
	return n, err
}

type csvParser struct {
	br      *bufio.Reader
	limits  Limits
	checks  Checks
	onRow   func(Row) error
	onError func(RowError) error
	stats   Stats

	line    int    // physical lines read so far
	lineBuf []byte // a line longer than br's buffer
	delim   byte
	recBuf  []byte   // the current record's unquoted fields, end to end
	ends    []int    // where each field ends in recBuf
	fields  []string // the current record's fields, reused

	mapping *mapping         // the columns argument, nil for none
	cols    [numFields][]int // columns of each field, the first read first
	signIn  []int            // sign-in name columns (login, user principal name)
	seen    map[string]int   // normalized address -> first line

	mode     textMode // how lines become UTF-8
	encoding string   // the encoding given or found by its byte order mark; "" while detecting
	given    bool     // the encoding was given
	c1       bool     // a legacy line used 0x80-0x9F, which only Windows-1252 prints
	decoded  []byte   // a legacy line decoded

	plainDomains map[string]bool         // domains, as written, without a suggestion
	locales      map[string]parsedLocale // locale cells, as written
}

func (p *csvParser) run() error {
	head, err := p.br.Peek(binarySniffBytes)
	switch {
	case errors.Is(err, errTooLarge):
		return p.tooLarge()
	case err != nil && err != io.EOF && err != bufio.ErrBufferFull:
		return err
	case len(head) == 0:
		return &FileError{Message: "the file is empty (it has no rows)"}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return &FileError{Line: 1, Message: fmt.Sprintf("line 1 is not %s: the file is UTF-16 (save the file as UTF-8, or leave encoding out)", p.encoding)}
	case bytes.IndexByte(head, 0) >= 0:
		return &FileError{Message: "the file looks like a binary file, not CSV"}
	}
	if err := p.readHeader(); err != nil {
		return err
	}
	for {
		line, err := p.readLine()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if len(line) == 0 {
			continue
		}
		start, fields, err := p.parseRecord(line)
		if err != nil {
			return err
		}
		if blank(fields) {
			continue
		}
		if p.stats.Rows == p.limits.MaxRows {
			return &FileError{Line: start, Message: fmt.Sprintf(
				"the file has more than %s rows (line %d is one too many): split it into smaller files",
				groupDigits(p.limits.MaxRows), start)}
		}
		p.stats.Rows++
		if err := p.handle(start, fields); err != nil {
			return err
		}
	}
	if p.stats.Rows == 0 {
		return &FileError{Message: "the file has no rows, only a header"}
	}
	return nil
}

// readHeader finds the delimiter and the columns.
func (p *csvParser) readHeader() error {
	var line []byte
	for {
		var err error
		line, err = p.readLine()
		if err == io.EOF {
			return &FileError{Message: "the file is empty (it has no rows)"}
		} else if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if p.delim == 0 && len(line) == 5 && strings.EqualFold(string(line[:4]), "sep=") {
			switch line[4] {
			case ',', ';', '\t':
				p.delim = line[4] // Excel's separator line; the header follows
				continue
			}
			return &FileError{Line: p.line, Message: fmt.Sprintf("line %d asks for the separator %q: use a comma or a semicolon", p.line, line[4])}
		}
		if bytes.HasPrefix(bytes.ToLower(line), []byte("version:v")) && bytes.IndexAny(line, ",;\t") < 0 {
			continue // the version line of Microsoft Entra's bulk templates; the header follows
		}
		break
	}
	if p.delim == 0 {
		p.delim = detectDelimiter(line)
	}
	p.stats.Delimiter = rune(p.delim)
	start, header, err := p.parseRecord(line)
	if err != nil {
		return err
	}
	if err := p.assignColumns(start, header); err != nil {
		return err
	}
	hasAt := slices.ContainsFunc(header, func(name string) bool { return strings.Contains(name, "@") })
	if len(p.cols[FieldEmail]) == 0 && len(p.signIn) == 0 {
		msg := "the file has no email column (looked for: email, e-mail, email address, mail, primary email, login, user principal name; name it with columns)"
		if hasAt {
			msg += "; the first line must name the columns, as in: email,first name,last name"
		}
		return &FileError{Line: start, Message: msg}
	}
	return nil
}

// detectDelimiter counts separators outside quotes in the header line.
func detectDelimiter(line []byte) byte {
	var commas, semicolons, tabs int
	quoted := false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			commas++
		case c == ';':
			semicolons++
		case c == '\t':
			tabs++
		}
	}
	switch {
	case tabs > commas && tabs > semicolons:
		return '\t'
	case semicolons > commas:
		return ';'
	}
	return ','
}

// readLine returns the next physical line without its LF or CRLF, valid
// until the next call, or io.EOF at the end of the file.
func (p *csvParser) readLine() ([]byte, error) {
	p.lineBuf = p.lineBuf[:0]
	var line []byte
	for {
		chunk, err := p.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			p.lineBuf = append(p.lineBuf, chunk...)
			// A CR may still precede the LF in the next chunk.
			if len(p.lineBuf) > p.limits.MaxLineBytes+1 {
				return nil, p.lineTooLong(p.line + 1)
			}
			continue
		}
		if errors.Is(err, errTooLarge) {
			return nil, p.tooLarge()
		} else if err != nil && err != io.EOF {
			return nil, err
		}
		line = chunk
		if len(p.lineBuf) > 0 {
			p.lineBuf = append(p.lineBuf, chunk...)
			line = p.lineBuf
		}
		if len(line) == 0 {
			return nil, io.EOF // err is io.EOF here
		}
		break
	}
	p.line++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	if len(line) > p.limits.MaxLineBytes {
		return nil, p.lineTooLong(p.line)
	}
	if p.line == 1 && bytes.HasPrefix(line, bom) {
		line = line[len(bom):]
		if p.mode == modeDetect {
			p.mode = modeUTF8
		}
	}
	line, err := p.text(line)
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, &FileError{Line: p.line, Message: fmt.Sprintf("line %d holds a NUL byte: the file looks like a binary file, not CSV", p.line)}
	}
	return line, nil
}

func (p *csvParser) lineTooLong(line int) error {
	return &FileError{Line: line, Message: fmt.Sprintf("line %d is longer than %s", line, formatSize(int64(p.limits.MaxLineBytes)))}
}

func (p *csvParser) tooLarge() error {
	return &FileError{Message: "the file is larger than " + formatSize(p.limits.MaxBytes)}
}

// parseRecord reads the record that begins with line (just returned by
// readLine), reading more lines while a quoted field goes on. It returns the
// line where the record starts and its fields, valid until the next call.
func (p *csvParser) parseRecord(line []byte) (int, []string, error) {
	start := p.line
	p.recBuf, p.ends = p.recBuf[:0], p.ends[:0]
	pos := 0
	for {
		q := pos
		for q < len(line) && line[q] == ' ' {
			q++
		}
		if q < len(line) && line[q] == '"' {
			pos = q + 1
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The field goes on over a line break.
					p.recBuf = append(p.recBuf, line[pos:]...)
					p.recBuf = append(p.recBuf, '\n')
					if len(p.recBuf) > p.limits.MaxLineBytes {
						return 0, nil, &FileError{Line: start, Message: fmt.Sprintf(
							"the row starting on line %d is longer than %s (is a quote not closed?)",
							start, formatSize(int64(p.limits.MaxLineBytes)))}
					}
					var err error
					if line, err = p.readLine(); err == io.EOF {
						return 0, nil, &FileError{Line: start, Message: fmt.Sprintf(
							"line %d opens a quote that is never closed", start)}
					} else if err != nil {
						return 0, nil, err
					}
					pos = 0
					continue
				}
				p.recBuf = append(p.recBuf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					p.recBuf = append(p.recBuf, '"')
					pos++
					continue
				}
				break
			}
			// Text between the closing quote and the delimiter is kept.
		}
		i := bytes.IndexByte(line[pos:], p.delim)
		if i < 0 {
			p.recBuf = append(p.recBuf, line[pos:]...)
			p.ends = append(p.ends, len(p.recBuf))
			break
		}
		p.recBuf = append(p.recBuf, line[pos:pos+i]...)
		p.ends = append(p.ends, len(p.recBuf))
		pos += i + 1
	}
	s := string(p.recBuf)
	p.fields = p.fields[:0]
	prev := 0
	for _, end := range p.ends {
		p.fields = append(p.fields, s[prev:end])
		prev = end
	}
	return start, p.fields, nil
}

func blank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// handle validates one data row and reports it.
func (p *csvParser) handle(line int, fields []string) error {
	cells := p.cells(fields)
	email := cells[FieldEmail]
	r, msg := p.validate(line, &cells)
	if msg != "" {
		p.stats.Rejected++
		if p.onError == nil {
			return nil
		}
		return p.onError(RowError{Line: line, Email: clipEmail(plaintext.Visible(plaintext.Address, email)), Message: msg})
	}
	p.stats.Valid++
	if p.onRow == nil {
		return nil
	}
	return p.onRow(r)
}

// validate returns the row, or why it is rejected: the first failure wins.
func (p *csvParser) validate(line int, cells *[numFields]string) (Row, string) {
	email := cells[FieldEmail]
	if email == "" {
		return Row{}, "email is missing"
	}
	address, normalized, err := emailaddr.Normalize(email)
	if err != nil {
		msg := err.Error()
		if s := emailaddr.Suggest(email); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		return Row{}, msg
	}
	first, dup := p.seen[normalized]
	if !dup {
		// The first row for an address owns it, valid or not. A key that
		// is the address itself points into the record: copy it so that
		// the map does not keep whole records alive.
		key := normalized
		if key == address {
			key = strings.Clone(key)
		}
		p.seen[key] = line
	}
	if s := p.suggest(address); s != "" {
		return Row{}, "the email domain looks mistyped (did you mean " + s + "?)"
	}
	r := Row{Line: line, Email: address, Normalized: normalized}
	firstName, lastName, username, role := cells[FieldFirstName], cells[FieldLastName], cells[FieldUsername], cells[FieldRole]
	if err := personname.Check(firstName); err != nil {
		return Row{}, "first name " + err.Error()
	}
	if err := personname.Check(lastName); err != nil {
		return Row{}, "last name " + err.Error()
	}
	if msg := usernameProblem(username); msg != "" {
		return Row{}, msg
	}
	if msg := checkText("role", role, MaxRoleLength); msg != "" {
		return Row{}, msg
	}
	products := splitProducts(cells[FieldProducts])
	for _, prod := range products {
		if msg := checkText("product", prod, MaxProductLength); msg != "" {
			return Row{}, msg
		}
	}
	loc, msg := p.locale(cells[FieldLocale])
	if msg != "" {
		return Row{}, msg
	}
	if role != "" && p.checks.Role != nil && !p.checks.Role(role) {
		return Row{}, fmt.Sprintf("unknown role %q", role)
	}
	if p.checks.Product != nil {
		for _, prod := range products {
			if !p.checks.Product(prod) {
				return Row{}, fmt.Sprintf("unknown product %q", prod)
			}
		}
	}
	if dup {
		return Row{}, "duplicate of line " + strconv.Itoa(first)
	}
	// One allocation holds the four optional values.
	vals := &[4]string{firstName, lastName, username, role}
	r.FirstName, r.LastName, r.Username, r.Role = orNil(&vals[0]), orNil(&vals[1]), orNil(&vals[2]), orNil(&vals[3])
	r.Products = products
	r.Locale = loc
	return r, ""
}

// maxCachedLocales bounds locale's cache.
const maxCachedLocales = 1000

// locale returns a locale cell in canonical form (nil when empty), or why it
// is refused. Files hold few locales, many times over: each is parsed once.
func (p *csvParser) locale(cell string) (*string, string) {
	if cell == "" {
		return nil, ""
	}
	parsed, seen := p.locales[cell]
	if !seen {
		tag, err := locale.Parse(cell)
		parsed = parsedLocale{tag: tag}
		if err != nil {
			parsed.problem = "locale: " + strings.TrimPrefix(err.Error(), locale.ErrInvalid.Error()+": ")
		}
		if len(p.locales) < maxCachedLocales {
			if p.locales == nil {
				p.locales = make(map[string]parsedLocale)
			}
			p.locales[strings.Clone(cell)] = parsed
		}
	}
	if parsed.problem != "" {
		return nil, parsed.problem
	}
	return &parsed.tag, ""
}

// parsedLocale is a locale cell parsed: its canonical tag, or why it is
// refused.
type parsedLocale struct{ tag, problem string }

// maxCachedDomains bounds suggest's cache.
const maxCachedDomains = 10_000

// suggest is emailaddr.Suggest for a valid address, remembering which
// domains have no suggestion: files hold few domains, many times over.
// Suggest finds nothing for any address of a domain when it finds nothing
// for a one-letter local part (a longer one can only make its proposal too
// long), so that is what is remembered.
func (p *csvParser) suggest(address string) string {
	domain := address[strings.LastIndexByte(address, '@')+1:]
	if p.plainDomains[domain] {
		return ""
	}
	s := emailaddr.Suggest(address)
	if s == "" && len(p.plainDomains) < maxCachedDomains && emailaddr.Suggest("a@"+domain) == "" {
		if p.plainDomains == nil {
			p.plainDomains = make(map[string]bool)
		}
		p.plainDomains[strings.Clone(domain)] = true
	}
	return s
}

func orNil(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}

// checkText refuses a value longer than max characters or holding a
// character the text rule refuses in names (line breaks and tabs from quoted
// cells included).
func checkText(what, s string, max int) string {
	if err := plaintext.Check(plaintext.Name, s); err != nil {
		return what + " " + err.Error()
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("%s is longer than %d characters", what, max)
	}
	return ""
}

// splitProducts splits a cell on '|', trims, drops empty parts and later
// case-insensitive repeats (the first spelling stays).
func splitProducts(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	var seen map[string]struct{} // once out is long, lower-cased names
	for s != "" {
		part, rest, _ := strings.Cut(s, "|")
		s = rest
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if seen != nil {
			key := strings.ToLower(part)
			if _, ok := seen[key]; ok {
				continue
			}
			seen[key] = struct{}{}
		} else if slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, part) }) {
			continue
		} else if out == nil {
			out = make([]string, 0, min(strings.Count(s, "|")+1, 8))
		} else if len(out) == 8 {
			seen = make(map[string]struct{})
			for _, o := range out {
				seen[strings.ToLower(o)] = struct{}{}
			}
			seen[strings.ToLower(part)] = struct{}{}
		}
		out = append(out, part)
	}
	return out
}

// clipEmail keeps at most maxErrorEmailBytes of s, cut on a character boundary.
func clipEmail(s string) string {
	if len(s) <= maxErrorEmailBytes {
		return s
	}
	s = s[:maxErrorEmailBytes]
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// formatSize writes a byte count as MB, KB or bytes.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// groupDigits writes n with thousands separators: 1,000,000.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// usernameProblem applies the username rule to a non-empty username.
func usernameProblem(s string) string {
	if s == "" {
		return ""
	}
	if err := username.Check(s); err != nil {
		return err.Error()
	}
	return ""
}
