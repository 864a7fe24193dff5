// Package username holds the rule for usernames, shared by everything that
// sets one (accepting an invitation, editing a person, importing a file).
package username

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Length bounds, in characters.
const (
	MinLength = 2
	MaxLength = 64
)

// Rule says in one sentence what a username may be.
const Rule = "a username has 2 to 64 letters, digits, dots, dashes or underscores"

// Check returns why s is not a valid username (letters, digits, dots,
// underscores and dashes; 2 to 64 characters), or nil.
func Check(s string) error {
	n := 0
	for _, c := range s {
		n++
		if !unicode.IsLetter(c) && !unicode.IsNumber(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("username may only contain letters, digits, dots, underscores and dashes (not %q)", c)
		}
	}
	switch {
	case n > MaxLength:
		return fmt.Errorf("username is longer than %d characters", MaxLength)
	case n < MinLength:
		return errors.New("username is shorter than 2 characters")
	}
	return nil
}

// Normalize is the form uniqueness is checked on.
func Normalize(s string) string { return strings.ToLower(s) }
