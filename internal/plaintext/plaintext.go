// Package plaintext holds the one rule for the short texts people type into
// single-line fields — names of people, usernames, the names of roles,
// products and organisations, sender names — and for email addresses: which
// characters such a text may not hold. Every door that stores one of these
// (GraphQL mutations, the pasted address list, the CSV import, the CLI)
// checks it here, so a text refused at one door is refused at all of them.
//
// The rule refuses what is invisible or changes how the text around it is
// shown or parsed, by Unicode general category rather than by a list:
//
//   - every control character (Cc): C0 (NUL, BEL, ESC, tab, CR, LF …), DEL,
//     and C1 (U+0080–U+009F, NEL included). These fields are single lines,
//     so tab and line breaks are refused too; so are the line and paragraph
//     separators U+2028 and U+2029 (Zl, Zp);
//   - every format character (Cf): the bidirectional controls (U+061C,
//     U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which can make a name
//     read backwards; zero-width and other invisible characters (U+200B,
//     U+2060, U+FEFF, the soft hyphen U+00AD, U+2061–U+2064, the tag
//     characters U+E0001 and U+E0020–U+E007F, …), which make two texts that
//     look the same differ. Zero-width non-joiner (U+200C) and joiner
//     (U+200D) are the exception in names: Persian and Indic scripts need
//     them to spell words, and emoji sequences use the joiner;
//   - in addresses, also the joiners and every space but the plain one
//     (category Zs: no-break, ideographic, thin spaces …);
//   - bytes that are not UTF-8.
//
// What the rule costs: the subdivision flags (England, Scotland, Wales),
// which are spelled with tag characters, and the Mongolian vowel separator
// U+180E. Letters, marks and symbols that merely render blank (the Hangul
// filler U+3164, variation selectors) are allowed: they cannot reorder or
// break the text around them, and variation selectors are part of emoji
// and of some CJK names.
package plaintext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what a text is; the few characters that differ between kinds are
// listed on each.
type Kind int

const (
	// Name is a person's first or last name, a username, or the name of a
	// role, a product or an organisation, or a sender name. ZWNJ (U+200C)
	// and ZWJ (U+200D) are allowed, and so is any space.
	Name Kind = iota
	// Address is an email address: no joiner, and no space but U+0020
	// (which the address syntax refuses on its own).
	Address
)

// Class is why a character is refused.
type Class int

// The classes, in the words Error uses.
const (
	NotUTF8   Class = iota + 1 // a byte that does not start a UTF-8 character
	LineBreak                  // LF, VT, FF, CR, NEL (U+0085), U+2028, U+2029
	Tab                        // U+0009
	Control                    // any other C0 or C1 control, NUL and DEL included
	Bidi                       // a bidirectional control
	Invisible                  // any other format character (zero-width ones included)
	Space                      // in an address, a space other than U+0020
)

var classNames = [...]string{
	NotUTF8:   "a byte that is not UTF-8",
	LineBreak: "a line break",
	Tab:       "a tab",
	Control:   "a control character",
	Bidi:      "a bidirectional control character",
	Invisible: "an invisible character",
	Space:     "a special space",
}

// String returns the class in words, with its article: "a line break".
func (c Class) String() string {
	if c <= 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// Error is the first refused character of a text. Its message names the
// class and the code point, "contains a bidirectional control character
// (U+202E)", and is meant to follow the field's name: "first name contains
// …". It never holds the refused character itself.
type Error struct {
	Class  Class
	Rune   rune // utf8.RuneError for NotUTF8
	Byte   byte // the byte, for NotUTF8
	Offset int  // byte offset of the character in the text
}

// Error returns the message.
func (e *Error) Error() string {
	if e.Class == NotUTF8 {
		return fmt.Sprintf("contains %s (0x%02X)", e.Class, e.Byte)
	}
	return fmt.Sprintf("contains %s (%U)", e.Class, e.Rune)
}

// Refused reports whether r may not stand in a text of kind k, and why.
func Refused(k Kind, r rune) (Class, bool) {
	if r < utf8.RuneSelf {
		switch {
		case r == '\t':
			return Tab, true
		case r == '\n' || r == '\v' || r == '\f' || r == '\r':
			return LineBreak, true
		case r < 0x20 || r == 0x7F:
			return Control, true
		}
		return 0, false
	}
	switch {
	case r == 0x85 || r == 0x2028 || r == 0x2029:
		return LineBreak, true
	case unicode.Is(unicode.Cc, r):
		return Control, true
	case isBidi(r):
		return Bidi, true
	case r == 0x200C || r == 0x200D: // ZWNJ, ZWJ
		if k == Name {
			return 0, false
		}
		return Invisible, true
	case unicode.Is(unicode.Cf, r):
		return Invisible, true
	case k == Address && unicode.Is(unicode.Zs, r):
		return Space, true
	}
	return 0, false
}

// isBidi reports whether r is one of Unicode's explicit bidirectional
// formatting characters: ALM, LRM, RLM, the embeddings and overrides
// (LRE, RLE, PDF, LRO, RLO) and the isolates (LRI, RLI, FSI, PDI).
func isBidi(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// Check returns nil when s may be stored as a text of kind k, else an
// *Error for its first refused character. It does not trim s and does not
// bound its length: fields have their own limits.
func Check(k Kind, s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7F { // the common case: printable ASCII
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return &Error{Class: NotUTF8, Rune: r, Byte: c, Offset: i}
			}
		}
		if class, bad := Refused(k, r); bad {
			return &Error{Class: class, Rune: r, Offset: i}
		}
		i += size
	}
	return nil
}

// Visible returns s with every character Check(k, …) would refuse written
// out as its code point in angle brackets ("<U+202E>", "<0xFF>" for a byte
// that is not UTF-8), so that refused input can be shown back to the
// person who typed it without carrying the character itself. Text without
// such characters comes back unchanged.
func Visible(k Kind, s string) string {
	if Check(k, s) == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "<0x%02X>", s[i])
		default:
			if _, bad := Refused(k, r); bad {
				fmt.Fprintf(&b, "<%U>", r)
			} else {
				b.WriteString(s[i : i+size])
			}
		}
		i += size
	}
	return b.String()
}
