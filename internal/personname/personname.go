// Package personname holds the rule for a person's first and last names,
// shared by everything that sets one: inviting from a pasted list, accepting
// an invitation, editing a person, importing a file. The User schema's limit
// (ent's MaxRuneLen) is the same, counted the same way, so a name this rule
// lets through is stored as given.
package personname

import (
	"fmt"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/plaintext"
)

// MaxLength is the longest first or last name, in characters (runes, not
// bytes: a name in Chinese or Greek is as long as one in English).
const MaxLength = 200

// Check returns why name (already trimmed) is not a first or last name, or
// nil: it holds a character the text rule refuses in names (line breaks,
// controls, bidirectional and invisible characters; package plaintext), or
// more than MaxLength characters. The message reads after the field's name:
// "the first name " + err.Error().
func Check(name string) error {
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return err
	}
	if utf8.RuneCountInString(name) > MaxLength {
		return fmt.Errorf("is longer than %d characters", MaxLength)
	}
	return nil
}
