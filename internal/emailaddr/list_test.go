package emailaddr

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ok is a valid entry without name or suggestion.
func ok(addr string) Entry {
	return Entry{Input: addr, Address: addr, Normalized: strings.ToLower(addr)}
}

// bad is an invalid entry.
func bad(input string, reason Error) Entry {
	return Entry{Input: input, Reason: reason.Error()}
}

// parseListCase is a case of TestParseList; FuzzParseList starts from
// their inputs.
type parseListCase struct {
	name string
	in   []string
	want []Entry
}

func parseListCases() []parseListCase {
	return []parseListCase{
		{"nothing", nil, nil},
		{"only separators and spaces", []string{" , ;\t\n\r\n ", ""}, nil},
		{"one", []string{"  ada@example.com  "}, []Entry{ok("ada@example.com")}},
		{
			"every separator",
			[]string{"a@example.com,b@example.com;c@example.com\td@example.com\ne@example.com\r\nf@example.com"},
			[]Entry{ok("a@example.com"), ok("b@example.com"), ok("c@example.com"), ok("d@example.com"), ok("e@example.com"), ok("f@example.com")},
		},
		{
			"several inputs, empty pieces",
			[]string{"a@example.com,, ;", "", "\n\nb@example.com\n"},
			[]Entry{ok("a@example.com"), ok("b@example.com")},
		},
		{
			"name form",
			[]string{"Ada Lovelace <ada@example.com>"},
			[]Entry{{Input: "Ada Lovelace <ada@example.com>", Name: "Ada Lovelace", Address: "ada@example.com", Normalized: "ada@example.com"}},
		},
		{
			"quoted name with comma",
			[]string{`"Lovelace, Ada" <ada@example.com>, bob@example.com`},
			[]Entry{
				{Input: `"Lovelace, Ada" <ada@example.com>`, Name: "Lovelace, Ada", Address: "ada@example.com", Normalized: "ada@example.com"},
				ok("bob@example.com"),
			},
		},
		{
			"quoted name with semicolon and escaped quote",
			[]string{`"Ada \"Countess\"; Lovelace"<Ada@Example.com>;bob@example.com`},
			[]Entry{
				{Input: `"Ada \"Countess\"; Lovelace"<Ada@Example.com>`, Name: `Ada "Countess"; Lovelace`, Address: "Ada@Example.com", Normalized: "ada@example.com"},
				ok("bob@example.com"),
			},
		},
		{
			"unquoted comma before name form",
			[]string{"Lovelace, Ada <ada@example.com>, Hopper, Grace, Dr <grace@example.com>"},
			[]Entry{
				{Input: "Lovelace, Ada <ada@example.com>", Name: "Lovelace, Ada", Address: "ada@example.com", Normalized: "ada@example.com"},
				{Input: "Hopper, Grace, Dr <grace@example.com>", Name: "Hopper, Grace, Dr", Address: "grace@example.com", Normalized: "grace@example.com"},
			},
		},
		{
			"words not followed by a name form stay pieces",
			[]string{"Lovelace, Ada, ada@example.com", "Grace,\nHopper <grace@example.com>"},
			[]Entry{
				bad("Lovelace", ErrInvalid), bad("Ada", ErrInvalid), ok("ada@example.com"),
				bad("Grace", ErrInvalid),
				{Input: "Hopper <grace@example.com>", Name: "Hopper", Address: "grace@example.com", Normalized: "grace@example.com"},
			},
		},
		{
			"angle address without name, quoted address, name equal to address",
			[]string{`<ada@example.com>`, `"bob@example.com"`, `'carol@example.com' <carol@example.com>`},
			[]Entry{
				{Input: "<ada@example.com>", Address: "ada@example.com", Normalized: "ada@example.com"},
				{Input: `"bob@example.com"`, Address: "bob@example.com", Normalized: "bob@example.com"},
				{Input: `'carol@example.com' <carol@example.com>`, Address: "carol@example.com", Normalized: "carol@example.com"},
			},
		},
		{
			"unclosed quote does not swallow the list",
			[]string{`"Ada, ada@example.com, bob@example.com`},
			[]Entry{bad(`"Ada`, ErrInvalid), ok("ada@example.com"), ok("bob@example.com")},
		},
		{
			"duplicates differing in case: first wins",
			[]string{"Ada@Example.com, ada@example.com", "Ada L <ADA@EXAMPLE.COM>\nbob@example.com"},
			[]Entry{ok("Ada@Example.com"), ok("bob@example.com")},
		},
		{
			"junk",
			[]string{"@@, ada@, <>, Ada <>, ada, @example.com, ada@localhost, ada@exa_mple.com, Ada <ada@example.com, a b@example.com"},
			[]Entry{
				bad("@@", ErrInvalid), bad("ada@", ErrInvalid), bad("<>", ErrInvalid), bad("Ada <>", ErrInvalid),
				bad("ada", ErrInvalid), bad("@example.com", ErrInvalid), bad("ada@localhost", ErrDomain),
				bad("ada@exa_mple.com", ErrDomain), bad("Ada <ada@example.com", ErrInvalid), bad("a b@example.com", ErrInvalid),
			},
		},
		{
			"invalid pieces are de-duplicated by input",
			[]string{"junk, junk; JUNK", "junk"},
			[]Entry{bad("junk", ErrInvalid), bad("JUNK", ErrInvalid)},
		},
		{
			"too long",
			[]string{strings.Repeat("a", 250) + "@example.com", strings.Repeat("N", MaxNameLength+1) + " <ada@example.com>"},
			[]Entry{
				bad(strings.Repeat("a", 250)+"@example.com", ErrTooLong),
				bad(strings.Repeat("N", MaxNameLength+1)+" <ada@example.com>", ErrNameTooLong),
			},
		},
		{
			// The length of a display name is in characters: at the limit
			// in three-byte characters it is kept, one more is refused.
			"too long in characters, not bytes",
			[]string{strings.Repeat("名", MaxNameLength) + " <ada@example.com>", strings.Repeat("名", MaxNameLength+1) + " <bob@example.com>"},
			[]Entry{
				{Input: strings.Repeat("名", MaxNameLength) + " <ada@example.com>", Name: strings.Repeat("名", MaxNameLength), Address: "ada@example.com", Normalized: "ada@example.com"},
				bad(strings.Repeat("名", MaxNameLength+1)+" <bob@example.com>", ErrNameTooLong),
			},
		},
		{
			"typos: valid address with suggestion, invalid one fixed by it",
			[]string{"ada@gmial.com, Bob <bob@Hotmial.com>, carol@gmailcom, dan@example.com"},
			[]Entry{
				{Input: "ada@gmial.com", Address: "ada@gmial.com", Normalized: "ada@gmial.com", Suggestion: "ada@gmail.com"},
				{Input: "Bob <bob@Hotmial.com>", Name: "Bob", Address: "bob@Hotmial.com", Normalized: "bob@hotmial.com", Suggestion: "bob@hotmail.com"},
				{Input: "carol@gmailcom", Reason: ErrDomain.Error(), Suggestion: "carol@gmail.com"},
				ok("dan@example.com"),
			},
		},
		{
			"hostile characters in addresses and names",
			[]string{"ada\x1b@example.com, bob\u202E@example.com\nAda\aL <ada@example.com>, \"Bob\u200B\" <bob@example.com>, c\u200Cy@example.com"},
			[]Entry{
				bad("ada\x1b@example.com", "email address contains a control character (U+001B)"),
				bad("bob\u202E@example.com", "email address contains a bidirectional control character (U+202E)"),
				bad("Ada\aL <ada@example.com>", "display name contains a control character (U+0007)"),
				bad("\"Bob\u200B\" <bob@example.com>", "display name contains an invisible character (U+200B)"),
				bad("c\u200Cy@example.com", "email address contains an invisible character (U+200C)"),
			},
		},
		{
			"joiners stay in names, other scripts pass",
			[]string{"علی\u200Cرضا <ali@example.com>; क्\u200Dष <ksha@example.com>; Zoë José <zoe@example.com>"},
			[]Entry{
				{Input: "علی\u200Cرضا <ali@example.com>", Name: "علی\u200Cرضا", Address: "ali@example.com", Normalized: "ali@example.com"},
				{Input: "क्\u200Dष <ksha@example.com>", Name: "क्\u200Dष", Address: "ksha@example.com", Normalized: "ksha@example.com"},
				{Input: "Zoë José <zoe@example.com>", Name: "Zoë José", Address: "zoe@example.com", Normalized: "zoe@example.com"},
			},
		},
		{
			"a byte order mark starting an input is dropped, one inside is not",
			[]string{"\uFEFFada@example.com,\uFEFFbob@example.com"},
			[]Entry{ok("ada@example.com"), bad("\uFEFFbob@example.com", "email address contains an invisible character (U+FEFF)")},
		},
		{
			"no suggestion carries a refused character",
			[]string{"ada\u202E@gmial.com"},
			[]Entry{bad("ada\u202E@gmial.com", "email address contains a bidirectional control character (U+202E)")},
		},
	}
}

