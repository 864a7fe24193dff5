package plaintext

import (
	"errors"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		kind    Kind
		class   Class // 0: allowed
		rune    rune
		offset  int
		message string
	}{
		// Names people have.
		{name: "ASCII", in: "Ada Lovelace", kind: Name},
		{name: "empty", in: "", kind: Name},
		{name: "Latin with diacritics", in: "Zoë José Łukasz Ærøskøbing", kind: Name},
		{name: "apostrophe and hyphen", in: "O'Brien-Smith", kind: Name},
		{name: "Greek, Cyrillic, CJK", in: "Αλέξανδρος Дмитрий 山田太郎", kind: Name},
		{name: "ideographic space", in: "山田\u3000太郎", kind: Name},
		{name: "no-break space", in: "Jean\u00A0Paul", kind: Name},
		{name: "Arabic", in: "محمد عبد الله", kind: Name},
		{name: "Hebrew", in: "דוד כהן", kind: Name},
		{name: "Persian with ZWNJ", in: "علی\u200Cرضا", kind: Name},
		{name: "Hindi with ZWNJ", in: "क्\u200Cष", kind: Name},
		{name: "Hindi with ZWJ", in: "क्\u200Dष", kind: Name},
		{name: "emoji sequence with ZWJ and variation selector", in: "Team 👩\u200D💻 ❤\uFE0F", kind: Name},
		{name: "replacement character", in: "caf\uFFFD", kind: Name},
		{name: "Hangul filler (a letter)", in: "\u3164", kind: Name},
		{name: "address", in: "ada.lovelace+x@example.com", kind: Address},
		{name: "internationalised address", in: "josé@bücher.example", kind: Address},

		// C0, DEL, C1.
		{"NUL", "Ada\x00", Name, Control, 0, 3, "contains a control character (U+0000)"},
		{"BEL", "\aAda", Name, Control, 7, 0, "contains a control character (U+0007)"},
		{"backspace", "Ad\ba", Name, Control, 8, 2, "contains a control character (U+0008)"},
		{"ESC", "Ada\x1b[31m", Name, Control, 0x1B, 3, "contains a control character (U+001B)"},
		{"unit separator", "A\x1fda", Name, Control, 0x1F, 1, "contains a control character (U+001F)"},
		{"DEL", "Ada\x7f", Name, Control, 0x7F, 3, "contains a control character (U+007F)"},
		{"C1 CSI", "Ada\u009B31m", Name, Control, 0x9B, 3, "contains a control character (U+009B)"},
		{"C1 padding", "\u0080", Address, Control, 0x80, 0, "contains a control character (U+0080)"},
		{"tab", "Ada\tLovelace", Name, Tab, '\t', 3, "contains a tab (U+0009)"},
		{"LF", "Acme\nBcc: x@example.com", Name, LineBreak, '\n', 4, "contains a line break (U+000A)"},
		{"CR", "Acme\r", Name, LineBreak, '\r', 4, "contains a line break (U+000D)"},
		{"VT", "a\vb", Name, LineBreak, '\v', 1, "contains a line break (U+000B)"},
		{"FF", "a\fb", Name, LineBreak, '\f', 1, "contains a line break (U+000C)"},
		{"NEL", "a\u0085b", Name, LineBreak, 0x85, 1, "contains a line break (U+0085)"},
		{"line separator", "a\u2028b", Name, LineBreak, 0x2028, 1, "contains a line break (U+2028)"},
		{"paragraph separator", "a\u2029b", Address, LineBreak, 0x2029, 1, "contains a line break (U+2029)"},

		// Bidirectional controls: every one of them.
		{"ALM", "a\u061Cb", Name, Bidi, 0x061C, 1, "contains a bidirectional control character (U+061C)"},
		{"LRM", "a\u200Eb", Name, Bidi, 0x200E, 1, "contains a bidirectional control character (U+200E)"},
		{"RLM", "a\u200Fb", Name, Bidi, 0x200F, 1, "contains a bidirectional control character (U+200F)"},
		{"LRE", "a\u202Ab", Name, Bidi, 0x202A, 1, "contains a bidirectional control character (U+202A)"},
		{"RLE", "a\u202Bb", Name, Bidi, 0x202B, 1, "contains a bidirectional control character (U+202B)"},
		{"PDF", "a\u202Cb", Name, Bidi, 0x202C, 1, "contains a bidirectional control character (U+202C)"},
		{"LRO", "a\u202Db", Name, Bidi, 0x202D, 1, "contains a bidirectional control character (U+202D)"},
		{"RLO", "evil\u202Egpj.exe", Name, Bidi, 0x202E, 4, "contains a bidirectional control character (U+202E)"},
		{"LRI", "a\u2066b", Name, Bidi, 0x2066, 1, "contains a bidirectional control character (U+2066)"},
		{"RLI", "a\u2067b", Name, Bidi, 0x2067, 1, "contains a bidirectional control character (U+2067)"},
		{"FSI", "a\u2068b", Name, Bidi, 0x2068, 1, "contains a bidirectional control character (U+2068)"},
		{"PDI", "a\u2069b", Address, Bidi, 0x2069, 1, "contains a bidirectional control character (U+2069)"},
		{"RLO in an address", "ada\u202E@example.com", Address, Bidi, 0x202E, 3, "contains a bidirectional control character (U+202E)"},

		// Invisible format characters.
		{"ZWSP", "Ada\u200BLovelace", Name, Invisible, 0x200B, 3, "contains an invisible character (U+200B)"},
		{"word joiner", "Ada\u2060", Name, Invisible, 0x2060, 3, "contains an invisible character (U+2060)"},
		{"BOM", "\uFEFFAda", Name, Invisible, 0xFEFF, 0, "contains an invisible character (U+FEFF)"},
		{"soft hyphen", "A\u00ADda", Name, Invisible, 0xAD, 1, "contains an invisible character (U+00AD)"},
		{"invisible times", "a\u2062b", Name, Invisible, 0x2062, 1, "contains an invisible character (U+2062)"},
		{"Mongolian vowel separator", "a\u180Eb", Name, Invisible, 0x180E, 1, "contains an invisible character (U+180E)"},
		{"tag character", "a\U000E0041b", Name, Invisible, 0xE0041, 1, "contains an invisible character (U+E0041)"},
		{"interlinear annotation", "a\uFFF9b", Name, Invisible, 0xFFF9, 1, "contains an invisible character (U+FFF9)"},
		{"ZWNJ in an address", "a\u200Cb@example.com", Address, Invisible, 0x200C, 1, "contains an invisible character (U+200C)"},
		{"ZWJ in an address", "ab@exa\u200Dmple.com", Address, Invisible, 0x200D, 6, "contains an invisible character (U+200D)"},
		{"ZWSP in an address", "ada@example.com\u200B", Address, Invisible, 0x200B, 15, "contains an invisible character (U+200B)"},

		// Spaces in addresses.
		{"no-break space in an address", "ada\u00A0@example.com", Address, Space, 0xA0, 3, "contains a special space (U+00A0)"},
		{"ideographic space in an address", "ada@example.com\u3000", Address, Space, 0x3000, 15, "contains a special space (U+3000)"},
		{"plain space in an address (the syntax refuses it)", "a b@example.com", Address, 0, 0, 0, ""},

		// Not UTF-8.
		{"Latin-1 byte", "caf\xe9", Name, NotUTF8, 0xFFFD, 3, "contains a byte that is not UTF-8 (0xE9)"},
		{"cut sequence", "ok\xe2\x80", Address, NotUTF8, 0xFFFD, 2, "contains a byte that is not UTF-8 (0xE2)"},
		{"surrogate", "\xed\xa0\x80", Name, NotUTF8, 0xFFFD, 0, "contains a byte that is not UTF-8 (0xED)"},

		// The first refused character is the one named.
		{"first wins", "a\u202E\x1b", Name, Bidi, 0x202E, 1, "contains a bidirectional control character (U+202E)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.kind, c.in)
			if c.class == 0 {
				require.NoError(t, err)
				require.Equal(t, c.in, Visible(c.kind, c.in))
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "want a refusal, got %v", err)
			require.Equal(t, c.class, e.Class)
			require.Equal(t, c.rune, e.Rune)
			require.Equal(t, c.offset, e.Offset)
			require.Equal(t, c.message, e.Error())
			require.NoError(t, Check(Name, e.Error()), "the message carries no refused character")
			v := Visible(c.kind, c.in)
			require.NoError(t, Check(c.kind, v))
			require.NotEqual(t, c.in, v)
		})
	}
}

