// Package emailaddr checks and normalises email addresses.
package emailaddr

import (
	"errors"
	"net/mail"
	"strings"
)

// MaxLength is the longest address accepted (RFC 5321's path limit).
const MaxLength = 254

// Normalize trims s and checks it is a single plain address (no display name).
// It returns the address as typed and its lower-cased form, which is what
// uniqueness and lookups use.
func Normalize(s string) (address, normalized string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "", errors.New("email address is empty")
	case len(s) > MaxLength:
		return "", "", errors.New("email address is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", "", errors.New("not a valid email address")
	}
	at := strings.LastIndexByte(s, '@')
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", "", errors.New("email domain is not valid")
	}
	return s, strings.ToLower(s), nil
}