func TestParseList(t *testing.T) {
	for _, c := range parseListCases() {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, ParseList(c.in))
		})
	}
}

func TestParseListLarge(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		entries int
		reason  string // of the first entry
	}{
		{"10,000 duplicates", strings.Repeat("Ada@Example.com\n", 10_000), 1, ""},
		{"10,000 distinct", distinct(10_000), 10_000, ""},
		{"1 MB address", strings.Repeat("a", 1<<20) + "@example.com", 1, ErrTooLong.Error()},
		{"1 MB name", strings.Repeat("a", 1<<20) + " <ada@example.com>", 1, ErrNameTooLong.Error()},
		{"1 MB of duplicates", strings.Repeat("ada@example.com, ", (1<<20)/17), 1, ""},
		{"1 MB of words", strings.Repeat("a,", 1<<19), 1, ErrInvalid.Error()},
		{"1 MB of words then a name form", strings.Repeat("a, ", 1<<18) + "b <ada@example.com>", 1, ErrNameTooLong.Error()},
		{"1 MB of quotes", strings.Repeat(`"`, 1<<20), 1, ErrTooLong.Error()},
		{"1 MB of escaped quotes", strings.Repeat(`\"`, 1<<19) + " <ada@example.com>", 1, ErrNameTooLong.Error()},
		{"1 MB of quoted names", strings.Repeat(`"a,b" <`, 1<<17), 1, ErrInvalid.Error()},
		{"1 MB of angle brackets", strings.Repeat("<", 1<<20), 1, ErrInvalid.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got := ParseList([]string{c.in})
			require.Less(t, time.Since(start), 5*time.Second)
			require.Len(t, got, c.entries)
			require.Equal(t, c.reason, got[0].Reason)
		})
	}
}