func TestVisible(t *testing.T) {
	cases := []struct {
		kind    Kind
		in, out string
	}{
		{Name, "Ada", "Ada"},
		{Name, "ada\u202Egpj.exe", "ada<U+202E>gpj.exe"},
		{Name, "\x1b[2J\x00", "<U+001B>[2J<U+0000>"},
		{Name, "علی\u200Cرضا\u200B", "علی\u200Cرضا<U+200B>"},
		{Address, "a\u200Cb\u00A0@example.com", "a<U+200C>b<U+00A0>@example.com"},
		{Address, "a b@example.com", "a b@example.com"},
		{Name, "caf\xe9\n", "caf<0xE9><U+000A>"},
	}
	for _, c := range cases {
		require.Equal(t, c.out, Visible(c.kind, c.in), "%q", c.in)
	}
}

// TestRefusedIsTheCategories checks every code point against the rule as
// the package documents it, so a refused character cannot slip through a
// gap in a hand-written range, nor an allowed one be caught.
func TestRefusedIsTheCategories(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue // surrogates are not characters
		}
		layout := unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
		joiner := r == 0x200C || r == 0x200D
		wantName := layout && !joiner
		wantAddress := layout || (unicode.Is(unicode.Zs, r) && r != ' ')
		_, gotName := Refused(Name, r)
		_, gotAddress := Refused(Address, r)
		if gotName != wantName || gotAddress != wantAddress {
			t.Fatalf("%U: refused in names %v (want %v), in addresses %v (want %v)", r, gotName, wantName, gotAddress, wantAddress)
		}
		if gotName || gotAddress {
			// Check agrees with Refused, whatever the bytes around.
			s := "a" + string(r) + "b"
			if (Check(Name, s) != nil) != gotName || (Check(Address, s) != nil) != gotAddress {
				t.Fatalf("%U: Check disagrees with Refused", r)
			}
		}
	}
}

func TestClassString(t *testing.T) {
	require.Equal(t, "a line break", LineBreak.String())
	require.Equal(t, "Class(0)", Class(0).String())
	require.Equal(t, "Class(99)", Class(99).String())
}

// FuzzVisible checks Check and Visible against each other on any text:
// what Visible returns always passes Check, and text that passes comes
// back unchanged.
func FuzzVisible(f *testing.F) {
	for _, s := range []string{"Ada", "علی\u200Cرضا", "a\u202Eb", "\x00\x1b\x7f\u0085", "caf\xe9", "a\u00A0b@example.com", "\U000E0041", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []Kind{Name, Address} {
			v := Visible(k, s)
			if err := Check(k, v); err != nil {
				t.Fatalf("Visible(%d, %q) = %q: %v", k, s, v, err)
			}
			if Check(k, s) == nil && v != s {
				t.Fatalf("Visible(%d, %q) changed allowed text to %q", k, s, v)
			}
		}
	})
}
