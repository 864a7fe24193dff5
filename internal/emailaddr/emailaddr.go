// Package emailaddr checks and normalises email addresses.
package emailaddr

import (
	"net/mail"
	"strings"

	"github.com/rollcall/rollcall/internal/plaintext"
)

// MaxLength is the longest address accepted (RFC 5321's path limit).
const MaxLength = 254

// Error is why an address is refused. Its text is a short human sentence
// that can be shown to the person who typed the address.
type Error string

// Error returns the sentence.
func (e Error) Error() string { return string(e) }

// Reasons an address is refused.
const (
	// ErrEmpty: nothing was typed.
	ErrEmpty Error = "email address is empty"
	// ErrTooLong: the address is longer than MaxLength bytes.
	ErrTooLong Error = "email address is too long"
	// ErrInvalid: the text is not a single plain address.
	ErrInvalid Error = "not a valid email address"
	// ErrDomain: the part after the @ is not a usable host name.
	ErrDomain Error = "email domain is not valid"
)

// Normalize trims s and checks it is a single plain address (no display name)
// holding no character plaintext refuses in addresses (controls,
// bidirectional and invisible characters, joiners, special spaces).
// It returns the address as typed and its lower-cased form, which is what
// uniqueness and lookups use. Errors are one of the Err* constants, or an
// Error naming the refused character ("email address contains a
// bidirectional control character (U+202E)"; see CharacterError).
func Normalize(s string) (address, normalized string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "", ErrEmpty
	case len(s) > MaxLength:
		return "", "", ErrTooLong
	}
	if err := plaintext.Check(plaintext.Address, s); err != nil {
		return "", "", CharacterError("email address", err)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", "", ErrInvalid
	}
	at := strings.LastIndexByte(s, '@')
	if !validDomain(s[at+1:]) {
		return "", "", ErrDomain
	}
	return s, strings.ToLower(s), nil
}

// CharacterError is the reason for a text that what (a noun phrase, "email
// address") names and that plaintext refused with err.
func CharacterError(what string, err error) Error {
	return Error(what + " " + err.Error())
}

// validDomain reports whether d is a host name with at least two labels:
// each label 1 to 63 bytes of letters, digits, hyphens (not first or last) or
// non-ASCII (internationalised names), and a top-level label that is not all
// digits. Domain literals such as [192.0.2.1] are refused.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