// distinct returns n different addresses, one per line.
func distinct(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("user" + strconv.Itoa(i) + "@example.com\n")
	}
	return b.String()
}

func TestSuggest(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ada@gmial.com", "ada@gmail.com"},
		{"ada@gmai.com", "ada@gmail.com"},
		{"ada@gamil.com", "ada@gmail.com"},
		{"Ada.L@GMIAL.COM", "Ada.L@gmail.com"},
		{"ada@gmail.con", "ada@gmail.com"},
		{"ada@gmail.cmo", "ada@gmail.com"},
		{"ada@gmial.con", "ada@gmail.com"},
		{"ada@gmailcom", "ada@gmail.com"},
		{"ada@hotmial.com", "ada@hotmail.com"},
		{"ada@hotmal.com", "ada@hotmail.com"},
		{"ada@hotmaill.co.uk", "ada@hotmail.co.uk"},
		{"ada@hotmial.fr", "ada@hotmail.fr"},
		{"ada@yaho.com", "ada@yahoo.com"},
		{"ada@yahooo.com", "ada@yahoo.com"},
		{"ada@yaho.co.uk", "ada@yahoo.co.uk"},
		{"ada@outlok.com", "ada@outlook.com"},
		{"ada@iclud.com", "ada@icloud.com"},
		{"ada@aol.con", "ada@aol.com"},
		{"ada@comcast.nte", "ada@comcast.net"},
		{" ada@protonmial.com ", "ada@protonmail.com"},

		// No suggestion: common domains, other real domains, short names.
		{"ada@example.com", ""},
		{"ada@gmail.com", ""},
		{"ada@GMail.com", ""},
		{"ada@yahoo.co.uk", ""},
		{"ada@googlemail.com", ""},
		{"ada@yahoo.co", ""},
		{"ada@gmail.co", ""},
		{"ada@gmail.cm", ""},
		{"ada@ymail.com", ""},
		{"ada@email.com", ""},
		{"ada@cloud.com", ""},
		{"ada@gm.com", ""},
		{"ada@col.com", ""},
		{"ada@love.com", ""},
		{"ada@gmx.net", ""},
		{"ada@hotmail.de", ""},
		{"ada@horizon.net", ""},
		{"ada@podcast.net", ""},
		{"ada@tahoe.com", ""},
		{"ada@mail.example.com", ""},

		// No suggestion: not an address, or the fix would still be invalid.
		{"", ""},
		{"gmial.com", ""},
		{"@gmial.com", ""},
		{"ada@", ""},
		{"a b@gmial.com", ""},
		{"Ada <ada@gmial.com>", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			require.Equal(t, c.want, Suggest(c.in))
		})
	}
}

func TestOSADistance(t *testing.T) {
	cases := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"gmail", "gmail", 2, 0},
		{"gmial", "gmail", 2, 1},
		{"gamil", "gmail", 2, 1},
		{"gmai", "gmail", 2, 1},
		{"hotmal", "hotmail", 2, 1},
		{"hotmai", "hotmail", 2, 1},
		{"hotmial", "hotmail", 2, 1},
		{"homtial", "hotmail", 2, 2},
		{"ca", "abc", 3, 3}, // OSA, not unrestricted Damerau-Levenshtein (2)
		{"example", "gmail", 2, 3},
		{"xyzxyzxyz", "gmail", 2, 3},
	}
	for _, c := range cases {
		require.Equal(t, c.want, osaDistance(c.a, c.b, c.limit), "%s/%s", c.a, c.b)
	}
}

func BenchmarkParseList(b *testing.B) {
	in := []string{distinct(1000)}
	for b.Loop() {
		ParseList(in)
	}
}
